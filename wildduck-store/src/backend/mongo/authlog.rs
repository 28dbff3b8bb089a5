//! The auth log on MongoDB (see [`AuthLog`]): the `authlog` collection, `_id` = the event's
//! id, the event whole as JSON text beside the fields it is found by (user) and swept by
//! (expires), both indexed.

use mongodb::bson::{Bson, Document, doc};

use super::*;
use crate::authlog::AuthEvent;

impl MongoBackend {
    fn auth_log(&self) -> Collection<Document> {
        let namespace = self.users.namespace();
        self.users
            .client()
            .database(&namespace.db)
            .collection("authlog")
    }

    pub(super) async fn create_auth_log_indexes(&self) -> Result<()> {
        for keys in [doc! {"user": 1}, doc! {"expires": 1}] {
            self.auth_log()
                .create_index(IndexModel::builder().keys(keys).build())
                .await
                .map_err(db_error)?;
        }
        Ok(())
    }
}

fn event_of(doc: &Document) -> Result<AuthEvent> {
    let text = doc.get_str("event").map_err(|_| {
        Error::from(Defect::Malformed {
            what: "authlog document",
            detail: format!("{doc}"),
        })
    })?;
    serde_json::from_str(text).map_err(|e| {
        Error::from(Defect::Malformed {
            what: "authlog document",
            detail: e.to_string(),
        })
    })
}

#[async_trait]
impl AuthLog for MongoBackend {
    async fn add_auth_event(&self, event: AuthEvent) -> Result<()> {
        let text = serde_json::to_string(&event).map_err(|e| {
            Error::from(Defect::Malformed {
                what: "authlog event",
                detail: e.to_string(),
            })
        })?;
        let document = doc! {
            "_id": ObjectId::from_bytes(event.id.bytes()),
            "user": event.user.map_or(Bson::Null, |user| Bson::ObjectId(user.into())),
            "expires": event.expires,
            "event": text,
        };
        self.auth_log()
            .insert_one(document)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn auth_events(&self, user: UserId) -> Result<Vec<AuthEvent>> {
        let found: Vec<Document> = self
            .auth_log()
            .find(doc! {"user": id_is(user)})
            .all()
            .await?;
        found.iter().map(event_of).collect()
    }

    async fn auth_event(&self, user: UserId, id: RecordId) -> Result<Option<AuthEvent>> {
        let found = self
            .auth_log()
            .find_one(doc! {"_id": ObjectId::from_bytes(id.bytes())})
            .await
            .map_err(db_error)?;
        let event = found.as_ref().map(event_of).transpose()?;
        Ok(event.filter(|event| event.user == Some(user)))
    }

    async fn drop_auth_events(&self, at: Timestamp) -> Result<u64> {
        let result = self
            .auth_log()
            .delete_many(doc! {"expires": {"$lte": at}})
            .await
            .map_err(db_error)?;
        Ok(result.deleted_count)
    }
}
