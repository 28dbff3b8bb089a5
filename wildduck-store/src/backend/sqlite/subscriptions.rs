//! Subscriptions that outlived their mailbox on SQLite (see [`Subscriptions`]): the
//! `dangling_subscriptions` table, keyed by (user, path).

use super::*;

#[async_trait]
impl Subscriptions for SqliteBackend {
    async fn dangling_subscriptions(&self, user: UserId) -> Result<Vec<String>> {
        self.read_small(move |tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT path FROM dangling_subscriptions WHERE user = ?1 ORDER BY path",
            )?;
            let paths = stmt
                .query_map([id_bytes(user.0)], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(paths)
        })
        .await
    }

    async fn set_dangling_subscription(
        &self,
        user: UserId,
        path: &str,
        subscribed: bool,
    ) -> Result<bool> {
        let path = path.to_string();
        self.write(move |tx| {
            let key = params![id_bytes(user.0), path];
            let existed = tx
                .query_row(
                    "SELECT 1 FROM dangling_subscriptions WHERE user = ?1 AND path = ?2",
                    key,
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if subscribed && !existed {
                get_user(tx, user)?;
                tx.execute(
                    "INSERT INTO dangling_subscriptions (user, path) VALUES (?1, ?2)",
                    key,
                )?;
            } else if !subscribed && existed {
                tx.execute(
                    "DELETE FROM dangling_subscriptions WHERE user = ?1 AND path = ?2",
                    key,
                )?;
            }
            Ok(existed)
        })
        .await
    }
}
