//! Messages (see [`Messages`]): append with quota, copy and move, flags, expunge, and the
//! reads of a mailbox (snapshot, metadata, content, journal, search).

use super::*;
use crate::message_rules::flags::{FlagChange, flag_change};
use crate::message_rules::quota;
use crate::message_rules::transfer::{check_uid_space, expunges, transfer_quota, uid_pairs};

#[async_trait]
impl Messages for SqliteBackend {
    async fn append(
        &self,
        mailbox: MailboxId,
        message: NewMessage,
    ) -> Result<(AppendOutcome, Vec<Wake>)> {
        self.write(move |tx| {
            let (outcome, wake) = append_message(tx, mailbox, &message)?;
            Ok((outcome, vec![wake]))
        })
        .await
    }

    async fn append_all(
        &self,
        mailbox: MailboxId,
        messages: Vec<NewMessage>,
    ) -> Result<(Vec<AppendOutcome>, Vec<Wake>)> {
        // One write job: a message that fails rolls the whole job back.
        self.write(move |tx| {
            let mut stored = Vec::with_capacity(messages.len());
            let mut last_wake = None;
            for message in &messages {
                let (outcome, wake) = append_message(tx, mailbox, message)?;
                stored.push(outcome);
                last_wake = Some(wake);
            }
            Ok((stored, last_wake.into_iter().collect()))
        })
        .await
    }

    async fn append_batch(
        &self,
        mailbox: MailboxId,
        messages: Vec<NewMessage>,
    ) -> Result<(BatchOutcome, Vec<Wake>)> {
        self.write(move |tx| {
            let mut stored = Vec::with_capacity(messages.len());
            let mut last_wake = None;
            let mut stopped = None;
            for message in &messages {
                // Its own savepoint, so a message that fails leaves nothing behind while
                // the ones before it are kept.
                run_cached(tx, "SAVEPOINT batch_message")?;
                let blob_writes = blob_writes_mark();
                match append_message(tx, mailbox, message) {
                    Ok((outcome, wake)) => {
                        run_cached(tx, "RELEASE batch_message")?;
                        stored.push(outcome);
                        last_wake = Some(wake);
                    }
                    Err(fail) => {
                        tx.execute_batch("ROLLBACK TO batch_message; RELEASE batch_message")?;
                        rewind_blob_writes(blob_writes);
                        stopped = Some(Error::from(fail));
                        break;
                    }
                }
            }
            Ok((
                BatchOutcome { stored, stopped },
                last_wake.into_iter().collect(),
            ))
        })
        .await
    }

    async fn transfer(
        &self,
        source: MailboxId,
        uids: &UidSet,
        target: MailboxId,
        transfer: Transfer,
    ) -> Result<(CopyOutcome, Vec<Wake>)> {
        let uids = uids.clone();
        self.write(move |tx| {
            let from = get_mailbox(tx, source)?;
            let to = get_mailbox(tx, target)?;
            let mut picked: Vec<(RecordId, Uid, u64)> = Vec::new();
            for_each_in_set(tx, "id, uid, size", source, &uids, |r| {
                picked.push((record_id(r, 0)?, r.get(1)?, r.get::<_, i64>(2)? as u64));
                Ok(())
            })?;
            if picked.is_empty() {
                return Ok((
                    CopyOutcome {
                        uidvalidity: to.uidvalidity,
                        pairs: Vec::new(),
                        modseq: None,
                    },
                    Vec::new(),
                ));
            }
            let total: u64 = picked.iter().map(|p| p.2).sum();
            let quota = transfer_quota(from.user, to.user, transfer, total);
            if let Some((user, needed)) = quota.charge {
                check_quota(tx, user, needed)?;
            }
            check_uid_space(to.uidnext as u64, picked.len() as u64)?;
            let modseq = to.highest_modseq + 1;
            // The copies and the moved messages are saved into the target now (SAVEDATE).
            let saved = now();
            let expires = retention::expiry(&to, saved);
            let pairs = uid_pairs(picked.iter().map(|p| p.1), to.uidnext);
            let junk_marking = crate::events::junk_marking(&from, &to);
            for (&(original, _, _), &(_, new_uid)) in picked.iter().zip(&pairs) {
                let id = id_bytes(original);
                let message = match transfer {
                    Transfer::Copy => RecordId::new(),
                    Transfer::Move => original,
                };
                match transfer {
                    Transfer::Copy => {
                        let new_id = id_bytes(message);
                        tx.prepare_cached(
                            "INSERT INTO messages (id, mailbox, user, uid, modseq, flags, seen,
                                 deleted, idate, hdate, size, msgid, subject, envelope,
                                 bodystructure, layout, search_headers, search_body, expires,
                                 email_id, saved)
                             SELECT ?2, ?3, ?4, ?5, ?6, flags, seen, deleted, idate, hdate, size,
                                 msgid, subject, envelope, bodystructure, layout, search_headers,
                                 search_body, ?7, coalesce(email_id, id), ?8
                             FROM messages WHERE id = ?1",
                        )?
                        .execute(params![
                            id,
                            new_id,
                            id_bytes(target.0),
                            id_bytes(to.user.0),
                            new_uid,
                            modseq as i64,
                            expires,
                            saved
                        ])?;
                        tx.prepare_cached(
                            "INSERT INTO message_blobs (message, seq, hash)
                             SELECT ?2, seq, hash FROM message_blobs WHERE message = ?1",
                        )?
                        .execute(params![id, new_id])?;
                        let hashes = tx
                            .prepare_cached("SELECT hash FROM message_blobs WHERE message = ?1")?
                            .query_map([id], |r| r.get::<_, Vec<u8>>(0))?
                            .collect::<rusqlite::Result<Vec<_>>>()?;
                        for hash in hashes {
                            reference_blob(tx, &hash, 1)?;
                        }
                    }
                    Transfer::Move => {
                        tx.prepare_cached(
                            "UPDATE messages SET mailbox = ?2, user = ?3, uid = ?4, modseq = ?5,
                                 expires = ?6, saved = ?7
                             WHERE id = ?1",
                        )?
                        .execute(params![
                            id,
                            id_bytes(target.0),
                            id_bytes(to.user.0),
                            new_uid,
                            modseq as i64,
                            expires,
                            saved
                        ])?;
                    }
                }
                journal(tx, target, modseq, new_uid, KIND_EXISTS, None)?;
                if let Some(kind) = junk_marking {
                    let event = crate::events::junk_marked(kind, to.user, target, message, new_uid);
                    log_event(tx, &event)?;
                }
            }
            let uidnext = to.uidnext + pairs.len() as Uid;
            set_mailbox_counters(tx, target, uidnext, modseq)?;
            let mut wakes = vec![Wake {
                user: to.user,
                mailbox: target,
                modseq,
            }];
            if let Some((user, charged)) = quota.charge {
                add_storage(tx, user, charged as i64)?;
            }
            if transfer == Transfer::Move {
                // Re-read: when source is target, the counters just moved.
                let from = get_mailbox(tx, source)?;
                let source_modseq = from.highest_modseq + 1;
                for (_, uid, _) in &picked {
                    journal(tx, source, source_modseq, *uid, KIND_EXPUNGE, None)?;
                }
                set_mailbox_counters(tx, source, from.uidnext, source_modseq)?;
                if let Some((user, released)) = quota.release {
                    add_storage(tx, user, -(released as i64))?;
                }
                wakes.push(Wake {
                    user: from.user,
                    mailbox: source,
                    modseq: source_modseq,
                });
            }
            Ok((
                CopyOutcome {
                    uidvalidity: to.uidvalidity,
                    pairs,
                    modseq: Some(modseq),
                },
                wakes,
            ))
        })
        .await
    }

    async fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<ModSeq>,
    ) -> Result<(FlagsOutcome, Vec<Wake>)> {
        let (uids, flags) = (uids.clone(), flags.clone());
        // Flag changes are fsynced within a moment, not before the answer (see `Durability`).
        self.write_deferred(move |tx| {
            let record = get_mailbox(tx, mailbox)?;
            let mut current: Vec<(Vec<u8>, Uid, ModSeq, Flags)> = Vec::new();
            for_each_in_set(tx, "id, uid, modseq, flags", mailbox, &uids, |r| {
                current.push((
                    r.get(0)?,
                    r.get(1)?,
                    r.get::<_, i64>(2)? as u64,
                    flags_at(r, 3)?,
                ));
                Ok(())
            })?;
            let modseq = record.highest_modseq + 1;
            let mut outcome = FlagsOutcome {
                modseq: None,
                updated: Vec::new(),
                modified: Vec::new(),
            };
            for (id, uid, old_modseq, old_flags) in current {
                let new_flags =
                    match flag_change(op, &flags, unchanged_since, &old_flags, old_modseq) {
                        FlagChange::Refused => {
                            outcome.modified.push(uid);
                            continue;
                        }
                        FlagChange::Same => {
                            outcome.updated.push((uid, old_flags, old_modseq));
                            continue;
                        }
                        FlagChange::Changed(new_flags) => new_flags,
                    };
                tx.prepare_cached(
                    "UPDATE messages SET flags = ?2, seen = ?3, deleted = ?4, modseq = ?5
                     WHERE id = ?1",
                )?
                .execute(params![
                    id,
                    flags_to_text(&new_flags),
                    new_flags.contains(&Flag::Seen),
                    new_flags.contains(&Flag::Deleted),
                    modseq as i64
                ])?;
                journal(tx, mailbox, modseq, uid, KIND_FLAGS, Some(&new_flags))?;
                outcome.modseq = Some(modseq);
                outcome.updated.push((uid, new_flags, modseq));
            }
            let mut wakes = Vec::new();
            if outcome.modseq.is_some() {
                set_mailbox_counters(tx, mailbox, record.uidnext, modseq)?;
                wakes.push(Wake {
                    user: record.user,
                    mailbox,
                    modseq,
                });
            }
            Ok((outcome, wakes))
        })
        .await
    }

    async fn expunge(
        &self,
        mailbox: MailboxId,
        uids: Option<&UidSet>,
    ) -> Result<(ExpungeOutcome, Vec<Wake>)> {
        let uids = uids.cloned().unwrap_or_else(UidSet::all);
        self.write(move |tx| {
            let record = get_mailbox(tx, mailbox)?;
            let mut victims = Vec::new();
            for_each_in_set(tx, "id, uid, size, flags", mailbox, &uids, |r| {
                if expunges(&flags_at(r, 3)?) {
                    victims.push((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64));
                }
                Ok(())
            })?;
            let modseq = remove_messages(tx, &record, &victims)?;
            let wakes = modseq
                .map(|modseq| Wake {
                    user: record.user,
                    mailbox,
                    modseq,
                })
                .into_iter()
                .collect();
            Ok((
                ExpungeOutcome {
                    uids: victims.into_iter().map(|v| v.1).collect(),
                    modseq,
                },
                wakes,
            ))
        })
        .await
    }

    async fn snapshot(&self, mailbox: MailboxId) -> Result<Snapshot> {
        self.read(move |tx| {
            let record = get_mailbox(tx, mailbox)?;
            let mut stmt =
                tx.prepare_cached("SELECT uid FROM messages WHERE mailbox = ?1 ORDER BY uid")?;
            let uids = stmt
                .query_map([id_bytes(mailbox.0)], |r| r.get::<_, u32>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Snapshot {
                uids,
                uidvalidity: record.uidvalidity,
                uidnext: record.uidnext,
                highest_modseq: record.highest_modseq,
            })
        })
        .await
    }

    async fn select_view(&self, mailbox: MailboxId) -> Result<SelectView> {
        self.read(move |tx| {
            let record = get_mailbox(tx, mailbox)?;
            let mut view =
                SelectView::new(record.uidvalidity, record.uidnext, record.highest_modseq);
            let mut stmt = tx.prepare_cached(
                "SELECT uid, flags FROM messages WHERE mailbox = ?1 ORDER BY uid",
            )?;
            let mut rows = stmt.query([id_bytes(mailbox.0)])?;
            while let Some(row) = rows.next()? {
                view.push(row.get(0)?, &flags_at(row, 1)?);
            }
            Ok(view)
        })
        .await
    }

    async fn changes_since(&self, mailbox: MailboxId, modseq: ModSeq) -> Result<Changes> {
        // Every IMAP command ends with this, and there are seldom more than a few changes:
        // read them on the calling task, unless there turn out to be many.
        let few = self
            .read_small(move |tx| changes_in_journal(tx, mailbox, modseq, Some(INLINE_CHANGES)))
            .await?;
        match few {
            Some(changes) => Ok(changes),
            None => self
                .read(move |tx| changes_in_journal(tx, mailbox, modseq, None))
                .await?
                .ok_or_else(|| Defect::Bug("journal read without a limit stopped").into()),
        }
    }

    async fn user_changes_after(
        &self,
        user: UserId,
        after: Option<JournalId>,
        limit: usize,
    ) -> Result<Vec<UserChange>> {
        self.read(move |tx| user_changes_in_journal(tx, user, after, limit))
            .await
    }

    async fn user_journal_head(&self, user: UserId) -> Result<Option<JournalId>> {
        self.read(move |tx| user_journal_head(tx, user)).await
    }

    async fn fetch_meta(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        fields: MetaFields,
    ) -> Result<Vec<MessageMeta>> {
        let small = uids.len() <= INLINE_UIDS;
        let uids = uids.clone();
        let read = move |tx: &Connection| meta_rows(tx, mailbox, &uids, fields);
        if small {
            self.read_small(read).await
        } else {
            self.read(read).await
        }
    }

    async fn fetch_meta_with_content(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        fields: MetaFields,
        mut select: ContentSelector,
        budget: u64,
    ) -> Result<Vec<(MessageMeta, Option<ContentRead>)>> {
        let small = uids.len() <= INLINE_UIDS && budget <= INLINE_CONTENT_BYTES;
        let uids = uids.clone();
        let read = move |tx: &Connection| {
            let mut left = budget;
            meta_rows(tx, mailbox, &uids, fields)?
                .into_iter()
                .map(|meta| {
                    let content = if meta.size <= left {
                        left -= meta.size;
                        let message = stored_message(tx, mailbox, meta.uid)?;
                        Some(selected_content(tx, message, |layout| {
                            select(meta.uid, layout)
                        })?)
                    } else {
                        // A prefix: the messages after one that did not fit are read apart.
                        left = 0;
                        None
                    };
                    Ok((meta, content))
                })
                .collect()
        };
        if small {
            self.read_small(read).await
        } else {
            self.read(read).await
        }
    }

    async fn load_content(&self, mailbox: MailboxId, uid: Uid) -> Result<ContentRead> {
        self.read_content(mailbox, uid, |tx, message| {
            let mut stmt = tx.prepare_cached(
                "SELECT b.codec, b.data FROM message_blobs m JOIN blobs b ON b.hash = m.hash
                 WHERE m.message = ?1 ORDER BY m.seq",
            )?;
            let blobs = stmt
                .query_map([&message.id], |r| {
                    Ok((r.get::<_, u8>(0)?, r.get::<_, Vec<u8>>(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(ContentRead {
                layout: message.layout,
                blobs,
            })
        })
        .await
    }

    async fn load_content_selected(
        &self,
        mailbox: MailboxId,
        uid: Uid,
        select: BlobSelector,
    ) -> Result<ContentRead> {
        self.read_content(mailbox, uid, |tx, message| {
            selected_content(tx, message, select)
        })
        .await
    }

    async fn search(&self, mailbox: MailboxId, key: &SearchKey) -> Result<Vec<Uid>> {
        let key = key.clone();
        self.read(move |tx| search::search(tx, mailbox, &key)).await
    }
}

pub(super) fn add_storage(tx: &Connection, user: UserId, delta: i64) -> TxResult<()> {
    tx.prepare_cached("UPDATE users SET storage_used = storage_used + ?2 WHERE id = ?1")?
        .execute(params![id_bytes(user.0), delta])?;
    Ok(())
}

fn check_quota(tx: &Connection, user: UserId, needed: u64) -> TxResult<()> {
    let record = get_user(tx, user)?.user;
    Ok(quota::check_quota(
        record.storage_used,
        record.quota,
        needed,
    )?)
}

/// Stores one message in `mailbox`: blobs (shared when present), row, counters, quota,
/// journal. The one insert path of `append` and `append_batch`.
pub(super) fn append_message(
    tx: &Connection,
    mailbox: MailboxId,
    message: &NewMessage,
) -> TxResult<(AppendOutcome, Wake)> {
    let target = get_mailbox(tx, mailbox)?;
    check_quota(tx, target.user, message.size)?;
    let uid = target.uidnext;
    check_uid_space(uid as u64, 1)?;
    let modseq = target.highest_modseq + 1;
    let saved = now();
    let key = id_bytes(message.id.0);
    for (seq, blob) in message.content.blobs.iter().enumerate() {
        if store_blob_reference(tx, blob)? {
            bump_counter(tx, "dedup_hits", 1)?;
        }
        tx.prepare_cached("INSERT INTO message_blobs (message, seq, hash) VALUES (?1, ?2, ?3)")?
            .execute(params![key, seq as i64, blob.hash])?;
    }
    let flags = &message.flags;
    tx.prepare_cached(
        "INSERT INTO messages (id, mailbox, user, uid, modseq, flags, seen, deleted,
                 idate, hdate, size, msgid, subject, envelope, bodystructure, layout,
                 search_headers, search_body, expires, saved)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                 ?16, ?17, ?18, ?19, ?20)",
    )?
    .execute(params![
        key,
        id_bytes(mailbox.0),
        id_bytes(target.user.0),
        uid,
        modseq as i64,
        flags_to_text(flags),
        flags.contains(&Flag::Seen),
        flags.contains(&Flag::Deleted),
        message.internal_date,
        message.header_date,
        message.size as i64,
        message.message_id,
        message.subject,
        to_json(&message.envelope)?,
        to_json(&message.body_structure)?,
        message.content.layout,
        message.search_headers,
        message.search_body,
        retention::expiry(&target, saved),
        saved
    ])?;
    set_mailbox_counters(tx, mailbox, uid + 1, modseq)?;
    add_storage(tx, target.user, message.size as i64)?;
    journal(tx, mailbox, modseq, uid, KIND_EXISTS, None)?;
    Ok((
        AppendOutcome {
            id: message.id,
            uid,
            modseq,
            uidvalidity: target.uidvalidity,
            size: message.size,
        },
        Wake {
            user: target.user,
            mailbox,
            modseq,
        },
    ))
}

/// The metadata rows of the messages of `mailbox` in `uids`, in UID order.
fn meta_rows(
    tx: &Connection,
    mailbox: MailboxId,
    uids: &UidSet,
    fields: MetaFields,
) -> TxResult<Vec<MessageMeta>> {
    get_mailbox(tx, mailbox)?;
    let columns = meta_columns(fields);
    let mut out = Vec::new();
    for_each_in_set(tx, &columns, mailbox, uids, |r| {
        let envelope = r
            .get::<_, Option<String>>(7)?
            .map(|t| from_json::<Envelope>(&t))
            .transpose()?;
        let body_structure = r
            .get::<_, Option<String>>(8)?
            .map(|t| from_json::<BodyStructure>(&t))
            .transpose()?;
        out.push(MessageMeta {
            id: MessageId(record_id(r, 0)?),
            email_id: MessageId(record_id(r, 9)?),
            uid: r.get(1)?,
            modseq: r.get::<_, i64>(2)? as u64,
            flags: flags_at(r, 3)?,
            internal_date: r.get(4)?,
            saved: r.get(10)?,
            header_date: r.get(5)?,
            size: r.get::<_, i64>(6)? as u64,
            envelope,
            body_structure,
        });
        Ok(())
    })?;
    Ok(out)
}

/// A message's layout and the blobs `select` picks from it, in the order picked.
fn selected_content(
    tx: &Connection,
    message: StoredMessage,
    select: impl FnOnce(&[u8]) -> Vec<usize>,
) -> TxResult<ContentRead> {
    let mut stmt = tx.prepare_cached(
        "SELECT b.codec, b.data FROM message_blobs m JOIN blobs b ON b.hash = m.hash
         WHERE m.message = ?1 AND m.seq = ?2",
    )?;
    let blobs = select(&message.layout)
        .into_iter()
        .map(|seq| {
            stmt.query_row(params![message.id, seq as i64], |r| {
                Ok((r.get::<_, u8>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .optional()?
            .ok_or_else(|| {
                Error::from(Defect::Malformed {
                    what: "message",
                    detail: format!("no blob at position {seq}"),
                })
                .into()
            })
        })
        .collect::<TxResult<Vec<_>>>()?;
    Ok(ContentRead {
        layout: message.layout,
        blobs,
    })
}

pub(super) fn in_set_sql(columns: &str) -> String {
    format!(
        "SELECT {columns} FROM messages WHERE mailbox = ?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid"
    )
}

/// The columns `fetch_meta` reads; without envelope and body structure all of them are in the
/// `messages_meta` index.
pub(super) fn meta_columns(fields: MetaFields) -> String {
    format!(
        "id, uid, modseq, flags, idate, hdate, size, {}, {}, coalesce(email_id, id), saved",
        if fields.envelope { "envelope" } else { "NULL" },
        if fields.body_structure {
            "bodystructure"
        } else {
            "NULL"
        }
    )
}

/// Visits rows of `mailbox` whose UID is in `uids`, in UID order.
pub(super) fn for_each_in_set(
    tx: &Connection,
    columns: &str,
    mailbox: MailboxId,
    uids: &UidSet,
    mut visit: impl FnMut(&Row) -> TxResult<()>,
) -> TxResult<()> {
    let mut stmt = tx.prepare_cached(&in_set_sql(columns))?;
    for &(first, last) in uids.ranges() {
        let mut rows = stmt.query(params![id_bytes(mailbox.0), first, last])?;
        while let Some(row) = rows.next()? {
            visit(row)?;
        }
    }
    Ok(())
}

/// Deletes messages (by row id) from a mailbox: blob refs, quota, journal, one MODSEQ.
/// Returns the new MODSEQ (None when the list was empty).
fn remove_messages(
    tx: &Connection,
    mailbox: &Mailbox,
    victims: &[(Vec<u8>, Uid, u64)],
) -> TxResult<Option<ModSeq>> {
    if victims.is_empty() {
        return Ok(None);
    }
    let modseq = mailbox.highest_modseq + 1;
    let mut freed = 0u64;
    for (id, uid, size) in victims {
        release_message_blobs(tx, id)?;
        tx.prepare_cached("DELETE FROM messages WHERE id = ?1")?
            .execute([id])?;
        journal(tx, mailbox.id, modseq, *uid, KIND_EXPUNGE, None)?;
        freed += size;
    }
    set_mailbox_counters(tx, mailbox.id, mailbox.uidnext, modseq)?;
    add_storage(tx, mailbox.user, -(freed as i64))?;
    Ok(Some(modseq))
}

/// What a content read needs to know of a message before its blobs.
pub(super) struct StoredMessage {
    pub(super) id: Vec<u8>,
    pub(super) layout: Vec<u8>,
    pub(super) size: u64,
}

pub(super) fn stored_message(
    tx: &Connection,
    mailbox: MailboxId,
    uid: Uid,
) -> TxResult<StoredMessage> {
    Ok(tx
        .prepare_cached("SELECT id, layout, size FROM messages WHERE mailbox = ?1 AND uid = ?2")?
        .query_row(params![id_bytes(mailbox.0), uid], |r| {
            Ok(StoredMessage {
                id: r.get(0)?,
                layout: r.get(1)?,
                size: r.get::<_, i64>(2)? as u64,
            })
        })
        .optional()?
        .ok_or(MessageError::NotFound)?)
}
