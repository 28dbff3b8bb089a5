//! Mailbox settings and message expiry on MongoDB (see [`Expiry`]): fields of the mailbox
//! (`hidden`, `retention`) and message (`expires`, indexed) documents.

use super::*;

#[async_trait]
impl Expiry for MongoBackend {
    async fn update_mailbox_settings(
        &self,
        mailbox: MailboxId,
        update: MailboxSettingsUpdate,
    ) -> Result<()> {
        let mut set = Document::new();
        if let Some(hidden) = update.hidden {
            set.insert("hidden", hidden);
        }
        if let Some(retention) = update.retention {
            let ms = retention.map(|ms| Bson::Int64(ms.min(i64::MAX as u64) as i64));
            set.insert("retention", ms.unwrap_or(Bson::Null));
        }
        let filter = doc! {"_id": ObjectId::from(mailbox)};
        let found = if set.is_empty() {
            self.mailboxes
                .find_one(filter)
                .await
                .map_err(db_error)?
                .is_some()
        } else {
            let result = self
                .mailboxes
                .update_one(filter, doc! {"$set": set})
                .await
                .map_err(db_error)?;
            result.matched_count > 0
        };
        if !found {
            return Err(MailboxError::NotFound.into());
        }
        Ok(())
    }

    async fn set_expiry(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        expires: Option<Timestamp>,
    ) -> Result<usize> {
        self.mailbox_doc(mailbox).await?;
        let value = expires.map_or(Bson::Null, Bson::Int64);
        let mut changed = 0;
        for &(first, last) in uids.ranges() {
            let result = self
                .messages
                .update_many(
                    doc! {
                        "mailbox": id_is(mailbox),
                        "uid": {"$gte": first as i64, "$lte": last as i64},
                        "expunged": Bson::Null,
                    },
                    doc! {"$set": {"expires": value.clone()}},
                )
                .await
                .map_err(db_error)?;
            changed += result.matched_count as usize;
        }
        Ok(changed)
    }

    async fn expired(&self, now: Timestamp, limit: usize) -> Result<Vec<(MailboxId, Uid)>> {
        let docs: Vec<Document> = self
            .messages
            .clone_with_type::<Document>()
            .find(doc! {"expires": {"$lte": now}, "expunged": Bson::Null})
            .sort(doc! {"expires": 1})
            .limit(limit.min(i64::MAX as usize) as i64)
            .projection(doc! {"mailbox": 1, "uid": 1})
            .all()
            .await?;
        docs.iter()
            .map(|doc| {
                let mailbox = doc.get_object_id("mailbox").map_err(|e| {
                    Error::from(Defect::Malformed {
                        what: "message",
                        detail: format!("no mailbox id: {e}"),
                    })
                })?;
                let uid = int_field(doc, "uid")?;
                Ok((
                    MailboxId::from(mailbox),
                    uid.clamp(0, u32::MAX as i64) as Uid,
                ))
            })
            .collect()
    }
}
