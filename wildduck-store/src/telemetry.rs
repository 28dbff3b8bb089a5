//! What the store's engines and clients count in the process's metrics (rendered by
//! `wildduck_net::metrics`; a no-op when no recorder is installed): transactions and their
//! retries, blob writes and dedup hits, Redis and MongoDB errors, the outbound queue depth.
//! One function per measurement, so each name and its labels are written once.

use std::time::Duration;

#[cfg(feature = "mongodb")]
use crate::error::StorageErrorKind;

/// The engine a transaction ran on (label `engine`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Engine {
    Sqlite,
    #[cfg(feature = "mongodb")]
    Mongodb,
}

impl Engine {
    fn label(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            #[cfg(feature = "mongodb")]
            Engine::Mongodb => "mongodb",
        }
    }
}

/// Whether a transaction only read or also wrote (label `kind`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Access {
    Read,
    Write,
}

impl Access {
    fn label(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
        }
    }
}

/// One transaction of `engine`, whatever its outcome, and how long it took.
pub(crate) fn transaction(engine: Engine, access: Access, took: Duration) {
    metrics::histogram!(
        "wildduck_store_transaction_seconds",
        "engine" => engine.label(),
        "kind" => access.label()
    )
    .record(took);
}

/// One more try of a step another writer got in the way of (a lock held, a counter moved).
pub(crate) fn transaction_retry(engine: Engine, access: Access) {
    metrics::counter!(
        "wildduck_store_transaction_retries_total",
        "engine" => engine.label(),
        "kind" => access.label()
    )
    .increment(1);
}

/// Blobs of messages and files written once committed: `stored` were new content, `found`
/// were there already and only got one more reference (dedup hits).
pub(crate) fn blob_writes(stored: u64, found: u64) {
    metrics::counter!("wildduck_blobs_written_total").increment(stored);
    metrics::counter!("wildduck_blob_dedup_hits_total").increment(found);
}

/// One error of the Redis client, by what it was doing (`connect`, `counters`, `publish`,
/// `subscribe`).
#[cfg(feature = "redis")]
pub(crate) fn redis_error(operation: &'static str) {
    metrics::counter!("wildduck_redis_errors_total", "operation" => operation).increment(1);
}

/// One error of the MongoDB driver, by the class the engine gave it: every call site of
/// the driver shares one conversion, which knows the failure but not the call.
#[cfg(feature = "mongodb")]
pub(crate) fn mongodb_error(kind: StorageErrorKind) {
    let class = match kind {
        StorageErrorKind::Unavailable => "unavailable",
        StorageErrorKind::Timeout => "timeout",
        StorageErrorKind::Corrupt => "corrupt",
        StorageErrorKind::Constraint => "constraint",
        StorageErrorKind::Limit => "limit",
        StorageErrorKind::Internal => "internal",
    };
    metrics::counter!("wildduck_mongodb_errors_total", "class" => class).increment(1);
}

/// Entries in the outbound queue, as the store holds them now.
pub(crate) fn outbound_queue_depth(entries: u64) {
    metrics::gauge!("wildduck_outbound_queue_depth").set(entries as f64);
}
