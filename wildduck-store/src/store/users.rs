//! Users and their addresses on the facade: creation (a password hashed, or a hash
//! imported), lookups by name or address, password and quota changes, removal.

use super::*;

impl Store {
    /// Creates a user with the default mailboxes (`DEFAULT_MAILBOXES`).
    pub async fn create_user(&self, new: NewUser) -> Result<User> {
        self.insert_user(new, PasswordSource::Plain).await
    }

    /// Creates a user like `create_user`, but `new.password` is a hash made elsewhere (an
    /// account moved from WildDuck): any format WildDuck accepts, refused here otherwise.
    /// It is replaced by an argon2id hash at the first successful login.
    pub async fn create_user_with_password_hash(&self, new: NewUser) -> Result<User> {
        self.insert_user(new, PasswordSource::Hashed).await
    }

    pub(super) async fn insert_user(&self, new: NewUser, source: PasswordSource) -> Result<User> {
        let (username, unameview) = accounts::normalize_username(&new.username)?;
        let address = new
            .address
            .as_deref()
            .map(accounts::normalize_address)
            .transpose()?;
        let password = new.password;
        let password_hash = match source {
            PasswordSource::Plain => blocking(move || accounts::hash_password(&password)).await?,
            PasswordSource::Hashed => {
                accounts::check_password_hash(&password)?;
                password
            }
        };
        let user = User {
            id: UserId::new(),
            username,
            quota: new.quota,
            storage_used: 0,
            disabled: false,
            suspended: false,
            disabled_scopes: Vec::new(),
            created: crate::backend::now(),
        };
        let mailboxes = DEFAULT_MAILBOXES
            .iter()
            .map(|&(path, special_use)| NewMailbox {
                path: path.to_string(),
                special_use,
                subscribed: true,
                settings: MailboxSettings::default(),
            })
            .collect();
        let address = address.map(|a| Address {
            id: AddressId::new(),
            user: user.id,
            address: a.address,
            addrview: a.addrview,
        });
        let record = UserRecord {
            user: user.clone(),
            unameview,
            password_hash,
        };
        self.backend()
            .create_user(record, mailboxes, address)
            .await?;
        Ok(user)
    }

    /// The user, unless absent or waiting for a deferred deletion (`user_deletion`).
    pub async fn get_user(&self, user: UserId) -> Result<User> {
        match self.backend().user_by_id(user).await? {
            Some(record) if !self.is_deleted(user).await? => Ok(record.user),
            _ => Err(UserError::NotFound.into()),
        }
    }

    /// Finds a user by username (case, dots ignored) — or by one of their addresses.
    pub async fn find_user(&self, username_or_address: &str) -> Result<User> {
        self.find_user_record(username_or_address)
            .await
            .map(|r| r.user)
    }

    pub(crate) async fn find_user_record(&self, username_or_address: &str) -> Result<UserRecord> {
        if let Ok(view) = accounts::unameview(username_or_address)
            && let Some(record) = self.backend().user_by_unameview(&view).await?
        {
            // A deleted user keeps the username until the purge but is found no more.
            if self.is_deleted(record.user.id).await? {
                return Err(UserError::NotFound.into());
            }
            return Ok(record);
        }
        if username_or_address.contains('@') {
            let address = self.resolve_address_record(username_or_address).await?;
            return self
                .backend()
                .user_by_id(address.user)
                .await?
                .ok_or_else(|| UserError::NotFound.into());
        }
        Err(UserError::NotFound.into())
    }

    /// Every user but those waiting for a deferred deletion.
    pub async fn list_users(&self) -> Result<Vec<User>> {
        let deleted = self.deleted_users().await?;
        let mut users = self.backend().list_users().await?;
        users.retain(|user| !deleted.contains(&user.id));
        Ok(users)
    }

    pub async fn set_password(&self, user: UserId, password: &str) -> Result<()> {
        let password = password.to_string();
        let hash = blocking(move || accounts::hash_password(&password)).await?;
        self.backend()
            .update_user(user, UserUpdate::PasswordHash(hash))
            .await?;
        // A new password ends a reset's temporary one, as in WildDuck.
        self.clear_temp_password(user).await
    }

    pub async fn set_quota(&self, user: UserId, quota: Option<u64>) -> Result<()> {
        self.backend()
            .update_user(user, UserUpdate::Quota(quota))
            .await
    }

    /// Deletes a user, their addresses, mailboxes, messages, stored files and blob
    /// references.
    pub async fn delete_user(&self, user: UserId) -> Result<()> {
        self.delete_files_of(user).await?;
        let wakes = self.backend().delete_user(user).await?;
        self.publish(wakes);
        Ok(())
    }

    // ---- addresses ----

    pub async fn add_address(&self, user: UserId, address: &str) -> Result<Address> {
        let normalized = accounts::normalize_address(address)?;
        let address = Address {
            id: AddressId::new(),
            user,
            address: normalized.address,
            addrview: normalized.addrview,
        };
        self.backend().add_address(address.clone()).await?;
        Ok(address)
    }

    pub async fn remove_address(&self, user: UserId, address: &str) -> Result<()> {
        let normalized = accounts::normalize_address(address)?;
        self.backend()
            .remove_address(user, &normalized.addrview)
            .await
    }

    pub async fn list_addresses(&self, user: UserId) -> Result<Vec<Address>> {
        self.backend().list_addresses(user).await
    }

    /// Which user an address delivers to (dots and `+tag` in the local part ignored).
    pub async fn resolve_address(&self, address: &str) -> Result<User> {
        let address = self.resolve_address_record(address).await?;
        self.get_user(address.user).await
    }

    /// The address record an address resolves to (dots and `+tag` ignored), for the HTTP
    /// API, which shows address records with their ids.
    pub async fn find_address(&self, address: &str) -> Result<Address> {
        self.resolve_address_record(address).await
    }

    /// The exact address (dots and `+tag` ignored), else the same at the domain its domain
    /// is an alias of.
    pub(super) async fn resolve_address_record(&self, address: &str) -> Result<Address> {
        let view = accounts::normalize_address(address)?.addrview;
        if let Some(found) = self.backend().address_by_view(&view).await? {
            return Ok(found);
        }
        match crate::domains::aliased_view(self.backend(), &view).await? {
            Some(aliased) => self.backend().address_by_view(&aliased).await?,
            None => None,
        }
        .ok_or_else(|| AddressError::NotFound.into())
    }

    // ---- mailboxes ----
}

/// What `NewUser::password` holds when a user is created.
pub(super) enum PasswordSource {
    Plain,
    /// A hash from another system, stored as given once its format is known.
    Hashed,
}
