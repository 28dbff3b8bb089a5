//! The address register on SQLite (see [`AddressRegister`]): the `address_register` table,
//! one row per (user, addrview), removed with its user by trigger.

use super::*;
use crate::addressregister::RegisteredAddress;

fn entry_from_row(row: &Row) -> rusqlite::Result<RegisteredAddress> {
    Ok(RegisteredAddress {
        id: record_id(row, 0)?,
        address: row.get(1)?,
        name: row.get(2)?,
        disabled: row.get(3)?,
        updated: row.get(4)?,
    })
}

#[async_trait]
impl AddressRegister for SqliteBackend {
    async fn register_addresses(
        &self,
        user: UserId,
        entries: Vec<(String, RegisteredAddress)>,
    ) -> Result<()> {
        self.write(move |tx| {
            get_user(tx, user)?;
            let mut upsert = tx.prepare_cached(
                "INSERT INTO address_register (id, user, addrview, address, name, disabled, updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)
                 ON CONFLICT (user, addrview) DO UPDATE
                 SET name = coalesce(excluded.name, name), updated = excluded.updated
                 WHERE disabled = 0",
            )?;
            for (addrview, entry) in &entries {
                upsert.execute(params![
                    id_bytes(entry.id),
                    id_bytes(user.0),
                    addrview,
                    entry.address,
                    entry.name,
                    entry.updated
                ])?;
            }
            Ok(())
        })
        .await
    }

    async fn registered_addresses(&self, user: UserId) -> Result<Vec<RegisteredAddress>> {
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id, address, name, disabled, updated FROM address_register
                 WHERE user = ?1",
            )?;
            let entries = stmt
                .query_map([id_bytes(user.0)], entry_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(entries)
        })
        .await
    }

    async fn update_registered_address(
        &self,
        user: UserId,
        id: RecordId,
        disabled: Option<bool>,
        name: Option<String>,
    ) -> Result<bool> {
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE address_register
                 SET disabled = coalesce(?3, disabled), name = coalesce(?4, name)
                 WHERE id = ?1 AND user = ?2",
                params![id_bytes(id), id_bytes(user.0), disabled, name],
            )?;
            Ok(changed > 0)
        })
        .await
    }
}
