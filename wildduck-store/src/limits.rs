//! Abuse limits shared by every protocol shell of one store: failed-login lockout per user and
//! per client IP (with growing lock times), daily byte counters per user, and simultaneous
//! sessions per user.
//!
//! The policy lives in [`Limiter`]; the counting lives behind [`Counters`], expiring integer
//! counters and bounded sets of slots that an in-process map ([`MemoryCounters`]) implements,
//! and Redis ([`redis::RedisCounters`], feature `redis`) so that several processes share one
//! view.

#[cfg(feature = "redis")]
pub mod redis;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::time::Instant;

use crate::error::{Defect, Result};
use crate::model::UserId;

/// Expiring counters keyed by text.
#[async_trait]
pub trait Counters: Send + Sync {
    /// Adds `amount` to `key`. A key that is absent or expired starts at 0 and lives for
    /// `ttl`; adding to a live key keeps its expiry. Returns the new value.
    async fn add(&self, key: &str, amount: u64, ttl: Duration) -> Result<u64>;
    /// Sets `key` to `value` for `ttl` from now.
    async fn set(&self, key: &str, value: u64, ttl: Duration) -> Result<()>;
    /// The value of a live key and the time it has left.
    async fn get(&self, key: &str) -> Result<Option<(u64, Duration)>>;
    async fn remove(&self, key: &str) -> Result<()>;
    /// Takes one of at most `limit` slots of `key` for `holder` (a holder that already has
    /// one keeps it); `false` when all are taken. A slot lives until it is released or, when
    /// shared between processes, until its process stops renewing it.
    async fn acquire_slot(&self, key: &str, holder: &str, limit: u64) -> Result<bool>;
    /// Gives a slot back. Not async, so that a guard's `Drop` frees it at once.
    fn release_slot(&self, key: &str, holder: &str);
    /// Whether the shared counters answer a write, a read and a delete now, without any
    /// fallback (for `/health`). Counters in this process's memory always do.
    async fn check(&self) -> Result<()> {
        Ok(())
    }
}

/// [`Counters`] in this process's memory.
#[derive(Default)]
pub struct MemoryCounters {
    entries: Mutex<HashMap<String, (u64, Instant)>>,
    slots: Mutex<HashMap<String, HashSet<String>>>,
}

/// Expired entries are swept when the map grows past this many keys.
const SWEEP_ABOVE: usize = 4096;

impl MemoryCounters {
    fn entries(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, (u64, Instant)>>> {
        self.entries
            .lock()
            .map_err(|_| Defect::Bug("limit counters lock poisoned").into())
    }

    fn slots(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, HashSet<String>>>> {
        self.slots
            .lock()
            .map_err(|_| Defect::Bug("session slots lock poisoned").into())
    }
}

#[async_trait]
impl Counters for MemoryCounters {
    async fn add(&self, key: &str, amount: u64, ttl: Duration) -> Result<u64> {
        let now = Instant::now();
        let mut entries = self.entries()?;
        if entries.len() > SWEEP_ABOVE {
            entries.retain(|_, (_, expires)| *expires > now);
        }
        let entry = entries.entry(key.to_string()).or_insert((0, now + ttl));
        if entry.1 <= now {
            *entry = (0, now + ttl);
        }
        entry.0 = entry.0.saturating_add(amount);
        Ok(entry.0)
    }

    async fn set(&self, key: &str, value: u64, ttl: Duration) -> Result<()> {
        self.entries()?
            .insert(key.to_string(), (value, Instant::now() + ttl));
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<(u64, Duration)>> {
        let now = Instant::now();
        Ok(self
            .entries()?
            .get(key)
            .filter(|(_, expires)| *expires > now)
            .map(|&(value, expires)| (value, expires - now)))
    }

    async fn remove(&self, key: &str) -> Result<()> {
        self.entries()?.remove(key);
        Ok(())
    }

    async fn acquire_slot(&self, key: &str, holder: &str, limit: u64) -> Result<bool> {
        let mut slots = self.slots()?;
        let holders = slots.entry(key.to_string()).or_default();
        if holders.contains(holder) {
            return Ok(true);
        }
        if u64::try_from(holders.len()).unwrap_or(u64::MAX) >= limit {
            if holders.is_empty() {
                slots.remove(key);
            }
            return Ok(false);
        }
        holders.insert(holder.to_string());
        Ok(true)
    }

    fn release_slot(&self, key: &str, holder: &str) {
        if let Ok(mut slots) = self.slots()
            && let Some(holders) = slots.get_mut(key)
        {
            holders.remove(holder);
            if holders.is_empty() {
                slots.remove(key);
            }
        }
    }
}

/// Limits; the defaults follow WildDuck's spirit (lock after repeated failures, slow down).
#[derive(Clone, Debug)]
pub struct LimitsConfig {
    /// Failed logins of one username within `failure_window` before it is locked.
    pub max_user_failures: u64,
    /// Failed logins from one IP address within `failure_window` before it is locked.
    pub max_ip_failures: u64,
    pub failure_window: Duration,
    /// First lock time; every further lock within a day doubles it, up to `max_lock`.
    pub lock: Duration,
    pub max_lock: Duration,
    /// Pause before answering the n-th failure in a window: n × `failure_delay`, at most
    /// `max_failure_delay`. Also the pause before refusing a locked login.
    pub failure_delay: Duration,
    pub max_failure_delay: Duration,
    /// Bytes one user may download / upload per UTC day; `None` = no limit.
    pub daily_download: Option<u64>,
    pub daily_upload: Option<u64>,
    /// Recipients one user may send to in 24 hours (WildDuck's `maxRecipients`), unless
    /// the user has their own number.
    pub daily_recipients: u64,
    /// Forward targets one user's delivered mail may go on to in 24 hours (WildDuck's
    /// `MAX_FORWARDS`), unless the user has their own number.
    pub daily_forwards: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_user_failures: 10,
            max_ip_failures: 100,
            failure_window: Duration::from_secs(15 * 60),
            lock: Duration::from_secs(60),
            max_lock: Duration::from_secs(60 * 60),
            failure_delay: Duration::from_millis(500),
            max_failure_delay: Duration::from_secs(5),
            daily_download: None,
            daily_upload: None,
            daily_recipients: 2000,
            daily_forwards: 2000,
        }
    }
}

/// A daily byte counter went past its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DailyLimitExceeded {
    pub limit: u64,
}

/// The login and traffic policy over some [`Counters`].
pub struct Limiter {
    counters: Arc<dyn Counters>,
    config: LimitsConfig,
}

/// One session of a user, counted against the user's limit while this guard lives.
pub struct SessionSlot {
    counters: Arc<dyn Counters>,
    key: String,
    holder: String,
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.counters.release_slot(&self.key, &self.holder);
    }
}

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// What a user's 24-hour windows count, each opened by its first count (as WildDuck's
/// `ttlcounter`): recipients of mail sent, and forward targets of mail delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DailyWindow {
    Recipients,
    Forwards,
}

impl DailyWindow {
    fn key(self, user: UserId) -> String {
        match self {
            DailyWindow::Recipients => format!("recipients:{user}"),
            DailyWindow::Forwards => format!("forwards:{user}"),
        }
    }
}

/// The two subjects a failed login is counted against.
fn subjects(user_key: &str, ip: IpAddr) -> [(String, u64); 2] {
    [
        (format!("user:{}", user_key.to_lowercase()), 0),
        (format!("ip:{}", ip.to_canonical()), 1),
    ]
}

impl Limiter {
    pub fn new(counters: Box<dyn Counters>, config: LimitsConfig) -> Self {
        Self {
            counters: Arc::from(counters),
            config,
        }
    }

    /// The counters under the policy, for records that expire as they do.
    pub(crate) fn counters(&self) -> &dyn Counters {
        self.counters.as_ref()
    }

    pub fn config(&self) -> &LimitsConfig {
        &self.config
    }

    /// [`Counters::check`] of the counters under these limits.
    pub async fn check_counters(&self) -> Result<()> {
        self.counters.check().await
    }

    /// `Err(time left)` while the username or the IP address is locked.
    pub async fn login_allowed(&self, user_key: &str, ip: IpAddr) -> Result<Result<(), Duration>> {
        let mut longest = None;
        for (subject, _) in subjects(user_key, ip) {
            if let Some((_, left)) = self.counters.get(&format!("lock:{subject}")).await? {
                longest = Some(longest.map_or(left, |l: Duration| l.max(left)));
            }
        }
        Ok(longest.map_or(Ok(()), Err))
    }

    /// Counts a failure; locks a subject that reached its limit. Returns how long the shell
    /// should wait before answering.
    pub async fn record_login_failure(&self, user_key: &str, ip: IpAddr) -> Result<Duration> {
        let mut most = 0;
        for (subject, which) in subjects(user_key, ip) {
            let failures = self
                .counters
                .add(
                    &format!("failures:{subject}"),
                    1,
                    self.config.failure_window,
                )
                .await?;
            most = most.max(failures);
            let max = if which == 0 {
                self.config.max_user_failures
            } else {
                self.config.max_ip_failures
            };
            if failures >= max {
                let locks = self
                    .counters
                    .add(&format!("locks:{subject}"), 1, DAY)
                    .await?;
                let doubling = 2u32.saturating_pow(u32::try_from(locks - 1).unwrap_or(u32::MAX));
                let lock = self
                    .config
                    .lock
                    .saturating_mul(doubling)
                    .min(self.config.max_lock);
                tracing::warn!(subject, ?lock, "too many failed logins: locked");
                metrics::counter!("wildduck_login_lockouts_total").increment(1);
                self.counters
                    .set(&format!("lock:{subject}"), 1, lock)
                    .await?;
                self.counters.remove(&format!("failures:{subject}")).await?;
            }
        }
        let factor = u32::try_from(most).unwrap_or(u32::MAX);
        Ok(self
            .config
            .failure_delay
            .saturating_mul(factor)
            .min(self.config.max_failure_delay))
    }

    /// A successful login forgets the username's failures (not the IP's: one good account
    /// must not whitewash guessing at others).
    pub async fn record_login_success(&self, user_key: &str, ip: IpAddr) -> Result<()> {
        let [(user, _), _] = subjects(user_key, ip);
        self.counters.remove(&format!("failures:{user}")).await
    }

    /// Adds to a per-user byte counter of today (UTC); `Err` once the day's total passes
    /// the limit.
    async fn add_daily(
        &self,
        kind: &str,
        user: UserId,
        bytes: u64,
        limit: Option<u64>,
    ) -> Result<Result<u64, DailyLimitExceeded>> {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let day = since_epoch.as_secs() / DAY.as_secs();
        let left_today = DAY - Duration::from_secs(since_epoch.as_secs() % DAY.as_secs());
        let total = self
            .counters
            .add(&format!("{kind}:{user}:{day}"), bytes, left_today)
            .await?;
        Ok(match limit {
            Some(limit) if total > limit => Err(DailyLimitExceeded { limit }),
            _ => Ok(total),
        })
    }

    /// A slot for one more `protocol` session of `user`, or `None` when the user already
    /// has `limit` of them (in this process, or with Redis in all processes together).
    pub async fn hold_session(
        &self,
        protocol: &str,
        user: UserId,
        limit: u64,
    ) -> Result<Option<SessionSlot>> {
        let key = format!("sessions:{protocol}:{user}");
        // Unique across processes, so two servers never share a holder name.
        let holder = crate::model::RecordId::new().to_string();
        Ok(self
            .counters
            .acquire_slot(&key, &holder, limit)
            .await?
            .then(|| SessionSlot {
                counters: self.counters.clone(),
                key,
                holder,
            }))
    }

    pub async fn add_download(
        &self,
        user: UserId,
        bytes: u64,
    ) -> Result<Result<u64, DailyLimitExceeded>> {
        self.add_daily("download", user, bytes, self.config.daily_download)
            .await
    }

    pub async fn add_upload(
        &self,
        user: UserId,
        bytes: u64,
    ) -> Result<Result<u64, DailyLimitExceeded>> {
        self.add_daily("upload", user, bytes, self.config.daily_upload)
            .await
    }

    /// What `user` has counted in `window` since it opened with their first count of the
    /// last 24 hours, and the time left of it.
    pub async fn window_used(&self, window: DailyWindow, user: UserId) -> Result<(u64, Duration)> {
        Ok(self
            .counters
            .get(&window.key(user))
            .await?
            .unwrap_or((0, DAY)))
    }

    /// Counts `count` more in `user`'s `window`; the new total.
    pub async fn add_to_window(
        &self,
        window: DailyWindow,
        user: UserId,
        count: u64,
    ) -> Result<u64> {
        self.counters.add(&window.key(user), count, DAY).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: Duration = Duration::from_millis(200);
    const MAX_LOCK: Duration = Duration::from_millis(500);

    fn limiter() -> Limiter {
        Limiter::new(
            Box::new(MemoryCounters::default()),
            LimitsConfig {
                max_user_failures: 3,
                max_ip_failures: 5,
                lock: LOCK,
                max_lock: MAX_LOCK,
                daily_download: Some(100),
                ..LimitsConfig::default()
            },
        )
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const OTHER_IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    /// Time left of a lock: at most `full`, and more than `full` minus the test's slack.
    fn about(left: Duration, full: Duration) -> bool {
        left <= full && left + Duration::from_millis(80) > full
    }

    #[tokio::test]
    async fn user_lock_lapses_and_grows() {
        let limits = limiter();
        for _ in 0..2 {
            limits.record_login_failure("Bob", IP).await.unwrap();
        }
        assert_eq!(limits.login_allowed("bob", IP).await.unwrap(), Ok(()));
        limits.record_login_failure("bob", OTHER_IP).await.unwrap();
        let left = limits.login_allowed("BOB", IP).await.unwrap().unwrap_err();
        assert!(about(left, LOCK), "{left:?}");
        assert!(
            limits
                .login_allowed("alice", OTHER_IP)
                .await
                .unwrap()
                .is_ok()
        );
        tokio::time::sleep(LOCK).await;
        assert_eq!(limits.login_allowed("bob", IP).await.unwrap(), Ok(()));
        for _ in 0..3 {
            limits.record_login_failure("bob", OTHER_IP).await.unwrap();
        }
        let second = limits.login_allowed("bob", IP).await.unwrap().unwrap_err();
        assert!(about(second, LOCK * 2), "second lock doubles: {second:?}");
        tokio::time::sleep(LOCK * 2).await;
        for _ in 0..3 {
            limits.record_login_failure("bob", OTHER_IP).await.unwrap();
        }
        let third = limits.login_allowed("bob", IP).await.unwrap().unwrap_err();
        assert!(about(third, MAX_LOCK), "capped at max_lock: {third:?}");
    }

    #[tokio::test]
    async fn ip_lock_covers_every_user_and_success_clears_only_the_user() {
        let limits = limiter();
        for name in ["a", "b", "c", "d"] {
            limits.record_login_failure(name, IP).await.unwrap();
        }
        limits.record_login_failure("e", IP).await.unwrap();
        assert!(limits.login_allowed("zed", IP).await.unwrap().is_err());
        assert!(limits.login_allowed("zed", OTHER_IP).await.unwrap().is_ok());

        limits.record_login_failure("f", OTHER_IP).await.unwrap();
        limits.record_login_failure("f", OTHER_IP).await.unwrap();
        limits.record_login_success("f", OTHER_IP).await.unwrap();
        limits.record_login_failure("f", OTHER_IP).await.unwrap();
        assert!(limits.login_allowed("f", OTHER_IP).await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn failure_delay_grows_to_its_cap() {
        let limits = limiter();
        let first = limits.record_login_failure("x", IP).await.unwrap();
        let second = limits.record_login_failure("x", IP).await.unwrap();
        assert_eq!(first, Duration::from_millis(500));
        assert_eq!(second, Duration::from_secs(1));
    }

    #[tokio::test]
    async fn daily_download_limit() {
        let limits = limiter();
        let user = UserId::new();
        assert_eq!(limits.add_download(user, 60).await.unwrap(), Ok(60));
        assert_eq!(limits.add_upload(user, 600).await.unwrap(), Ok(600));
        assert_eq!(
            limits.add_download(user, 41).await.unwrap(),
            Err(DailyLimitExceeded { limit: 100 })
        );
        assert_eq!(limits.add_download(UserId::new(), 1).await.unwrap(), Ok(1));
    }

    #[tokio::test]
    async fn sessions_per_user_are_limited_and_freed_on_drop() {
        let limits = limiter();
        let user = UserId::new();
        let first = limits.hold_session("imap", user, 2).await.unwrap();
        let second = limits.hold_session("imap", user, 2).await.unwrap();
        assert!(first.is_some() && second.is_some());
        assert!(
            limits
                .hold_session("imap", user, 2)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            limits
                .hold_session("pop3", user, 2)
                .await
                .unwrap()
                .is_some(),
            "protocols count apart"
        );
        assert!(
            limits
                .hold_session("imap", UserId::new(), 2)
                .await
                .unwrap()
                .is_some(),
            "users count apart"
        );
        drop(first);
        let third = limits.hold_session("imap", user, 2).await.unwrap();
        assert!(third.is_some(), "a dropped slot is free at once");
        assert!(
            limits
                .hold_session("imap", user, 2)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn memory_slots_forget_empty_keys() {
        let counters = MemoryCounters::default();
        assert!(!counters.acquire_slot("k", "a", 0).await.unwrap());
        assert!(counters.acquire_slot("k", "a", 1).await.unwrap());
        assert!(
            counters.acquire_slot("k", "a", 1).await.unwrap(),
            "a holder keeps its slot"
        );
        assert!(!counters.acquire_slot("k", "b", 1).await.unwrap());
        counters.release_slot("k", "a");
        counters.release_slot("k", "a");
        assert!(counters.slots().unwrap().is_empty());
        assert!(counters.acquire_slot("k", "b", 1).await.unwrap());
    }
}
