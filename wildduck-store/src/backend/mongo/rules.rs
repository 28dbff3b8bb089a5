//! Delivery rules on MongoDB (see [`DeliveryRules`]): `filters` and `autoreplies` keep each
//! record as JSON in `record` beside the `user` they are found by (the same text SQLite keeps,
//! and no BSON type the test server would hand back changed); `autoreplies_sent` holds one
//! document per user and sender, claimed by one conditional upsert.
//!
//! Filters run in creation order: `created_ms` is set at insert and kept by updates (ids
//! made by different processes in one second do not sort by creation).
//!
//! The filter limit is a count before the insert, as WildDuck checks it: two creations at the
//! same moment may pass it by one each (no transaction to make the pair atomic).

use super::*;
use crate::error::RuleError;
use crate::filters::{Autoreply, Filter};

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| StorageError::new(StorageErrorKind::Internal, e).into())
}

fn record<T: serde::de::DeserializeOwned>(doc: &Document) -> Result<T> {
    let text = doc.get_str("record").map_err(field_error)?;
    serde_json::from_str(text).map_err(|e| StorageError::new(StorageErrorKind::Corrupt, e).into())
}

fn filter_doc(filter: &Filter) -> Result<Document> {
    Ok(doc! {
        "_id": ObjectId::from(filter.id),
        "user": ObjectId::from(filter.user),
        "record": json(filter)?,
    })
}

impl MongoBackend {
    /// The user's filters, autoreply and reply record go with the user.
    pub(super) async fn delete_user_rules(&self, user: UserId) -> Result<()> {
        for collection in [&self.filters, &self.autoreplies, &self.autoreplies_sent] {
            collection
                .delete_many(doc! {"user": id_is(user)})
                .await
                .map_err(db_error)?;
        }
        Ok(())
    }
}

#[async_trait]
impl DeliveryRules for MongoBackend {
    async fn create_filter(&self, filter: Filter, limit: usize) -> Result<()> {
        self.user_doc(filter.user).await?;
        // Counted by reading: a filtered `countDocuments` is an aggregation, which the
        // MongoDB-wire server of the tests miscounts.
        let existing: Vec<Document> = self
            .filters
            .find(doc! {"user": id_is(filter.user)})
            .projection(doc! {"_id": 1})
            .all()
            .await?;
        if existing.len() >= limit {
            return Err(RuleError::TooManyFilters { allowed: limit }.into());
        }
        let mut created = filter_doc(&filter)?;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        created.insert("created_ms", now_ms);
        self.filters.insert_one(created).await.map_err(db_error)?;
        Ok(())
    }

    async fn list_filters(&self, user: Option<UserId>) -> Result<Vec<Filter>> {
        let query = match user {
            Some(user) => doc! {"user": id_is(user)},
            None => doc! {},
        };
        let docs: Vec<Document> = self
            .filters
            .find(query)
            .sort(doc! {"created_ms": 1, "_id": 1})
            .all()
            .await?;
        docs.iter().map(record).collect()
    }

    async fn replace_filter(&self, filter: Filter) -> Result<()> {
        // `$set` of the record, so the document keeps its `created_ms`.
        let result = self
            .filters
            .update_one(
                doc! {"_id": ObjectId::from(filter.id), "user": id_is(filter.user)},
                doc! {"$set": {"record": json(&filter)?}},
            )
            .await
            .map_err(db_error)?;
        if result.matched_count == 0 {
            return Err(RuleError::FilterNotFound.into());
        }
        Ok(())
    }

    async fn delete_filter(&self, user: UserId, filter: FilterId) -> Result<()> {
        let result = self
            .filters
            .delete_one(doc! {"_id": ObjectId::from(filter), "user": id_is(user)})
            .await
            .map_err(db_error)?;
        if result.deleted_count == 0 {
            return Err(RuleError::FilterNotFound.into());
        }
        Ok(())
    }

    async fn autoreply(&self, user: UserId) -> Result<Option<Autoreply>> {
        let found = self
            .autoreplies
            .find_one(doc! {"_id": ObjectId::from(user)})
            .await
            .map_err(db_error)?;
        found.as_ref().map(record).transpose()
    }

    async fn set_autoreply(&self, autoreply: Autoreply) -> Result<()> {
        self.user_doc(autoreply.user).await?;
        let user = ObjectId::from(autoreply.user);
        self.autoreplies
            .replace_one(
                doc! {"_id": user},
                doc! {"_id": user, "user": user, "record": json(&autoreply)?},
            )
            .upsert(true)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn delete_autoreply(&self, user: UserId) -> Result<()> {
        for collection in [&self.autoreplies, &self.autoreplies_sent] {
            collection
                .delete_many(doc! {"user": id_is(user)})
                .await
                .map_err(db_error)?;
        }
        Ok(())
    }

    async fn claim_autoreply(
        &self,
        user: UserId,
        sender: &str,
        now: Timestamp,
        since: Timestamp,
    ) -> Result<bool> {
        let key = format!("{user}:{sender}");
        // Matches a record older than `since` (moved forward) or none (inserted); a record
        // within the interval is not matched, so the upsert's insert hits the existing `_id`.
        let result = self
            .autoreplies_sent
            .update_one(
                doc! {"_id": &key, "sent": {"$lt": since}},
                doc! {"$set": {"sent": now, "user": ObjectId::from(user)}},
            )
            .upsert(true)
            .await;
        match result {
            Ok(result) => Ok(result.modified_count == 1 || result.upserted_id.is_some()),
            Err(e) if is_duplicate_key(&e) => Ok(false),
            Err(e) => Err(db_error(e)),
        }
    }
}
