//! Profiles, temporary passwords, address details and forwarded addresses on MongoDB (see
//! [`Profiles`]): `user_profiles` and `address_details` keyed by their owner's id,
//! `forwarded_addresses` with a unique `addrview`. Each record is kept as its JSON text
//! beside the keys, so what the store reads back is exactly what it wrote.
//!
//! Without transactions, "no user's address and forwarded address share an addrview" is a
//! check before each insert (either side): two inserts of the same address at the same
//! moment, one of each kind, could both pass.

use mongodb::bson::{Bson, Document, doc};
use mongodb::options::UpdateOptions;

use super::*;
use crate::profiles::{AddressDetails, ForwardedAddress, TempPassword, UserProfile};

fn json_text<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|e| StorageError::new(StorageErrorKind::Internal, e).into())
}

fn from_json_text<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StorageError::new(StorageErrorKind::Corrupt, e).into())
}

/// The JSON text in `field` of `doc`, if it holds one.
fn text_field<'a>(doc: &'a Document, field: &str) -> Option<&'a str> {
    match doc.get(field) {
        Some(Bson::String(text)) => Some(text),
        _ => None,
    }
}

fn upsert() -> UpdateOptions {
    UpdateOptions::builder().upsert(true).build()
}

impl MongoBackend {
    fn collection_named(&self, name: &str) -> Collection<Document> {
        let namespace = self.users.namespace();
        self.users.client().database(&namespace.db).collection(name)
    }

    fn user_profiles(&self) -> Collection<Document> {
        self.collection_named("user_profiles")
    }

    fn address_details_collection(&self) -> Collection<Document> {
        self.collection_named("address_details")
    }

    fn forwarded(&self) -> Collection<Document> {
        self.collection_named("forwarded_addresses")
    }

    pub(super) async fn create_profile_indexes(&self) -> Result<()> {
        let unique = IndexModel::builder()
            .keys(doc! {"addrview": 1})
            .options(IndexOptions::builder().unique(true).build())
            .build();
        self.forwarded()
            .create_index(unique)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Whether a forwarded address has this addrview (a user's address may not).
    pub(super) async fn forwarded_view_taken(&self, addrview: &str) -> Result<bool> {
        Ok(self
            .forwarded()
            .find_one(doc! {"addrview": addrview})
            .await
            .map_err(db_error)?
            .is_some())
    }

    /// Removes what hangs off a deleted user: profile and temporary password.
    pub(super) async fn drop_user_profile(&self, user: UserId) -> Result<()> {
        self.user_profiles()
            .delete_one(doc! {"_id": ObjectId::from(user)})
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Removes the details of deleted addresses.
    pub(super) async fn drop_address_details(&self, addresses: Vec<AddressId>) -> Result<()> {
        let ids: Vec<ObjectId> = addresses.into_iter().map(ObjectId::from).collect();
        self.address_details_collection()
            .delete_many(doc! {"_id": {"$in": ids}})
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn forwarded_where(&self, filter: Document) -> Result<Option<ForwardedAddress>> {
        let found = self.forwarded().find_one(filter).await.map_err(db_error)?;
        found
            .as_ref()
            .and_then(|doc| text_field(doc, "record"))
            .map(from_json_text)
            .transpose()
    }
}

#[async_trait]
impl Profiles for MongoBackend {
    async fn user_profile(&self, user: UserId) -> Result<UserProfile> {
        let found = self
            .user_profiles()
            .find_one(doc! {"_id": ObjectId::from(user)})
            .await
            .map_err(db_error)?;
        match found.as_ref().and_then(|doc| text_field(doc, "profile")) {
            Some(text) => from_json_text(text),
            None => Ok(UserProfile::default()),
        }
    }

    async fn set_user_profile(&self, user: UserId, profile: UserProfile) -> Result<()> {
        self.user_doc(user).await?;
        self.user_profiles()
            .update_one(
                doc! {"_id": ObjectId::from(user)},
                doc! {"$set": {"profile": json_text(&profile)?}},
            )
            .with_options(upsert())
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn temp_password(&self, user: UserId) -> Result<Option<TempPassword>> {
        let found = self
            .user_profiles()
            .find_one(doc! {"_id": ObjectId::from(user)})
            .await
            .map_err(db_error)?;
        found
            .as_ref()
            .and_then(|doc| text_field(doc, "temp_password"))
            .map(from_json_text)
            .transpose()
    }

    async fn set_temp_password(&self, user: UserId, temp: Option<TempPassword>) -> Result<()> {
        self.user_doc(user).await?;
        let value = match &temp {
            Some(temp) => Bson::String(json_text(temp)?),
            None => Bson::Null,
        };
        self.user_profiles()
            .update_one(
                doc! {"_id": ObjectId::from(user)},
                doc! {"$set": {"temp_password": value}},
            )
            .with_options(upsert())
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn address_details(&self, address: AddressId) -> Result<AddressDetails> {
        let found = self
            .address_details_collection()
            .find_one(doc! {"_id": ObjectId::from(address)})
            .await
            .map_err(db_error)?;
        match found.as_ref().and_then(|doc| text_field(doc, "details")) {
            Some(text) => from_json_text(text),
            None => Ok(AddressDetails::default()),
        }
    }

    async fn set_address_details(&self, address: AddressId, details: AddressDetails) -> Result<()> {
        let exists = self
            .addresses
            .find_one(doc! {"_id": ObjectId::from(address)})
            .await
            .map_err(db_error)?;
        if exists.is_none() {
            return Err(AddressError::NotFound.into());
        }
        self.address_details_collection()
            .update_one(
                doc! {"_id": ObjectId::from(address)},
                doc! {"$set": {"details": json_text(&details)?}},
            )
            .with_options(upsert())
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn create_forwarded(&self, forwarded: ForwardedAddress) -> Result<()> {
        if self.address_by_view(&forwarded.addrview).await?.is_some() {
            return Err(AddressError::AlreadyExists.into());
        }
        let record = doc! {
            "_id": ObjectId::from(forwarded.id),
            "addrview": &forwarded.addrview,
            "record": json_text(&forwarded)?,
        };
        match self.forwarded().insert_one(record).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => Err(AddressError::AlreadyExists.into()),
            Err(e) => Err(db_error(e)),
        }
    }

    async fn forwarded_by_id(&self, id: AddressId) -> Result<Option<ForwardedAddress>> {
        self.forwarded_where(doc! {"_id": ObjectId::from(id)}).await
    }

    async fn forwarded_by_view(&self, addrview: &str) -> Result<Option<ForwardedAddress>> {
        self.forwarded_where(doc! {"addrview": addrview}).await
    }

    async fn list_forwarded(&self) -> Result<Vec<ForwardedAddress>> {
        let docs: Vec<Document> = self
            .forwarded()
            .find(doc! {})
            .sort(doc! {"_id": 1})
            .all()
            .await?;
        docs.iter()
            .filter_map(|doc| text_field(doc, "record"))
            .map(from_json_text)
            .collect()
    }

    async fn update_forwarded(&self, forwarded: ForwardedAddress) -> Result<()> {
        if self.address_by_view(&forwarded.addrview).await?.is_some() {
            return Err(AddressError::AlreadyExists.into());
        }
        let result = self
            .forwarded()
            .update_one(
                doc! {"_id": ObjectId::from(forwarded.id)},
                doc! {"$set": {
                    "addrview": &forwarded.addrview,
                    "record": json_text(&forwarded)?,
                }},
            )
            .await;
        match result {
            Ok(result) if result.matched_count == 0 => Err(AddressError::NotFound.into()),
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => Err(AddressError::AlreadyExists.into()),
            Err(e) => Err(db_error(e)),
        }
    }

    async fn delete_forwarded(&self, id: AddressId) -> Result<()> {
        let removed = self
            .forwarded()
            .delete_one(doc! {"_id": ObjectId::from(id)})
            .await
            .map_err(db_error)?;
        if removed.deleted_count == 0 {
            return Err(AddressError::NotFound.into());
        }
        Ok(())
    }

    /// Summed from the message documents' sizes (read, not aggregated: nx-27017 miscounts
    /// filtered aggregations), then set. Without a transaction, a message stored between the
    /// read and the `$set` is left out of the count until the next recount or `verify`.
    async fn recount_storage(&self, user: UserId) -> Result<(u64, u64)> {
        let previous = self.user_doc(user).await?.storage_used.max(0) as u64;
        let sizes: Vec<Document> = self
            .raw_messages()
            .find(doc! {"user": id_is(user)})
            .projection(doc! {"size": 1})
            .all()
            .await?;
        let counted: i64 = sizes
            .iter()
            .filter_map(|doc| doc.get("size").and_then(bson_int))
            .sum();
        self.users
            .update_one(
                doc! {"_id": ObjectId::from(user)},
                doc! {"$set": {"storage_used": counted}},
            )
            .await
            .map_err(db_error)?;
        Ok((previous, counted.max(0) as u64))
    }
}
