//! The address register on MongoDB (see [`AddressRegister`]): the `address_register`
//! collection, one document per (user, addrview), its `_id` made of both (so a second
//! insert is a duplicate key), the entry's id in `id`, indexed by user, removed with the
//! user. Recording reads the entry of the addrview, then updates it unless it is
//! disabled, or inserts a new one (one written meanwhile wins by the unique index).

use mongodb::bson::{Bson, Document, doc};

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
        let by_user = IndexModel::builder().keys(doc! {"user": 1}).build();
        self.address_register()
            .create_index(by_user)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Removes a deleted user's register.
    pub(super) async fn drop_address_register(&self, user: UserId) -> Result<()> {
        self.address_register()
            .delete_many(doc! {"user": id_is(user)})
            .await
            .map_err(db_error)?;
        Ok(())
    }
}

/// The document key: one entry per (user, addrview), a duplicate insert refused by `_id`.
fn entry_key(user: UserId, addrview: &str) -> String {
    format!("{}/{addrview}", user.0)
}

/// The `disabled` flag however the server encodes a boolean.
fn is_disabled(doc: &Document) -> bool {
    match doc.get("disabled") {
        Some(Bson::Boolean(flag)) => *flag,
        Some(other) => bson_int(other).is_some_and(|n| n != 0),
        None => false,
    }
}

fn entry_from_doc(doc: &Document) -> Result<RegisteredAddress> {
    let corrupt = |field: &str| {
        Error::from(StorageError::from(Defect::Malformed {
            what: "address register entry",
            detail: format!("no {field}"),
        }))
    };
    let id = doc.get_object_id("id").map_err(|_| corrupt("id"))?;
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
        disabled: is_disabled(doc),
        updated: int_field(doc, "updated")?,
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
        for (addrview, entry) in entries {
            let key = doc! {"_id": entry_key(user, &addrview)};
            let mut set = doc! {"updated": entry.updated};
            if let Some(name) = &entry.name {
                set.insert("name", name);
            }
            let existing = self
                .address_register()
                .find_one(key)
                .await
                .map_err(db_error)?;
            if let Some(existing) = existing {
                // A disabled entry is kept as it is.
                if !is_disabled(&existing) {
                    self.address_register()
                        .update_one(doc! {"_id": entry_key(user, &addrview)}, doc! {"$set": set})
                        .await
                        .map_err(db_error)?;
                }
                continue;
            }
            let mut record = doc! {
                "_id": entry_key(user, &addrview),
                "id": ObjectId::from(entry.id.bytes()),
                "user": ObjectId::from(user),
                "addrview": &addrview,
                "address": &entry.address,
                "disabled": false,
                "updated": entry.updated,
            };
            if let Some(name) = &entry.name {
                record.insert("name", name);
            }
            // One written meanwhile keeps the key.
            match self.address_register().insert_one(record).await {
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
            .find(doc! {"user": id_is(user)})
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
        // Found among the user's entries (the entry id is not a key of its own).
        let docs: Vec<Document> = self
            .address_register()
            .find(doc! {"user": id_is(user)})
            .all()
            .await?;
        let wanted = ObjectId::from(id.bytes());
        let Some(found) = docs
            .into_iter()
            .find(|doc| doc.get_object_id("id").ok() == Some(wanted))
        else {
            return Ok(false);
        };
        if !set.is_empty() {
            let key = found.get("_id").cloned().unwrap_or(Bson::Null);
            self.address_register()
                .update_one(doc! {"_id": key}, doc! {"$set": set})
                .await
                .map_err(db_error)?;
        }
        Ok(true)
    }
}
