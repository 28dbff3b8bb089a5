//! Encrypted mailboxes on MongoDB (see [`MailboxEncryption`]): `encryptMessages` of the
//! mailbox document, absent (false) until set.

use super::*;

#[async_trait]
impl MailboxEncryption for MongoBackend {
    async fn mailbox_encrypted(&self, mailbox: MailboxId) -> Result<bool> {
        let found = self
            .mailboxes
            .clone_with_type::<Document>()
            .find_one(doc! {"_id": ObjectId::from(mailbox)})
            .projection(doc! {"encryptMessages": 1})
            .await
            .map_err(db_error)?
            .ok_or(MailboxError::NotFound)?;
        Ok(found.get_bool("encryptMessages").unwrap_or(false))
    }

    async fn set_mailbox_encrypted(&self, mailbox: MailboxId, encrypted: bool) -> Result<()> {
        let result = self
            .mailboxes
            .update_one(
                doc! {"_id": ObjectId::from(mailbox)},
                doc! {"$set": {"encryptMessages": encrypted}},
            )
            .await
            .map_err(db_error)?;
        if result.matched_count == 0 {
            return Err(MailboxError::NotFound.into());
        }
        Ok(())
    }
}
