//! Operator records on SQLite (see [`Registry`]): the `registry` table, unique by
//! (kind, key).

use super::*;
use crate::events::RecordChange;

fn entry_from_row(row: &Row) -> rusqlite::Result<RegistryEntry> {
    Ok(RegistryEntry {
        id: record_id(row, 0)?,
        key: row.get(1)?,
        body: row.get(2)?,
    })
}

fn log_record_change(
    tx: &Connection,
    kind: RegistryKind,
    entry: &RegistryEntry,
    change: RecordChange,
) -> TxResult<()> {
    match crate::events::record_changed(kind, entry, change) {
        Some(event) => log_event(tx, &event),
        None => Ok(()),
    }
}

#[async_trait]
impl Registry for SqliteBackend {
    async fn insert_entry(&self, kind: RegistryKind, entry: RegistryEntry) -> Result<bool> {
        self.write(move |tx| {
            let inserted = tx.execute(
                "INSERT INTO registry (id, kind, key, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (kind, key) DO NOTHING",
                params![id_bytes(entry.id), kind.name(), entry.key, entry.body],
            )?;
            if inserted == 1 {
                log_record_change(tx, kind, &entry, RecordChange::Created)?;
            }
            Ok(inserted == 1)
        })
        .await
    }

    async fn upsert_entry(
        &self,
        kind: RegistryKind,
        entry: RegistryEntry,
    ) -> Result<(RecordId, bool)> {
        self.write(move |tx| {
            let stored: RecordId = tx.query_row(
                "INSERT INTO registry (id, kind, key, body) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body
                 RETURNING id",
                params![id_bytes(entry.id), kind.name(), entry.key, entry.body],
                |row| record_id(row, 0),
            )?;
            let new = stored == entry.id;
            let change = if new {
                RecordChange::Created
            } else {
                RecordChange::Updated
            };
            let stored_entry = RegistryEntry {
                id: stored,
                ..entry
            };
            log_record_change(tx, kind, &stored_entry, change)?;
            Ok((stored, new))
        })
        .await
    }

    async fn entry_by_key(&self, kind: RegistryKind, key: &str) -> Result<Option<RegistryEntry>> {
        let key = key.to_string();
        self.read_small(move |tx| {
            Ok(tx
                .prepare_cached("SELECT id, key, body FROM registry WHERE kind = ?1 AND key = ?2")?
                .query_row(params![kind.name(), key], entry_from_row)
                .optional()?)
        })
        .await
    }

    async fn entry_by_id(&self, kind: RegistryKind, id: RecordId) -> Result<Option<RegistryEntry>> {
        self.read_small(move |tx| {
            Ok(tx
                .prepare_cached("SELECT id, key, body FROM registry WHERE kind = ?1 AND id = ?2")?
                .query_row(params![kind.name(), id_bytes(id)], entry_from_row)
                .optional()?)
        })
        .await
    }

    async fn list_entries(&self, kind: RegistryKind) -> Result<Vec<RegistryEntry>> {
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id, key, body FROM registry WHERE kind = ?1 ORDER BY key",
            )?;
            let entries = stmt
                .query_map([kind.name()], entry_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(entries)
        })
        .await
    }

    async fn delete_entry(&self, kind: RegistryKind, id: RecordId) -> Result<bool> {
        self.write(move |tx| {
            let removed = tx
                .query_row(
                    "DELETE FROM registry WHERE kind = ?1 AND id = ?2 RETURNING id, key, body",
                    params![kind.name(), id_bytes(id)],
                    entry_from_row,
                )
                .optional()?;
            if let Some(entry) = &removed {
                log_record_change(tx, kind, entry, RecordChange::Deleted)?;
            }
            Ok(removed.is_some())
        })
        .await
    }
}
