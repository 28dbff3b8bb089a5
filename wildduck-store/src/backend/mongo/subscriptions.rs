//! Subscriptions that outlived their mailbox on MongoDB (see [`Subscriptions`]): the
//! `dangling_subscriptions` collection, one document per name, its `_id` made of the user's
//! id and the path so that recording a name twice is a duplicate key.

use super::*;

fn record_id(user: UserId, path: &str) -> String {
    format!("{}/{path}", user.0)
}

#[async_trait]
impl Subscriptions for MongoBackend {
    async fn dangling_subscriptions(&self, user: UserId) -> Result<Vec<String>> {
        let docs: Vec<Document> = self
            .subscriptions
            .find(doc! {"user": id_is(user)})
            .sort(doc! {"path": 1})
            .all()
            .await?;
        Ok(docs
            .iter()
            .filter_map(|d| d.get_str("path").ok().map(str::to_string))
            .collect())
    }

    async fn set_dangling_subscription(
        &self,
        user: UserId,
        path: &str,
        subscribed: bool,
    ) -> Result<bool> {
        let id = record_id(user, path);
        if !subscribed {
            let result = self
                .subscriptions
                .delete_one(doc! {"_id": id})
                .await
                .map_err(db_error)?;
            return Ok(result.deleted_count > 0);
        }
        self.user_doc(user).await?;
        let record = doc! {"_id": id, "user": ObjectId::from(user), "path": path};
        match self.subscriptions.insert_one(record).await {
            Ok(_) => Ok(false),
            Err(e) if is_duplicate_key(&e) => Ok(true),
            Err(e) => Err(db_error(e)),
        }
    }
}
