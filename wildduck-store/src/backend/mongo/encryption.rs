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
        // A server may keep `true` as 1 (the test server does).
        Ok(match found.get("encryptMessages") {
            Some(Bson::Boolean(encrypted)) => *encrypted,
            Some(Bson::Int32(flag)) => *flag != 0,
            _ => false,
        })
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
