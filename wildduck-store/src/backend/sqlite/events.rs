//! The event log on SQLite (see [`EventLog`]): the `events` table, appended to inside the
//! transaction of the change (`log_event`), and `event_deliveries`, leased like the
//! outbound queue and kept once settled until their event is trimmed.

use super::*;

/// Appends `event` inside the caller's transaction.
pub(super) fn log_event(tx: &Connection, event: &Event) -> TxResult<()> {
    tx.prepare_cached(
        "INSERT INTO events (id, kind, user, created, data) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        id_bytes(event.id),
        event.kind,
        event.user.map(|user| id_bytes(user.0)),
        event.created,
        event.data,
    ])?;
    Ok(())
}

const EVENT_COLUMNS: &str = "id, kind, user, created, data";

fn event_from_row(row: &Row) -> rusqlite::Result<Event> {
    let user = match row.get_ref(2)? {
        rusqlite::types::ValueRef::Null => None,
        _ => Some(UserId(record_id(row, 2)?)),
    };
    Ok(Event {
        id: record_id(row, 0)?,
        kind: row.get(1)?,
        user,
        created: row.get(3)?,
        data: row.get(4)?,
    })
}

#[async_trait]
impl EventLog for SqliteBackend {
    async fn pending_events(&self, limit: usize) -> Result<Vec<Event>> {
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE pending = 1 ORDER BY seq LIMIT ?1"
            ))?;
            let events = stmt
                .query_map([limit as i64], event_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(events)
        })
        .await
    }

    async fn hand_out_event(
        &self,
        event: RecordId,
        webhooks: Vec<RecordId>,
        due: Timestamp,
    ) -> Result<()> {
        self.write(move |tx| {
            let pending = tx.execute(
                "UPDATE events SET pending = 0 WHERE id = ?1 AND pending = 1",
                [id_bytes(event)],
            )?;
            // Another worker handed it out first: its deliveries stand.
            if pending == 0 {
                return Ok(());
            }
            let mut insert = tx.prepare_cached(
                "INSERT INTO event_deliveries (event, webhook, next_attempt) VALUES (?1, ?2, ?3)
                 ON CONFLICT (event, webhook) DO NOTHING",
            )?;
            for webhook in webhooks {
                insert.execute(params![id_bytes(event), id_bytes(webhook), due])?;
            }
            Ok(())
        })
        .await
    }

    async fn claim_event_deliveries(
        &self,
        now: Timestamp,
        until: Timestamp,
        lease: RecordId,
        limit: usize,
    ) -> Result<Vec<EventDelivery>> {
        self.write(move |tx| {
            let claimed = tx
                .prepare_cached(
                    "UPDATE event_deliveries SET lease = ?1, lease_until = ?2
                     WHERE rowid IN (
                         SELECT rowid FROM event_deliveries
                         WHERE next_attempt <= ?3 AND lease_until <= ?3
                         ORDER BY next_attempt LIMIT ?4)
                     RETURNING event, webhook, attempts",
                )?
                .query_map(params![id_bytes(lease), until, now, limit as i64], |row| {
                    Ok((
                        record_id(row, 0)?,
                        record_id(row, 1)?,
                        row.get::<_, u32>(2)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut deliveries = Vec::with_capacity(claimed.len());
            for (event, webhook, attempts) in claimed {
                let found = tx
                    .prepare_cached(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = ?1"))?
                    .query_row([id_bytes(event)], event_from_row)
                    .optional()?;
                match found {
                    Some(event) => deliveries.push(EventDelivery {
                        event,
                        webhook,
                        attempts,
                        lease,
                    }),
                    None => {
                        tx.execute(
                            "DELETE FROM event_deliveries WHERE event = ?1 AND webhook = ?2",
                            params![id_bytes(event), id_bytes(webhook)],
                        )?;
                    }
                }
            }
            Ok(deliveries)
        })
        .await
    }

    async fn finish_event_delivery(
        &self,
        delivery: &EventDelivery,
        retry_at: Option<Timestamp>,
    ) -> Result<bool> {
        let (event, webhook, lease) = (delivery.event.id, delivery.webhook, delivery.lease);
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE event_deliveries
                 SET attempts = attempts + 1, next_attempt = ?4, lease = NULL, lease_until = 0
                 WHERE event = ?1 AND webhook = ?2 AND lease = ?3",
                params![
                    id_bytes(event),
                    id_bytes(webhook),
                    id_bytes(lease),
                    retry_at.unwrap_or(SETTLED)
                ],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn trim_events(&self, before: Timestamp) -> Result<u64> {
        self.write(move |tx| {
            let removed = tx.execute(
                "DELETE FROM events WHERE pending = 0 AND created < ?1",
                [before],
            )?;
            Ok(removed as u64)
        })
        .await
    }
}
