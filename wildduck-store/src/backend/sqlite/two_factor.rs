//! TOTP state on SQLite (see [`TwoFactor`]): the `totp` table, one row per user. Each change
//! is one statement whose `WHERE` holds the rule, so concurrent writers can not both win.

use super::*;

#[async_trait]
impl TwoFactor for SqliteBackend {
    async fn totp(&self, user: UserId) -> Result<Option<TotpRecord>> {
        self.read_small(move |tx| {
            Ok(tx
                .prepare_cached("SELECT sealed_seed, enabled, last_step FROM totp WHERE user = ?1")?
                .query_row([id_bytes(user.0)], |r| {
                    Ok(TotpRecord {
                        sealed_seed: r.get(0)?,
                        enabled: r.get(1)?,
                        last_step: r.get(2)?,
                    })
                })
                .optional()?)
        })
        .await
    }

    async fn set_pending_totp(&self, user: UserId, sealed_seed: Vec<u8>) -> Result<bool> {
        self.write(move |tx| {
            get_user(tx, user)?;
            let changed = tx.execute(
                "INSERT INTO totp (user, sealed_seed, enabled, last_step) VALUES (?1, ?2, 0, NULL)
                 ON CONFLICT (user) DO UPDATE SET sealed_seed = excluded.sealed_seed,
                     last_step = NULL
                 WHERE totp.enabled = 0",
                params![id_bytes(user.0), sealed_seed],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn enable_totp(&self, user: UserId, step: i64) -> Result<bool> {
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE totp SET enabled = 1, last_step = ?2 WHERE user = ?1 AND enabled = 0",
                params![id_bytes(user.0), step],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool> {
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE totp SET last_step = ?2
                 WHERE user = ?1 AND enabled = 1 AND (last_step IS NULL OR last_step < ?2)",
                params![id_bytes(user.0), step],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn delete_totp(&self, user: UserId) -> Result<bool> {
        self.write(move |tx| {
            let changed = tx.execute("DELETE FROM totp WHERE user = ?1", [id_bytes(user.0)])?;
            Ok(changed == 1)
        })
        .await
    }
}
