//! The address register on MongoDB (see [`AddressRegister`]): the `address_register`
//! collection, one document per (user, addrview) under a unique index, removed with the
//! user. Recording is an upsert that matches only an entry that is not disabled, as
//! WildDuck's; on a disabled entry the upsert's insert is a duplicate key and nothing changes.

use mongodb::bson::{Bson, Document, doc};
use mongodb::options::UpdateOptions;

use super::*;
use crate::addressregister::RegisteredAddress;

impl MongoBackend {
    fn address_register(&self) -> Collection<Document> {
        let namespace = self.users.namespace();
        self.users
            .client()
            .database(&namespace.db)
            .collection("address_register")
    }

    pub(super) async fn create_address_register_indexes(&self) -> Result<()> {
        let unique = IndexModel::builder()
            .keys(doc! {"user": 1, "addrview": 1})
            .options(IndexOptions::builder().unique(true).build())
            .build();
        self.address_register()
            .create_index(unique)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Removes a deleted user's register.
    pub(super) async fn drop_address_register(&self, user: UserId) -> Result<()> {
        self.address_register()
            .delete_many(doc! {"user": ObjectId::from(user)})
            .await
            .map_err(db_error)?;
        Ok(())
    }
}

fn entry_from_doc(doc: &Document) -> Result<RegisteredAddress> {
    let corrupt = |field: &str| {
        Error::from(StorageError::from(Defect::Malformed {
            what: "address register entry",
            detail: format!("no {field}"),
        }))
    };
    let id = doc.get_object_id("_id").map_err(|_| corrupt("_id"))?;
    Ok(RegisteredAddress {
        id: RecordId::from_bytes(id.bytes()),
        address: doc
            .get_str("address")
            .map_err(|_| corrupt("address"))?
            .to_string(),
        name: match doc.get("name") {
            Some(Bson::String(name)) => Some(name.clone()),
            _ => None,
        },
        disabled: doc.get_bool("disabled").unwrap_or(false),
        updated: doc.get_i64("updated").map_err(|_| corrupt("updated"))?,
    })
}

#[async_trait]
impl AddressRegister for MongoBackend {
    async fn register_addresses(
        &self,
        user: UserId,
        entries: Vec<(String, RegisteredAddress)>,
    ) -> Result<()> {
        self.user_doc(user).await?;
        let upsert = UpdateOptions::builder().upsert(true).build();
        for (addrview, entry) in entries {
            let mut set = doc! {"updated": entry.updated};
            if let Some(name) = &entry.name {
                set.insert("name", name);
            }
            let update = doc! {
                "$set": set,
                "$setOnInsert": {
                    "_id": ObjectId::from(entry.id.bytes()),
                    "address": &entry.address,
                    "disabled": false,
                },
            };
            let filter =
                doc! {"user": ObjectId::from(user), "addrview": &addrview, "disabled": false};
            match self
                .address_register()
                .update_one(filter, update)
                .with_options(upsert.clone())
                .await
            {
                Ok(_) => {}
                Err(e) if is_duplicate_key(&e) => {}
                Err(e) => return Err(db_error(e)),
            }
        }
        Ok(())
    }

    async fn registered_addresses(&self, user: UserId) -> Result<Vec<RegisteredAddress>> {
        let docs: Vec<Document> = self
            .address_register()
            .find(doc! {"user": ObjectId::from(user)})
            .all()
            .await?;
        docs.iter().map(entry_from_doc).collect()
    }

    async fn update_registered_address(
        &self,
        user: UserId,
        id: RecordId,
        disabled: Option<bool>,
        name: Option<String>,
    ) -> Result<bool> {
        let mut set = Document::new();
        if let Some(disabled) = disabled {
            set.insert("disabled", disabled);
        }
        if let Some(name) = name {
            set.insert("name", name);
        }
        let filter = doc! {"_id": ObjectId::from(id.bytes()), "user": ObjectId::from(user)};
        if set.is_empty() {
            let found = self
                .address_register()
                .find_one(filter)
                .await
                .map_err(db_error)?;
            return Ok(found.is_some());
        }
        let result = self
            .address_register()
            .update_one(filter, doc! {"$set": set})
            .await
            .map_err(db_error)?;
        Ok(result.matched_count > 0)
    }
}
