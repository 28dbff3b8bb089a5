//! Application-specific passwords on SQLite (see [`AppPasswords`]): the `asps` table,
//! indexed by (user, selector).

use super::*;

const ASP_COLUMNS: &str = "id, user, description, scopes, ttl, expires, created, used, \
     used_scope, used_ip, selector, password";

fn asp_from_row(row: &Row) -> rusqlite::Result<AspRecord> {
    let scopes = |idx: usize, text: String| {
        scopes_from_text(&text).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, e.into())
        })
    };
    let used: Option<Timestamp> = row.get(7)?;
    let used_scope: Option<String> = row.get(8)?;
    let last_use = match (used, used_scope) {
        (Some(time), Some(scope)) => Some(AspUse {
            time,
            scope: scopes(8, scope)?.first().copied().ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(
                    8,
                    rusqlite::types::Type::Text,
                    "empty scope of last use".into(),
                )
            })?,
            ip: row.get(9)?,
        }),
        _ => None,
    };
    Ok(AspRecord {
        asp: Asp {
            id: AspId(record_id(row, 0)?),
            user: UserId(record_id(row, 1)?),
            description: row.get(2)?,
            scopes: scopes(3, row.get(3)?)?,
            ttl: row.get::<_, Option<i64>>(4)?.map(|ttl| ttl as u64),
            expires: row.get(5)?,
            created: row.get(6)?,
            last_use,
        },
        selector: row.get(10)?,
        password_hash: row.get(11)?,
    })
}

#[async_trait]
impl AppPasswords for SqliteBackend {
    async fn create_asp(&self, record: AspRecord, limit: usize) -> Result<()> {
        self.write(move |tx| {
            let asp = &record.asp;
            get_user(tx, asp.user)?;
            let count: i64 = tx.query_row(
                "SELECT count(*) FROM asps WHERE user = ?1",
                [id_bytes(asp.user.0)],
                |r| r.get(0),
            )?;
            if count as usize >= limit {
                return Err(AspError::TooMany { allowed: limit }.into());
            }
            tx.execute(
                &format!(
                    "INSERT INTO asps ({ASP_COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, NULL, NULL, ?8, ?9)"
                ),
                params![
                    id_bytes(asp.id.0),
                    id_bytes(asp.user.0),
                    asp.description,
                    scopes_to_text(&asp.scopes),
                    asp.ttl.map(|ttl| ttl.min(i64::MAX as u64) as i64),
                    asp.expires,
                    asp.created,
                    record.selector,
                    record.password_hash
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn list_asps(&self, user: UserId) -> Result<Vec<Asp>> {
        self.read_small(move |tx| {
            get_user(tx, user)?;
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {ASP_COLUMNS} FROM asps WHERE user = ?1 ORDER BY id"
            ))?;
            let list = stmt
                .query_map([id_bytes(user.0)], asp_from_row)?
                .map(|r| r.map(|record| record.asp))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(list)
        })
        .await
    }

    async fn asps_by_selector(&self, user: UserId, selector: &str) -> Result<Vec<AspRecord>> {
        let selector = selector.to_string();
        self.read_small(move |tx| {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {ASP_COLUMNS} FROM asps WHERE user = ?1 AND selector = ?2 ORDER BY id"
            ))?;
            let list = stmt
                .query_map(params![id_bytes(user.0), selector], asp_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(list)
        })
        .await
    }

    async fn delete_asp(&self, user: UserId, asp: AspId) -> Result<()> {
        self.write(move |tx| {
            let removed = tx.execute(
                "DELETE FROM asps WHERE id = ?1 AND user = ?2",
                params![id_bytes(asp.0), id_bytes(user.0)],
            )?;
            if removed == 0 {
                return Err(AspError::NotFound.into());
            }
            Ok(())
        })
        .await
    }

    async fn record_asp_use(
        &self,
        asp: AspId,
        used: AspUse,
        expires: Option<Timestamp>,
    ) -> Result<()> {
        self.write(move |tx| {
            // A use of an ASP deleted meanwhile changes nothing.
            tx.execute(
                "UPDATE asps SET used = ?2, used_scope = ?3, used_ip = ?4,
                     expires = coalesce(?5, expires)
                 WHERE id = ?1",
                params![
                    id_bytes(asp.0),
                    used.time,
                    used.scope.name(),
                    used.ip,
                    expires
                ],
            )?;
            Ok(())
        })
        .await
    }
}
