//! [`Counters`] in Redis (feature `redis`), so every process over one store shares the
//! failed-login lockout and the daily byte counters.
//!
//! Keys are `wildduck:limit:<key>`. Adding is one Lua script (`INCRBY`, then `PEXPIRE` only
//! when the key has no expiry yet), so a counter can never be left without its TTL.
//!
//! **While Redis is unreachable the counters fail open to this process's memory**: logins and
//! downloads keep working and the lockout still holds per process, just not across
//! processes. Refusing every login (failing closed) would turn a cache outage into a mail
//! outage — the mail itself lives in MongoDB, and wake-ups already survive without Redis.
//! The price is that a guesser gets up to the per-process limit on each server for as long as
//! Redis is away. The connection reconnects by itself; counts made during the outage stay
//! local and are not merged back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Counters, MemoryCounters};
use crate::error::{Error, Result};

const PREFIX: &str = "wildduck:limit:";

/// `INCRBY`; a key that had no expiry (it was just created) gets the TTL.
const ADD: &str = r"
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return value
";

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
}

/// Milliseconds for `PEXPIRE`/`PX`, at least 1 (Redis refuses 0).
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisCounters {
    /// Connects to Redis at `url` (e.g. `redis://127.0.0.1:6379/`); fails if it is
    /// unreachable now, so a wrong URL shows at startup.
    pub async fn connect(url: &str) -> Result<Self> {
        let client = redis::Client::open(url).map_err(redis_error)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(redis_error)?;
        Ok(RedisCounters {
            connection,
            add: redis::Script::new(ADD),
            local: MemoryCounters::default(),
            degraded: AtomicBool::new(false),
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
                if !self.degraded.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "redis unreachable: limit counters are per process until it returns");
                }
                None
            }
        }
    }
}

fn redis_error(e: redis::RedisError) -> Error {
    Error::Backend(format!("redis: {e}"))
}

fn shared_key(key: &str) -> String {
    format!("{PREFIX}{key}")
}

#[async_trait]
impl Counters for RedisCounters {
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
}
