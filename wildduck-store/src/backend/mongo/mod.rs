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
//!
//! Writes use write concern `majority` with journaling unless the URI sets `w` itself.

mod addressregister;
mod asps;
mod authlog;
mod blobs;
mod encryption;
mod expiry;
mod files;
mod keywords;
mod maintenance;
mod outbound;
mod profiles;
mod records;
mod registry;
mod rules;
mod sequence;
mod sort;
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

use self::records::*;
use self::sequence::Allocation;
use super::*;
use crate::error::{
    AddressError, Defect, Error, MailboxError, MessageError, StorageError, StorageErrorKind,
    UserError,
};
use crate::retention;

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
}

/// A driver failure by what a caller can do about it.
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

/// A message document about to go: what releasing it needs.
struct Removal {
    id: ObjectId,
    size: i64,
    blobs: Vec<String>,
}

impl From<&MessageDoc> for Removal {
    fn from(m: &MessageDoc) -> Self {
        Removal {
            id: m.id,
            size: m.size,
            blobs: m.blobs.clone(),
        }
    }
}

/// Visits the messages of `mailbox` whose UID is in `uids` and that are not being removed,
/// in UID order: one range query per range (ranges are sorted and disjoint).
async fn find_in_set<T>(
    collection: &Collection<T>,
    mailbox: MailboxId,
    uids: &UidSet,
    projection: Option<Document>,
) -> Result<Vec<T>>
where
    T: serde::de::DeserializeOwned + Unpin + Send + Sync,
{
    let mut out = Vec::new();
    for &(first, last) in uids.ranges() {
        let filter = doc! {
            "mailbox": id_is(mailbox),
            "uid": {"$gte": first as i64, "$lte": last as i64},
            "expunged": Bson::Null,
        };
        let found: Vec<T> = collection
            .find(filter)
            .with_options(
                mongodb::options::FindOptions::builder()
                    .sort(doc! {"uid": 1})
                    .projection(projection.clone())
                    .build(),
            )
            .all()
            .await?;
        out.extend(found);
    }
    Ok(out)
}

/// Whether a message belongs to a snapshot taken at `horizon`: it arrived at or before the
/// horizon and its removal (if any) commits after it.
fn visible_at(added: i64, expunged: Option<i64>, horizon: ModSeq) -> bool {
    let horizon = horizon as i64;
    added <= horizon && expunged.is_none_or(|at| at > horizon)
}

fn optional_int(doc: &Document, key: &str) -> Option<i64> {
    doc.get(key).and_then(bson_int)
}

/// The mailbox field holding the recent marker (absent until a session claims).
const RECENT_MARKER: &str = "recent_uid";

fn recent_marker_of(mailbox: &Document) -> Uid {
    optional_int(mailbox, RECENT_MARKER).map_or(0, |uid| uid.clamp(0, i64::from(Uid::MAX)) as Uid)
}

fn apply_flag_op(current: &Flags, op: FlagOp, given: &Flags) -> Flags {
    match op {
        FlagOp::Add => current.union(given).cloned().collect(),
        FlagOp::Remove => current.difference(given).cloned().collect(),
        FlagOp::Replace => given.clone(),
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

    async fn insert_mailbox(&self, user: UserId, new: &NewMailbox) -> Result<MailboxDoc> {
        let mut doc = MailboxDoc::new(
            user,
            &new.path,
            new.special_use,
            self.next_uidvalidity().await?,
        );
        doc.subscribed = new.subscribed;
        doc.hidden = new.settings.hidden;
        doc.retention = new
            .settings
            .retention
            .map(|ms| ms.min(i64::MAX as u64) as i64);
        match self.mailboxes.insert_one(&doc).await {
            Ok(_) => Ok(doc),
            Err(e) if is_duplicate_key(&e) => Err(MailboxError::AlreadyExists.into()),
            Err(e) => Err(db_error(e)),
        }
    }

    async fn create_missing(&self, user: UserId, paths: &[String], subscribed: bool) -> Result<()> {
        for path in paths {
            let new = NewMailbox {
                path: path.clone(),
                special_use: None,
                subscribed,
                settings: MailboxSettings::default(),
            };
            match self.insert_mailbox(user, &new).await {
                Ok(_) | Err(Error::Mailbox(MailboxError::AlreadyExists)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn path_exists(&self, user: UserId, path: &str) -> Result<bool> {
        Ok(self
            .mailboxes
            .find_one(doc! {"user": id_is(user), "path": path})
            .await
            .map_err(db_error)?
            .is_some())
    }

    /// Takes `needed` bytes of the user's quota in one guarded `$inc`: the filter names the
    /// quota just read and requires `storage_used ≤ quota − needed`, so concurrent
    /// reservations can never overshoot; a quota changed meanwhile makes us re-read.
    async fn reserve_quota(&self, user: UserId, needed: u64) -> Result<()> {
        let needed_i = needed.min(i64::MAX as u64) as i64;
        loop {
            let record = self.user_doc(user).await?;
            let filter = match record.quota {
                None => doc! {"_id": ObjectId::from(user), "quota": Bson::Null},
                Some(quota) if quota - needed_i < record.storage_used => {
                    let user = record.into_record().user;
                    return Err(MessageError::OverQuota {
                        used: user.storage_used,
                        needed,
                        quota: user.quota.unwrap_or(0),
                    }
                    .into());
                }
                Some(quota) => doc! {
                    "_id": ObjectId::from(user),
                    "quota": quota,
                    "storage_used": {"$lte": quota - needed_i},
                },
            };
            let reserved = self
                .users
                .update_one(filter, doc! {"$inc": {"storage_used": needed_i}})
                .await
                .map_err(db_error)?;
            if reserved.matched_count == 1 {
                return Ok(());
            }
        }
    }

    /// Moves `storage_used` by `delta`. Used after the change it accounts for (or to undo a
    /// reservation); a failure leaves drift for `verify`, so it is logged, not returned.
    async fn add_storage(&self, user: UserId, delta: i64) {
        if delta == 0 {
            return;
        }
        if let Err(e) = self
            .users
            .update_one(
                doc! {"_id": ObjectId::from(user)},
                doc! {"$inc": {"storage_used": delta}},
            )
            .await
        {
            tracing::warn!(%user, delta, error = %e, "could not adjust storage_used");
        }
    }

    /// Deletes message documents; whoever deletes a document releases its blobs (and quota
    /// of `quota_owner`), so two removers never release twice. Returns the deleted ones' ids.
    async fn remove_messages(
        &self,
        victims: &[Removal],
        quota_owner: Option<UserId>,
    ) -> Result<Vec<ObjectId>> {
        let mut freed = 0i64;
        let mut gone = Vec::with_capacity(victims.len());
        let mut failure = None;
        for victim in victims {
            match self.messages.delete_one(doc! {"_id": victim.id}).await {
                Ok(r) if r.deleted_count == 1 => {
                    self.release_blobs(&victim.blobs).await;
                    freed += victim.size;
                    gone.push(victim.id);
                }
                Ok(_) => {}
                Err(e) => {
                    failure = Some(db_error(e));
                    break;
                }
            }
        }
        if let Some(owner) = quota_owner {
            self.add_storage(owner, -freed).await;
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(gone),
        }
    }

    /// Deletes a mailbox document, then its messages (releasing blobs and, when
    /// `release_quota`, the owner's quota) and its journal.
    async fn drop_mailbox(&self, mailbox: &MailboxDoc, release_quota: bool) -> Result<()> {
        let deleted = self
            .mailboxes
            .delete_one(doc! {"_id": mailbox.id})
            .await
            .map_err(db_error)?;
        if deleted.deleted_count == 0 {
            return Err(MailboxError::NotFound.into());
        }
        let messages: Vec<Removal> = self
            .raw_messages()
            .find(doc! {"mailbox": id_is(mailbox.id)})
            .projection(doc! {"_id": 1, "size": 1, "blobs": 1})
            .all()
            .await?
            .iter()
            .map(removal_from_doc)
            .collect::<Result<_>>()?;
        let owner = release_quota.then_some(UserId::from(mailbox.user));
        self.remove_messages(&messages, owner).await?;
        self.journal
            .delete_many(doc! {"mailbox": id_is(mailbox.id)})
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// The full documents of the messages of `uids` not being removed, in UID order.
    async fn messages_in(&self, mailbox: MailboxId, uids: &UidSet) -> Result<Vec<MessageDoc>> {
        find_in_set(&self.messages, mailbox, uids, None).await
    }

    async fn insert_journal(&self, entries: Vec<Document>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.journal.insert_many(entries).await.map_err(db_error)?;
        Ok(())
    }

    /// Gives back what an operation took before it failed: the pending MODSEQ (left as a
    /// gap), its journal entries, the documents it inserted, their blobs and quota.
    async fn undo(
        &self,
        allocation: Option<&Allocation>,
        inserted: &[Removal],
        not_inserted_blobs: &[String],
        quota: Option<(UserId, i64)>,
    ) {
        if let Some(allocation) = allocation {
            let entries = doc! {
                "mailbox": id_is(allocation.mailbox),
                "modseq": allocation.modseq as i64,
            };
            if let Err(e) = self.journal.delete_many(entries).await {
                tracing::warn!(error = %e, "could not remove journal entries of a failed change");
            }
        }
        let removed = self
            .remove_messages(inserted, None)
            .await
            .unwrap_or_default();
        self.release_blobs(not_inserted_blobs).await;
        if let Some((user, reserved)) = quota {
            // Documents someone else removed had their quota released by that remover.
            let released_by_others: i64 = inserted
                .iter()
                .filter(|r| !removed.contains(&r.id))
                .map(|r| r.size)
                .sum();
            self.add_storage(user, -(reserved - released_by_others))
                .await;
        }
        if let Some(allocation) = allocation
            && let Err(e) = self.commit(allocation).await
        {
            tracing::warn!(error = %e, "could not end a failed change's pending MODSEQ");
        }
    }
}

impl MongoBackend {
    /// Marks messages as leaving with the allocation's MODSEQ and journals each one that
    /// was still there (and, for an expunge, still `\Deleted`). Returns the marked ones.
    async fn mark_expunged(
        &self,
        allocation: &Allocation,
        messages: &[MessageDoc],
        require_deleted: bool,
    ) -> Result<Vec<Removal>> {
        let mut marked = Vec::new();
        let mut entries = Vec::new();
        for m in messages {
            let mut filter = doc! {"_id": m.id, "expunged": Bson::Null};
            if require_deleted {
                filter.insert("deleted", true);
            }
            let result = self
                .messages
                .update_one(
                    filter,
                    doc! {"$set": {"expunged": allocation.modseq as i64}},
                )
                .await
                .map_err(db_error)?;
            if result.matched_count == 1 {
                marked.push(Removal::from(m));
                entries.push(journal_entry(
                    allocation.mailbox,
                    allocation.modseq,
                    m.uid as Uid,
                    KIND_EXPUNGE,
                    None,
                ));
            }
        }
        self.insert_journal(entries).await?;
        Ok(marked)
    }

    /// Writes new flags with the allocation's MODSEQ, each message by compare-and-set on its
    /// MODSEQ so a concurrent change is never overwritten: on a lost race the message is
    /// re-read and the operation applied to its new flags. Records each result in
    /// `results`; returns whether anything changed.
    async fn apply_flags(
        &self,
        allocation: &Allocation,
        messages: Vec<MessageDoc>,
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<ModSeq>,
        results: &mut BTreeMap<Uid, Option<(Flags, ModSeq)>>,
    ) -> Result<bool> {
        let modseq = allocation.modseq;
        let mut entries = Vec::new();
        for mut m in messages {
            loop {
                let old = flags_from_strings(&m.flags);
                let new = apply_flag_op(&old, op, flags);
                let uid = m.uid as Uid;
                if unchanged_since.is_some_and(|limit| m.modseq as u64 > limit) {
                    results.insert(uid, None);
                    break;
                }
                if new == old {
                    results.insert(uid, Some((old, m.modseq as u64)));
                    break;
                }
                let mut set = flag_fields(&new);
                set.insert("modseq", modseq as i64);
                let result = self
                    .messages
                    .update_one(
                        doc! {"_id": m.id, "modseq": m.modseq, "expunged": Bson::Null},
                        doc! {"$set": set},
                    )
                    .await
                    .map_err(db_error)?;
                if result.matched_count == 1 {
                    entries.push(journal_entry(
                        allocation.mailbox,
                        modseq,
                        uid,
                        KIND_FLAGS,
                        Some(&new),
                    ));
                    results.insert(uid, Some((new, modseq)));
                    break;
                }
                match self
                    .messages
                    .find_one(doc! {"_id": m.id, "expunged": Bson::Null})
                    .await
                    .map_err(db_error)?
                {
                    Some(fresh) => m = fresh,
                    None => {
                        results.remove(&uid);
                        break;
                    }
                }
            }
        }
        let changed = !entries.is_empty();
        self.insert_journal(entries).await?;
        Ok(changed)
    }
}

fn removal_from_doc(doc: &Document) -> Result<Removal> {
    Ok(Removal {
        id: doc.get_object_id("_id").map_err(field_error)?,
        size: int_field(doc, "size")?,
        blobs: string_list(doc, "blobs"),
    })
}

#[async_trait]
impl Backend for MongoBackend {
    async fn create_user(
        &self,
        record: UserRecord,
        mailboxes: Vec<NewMailbox>,
        address: Option<Address>,
    ) -> Result<()> {
        if self.user_by_unameview(&record.unameview).await?.is_some() {
            return Err(UserError::AlreadyExists.into());
        }
        let user = record.user.id;
        // Address and mailboxes first, the user document last: the account becomes
        // visible complete, and its unique unameview is the final guard.
        if let Some(address) = &address {
            match self.addresses.insert_one(AddressDoc::from(address)).await {
                Ok(_) => {}
                Err(e) if is_duplicate_key(&e) => return Err(AddressError::AlreadyExists.into()),
                Err(e) => return Err(db_error(e)),
            }
        }
        let mut result = Ok(());
        for mailbox in &mailboxes {
            if let Err(e) = self.insert_mailbox(user, mailbox).await {
                result = Err(e);
                break;
            }
        }
        if result.is_ok() {
            result = match self.users.insert_one(UserDoc::from_record(&record)).await {
                Ok(_) => Ok(()),
                Err(e) if is_duplicate_key(&e) => Err(UserError::AlreadyExists.into()),
                Err(e) => Err(db_error(e)),
            };
        }
        if result.is_err() {
            let _ = self.mailboxes.delete_many(doc! {"user": id_is(user)}).await;
            let _ = self.addresses.delete_many(doc! {"user": id_is(user)}).await;
        }
        result
    }

    async fn user_by_id(&self, user: UserId) -> Result<Option<UserRecord>> {
        Ok(self
            .users
            .find_one(doc! {"_id": ObjectId::from(user)})
            .await
            .map_err(db_error)?
            .map(UserDoc::into_record))
    }

    async fn user_by_unameview(&self, unameview: &str) -> Result<Option<UserRecord>> {
        Ok(self
            .users
            .find_one(doc! {"unameview": unameview})
            .await
            .map_err(db_error)?
            .map(UserDoc::into_record))
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        let docs: Vec<UserDoc> = self
            .users
            .find(doc! {})
            .sort(doc! {"unameview": 1})
            .all()
            .await?;
        Ok(docs.into_iter().map(|d| d.into_record().user).collect())
    }

    async fn update_user(&self, user: UserId, update: UserUpdate) -> Result<()> {
        let set = match update {
            UserUpdate::PasswordHash(hash) => doc! {"password": hash},
            UserUpdate::Quota(quota) => {
                doc! {"quota": quota.map(|q| q.min(i64::MAX as u64) as i64)}
            }
            UserUpdate::Disabled(disabled) => doc! {"disabled": disabled},
            UserUpdate::Suspended(suspended) => doc! {"suspended": suspended},
            UserUpdate::DisabledScopes(scopes) => {
                doc! {"disabled_scopes": scopes.iter().map(|s| s.name()).collect::<Vec<_>>()}
            }
        };
        let result = self
            .users
            .update_one(doc! {"_id": ObjectId::from(user)}, doc! {"$set": set})
            .await
            .map_err(db_error)?;
        if result.matched_count == 0 {
            return Err(UserError::NotFound.into());
        }
        Ok(())
    }

    async fn delete_user(&self, user: UserId) -> Result<Vec<Wake>> {
        self.user_doc(user).await?;
        let mailboxes: Vec<MailboxDoc> = self
            .mailboxes
            .find(doc! {"user": id_is(user)})
            .all()
            .await?;
        // The user document goes first: quota reservations for new mail fail from now on.
        self.users
            .delete_one(doc! {"_id": ObjectId::from(user)})
            .await
            .map_err(db_error)?;
        let addresses: Vec<AddressDoc> = self
            .addresses
            .find(doc! {"user": id_is(user)})
            .all()
            .await?;
        self.addresses
            .delete_many(doc! {"user": id_is(user)})
            .await
            .map_err(db_error)?;
        let addresses = addresses.into_iter().map(|a| Address::from(a).id).collect();
        self.drop_address_details(addresses).await?;
        self.drop_user_profile(user).await?;
        self.drop_address_register(user).await?;
        self.asps
            .delete_many(doc! {"user": id_is(user)})
            .await
            .map_err(db_error)?;
        self.delete_user_rules(user).await?;
        self.delete_totp(user).await?;
        self.subscriptions
            .delete_many(doc! {"user": id_is(user)})
            .await
            .map_err(db_error)?;
        let mut wakes = Vec::new();
        for mailbox in &mailboxes {
            match self.drop_mailbox(mailbox, false).await {
                Ok(()) | Err(Error::Mailbox(MailboxError::NotFound)) => {}
                Err(e) => return Err(e),
            }
            wakes.push(Wake {
                user,
                mailbox: MailboxId::from(mailbox.id),
                modseq: mailbox.modseq as u64 + 1,
            });
        }
        Ok(wakes)
    }

    async fn add_address(&self, address: Address) -> Result<()> {
        self.user_doc(address.user).await?;
        if self.forwarded_view_taken(&address.addrview).await? {
            return Err(AddressError::AlreadyExists.into());
        }
        match self.addresses.insert_one(AddressDoc::from(&address)).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => Err(AddressError::AlreadyExists.into()),
            Err(e) => Err(db_error(e)),
        }
    }

    async fn remove_address(&self, user: UserId, addrview: &str) -> Result<()> {
        let filter = doc! {"user": id_is(user), "addrview": addrview};
        let found = self
            .addresses
            .find_one(filter.clone())
            .await
            .map_err(db_error)?
            .ok_or(AddressError::NotFound)?;
        let removed = self.addresses.delete_one(filter).await.map_err(db_error)?;
        if removed.deleted_count == 0 {
            return Err(AddressError::NotFound.into());
        }
        self.drop_address_details(vec![Address::from(found).id])
            .await
    }

    async fn list_addresses(&self, user: UserId) -> Result<Vec<Address>> {
        self.user_doc(user).await?;
        let docs: Vec<AddressDoc> = self
            .addresses
            .find(doc! {"user": id_is(user)})
            .sort(doc! {"address": 1})
            .all()
            .await?;
        Ok(docs.into_iter().map(Address::from).collect())
    }

    async fn address_by_view(&self, addrview: &str) -> Result<Option<Address>> {
        Ok(self
            .addresses
            .find_one(doc! {"addrview": addrview})
            .await
            .map_err(db_error)?
            .map(Address::from))
    }

    async fn list_mailboxes(&self, user: UserId) -> Result<Vec<Mailbox>> {
        self.user_doc(user).await?;
        let docs: Vec<MailboxDoc> = self
            .mailboxes
            .find(doc! {"user": id_is(user)})
            .all()
            .await?;
        // Sorted here by byte order of the path, as SQLite's ORDER BY path does.
        let mut list: Vec<Mailbox> = docs.iter().map(MailboxDoc::to_model).collect();
        list.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(list)
    }

    async fn mailbox_by_path(&self, user: UserId, path: &str) -> Result<Option<Mailbox>> {
        Ok(self
            .mailboxes
            .find_one(doc! {"user": id_is(user), "path": path})
            .await
            .map_err(db_error)?
            .map(|d| d.to_model()))
    }

    async fn mailbox_by_id(&self, mailbox: MailboxId) -> Result<Option<Mailbox>> {
        Ok(self
            .mailboxes
            .find_one(doc! {"_id": ObjectId::from(mailbox)})
            .await
            .map_err(db_error)?
            .map(|d| d.to_model()))
    }

    async fn create_mailbox(
        &self,
        user: UserId,
        parents: Vec<String>,
        mailbox: NewMailbox,
    ) -> Result<Mailbox> {
        self.user_doc(user).await?;
        if self.path_exists(user, &mailbox.path).await? {
            return Err(MailboxError::AlreadyExists.into());
        }
        self.create_missing(user, &parents, mailbox.subscribed)
            .await?;
        Ok(self.insert_mailbox(user, &mailbox).await?.to_model())
    }

    async fn rename_mailbox_tree(
        &self,
        user: UserId,
        from: &str,
        to: &str,
        to_parents: Vec<String>,
    ) -> Result<()> {
        self.user_doc(user).await?;
        if !self.path_exists(user, from).await? {
            return Err(MailboxError::NotFound.into());
        }
        let prefix = format!("{from}/");
        let all: Vec<MailboxDoc> = self
            .mailboxes
            .find(doc! {"user": id_is(user)})
            .all()
            .await?;
        let renamed: Vec<(ObjectId, String, String)> = all
            .into_iter()
            .filter(|m| m.path == from || m.path.starts_with(&prefix))
            .map(|m| {
                let new_path = format!("{to}{}", &m.path[from.len()..]);
                (m.id, m.path, new_path)
            })
            .collect();
        for (_, _, new_path) in &renamed {
            if self.path_exists(user, new_path).await? {
                return Err(MailboxError::AlreadyExists.into());
            }
        }
        for (done, (id, _, new_path)) in renamed.iter().enumerate() {
            let result = self
                .mailboxes
                .update_one(doc! {"_id": id}, doc! {"$set": {"path": new_path}})
                .await;
            if let Err(e) = result {
                // Put back what moved already, so the tree is never half renamed.
                for (id, old_path, _) in &renamed[..done] {
                    let _ = self
                        .mailboxes
                        .update_one(doc! {"_id": id}, doc! {"$set": {"path": old_path}})
                        .await;
                }
                return Err(if is_duplicate_key(&e) {
                    MailboxError::AlreadyExists.into()
                } else {
                    db_error(e)
                });
            }
        }
        self.create_missing(user, &to_parents, true).await
    }

    async fn delete_mailbox(&self, mailbox: MailboxId) -> Result<Vec<Wake>> {
        let record = self.mailbox_doc(mailbox).await?;
        self.drop_mailbox(&record, true).await?;
        Ok(vec![Wake {
            user: UserId::from(record.user),
            mailbox,
            modseq: record.modseq as u64 + 1,
        }])
    }

    async fn set_subscribed(&self, mailbox: MailboxId, subscribed: bool) -> Result<()> {
        let result = self
            .mailboxes
            .update_one(
                doc! {"_id": ObjectId::from(mailbox)},
                doc! {"$set": {"subscribed": subscribed}},
            )
            .await
            .map_err(db_error)?;
        if result.matched_count == 0 {
            return Err(MailboxError::NotFound.into());
        }
        Ok(())
    }

    async fn claim_recent(&self, mailbox: MailboxId, up_to: Uid) -> Result<Uid> {
        // `$max` on one document is atomic; the document as it was tells what this claim won.
        let before = self
            .mailboxes
            .clone_with_type::<Document>()
            .find_one_and_update(
                doc! {"_id": ObjectId::from(mailbox)},
                doc! {"$max": {RECENT_MARKER: i64::from(up_to)}},
            )
            .projection(doc! {RECENT_MARKER: 1})
            .return_document(ReturnDocument::Before)
            .await
            .map_err(db_error)?
            .ok_or(MailboxError::NotFound)?;
        Ok(recent_marker_of(&before))
    }

    async fn recent_marker(&self, mailbox: MailboxId) -> Result<Uid> {
        let record = self
            .mailboxes
            .clone_with_type::<Document>()
            .find_one(doc! {"_id": ObjectId::from(mailbox)})
            .projection(doc! {RECENT_MARKER: 1})
            .await
            .map_err(db_error)?
            .ok_or(MailboxError::NotFound)?;
        Ok(recent_marker_of(&record))
    }

    async fn mailbox_status(&self, mailbox: MailboxId) -> Result<MailboxStatus> {
        let record = self.mailbox_doc(mailbox).await?;
        let horizon = record.horizon();
        let mut cursor = self
            .raw_messages()
            .find(doc! {"mailbox": id_is(mailbox)})
            .projection(doc! {"added": 1, "expunged": 1, "seen": 1, "size": 1})
            .await
            .map_err(db_error)?;
        let (mut messages, mut unseen, mut size) = (0u32, 0u32, 0u64);
        while let Some(m) = cursor.try_next().await.map_err(db_error)? {
            if visible_at(
                int_field(&m, "added")?,
                optional_int(&m, "expunged"),
                horizon,
            ) {
                messages += 1;
                unseen += u32::from(!bool_field(&m, "seen"));
                size += int_field(&m, "size")?.max(0) as u64;
            }
        }
        let model = record.to_model();
        Ok(MailboxStatus {
            messages,
            unseen,
            uidnext: model.uidnext,
            uidvalidity: model.uidvalidity,
            highest_modseq: horizon,
            size,
        })
    }

    async fn quota_of_mailbox(&self, mailbox: MailboxId) -> Result<(u64, Option<u64>)> {
        let record = self.mailbox_doc(mailbox).await?;
        let user = self
            .user_doc(UserId::from(record.user))
            .await?
            .into_record()
            .user;
        Ok((user.storage_used, user.quota))
    }

    async fn append(
        &self,
        mailbox: MailboxId,
        message: NewMessage,
    ) -> Result<(AppendOutcome, Vec<Wake>)> {
        let target = self.mailbox_doc(mailbox).await?;
        let user = UserId::from(target.user);
        let size = message.size.min(i64::MAX as u64) as i64;
        self.reserve_quota(user, message.size).await?;
        let hashes = match self.reference_new_blobs(&message.content.blobs).await {
            Ok(hashes) => hashes,
            Err(e) => {
                self.add_storage(user, -size).await;
                return Err(e);
            }
        };
        let allocation = match self.allocate(mailbox, 1).await {
            Ok(allocation) => allocation,
            Err(e) => {
                self.undo(None, &[], &hashes, Some((user, size))).await;
                return Err(e);
            }
        };
        let modseq = allocation.modseq as i64;
        let doc = MessageDoc {
            id: ObjectId::from(message.id),
            mailbox: ObjectId::from(mailbox),
            user: ObjectId::from(user),
            uid: allocation.first_uid as i64,
            modseq,
            added: modseq,
            expunged: None,
            flags: flags_to_strings(&message.flags),
            seen: message.flags.contains(&Flag::Seen),
            deleted: message.flags.contains(&Flag::Deleted),
            idate: message.internal_date,
            hdate: message.header_date,
            size,
            msgid: message.message_id,
            subject: message.subject,
            envelope: to_document(&message.envelope)?,
            bodystructure: to_document(&message.body_structure)?,
            layout_len: message.content.layout.len() as i64,
            layout: binary(message.content.layout),
            blobs: hashes.clone(),
            search_headers: message.search_headers,
            search_body: message.search_body,
            expires: retention::expiry(&target.to_model(), now()),
        };
        let inserted = self.messages.insert_one(&doc).await.map_err(db_error);
        let written = match inserted {
            Ok(_) => async {
                self.insert_journal(vec![journal_entry(
                    mailbox,
                    allocation.modseq,
                    allocation.first_uid,
                    KIND_EXISTS,
                    None,
                )])
                .await?;
                self.commit(&allocation).await
            }
            .await
            .map_err(|e| (e, vec![Removal::from(&doc)], Vec::new())),
            Err(e) => Err((e, Vec::new(), hashes)),
        };
        if let Err((e, inserted, blobs)) = written {
            self.undo(Some(&allocation), &inserted, &blobs, Some((user, size)))
                .await;
            return Err(e);
        }
        Ok((
            AppendOutcome {
                id: message.id,
                uid: allocation.first_uid,
                modseq: allocation.modseq,
                uidvalidity: allocation.uidvalidity,
                size: message.size,
            },
            vec![Wake {
                user,
                mailbox,
                modseq: allocation.modseq,
            }],
        ))
    }

    async fn transfer(
        &self,
        source: MailboxId,
        uids: &UidSet,
        target: MailboxId,
        transfer: Transfer,
    ) -> Result<(CopyOutcome, Vec<Wake>)> {
        let from = self.mailbox_doc(source).await?;
        let to = self.mailbox_doc(target).await?;
        let picked = self.messages_in(source, uids).await?;
        if picked.is_empty() {
            return Ok((
                CopyOutcome {
                    uidvalidity: to.uidvalidity as u32,
                    pairs: Vec::new(),
                    modseq: None,
                },
                Vec::new(),
            ));
        }
        let (from_user, to_user) = (UserId::from(from.user), UserId::from(to.user));
        let total: i64 = picked.iter().map(|m| m.size).sum();
        let quota_moves = transfer == Transfer::Copy || from_user != to_user;
        let reservation = quota_moves.then_some((to_user, total));
        if quota_moves {
            self.reserve_quota(to_user, total as u64).await?;
        }
        let mut referenced: Vec<String> = Vec::new();
        for hash in picked.iter().flat_map(|m| &m.blobs) {
            match self.add_reference(hash).await {
                Ok(true) => referenced.push(hash.clone()),
                outcome => {
                    self.undo(None, &[], &referenced, reservation).await;
                    return Err(match outcome {
                        Err(e) => e,
                        _ => Defect::MissingBlob(hash.clone()).into(),
                    });
                }
            }
        }
        let allocation = match self.allocate(target, picked.len() as u32).await {
            Ok(a) => a,
            Err(e) => {
                self.undo(None, &[], &referenced, reservation).await;
                return Err(e);
            }
        };
        let modseq = allocation.modseq as i64;
        let expires = retention::expiry(&to.to_model(), now());
        let mut copies: Vec<Removal> = Vec::with_capacity(picked.len());
        let mut pairs = Vec::with_capacity(picked.len());
        let mut entries = Vec::with_capacity(picked.len());
        let mut failure = None;
        for (i, original) in picked.iter().enumerate() {
            let new_uid = allocation.first_uid + i as u32;
            let copy = MessageDoc {
                id: ObjectId::new(),
                mailbox: ObjectId::from(target),
                user: ObjectId::from(to_user),
                uid: new_uid as i64,
                modseq,
                added: modseq,
                expunged: None,
                expires,
                ..original.clone()
            };
            if let Err(e) = self.messages.insert_one(&copy).await {
                failure = Some(db_error(e));
                break;
            }
            copies.push(Removal::from(&copy));
            pairs.push((original.uid as u32, new_uid));
            entries.push(journal_entry(
                target,
                allocation.modseq,
                new_uid,
                KIND_EXISTS,
                None,
            ));
        }
        let written = match failure {
            Some(e) => Err(e),
            None => self.insert_journal(entries).await,
        };
        if let Err(e) = written {
            let copied_blobs: usize = copies.iter().map(|c| c.blobs.len()).sum();
            self.undo(
                Some(&allocation),
                &copies,
                &referenced[copied_blobs..],
                reservation,
            )
            .await;
            return Err(e);
        }
        let mut wakes = vec![Wake {
            user: to_user,
            mailbox: target,
            modseq: allocation.modseq,
        }];
        if transfer == Transfer::Copy {
            self.commit(&allocation).await?;
            return Ok((
                CopyOutcome {
                    uidvalidity: allocation.uidvalidity,
                    pairs,
                    modseq: Some(allocation.modseq),
                },
                wakes,
            ));
        }
        // Move: the copies are written; now take the originals out of the source.
        let removal = self.allocate(source, 0).await;
        let committed = self.commit(&allocation).await;
        let removal = removal?;
        committed?;
        let marked = self.mark_expunged(&removal, &picked, false).await;
        let committed = self.commit(&removal).await;
        let marked = marked?;
        committed?;
        let owner = (from_user != to_user).then_some(from_user);
        self.remove_messages(&marked, owner).await?;
        wakes.push(Wake {
            user: from_user,
            mailbox: source,
            modseq: removal.modseq,
        });
        Ok((
            CopyOutcome {
                uidvalidity: allocation.uidvalidity,
                pairs,
                modseq: Some(allocation.modseq),
            },
            wakes,
        ))
    }

    async fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<ModSeq>,
    ) -> Result<(FlagsOutcome, Vec<Wake>)> {
        let record = self.mailbox_doc(mailbox).await?;
        let current = self.messages_in(mailbox, uids).await?;
        // uid → (flags, modseq) after the command, or None when UNCHANGEDSINCE refused it.
        let mut results: BTreeMap<Uid, Option<(Flags, ModSeq)>> = BTreeMap::new();
        let mut to_change = Vec::new();
        for m in current {
            let old = flags_from_strings(&m.flags);
            let new = apply_flag_op(&old, op, flags);
            if unchanged_since.is_some_and(|limit| m.modseq as u64 > limit) {
                results.insert(m.uid as u32, None);
            } else if new == old {
                results.insert(m.uid as u32, Some((old, m.modseq as u64)));
            } else {
                to_change.push(m);
            }
        }
        let mut outcome_modseq = None;
        if !to_change.is_empty() {
            let allocation = self.allocate(mailbox, 0).await?;
            let changed = self
                .apply_flags(
                    &allocation,
                    to_change,
                    op,
                    flags,
                    unchanged_since,
                    &mut results,
                )
                .await;
            let committed = self.commit(&allocation).await;
            if changed? {
                outcome_modseq = Some(allocation.modseq);
            }
            committed?;
        }
        let mut outcome = FlagsOutcome {
            modseq: outcome_modseq,
            updated: Vec::new(),
            modified: Vec::new(),
        };
        for (uid, result) in results {
            match result {
                Some((flags, modseq)) => outcome.updated.push((uid, flags, modseq)),
                None => outcome.modified.push(uid),
            }
        }
        let wakes = outcome_modseq
            .map(|modseq| Wake {
                user: UserId::from(record.user),
                mailbox,
                modseq,
            })
            .into_iter()
            .collect();
        Ok((outcome, wakes))
    }

    async fn expunge(
        &self,
        mailbox: MailboxId,
        uids: Option<&UidSet>,
    ) -> Result<(ExpungeOutcome, Vec<Wake>)> {
        let uids = uids.cloned().unwrap_or_else(UidSet::all);
        let record = self.mailbox_doc(mailbox).await?;
        let candidates: Vec<MessageDoc> = self
            .messages_in(mailbox, &uids)
            .await?
            .into_iter()
            .filter(|m| m.deleted)
            .collect();
        if candidates.is_empty() {
            return Ok((
                ExpungeOutcome {
                    uids: Vec::new(),
                    modseq: None,
                },
                Vec::new(),
            ));
        }
        let allocation = self.allocate(mailbox, 0).await?;
        let marked = self.mark_expunged(&allocation, &candidates, true).await;
        let committed = self.commit(&allocation).await;
        let marked = marked?;
        committed?;
        self.remove_messages(&marked, Some(UserId::from(record.user)))
            .await?;
        let by_id: HashMap<ObjectId, Uid> =
            candidates.iter().map(|m| (m.id, m.uid as u32)).collect();
        let mut expunged: Vec<Uid> = marked
            .iter()
            .filter_map(|r| by_id.get(&r.id))
            .copied()
            .collect();
        expunged.sort_unstable();
        if expunged.is_empty() {
            return Ok((
                ExpungeOutcome {
                    uids: expunged,
                    modseq: None,
                },
                Vec::new(),
            ));
        }
        Ok((
            ExpungeOutcome {
                uids: expunged,
                modseq: Some(allocation.modseq),
            },
            vec![Wake {
                user: UserId::from(record.user),
                mailbox,
                modseq: allocation.modseq,
            }],
        ))
    }

    async fn snapshot(&self, mailbox: MailboxId) -> Result<Snapshot> {
        let record = self.mailbox_doc(mailbox).await?;
        let horizon = record.horizon();
        let mut cursor = self
            .raw_messages()
            .find(doc! {"mailbox": id_is(mailbox)})
            .projection(doc! {"uid": 1, "added": 1, "expunged": 1})
            .sort(doc! {"uid": 1})
            .await
            .map_err(db_error)?;
        let mut uids = Vec::new();
        while let Some(m) = cursor.try_next().await.map_err(db_error)? {
            if visible_at(
                int_field(&m, "added")?,
                optional_int(&m, "expunged"),
                horizon,
            ) {
                uids.push(int_field(&m, "uid")? as Uid);
            }
        }
        let model = record.to_model();
        Ok(Snapshot {
            uids,
            uidvalidity: model.uidvalidity,
            uidnext: model.uidnext,
            highest_modseq: horizon,
        })
    }

    async fn changes_since(&self, mailbox: MailboxId, modseq: ModSeq) -> Result<Changes> {
        let record = self.mailbox_doc(mailbox).await?;
        let horizon = record.horizon();
        let entries: Vec<Document> = self
            .journal
            .find(doc! {
                "mailbox": id_is(mailbox),
                "modseq": {"$gt": modseq.min(i64::MAX as u64) as i64, "$lte": horizon as i64},
            })
            .sort(doc! {"modseq": 1, "uid": 1})
            .all()
            .await?;
        Ok(Changes {
            changes: entries
                .iter()
                .map(change_from_entry)
                .collect::<Result<_>>()?,
            highest_modseq: horizon,
            truncated: (modseq as i64) < record.journal_floor,
        })
    }

    async fn fetch_meta(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        fields: MetaFields,
    ) -> Result<Vec<MessageMeta>> {
        self.mailbox_doc(mailbox).await?;
        let mut projection = doc! {
            "uid": 1, "modseq": 1, "flags": 1, "idate": 1, "hdate": 1, "size": 1,
        };
        if fields.envelope {
            projection.insert("envelope", 1);
        }
        if fields.body_structure {
            projection.insert("bodystructure", 1);
        }
        let docs = find_in_set(&self.raw_messages(), mailbox, uids, Some(projection)).await?;
        docs.into_iter()
            .map(|mut m| {
                let flags = string_list(&m, "flags");
                let envelope = m
                    .remove("envelope")
                    .and_then(|e| e.as_document().cloned())
                    .map(from_document::<Envelope>)
                    .transpose()?;
                let body_structure = m
                    .remove("bodystructure")
                    .and_then(|b| b.as_document().cloned())
                    .map(from_document::<BodyStructure>)
                    .transpose()?;
                Ok(MessageMeta {
                    id: MessageId::from(m.get_object_id("_id").map_err(field_error)?),
                    uid: int_field(&m, "uid")? as Uid,
                    modseq: int_field(&m, "modseq")? as ModSeq,
                    flags: flags_from_strings(&flags),
                    internal_date: int_field(&m, "idate")?,
                    header_date: optional_int(&m, "hdate"),
                    size: int_field(&m, "size")?.max(0) as u64,
                    envelope,
                    body_structure,
                })
            })
            .collect()
    }

    async fn load_content(&self, mailbox: MailboxId, uid: Uid) -> Result<ContentRead> {
        let mut m = self
            .raw_messages()
            .find_one(doc! {"mailbox": id_is(mailbox), "uid": uid as i64})
            .projection(doc! {"layout": 1, "blobs": 1})
            .await
            .map_err(db_error)?
            .ok_or(MessageError::NotFound)?;
        let layout = std::mem::take(m.get_binary_generic_mut("layout").map_err(field_error)?);
        let blobs = self.read_blobs(&string_list(&m, "blobs")).await?;
        Ok(ContentRead { layout, blobs })
    }

    async fn search(&self, mailbox: MailboxId, key: &SearchKey) -> Result<Vec<Uid>> {
        self.mailbox_doc(mailbox).await?;
        let text = crate::search::text_needed(key);
        let mut projection = doc! {
            "uid": 1, "modseq": 1, "flags": 1, "idate": 1, "hdate": 1, "size": 1,
        };
        if text.headers {
            projection.insert("search_headers", 1);
        }
        if text.body {
            projection.insert("search_body", 1);
        }
        let docs: Vec<Document> = self
            .raw_messages()
            .find(doc! {"mailbox": id_is(mailbox), "expunged": Bson::Null})
            .projection(projection)
            .sort(doc! {"uid": 1})
            .all()
            .await?;
        let matcher = crate::search::Matcher::new(key);
        // Matching every message of a big mailbox is CPU work: off the async runtime.
        tokio::task::spawn_blocking(move || {
            let mut found = Vec::new();
            for m in &docs {
                let row = SearchRow {
                    uid: int_field(m, "uid")? as Uid,
                    modseq: int_field(m, "modseq")? as ModSeq,
                    flags: flags_from_strings(&string_list(m, "flags")),
                    internal_date: int_field(m, "idate")?,
                    header_date: optional_int(m, "hdate"),
                    size: int_field(m, "size")?.max(0) as u64,
                    search_headers: m.get_str("search_headers").ok(),
                    search_body: m.get_str("search_body").ok(),
                };
                if matcher.matches(&row) {
                    found.push(row.uid);
                }
            }
            Ok(found)
        })
        .await?
    }

    async fn enqueue(
        &self,
        sent: Option<(MailboxId, NewMessage)>,
        entries: Vec<OutboundEntry>,
    ) -> Result<(Option<AppendOutcome>, Vec<Wake>)> {
        self.enqueue_entries(sent, entries).await
    }

    async fn claim_outbound(
        &self,
        now: Timestamp,
        until: Timestamp,
        lease: RecordId,
        limit: usize,
    ) -> Result<Vec<OutboundEntry>> {
        self.claim_entries(now, until, lease, limit).await
    }

    async fn finish_outbound(
        &self,
        id: OutboundId,
        lease: RecordId,
        next: Option<OutboundEntry>,
        dsn: Option<(MailboxId, NewMessage)>,
    ) -> Result<(bool, Vec<Wake>)> {
        self.finish_entry(id, lease, next, dsn).await
    }

    async fn list_outbound(&self) -> Result<Vec<OutboundEntry>> {
        self.list_entries().await
    }

    async fn stats(&self) -> Result<StoreStats> {
        self.collect_stats().await
    }

    async fn verify(&self, repair: bool) -> Result<VerifyReport> {
        self.check_consistency(repair).await
    }

    async fn gc(&self, grace_secs: u64) -> Result<u64> {
        self.collect_blobs(grace_secs).await
    }

    async fn backup(&self, _target: &Path) -> Result<()> {
        Err(StorageError::from(Defect::Unsupported(
            "backup of a MongoDB store: use mongodump, which copies a replica set consistently",
        ))
        .into())
    }

    async fn trim_journal(&self, max_age_secs: u64) -> Result<u64> {
        let cutoff = now() - max_age_secs.min(i64::MAX as u64) as i64;
        let old: Vec<Document> = self
            .journal
            .find(doc! {"created": {"$lt": cutoff}})
            .projection(doc! {"mailbox": 1, "modseq": 1})
            .all()
            .await?;
        let mut floors: HashMap<ObjectId, i64> = HashMap::new();
        for entry in &old {
            let mailbox = entry.get_object_id("mailbox").map_err(field_error)?;
            let modseq = int_field(entry, "modseq")?;
            let floor = floors.entry(mailbox).or_insert(modseq);
            *floor = (*floor).max(modseq);
        }
        // Raise the floors before deleting, so no reader takes a gap for "nothing changed".
        for (mailbox, floor) in floors {
            self.mailboxes
                .update_one(
                    doc! {"_id": mailbox},
                    doc! {"$max": {"journal_floor": floor}},
                )
                .await
                .map_err(db_error)?;
        }
        let removed = self
            .journal
            .delete_many(doc! {"created": {"$lt": cutoff}})
            .await
            .map_err(db_error)?;
        Ok(removed.deleted_count)
    }
}
