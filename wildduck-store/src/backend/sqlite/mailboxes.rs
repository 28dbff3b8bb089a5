//! Mailboxes (see [`Mailboxes`]): the tree, subscriptions, the \Recent marker, STATUS.

use super::*;

#[async_trait]
impl Mailboxes for SqliteBackend {
    async fn list_mailboxes(&self, user: UserId) -> Result<Vec<Mailbox>> {
        self.read(move |tx| {
            get_user(tx, user)?;
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE user = ?1 ORDER BY path"
            ))?;
            let list = stmt
                .query_map([id_bytes(user.0)], mailbox_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(list)
        })
        .await
    }

    async fn mailbox_by_path(&self, user: UserId, path: &str) -> Result<Option<Mailbox>> {
        let path = path.to_string();
        self.read_small(move |tx| {
            Ok(tx
                .prepare_cached(&format!(
                    "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE user = ?1 AND path = ?2"
                ))?
                .query_row(params![id_bytes(user.0), path], mailbox_from_row)
                .optional()?)
        })
        .await
    }

    async fn mailbox_by_id(&self, mailbox: MailboxId) -> Result<Option<Mailbox>> {
        self.read_small(move |tx| match get_mailbox(tx, mailbox) {
            Ok(m) => Ok(Some(m)),
            Err(Fail::Store(Error::Mailbox(MailboxError::NotFound))) => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }

    async fn create_mailbox(
        &self,
        user: UserId,
        parents: Vec<String>,
        mailbox: NewMailbox,
    ) -> Result<Mailbox> {
        self.write(move |tx| {
            get_user(tx, user)?;
            if path_exists(tx, user, &mailbox.path)? {
                return Err(MailboxError::AlreadyExists.into());
            }
            create_missing(tx, user, &parents, mailbox.subscribed)?;
            let created = insert_mailbox(tx, user, &mailbox)?;
            log_event(
                tx,
                &crate::events::mailbox_created(user, created.id, &created.path),
            )?;
            Ok(created)
        })
        .await
    }

    async fn rename_mailbox_tree(
        &self,
        user: UserId,
        from: &str,
        to: &str,
        to_parents: Vec<String>,
    ) -> Result<()> {
        let (from, to) = (from.to_string(), to.to_string());
        self.write(move |tx| {
            get_user(tx, user)?;
            if !path_exists(tx, user, &from)? {
                return Err(MailboxError::NotFound.into());
            }
            let prefix = format!("{from}/");
            let mut stmt = tx.prepare(
                "SELECT id, path FROM mailboxes WHERE user = ?1
                 AND (path = ?2 OR substr(path, 1, length(?3)) = ?3)",
            )?;
            let moving = stmt
                .query_map(params![id_bytes(user.0), from, prefix], |r| {
                    Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let top_id = moving
                .iter()
                .find(|(_, path)| *path == from)
                .and_then(|(id, _)| <[u8; 12]>::try_from(id.as_slice()).ok())
                .map(|bytes| MailboxId(RecordId::from_bytes(bytes)));
            let renamed: Vec<(Vec<u8>, String)> = moving
                .into_iter()
                .map(|(id, path)| (id, format!("{to}{}", &path[from.len()..])))
                .collect();
            for (_, path) in &renamed {
                if path_exists(tx, user, path)? {
                    return Err(MailboxError::AlreadyExists.into());
                }
            }
            for (id, path) in &renamed {
                tx.execute(
                    "UPDATE mailboxes SET path = ?2 WHERE id = ?1",
                    params![id, path],
                )?;
            }
            if let Some(id) = top_id {
                log_event(tx, &crate::events::mailbox_renamed(user, id, &from, &to))?;
            }
            create_missing(tx, user, &to_parents, true)?;
            Ok(())
        })
        .await
    }

    async fn delete_mailbox(&self, mailbox: MailboxId) -> Result<Vec<Wake>> {
        self.write(move |tx| {
            let record = get_mailbox(tx, mailbox)?;
            drop_mailbox(tx, &record)?;
            log_event(
                tx,
                &crate::events::mailbox_deleted(record.user, mailbox, &record.path),
            )?;
            Ok(vec![Wake {
                user: record.user,
                mailbox,
                modseq: record.highest_modseq + 1,
            }])
        })
        .await
    }

    async fn set_subscribed(&self, mailbox: MailboxId, subscribed: bool) -> Result<()> {
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE mailboxes SET subscribed = ?2 WHERE id = ?1",
                params![id_bytes(mailbox.0), subscribed],
            )?;
            if changed == 0 {
                return Err(MailboxError::NotFound.into());
            }
            Ok(())
        })
        .await
    }

    async fn claim_recent(&self, mailbox: MailboxId, up_to: Uid) -> Result<Uid> {
        // The single writer runs the read and the raise as one unit.
        self.write(move |tx| {
            let before = read_recent_marker(tx, mailbox)?;
            if before < up_to {
                tx.prepare_cached("UPDATE mailboxes SET recent_uid = ?2 WHERE id = ?1")?
                    .execute(params![id_bytes(mailbox.0), up_to])?;
            }
            Ok(before)
        })
        .await
    }

    async fn recent_marker(&self, mailbox: MailboxId) -> Result<Uid> {
        self.read_small(move |tx| read_recent_marker(tx, mailbox))
            .await
    }

    async fn mailbox_status(&self, mailbox: MailboxId) -> Result<MailboxStatus> {
        self.read_small(move |tx| {
            let record = get_mailbox(tx, mailbox)?;
            let (messages, unseen, size) = tx
                .prepare_cached(
                    "SELECT message_count, unseen_count, message_bytes FROM mailboxes
                     WHERE id = ?1",
                )?
                .query_row([id_bytes(mailbox.0)], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })?;
            Ok(MailboxStatus {
                messages: messages as u32,
                unseen: unseen as u32,
                uidnext: record.uidnext,
                uidvalidity: record.uidvalidity,
                highest_modseq: record.highest_modseq,
                size: size as u64,
            })
        })
        .await
    }

    async fn quota_of_mailbox(&self, mailbox: MailboxId) -> Result<(u64, Option<u64>)> {
        self.read_small(move |tx| {
            let record = get_mailbox(tx, mailbox)?;
            let user = get_user(tx, record.user)?;
            Ok((user.user.storage_used, user.user.quota))
        })
        .await
    }
}

/// Deletes every message of a mailbox, its journal (see below) and the mailbox row.
pub(super) fn drop_mailbox(tx: &Connection, mailbox: &Mailbox) -> TxResult<()> {
    let mut stmt = tx.prepare("SELECT id, size FROM messages WHERE mailbox = ?1")?;
    let rows = stmt
        .query_map([id_bytes(mailbox.id.0)], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut freed = 0i64;
    for (id, size) in rows {
        release_message_blobs(tx, &id)?;
        freed += size;
    }
    let key = id_bytes(mailbox.id.0);
    tx.execute("DELETE FROM messages WHERE mailbox = ?1", [key])?;
    // The store's newest journal row stays, orphaned until the trim takes it by age: SQLite
    // numbers the next row after the highest left, and the user feed's ids (the second
    // written, then the rowid) must not repeat one already handed out in this second.
    tx.execute(
        "DELETE FROM journal WHERE mailbox = ?1
         AND rowid < (SELECT max(rowid) FROM journal)",
        [key],
    )?;
    tx.execute("DELETE FROM mailboxes WHERE id = ?1", [key])?;
    add_storage(tx, mailbox.user, -freed)?;
    Ok(())
}
