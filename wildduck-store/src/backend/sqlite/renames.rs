//! A domain rename's writes on SQLite (see [`Renames`]), each one transaction.

use super::*;

#[async_trait]
impl Renames for SqliteBackend {
    async fn rename_address(&self, renamed: Address) -> Result<()> {
        self.write(move |tx| {
            let id = id_bytes(renamed.id.0);
            let taken = tx
                .query_row(
                    "SELECT 1 FROM addresses WHERE addrview = ?1 AND id != ?2
                     UNION ALL SELECT 1 FROM forwarded_addresses WHERE addrview = ?1",
                    params![renamed.addrview, id],
                    |_| Ok(()),
                )
                .optional()?;
            if taken.is_some() {
                return Err(AddressError::AlreadyExists.into());
            }
            let changed = tx.execute(
                "UPDATE addresses SET address = ?2, addrview = ?3 WHERE id = ?1",
                params![id, renamed.address, renamed.addrview],
            )?;
            if changed == 0 {
                return Err(AddressError::NotFound.into());
            }
            Ok(())
        })
        .await
    }

    async fn rekey_entry(&self, kind: RegistryKind, id: RecordId, key: String) -> Result<bool> {
        self.write(move |tx| {
            let taken = tx
                .query_row(
                    "SELECT 1 FROM registry WHERE kind = ?1 AND key = ?2 AND id != ?3",
                    params![kind.name(), key, id_bytes(id)],
                    |_| Ok(()),
                )
                .optional()?;
            if taken.is_some() {
                return Ok(false);
            }
            let changed = tx.execute(
                "UPDATE registry SET key = ?3 WHERE kind = ?1 AND id = ?2",
                params![kind.name(), id_bytes(id), key],
            )?;
            Ok(changed == 1)
        })
        .await
    }
}
