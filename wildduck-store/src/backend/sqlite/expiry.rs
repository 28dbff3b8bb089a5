//! Mailbox settings and message expiry on SQLite (see [`Expiry`]): columns of `mailboxes`
//! (`hidden`, `retention`) and `messages` (`expires`, indexed where set).

use super::*;

#[async_trait]
impl Expiry for SqliteBackend {
    async fn update_mailbox_settings(
        &self,
        mailbox: MailboxId,
        update: MailboxSettingsUpdate,
    ) -> Result<()> {
        self.write(move |tx| {
            get_mailbox(tx, mailbox)?;
            let key = id_bytes(mailbox.0);
            if let Some(hidden) = update.hidden {
                tx.execute(
                    "UPDATE mailboxes SET hidden = ?2 WHERE id = ?1",
                    params![key, hidden],
                )?;
            }
            if let Some(retention) = update.retention {
                tx.execute(
                    "UPDATE mailboxes SET retention = ?2 WHERE id = ?1",
                    params![key, retention.map(|ms| ms.min(i64::MAX as u64) as i64)],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn set_expiry(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        expires: Option<Timestamp>,
    ) -> Result<usize> {
        let uids = uids.clone();
        self.write(move |tx| {
            get_mailbox(tx, mailbox)?;
            let mut stmt = tx.prepare_cached(
                "UPDATE messages SET expires = ?4 WHERE mailbox = ?1 AND uid BETWEEN ?2 AND ?3",
            )?;
            let mut changed = 0;
            for &(first, last) in uids.ranges() {
                changed += stmt.execute(params![id_bytes(mailbox.0), first, last, expires])?;
            }
            Ok(changed)
        })
        .await
    }

    async fn expired(&self, now: Timestamp, limit: usize) -> Result<Vec<(MailboxId, Uid)>> {
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT mailbox, uid FROM messages
                 WHERE expires IS NOT NULL AND expires <= ?1
                 ORDER BY expires LIMIT ?2",
            )?;
            let rows = stmt
                .query_map(params![now, limit as i64], |r| {
                    Ok((MailboxId(record_id(r, 0)?), r.get(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }
}
