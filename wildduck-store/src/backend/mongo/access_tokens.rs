//! The API's user access tokens on MongoDB (see [`AccessTokens`]): the `access_tokens`
//! collection, `_id` = the token's digest, with the user (indexed) and the expiry (indexed,
//! swept when a token is issued).

use mongodb::bson::{Document, doc};

use super::*;

impl MongoBackend {
    fn access_tokens(&self) -> Collection<Document> {
        let namespace = self.users.namespace();
        self.users
            .client()
            .database(&namespace.db)
            .collection("access_tokens")
    }

    pub(super) async fn create_access_token_indexes(&self) -> Result<()> {
        for keys in [doc! {"user": 1}, doc! {"expires": 1}] {
            self.access_tokens()
                .create_index(IndexModel::builder().keys(keys).build())
                .await
                .map_err(db_error)?;
        }
        Ok(())
    }
}

#[async_trait]
impl AccessTokens for MongoBackend {
    async fn insert_access_token(
        &self,
        digest: String,
        user: UserId,
        ttl: u64,
        now: Timestamp,
    ) -> Result<()> {
        self.user_doc(user).await?;
        let tokens = self.access_tokens();
        tokens
            .delete_many(doc! {"expires": {"$lte": now}})
            .await
            .map_err(db_error)?;
        let ttl = i64::try_from(ttl).unwrap_or(i64::MAX);
        tokens
            .insert_one(doc! {
                "_id": digest,
                "user": ObjectId::from(user),
                "ttl": ttl,
                "expires": now.saturating_add(ttl),
            })
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn use_access_token(&self, digest: String, now: Timestamp) -> Result<Option<UserId>> {
        let tokens = self.access_tokens();
        let live = doc! {"_id": &digest, "expires": {"$gt": now}};
        let Some(found) = tokens.find_one(live.clone()).await.map_err(db_error)? else {
            return Ok(None);
        };
        let malformed = || {
            Error::from(Defect::Malformed {
                what: "access token document",
                detail: format!("{found}"),
            })
        };
        let user = found.get_object_id("user").map_err(|_| malformed())?;
        let ttl = int_field(&found, "ttl")?;
        // Guarded by the same filter: a token revoked or expired meanwhile is not renewed.
        let renewed = tokens
            .update_one(live, doc! {"$set": {"expires": now.saturating_add(ttl)}})
            .await
            .map_err(db_error)?;
        Ok((renewed.matched_count == 1).then(|| UserId::from(user)))
    }

    async fn delete_access_token(&self, digest: String) -> Result<()> {
        self.access_tokens()
            .delete_one(doc! {"_id": digest})
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn delete_user_access_tokens(&self, user: UserId, keep: Option<String>) -> Result<()> {
        let mut filter = doc! {"user": id_is(user)};
        if let Some(keep) = keep {
            filter.insert("_id", doc! {"$ne": keep});
        }
        self.access_tokens()
            .delete_many(filter)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
