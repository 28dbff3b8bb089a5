//! A domain rename's writes on MongoDB (see [`Renames`]): each a single-document update,
//! the unique indexes (`addresses.addrview`, `registry (kind, key)`) refusing a clash.

use super::*;

#[async_trait]
impl Renames for MongoBackend {
    async fn rename_address(&self, renamed: Address) -> Result<()> {
        if self.forwarded_view_taken(&renamed.addrview).await? {
            return Err(AddressError::AlreadyExists.into());
        }
        let result = self
            .addresses
            .update_one(
                doc! {"_id": ObjectId::from(renamed.id)},
                doc! {"$set": {"address": &renamed.address, "addrview": &renamed.addrview}},
            )
            .await;
        match result {
            Ok(result) if result.matched_count == 0 => Err(AddressError::NotFound.into()),
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => Err(AddressError::AlreadyExists.into()),
            Err(e) => Err(db_error(e)),
        }
    }

    async fn rekey_entry(&self, kind: RegistryKind, id: RecordId, key: String) -> Result<bool> {
        let result = self
            .registry
            .update_one(
                doc! {"_id": ObjectId::from_bytes(id.bytes()), "kind": kind.name()},
                doc! {"$set": {"key": key}},
            )
            .await;
        match result {
            Ok(result) => Ok(result.matched_count == 1),
            Err(e) if is_duplicate_key(&e) => Ok(false),
            Err(e) => Err(db_error(e)),
        }
    }
}
