//! The auth log on SQLite (see [`AuthLog`]): the `authlog` table, each event whole as JSON
//! beside the columns it is found by (user, id) and swept by (expires).

use super::*;
use crate::authlog::AuthEvent;

#[async_trait]
impl AuthLog for SqliteBackend {
    async fn add_auth_event(&self, event: AuthEvent) -> Result<()> {
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO authlog (id, user, expires, event) VALUES (?1, ?2, ?3, ?4)",
                params![
                    id_bytes(event.id),
                    event.user.map(|user| id_bytes(user.0)),
                    event.expires,
                    to_json(&event)?
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn auth_events(&self, user: UserId) -> Result<Vec<AuthEvent>> {
        self.read(move |tx| {
            let texts = tx
                .prepare_cached("SELECT event FROM authlog WHERE user = ?1")?
                .query_map([id_bytes(user.0)], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            texts.iter().map(|text| from_json(text)).collect()
        })
        .await
    }

    async fn auth_event(&self, user: UserId, id: RecordId) -> Result<Option<AuthEvent>> {
        self.read_small(move |tx| {
            let text: Option<String> = tx
                .prepare_cached("SELECT event FROM authlog WHERE id = ?1 AND user = ?2")?
                .query_row(params![id_bytes(id), id_bytes(user.0)], |r| r.get(0))
                .optional()?;
            text.as_deref().map(from_json).transpose()
        })
        .await
    }

    async fn drop_auth_events(&self, at: Timestamp) -> Result<u64> {
        self.write(
            move |tx| Ok(tx.execute("DELETE FROM authlog WHERE expires <= ?1", [at])? as u64),
        )
        .await
    }
}
