//! The API's user access tokens on SQLite (see [`AccessTokens`]): the `access_tokens` table,
//! keyed by the token's digest. A use is one `UPDATE … RETURNING`, so checking a token and
//! pushing its expiry out are one step.

use super::*;

#[async_trait]
impl AccessTokens for SqliteBackend {
    async fn insert_access_token(
        &self,
        digest: String,
        user: UserId,
        ttl: u64,
        now: Timestamp,
    ) -> Result<()> {
        let ttl = i64::try_from(ttl).unwrap_or(i64::MAX);
        self.write(move |tx| {
            get_user(tx, user)?;
            tx.execute("DELETE FROM access_tokens WHERE expires <= ?1", [now])?;
            tx.execute(
                "INSERT INTO access_tokens (digest, user, ttl, expires) VALUES (?1, ?2, ?3, ?4)",
                params![digest, id_bytes(user.0), ttl, now.saturating_add(ttl)],
            )?;
            Ok(())
        })
        .await
    }

    async fn use_access_token(&self, digest: String, now: Timestamp) -> Result<Option<UserId>> {
        self.write(move |tx| {
            Ok(tx
                .prepare_cached(
                    "UPDATE access_tokens SET expires = ?2 + ttl
                     WHERE digest = ?1 AND expires > ?2 RETURNING user",
                )?
                .query_row(params![digest, now], |r| Ok(UserId(record_id(r, 0)?)))
                .optional()?)
        })
        .await
    }

    async fn delete_access_token(&self, digest: String) -> Result<()> {
        self.write(move |tx| {
            tx.execute("DELETE FROM access_tokens WHERE digest = ?1", [digest])?;
            Ok(())
        })
        .await
    }

    async fn delete_user_access_tokens(&self, user: UserId, keep: Option<String>) -> Result<()> {
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM access_tokens WHERE user = ?1 AND digest IS NOT ?2",
                params![id_bytes(user.0), keep],
            )?;
            Ok(())
        })
        .await
    }
}
