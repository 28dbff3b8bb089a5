//! The `Store` facade: the one type embedders and protocol shells use.
//!
//! API CONTRACT (frozen for the parallel shells; change only together with their authors):
//! every method below keeps its name, arguments and return type. Bodies are filled in by the
//! store-core work.

use std::path::Path;
use std::sync::Arc;

use crate::accounts;
use crate::auth::VerifiedLogins;
use crate::backend::sqlite::SqliteBackend;
use crate::backend::{Backend, NewMailbox, NewMessage, Transfer, UserRecord, UserUpdate, Wake};
use crate::error::{AddressError, Defect, Error, MailboxError, MessageError, Result, UserError};
use crate::filters::DeliveryPolicy;
use crate::limits::{
    Counters, DailyLimitExceeded, Limiter, LimitsConfig, MemoryCounters, SessionSlot,
};
use crate::migrate::{MigrateOptions, MigrateProgress, MigrateReport};
use crate::model::*;
use crate::names::{self, INBOX};
use crate::notify::{LocalNotifier, LogoutWatch, Notifier, Subscription};
use crate::{content, mime};

/// Tuning and limits of a store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Largest message `append` accepts, in bytes.
    pub max_message_size: u64,
    /// Login lockout and daily byte limits, counted in this process or, for a MongoDB
    /// store with Redis, in Redis.
    pub limits: LimitsConfig,
    /// The spam verdict and autoreply interval of deliveries.
    pub delivery: DeliveryPolicy,
    /// Seals users' TOTP seeds (`[totp] secret`); without it TOTP can not be set up.
    pub totp_secret: Option<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            max_message_size: 64 * 1024 * 1024,
            limits: LimitsConfig::default(),
            delivery: DeliveryPolicy::default(),
            totp_secret: None,
        }
    }
}

/// A mail store. Cheap to clone (an `Arc` inside), `Send + Sync`.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Arc<dyn Backend>,
    notifier: Arc<dyn Notifier>,
    config: StoreConfig,
    limiter: Arc<Limiter>,
    verified: Arc<VerifiedLogins>,
}

/// Counts one message stored (APPEND, delivery, upload) in the process's metrics.
pub(crate) fn count_stored(bytes: u64) {
    metrics::counter!("wildduck_messages_stored_total").increment(1);
    metrics::counter!("wildduck_stored_bytes_total").increment(bytes);
}

/// Which part of the store failed [`Store::health`].
#[derive(Debug)]
pub enum Unhealthy {
    Database(crate::Error),
    /// The counters shared between processes (Redis).
    Counters(crate::Error),
}

/// In-process lockout and traffic counters.
fn memory_limiter(limits: &LimitsConfig) -> Arc<Limiter> {
    Arc::new(Limiter::new(
        Box::new(MemoryCounters::default()),
        limits.clone(),
    ))
}

impl Store {
    /// Opens (creating if needed) the embedded SQLite store in directory `dir`.
    pub async fn open_sqlite(dir: &Path, config: StoreConfig) -> Result<Store> {
        Self::open_sqlite_with_notifier(dir, config, Arc::new(LocalNotifier::default())).await
    }

    /// Like [`Store::open_sqlite`], announcing changes through `notifier` (e.g. one shared
    /// by several processes).
    pub async fn open_sqlite_with_notifier(
        dir: &Path,
        config: StoreConfig,
        notifier: Arc<dyn Notifier>,
    ) -> Result<Store> {
        let backend = SqliteBackend::open(dir).await?;
        Ok(Store {
            inner: Arc::new(Inner {
                backend: Arc::new(backend),
                notifier,
                limiter: memory_limiter(&config.limits),
                config,
                verified: Arc::new(VerifiedLogins::new()),
            }),
        })
    }

    /// Opens the distributed store: data in MongoDB at `uri` (database from the URI path,
    /// default `wildduck`; write concern `majority` unless the URI sets `w`), wake-ups
    /// through Redis at `redis_url` so every process over the same MongoDB hears every
    /// change and shares the login lockout and daily byte counters. Without `redis_url`
    /// wake-ups and counters stay inside this process.
    #[cfg(feature = "mongodb")]
    pub async fn open_mongodb(
        uri: &str,
        redis_url: Option<&str>,
        config: StoreConfig,
    ) -> Result<Store> {
        let backend: Arc<dyn Backend> =
            Arc::new(crate::backend::mongo::MongoBackend::open(uri).await?);
        let (notifier, limiter): (Arc<dyn Notifier>, _) = match redis_url {
            None => (
                Arc::new(LocalNotifier::default()),
                memory_limiter(&config.limits),
            ),
            #[cfg(feature = "redis")]
            Some(url) => (
                Arc::new(crate::notify::redis::RedisNotifier::connect(url, backend.clone()).await?),
                Arc::new(Limiter::new(
                    Box::new(crate::limits::redis::RedisCounters::connect(url).await?),
                    config.limits.clone(),
                )),
            ),
            #[cfg(not(feature = "redis"))]
            Some(_) => {
                return Err(Defect::Unsupported(
                    "a Redis URL was given but this build lacks the `redis` feature",
                )
                .into());
            }
        };
        Ok(Store {
            inner: Arc::new(Inner {
                backend,
                notifier,
                config,
                limiter,
                verified: Arc::new(VerifiedLogins::new()),
            }),
        })
    }

    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    pub(crate) fn backend(&self) -> &dyn Backend {
        self.inner.backend.as_ref()
    }

    pub(crate) fn limiter(&self) -> &Limiter {
        &self.inner.limiter
    }

    /// Announces committed changes.
    pub(crate) fn publish(&self, wakes: Vec<Wake>) {
        for wake in wakes {
            self.inner
                .notifier
                .publish(wake.user, wake.mailbox, wake.modseq);
        }
    }

    // ---- abuse limits (shared by every shell of this store) ----

    /// This store with other limits, counted by `counters` (in-process, or shared between
    /// processes). Clones made before keep the old limits.
    pub fn with_limits(&self, counters: Box<dyn Counters>, limits: LimitsConfig) -> Store {
        Store {
            inner: Arc::new(Inner {
                backend: self.inner.backend.clone(),
                notifier: self.inner.notifier.clone(),
                config: StoreConfig {
                    limits: limits.clone(),
                    ..self.inner.config.clone()
                },
                limiter: Arc::new(Limiter::new(counters, limits)),
                verified: self.inner.verified.clone(),
            }),
        }
    }

    /// This store sealing TOTP seeds with `secret` (`StoreConfig::totp_secret`). Clones made
    /// before keep the old secret.
    pub fn with_totp_secret(&self, secret: &str) -> Store {
        Store {
            inner: Arc::new(Inner {
                backend: self.inner.backend.clone(),
                notifier: self.inner.notifier.clone(),
                config: StoreConfig {
                    totp_secret: Some(secret.to_string()),
                    ..self.inner.config.clone()
                },
                limiter: self.inner.limiter.clone(),
                verified: self.inner.verified.clone(),
            }),
        }
    }

    pub(crate) fn verified_logins(&self) -> Arc<VerifiedLogins> {
        self.inner.verified.clone()
    }

    /// What `/health` checks, as WildDuck's does: the database answers a read, and the
    /// shared counters (Redis, where configured) a write, a read and a delete.
    pub async fn health(&self) -> std::result::Result<(), Unhealthy> {
        // A point lookup of an id that exists nowhere: cheap, and it reaches the database.
        match self.get_user(UserId::new()).await {
            Ok(_) | Err(crate::Error::User(UserError::NotFound)) => {}
            Err(err) => return Err(Unhealthy::Database(err)),
        }
        self.inner
            .limiter
            .check_counters()
            .await
            .map_err(Unhealthy::Counters)
    }

    pub fn limits(&self) -> &LimitsConfig {
        self.inner.limiter.config()
    }

    /// `Err(time left)` while the username (as typed) or the client IP is locked out.
    pub async fn login_allowed(
        &self,
        user_key: &str,
        ip: std::net::IpAddr,
    ) -> Result<std::result::Result<(), std::time::Duration>> {
        self.inner.limiter.login_allowed(user_key, ip).await
    }

    /// Counts a failed login; returns how long to wait before answering it.
    pub async fn record_login_failure(
        &self,
        user_key: &str,
        ip: std::net::IpAddr,
    ) -> Result<std::time::Duration> {
        self.inner.limiter.record_login_failure(user_key, ip).await
    }

    pub async fn record_login_success(&self, user_key: &str, ip: std::net::IpAddr) -> Result<()> {
        self.inner.limiter.record_login_success(user_key, ip).await
    }

    /// A slot for one more `protocol` session of `user`, held until the returned guard is
    /// dropped, or `None` when the user already has `limit` sessions — in this process, or
    /// for a MongoDB store with Redis in every process together.
    pub async fn hold_session(
        &self,
        protocol: &str,
        user: UserId,
        limit: u64,
    ) -> Result<Option<SessionSlot>> {
        self.inner.limiter.hold_session(protocol, user, limit).await
    }

    /// Counts bytes sent to `user` today; `Err` once past the daily download limit.
    pub async fn add_download(
        &self,
        user: UserId,
        bytes: u64,
    ) -> Result<std::result::Result<u64, DailyLimitExceeded>> {
        self.inner.limiter.add_download(user, bytes).await
    }

    /// Counts bytes received from `user` today; `Err` once past the daily upload limit.
    pub async fn add_upload(
        &self,
        user: UserId,
        bytes: u64,
    ) -> Result<std::result::Result<u64, DailyLimitExceeded>> {
        self.inner.limiter.add_upload(user, bytes).await
    }

    // ---- users ----

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

    async fn insert_user(&self, new: NewUser, source: PasswordSource) -> Result<User> {
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
    async fn resolve_address_record(&self, address: &str) -> Result<Address> {
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

    /// All mailboxes of a user, sorted by path.
    pub async fn list_mailboxes(&self, user: UserId) -> Result<Vec<Mailbox>> {
        self.backend().list_mailboxes(user).await
    }

    /// Looks a mailbox up by path (`INBOX` case-insensitive).
    pub async fn get_mailbox(&self, user: UserId, path: &str) -> Result<Mailbox> {
        let path = names::normalize_path(path)?;
        self.backend()
            .mailbox_by_path(user, &path)
            .await?
            .ok_or_else(|| MailboxError::NotFound.into())
    }

    pub async fn get_mailbox_by_id(&self, mailbox: MailboxId) -> Result<Mailbox> {
        self.backend()
            .mailbox_by_id(mailbox)
            .await?
            .ok_or_else(|| MailboxError::NotFound.into())
    }

    /// Creates a mailbox, and any missing parents (RFC 3501 §6.3.3), subscribed.
    pub async fn create_mailbox(
        &self,
        user: UserId,
        path: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<Mailbox> {
        self.create_mailbox_with(user, path, special_use, true)
            .await
    }

    /// Creates a mailbox, and any missing parents, unsubscribed: IMAP CREATE (RFC 3501
    /// §6.3.3) leaves subscribing to the client.
    pub async fn create_unsubscribed_mailbox(
        &self,
        user: UserId,
        path: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<Mailbox> {
        self.create_mailbox_with(user, path, special_use, false)
            .await
    }

    async fn create_mailbox_with(
        &self,
        user: UserId,
        path: &str,
        special_use: Option<SpecialUse>,
        subscribed: bool,
    ) -> Result<Mailbox> {
        let path = names::normalize_path(path)?;
        let parents = names::parents(&path);
        let kept = self.is_subscribed_without_mailbox(user, &path).await?;
        let new = NewMailbox {
            path,
            special_use,
            subscribed: subscribed || kept,
            settings: MailboxSettings::default(),
        };
        let mailbox = self.backend().create_mailbox(user, parents, new).await?;
        if kept {
            self.subscription_taken_over(&mailbox).await?;
        }
        Ok(mailbox)
    }

    /// Renames a mailbox and all its children (UIDVALIDITY kept). Renaming INBOX moves its
    /// messages to the new mailbox and leaves INBOX empty (RFC 3501).
    pub async fn rename_mailbox(&self, user: UserId, from: &str, to: &str) -> Result<()> {
        let from = names::normalize_path(from)?;
        let to = names::normalize_path(to)?;
        if to == INBOX {
            return Err(MailboxError::AlreadyExists.into());
        }
        if names::is_within(&to, &from) {
            return Err(
                MailboxError::InvalidName("can not move a mailbox into itself".into()).into(),
            );
        }
        if from == INBOX {
            return self.rename_inbox(user, to).await;
        }
        let to_parents = names::parents(&to);
        self.backend()
            .rename_mailbox_tree(user, &from, &to, to_parents)
            .await
    }

    /// RFC 3501: renaming INBOX makes a new mailbox with INBOX's messages; INBOX stays,
    /// empty, and its children stay where they are.
    async fn rename_inbox(&self, user: UserId, to: String) -> Result<()> {
        let inbox = self.get_mailbox(user, INBOX).await?;
        let parents = names::parents(&to);
        let target = self
            .backend()
            .create_mailbox(
                user,
                parents,
                NewMailbox {
                    path: to,
                    special_use: None,
                    subscribed: true,
                    settings: MailboxSettings::default(),
                },
            )
            .await?;
        let (_, wakes) = self
            .backend()
            .transfer(inbox.id, &UidSet::all(), target.id, Transfer::Move)
            .await?;
        self.publish(wakes);
        Ok(())
    }

    /// Deletes a mailbox with its messages. Refuses INBOX and special-use folders.
    pub async fn delete_mailbox(&self, user: UserId, path: &str) -> Result<()> {
        let mailbox = self.get_mailbox(user, path).await?;
        if mailbox.path == INBOX {
            return Err(MailboxError::Protected("INBOX can not be deleted".into()).into());
        }
        if let Some(role) = mailbox.special_use {
            return Err(MailboxError::Protected(format!(
                "{} is the {} folder",
                mailbox.path,
                role.attribute()
            ))
            .into());
        }
        let wakes = self.backend().delete_mailbox(mailbox.id).await?;
        self.publish(wakes);
        self.keep_subscription_of_deleted(&mailbox).await
    }

    pub async fn set_subscribed(&self, user: UserId, path: &str, subscribed: bool) -> Result<()> {
        match self.get_mailbox(user, path).await {
            Ok(mailbox) => self.backend().set_subscribed(mailbox.id, subscribed).await,
            Err(Error::Mailbox(MailboxError::NotFound)) if !subscribed => {
                self.unsubscribe_without_mailbox(user, &names::normalize_path(path)?)
                    .await
            }
            Err(e) => Err(e),
        }
    }

    pub async fn mailbox_status(&self, mailbox: MailboxId) -> Result<MailboxStatus> {
        self.backend().mailbox_status(mailbox).await
    }

    // ---- \Recent (RFC 3501 §2.3.2) ----
    //
    // Each message is \Recent in exactly one session: the first that, with the mailbox
    // selected read-write, learns of it. The mailbox keeps a marker, the highest UID claimed;
    // a session that has seen UIDs up to n claims them by raising the marker to n, and the
    // UIDs between the old marker and n are its \Recent messages (held by the session, never
    // stored). Messages above the marker are recent to nobody yet: STATUS counts them and a
    // read-only session shows them as \Recent without claiming them.

    /// Claims, for one session, the messages up to `up_to` that no session claimed before:
    /// the returned range (empty when another session was first) holds its \Recent UIDs.
    pub async fn claim_recent(
        &self,
        mailbox: MailboxId,
        up_to: Uid,
    ) -> Result<std::ops::RangeInclusive<Uid>> {
        // Most claims find nothing new: a read spares the writer (and a commit) for them.
        let marker = self.backend().recent_marker(mailbox).await?;
        let before = if marker < up_to {
            self.backend().claim_recent(mailbox, up_to).await?
        } else {
            marker
        };
        Ok(before.saturating_add(1)..=up_to)
    }

    /// The messages no session has claimed as \Recent yet, ascending.
    pub async fn unclaimed_recent(&self, mailbox: MailboxId) -> Result<Vec<Uid>> {
        let marker = self.backend().recent_marker(mailbox).await?;
        if marker == Uid::MAX {
            return Ok(Vec::new());
        }
        let above = UidSet::from_ranges([(marker + 1, Uid::MAX)]);
        self.backend()
            .search(mailbox, &SearchKey::Uids(above))
            .await
    }

    // ---- messages ----

    /// Stores a message. `internal_date` None = now. Over quota or over the size limit fails
    /// and changes nothing.
    pub async fn append(
        &self,
        mailbox: MailboxId,
        raw: &[u8],
        flags: &Flags,
        internal_date: Option<Timestamp>,
    ) -> Result<AppendOutcome> {
        let size = raw.len() as u64;
        self.check_size(size)?;
        validate_flags(flags)?;
        let automatic = crate::addressregister::list_or_automatic(raw);
        self.remember_keywords(mailbox, flags).await?;
        let raw = bytes::Bytes::copy_from_slice(raw);
        let flags = flags.clone();
        // A small message is analysed in well under a millisecond: cheaper here than the
        // trip to the blocking pool and back.
        let message = if size <= INLINE_ANALYSIS {
            analyze(&raw, flags.clone(), internal_date)?
        } else {
            let flags = flags.clone();
            blocking(move || analyze(&raw, flags, internal_date)).await?
        };
        let envelope = message.envelope.clone();
        let (outcome, wakes) = self.backend().append(mailbox, message).await?;
        self.publish(wakes);
        count_stored(size);
        self.register_stored_message(mailbox, &flags, &envelope, automatic)
            .await;
        Ok(outcome)
    }

    /// Stores messages in order, as many `append` calls would, until one fails: the ones
    /// before it are stored (and their UIDs follow the order given), the failing one and those
    /// after it are not, and `stopped` says why. Over quota counts the messages before it.
    /// Messages are analysed and packed in parallel; on SQLite the whole batch is one write
    /// (one commit), on MongoDB one append after the other. Every message gets its own MODSEQ
    /// and journal entry, as with `append`; listeners are woken once with the last MODSEQ.
    pub async fn append_batch(
        &self,
        mailbox: MailboxId,
        messages: &[AppendItem<'_>],
    ) -> Result<BatchOutcome> {
        // A message the facade refuses ends the batch before it.
        let mut refused = None;
        let mut accepted = Vec::with_capacity(messages.len());
        for item in messages {
            let checked = self
                .check_size(item.raw.len() as u64)
                .and_then(|()| validate_flags(item.flags));
            if let Err(err) = checked {
                refused = Some(err);
                break;
            }
            accepted.push((
                bytes::Bytes::copy_from_slice(item.raw),
                item.flags.clone(),
                item.internal_date,
            ));
        }
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_worker = accepted.len().div_ceil(workers).max(1);
        let mut tasks = Vec::with_capacity(workers);
        while !accepted.is_empty() {
            let rest = accepted.split_off(per_worker.min(accepted.len()));
            let part = std::mem::replace(&mut accepted, rest);
            tasks.push(blocking(move || {
                Ok(part
                    .into_iter()
                    .map(|(raw, flags, internal_date)| analyze(&raw, flags, internal_date))
                    .collect::<Vec<_>>())
            }));
        }
        let mut analysed = Vec::with_capacity(messages.len());
        'parts: for task in tasks {
            for message in task.await? {
                match message {
                    Ok(message) => analysed.push(message),
                    Err(err) => {
                        refused = Some(err);
                        break 'parts;
                    }
                }
            }
        }
        let (mut outcome, wakes) = self.backend().append_batch(mailbox, analysed).await?;
        self.publish(wakes);
        if outcome.stopped.is_none() {
            outcome.stopped = refused;
        }
        Ok(outcome)
    }

    /// A message `append` would store, analysed (on the blocking pool when large), for a
    /// rule that stores it together with other records (`outbound`).
    pub(crate) async fn analyse_for_append(
        &self,
        raw: Vec<u8>,
        flags: Flags,
    ) -> Result<NewMessage> {
        let size = raw.len() as u64;
        self.check_size(size)?;
        let raw = bytes::Bytes::from(raw);
        if size <= INLINE_ANALYSIS {
            analyze(&raw, flags, None)
        } else {
            blocking(move || analyze(&raw, flags, None)).await
        }
    }

    fn check_size(&self, size: u64) -> Result<()> {
        let limit = self.inner.config.max_message_size;
        if size > limit {
            return Err(MessageError::TooBig { size, limit }.into());
        }
        Ok(())
    }

    /// Whether a message of `size` bytes fits the user's quota and the size limit now
    /// (a hint for checking before a literal is read; `append` checks again).
    pub async fn check_append(&self, mailbox: MailboxId, size: u64) -> Result<()> {
        self.check_size(size)?;
        let (used, quota) = self.backend().quota_of_mailbox(mailbox).await?;
        match quota {
            Some(quota) if used.saturating_add(size) > quota => Err(MessageError::OverQuota {
                used,
                needed: size,
                quota,
            }
            .into()),
            _ => Ok(()),
        }
    }

    /// Copies the messages of `uids` (those that exist) into `target`, sharing content.
    pub async fn copy(
        &self,
        source: MailboxId,
        uids: &UidSet,
        target: MailboxId,
    ) -> Result<CopyOutcome> {
        self.transfer(source, uids, target, Transfer::Copy).await
    }

    /// Moves messages: copy + expunge from source in one atomic unit.
    pub async fn move_messages(
        &self,
        source: MailboxId,
        uids: &UidSet,
        target: MailboxId,
    ) -> Result<CopyOutcome> {
        self.transfer(source, uids, target, Transfer::Move).await
    }

    async fn transfer(
        &self,
        source: MailboxId,
        uids: &UidSet,
        target: MailboxId,
        transfer: Transfer,
    ) -> Result<CopyOutcome> {
        // The copies may carry any keyword the source has had.
        let source_keywords = self.backend().mailbox_keywords(source).await?;
        let keywords: Flags = source_keywords.into_iter().map(Flag::Keyword).collect();
        self.remember_keywords(target, &keywords).await?;
        let (outcome, wakes) = self
            .backend()
            .transfer(source, uids, target, transfer)
            .await?;
        self.publish(wakes);
        Ok(outcome)
    }

    /// Changes flags of the messages in `uids`; one new MODSEQ for all that changed.
    /// With `unchanged_since`, messages whose MODSEQ is higher are left alone and listed.
    pub async fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<ModSeq>,
    ) -> Result<FlagsOutcome> {
        validate_flags(flags)?;
        if op != FlagOp::Remove {
            self.remember_keywords(mailbox, flags).await?;
        }
        let (outcome, wakes) = self
            .backend()
            .store_flags(mailbox, uids, op, flags, unchanged_since)
            .await?;
        self.publish(wakes);
        Ok(outcome)
    }

    /// Removes messages flagged `\Deleted` (only those in `uids` when given).
    pub async fn expunge(
        &self,
        mailbox: MailboxId,
        uids: Option<&UidSet>,
    ) -> Result<ExpungeOutcome> {
        let (outcome, wakes) = self.backend().expunge(mailbox, uids).await?;
        self.publish(wakes);
        Ok(outcome)
    }

    pub async fn snapshot(&self, mailbox: MailboxId) -> Result<Snapshot> {
        self.backend().snapshot(mailbox).await
    }

    /// The snapshot SELECT starts from, with the keywords in use and the first unseen message.
    /// Its keywords are those in use and those the mailbox has had (`crate::keywords`).
    pub async fn select_view(&self, mailbox: MailboxId) -> Result<SelectView> {
        // Read first: a keyword is remembered before any message gets it, so one set after
        // this read is in use at the second read or reaches the session through the journal.
        let remembered = self.backend().mailbox_keywords(mailbox).await?;
        let mut view = self.backend().select_view(mailbox).await?;
        view.keywords.extend(remembered);
        Ok(view)
    }

    pub async fn changes_since(&self, mailbox: MailboxId, modseq: ModSeq) -> Result<Changes> {
        self.backend().changes_since(mailbox, modseq).await
    }

    /// Metadata of the messages in `uids` that exist, in UID order.
    pub async fn fetch_meta(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        fields: MetaFields,
    ) -> Result<Vec<MessageMeta>> {
        self.backend().fetch_meta(mailbox, uids, fields).await
    }

    /// The bytes of one section of a message, optionally a byte range of it.
    /// A part path that does not exist yields an empty body (as IMAP servers answer).
    pub async fn read_section(
        &self,
        mailbox: MailboxId,
        uid: Uid,
        section: &Section,
        partial: Option<Partial>,
    ) -> Result<SectionBody> {
        // The plan is made from the layout inside the backend's read, so only the blobs the
        // section needs are loaded; it comes back out through `planned`.
        let planned = Arc::new(std::sync::Mutex::new(None));
        let select: crate::backend::BlobSelector = {
            let (planned, section) = (planned.clone(), section.clone());
            Box::new(move |layout: &[u8]| {
                let plan = content::SectionPlan::new(layout, &section, partial);
                let wanted = plan.as_ref().map(|p| p.blobs()).unwrap_or_default();
                if let Ok(mut slot) = planned.lock() {
                    *slot = Some(plan);
                }
                wanted
            })
        };
        let stored = self
            .backend()
            .load_content_selected(mailbox, uid, select)
            .await?;
        let plan = planned
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .ok_or(Defect::Bug("section read was not planned"))??;
        // A small message is rebuilt in microseconds: cheaper here than a second hop to the
        // blocking pool (the load above already took one).
        let body = if plan
            .message_len()
            .is_some_and(|len| len <= INLINE_SECTION_READ)
        {
            plan.read(stored.blobs)?
        } else {
            blocking(move || plan.read(stored.blobs)).await?
        };
        metrics::counter!("wildduck_sections_read_total").increment(1);
        metrics::counter!("wildduck_section_bytes_read_total").increment(body.len());
        Ok(body)
    }

    /// UIDs of the messages matching `key`, ascending.
    pub async fn search(&self, mailbox: MailboxId, key: &SearchKey) -> Result<Vec<Uid>> {
        self.backend().search(mailbox, key).await
    }

    // ---- events ----

    /// Wake-ups after each committed change to any mailbox of `user`.
    pub fn subscribe(&self, user: UserId) -> Subscription {
        self.inner.notifier.subscribe(user)
    }

    /// Logouts of `user` (`Store::logout_sessions`) on any process: a session watches from
    /// login on and ends when one arrives.
    pub fn watch_logout(&self, user: UserId) -> LogoutWatch {
        self.inner.notifier.watch_logout(user)
    }

    pub(crate) async fn publish_logout(&self, user: UserId, reason: &str) {
        self.inner.notifier.publish_logout(user, reason).await;
    }

    // ---- maintenance ----

    pub async fn stats(&self) -> Result<StoreStats> {
        self.backend().stats().await
    }

    /// Recomputes quota, blob refcounts, UID/MODSEQ order; reports (and with `repair` fixes)
    /// drift.
    pub async fn verify(&self, repair: bool) -> Result<VerifyReport> {
        self.backend().verify(repair).await
    }

    /// Deletes blobs with no reference older than `grace_secs`. Returns how many went.
    pub async fn gc(&self, grace_secs: u64) -> Result<u64> {
        self.backend().gc(grace_secs).await
    }

    /// Writes a consistent copy of this store into the directory `target` while it stays in
    /// use (servers may keep running); the copy opens as a store with `open_sqlite(target)`.
    /// The embedded engine only: a MongoDB deployment is backed up with its own tools.
    pub async fn backup(&self, target: &Path) -> Result<()> {
        self.backend().backup(target).await
    }

    /// Copies everything in this store into `target` (empty, or holding an interrupted
    /// earlier migration of this store), keeping every id, UIDVALIDITY, UID, MODSEQ and
    /// flag and storing each blob once; then runs `verify` on both ends and compares their
    /// counts (see [`MigrateReport::agrees`]). `progress` hears after every batch. Neither
    /// store should be in use by a server meanwhile. Details in the `migrate` module.
    pub async fn migrate_to(
        &self,
        target: &Store,
        options: &MigrateOptions,
        progress: impl FnMut(&MigrateProgress),
    ) -> Result<MigrateReport> {
        crate::migrate::run(self.backend(), target.backend(), options, progress).await
    }

    /// Drops journal entries older than `max_age_secs`. Returns how many went. A session
    /// asking for changes from before the trimmed horizon gets `Changes::truncated`.
    pub async fn trim_journal(&self, max_age_secs: u64) -> Result<u64> {
        self.backend().trim_journal(max_age_secs).await
    }
}

/// MIME analysis and content packing of one message: everything the backend stores.
fn analyze(
    raw: &bytes::Bytes,
    flags: Flags,
    internal_date: Option<Timestamp>,
) -> Result<NewMessage> {
    let tree = mime::split(raw);
    let analysis = mime::analyze_tree(raw, &tree);
    let content = content::pack(raw, &tree)?;
    Ok(NewMessage {
        id: MessageId::new(),
        flags,
        internal_date: internal_date.unwrap_or_else(crate::backend::now),
        header_date: analysis.header_date,
        size: raw.len() as u64,
        message_id: analysis.envelope.message_id.clone(),
        subject: analysis.envelope.subject.clone(),
        envelope: analysis.envelope,
        body_structure: analysis.body_structure,
        search_headers: analysis.search_headers,
        search_body: analysis.search_body,
        content,
    })
}

/// What `NewUser::password` holds when a user is created.
enum PasswordSource {
    Plain,
    /// A hash from another system, stored as given once its format is known.
    Hashed,
}

/// Runs CPU-heavy work (hashing, compression, MIME) on the blocking pool. The work starts
/// at once, not when the result is first awaited, so several can run side by side.
pub(crate) fn blocking<T, F>(f: F) -> impl Future<Output = Result<T>>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    let task = tokio::task::spawn_blocking(f);
    async move { task.await? }
}

const MAX_KEYWORD_BYTES: usize = 128;

/// Messages up to this size are analysed and packed on the calling task (see `append`).
const INLINE_ANALYSIS: u64 = 64 * 1024;

/// Messages up to this length have sections read on the calling task (see `read_section`).
const INLINE_SECTION_READ: usize = 128 * 1024;

/// Keywords must be IMAP atoms; `\`-names other than the system flags do not exist.
fn validate_flags(flags: &Flags) -> Result<()> {
    for flag in flags {
        if let Flag::Keyword(keyword) = flag {
            let bad = keyword.is_empty()
                || keyword.len() > MAX_KEYWORD_BYTES
                || keyword.starts_with('\\')
                || keyword.bytes().any(|b| {
                    b <= b' '
                        || b >= 0x7f
                        || matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
                });
            if bad {
                return Err(MessageError::InvalidFlag(keyword.clone()).into());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{AuthError, Error};

    async fn store_with_hash(dir: &Path, legacy_hash: &str) -> (Store, User) {
        let store = Store::open_sqlite(dir, StoreConfig::default())
            .await
            .unwrap();
        let user = store
            .create_user(NewUser {
                username: "legacy".into(),
                password: "irrelevant".into(),
                ..NewUser::default()
            })
            .await
            .unwrap();
        store
            .backend()
            .update_user(user.id, UserUpdate::PasswordHash(legacy_hash.into()))
            .await
            .unwrap();
        (store, user)
    }

    async fn stored_hash(store: &Store, user: UserId) -> String {
        store
            .backend()
            .user_by_id(user)
            .await
            .unwrap()
            .unwrap()
            .password_hash
    }

    #[tokio::test]
    async fn imported_hashes_are_checked_before_anything_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(dir.path(), StoreConfig::default())
            .await
            .unwrap();
        let imported = |password: &str| NewUser {
            username: "moved".into(),
            password: password.into(),
            ..NewUser::default()
        };
        let refused = store
            .create_user_with_password_hash(imported("$md5$not-a-wildduck-format"))
            .await;
        assert!(
            matches!(refused, Err(Error::User(UserError::InvalidPassword(_)))),
            "{refused:?}"
        );
        assert!(store.list_users().await.unwrap().is_empty());

        let hash = "$1$WBmiOwP7$YAPeMSKyVbjaMPqwREZP60";
        let user = store
            .create_user_with_password_hash(imported(hash))
            .await
            .unwrap();
        assert_eq!(stored_hash(&store, user.id).await, hash, "stored as given");
        store
            .authenticate("moved", "md5-crypt pässword", Scope::Pop3)
            .await
            .unwrap();
        assert!(stored_hash(&store, user.id).await.starts_with("$argon2id$"));
    }

    #[tokio::test]
    async fn legacy_hashes_are_upgraded_on_login() {
        let pbkdf2 = "$pbkdf2-sha256$i=4096,l=40\
            $c2FsdFNBTFRzYWx0U0FMVHNhbHRTQUxUc2FsdFNBTFRzYWx0\
            $NIyJ28vTKy8y2BS4EW6EzysXNH68GAAYHE4qH7jdU+HGNVGMfaxH6Q";
        let bcrypt = bcrypt::hash("passwordPASSWORDpassword", 4).unwrap();
        for legacy in [pbkdf2, bcrypt.as_str()] {
            let dir = tempfile::tempdir().unwrap();
            let (store, user) = store_with_hash(dir.path(), legacy).await;
            assert_eq!(
                store.authenticate("legacy", "wrong", Scope::Imap).await,
                Err(AuthError::InvalidCredentials.into())
            );
            assert_eq!(
                stored_hash(&store, user.id).await,
                legacy,
                "no rehash on failure"
            );
            store
                .authenticate("legacy", "passwordPASSWORDpassword", Scope::Imap)
                .await
                .unwrap();
            let upgraded = stored_hash(&store, user.id).await;
            assert!(upgraded.starts_with("$argon2id$"), "{upgraded}");
            store
                .authenticate("legacy", "passwordPASSWORDpassword", Scope::Pop3)
                .await
                .unwrap();
            assert_eq!(
                stored_hash(&store, user.id).await,
                upgraded,
                "current hash kept"
            );
        }
    }
}
