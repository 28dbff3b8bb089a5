//! The scale-out engine: MongoDB through the official `mongodb` driver (feature `mongodb`).
//!
//! # Collections (DESIGN §3.2)
//!
//! | collection | key / indexes | shard key (on a sharded cluster) |
//! |---|---|---|
//! | `users` | unique `unameview` | `_id` hashed |
//! | `addresses` | unique `addrview`, `user` | `addrview` hashed |
//! | `mailboxes` | unique `(user, path)` | `user` |
//! | `messages` | unique `(mailbox, uid)`, `(mailbox, modseq)`, `user`, `blobs` | `(mailbox, uid)` range |
//! | `journal` | `(mailbox, modseq)`, `created` | `(mailbox, modseq)` range |
//! | `blobs` | `_id` = hex blake3 of stored form | `_id` hashed |
//! | `blob_chunks` | `_id` = `<hash>:<n>`, `h` | `h` hashed |
//! | `counters` | `_id` = name (UIDVALIDITY, dedup hits) | unsharded |
//! | `asps` | `(user, selector)` | `user` |
//! | `stored_files` | `(user, filename)`, `blob` | `user` |
//! | `filters`, `autoreplies` | `user` (the record as JSON in `record`) | `user` |
//! | `autoreplies_sent` | `_id` = `<user>:<sender>` | `_id` hashed |
//! | `dangling_subscriptions` | `_id` = `<user>/<path>`, `user` | `user` |
//! | `registry` | unique `(kind, key)` | unsharded |
//! | `address_register` | `_id` = `<user>/<addrview>`, `user` | `user` |
//! | `totp` | `_id` = the user (TOTP seed sealed, state) | `_id` hashed |
//! | `events` | `pending`, `created` | `_id` hashed |
//! | `event_deliveries` | `_id` = `<event>:<webhook>`, `next_attempt`, `event` | `_id` hashed |
//! | `access_tokens` | `_id` = hex SHA-256 of the token, `user`, `expires` | `_id` hashed |
//!
//! Create the shard keys before the first write (`sh.shardCollection`); every query of a
//! per-mailbox operation names the mailbox, so it is routed to one shard.
//!
//! # Atomicity without multi-document transactions
//!
//! The engine uses no transactions, change streams or GridFS (the CI server `nx-27017` has
//! none, and they cost on a sharded cluster). Each step is an atomic single-document write,
//! and steps run in an order that keeps the invariants for every reader at every moment:
//!
//! - **UID / MODSEQ**: allocated with `$inc` on the mailbox document, pending until the
//!   change is written; readers trust only the committed horizon (see [`sequence`]).
//! - **Quota**: reserved with one guarded `$inc` (`$expr: storage_used + size ≤ quota`)
//!   *before* the message is written, released *after* it is gone.
//! - **Blobs**: references raised before the message becomes visible, dropped after it is
//!   gone; our own chunk documents (see [`blobs`]).
//! - **Removal** (expunge, move out): messages are first marked `expunged` with the new
//!   MODSEQ, the journal is written, the MODSEQ commits, and only then do the documents go.
//! - **Failure**: a step that fails undoes the earlier steps of the same operation
//!   (references, quota, inserted documents); a crash in between leaks (quota or refcount
//!   too high), which `verify` repairs, but never makes an acknowledged message disappear.
//!   Known gap: a MOVE writes the copies before it removes the originals, so a crash
//!   between the two leaves the message in both mailboxes (and the quota counting it once).
//! - **Restart**: a pending MODSEQ of a killed process would hide the mailbox's new
//!   messages until its timeout; the same host's next process clears it at its first read
//!   (see [`sequence`]). `wildduck-cli/tests/crash_rounds.rs` kills a server 20 times.
//!
//! Writes use write concern `majority` with journaling unless the URI sets `w` itself.

mod access_tokens;
mod accounts;
mod addressregister;
mod asps;
mod authlog;
mod blobs;
mod encryption;
mod events;
mod expiry;
mod feed;
mod files;
mod keywords;
mod mailboxes;
mod maintenance;
mod messages;
mod outbound;
mod profiles;
mod records;
mod registry;
mod renames;
mod rules;
mod sequence;
mod sort;
mod steps;
mod subscriptions;
mod transfer;
mod two_factor;

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{Acknowledgment, ClientOptions, IndexOptions, ReturnDocument, WriteConcern};
use mongodb::{Client, Collection, IndexModel};

use self::messages::*;
use self::records::*;
use self::sequence::Allocation;
use self::steps::*;
use super::*;
use crate::error::{
    AddressError, Defect, Error, MailboxError, MessageError, StorageError, StorageErrorKind,
    UserError,
};
use crate::retention;
use crate::telemetry::{self, Access, Engine};

/// Database used when the URI names none.
pub const DEFAULT_DATABASE: &str = "wildduck";

/// The MongoDB engine. Cheap to share; the driver pools connections.
pub struct MongoBackend {
    users: Collection<UserDoc>,
    addresses: Collection<AddressDoc>,
    mailboxes: Collection<MailboxDoc>,
    messages: Collection<MessageDoc>,
    journal: Collection<Document>,
    blobs: Collection<Document>,
    chunks: Collection<Document>,
    counters: Collection<Document>,
    asps: Collection<AspDoc>,
    outbound: Collection<Document>,
    stored_files: Collection<Document>,
    filters: Collection<Document>,
    autoreplies: Collection<Document>,
    autoreplies_sent: Collection<Document>,
    subscriptions: Collection<Document>,
    registry: Collection<Document>,
    totp: Collection<Document>,
    /// This machine, as MODSEQ allocation tokens name it (see [`sequence`]).
    host: String,
}

/// A driver failure by what a caller can do about it; counted, since every driver error
/// that reaches a caller passes here once.
pub(crate) fn db_error(e: mongodb::error::Error) -> Error {
    let kind = match e.kind.as_ref() {
        ErrorKind::ServerSelection { .. }
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::DnsResolve { .. }
        | ErrorKind::Shutdown => StorageErrorKind::Unavailable,
        ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => StorageErrorKind::Timeout,
        ErrorKind::Io(_) => StorageErrorKind::Unavailable,
        ErrorKind::Command(command) => server_code_kind(command.code),
        ErrorKind::Write(WriteFailure::WriteError(write)) => server_code_kind(write.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(concern)) => {
            server_code_kind(concern.code)
        }
        ErrorKind::BsonDeserialization(_) => StorageErrorKind::Corrupt,
        _ if e.contains_label("RetryableWriteError")
            || e.contains_label("TransientTransactionError") =>
        {
            StorageErrorKind::Unavailable
        }
        _ => StorageErrorKind::Internal,
    };
    telemetry::mongodb_error(kind);
    StorageError::new(kind, e).into()
}

/// What a MongoDB server error code means for a caller (codes from the server's
/// `error_codes.yml`).
fn server_code_kind(code: i32) -> StorageErrorKind {
    match code {
        // MaxTimeMSExpired, WriteConcernFailed (wtimeout), NetworkTimeout, ExceededTimeLimit
        50 | 64 | 89 | 262 => StorageErrorKind::Timeout,
        // HostUnreachable, HostNotFound, ShutdownInProgress, PrimarySteppedDown,
        // SocketException, NotWritablePrimary, InterruptedAtShutdown,
        // InterruptedDueToReplStateChange, NotPrimaryNoSecondaryOk, NotPrimaryOrSecondary
        6 | 7 | 91 | 189 | 9001 | 10107 | 11600 | 11602 | 13435 | 13436 => {
            StorageErrorKind::Unavailable
        }
        DUPLICATE_KEY => StorageErrorKind::Constraint,
        // BSONObjectTooLarge
        10334 => StorageErrorKind::Limit,
        _ => StorageErrorKind::Internal,
    }
}

/// A field of a stored document that is missing or of another type: corrupt data.
pub(crate) fn field_error(e: mongodb::bson::error::Error) -> Error {
    StorageError::new(StorageErrorKind::Corrupt, e).into()
}

/// `query.all().await?`: runs a find and gathers every document it returns, with driver
/// errors turned into ours.
pub(crate) trait FindAll<T> {
    fn all(self) -> impl std::future::Future<Output = Result<Vec<T>>> + Send;
}

impl<Q, T> FindAll<T> for Q
where
    Q: std::future::IntoFuture<Output = mongodb::error::Result<mongodb::Cursor<T>>> + Send,
    Q::IntoFuture: Send,
    T: serde::de::DeserializeOwned + Send + Sync + Unpin,
{
    async fn all(self) -> Result<Vec<T>> {
        self.await
            .map_err(db_error)?
            .try_collect()
            .await
            .map_err(db_error)
    }
}

/// MongoDB's error code for a unique index refusing a write.
const DUPLICATE_KEY: i32 = 11000;

pub(crate) fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(m) => m
            .write_errors
            .iter()
            .flatten()
            .any(|w| w.code == DUPLICATE_KEY),
        ErrorKind::Command(c) => c.code == DUPLICATE_KEY,
        _ => false,
    }
}

impl MongoBackend {
    /// Connects to `uri` (database from the URI path, else [`DEFAULT_DATABASE`]) and makes
    /// sure the collections' indexes exist.
    pub async fn open(uri: &str) -> Result<Self> {
        let mut options = ClientOptions::parse(uri).await.map_err(db_error)?;
        if options.write_concern.as_ref().is_none_or(|w| w.w.is_none()) {
            options.write_concern = Some(
                WriteConcern::builder()
                    .w(Acknowledgment::Majority)
                    .journal(true)
                    .build(),
            );
        }
        options.app_name.get_or_insert_with(|| "wildduck-rs".into());
        let database = options
            .default_database
            .clone()
            .unwrap_or_else(|| DEFAULT_DATABASE.into());
        let client = Client::with_options(options).map_err(db_error)?;
        let db = client.database(&database);
        let backend = MongoBackend {
            users: db.collection("users"),
            addresses: db.collection("addresses"),
            mailboxes: db.collection("mailboxes"),
            messages: db.collection("messages"),
            journal: db.collection("journal"),
            blobs: db.collection("blobs"),
            chunks: db.collection("blob_chunks"),
            counters: db.collection("counters"),
            asps: db.collection("asps"),
            outbound: db.collection("outbound"),
            stored_files: db.collection("stored_files"),
            filters: db.collection("filters"),
            autoreplies: db.collection("autoreplies"),
            autoreplies_sent: db.collection("autoreplies_sent"),
            subscriptions: db.collection("dangling_subscriptions"),
            registry: db.collection("registry"),
            totp: db.collection("totp"),
            host: sequence::host_tag(),
        };
        backend.create_indexes().await?;
        Ok(backend)
    }

    async fn create_indexes(&self) -> Result<()> {
        fn index(keys: Document, unique: bool) -> IndexModel {
            IndexModel::builder()
                .keys(keys)
                .options(IndexOptions::builder().unique(unique).build())
                .build()
        }
        self.users
            .create_index(index(doc! {"unameview": 1}, true))
            .await
            .map_err(db_error)?;
        self.addresses
            .create_index(index(doc! {"addrview": 1}, true))
            .await
            .map_err(db_error)?;
        self.addresses
            .create_index(index(doc! {"user": 1}, false))
            .await
            .map_err(db_error)?;
        self.mailboxes
            .create_index(index(doc! {"user": 1, "path": 1}, true))
            .await
            .map_err(db_error)?;
        for (keys, unique) in [
            (doc! {"mailbox": 1, "uid": 1}, true),
            (doc! {"mailbox": 1, "modseq": 1}, false),
            (doc! {"user": 1}, false),
            (doc! {"blobs": 1}, false),
            (doc! {"expires": 1}, false),
        ] {
            self.messages
                .create_index(index(keys, unique))
                .await
                .map_err(db_error)?;
        }
        for keys in [doc! {"mailbox": 1, "modseq": 1}, doc! {"created": 1}] {
            self.journal
                .create_index(index(keys, false))
                .await
                .map_err(db_error)?;
        }
        self.chunks
            .create_index(index(doc! {"h": 1}, false))
            .await
            .map_err(db_error)?;
        self.asps
            .create_index(index(doc! {"user": 1, "selector": 1}, false))
            .await
            .map_err(db_error)?;
        self.subscriptions
            .create_index(index(doc! {"user": 1}, false))
            .await
            .map_err(db_error)?;
        self.registry
            .create_index(index(doc! {"kind": 1, "key": 1}, true))
            .await
            .map_err(db_error)?;
        self.outbound
            .create_index(index(doc! {"next_attempt": 1}, false))
            .await
            .map_err(db_error)?;
        for keys in [doc! {"user": 1, "filename": 1}, doc! {"blob": 1}] {
            self.stored_files
                .create_index(index(keys, false))
                .await
                .map_err(db_error)?;
        }
        for collection in [&self.filters, &self.autoreplies] {
            collection
                .create_index(index(doc! {"user": 1}, false))
                .await
                .map_err(db_error)?;
        }
        self.create_profile_indexes().await?;
        self.create_address_register_indexes().await?;
        self.create_auth_log_indexes().await?;
        self.create_access_token_indexes().await?;
        self.create_event_indexes().await?;
        Ok(())
    }

    fn raw_messages(&self) -> Collection<Document> {
        self.messages.clone_with_type()
    }

    async fn user_doc(&self, user: UserId) -> Result<UserDoc> {
        self.users
            .find_one(doc! {"_id": ObjectId::from(user)})
            .await
            .map_err(db_error)?
            .ok_or_else(|| UserError::NotFound.into())
    }

    /// Next UIDVALIDITY: seconds-based, but above every value handed out before.
    async fn next_uidvalidity(&self) -> Result<u32> {
        loop {
            let last = self
                .counters
                .find_one(doc! {"_id": "uidvalidity"})
                .await
                .map_err(db_error)?
                .and_then(|d| optional_int(&d, "value"));
            let next = (last.unwrap_or(0) + 1).max(now()).clamp(1, u32::MAX as i64);
            if last.is_some_and(|last| next <= last) {
                return Err(Defect::Exhausted("UIDVALIDITY space").into());
            }
            let taken = match last {
                None => match self
                    .counters
                    .insert_one(doc! {"_id": "uidvalidity", "value": next})
                    .await
                {
                    Ok(_) => true,
                    Err(e) if is_duplicate_key(&e) => false,
                    Err(e) => return Err(db_error(e)),
                },
                Some(last) => {
                    self.counters
                        .update_one(
                            doc! {"_id": "uidvalidity", "value": last},
                            doc! {"$set": {"value": next}},
                        )
                        .await
                        .map_err(db_error)?
                        .matched_count
                        == 1
                }
            };
            if taken {
                return Ok(next as u32);
            }
            telemetry::transaction_retry(Engine::Mongodb, Access::Write);
        }
    }

    async fn bump_counter(&self, key: &str, by: i64) -> Result<()> {
        self.counters
            .update_one(doc! {"_id": key}, doc! {"$inc": {"value": by}})
            .upsert(true)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}

impl Backend for MongoBackend {}
