//! Delivery rules on SQLite (see [`DeliveryRules`]): the `filters` and `autoreplies` tables
//! (each record as JSON beside the keys it is found by) and `autoreplies_sent`, one row per
//! user and sender with the time of the last reply. Filters are listed in insertion order
//! (`rowid`): ids made by different processes in one second do not sort by creation.

use super::*;

fn filters_from(rows: Vec<String>) -> TxResult<Vec<Filter>> {
    rows.iter().map(|json| from_json(json)).collect()
}

/// The user's filters, autoreply and reply record go with the user.
pub(super) fn delete_user_rules(tx: &Connection, user: UserId) -> TxResult<()> {
    for table in ["filters", "autoreplies", "autoreplies_sent"] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE user = ?1"),
            [id_bytes(user.0)],
        )?;
    }
    Ok(())
}

#[async_trait]
impl DeliveryRules for SqliteBackend {
    async fn create_filter(&self, filter: Filter, limit: usize) -> Result<()> {
        self.write(move |tx| {
            get_user(tx, filter.user)?;
            let count: i64 = tx.query_row(
                "SELECT count(*) FROM filters WHERE user = ?1",
                [id_bytes(filter.user.0)],
                |r| r.get(0),
            )?;
            if count as usize >= limit {
                return Err(RuleError::TooManyFilters { allowed: limit }.into());
            }
            tx.execute(
                "INSERT INTO filters (id, user, filter) VALUES (?1, ?2, ?3)",
                params![
                    id_bytes(filter.id.0),
                    id_bytes(filter.user.0),
                    to_json(&filter)?
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn list_filters(&self, user: Option<UserId>) -> Result<Vec<Filter>> {
        self.read_small(move |tx| {
            let rows = match user {
                Some(user) => tx
                    .prepare_cached("SELECT filter FROM filters WHERE user = ?1 ORDER BY rowid")?
                    .query_map([id_bytes(user.0)], |row| row.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?,
                None => tx
                    .prepare_cached("SELECT filter FROM filters ORDER BY rowid")?
                    .query_map([], |row| row.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?,
            };
            filters_from(rows)
        })
        .await
    }

    async fn replace_filter(&self, filter: Filter) -> Result<()> {
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE filters SET filter = ?3 WHERE id = ?1 AND user = ?2",
                params![
                    id_bytes(filter.id.0),
                    id_bytes(filter.user.0),
                    to_json(&filter)?
                ],
            )?;
            if changed == 0 {
                return Err(RuleError::FilterNotFound.into());
            }
            Ok(())
        })
        .await
    }

    async fn delete_filter(&self, user: UserId, filter: FilterId) -> Result<()> {
        self.write(move |tx| {
            let removed = tx.execute(
                "DELETE FROM filters WHERE id = ?1 AND user = ?2",
                params![id_bytes(filter.0), id_bytes(user.0)],
            )?;
            if removed == 0 {
                return Err(RuleError::FilterNotFound.into());
            }
            Ok(())
        })
        .await
    }

    async fn autoreply(&self, user: UserId) -> Result<Option<Autoreply>> {
        self.read_small(move |tx| {
            let json: Option<String> = tx
                .prepare_cached("SELECT autoreply FROM autoreplies WHERE user = ?1")?
                .query_row([id_bytes(user.0)], |row| row.get(0))
                .optional()?;
            json.map(|json| from_json(&json)).transpose()
        })
        .await
    }

    async fn set_autoreply(&self, autoreply: Autoreply) -> Result<()> {
        self.write(move |tx| {
            get_user(tx, autoreply.user)?;
            tx.execute(
                "INSERT INTO autoreplies (user, autoreply) VALUES (?1, ?2)
                 ON CONFLICT (user) DO UPDATE SET autoreply = excluded.autoreply",
                params![id_bytes(autoreply.user.0), to_json(&autoreply)?],
            )?;
            Ok(())
        })
        .await
    }

    async fn delete_autoreply(&self, user: UserId) -> Result<()> {
        self.write(move |tx| {
            for table in ["autoreplies", "autoreplies_sent"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE user = ?1"),
                    [id_bytes(user.0)],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn claim_autoreply(
        &self,
        user: UserId,
        sender: &str,
        now: Timestamp,
        since: Timestamp,
    ) -> Result<bool> {
        let sender = sender.to_string();
        self.write(move |tx| {
            // Inserted, or moved forward when the last reply is older than `since`; a row
            // left as it was means the sender was answered within the interval.
            let changed = tx.execute(
                "INSERT INTO autoreplies_sent (user, sender, sent) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user, sender) DO UPDATE SET sent = excluded.sent
                 WHERE autoreplies_sent.sent < ?4",
                params![id_bytes(user.0), sender, now, since],
            )?;
            Ok(changed == 1)
        })
        .await
    }
}
