//! Messages (see [`Messages`]): append with quota, copy and move, flags, expunge, and the
//! reads of a mailbox (snapshot, metadata, content, journal, search) up to the committed horizon.

use super::*;
use crate::message_rules::flags::{FlagChange, flag_change};
use crate::message_rules::transfer::{expunges, transfer_quota, uid_pairs};

#[async_trait]
impl Messages for MongoBackend {
    async fn append(
        &self,
        mailbox: MailboxId,
        message: NewMessage,
    ) -> Result<(AppendOutcome, Vec<Wake>)> {
        let (mut stored, wakes) = self.append_all(mailbox, vec![message]).await?;
        let outcome = stored
            .pop()
            .ok_or(Defect::Bug("an append of one message stored none"))?;
        Ok((outcome, wakes))
    }

    /// The steps of one change: quota reserved for the sum, blobs referenced, consecutive
    /// UIDs and one MODSEQ allocated, the documents inserted one by one, the journal, the
    /// commit; a failed step undoes every one before it.
    async fn append_all(
        &self,
        mailbox: MailboxId,
        messages: Vec<NewMessage>,
    ) -> Result<(Vec<AppendOutcome>, Vec<Wake>)> {
        if messages.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let target = self.mailbox_doc(mailbox).await?;
        let user = UserId::from(target.user);
        let total: u64 = messages.iter().map(|m| m.size).sum();
        let reserved = Some((user, total.min(i64::MAX as u64) as i64));
        self.reserve_quota(user, total).await?;
        let mut hashes: Vec<Vec<String>> = Vec::with_capacity(messages.len());
        for message in &messages {
            match self.reference_new_blobs(&message.content.blobs).await {
                Ok(taken) => hashes.push(taken),
                Err(e) => {
                    self.undo(None, &[], &hashes.concat(), reserved).await;
                    return Err(e);
                }
            }
        }
        let count = u32::try_from(messages.len()).unwrap_or(u32::MAX);
        let allocation = match self.allocate(mailbox, count).await {
            Ok(allocation) => allocation,
            Err(e) => {
                self.undo(None, &[], &hashes.concat(), reserved).await;
                return Err(e);
            }
        };
        let modseq = allocation.modseq as i64;
        let saved = now();
        let expires = retention::expiry(&target.to_model(), saved);
        let mut docs = Vec::with_capacity(messages.len());
        for (offset, (message, blobs)) in messages.into_iter().zip(hashes).enumerate() {
            docs.push(MessageDoc {
                id: ObjectId::from(message.id),
                mailbox: ObjectId::from(mailbox),
                user: ObjectId::from(user),
                uid: i64::from(allocation.first_uid) + offset as i64,
                modseq,
                added: modseq,
                expunged: None,
                flags: flags_to_strings(&message.flags),
                seen: message.flags.contains(&Flag::Seen),
                deleted: message.flags.contains(&Flag::Deleted),
                idate: message.internal_date,
                hdate: message.header_date,
                size: message.size.min(i64::MAX as u64) as i64,
                msgid: message.message_id,
                subject: message.subject,
                envelope: to_document(&message.envelope)?,
                bodystructure: to_document(&message.body_structure)?,
                layout_len: message.content.layout.len() as i64,
                layout: binary(message.content.layout),
                blobs,
                search_headers: message.search_headers,
                search_body: message.search_body,
                expires,
                email_id: None,
                saved: Some(saved),
            });
        }
        let mut inserted = 0;
        let mut written = Ok(());
        for doc in &docs {
            if let Err(e) = self.messages.insert_one(doc).await {
                written = Err(db_error(e));
                break;
            }
            inserted += 1;
        }
        if written.is_ok() {
            let entries = docs
                .iter()
                .map(|doc| {
                    journal_entry(
                        mailbox,
                        allocation.modseq,
                        doc.uid as Uid,
                        KIND_EXISTS,
                        None,
                    )
                })
                .collect();
            written = async {
                self.insert_journal(entries).await?;
                self.commit(&allocation).await
            }
            .await;
        }
        if let Err(e) = written {
            let removals: Vec<Removal> = docs[..inserted].iter().map(Removal::from).collect();
            let not_inserted: Vec<String> = docs[inserted..]
                .iter()
                .flat_map(|doc| doc.blobs.iter().cloned())
                .collect();
            self.undo(Some(&allocation), &removals, &not_inserted, reserved)
                .await;
            return Err(e);
        }
        let stored = docs
            .iter()
            .map(|doc| AppendOutcome {
                id: MessageId::from(doc.id),
                uid: doc.uid as Uid,
                modseq: allocation.modseq,
                uidvalidity: allocation.uidvalidity,
                size: doc.size as u64,
            })
            .collect();
        let wake = Wake {
            user,
            mailbox,
            modseq: allocation.modseq,
        };
        Ok((stored, vec![wake]))
    }

    async fn transfer(
        &self,
        source: MailboxId,
        uids: &UidSet,
        target: MailboxId,
        transfer: Transfer,
    ) -> Result<(CopyOutcome, Vec<Wake>)> {
        let from = self.mailbox_doc(source).await?;
        let to = self.mailbox_doc(target).await?;
        let picked = self.messages_in(source, uids).await?;
        if picked.is_empty() {
            return Ok((
                CopyOutcome {
                    uidvalidity: to.uidvalidity as u32,
                    pairs: Vec::new(),
                    modseq: None,
                },
                Vec::new(),
            ));
        }
        let (from_user, to_user) = (UserId::from(from.user), UserId::from(to.user));
        let total: u64 = picked.iter().map(|m| m.size.max(0) as u64).sum();
        let quota = transfer_quota(from_user, to_user, transfer, total);
        let reservation = quota
            .charge
            .map(|(user, bytes)| (user, bytes.min(i64::MAX as u64) as i64));
        if let Some((user, needed)) = quota.charge {
            self.reserve_quota(user, needed).await?;
        }
        let mut referenced: Vec<String> = Vec::new();
        for hash in picked.iter().flat_map(|m| &m.blobs) {
            match self.add_reference(hash).await {
                Ok(true) => referenced.push(hash.clone()),
                outcome => {
                    self.undo(None, &[], &referenced, reservation).await;
                    return Err(match outcome {
                        Err(e) => e,
                        _ => Defect::MissingBlob(hash.clone()).into(),
                    });
                }
            }
        }
        let allocation = match self.allocate(target, picked.len() as u32).await {
            Ok(a) => a,
            Err(e) => {
                self.undo(None, &[], &referenced, reservation).await;
                return Err(e);
            }
        };
        let modseq = allocation.modseq as i64;
        // The copies and the moved messages are saved into the target now (SAVEDATE).
        let saved = now();
        let expires = retention::expiry(&to.to_model(), saved);
        let pairs = uid_pairs(picked.iter().map(|m| m.uid as Uid), allocation.first_uid);
        let mut copies: Vec<Removal> = Vec::with_capacity(picked.len());
        let mut entries = Vec::with_capacity(picked.len());
        let junk_marking = crate::events::junk_marking(&from.to_model(), &to.to_model());
        let mut junk_events = Vec::new();
        let mut failure = None;
        for (original, &(_, new_uid)) in picked.iter().zip(&pairs) {
            let copy = MessageDoc {
                id: ObjectId::new(),
                mailbox: ObjectId::from(target),
                user: ObjectId::from(to_user),
                uid: new_uid as i64,
                modseq,
                added: modseq,
                expunged: None,
                expires,
                email_id: Some(original.email_id()),
                saved: Some(saved),
                ..original.clone()
            };
            if let Err(e) = self.messages.insert_one(&copy).await {
                failure = Some(db_error(e));
                break;
            }
            copies.push(Removal::from(&copy));
            if let Some(kind) = junk_marking {
                junk_events.push(crate::events::junk_marked(
                    kind,
                    to_user,
                    target,
                    MessageId::from(copy.id).0,
                    new_uid,
                ));
            }
            entries.push(journal_entry(
                target,
                allocation.modseq,
                new_uid,
                KIND_EXISTS,
                None,
            ));
        }
        let written = match failure {
            Some(e) => Err(e),
            None => self.insert_journal(entries).await,
        };
        if let Err(e) = written {
            let copied_blobs: usize = copies.iter().map(|c| c.blobs.len()).sum();
            self.undo(
                Some(&allocation),
                &copies,
                &referenced[copied_blobs..],
                reservation,
            )
            .await;
            return Err(e);
        }
        let mut wakes = vec![Wake {
            user: to_user,
            mailbox: target,
            modseq: allocation.modseq,
        }];
        if transfer == Transfer::Copy {
            self.commit(&allocation).await?;
            self.log_events(&junk_events).await?;
            return Ok((
                CopyOutcome {
                    uidvalidity: allocation.uidvalidity,
                    pairs,
                    modseq: Some(allocation.modseq),
                },
                wakes,
            ));
        }
        // Move: the copies are written; now take the originals out of the source.
        let removal = self.allocate(source, 0).await;
        let committed = self.commit(&allocation).await;
        let removal = removal?;
        committed?;
        let marked = self.mark_expunged(&removal, &picked, false).await;
        let committed = self.commit(&removal).await;
        let marked = marked?;
        committed?;
        let owner = quota.release.map(|(user, _)| user);
        self.remove_messages(&marked, owner).await?;
        wakes.push(Wake {
            user: from_user,
            mailbox: source,
            modseq: removal.modseq,
        });
        // The events are the last step, as for every change on this engine.
        self.log_events(&junk_events).await?;
        Ok((
            CopyOutcome {
                uidvalidity: allocation.uidvalidity,
                pairs,
                modseq: Some(allocation.modseq),
            },
            wakes,
        ))
    }

    async fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<ModSeq>,
    ) -> Result<(FlagsOutcome, Vec<Wake>)> {
        let record = self.mailbox_doc(mailbox).await?;
        let current = self.messages_in(mailbox, uids).await?;
        // uid → (flags, modseq) after the command, or None when UNCHANGEDSINCE refused it.
        let mut results: BTreeMap<Uid, Option<(Flags, ModSeq)>> = BTreeMap::new();
        let mut to_change = Vec::new();
        for m in current {
            let old = flags_from_strings(&m.flags);
            match flag_change(op, flags, unchanged_since, &old, m.modseq as u64) {
                FlagChange::Refused => {
                    results.insert(m.uid as u32, None);
                }
                FlagChange::Same => {
                    results.insert(m.uid as u32, Some((old, m.modseq as u64)));
                }
                FlagChange::Changed(_) => to_change.push(m),
            }
        }
        let mut outcome_modseq = None;
        if !to_change.is_empty() {
            let allocation = self.allocate(mailbox, 0).await?;
            let changed = self
                .apply_flags(
                    &allocation,
                    to_change,
                    op,
                    flags,
                    unchanged_since,
                    &mut results,
                )
                .await;
            let committed = self.commit(&allocation).await;
            if changed? {
                outcome_modseq = Some(allocation.modseq);
            }
            committed?;
        }
        let mut outcome = FlagsOutcome {
            modseq: outcome_modseq,
            updated: Vec::new(),
            modified: Vec::new(),
        };
        for (uid, result) in results {
            match result {
                Some((flags, modseq)) => outcome.updated.push((uid, flags, modseq)),
                None => outcome.modified.push(uid),
            }
        }
        let wakes = outcome_modseq
            .map(|modseq| Wake {
                user: UserId::from(record.user),
                mailbox,
                modseq,
            })
            .into_iter()
            .collect();
        Ok((outcome, wakes))
    }

    async fn expunge(
        &self,
        mailbox: MailboxId,
        uids: Option<&UidSet>,
    ) -> Result<(ExpungeOutcome, Vec<Wake>)> {
        let uids = uids.cloned().unwrap_or_else(UidSet::all);
        let record = self.mailbox_doc(mailbox).await?;
        let candidates: Vec<MessageDoc> = self
            .messages_in(mailbox, &uids)
            .await?
            .into_iter()
            .filter(|m| expunges(&flags_from_strings(&m.flags)))
            .collect();
        if candidates.is_empty() {
            return Ok((
                ExpungeOutcome {
                    uids: Vec::new(),
                    modseq: None,
                },
                Vec::new(),
            ));
        }
        let allocation = self.allocate(mailbox, 0).await?;
        let marked = self.mark_expunged(&allocation, &candidates, true).await;
        let committed = self.commit(&allocation).await;
        let marked = marked?;
        committed?;
        self.remove_messages(&marked, Some(UserId::from(record.user)))
            .await?;
        let by_id: HashMap<ObjectId, Uid> =
            candidates.iter().map(|m| (m.id, m.uid as u32)).collect();
        let mut expunged: Vec<Uid> = marked
            .iter()
            .filter_map(|r| by_id.get(&r.id))
            .copied()
            .collect();
        expunged.sort_unstable();
        if expunged.is_empty() {
            return Ok((
                ExpungeOutcome {
                    uids: expunged,
                    modseq: None,
                },
                Vec::new(),
            ));
        }
        Ok((
            ExpungeOutcome {
                uids: expunged,
                modseq: Some(allocation.modseq),
            },
            vec![Wake {
                user: UserId::from(record.user),
                mailbox,
                modseq: allocation.modseq,
            }],
        ))
    }

    async fn snapshot(&self, mailbox: MailboxId) -> Result<Snapshot> {
        let record = self.mailbox_doc(mailbox).await?;
        let horizon = record.horizon();
        let mut cursor = self
            .raw_messages()
            .find(doc! {"mailbox": id_is(mailbox)})
            .projection(doc! {"uid": 1, "added": 1, "expunged": 1})
            .sort(doc! {"uid": 1})
            .await
            .map_err(db_error)?;
        let mut uids = Vec::new();
        while let Some(m) = cursor.try_next().await.map_err(db_error)? {
            if visible_at(
                int_field(&m, "added")?,
                optional_int(&m, "expunged"),
                horizon,
            ) {
                uids.push(int_field(&m, "uid")? as Uid);
            }
        }
        let model = record.to_model();
        Ok(Snapshot {
            uids,
            uidvalidity: model.uidvalidity,
            uidnext: model.uidnext,
            highest_modseq: horizon,
        })
    }

    async fn changes_since(&self, mailbox: MailboxId, modseq: ModSeq) -> Result<Changes> {
        let record = self.mailbox_doc(mailbox).await?;
        let horizon = record.horizon();
        let entries: Vec<Document> = self
            .journal
            .find(doc! {
                "mailbox": id_is(mailbox),
                "modseq": {"$gt": modseq.min(i64::MAX as u64) as i64, "$lte": horizon as i64},
            })
            .sort(doc! {"modseq": 1, "uid": 1})
            .all()
            .await?;
        Ok(Changes {
            changes: entries
                .iter()
                .map(change_from_entry)
                .collect::<Result<_>>()?,
            highest_modseq: horizon,
            truncated: (modseq as i64) < record.journal_floor,
        })
    }

    async fn user_changes_after(
        &self,
        user: UserId,
        after: Option<JournalId>,
        limit: usize,
    ) -> Result<Vec<UserChange>> {
        self.feed_after(user, after, limit).await
    }

    async fn user_journal_head(&self, user: UserId) -> Result<Option<JournalId>> {
        self.feed_head(user).await
    }

    async fn fetch_meta(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        fields: MetaFields,
    ) -> Result<Vec<MessageMeta>> {
        self.mailbox_doc(mailbox).await?;
        let mut projection = doc! {
            "uid": 1, "modseq": 1, "flags": 1, "idate": 1, "hdate": 1, "size": 1, "email_id": 1,
            "saved": 1,
        };
        if fields.envelope {
            projection.insert("envelope", 1);
        }
        if fields.body_structure {
            projection.insert("bodystructure", 1);
        }
        let docs = find_in_set(&self.raw_messages(), mailbox, uids, Some(projection)).await?;
        docs.into_iter()
            .map(|mut m| {
                let flags = string_list(&m, "flags");
                let envelope = m
                    .remove("envelope")
                    .and_then(|e| e.as_document().cloned())
                    .map(from_document::<Envelope>)
                    .transpose()?;
                let body_structure = m
                    .remove("bodystructure")
                    .and_then(|b| b.as_document().cloned())
                    .map(from_document::<BodyStructure>)
                    .transpose()?;
                Ok(MessageMeta {
                    id: MessageId::from(m.get_object_id("_id").map_err(field_error)?),
                    email_id: email_id_of(&m)?,
                    uid: int_field(&m, "uid")? as Uid,
                    modseq: int_field(&m, "modseq")? as ModSeq,
                    flags: flags_from_strings(&flags),
                    internal_date: int_field(&m, "idate")?,
                    saved: optional_int(&m, "saved"),
                    header_date: optional_int(&m, "hdate"),
                    size: int_field(&m, "size")?.max(0) as u64,
                    envelope,
                    body_structure,
                })
            })
            .collect()
    }

    async fn load_content(&self, mailbox: MailboxId, uid: Uid) -> Result<ContentRead> {
        let mut m = self
            .raw_messages()
            .find_one(doc! {"mailbox": id_is(mailbox), "uid": uid as i64})
            .projection(doc! {"layout": 1, "blobs": 1})
            .await
            .map_err(db_error)?
            .ok_or(MessageError::NotFound)?;
        let layout = std::mem::take(m.get_binary_generic_mut("layout").map_err(field_error)?);
        let blobs = self.read_blobs(&string_list(&m, "blobs")).await?;
        Ok(ContentRead { layout, blobs })
    }

    async fn search(&self, mailbox: MailboxId, key: &SearchKey) -> Result<Vec<Uid>> {
        self.mailbox_doc(mailbox).await?;
        let text = crate::search::text_needed(key);
        let mut projection = doc! {
            "uid": 1, "modseq": 1, "flags": 1, "idate": 1, "hdate": 1, "size": 1, "email_id": 1,
            "saved": 1,
        };
        if text.headers {
            projection.insert("search_headers", 1);
        }
        if text.body {
            projection.insert("search_body", 1);
        }
        let docs: Vec<Document> = self
            .raw_messages()
            .find(doc! {"mailbox": id_is(mailbox), "expunged": Bson::Null})
            .projection(projection)
            .sort(doc! {"uid": 1})
            .all()
            .await?;
        let matcher = crate::search::Matcher::new(key);
        // Matching every message of a big mailbox is CPU work: off the async runtime.
        tokio::task::spawn_blocking(move || {
            let mut found = Vec::new();
            for m in &docs {
                let row = SearchRow {
                    uid: int_field(m, "uid")? as Uid,
                    email_id: email_id_of(m)?,
                    modseq: int_field(m, "modseq")? as ModSeq,
                    flags: flags_from_strings(&string_list(m, "flags")),
                    internal_date: int_field(m, "idate")?,
                    saved: optional_int(m, "saved"),
                    header_date: optional_int(m, "hdate"),
                    size: int_field(m, "size")?.max(0) as u64,
                    search_headers: m.get_str("search_headers").ok(),
                    search_body: m.get_str("search_body").ok(),
                };
                if matcher.matches(&row) {
                    found.push(row.uid);
                }
            }
            Ok(found)
        })
        .await?
    }
}

/// Visits the messages of `mailbox` whose UID is in `uids` and that are not being removed,
/// in UID order: one range query per range (ranges are sorted and disjoint).
pub(super) async fn find_in_set<T>(
    collection: &Collection<T>,
    mailbox: MailboxId,
    uids: &UidSet,
    projection: Option<Document>,
) -> Result<Vec<T>>
where
    T: serde::de::DeserializeOwned + Unpin + Send + Sync,
{
    let mut out = Vec::new();
    for &(first, last) in uids.ranges() {
        let filter = doc! {
            "mailbox": id_is(mailbox),
            "uid": {"$gte": first as i64, "$lte": last as i64},
            "expunged": Bson::Null,
        };
        let found: Vec<T> = collection
            .find(filter)
            .with_options(
                mongodb::options::FindOptions::builder()
                    .sort(doc! {"uid": 1})
                    .projection(projection.clone())
                    .build(),
            )
            .all()
            .await?;
        out.extend(found);
    }
    Ok(out)
}

/// Whether a message belongs to a snapshot taken at `horizon`: it arrived at or before the
/// horizon and its removal (if any) commits after it.
pub(super) fn visible_at(added: i64, expunged: Option<i64>, horizon: ModSeq) -> bool {
    let horizon = horizon as i64;
    added <= horizon && expunged.is_none_or(|at| at > horizon)
}

pub(super) fn optional_int(doc: &Document, key: &str) -> Option<i64> {
    doc.get(key).and_then(bson_int)
}
