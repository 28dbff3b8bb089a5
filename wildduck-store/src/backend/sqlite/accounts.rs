//! Users and their addresses (see [`Accounts`]).

use super::*;

#[async_trait]
impl Accounts for SqliteBackend {
    async fn create_user(
        &self,
        record: UserRecord,
        mailboxes: Vec<NewMailbox>,
        address: Option<Address>,
    ) -> Result<()> {
        self.write(move |tx| {
            let taken = tx
                .query_row(
                    "SELECT 1 FROM users WHERE unameview = ?1",
                    [&record.unameview],
                    |_| Ok(()),
                )
                .optional()?;
            if taken.is_some() {
                return Err(UserError::AlreadyExists.into());
            }
            let user = &record.user;
            tx.execute(
                &format!(
                    "INSERT INTO users ({USER_COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ),
                params![
                    id_bytes(user.id.0),
                    user.username,
                    record.unameview,
                    record.password_hash,
                    user.quota.map(|q| q as i64),
                    user.storage_used as i64,
                    user.disabled,
                    user.created,
                    user.suspended,
                    scopes_to_text(&user.disabled_scopes)
                ],
            )?;
            for mailbox in &mailboxes {
                insert_mailbox(tx, user.id, mailbox)?;
            }
            if let Some(address) = &address {
                insert_address(tx, address)?;
            }
            log_event(tx, &crate::events::user_created(user, address.as_ref()))?;
            Ok(())
        })
        .await
    }

    async fn user_by_id(&self, user: UserId) -> Result<Option<UserRecord>> {
        self.read_small(move |tx| match get_user(tx, user) {
            Ok(record) => Ok(Some(record)),
            Err(Fail::Store(Error::User(UserError::NotFound))) => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }

    async fn user_by_unameview(&self, unameview: &str) -> Result<Option<UserRecord>> {
        let unameview = unameview.to_string();
        self.read_small(move |tx| {
            Ok(tx
                .prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE unameview = ?1"
                ))?
                .query_row([unameview], user_from_row)
                .optional()?)
        })
        .await
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        self.read(|tx| {
            let mut stmt = tx.prepare(&format!(
                "SELECT {USER_COLUMNS} FROM users ORDER BY unameview"
            ))?;
            let users = stmt
                .query_map([], user_from_row)?
                .map(|r| r.map(|u| u.user))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(users)
        })
        .await
    }

    async fn update_user(&self, user: UserId, update: UserUpdate) -> Result<()> {
        self.write(move |tx| {
            let key = id_bytes(user.0);
            let changed = match update {
                UserUpdate::PasswordHash(hash) => tx.execute(
                    "UPDATE users SET password = ?2 WHERE id = ?1",
                    params![key, hash],
                )?,
                UserUpdate::Quota(quota) => tx.execute(
                    "UPDATE users SET quota = ?2 WHERE id = ?1",
                    params![key, quota.map(|q| q as i64)],
                )?,
                UserUpdate::Disabled(disabled) => tx.execute(
                    "UPDATE users SET disabled = ?2 WHERE id = ?1",
                    params![key, disabled],
                )?,
                UserUpdate::Suspended(suspended) => tx.execute(
                    "UPDATE users SET suspended = ?2 WHERE id = ?1",
                    params![key, suspended],
                )?,
                UserUpdate::DisabledScopes(scopes) => tx.execute(
                    "UPDATE users SET disabled_scopes = ?2 WHERE id = ?1",
                    params![key, scopes_to_text(&scopes)],
                )?,
            };
            if changed == 0 {
                return Err(UserError::NotFound.into());
            }
            Ok(())
        })
        .await
    }

    async fn delete_user(&self, user: UserId) -> Result<Vec<Wake>> {
        self.write(move |tx| {
            get_user(tx, user)?;
            let mut stmt = tx.prepare(&format!(
                "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE user = ?1"
            ))?;
            let mailboxes = stmt
                .query_map([id_bytes(user.0)], mailbox_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut wakes = Vec::new();
            for mailbox in &mailboxes {
                drop_mailbox(tx, mailbox)?;
                wakes.push(Wake {
                    user,
                    mailbox: mailbox.id,
                    modseq: mailbox.highest_modseq + 1,
                });
            }
            tx.execute("DELETE FROM addresses WHERE user = ?1", [id_bytes(user.0)])?;
            tx.execute("DELETE FROM asps WHERE user = ?1", [id_bytes(user.0)])?;
            rules::delete_user_rules(tx, user)?;
            tx.execute("DELETE FROM users WHERE id = ?1", [id_bytes(user.0)])?;
            log_event(tx, &crate::events::user_deleted(user))?;
            Ok(wakes)
        })
        .await
    }

    async fn add_address(&self, address: Address) -> Result<()> {
        self.write(move |tx| {
            get_user(tx, address.user)?;
            insert_address(tx, &address)?;
            log_event(tx, &crate::events::address_created(&address))
        })
        .await
    }

    async fn remove_address(&self, user: UserId, addrview: &str) -> Result<()> {
        let addrview = addrview.to_string();
        self.write(move |tx| {
            let removed = tx
                .query_row(
                    "DELETE FROM addresses WHERE user = ?1 AND addrview = ?2
                     RETURNING id, user, address, addrview",
                    params![id_bytes(user.0), addrview],
                    address_from_row,
                )
                .optional()?
                .ok_or(AddressError::NotFound)?;
            log_event(tx, &crate::events::address_deleted(&removed))
        })
        .await
    }

    async fn list_addresses(&self, user: UserId) -> Result<Vec<Address>> {
        self.read(move |tx| {
            get_user(tx, user)?;
            let mut stmt = tx.prepare(
                "SELECT id, user, address, addrview FROM addresses WHERE user = ?1
                 ORDER BY address",
            )?;
            let list = stmt
                .query_map([id_bytes(user.0)], address_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(list)
        })
        .await
    }

    async fn address_by_view(&self, addrview: &str) -> Result<Option<Address>> {
        let addrview = addrview.to_string();
        self.read_small(move |tx| {
            Ok(tx
                .query_row(
                    "SELECT id, user, address, addrview FROM addresses WHERE addrview = ?1",
                    [addrview],
                    address_from_row,
                )
                .optional()?)
        })
        .await
    }

    async fn addresses_by_views(&self, addrviews: Vec<String>) -> Result<Vec<Address>> {
        self.read_small(move |tx| {
            // One statement for all candidates: `addrview IN (SELECT value FROM json_each(?))`
            // keeps the statement cacheable whatever the number of candidates.
            let views = serde_json::to_string(&addrviews).map_err(|_| {
                Error::from(Defect::Bug("a list of strings always encodes as JSON"))
            })?;
            let mut stmt = tx.prepare_cached(
                "SELECT id, user, address, addrview FROM addresses
                 WHERE addrview IN (SELECT value FROM json_each(?1))",
            )?;
            let list = stmt
                .query_map([views], address_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(list)
        })
        .await
    }
}

fn insert_address(tx: &Connection, address: &Address) -> TxResult<()> {
    let taken = tx
        .query_row(
            "SELECT 1 FROM addresses WHERE addrview = ?1
             UNION ALL SELECT 1 FROM forwarded_addresses WHERE addrview = ?1",
            [&address.addrview],
            |_| Ok(()),
        )
        .optional()?;
    if taken.is_some() {
        return Err(AddressError::AlreadyExists.into());
    }
    tx.execute(
        "INSERT INTO addresses (id, user, address, addrview) VALUES (?1, ?2, ?3, ?4)",
        params![
            id_bytes(address.id.0),
            id_bytes(address.user.0),
            address.address,
            address.addrview
        ],
    )?;
    Ok(())
}
