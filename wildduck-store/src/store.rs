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

mod feed;
mod mailboxes;
mod messages;
mod users;

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
    layouts: Arc<crate::content::LayoutCache>,
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
                layouts: Arc::new(crate::content::LayoutCache::new()),
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
                layouts: Arc::new(crate::content::LayoutCache::new()),
            }),
        })
    }

    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    pub(crate) fn backend(&self) -> &dyn Backend {
        self.inner.backend.as_ref()
    }

    /// Parsed message layouts, shared by every read of this store.
    pub(crate) fn layouts(&self) -> &Arc<crate::content::LayoutCache> {
        &self.inner.layouts
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
                layouts: self.inner.layouts.clone(),
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
                layouts: self.inner.layouts.clone(),
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
