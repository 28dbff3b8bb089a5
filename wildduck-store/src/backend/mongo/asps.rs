//! Application-specific passwords on MongoDB (see [`AppPasswords`]): the `asps` collection.
//!
//! The limit per user is a count before the insert, as WildDuck checks it: two creations at
//! the same moment may pass it by one each (no transaction to make the pair atomic).

use super::*;
use crate::error::AspError;

#[async_trait]
impl AppPasswords for MongoBackend {
    async fn create_asp(&self, record: AspRecord, limit: usize) -> Result<()> {
        let user = record.asp.user;
        self.user_doc(user).await?;
        // Counted by reading the (at most `limit`) documents: a filtered `countDocuments`
        // is an aggregation, which the MongoDB-wire server of the tests miscounts.
        let existing: Vec<AspDoc> = self.asps.find(doc! {"user": id_is(user)}).all().await?;
        if existing.len() >= limit {
            return Err(AspError::TooMany { allowed: limit }.into());
        }
        self.asps
            .insert_one(AspDoc::from(&record))
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn list_asps(&self, user: UserId) -> Result<Vec<Asp>> {
        self.user_doc(user).await?;
        let docs: Vec<AspDoc> = self
            .asps
            .find(doc! {"user": id_is(user)})
            .sort(doc! {"_id": 1})
            .all()
            .await?;
        Ok(docs.into_iter().map(|d| AspRecord::from(d).asp).collect())
    }

    async fn asps_by_selector(&self, user: UserId, selector: &str) -> Result<Vec<AspRecord>> {
        let docs: Vec<AspDoc> = self
            .asps
            .find(doc! {"user": id_is(user), "selector": selector})
            .sort(doc! {"_id": 1})
            .all()
            .await?;
        Ok(docs.into_iter().map(AspRecord::from).collect())
    }

    async fn delete_asp(&self, user: UserId, asp: AspId) -> Result<()> {
        let result = self
            .asps
            .delete_one(doc! {"_id": ObjectId::from(asp), "user": id_is(user)})
            .await
            .map_err(db_error)?;
        if result.deleted_count == 0 {
            return Err(AspError::NotFound.into());
        }
        Ok(())
    }

    async fn record_asp_use(
        &self,
        asp: AspId,
        used: AspUse,
        expires: Option<Timestamp>,
    ) -> Result<()> {
        let mut set = doc! {"last_use": to_document(&used)?};
        if let Some(expires) = expires {
            set.insert("expires", expires);
        }
        self.asps
            .update_one(doc! {"_id": ObjectId::from(asp)}, doc! {"$set": set})
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
