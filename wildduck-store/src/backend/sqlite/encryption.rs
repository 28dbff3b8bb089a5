//! Encrypted mailboxes on SQLite (see [`MailboxEncryption`]): a column of `mailboxes`.

use super::*;

#[async_trait]
impl MailboxEncryption for SqliteBackend {
    async fn mailbox_encrypted(&self, mailbox: MailboxId) -> Result<bool> {
        self.read_small(move |tx| {
            tx.prepare_cached("SELECT encrypt_messages FROM mailboxes WHERE id = ?1")?
                .query_row([id_bytes(mailbox.0)], |row| row.get::<_, bool>(0))
                .optional()?
                .ok_or_else(|| MailboxError::NotFound.into())
        })
        .await
    }

    async fn set_mailbox_encrypted(&self, mailbox: MailboxId, encrypted: bool) -> Result<()> {
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE mailboxes SET encrypt_messages = ?2 WHERE id = ?1",
                params![id_bytes(mailbox.0), encrypted],
            )?;
            if changed == 0 {
                return Err(MailboxError::NotFound.into());
            }
            Ok(())
        })
        .await
    }
}
