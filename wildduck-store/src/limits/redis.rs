//! [`Counters`] in Redis (feature `redis`), so every process over one store shares the
//! failed-login lockout and the daily byte counters.
//!
//! Keys are `wildduck:limit:<key>`. Adding is one Lua script (`INCRBY`, then `PEXPIRE` only
//! when the key has no expiry yet), so a counter can never be left without its TTL.
//!
//! **Session slots** (simultaneous sessions per user) are a sorted set per key: one member
//! per session, scored by the Redis-clock millisecond at which it lapses. Taking a slot is
//! one script that first drops lapsed members, then adds the session if fewer than the
//! limit remain. Each process renews the slots it holds every third of [`SLOT_TTL`]
//! (`ZADD XX`, so a released slot is never brought back) and removes a slot when its session
//! ends. A process that dies without releasing (kill -9, a lost host) stops renewing, so its
//! slots lapse within one TTL instead of locking the user out forever. Only Redis's clock is
//! used, so clock skew between servers does not matter. If Redis loses its data, sessions
//! opened before are no longer counted until they reconnect (the lenient side).
//!
//! **While Redis is unreachable the counters fail open to this process's memory**: logins and
//! downloads keep working and the lockout still holds per process, just not across
//! processes. Refusing every login (failing closed) would turn a cache outage into a mail
//! outage — the mail itself lives in MongoDB, and wake-ups already survive without Redis.
//! The price is that a guesser gets up to the per-process limit on each server for as long as
//! Redis is away. The connection reconnects by itself; counts made during the outage stay
//! local and are not merged back.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Counters, MemoryCounters};
use crate::error::{Defect, Result};
use crate::notify::redis::redis_error;
use crate::telemetry;

const PREFIX: &str = "wildduck:limit:";

/// `INCRBY`; a key that had no expiry (it was just created) gets the TTL.
const ADD: &str = r"
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
";

/// The Redis clock in milliseconds, as a Lua number.
macro_rules! lua_now {
    () => {
        "local clock = redis.call('TIME')\nlocal now = clock[1] * 1000 + math.floor(clock[2] / 1000)\n"
    };
}

/// KEYS[1] the slots, ARGV holder, limit, TTL in ms: drops lapsed slots, then takes one for
/// the holder if it has none and fewer than the limit are taken. Returns 1 when it holds one.
const ACQUIRE_SLOT: &str = concat!(
    lua_now!(),
    r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    return 1
end
return 0
"
);

/// KEYS[1] the slots, ARGV TTL in ms then holders: pushes the holders' lapse time out by one
/// TTL. Only slots still present are renewed (`XX`), so one released meanwhile stays gone.
const RENEW_SLOTS: &str = concat!(
    lua_now!(),
    r"
for i = 2, #ARGV do
    redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 0
"
);

/// How long a session slot outlives the last renewal by its process.
pub const SLOT_TTL: Duration = Duration::from_secs(30);

/// The slots this process holds in Redis (key → holders), renewed in the background.
type HeldSlots = Arc<Mutex<HashMap<String, HashSet<String>>>>;

/// A Redis call gives up after this long and the local counters answer instead, so a hung
/// Redis slows a login by at most this much.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Expiring counters shared through Redis, with a local fallback during outages.
pub struct RedisCounters {
    connection: ConnectionManager,
    add: redis::Script,
    local: MemoryCounters,
    /// Whether the last Redis call failed (to log an outage once, not on every call).
    degraded: AtomicBool,
    acquire_slot: redis::Script,
    slot_ttl: Duration,
    held: HeldSlots,
    /// Renews `held`; stopped when these counters are dropped.
    renewer: tokio::task::AbortHandle,
}

impl Drop for RedisCounters {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

/// Milliseconds for `PEXPIRE`/`PX`, at least 1 (Redis refuses 0).
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisCounters {
    /// Connects to Redis at `url` (e.g. `redis://127.0.0.1:6379/`); fails if it is
    /// unreachable now, so a wrong URL shows at startup.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with_slot_ttl(url, SLOT_TTL).await
    }

    /// Like [`RedisCounters::connect`], with session slots that lapse `slot_ttl` after their
    /// process stops renewing them (tests use a short one).
    pub async fn connect_with_slot_ttl(url: &str, slot_ttl: Duration) -> Result<Self> {
        let client = redis::Client::open(url).map_err(redis_error("connect"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(redis_error("connect"))?;
        let held = HeldSlots::default();
        let renewer = tokio::spawn(renew_slots(connection.clone(), held.clone(), slot_ttl));
        Ok(RedisCounters {
            connection,
            add: redis::Script::new(ADD),
            local: MemoryCounters::default(),
            degraded: AtomicBool::new(false),
            acquire_slot: redis::Script::new(ACQUIRE_SLOT),
            slot_ttl,
            held,
            renewer: renewer.abort_handle(),
        })
    }

    /// The answer of Redis, or `None` (logged once per outage) when the local counters
    /// must answer instead.
    fn shared<T>(&self, answer: redis::RedisResult<T>) -> Option<T> {
        match answer {
            Ok(value) => {
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!("redis is back: limit counters are shared again");
                }
                Some(value)
            }
            Err(e) => {
                telemetry::redis_error("counters");
                if !self.degraded.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "redis unreachable: limit counters are per process until it returns");
                }
                None
            }
        }
    }
}

/// Every third of `ttl`, pushes out the lapse time of every slot in `held`. A failed renewal
/// is retried at the next round; the slots lapse only if Redis stays away for a whole TTL.
async fn renew_slots(connection: ConnectionManager, held: HeldSlots, ttl: Duration) {
    let script = redis::Script::new(RENEW_SLOTS);
    let mut rounds = tokio::time::interval(ttl / 3);
    rounds.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        rounds.tick().await;
        let snapshot: Vec<(String, Vec<String>)> = match held.lock() {
            Ok(held) => held
                .iter()
                .map(|(key, holders)| (key.clone(), holders.iter().cloned().collect()))
                .collect(),
            Err(_) => return,
        };
        for (key, holders) in snapshot {
            let mut call = script.key(&key);
            call.arg(millis(ttl));
            for holder in &holders {
                call.arg(holder);
            }
            if let Err(e) = call.invoke_async::<()>(&mut connection.clone()).await {
                telemetry::redis_error("counters");
                tracing::debug!(error = %e, "renewing session slots failed");
            }
        }
    }
}

fn shared_key(key: &str) -> String {
    format!("{PREFIX}{key}")
}

#[async_trait]
impl Counters for RedisCounters {
    async fn check(&self) -> Result<()> {
        // As WildDuck's /health: a value written, read back and deleted, straight to Redis.
        let key = shared_key(&format!("health:{:016x}", rand::random::<u64>()));
        let written: u64 = rand::random::<u32>().into();
        let (read,): (Option<u64>,) = redis::pipe()
            .cmd("SET")
            .arg(&key)
            .arg(written)
            .arg("PX")
            .arg(10_000)
            .ignore()
            .get(&key)
            .del(&key)
            .ignore()
            .query_async(&mut self.connection.clone())
            .await
            .map_err(redis_error("counters"))?;
        if read != Some(written) {
            return Err(Defect::Bug("redis returned another value than the one written").into());
        }
        Ok(())
    }

    async fn add(&self, key: &str, amount: u64, ttl: Duration) -> Result<u64> {
        // Redis counts in i64; more than that many bytes a day is not a real count.
        let increment = i64::try_from(amount).unwrap_or(i64::MAX);
        let answer = self
            .add
            .key(shared_key(key))
            .arg(increment)
            .arg(millis(ttl))
            .invoke_async::<u64>(&mut self.connection.clone())
            .await;
        match self.shared(answer) {
            Some(value) => Ok(value),
            None => self.local.add(key, amount, ttl).await,
        }
    }

    async fn set(&self, key: &str, value: u64, ttl: Duration) -> Result<()> {
        let answer = redis::cmd("SET")
            .arg(shared_key(key))
            .arg(value)
            .arg("PX")
            .arg(millis(ttl))
            .query_async::<()>(&mut self.connection.clone())
            .await;
        match self.shared(answer) {
            Some(()) => Ok(()),
            None => self.local.set(key, value, ttl).await,
        }
    }

    async fn get(&self, key: &str) -> Result<Option<(u64, Duration)>> {
        let key_name = shared_key(key);
        let answer = redis::pipe()
            .atomic()
            .get(&key_name)
            .cmd("PTTL")
            .arg(&key_name)
            .query_async::<(Option<u64>, i64)>(&mut self.connection.clone())
            .await;
        match self.shared(answer) {
            // A key without expiry (PTTL -1) was not written by us; treat it as absent.
            Some((Some(value), left)) if left > 0 => {
                Ok(Some((value, Duration::from_millis(left.unsigned_abs()))))
            }
            Some(_) => Ok(None),
            None => self.local.get(key).await,
        }
    }

    async fn remove(&self, key: &str) -> Result<()> {
        let answer = redis::cmd("DEL")
            .arg(shared_key(key))
            .query_async::<()>(&mut self.connection.clone())
            .await;
        // Removed locally too, so a count made during an outage does not linger.
        self.local.remove(key).await?;
        let _ = self.shared(answer);
        Ok(())
    }

    async fn acquire_slot(&self, key: &str, holder: &str, limit: u64) -> Result<bool> {
        let key_name = shared_key(key);
        let answer = self
            .acquire_slot
            .key(&key_name)
            .arg(holder)
            .arg(limit)
            .arg(millis(self.slot_ttl))
            .invoke_async::<bool>(&mut self.connection.clone())
            .await;
        match self.shared(answer) {
            Some(true) => {
                self.held
                    .lock()
                    .map_err(|_| Defect::Bug("held session slots lock poisoned"))?
                    .entry(key_name)
                    .or_default()
                    .insert(holder.to_string());
                Ok(true)
            }
            Some(false) => Ok(false),
            None => self.local.acquire_slot(key, holder, limit).await,
        }
    }

    fn release_slot(&self, key: &str, holder: &str) {
        // The slot was taken either in Redis or, during an outage, locally: free both.
        self.local.release_slot(key, holder);
        let key_name = shared_key(key);
        if let Ok(mut held) = self.held.lock()
            && let Some(holders) = held.get_mut(&key_name)
        {
            holders.remove(holder);
            if holders.is_empty() {
                held.remove(&key_name);
            }
        }
        // No longer renewed, so even if this removal never reaches Redis the slot lapses.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut connection = self.connection.clone();
        let holder = holder.to_string();
        runtime.spawn(async move {
            let removed = redis::cmd("ZREM")
                .arg(&key_name)
                .arg(&holder)
                .query_async::<()>(&mut connection)
                .await;
            if let Err(e) = removed {
                telemetry::redis_error("counters");
                tracing::debug!(error = %e, "releasing a session slot failed; it will lapse");
            }
        });
    }
}
