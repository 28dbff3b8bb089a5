//! The outbound queue on SQLite: one row per entry, its state as JSON beside the relayed
//! bytes, leased by `claimed_until` and a lease token. Every function runs inside one write
//! job (a savepoint of the writer's transaction), so a claim, and an attempt's result with
//! its notice, are each one unit.

use super::*;
use crate::outbound::{ClaimScope, OutboundEntry};

/// Inserts `entries`, their state as JSON and their bodies apart.
pub(super) fn insert_entries(tx: &Connection, entries: &[OutboundEntry]) -> TxResult<()> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO outbound (id, next_attempt, claimed_until, lease, entry, raw)
         VALUES (?1, ?2, 0, NULL, ?3, ?4)",
    )?;
    for entry in entries {
        insert.execute(params![
            id_bytes(entry.id.0),
            entry.next_attempt,
            to_json(entry)?,
            entry.raw
        ])?;
    }
    Ok(())
}

/// Leases up to `limit` due entries in `scope` to `lease` until `until` and returns them.
/// An entry's own hop is `next_hop` in its state (absent for the smarthost).
pub(super) fn claim(
    tx: &Connection,
    now: Timestamp,
    until: Timestamp,
    lease: RecordId,
    limit: usize,
    scope: ClaimScope,
) -> TxResult<Vec<OutboundEntry>> {
    let own_hop_only = scope == ClaimScope::OwnHopOnly;
    let due: Vec<Vec<u8>> = tx
        .prepare_cached(
            "SELECT id FROM outbound WHERE next_attempt <= ?1 AND claimed_until <= ?1
             AND (NOT ?3 OR json_extract(entry, '$.next_hop') IS NOT NULL)
             ORDER BY next_attempt, id LIMIT ?2",
        )?
        .query_map(params![now, limit as i64, own_hop_only], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut take =
        tx.prepare_cached("UPDATE outbound SET claimed_until = ?1, lease = ?2 WHERE id = ?3")?;
    let mut read = tx.prepare_cached("SELECT entry, raw FROM outbound WHERE id = ?1")?;
    let mut claimed = Vec::with_capacity(due.len());
    for id in due {
        take.execute(params![until, id_bytes(lease), id])?;
        let (json, raw): (String, Vec<u8>) =
            read.query_row([&id], |row| Ok((row.get(0)?, row.get(1)?)))?;
        let mut entry: OutboundEntry = from_json(&json)?;
        entry.raw = raw;
        claimed.push(entry);
    }
    Ok(claimed)
}

/// Replaces (lease released) or removes entry `id` if `lease` holds it; `false` otherwise.
pub(super) fn finish(
    tx: &Connection,
    id: OutboundId,
    lease: RecordId,
    next: Option<&OutboundEntry>,
) -> TxResult<bool> {
    let changed = match next {
        Some(entry) => tx
            .prepare_cached(
                "UPDATE outbound SET next_attempt = ?3, claimed_until = 0, lease = NULL,
                 entry = ?4 WHERE id = ?1 AND lease = ?2",
            )?
            .execute(params![
                id_bytes(id.0),
                id_bytes(lease),
                entry.next_attempt,
                to_json(entry)?
            ])?,
        None => tx
            .prepare_cached("DELETE FROM outbound WHERE id = ?1 AND lease = ?2")?
            .execute(params![id_bytes(id.0), id_bytes(lease)])?,
    };
    Ok(changed == 1)
}

/// Every entry, oldest first.
pub(super) fn list(tx: &Connection) -> TxResult<Vec<OutboundEntry>> {
    let mut rows = tx.prepare_cached("SELECT entry, raw FROM outbound ORDER BY id")?;
    let rows = rows
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(json, raw)| {
            let mut entry: OutboundEntry = from_json(&json)?;
            entry.raw = raw;
            Ok(entry)
        })
        .collect()
}

#[async_trait]
impl QueueAdmin for SqliteBackend {
    async fn get_outbound(&self, id: OutboundId) -> Result<Option<OutboundEntry>> {
        self.read(move |tx| {
            let row = tx
                .prepare_cached("SELECT entry, raw FROM outbound WHERE id = ?1")?
                .query_row([id_bytes(id.0)], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?))
                })
                .optional()?;
            row.map(|(json, raw)| {
                let mut entry: OutboundEntry = from_json(&json)?;
                entry.raw = raw;
                Ok(entry)
            })
            .transpose()
        })
        .await
    }

    async fn reschedule_outbound(&self, id: OutboundId, at: Timestamp) -> Result<bool> {
        self.write(move |tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE outbound SET next_attempt = ?2,
                     entry = json_set(entry, '$.next_attempt', ?2) WHERE id = ?1",
                )?
                .execute(params![id_bytes(id.0), at])?;
            Ok(changed == 1)
        })
        .await
    }

    async fn delete_outbound(&self, id: OutboundId) -> Result<bool> {
        self.write(move |tx| {
            let changed = tx
                .prepare_cached("DELETE FROM outbound WHERE id = ?1")?
                .execute([id_bytes(id.0)])?;
            Ok(changed == 1)
        })
        .await
    }
}

#[async_trait]
impl OutboundQueue for SqliteBackend {
    async fn enqueue(
        &self,
        sent: Option<(MailboxId, NewMessage)>,
        entries: Vec<OutboundEntry>,
    ) -> Result<(Option<AppendOutcome>, Vec<Wake>)> {
        self.write(move |tx| {
            let stored = sent
                .map(|(mailbox, message)| append_message(tx, mailbox, &message))
                .transpose()?;
            outbound::insert_entries(tx, &entries)?;
            Ok(match stored {
                Some((outcome, wake)) => (Some(outcome), vec![wake]),
                None => (None, Vec::new()),
            })
        })
        .await
    }

    async fn claim_outbound(
        &self,
        now: Timestamp,
        until: Timestamp,
        lease: RecordId,
        limit: usize,
        scope: ClaimScope,
    ) -> Result<Vec<OutboundEntry>> {
        self.write(move |tx| outbound::claim(tx, now, until, lease, limit, scope))
            .await
    }

    async fn finish_outbound(
        &self,
        id: OutboundId,
        lease: RecordId,
        next: Option<OutboundEntry>,
        dsn: Option<(MailboxId, NewMessage)>,
    ) -> Result<(bool, Vec<Wake>)> {
        self.write(move |tx| {
            if !outbound::finish(tx, id, lease, next.as_ref())? {
                return Ok((false, Vec::new()));
            }
            let wakes = match dsn {
                Some((mailbox, message)) => vec![append_message(tx, mailbox, &message)?.1],
                None => Vec::new(),
            };
            Ok((true, wakes))
        })
        .await
    }

    async fn list_outbound(&self) -> Result<Vec<OutboundEntry>> {
        self.read(outbound::list).await
    }

    async fn count_outbound(&self) -> Result<u64> {
        self.read(|tx| {
            let entries: i64 = tx
                .prepare_cached("SELECT count(*) FROM outbound")?
                .query_row([], |row| row.get(0))?;
            Ok(entries as u64)
        })
        .await
    }
}
