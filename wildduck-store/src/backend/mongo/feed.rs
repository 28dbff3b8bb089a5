//! A user's change feed: the journal of all their mailboxes in `_id` order (see
//! [`Messages::user_changes_after`]). Entries are written before their MODSEQ commits
//! (`sequence.rs`), so the feed stops at the first one above its mailbox's horizon: it is
//! read again after the commit instead of being passed over.

use std::collections::HashMap;

use super::records::{MailboxDoc, ObjectId, change_from_entry, int_field};
use super::*;

impl MongoBackend {
    /// The committed horizon of each of `user`'s mailboxes.
    async fn horizons(&self, user: UserId) -> Result<HashMap<ObjectId, i64>> {
        let docs: Vec<MailboxDoc> = self
            .mailboxes
            .find(doc! {"user": id_is(user)})
            .all()
            .await?;
        Ok(docs
            .iter()
            .map(|mailbox| (mailbox.id, mailbox.horizon().min(i64::MAX as u64) as i64))
            .collect())
    }

    pub(super) async fn feed_after(
        &self,
        user: UserId,
        after: Option<JournalId>,
        limit: usize,
    ) -> Result<Vec<UserChange>> {
        let horizons = self.horizons(user).await?;
        if horizons.is_empty() {
            return Ok(Vec::new());
        }
        let mut filter = doc! {"mailbox": {"$in": horizons.keys().copied().collect::<Vec<_>>()}};
        if let Some(after) = after {
            filter.insert("_id", doc! {"$gt": ObjectId::from(after)});
        }
        let entries: Vec<Document> = self
            .journal
            .find(filter)
            .sort(doc! {"_id": 1})
            .limit(limit.min(i64::MAX as usize) as i64)
            .all()
            .await?;
        let mut changes = Vec::with_capacity(entries.len());
        for entry in &entries {
            let mailbox = entry.get_object_id("mailbox").map_err(field_error)?;
            let committed = horizons.get(&mailbox).copied().unwrap_or(i64::MAX);
            if int_field(entry, "modseq")? > committed {
                break;
            }
            changes.push(UserChange {
                id: entry.get_object_id("_id").map_err(field_error)?.into(),
                mailbox: mailbox.into(),
                change: change_from_entry(entry)?,
            });
        }
        Ok(changes)
    }

    pub(super) async fn feed_head(&self, user: UserId) -> Result<Option<JournalId>> {
        let horizons = self.horizons(user).await?;
        if horizons.is_empty() {
            return Ok(None);
        }
        let uncommitted: Vec<Document> = horizons
            .iter()
            .map(|(mailbox, horizon)| doc! {"mailbox": mailbox, "modseq": {"$gt": horizon}})
            .collect();
        let first_uncommitted = self
            .journal
            .find_one(doc! {"$or": uncommitted})
            .sort(doc! {"_id": 1})
            .projection(doc! {"_id": 1})
            .await
            .map_err(db_error)?;
        let mut filter = doc! {"mailbox": {"$in": horizons.keys().copied().collect::<Vec<_>>()}};
        if let Some(entry) = first_uncommitted {
            filter.insert(
                "_id",
                doc! {"$lt": entry.get_object_id("_id").map_err(field_error)?},
            );
        }
        let newest = self
            .journal
            .find_one(filter)
            .sort(doc! {"_id": -1})
            .projection(doc! {"_id": 1})
            .await
            .map_err(db_error)?;
        newest
            .map(|entry| Ok(entry.get_object_id("_id").map_err(field_error)?.into()))
            .transpose()
    }
}
