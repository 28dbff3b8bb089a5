//! The keywords a mailbox has had on MongoDB (see [`MailboxKeywords`]): the `flags` array of
//! the mailbox document, as WildDuck keeps it, so it goes with the mailbox.

use super::*;

#[async_trait]
impl MailboxKeywords for MongoBackend {
    async fn mailbox_keywords(&self, mailbox: MailboxId) -> Result<BTreeSet<String>> {
        let found = self
            .mailboxes
            .clone_with_type::<Document>()
            .find_one(doc! {"_id": ObjectId::from(mailbox)})
            .projection(doc! {"flags": 1})
            .await
            .map_err(db_error)?;
        Ok(found
            .as_ref()
            .and_then(|d| d.get_array("flags").ok())
            .into_iter()
            .flatten()
            .filter_map(|flag| flag.as_str().map(str::to_string))
            .collect())
    }

    async fn remember_keywords(
        &self,
        mailbox: MailboxId,
        keywords: &BTreeSet<String>,
    ) -> Result<()> {
        let keywords: Vec<&str> = keywords.iter().map(String::as_str).collect();
        // `$addToSet` makes the array when it is missing on MongoDB, but not on every server
        // that speaks its protocol (nx-27017 leaves the document as it was): make it first.
        self.mailboxes
            .update_one(
                doc! {"_id": ObjectId::from(mailbox), "flags": {"$exists": false}},
                doc! {"$set": {"flags": []}},
            )
            .await
            .map_err(db_error)?;
        self.mailboxes
            .update_one(
                doc! {"_id": ObjectId::from(mailbox)},
                doc! {"$addToSet": {"flags": {"$each": keywords}}},
            )
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
