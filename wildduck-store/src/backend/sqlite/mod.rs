//! The embedded default engine: one SQLite file per store (bundled SQLite).
//!
//! WAL journal with `synchronous=FULL`, so a committed transaction survives a crash of the
//! process (and of the machine). Writes go to one writer thread that owns the only write
//! connection; reads run on tokio's blocking pool over several reader connections, each in a
//! deferred transaction so it sees one consistent snapshot. Nothing blocks the async runtime.
//!
//! Group commit: the writer takes every operation that is waiting, runs each inside its own
//! savepoint of one transaction and commits once, then answers them all. Each operation stays
//! atomic (a failing one rolls back to its savepoint), and none is answered before the commit
//! that makes it durable has returned.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};

use async_trait::async_trait;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::*;
use crate::error::{
    AddressError, AspError, Defect, Error, MailboxError, MessageError, RuleError, StorageError,
    StorageErrorKind, UserError,
};
use crate::retention;

mod addressregister;
mod asps;
mod encryption;
mod expiry;
mod files;
mod keywords;
mod outbound;
mod profiles;
mod registry;
mod rules;
mod search;
mod subscriptions;
mod transfer;
mod two_factor;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id BLOB PRIMARY KEY,
    username TEXT NOT NULL,
    unameview TEXT NOT NULL UNIQUE,
    password TEXT NOT NULL,
    quota INTEGER,
    storage_used INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS addresses (
    id BLOB PRIMARY KEY,
    user BLOB NOT NULL,
    address TEXT NOT NULL,
    addrview TEXT NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS addresses_user ON addresses(user);
CREATE TABLE IF NOT EXISTS mailboxes (
    id BLOB PRIMARY KEY,
    user BLOB NOT NULL,
    path TEXT NOT NULL,
    special_use TEXT,
    uidvalidity INTEGER NOT NULL,
    uidnext INTEGER NOT NULL,
    highest_modseq INTEGER NOT NULL,
    journal_floor INTEGER NOT NULL DEFAULT 0,
    subscribed INTEGER NOT NULL,
    UNIQUE(user, path)
);
CREATE TABLE IF NOT EXISTS messages (
    id BLOB PRIMARY KEY,
    mailbox BLOB NOT NULL,
    user BLOB NOT NULL,
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    flags TEXT NOT NULL,
    seen INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    idate INTEGER NOT NULL,
    hdate INTEGER,
    size INTEGER NOT NULL,
    msgid TEXT,
    subject TEXT,
    envelope TEXT NOT NULL,
    bodystructure TEXT NOT NULL,
    layout BLOB NOT NULL,
    search_headers TEXT NOT NULL,
    search_body TEXT NOT NULL,
    UNIQUE(mailbox, uid)
);
CREATE INDEX IF NOT EXISTS messages_user ON messages(user);
-- Covers mailbox_status (count, unseen, size) without reading message rows.
CREATE INDEX IF NOT EXISTS messages_status ON messages(mailbox, seen, size);
CREATE TABLE IF NOT EXISTS message_blobs (
    message BLOB NOT NULL,
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY(message, seq)
);
CREATE INDEX IF NOT EXISTS message_blobs_hash ON message_blobs(hash);
CREATE TABLE IF NOT EXISTS blobs (
    hash BLOB PRIMARY KEY,
    refcount INTEGER NOT NULL,
    raw_len INTEGER NOT NULL,
    stored_len INTEGER NOT NULL,
    codec INTEGER NOT NULL,
    data BLOB NOT NULL,
    unreferenced_since INTEGER
);
CREATE INDEX IF NOT EXISTS blobs_unreferenced ON blobs(unreferenced_since)
    WHERE unreferenced_since IS NOT NULL;
CREATE TABLE IF NOT EXISTS journal (
    mailbox BLOB NOT NULL,
    modseq INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    flags TEXT,
    created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_mailbox ON journal(mailbox, modseq);
CREATE INDEX IF NOT EXISTS journal_created ON journal(created);
CREATE TABLE IF NOT EXISTS outbound (
    id BLOB PRIMARY KEY,
    next_attempt INTEGER NOT NULL,
    claimed_until INTEGER NOT NULL,
    lease BLOB,
    entry TEXT NOT NULL,
    raw BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbound_due ON outbound(next_attempt);
"#;

/// Steps that bring a store made by an older version up to date, in order. `PRAGMA
/// user_version` counts the steps applied; a new store runs them all after `SCHEMA`.
const MIGRATIONS: &[&str] = &[
    // 1: the per-message columns SELECT and FETCH FLAGS read, in one narrow index, so a scan of
    // a mailbox reads only this index and never the wide rows (envelope, body structure,
    // layout, search text).
    "CREATE INDEX IF NOT EXISTS messages_meta
         ON messages(mailbox, uid, modseq, flags, idate, hdate, size, id);",
    // 2: the decoded header text in UID order, so SEARCH on headers (SUBJECT, FROM, HEADER)
    // reads this index and not the wide rows, whose header text often sits on an overflow
    // page behind envelope and body structure.
    "CREATE INDEX IF NOT EXISTS messages_search_headers
         ON messages(mailbox, uid, search_headers);",
    // 3: per-mailbox counts for STATUS, kept by triggers on every write of a message row
    // (no code path can forget them), so STATUS no longer counts rows (216 ms for a 1M-message
    // account before). An update that leaves mailbox, \Seen and size alone (most flag
    // changes) fires nothing.
    "ALTER TABLE mailboxes ADD COLUMN message_count INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE mailboxes ADD COLUMN unseen_count INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE mailboxes ADD COLUMN message_bytes INTEGER NOT NULL DEFAULT 0;
     UPDATE mailboxes SET
         message_count = (SELECT count(*) FROM messages m WHERE m.mailbox = mailboxes.id),
         unseen_count = (SELECT coalesce(sum(1 - seen), 0) FROM messages m
                         WHERE m.mailbox = mailboxes.id),
         message_bytes = (SELECT coalesce(sum(size), 0) FROM messages m
                          WHERE m.mailbox = mailboxes.id);
     CREATE TRIGGER messages_counted_in AFTER INSERT ON messages BEGIN
         UPDATE mailboxes SET message_count = message_count + 1,
             unseen_count = unseen_count + 1 - NEW.seen, message_bytes = message_bytes + NEW.size
         WHERE id = NEW.mailbox;
     END;
     CREATE TRIGGER messages_counted_out AFTER DELETE ON messages BEGIN
         UPDATE mailboxes SET message_count = message_count - 1,
             unseen_count = unseen_count - 1 + OLD.seen, message_bytes = message_bytes - OLD.size
         WHERE id = OLD.mailbox;
     END;
     CREATE TRIGGER messages_counted_again AFTER UPDATE OF mailbox, seen, size ON messages
     WHEN OLD.mailbox != NEW.mailbox OR OLD.seen != NEW.seen OR OLD.size != NEW.size BEGIN
         UPDATE mailboxes SET message_count = message_count - 1,
             unseen_count = unseen_count - 1 + OLD.seen, message_bytes = message_bytes - OLD.size
         WHERE id = OLD.mailbox;
         UPDATE mailboxes SET message_count = message_count + 1,
             unseen_count = unseen_count + 1 - NEW.seen, message_bytes = message_bytes + NEW.size
         WHERE id = NEW.mailbox;
     END;",
    // 4: account states and protocol scopes (issue 22), and application-specific passwords,
    // found at login by (user, selector) so only a few hashes are verified.
    "ALTER TABLE users ADD COLUMN suspended INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE users ADD COLUMN disabled_scopes TEXT NOT NULL DEFAULT '';
     CREATE TABLE asps (
         id BLOB PRIMARY KEY,
         user BLOB NOT NULL,
         selector TEXT NOT NULL,
         password TEXT NOT NULL,
         description TEXT NOT NULL,
         scopes TEXT NOT NULL,
         ttl INTEGER,
         expires INTEGER,
         created INTEGER NOT NULL,
         used INTEGER,
         used_scope TEXT,
         used_ip TEXT
     );
     CREATE INDEX asps_user ON asps(user, selector);",
    // 5: the recent marker, the highest UID a session has taken as \Recent (RFC 3501 §2.3.2).
    "ALTER TABLE mailboxes ADD COLUMN recent_uid INTEGER NOT NULL DEFAULT 0;",
    // 6: mailbox `hidden` and `retention` (ms), a message's expiry (seconds; set on arrival
    // in a mailbox with retention, or by the API), and the users' stored files (one blob each).
    "ALTER TABLE mailboxes ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE mailboxes ADD COLUMN retention INTEGER;
     ALTER TABLE messages ADD COLUMN expires INTEGER;
     CREATE INDEX messages_expires ON messages(expires) WHERE expires IS NOT NULL;
     CREATE TABLE stored_files (
         id BLOB PRIMARY KEY,
         user BLOB NOT NULL,
         filename TEXT NOT NULL,
         content_type TEXT NOT NULL,
         cid TEXT,
         size INTEGER NOT NULL,
         md5 TEXT NOT NULL,
         created INTEGER NOT NULL,
         hash BLOB NOT NULL
     );
     CREATE INDEX stored_files_user ON stored_files(user, filename);
     CREATE INDEX stored_files_hash ON stored_files(hash);",
    // 7: users' delivery filters and autoreplies, each record as JSON, and the
    // per-sender record of autoreplies sent.
    "CREATE TABLE filters (
         id BLOB PRIMARY KEY,
         user BLOB NOT NULL,
         filter TEXT NOT NULL
     );
     CREATE INDEX filters_user ON filters(user, id);
     CREATE TABLE autoreplies (
         user BLOB PRIMARY KEY,
         autoreply TEXT NOT NULL
     );
     CREATE TABLE autoreplies_sent (
         user BLOB NOT NULL,
         sender TEXT NOT NULL,
         sent INTEGER NOT NULL,
         PRIMARY KEY (user, sender)
     );",
    // 8: subscriptions that outlived their mailbox (`Subscriptions`), gone with their user.
    "CREATE TABLE dangling_subscriptions (
         user BLOB NOT NULL,
         path TEXT NOT NULL,
         PRIMARY KEY (user, path)
     ) WITHOUT ROWID;
     CREATE TRIGGER dangling_subscriptions_of_deleted_user AFTER DELETE ON users
     BEGIN DELETE FROM dangling_subscriptions WHERE user = OLD.id; END;",
    // 9: operator records (domain aliases, domain access, DKIM keys, certificates), unique
    // by (kind, key); see `Registry`.
    "CREATE TABLE registry (
         id BLOB PRIMARY KEY,
         kind TEXT NOT NULL,
         key TEXT NOT NULL,
         body TEXT NOT NULL,
         UNIQUE (kind, key)
     );",
    // 10: what an account keeps beside login and mail (`crate::profiles`): the user's profile
    // and temporary password, the details of an address (both go with their row, by
    // trigger), and forwarded addresses, whose addrview no user's address may also have.
    "CREATE TABLE user_profiles (
         user BLOB PRIMARY KEY,
         profile TEXT NOT NULL DEFAULT '{}',
         temp_password TEXT
     );
     CREATE TABLE address_details (
         address BLOB PRIMARY KEY,
         details TEXT NOT NULL
     );
     CREATE TABLE forwarded_addresses (
         id BLOB PRIMARY KEY,
         addrview TEXT NOT NULL UNIQUE,
         record TEXT NOT NULL
     );
     CREATE TRIGGER users_profile_gone AFTER DELETE ON users BEGIN
         DELETE FROM user_profiles WHERE user = OLD.id;
     END;
     CREATE TRIGGER addresses_details_gone AFTER DELETE ON addresses BEGIN
         DELETE FROM address_details WHERE address = OLD.id;
     END;",
    // 11: the address register (`crate::addressregister`), one entry per (user, addrview),
    // gone with its user.
    "CREATE TABLE address_register (
         id BLOB PRIMARY KEY,
         user BLOB NOT NULL,
         addrview TEXT NOT NULL,
         address TEXT NOT NULL,
         name TEXT,
         disabled INTEGER NOT NULL DEFAULT 0,
         updated INTEGER NOT NULL,
         UNIQUE (user, addrview)
     );
     CREATE TRIGGER address_register_of_deleted_user AFTER DELETE ON users
     BEGIN DELETE FROM address_register WHERE user = OLD.id; END;",
    // 12: mailboxes that keep what arrives encrypted (`crate::encryption`).
    "ALTER TABLE mailboxes ADD COLUMN encrypt_messages INTEGER NOT NULL DEFAULT 0;",
    // 13: TOTP two-factor state (`TwoFactor`): the sealed seed, enabled, the last step used;
    // gone with its user.
    "CREATE TABLE totp (
         user BLOB PRIMARY KEY,
         sealed_seed BLOB NOT NULL,
         enabled INTEGER NOT NULL,
         last_step INTEGER
     );
     CREATE TRIGGER users_totp_gone AFTER DELETE ON users BEGIN
         DELETE FROM totp WHERE user = OLD.id;
     END;",
    // 14: the keywords a mailbox has had (`MailboxKeywords`), gone with their mailbox.
    "CREATE TABLE mailbox_keywords (
         mailbox BLOB NOT NULL,
         keyword TEXT NOT NULL,
         PRIMARY KEY (mailbox, keyword)
     ) WITHOUT ROWID;
     CREATE TRIGGER mailboxes_keywords_gone AFTER DELETE ON mailboxes BEGIN
         DELETE FROM mailbox_keywords WHERE mailbox = OLD.id;
     END;",
];

/// Creates the tables of a new store and applies the migrations an existing one lacks, in one
/// transaction (a concurrent opener waits, then finds them applied).
fn prepare_schema(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(SCHEMA)?;
    let applied: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let applied = usize::try_from(applied).unwrap_or(0);
    for step in MIGRATIONS.iter().skip(applied) {
        tx.execute_batch(step)?;
    }
    if applied < MIGRATIONS.len() {
        tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
    }
    tx.commit()
}

const READERS: usize = 4;
/// Prepared statements kept per connection (rusqlite's default of 16 is fewer than the
/// distinct statements of an append or a FETCH session, so they evicted each other).
const STATEMENT_CACHE: usize = 128;
/// Most operations one group commit takes.
const MAX_GROUP: usize = 256;
/// The WAL file is cut back to this size after each checkpoint (SQLite checkpoints on its
/// own every 1000 pages), so a long-running server does not keep a WAL as large as its
/// biggest burst of writes.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;
/// A FETCH of at most this many UIDs reads on the calling task (see `read_small`).
const INLINE_UIDS: u64 = 32;
/// At most this many journal changes are read on the calling task (see `read_small`).
const INLINE_CHANGES: usize = 64;
/// Messages up to this size have their content read on the calling task (see `read_small`).
const INLINE_CONTENT_BYTES: u64 = 256 * 1024;

const KIND_EXISTS: i64 = 1;
const KIND_EXPUNGE: i64 = 2;
const KIND_FLAGS: i64 = 3;

/// Failure inside a transaction: an SQLite error or a domain error; both abort the unit.
enum Fail {
    Db(rusqlite::Error),
    Store(Error),
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Db(e)
    }
}

macro_rules! fail_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Fail {
            fn from(e: $t) -> Self {
                Fail::Store(e.into())
            }
        }
    )*};
}
fail_from!(
    Error,
    StorageError,
    UserError,
    AspError,
    RuleError,
    AddressError,
    MailboxError,
    MessageError
);

/// An SQLite failure by what a caller can do about it.
fn sqlite_error(e: rusqlite::Error) -> StorageError {
    use rusqlite::ErrorCode;
    let kind = match &e {
        rusqlite::Error::SqliteFailure(failure, _) => match failure.code {
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::ReadOnly
            | ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::PermissionDenied
            | ErrorCode::FileLockingProtocolFailed
            | ErrorCode::NoLargeFileSupport
            | ErrorCode::OutOfMemory => StorageErrorKind::Unavailable,
            ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => StorageErrorKind::Corrupt,
            ErrorCode::ConstraintViolation => StorageErrorKind::Constraint,
            ErrorCode::TooBig => StorageErrorKind::Limit,
            _ => StorageErrorKind::Internal,
        },
        // A stored value that does not convert to what the row should hold.
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::Utf8Error(..) => StorageErrorKind::Corrupt,
        _ => StorageErrorKind::Internal,
    };
    StorageError::new(kind, e)
}

impl From<Fail> for Error {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Db(e) => Error::Storage(sqlite_error(e)),
            Fail::Store(e) => e,
        }
    }
}

type TxResult<T> = std::result::Result<T, Fail>;

/// A write operation queued for the writer thread: runs on the connection (inside a
/// savepoint) and says whether it succeeded, returning what answers its caller once the
/// commit outcome is known. Given the engine's error instead of a connection when its
/// transaction or savepoint could not begin, it fails with that error.
type Job = Box<dyn FnOnce(std::result::Result<&Connection, StorageError>) -> (bool, Answer) + Send>;
/// Sends a job's result, or the commit error that voided it.
type Answer = Box<dyn FnOnce(Option<&StorageError>) + Send>;

/// The SQLite engine.
pub struct SqliteBackend {
    writer: mpsc::Sender<Job>,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: AtomicUsize,
    /// Joined on drop, so the store is closed (WAL checkpointed) before the owner goes on.
    writer_thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for SqliteBackend {
    /// Closes the write queue and waits for the writer to finish what was queued and to
    /// checkpoint the WAL into the database: a stopped server leaves no WAL behind.
    fn drop(&mut self) {
        drop(std::mem::replace(&mut self.writer, mpsc::channel().0));
        if let Some(thread) = self.writer_thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock ended its read transaction on drop; the connection
    // itself is still usable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn open_connection(file: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(file)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    // Room for every distinct statement of the hot paths, so none is parsed again per call.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Without the query planner stability guarantee SQLite marks a statement to be planned
    // again whenever some bound values change, which the statement cache's clearing of
    // bindings triggers on every reuse: about a tenth of a FETCH FLAGS went to re-parsing.
    // Our plans do not depend on values (no ANALYZE statistics), so one plan serves.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(conn)
}

impl SqliteBackend {
    /// Opens or creates `store.sqlite` inside `dir`.
    pub async fn open(dir: &Path) -> Result<Self> {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || -> TxResult<Self> {
            std::fs::create_dir_all(&dir).map_err(StorageError::from)?;
            let file = dir.join("store.sqlite");
            let mut writer = open_connection(&file)?;
            prepare_schema(&mut writer)?;
            let readers = (0..READERS)
                .map(|_| open_connection(&file).map(Mutex::new))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let (jobs, queue) = mpsc::channel::<Job>();
            let writer_thread = std::thread::Builder::new()
                .name("wildduck-sqlite-writer".into())
                .spawn(move || write_loop(writer, queue))
                .map_err(StorageError::from)?;
            Ok(SqliteBackend {
                writer: jobs,
                readers: Arc::new(readers),
                next_reader: AtomicUsize::new(0),
                writer_thread: Some(writer_thread),
            })
        })
        .await?
        .map_err(Error::from)
    }

    /// Runs `f` as one atomic unit on the writer thread; answers after it has committed.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> TxResult<T> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |conn| {
            let outcome = match conn {
                Ok(conn) => f(conn),
                Err(refused) => Err(Fail::Store(refused.into())),
            };
            let ok = outcome.is_ok();
            let answer: Answer = Box::new(move |commit_error| {
                let result = match (outcome, commit_error) {
                    (Ok(value), None) => Ok(value),
                    (Ok(_), Some(e)) => Err(Error::Storage(e.clone())),
                    (Err(e), _) => Err(e.into()),
                };
                let _ = reply.send(result);
            });
            (ok, answer)
        });
        self.writer
            .send(job)
            .map_err(|_| Defect::Bug("the writer thread has stopped"))?;
        answer
            .await
            .map_err(|_| Defect::Bug("a write operation panicked"))?
    }

    /// Runs `f` in one read transaction (one consistent snapshot) on a reader connection,
    /// on the blocking pool.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> TxResult<T> + Send + 'static,
    {
        let readers = self.readers.clone();
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || -> TxResult<T> {
            // Take the first idle reader, else wait for the round-robin one.
            let conn =
                idle_reader(&readers, start).unwrap_or_else(|| lock(&readers[start % READERS]));
            let tx = ReadTx::begin(&conn)?;
            f(tx.0)
        })
        .await?
        .map_err(Error::from)
    }

    /// Like `read`, for reads of a few rows found by key: they run on the calling task when
    /// a reader connection is idle. The trip to the blocking pool and back costs thread
    /// switches that made up most of a one-message FETCH on a busy machine, while such a
    /// read takes microseconds, within what an async task may block. Reads that grow with
    /// a mailbox must use `read`.
    async fn read_small<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> TxResult<T> + Send + 'static,
    {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        if let Some(conn) = idle_reader(&self.readers, start) {
            let tx = ReadTx::begin(&conn).map_err(Fail::from)?;
            return Ok(f(tx.0)?);
        }
        self.read(f).await
    }

    /// Reads a message's content with `load`: on the calling task when the message is small
    /// and a reader is idle (as `read_small`), else on the blocking pool.
    async fn read_content<T, F>(&self, mailbox: MailboxId, uid: Uid, load: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, StoredMessage) -> TxResult<T> + Send + 'static,
    {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        if let Some(conn) = idle_reader(&self.readers, start) {
            let tx = ReadTx::begin(&conn).map_err(Fail::from)?;
            let message = stored_message(tx.0, mailbox, uid)?;
            if message.size <= INLINE_CONTENT_BYTES {
                return Ok(load(tx.0, message)?);
            }
        }
        self.read(move |tx| {
            let message = stored_message(tx, mailbox, uid)?;
            load(tx, message)
        })
        .await
    }
}

/// The first reader connection not in use, trying from `start` on.
fn idle_reader(readers: &[Mutex<Connection>], start: usize) -> Option<MutexGuard<'_, Connection>> {
    (0..readers.len()).find_map(|i| readers[(start + i) % readers.len()].try_lock().ok())
}

/// The journal of `mailbox` after `modseq`; None when `limit` is given and there are more
/// changes than that.
fn changes_in_journal(
    tx: &Connection,
    mailbox: MailboxId,
    modseq: ModSeq,
    limit: Option<usize>,
) -> TxResult<Option<Changes>> {
    let (highest_modseq, floor): (i64, i64) = tx
        .prepare_cached("SELECT highest_modseq, journal_floor FROM mailboxes WHERE id = ?1")?
        .query_row([id_bytes(mailbox.0)], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or(MailboxError::NotFound)?;
    let mut stmt = tx.prepare_cached(
        "SELECT modseq, uid, kind, flags FROM journal WHERE mailbox = ?1 AND modseq > ?2
         ORDER BY modseq, uid LIMIT ?3",
    )?;
    // One row past the limit tells that there are more; -1 is SQLite's "no limit".
    let rows = limit.map_or(-1, |n| n as i64 + 1);
    let changes = stmt
        .query_map(params![id_bytes(mailbox.0), modseq as i64, rows], |r| {
            let kind = match r.get::<_, i64>(2)? {
                KIND_EXISTS => ChangeKind::Exists,
                KIND_EXPUNGE => ChangeKind::Expunge,
                _ => ChangeKind::Flags(flags_from_text(
                    &r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                )),
            };
            Ok(Change {
                modseq: r.get::<_, i64>(0)? as u64,
                uid: r.get(1)?,
                kind,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if limit.is_some_and(|n| changes.len() > n) {
        return Ok(None);
    }
    Ok(Some(Changes {
        changes,
        highest_modseq: highest_modseq as u64,
        truncated: (modseq as i64) < floor,
    }))
}

/// What a content read needs to know of a message before its blobs.
struct StoredMessage {
    id: Vec<u8>,
    layout: Vec<u8>,
    size: u64,
}

fn stored_message(tx: &Connection, mailbox: MailboxId, uid: Uid) -> TxResult<StoredMessage> {
    Ok(tx
        .prepare_cached("SELECT id, layout, size FROM messages WHERE mailbox = ?1 AND uid = ?2")?
        .query_row(params![id_bytes(mailbox.0), uid], |r| {
            Ok(StoredMessage {
                id: r.get(0)?,
                layout: r.get(1)?,
                size: r.get::<_, i64>(2)? as u64,
            })
        })
        .optional()?
        .ok_or(MessageError::NotFound)?)
}

/// Runs a statement that takes no parameters and returns no rows (transaction control)
/// from the statement cache: parsing BEGIN and COMMIT afresh was a visible part of a small
/// read.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// One read transaction (a consistent snapshot) on a reader connection, ended when dropped,
/// panics included, so the connection goes back to its pool outside any transaction.
struct ReadTx<'c>(&'c Connection);

impl<'c> ReadTx<'c> {
    fn begin(conn: &'c Connection) -> rusqlite::Result<Self> {
        run_cached(conn, "BEGIN")?;
        Ok(ReadTx(conn))
    }
}

impl Drop for ReadTx<'_> {
    fn drop(&mut self) {
        // A read transaction has nothing to keep or undo; ending it is all that matters.
        if let Err(e) = run_cached(self.0, "COMMIT") {
            tracing::error!("sqlite ending a read snapshot: {e}");
        }
    }
}

/// The writer thread: group commit of whatever operations are waiting. Ends when the
/// backend (the only sender) is dropped.
fn write_loop(conn: Connection, queue: mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let Some(answers) = run_group(&conn, group) else {
            continue;
        };
        let committed = run_cached(&conn, "COMMIT").map_err(sqlite_error);
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for answer in answers {
            answer(committed.as_ref().err());
        }
    }
    // The queue is closed: the store is being dropped. Move the WAL into the database and
    // empty it (readers still open are idle, outside any transaction).
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
        tracing::warn!("sqlite checkpoint on close: {e}");
    }
}

/// Runs each job in its own savepoint of one open transaction, whose answers wait for the
/// commit. A job that fails or panics is rolled back alone (a panicking job's caller sees
/// its reply channel close). None: the transaction did not begin, every job was answered
/// with the engine's error.
fn run_group(conn: &Connection, group: Vec<Job>) -> Option<Vec<Answer>> {
    if let Err(e) = run_cached(conn, "BEGIN IMMEDIATE") {
        let e = sqlite_error(e);
        tracing::error!("sqlite begin: {e}");
        for job in group {
            let (_, answer) = job(Err(e.clone()));
            answer(None);
        }
        return None;
    }
    let mut answers = Vec::with_capacity(group.len());
    for job in group {
        if let Err(e) = run_cached(conn, "SAVEPOINT op") {
            answers.push(job(Err(sqlite_error(e))).1);
            continue;
        }
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Ok(conn))));
        match ran {
            Ok((true, answer)) => {
                let _ = run_cached(conn, "RELEASE op");
                answers.push(answer);
            }
            Ok((false, answer)) => {
                let _ = conn.execute_batch("ROLLBACK TO op; RELEASE op");
                answers.push(answer);
            }
            Err(_) => {
                let _ = conn.execute_batch("ROLLBACK TO op; RELEASE op");
            }
        }
    }
    Some(answers)
}

// ---- value encodings ----

fn id_bytes(id: RecordId) -> [u8; 12] {
    id.bytes()
}

fn record_id(row: &Row, idx: usize) -> rusqlite::Result<RecordId> {
    // Borrowed from the row: no allocation per message on the metadata scans.
    let bytes = row.get_ref(idx)?.as_blob()?;
    let arr: [u8; 12] = bytes.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Blob,
            "record id is not 12 bytes".into(),
        )
    })?;
    Ok(RecordId::from_bytes(arr))
}

/// Flags as one space-separated string (keywords are atoms, so never contain a space).
fn flags_to_text(flags: &Flags) -> String {
    flags
        .iter()
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn flags_from_text(text: &str) -> Flags {
    text.split(' ')
        .filter(|s| !s.is_empty())
        .map(Flag::parse)
        .collect()
}

/// The flags column of a row, parsed where it lies (no string copied per message).
fn flags_at(row: &Row, idx: usize) -> rusqlite::Result<Flags> {
    Ok(flags_from_text(row.get_ref(idx)?.as_str()?))
}

fn special_use_to_text(u: Option<SpecialUse>) -> Option<&'static str> {
    u.map(SpecialUse::attribute)
}

fn to_json<T: serde::Serialize>(value: &T) -> TxResult<String> {
    serde_json::to_string(value)
        .map_err(|e| Fail::Store(StorageError::new(StorageErrorKind::Internal, e).into()))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> TxResult<T> {
    serde_json::from_str(text)
        .map_err(|e| Fail::Store(StorageError::new(StorageErrorKind::Corrupt, e).into()))
}

const USER_COLUMNS: &str = "id, username, unameview, password, quota, storage_used, disabled, \
     created, suspended, disabled_scopes";

fn user_from_row(row: &Row) -> rusqlite::Result<UserRecord> {
    let quota: Option<i64> = row.get(4)?;
    Ok(UserRecord {
        user: User {
            id: UserId(record_id(row, 0)?),
            username: row.get(1)?,
            quota: quota.map(|q| q as u64),
            storage_used: row.get::<_, i64>(5)? as u64,
            disabled: row.get(6)?,
            created: row.get(7)?,
            suspended: row.get(8)?,
            disabled_scopes: scopes_from_text(&row.get::<_, String>(9)?).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(9, rusqlite::types::Type::Text, e.into())
            })?,
        },
        unameview: row.get(2)?,
        password_hash: row.get(3)?,
    })
}

const MAILBOX_COLUMNS: &str = "id, user, path, special_use, uidvalidity, uidnext, highest_modseq, \
     subscribed, hidden, retention";

fn mailbox_from_row(row: &Row) -> rusqlite::Result<Mailbox> {
    let special_use: Option<String> = row.get(3)?;
    Ok(Mailbox {
        id: MailboxId(record_id(row, 0)?),
        user: UserId(record_id(row, 1)?),
        path: row.get(2)?,
        special_use: special_use.as_deref().and_then(SpecialUse::from_attribute),
        uidvalidity: row.get::<_, i64>(4)? as u32,
        uidnext: row.get::<_, i64>(5)? as u32,
        highest_modseq: row.get::<_, i64>(6)? as u64,
        subscribed: row.get(7)?,
        hidden: row.get(8)?,
        retention: row.get::<_, Option<i64>>(9)?.map(|ms| ms as u64),
    })
}

fn address_from_row(row: &Row) -> rusqlite::Result<Address> {
    Ok(Address {
        id: AddressId(record_id(row, 0)?),
        user: UserId(record_id(row, 1)?),
        address: row.get(2)?,
        addrview: row.get(3)?,
    })
}

// ---- helpers used inside transactions ----

fn get_mailbox(tx: &Connection, mailbox: MailboxId) -> TxResult<Mailbox> {
    tx.prepare_cached(&format!(
        "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE id = ?1"
    ))?
    .query_row([id_bytes(mailbox.0)], mailbox_from_row)
    .optional()?
    .ok_or_else(|| MailboxError::NotFound.into())
}

fn read_recent_marker(tx: &Connection, mailbox: MailboxId) -> TxResult<Uid> {
    tx.prepare_cached("SELECT recent_uid FROM mailboxes WHERE id = ?1")?
        .query_row([id_bytes(mailbox.0)], |r| r.get(0))
        .optional()?
        .ok_or_else(|| MailboxError::NotFound.into())
}

fn get_user(tx: &Connection, user: UserId) -> TxResult<UserRecord> {
    tx.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?
        .query_row([id_bytes(user.0)], user_from_row)
        .optional()?
        .ok_or_else(|| UserError::NotFound.into())
}

/// Next UIDVALIDITY: seconds-based, but always above every value handed out before, so a
/// path never gets a UIDVALIDITY it had already.
fn next_uidvalidity(tx: &Connection) -> TxResult<u32> {
    let last: i64 = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'uidvalidity'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let next = (last + 1).max(now()).clamp(1, u32::MAX as i64);
    if next <= last {
        return Err(Error::from(Defect::Exhausted("UIDVALIDITY space")).into());
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('uidvalidity', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [next],
    )?;
    Ok(next as u32)
}

fn bump_counter(tx: &Connection, key: &str, by: i64) -> TxResult<()> {
    tx.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
    )?
    .execute(params![key, by])?;
    Ok(())
}

fn insert_mailbox(tx: &Connection, user: UserId, new: &NewMailbox) -> TxResult<Mailbox> {
    let mailbox = Mailbox {
        id: MailboxId::new(),
        user,
        path: new.path.clone(),
        special_use: new.special_use,
        uidvalidity: next_uidvalidity(tx)?,
        uidnext: 1,
        highest_modseq: 0,
        subscribed: new.subscribed,
        hidden: new.settings.hidden,
        retention: new.settings.retention,
    };
    tx.execute(
        "INSERT INTO mailboxes (id, user, path, special_use, uidvalidity, uidnext,
             highest_modseq, subscribed, hidden, retention)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            id_bytes(mailbox.id.0),
            id_bytes(user.0),
            mailbox.path,
            special_use_to_text(mailbox.special_use),
            mailbox.uidvalidity,
            mailbox.uidnext,
            mailbox.highest_modseq as i64,
            mailbox.subscribed,
            mailbox.hidden,
            mailbox.retention.map(|ms| ms as i64)
        ],
    )?;
    Ok(mailbox)
}

fn path_exists(tx: &Connection, user: UserId, path: &str) -> TxResult<bool> {
    Ok(tx
        .query_row(
            "SELECT 1 FROM mailboxes WHERE user = ?1 AND path = ?2",
            params![id_bytes(user.0), path],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

fn create_missing(
    tx: &Connection,
    user: UserId,
    paths: &[String],
    subscribed: bool,
) -> TxResult<()> {
    for path in paths {
        if !path_exists(tx, user, path)? {
            insert_mailbox(
                tx,
                user,
                &NewMailbox {
                    path: path.clone(),
                    special_use: None,
                    subscribed,
                    settings: MailboxSettings::default(),
                },
            )?;
        }
    }
    Ok(())
}

fn journal(
    tx: &Connection,
    mailbox: MailboxId,
    modseq: ModSeq,
    uid: Uid,
    kind: i64,
    flags: Option<&Flags>,
) -> TxResult<()> {
    tx.prepare_cached(
        "INSERT INTO journal (mailbox, modseq, uid, kind, flags, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        id_bytes(mailbox.0),
        modseq as i64,
        uid,
        kind,
        flags.map(flags_to_text),
        now()
    ])?;
    Ok(())
}

fn set_mailbox_counters(
    tx: &Connection,
    mailbox: MailboxId,
    uidnext: Uid,
    highest_modseq: ModSeq,
) -> TxResult<()> {
    tx.prepare_cached("UPDATE mailboxes SET uidnext = ?2, highest_modseq = ?3 WHERE id = ?1")?
        .execute(params![id_bytes(mailbox.0), uidnext, highest_modseq as i64])?;
    Ok(())
}

fn add_storage(tx: &Connection, user: UserId, delta: i64) -> TxResult<()> {
    tx.prepare_cached("UPDATE users SET storage_used = storage_used + ?2 WHERE id = ?1")?
        .execute(params![id_bytes(user.0), delta])?;
    Ok(())
}

/// Stores one message in `mailbox`: blobs (shared when present), row, counters, quota,
/// journal. The one insert path of `append` and `append_batch`.
fn append_message(
    tx: &Connection,
    mailbox: MailboxId,
    message: &NewMessage,
) -> TxResult<(AppendOutcome, Wake)> {
    let target = get_mailbox(tx, mailbox)?;
    check_quota(tx, target.user, message.size)?;
    let uid = target.uidnext;
    if uid == Uid::MAX {
        return Err(Error::from(Defect::Exhausted("UID space of mailbox")).into());
    }
    let modseq = target.highest_modseq + 1;
    let key = id_bytes(message.id.0);
    for (seq, blob) in message.content.blobs.iter().enumerate() {
        if !insert_blob(tx, blob, 1)? {
            reference_blob(tx, &blob.hash, 1)?;
            bump_counter(tx, "dedup_hits", 1)?;
        }
        tx.prepare_cached("INSERT INTO message_blobs (message, seq, hash) VALUES (?1, ?2, ?3)")?
            .execute(params![key, seq as i64, blob.hash])?;
    }
    let flags = &message.flags;
    tx.prepare_cached(
        "INSERT INTO messages (id, mailbox, user, uid, modseq, flags, seen, deleted,
                 idate, hdate, size, msgid, subject, envelope, bodystructure, layout,
                 search_headers, search_body, expires)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                 ?16, ?17, ?18, ?19)",
    )?
    .execute(params![
        key,
        id_bytes(mailbox.0),
        id_bytes(target.user.0),
        uid,
        modseq as i64,
        flags_to_text(flags),
        flags.contains(&Flag::Seen),
        flags.contains(&Flag::Deleted),
        message.internal_date,
        message.header_date,
        message.size as i64,
        message.message_id,
        message.subject,
        to_json(&message.envelope)?,
        to_json(&message.body_structure)?,
        message.content.layout,
        message.search_headers,
        message.search_body,
        retention::expiry(&target, now())
    ])?;
    set_mailbox_counters(tx, mailbox, uid + 1, modseq)?;
    add_storage(tx, target.user, message.size as i64)?;
    journal(tx, mailbox, modseq, uid, KIND_EXISTS, None)?;
    Ok((
        AppendOutcome {
            id: message.id,
            uid,
            modseq,
            uidvalidity: target.uidvalidity,
            size: message.size,
        },
        Wake {
            user: target.user,
            mailbox,
            modseq,
        },
    ))
}

fn check_quota(tx: &Connection, user: UserId, needed: u64) -> TxResult<()> {
    let record = get_user(tx, user)?;
    if let Some(quota) = record.user.quota {
        let used = record.user.storage_used;
        if used.saturating_add(needed) > quota {
            return Err(MessageError::OverQuota {
                used,
                needed,
                quota,
            }
            .into());
        }
    }
    Ok(())
}

/// Stores a blob not stored yet, with `refcount` references; false when its hash is there.
fn insert_blob(tx: &Connection, blob: &BlobData, refcount: i64) -> TxResult<bool> {
    let inserted = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO blobs (hash, refcount, raw_len, stored_len, codec, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            blob.hash,
            refcount,
            blob.raw_len as i64,
            blob.data.len() as i64,
            blob.codec,
            blob.data
        ])?;
    Ok(inserted > 0)
}

/// Adds `by` references to a blob that exists (a copy of a message sharing it).
fn reference_blob(tx: &Connection, hash: &[u8], by: i64) -> TxResult<()> {
    tx.prepare_cached(
        "UPDATE blobs SET refcount = refcount + ?2,
             unreferenced_since = CASE WHEN refcount + ?2 > 0 THEN NULL ELSE unreferenced_since END
         WHERE hash = ?1",
    )?
    .execute(params![hash, by])?;
    Ok(())
}

/// Drops the blob references of messages that go away; blobs reaching 0 start their grace
/// period.
fn release_message_blobs(tx: &Connection, message: &[u8]) -> TxResult<()> {
    let mut refs = tx.prepare_cached("SELECT hash FROM message_blobs WHERE message = ?1")?;
    let hashes = refs
        .query_map([message], |r| r.get::<_, Vec<u8>>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut release = tx.prepare_cached(
        "UPDATE blobs SET refcount = refcount - 1,
             unreferenced_since = CASE WHEN refcount - 1 <= 0 THEN ?2 ELSE NULL END
         WHERE hash = ?1",
    )?;
    for hash in hashes {
        release.execute(params![hash, now()])?;
    }
    tx.prepare_cached("DELETE FROM message_blobs WHERE message = ?1")?
        .execute([message])?;
    Ok(())
}

fn in_set_sql(columns: &str) -> String {
    format!(
        "SELECT {columns} FROM messages WHERE mailbox = ?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid"
    )
}

/// The columns `fetch_meta` reads; without envelope and body structure all of them are in the
/// `messages_meta` index.
fn meta_columns(fields: MetaFields) -> String {
    format!(
        "id, uid, modseq, flags, idate, hdate, size, {}, {}",
        if fields.envelope { "envelope" } else { "NULL" },
        if fields.body_structure {
            "bodystructure"
        } else {
            "NULL"
        }
    )
}

/// Visits rows of `mailbox` whose UID is in `uids`, in UID order.
fn for_each_in_set(
    tx: &Connection,
    columns: &str,
    mailbox: MailboxId,
    uids: &UidSet,
    mut visit: impl FnMut(&Row) -> TxResult<()>,
) -> TxResult<()> {
    let mut stmt = tx.prepare_cached(&in_set_sql(columns))?;
    for &(first, last) in uids.ranges() {
        let mut rows = stmt.query(params![id_bytes(mailbox.0), first, last])?;
        while let Some(row) = rows.next()? {
            visit(row)?;
        }
    }
    Ok(())
}

/// Deletes messages (by row id) from a mailbox: blob refs, quota, journal, one MODSEQ.
/// Returns the new MODSEQ (None when the list was empty).
fn remove_messages(
    tx: &Connection,
    mailbox: &Mailbox,
    victims: &[(Vec<u8>, Uid, u64)],
) -> TxResult<Option<ModSeq>> {
    if victims.is_empty() {
        return Ok(None);
    }
    let modseq = mailbox.highest_modseq + 1;
    let mut freed = 0u64;
    for (id, uid, size) in victims {
        release_message_blobs(tx, id)?;
        tx.prepare_cached("DELETE FROM messages WHERE id = ?1")?
            .execute([id])?;
        journal(tx, mailbox.id, modseq, *uid, KIND_EXPUNGE, None)?;
        freed += size;
    }
    set_mailbox_counters(tx, mailbox.id, mailbox.uidnext, modseq)?;
    add_storage(tx, mailbox.user, -(freed as i64))?;
    Ok(Some(modseq))
}

/// Deletes every message of a mailbox, its journal and the mailbox row.
fn drop_mailbox(tx: &Connection, mailbox: &Mailbox) -> TxResult<()> {
    let mut stmt = tx.prepare("SELECT id, size FROM messages WHERE mailbox = ?1")?;
    let rows = stmt
        .query_map([id_bytes(mailbox.id.0)], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut freed = 0i64;
    for (id, size) in rows {
        release_message_blobs(tx, &id)?;
        freed += size;
    }
    let key = id_bytes(mailbox.id.0);
    tx.execute("DELETE FROM messages WHERE mailbox = ?1", [key])?;
    tx.execute("DELETE FROM journal WHERE mailbox = ?1", [key])?;
    tx.execute("DELETE FROM mailboxes WHERE id = ?1", [key])?;
    add_storage(tx, mailbox.user, -freed)?;
    Ok(())
}

fn apply_flag_op(current: &Flags, op: FlagOp, given: &Flags) -> Flags {
    match op {
        FlagOp::Add => current.union(given).cloned().collect(),
        FlagOp::Remove => current.difference(given).cloned().collect(),
        FlagOp::Replace => given.clone(),
    }
}

#[async_trait]
impl Backend for SqliteBackend {
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
            if let Some(address) = address {
                insert_address(tx, &address)?;
            }
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
            Ok(wakes)
        })
        .await
    }

    async fn add_address(&self, address: Address) -> Result<()> {
        self.write(move |tx| {
            get_user(tx, address.user)?;
            insert_address(tx, &address)
        })
        .await
    }

    async fn remove_address(&self, user: UserId, addrview: &str) -> Result<()> {
        let addrview = addrview.to_string();
        self.write(move |tx| {
            let removed = tx.execute(
                "DELETE FROM addresses WHERE user = ?1 AND addrview = ?2",
                params![id_bytes(user.0), addrview],
            )?;
            if removed == 0 {
                return Err(AddressError::NotFound.into());
            }
            Ok(())
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

    async fn list_mailboxes(&self, user: UserId) -> Result<Vec<Mailbox>> {
        self.read(move |tx| {
            get_user(tx, user)?;
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE user = ?1 ORDER BY path"
            ))?;
            let list = stmt
                .query_map([id_bytes(user.0)], mailbox_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(list)
        })
        .await
    }

    async fn mailbox_by_path(&self, user: UserId, path: &str) -> Result<Option<Mailbox>> {
        let path = path.to_string();
        self.read_small(move |tx| {
            Ok(tx
                .prepare_cached(&format!(
                    "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE user = ?1 AND path = ?2"
                ))?
                .query_row(params![id_bytes(user.0), path], mailbox_from_row)
                .optional()?)
        })
        .await
    }

    async fn mailbox_by_id(&self, mailbox: MailboxId) -> Result<Option<Mailbox>> {
        self.read_small(move |tx| match get_mailbox(tx, mailbox) {
            Ok(m) => Ok(Some(m)),
            Err(Fail::Store(Error::Mailbox(MailboxError::NotFound))) => Ok(None),
            Err(e) => Err(e),
        })
        .await
    }

    async fn create_mailbox(
        &self,
        user: UserId,
        parents: Vec<String>,
        mailbox: NewMailbox,
    ) -> Result<Mailbox> {
        self.write(move |tx| {
            get_user(tx, user)?;
            if path_exists(tx, user, &mailbox.path)? {
                return Err(MailboxError::AlreadyExists.into());
            }
            create_missing(tx, user, &parents, mailbox.subscribed)?;
            insert_mailbox(tx, user, &mailbox)
        })
        .await
    }

    async fn rename_mailbox_tree(
        &self,
        user: UserId,
        from: &str,
        to: &str,
        to_parents: Vec<String>,
    ) -> Result<()> {
        let (from, to) = (from.to_string(), to.to_string());
        self.write(move |tx| {
            get_user(tx, user)?;
            if !path_exists(tx, user, &from)? {
                return Err(MailboxError::NotFound.into());
            }
            let prefix = format!("{from}/");
            let mut stmt = tx.prepare(
                "SELECT id, path FROM mailboxes WHERE user = ?1
                 AND (path = ?2 OR substr(path, 1, length(?3)) = ?3)",
            )?;
            let moving = stmt
                .query_map(params![id_bytes(user.0), from, prefix], |r| {
                    Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let renamed: Vec<(Vec<u8>, String)> = moving
                .into_iter()
                .map(|(id, path)| (id, format!("{to}{}", &path[from.len()..])))
                .collect();
            for (_, path) in &renamed {
                if path_exists(tx, user, path)? {
                    return Err(MailboxError::AlreadyExists.into());
                }
            }
            for (id, path) in &renamed {
                tx.execute(
                    "UPDATE mailboxes SET path = ?2 WHERE id = ?1",
                    params![id, path],
                )?;
            }
            create_missing(tx, user, &to_parents, true)?;
            Ok(())
        })
        .await
    }

    async fn delete_mailbox(&self, mailbox: MailboxId) -> Result<Vec<Wake>> {
        self.write(move |tx| {
            let record = get_mailbox(tx, mailbox)?;
            drop_mailbox(tx, &record)?;
            Ok(vec![Wake {
                user: record.user,
                mailbox,
                modseq: record.highest_modseq + 1,
            }])
        })
        .await
    }

    async fn set_subscribed(&self, mailbox: MailboxId, subscribed: bool) -> Result<()> {
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE mailboxes SET subscribed = ?2 WHERE id = ?1",
                params![id_bytes(mailbox.0), subscribed],
            )?;
            if changed == 0 {
                return Err(MailboxError::NotFound.into());
            }
            Ok(())
        })
        .await
    }

    async fn claim_recent(&self, mailbox: MailboxId, up_to: Uid) -> Result<Uid> {
        // The single writer runs the read and the raise as one unit.
        self.write(move |tx| {
            let before = read_recent_marker(tx, mailbox)?;
            if before < up_to {
                tx.prepare_cached("UPDATE mailboxes SET recent_uid = ?2 WHERE id = ?1")?
                    .execute(params![id_bytes(mailbox.0), up_to])?;
            }
            Ok(before)
        })
        .await
    }

    async fn recent_marker(&self, mailbox: MailboxId) -> Result<Uid> {
        self.read_small(move |tx| read_recent_marker(tx, mailbox))
            .await
    }

    async fn mailbox_status(&self, mailbox: MailboxId) -> Result<MailboxStatus> {
        self.read_small(move |tx| {
            let record = get_mailbox(tx, mailbox)?;
            let (messages, unseen, size) = tx
                .prepare_cached(
                    "SELECT message_count, unseen_count, message_bytes FROM mailboxes
                     WHERE id = ?1",
                )?
                .query_row([id_bytes(mailbox.0)], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })?;
            Ok(MailboxStatus {
                messages: messages as u32,
                unseen: unseen as u32,
                uidnext: record.uidnext,
                uidvalidity: record.uidvalidity,
                highest_modseq: record.highest_modseq,
                size: size as u64,
            })
        })
        .await
    }

    async fn quota_of_mailbox(&self, mailbox: MailboxId) -> Result<(u64, Option<u64>)> {
        self.read_small(move |tx| {
            let record = get_mailbox(tx, mailbox)?;
            let user = get_user(tx, record.user)?;
            Ok((user.user.storage_used, user.user.quota))
        })
        .await
    }

    async fn append(
        &self,
        mailbox: MailboxId,
        message: NewMessage,
    ) -> Result<(AppendOutcome, Vec<Wake>)> {
        self.write(move |tx| {
            let (outcome, wake) = append_message(tx, mailbox, &message)?;
            Ok((outcome, vec![wake]))
        })
        .await
    }

    async fn append_batch(
        &self,
        mailbox: MailboxId,
        messages: Vec<NewMessage>,
    ) -> Result<(BatchOutcome, Vec<Wake>)> {
        self.write(move |tx| {
            let mut stored = Vec::with_capacity(messages.len());
            let mut last_wake = None;
            let mut stopped = None;
            for message in &messages {
                // Its own savepoint, so a message that fails leaves nothing behind while
                // the ones before it are kept.
                run_cached(tx, "SAVEPOINT batch_message")?;
                match append_message(tx, mailbox, message) {
                    Ok((outcome, wake)) => {
                        run_cached(tx, "RELEASE batch_message")?;
                        stored.push(outcome);
                        last_wake = Some(wake);
                    }
                    Err(fail) => {
                        tx.execute_batch("ROLLBACK TO batch_message; RELEASE batch_message")?;
                        stopped = Some(Error::from(fail));
                        break;
                    }
                }
            }
            Ok((
                BatchOutcome { stored, stopped },
                last_wake.into_iter().collect(),
            ))
        })
        .await
    }

    async fn transfer(
        &self,
        source: MailboxId,
        uids: &UidSet,
        target: MailboxId,
        transfer: Transfer,
    ) -> Result<(CopyOutcome, Vec<Wake>)> {
        let uids = uids.clone();
        self.write(move |tx| {
            let from = get_mailbox(tx, source)?;
            let to = get_mailbox(tx, target)?;
            let mut picked: Vec<(Vec<u8>, Uid, u64)> = Vec::new();
            for_each_in_set(tx, "id, uid, size", source, &uids, |r| {
                picked.push((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64));
                Ok(())
            })?;
            if picked.is_empty() {
                return Ok((
                    CopyOutcome {
                        uidvalidity: to.uidvalidity,
                        pairs: Vec::new(),
                        modseq: None,
                    },
                    Vec::new(),
                ));
            }
            let total: u64 = picked.iter().map(|p| p.2).sum();
            let quota_moves = transfer == Transfer::Copy || from.user != to.user;
            if quota_moves {
                check_quota(tx, to.user, total)?;
            }
            if to.uidnext as u64 + picked.len() as u64 >= Uid::MAX as u64 {
                return Err(Error::from(Defect::Exhausted("UID space of mailbox")).into());
            }
            let modseq = to.highest_modseq + 1;
            let expires = retention::expiry(&to, now());
            let mut uidnext = to.uidnext;
            let mut pairs = Vec::with_capacity(picked.len());
            for (id, uid, _) in &picked {
                let new_uid = uidnext;
                uidnext += 1;
                match transfer {
                    Transfer::Copy => {
                        let new_id = id_bytes(RecordId::new());
                        tx.prepare_cached(
                            "INSERT INTO messages (id, mailbox, user, uid, modseq, flags, seen,
                                 deleted, idate, hdate, size, msgid, subject, envelope,
                                 bodystructure, layout, search_headers, search_body, expires)
                             SELECT ?2, ?3, ?4, ?5, ?6, flags, seen, deleted, idate, hdate, size,
                                 msgid, subject, envelope, bodystructure, layout, search_headers,
                                 search_body, ?7
                             FROM messages WHERE id = ?1",
                        )?
                        .execute(params![
                            id,
                            new_id,
                            id_bytes(target.0),
                            id_bytes(to.user.0),
                            new_uid,
                            modseq as i64,
                            expires
                        ])?;
                        tx.prepare_cached(
                            "INSERT INTO message_blobs (message, seq, hash)
                             SELECT ?2, seq, hash FROM message_blobs WHERE message = ?1",
                        )?
                        .execute(params![id, new_id])?;
                        let hashes = tx
                            .prepare_cached("SELECT hash FROM message_blobs WHERE message = ?1")?
                            .query_map([id], |r| r.get::<_, Vec<u8>>(0))?
                            .collect::<rusqlite::Result<Vec<_>>>()?;
                        for hash in hashes {
                            reference_blob(tx, &hash, 1)?;
                        }
                    }
                    Transfer::Move => {
                        tx.prepare_cached(
                            "UPDATE messages SET mailbox = ?2, user = ?3, uid = ?4, modseq = ?5,
                                 expires = ?6
                             WHERE id = ?1",
                        )?
                        .execute(params![
                            id,
                            id_bytes(target.0),
                            id_bytes(to.user.0),
                            new_uid,
                            modseq as i64,
                            expires
                        ])?;
                    }
                }
                journal(tx, target, modseq, new_uid, KIND_EXISTS, None)?;
                pairs.push((*uid, new_uid));
            }
            set_mailbox_counters(tx, target, uidnext, modseq)?;
            let mut wakes = vec![Wake {
                user: to.user,
                mailbox: target,
                modseq,
            }];
            if quota_moves {
                add_storage(tx, to.user, total as i64)?;
            }
            if transfer == Transfer::Move {
                // Re-read: when source is target, the counters just moved.
                let from = get_mailbox(tx, source)?;
                let source_modseq = from.highest_modseq + 1;
                for (_, uid, _) in &picked {
                    journal(tx, source, source_modseq, *uid, KIND_EXPUNGE, None)?;
                }
                set_mailbox_counters(tx, source, from.uidnext, source_modseq)?;
                if from.user != to.user {
                    add_storage(tx, from.user, -(total as i64))?;
                }
                wakes.push(Wake {
                    user: from.user,
                    mailbox: source,
                    modseq: source_modseq,
                });
            }
            Ok((
                CopyOutcome {
                    uidvalidity: to.uidvalidity,
                    pairs,
                    modseq: Some(modseq),
                },
                wakes,
            ))
        })
        .await
    }

    async fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<ModSeq>,
    ) -> Result<(FlagsOutcome, Vec<Wake>)> {
        let (uids, flags) = (uids.clone(), flags.clone());
        self.write(move |tx| {
            let record = get_mailbox(tx, mailbox)?;
            let mut current: Vec<(Vec<u8>, Uid, ModSeq, Flags)> = Vec::new();
            for_each_in_set(tx, "id, uid, modseq, flags", mailbox, &uids, |r| {
                current.push((
                    r.get(0)?,
                    r.get(1)?,
                    r.get::<_, i64>(2)? as u64,
                    flags_at(r, 3)?,
                ));
                Ok(())
            })?;
            let modseq = record.highest_modseq + 1;
            let mut outcome = FlagsOutcome {
                modseq: None,
                updated: Vec::new(),
                modified: Vec::new(),
            };
            for (id, uid, old_modseq, old_flags) in current {
                if unchanged_since.is_some_and(|limit| old_modseq > limit) {
                    outcome.modified.push(uid);
                    continue;
                }
                let new_flags = apply_flag_op(&old_flags, op, &flags);
                if new_flags == old_flags {
                    outcome.updated.push((uid, old_flags, old_modseq));
                    continue;
                }
                tx.prepare_cached(
                    "UPDATE messages SET flags = ?2, seen = ?3, deleted = ?4, modseq = ?5
                     WHERE id = ?1",
                )?
                .execute(params![
                    id,
                    flags_to_text(&new_flags),
                    new_flags.contains(&Flag::Seen),
                    new_flags.contains(&Flag::Deleted),
                    modseq as i64
                ])?;
                journal(tx, mailbox, modseq, uid, KIND_FLAGS, Some(&new_flags))?;
                outcome.modseq = Some(modseq);
                outcome.updated.push((uid, new_flags, modseq));
            }
            let mut wakes = Vec::new();
            if outcome.modseq.is_some() {
                set_mailbox_counters(tx, mailbox, record.uidnext, modseq)?;
                wakes.push(Wake {
                    user: record.user,
                    mailbox,
                    modseq,
                });
            }
            Ok((outcome, wakes))
        })
        .await
    }

    async fn expunge(
        &self,
        mailbox: MailboxId,
        uids: Option<&UidSet>,
    ) -> Result<(ExpungeOutcome, Vec<Wake>)> {
        let uids = uids.cloned().unwrap_or_else(UidSet::all);
        self.write(move |tx| {
            let record = get_mailbox(tx, mailbox)?;
            let mut victims = Vec::new();
            for_each_in_set(tx, "id, uid, size, deleted", mailbox, &uids, |r| {
                if r.get::<_, bool>(3)? {
                    victims.push((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64));
                }
                Ok(())
            })?;
            let modseq = remove_messages(tx, &record, &victims)?;
            let wakes = modseq
                .map(|modseq| Wake {
                    user: record.user,
                    mailbox,
                    modseq,
                })
                .into_iter()
                .collect();
            Ok((
                ExpungeOutcome {
                    uids: victims.into_iter().map(|v| v.1).collect(),
                    modseq,
                },
                wakes,
            ))
        })
        .await
    }

    async fn snapshot(&self, mailbox: MailboxId) -> Result<Snapshot> {
        self.read(move |tx| {
            let record = get_mailbox(tx, mailbox)?;
            let mut stmt =
                tx.prepare_cached("SELECT uid FROM messages WHERE mailbox = ?1 ORDER BY uid")?;
            let uids = stmt
                .query_map([id_bytes(mailbox.0)], |r| r.get::<_, u32>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Snapshot {
                uids,
                uidvalidity: record.uidvalidity,
                uidnext: record.uidnext,
                highest_modseq: record.highest_modseq,
            })
        })
        .await
    }

    async fn select_view(&self, mailbox: MailboxId) -> Result<SelectView> {
        self.read(move |tx| {
            let record = get_mailbox(tx, mailbox)?;
            let mut view =
                SelectView::new(record.uidvalidity, record.uidnext, record.highest_modseq);
            let mut stmt = tx.prepare_cached(
                "SELECT uid, flags FROM messages WHERE mailbox = ?1 ORDER BY uid",
            )?;
            let mut rows = stmt.query([id_bytes(mailbox.0)])?;
            while let Some(row) = rows.next()? {
                view.push(row.get(0)?, &flags_at(row, 1)?);
            }
            Ok(view)
        })
        .await
    }

    async fn changes_since(&self, mailbox: MailboxId, modseq: ModSeq) -> Result<Changes> {
        // Every IMAP command ends with this, and there are seldom more than a few changes:
        // read them on the calling task, unless there turn out to be many.
        let few = self
            .read_small(move |tx| changes_in_journal(tx, mailbox, modseq, Some(INLINE_CHANGES)))
            .await?;
        match few {
            Some(changes) => Ok(changes),
            None => self
                .read(move |tx| changes_in_journal(tx, mailbox, modseq, None))
                .await?
                .ok_or_else(|| Defect::Bug("journal read without a limit stopped").into()),
        }
    }

    async fn fetch_meta(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        fields: MetaFields,
    ) -> Result<Vec<MessageMeta>> {
        let small = uids.len() <= INLINE_UIDS;
        let uids = uids.clone();
        let read = move |tx: &Connection| {
            get_mailbox(tx, mailbox)?;
            let columns = meta_columns(fields);
            let mut out = Vec::new();
            for_each_in_set(tx, &columns, mailbox, &uids, |r| {
                let envelope = r
                    .get::<_, Option<String>>(7)?
                    .map(|t| from_json::<Envelope>(&t))
                    .transpose()?;
                let body_structure = r
                    .get::<_, Option<String>>(8)?
                    .map(|t| from_json::<BodyStructure>(&t))
                    .transpose()?;
                out.push(MessageMeta {
                    id: MessageId(record_id(r, 0)?),
                    uid: r.get(1)?,
                    modseq: r.get::<_, i64>(2)? as u64,
                    flags: flags_at(r, 3)?,
                    internal_date: r.get(4)?,
                    header_date: r.get(5)?,
                    size: r.get::<_, i64>(6)? as u64,
                    envelope,
                    body_structure,
                });
                Ok(())
            })?;
            Ok(out)
        };
        if small {
            self.read_small(read).await
        } else {
            self.read(read).await
        }
    }

    async fn load_content(&self, mailbox: MailboxId, uid: Uid) -> Result<ContentRead> {
        self.read_content(mailbox, uid, |tx, message| {
            let mut stmt = tx.prepare_cached(
                "SELECT b.codec, b.data FROM message_blobs m JOIN blobs b ON b.hash = m.hash
                 WHERE m.message = ?1 ORDER BY m.seq",
            )?;
            let blobs = stmt
                .query_map([&message.id], |r| {
                    Ok((r.get::<_, u8>(0)?, r.get::<_, Vec<u8>>(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(ContentRead {
                layout: message.layout,
                blobs,
            })
        })
        .await
    }

    async fn load_content_selected(
        &self,
        mailbox: MailboxId,
        uid: Uid,
        select: BlobSelector,
    ) -> Result<ContentRead> {
        self.read_content(mailbox, uid, |tx, message| {
            let mut stmt = tx.prepare_cached(
                "SELECT b.codec, b.data FROM message_blobs m JOIN blobs b ON b.hash = m.hash
                 WHERE m.message = ?1 AND m.seq = ?2",
            )?;
            let blobs = select(&message.layout)
                .into_iter()
                .map(|seq| {
                    stmt.query_row(params![message.id, seq as i64], |r| {
                        Ok((r.get::<_, u8>(0)?, r.get::<_, Vec<u8>>(1)?))
                    })
                    .optional()?
                    .ok_or_else(|| {
                        Error::from(Defect::Malformed {
                            what: "message",
                            detail: format!("no blob at position {seq}"),
                        })
                        .into()
                    })
                })
                .collect::<TxResult<Vec<_>>>()?;
            Ok(ContentRead {
                layout: message.layout,
                blobs,
            })
        })
        .await
    }

    async fn search(&self, mailbox: MailboxId, key: &SearchKey) -> Result<Vec<Uid>> {
        let key = key.clone();
        self.read(move |tx| search::search(tx, mailbox, &key)).await
    }

    async fn enqueue(
        &self,
        sent: Option<(MailboxId, NewMessage)>,
        entries: Vec<OutboundEntry>,
    ) -> Result<(Option<AppendOutcome>, Vec<Wake>)> {
        self.write(move |tx| {
            let stored = sent
                .map(|(mailbox, message)| append_message(tx, mailbox, &message))
                .transpose()?;
            outbound::insert_entries(tx, &entries)?;
            Ok(match stored {
                Some((outcome, wake)) => (Some(outcome), vec![wake]),
                None => (None, Vec::new()),
            })
        })
        .await
    }

    async fn claim_outbound(
        &self,
        now: Timestamp,
        until: Timestamp,
        lease: RecordId,
        limit: usize,
    ) -> Result<Vec<OutboundEntry>> {
        self.write(move |tx| outbound::claim(tx, now, until, lease, limit))
            .await
    }

    async fn finish_outbound(
        &self,
        id: OutboundId,
        lease: RecordId,
        next: Option<OutboundEntry>,
        dsn: Option<(MailboxId, NewMessage)>,
    ) -> Result<(bool, Vec<Wake>)> {
        self.write(move |tx| {
            if !outbound::finish(tx, id, lease, next.as_ref())? {
                return Ok((false, Vec::new()));
            }
            let wakes = match dsn {
                Some((mailbox, message)) => vec![append_message(tx, mailbox, &message)?.1],
                None => Vec::new(),
            };
            Ok((true, wakes))
        })
        .await
    }

    async fn list_outbound(&self) -> Result<Vec<OutboundEntry>> {
        self.read(outbound::list).await
    }

    async fn stats(&self) -> Result<StoreStats> {
        self.read(|tx| {
            let count = |sql: &str| -> TxResult<u64> {
                Ok(tx.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
            };
            Ok(StoreStats {
                users: count("SELECT count(*) FROM users")?,
                mailboxes: count("SELECT count(*) FROM mailboxes")?,
                messages: count("SELECT count(*) FROM messages")?,
                raw_bytes: count("SELECT coalesce(sum(size), 0) FROM messages")?,
                stored_bytes: count(
                    "SELECT coalesce((SELECT sum(length(layout)) FROM messages), 0)
                          + coalesce((SELECT sum(stored_len) FROM blobs), 0)",
                )?,
                blobs: count("SELECT count(*) FROM blobs")?,
                dedup_hits: count(
                    "SELECT coalesce((SELECT value FROM meta WHERE key = 'dedup_hits'), 0)",
                )?,
            })
        })
        .await
    }

    async fn verify(&self, repair: bool) -> Result<VerifyReport> {
        self.write(move |tx| {
            let mut problems = Vec::new();
            // Quota: storage_used = Σ sizes of the user's messages.
            let mut stmt = tx.prepare(
                "SELECT u.id, u.username, u.storage_used,
                     coalesce((SELECT sum(size) FROM messages m WHERE m.user = u.id), 0)
                 FROM users u",
            )?;
            let drift = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for (id, name, stored, actual) in drift {
                if stored != actual {
                    problems.push(format!(
                        "user {name}: storage_used {stored}, messages sum to {actual}"
                    ));
                    if repair {
                        tx.execute(
                            "UPDATE users SET storage_used = ?2 WHERE id = ?1",
                            params![id, actual],
                        )?;
                    }
                }
            }
            // STATUS counts = the mailbox's messages (kept by triggers; checked all the same).
            let mut stmt = tx.prepare(
                "SELECT path, message_count, unseen_count, message_bytes, counted.* FROM mailboxes
                 JOIN (SELECT mb.id AS mailbox, count(m.id) AS n,
                           coalesce(sum(1 - m.seen), 0) AS unseen, coalesce(sum(m.size), 0) AS bytes
                       FROM mailboxes mb LEFT JOIN messages m ON m.mailbox = mb.id
                       GROUP BY mb.id) counted ON counted.mailbox = mailboxes.id
                 WHERE message_count != n OR unseen_count != unseen OR message_bytes != bytes",
            )?;
            let miscounted = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        [r.get::<_, i64>(1)?, r.get(2)?, r.get(3)?],
                        r.get::<_, Vec<u8>>(4)?,
                        [r.get::<_, i64>(5)?, r.get(6)?, r.get(7)?],
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for (path, stored, mailbox, actual) in miscounted {
                problems.push(format!(
                    "mailbox {path}: counts (messages, unseen, bytes) {stored:?}, messages give {actual:?}"
                ));
                if repair {
                    tx.execute(
                        "UPDATE mailboxes SET message_count = ?2, unseen_count = ?3,
                             message_bytes = ?4 WHERE id = ?1",
                        params![mailbox, actual[0], actual[1], actual[2]],
                    )?;
                }
            }
            // Blob refcounts = number of references.
            let mut stmt = tx.prepare(
                "SELECT b.hash, b.refcount,
                     (SELECT count(*) FROM message_blobs m WHERE m.hash = b.hash)
                     + (SELECT count(*) FROM stored_files f WHERE f.hash = b.hash)
                 FROM blobs b",
            )?;
            let refs = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for (hash, stored, actual) in refs {
                if stored != actual {
                    problems.push(format!(
                        "blob {}: refcount {stored}, referenced {actual} times",
                        hex(&hash)
                    ));
                    if repair {
                        tx.execute(
                            "UPDATE blobs SET refcount = ?2, unreferenced_since =
                                 CASE WHEN ?2 = 0 THEN coalesce(unreferenced_since, ?3) ELSE NULL END
                             WHERE hash = ?1",
                            params![hash, actual, now()],
                        )?;
                    }
                }
            }
            let missing: i64 = tx.query_row(
                "SELECT count(*) FROM message_blobs m WHERE NOT EXISTS
                     (SELECT 1 FROM blobs b WHERE b.hash = m.hash)",
                [],
                |r| r.get(0),
            )?;
            if missing > 0 {
                problems.push(format!("{missing} message references to missing blobs"));
            }
            // UID/MODSEQ order: every UID below uidnext, every MODSEQ at most highest_modseq.
            let mut stmt = tx.prepare(
                "SELECT b.id, b.path, b.uidnext, b.highest_modseq,
                     (SELECT max(uid) FROM messages m WHERE m.mailbox = b.id),
                     (SELECT max(modseq) FROM messages m WHERE m.mailbox = b.id),
                     (SELECT max(modseq) FROM journal j WHERE j.mailbox = b.id)
                 FROM mailboxes b",
            )?;
            let counters = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                        r.get::<_, Option<i64>>(5)?,
                        r.get::<_, Option<i64>>(6)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for (id, path, uidnext, highest, max_uid, max_modseq, max_journal) in counters {
                let max_modseq = max_modseq.max(max_journal);
                let uid_drift = max_uid.filter(|&u| u >= uidnext);
                let modseq_drift = max_modseq.filter(|&m| m > highest);
                if uid_drift.is_some() {
                    problems.push(format!("mailbox {path}: a UID is not below uidnext {uidnext}"));
                }
                if modseq_drift.is_some() {
                    problems.push(format!(
                        "mailbox {path}: a MODSEQ is above highest_modseq {highest}"
                    ));
                }
                // Repair only ever raises the counters, so no UID or MODSEQ is handed out twice.
                if repair && (uid_drift.is_some() || modseq_drift.is_some()) {
                    tx.execute(
                        "UPDATE mailboxes SET uidnext = ?2, highest_modseq = ?3 WHERE id = ?1",
                        params![
                            id,
                            uid_drift.map_or(uidnext, |u| u + 1),
                            modseq_drift.unwrap_or(highest)
                        ],
                    )?;
                }
            }
            Ok(VerifyReport {
                repaired: repair && !problems.is_empty(),
                problems,
            })
        })
        .await
    }

    async fn gc(&self, grace_secs: u64) -> Result<u64> {
        self.write(move |tx| {
            let cutoff = now() - grace_secs as i64;
            let removed = tx.execute(
                "DELETE FROM blobs WHERE refcount <= 0 AND unreferenced_since IS NOT NULL
                     AND unreferenced_since <= ?1
                     AND NOT EXISTS (SELECT 1 FROM message_blobs m WHERE m.hash = blobs.hash)
                     AND NOT EXISTS (SELECT 1 FROM stored_files f WHERE f.hash = blobs.hash)",
                [cutoff],
            )?;
            Ok(removed as u64)
        })
        .await
    }

    async fn backup(&self, target: &Path) -> Result<()> {
        let target = target.to_path_buf();
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || -> TxResult<()> {
            std::fs::create_dir_all(&target).map_err(StorageError::from)?;
            let file = target.join("store.sqlite");
            // VACUUM INTO copies one read snapshot (writers go on meanwhile) and writes it
            // compacted; the backup API would restart its copy whenever a writer commits.
            // It refuses a target file that exists and is not empty.
            let conn = idle_reader(&readers, 0).unwrap_or_else(|| lock(&readers[0]));
            let path = file.to_str().ok_or_else(|| {
                StorageError::from(Defect::Unsupported("a backup path that is not UTF-8"))
            })?;
            conn.execute("VACUUM INTO ?1", [path])?;
            drop(conn);
            // The copy is written without fsync; make it durable before saying it is done.
            std::fs::File::open(&file)
                .and_then(|f| f.sync_all())
                .and_then(|()| std::fs::File::open(&target)?.sync_all())
                .map_err(StorageError::from)?;
            Ok(())
        })
        .await?
        .map_err(Error::from)
    }

    async fn trim_journal(&self, max_age_secs: u64) -> Result<u64> {
        self.write(move |tx| {
            let cutoff = now() - max_age_secs as i64;
            tx.execute(
                "UPDATE mailboxes SET journal_floor = max(journal_floor, coalesce(
                     (SELECT max(modseq) FROM journal j WHERE j.mailbox = mailboxes.id
                          AND j.created < ?1), 0))",
                [cutoff],
            )?;
            let removed = tx.execute("DELETE FROM journal WHERE created < ?1", [cutoff])?;
            Ok(removed as u64)
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use rusqlite::types::Value;

    use crate::model::*;
    use crate::store::{Store, StoreConfig};

    /// Opens the same database file behind the store's back, to age or corrupt records.
    fn raw(dir: &std::path::Path) -> rusqlite::Connection {
        super::open_connection(&dir.join("store.sqlite")).unwrap()
    }

    async fn store_with_mail(dir: &std::path::Path) -> (Store, User, Mailbox) {
        let store = Store::open_sqlite(dir, StoreConfig::default())
            .await
            .unwrap();
        let user = store
            .create_user(NewUser {
                username: "drift".into(),
                password: "pw".into(),
                ..NewUser::default()
            })
            .await
            .unwrap();
        let inbox = store.get_mailbox(user.id, "INBOX").await.unwrap();
        for n in 0..3 {
            // Bodies big enough to become one leaf blob each.
            let raw = format!(
                "Subject: {n}\r\n\r\n{}\r\n",
                format!("body {n} ").repeat(200)
            );
            store
                .append(inbox.id, raw.as_bytes(), &Flags::new(), None)
                .await
                .unwrap();
        }
        (store, user, inbox)
    }

    /// The plan SQLite picks for `sql` (the detail column of EXPLAIN QUERY PLAN).
    fn plan(db: &rusqlite::Connection, sql: &str) -> String {
        let mut stmt = db.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        // ?1 is a mailbox id, any further ones a UID range.
        stmt.raw_bind_parameter(1, [0u8; 12]).unwrap();
        for index in 2..=stmt.parameter_count() {
            stmt.raw_bind_parameter(index, 1).unwrap();
        }
        let mut rows = stmt.raw_query();
        let mut details = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            details.push(row.get::<_, String>(3).unwrap());
        }
        details.join("; ")
    }

    #[tokio::test]
    async fn flag_scans_read_only_the_meta_index() {
        let dir = tempfile::tempdir().unwrap();
        store_with_mail(dir.path()).await;
        let db = raw(dir.path());
        let covering = "USING COVERING INDEX messages_meta";
        let flags_only = super::in_set_sql(&super::meta_columns(MetaFields::default()));
        assert!(
            plan(&db, &flags_only).contains(covering),
            "{}",
            plan(&db, &flags_only)
        );
        let with_envelope = super::in_set_sql(&super::meta_columns(MetaFields {
            envelope: true,
            body_structure: false,
        }));
        assert!(!plan(&db, &with_envelope).contains(covering));
    }

    /// A search on flags, dates and sizes is answered by SQL from the meta index; one with a
    /// text key reads the rows SQL lets through and leaves the decision to the matcher.
    #[tokio::test]
    async fn metadata_searches_are_answered_from_the_meta_index() {
        let dir = tempfile::tempdir().unwrap();
        store_with_mail(dir.path()).await;
        let db = raw(dir.path());
        let unseen_and_big = SearchKey::And(vec![
            SearchKey::Flag(Flag::Seen, false),
            SearchKey::Not(Box::new(SearchKey::Smaller(100))),
            SearchKey::Or(
                Box::new(SearchKey::InternalSince(5)),
                Box::new(SearchKey::Uids(UidSet::from_ranges([(1, 2), (7, 9)]))),
            ),
        ]);
        let (sql, exact) = super::search::search_query(&unseen_and_big, &mut vec![Value::Null]);
        assert!(exact, "{sql}");
        assert!(
            plan(&db, &sql).contains("USING COVERING INDEX messages_meta"),
            "{}",
            plan(&db, &sql)
        );
        let subject = SearchKey::And(vec![
            SearchKey::Flag(Flag::Seen, false),
            SearchKey::Header("subject".into(), "x".into()),
        ]);
        let (sql, exact) = super::search::search_query(&subject, &mut vec![Value::Null]);
        assert!(
            !exact && sql.contains("search_headers") && sql.contains("instr"),
            "{sql}"
        ); // A key of header tests alone reads the header index, not the rows.
        let headers_only = SearchKey::Or(
            Box::new(SearchKey::Header("subject".into(), "x".into())),
            Box::new(SearchKey::Not(Box::new(SearchKey::Header(
                "from".into(),
                "".into(),
            )))),
        );
        let (sql, exact) = super::search::search_query(&headers_only, &mut vec![Value::Null]);
        assert!(!exact);
        assert!(
            plan(&db, &sql).contains("USING COVERING INDEX messages_search_headers"),
            "{}",
            plan(&db, &sql)
        );
    }

    #[tokio::test]
    async fn cached_statements_are_not_planned_again_on_reuse() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, _, inbox) = store_with_mail(dir.path()).await;
        let db = raw(dir.path());
        let sql = super::in_set_sql(&super::meta_columns(MetaFields::default()));
        for (first, last) in [(1u32, 1u32), (2, 3), (1, u32::MAX)] {
            let mut stmt = db.prepare_cached(&sql).unwrap();
            let mut rows = stmt
                .query(rusqlite::params![super::id_bytes(inbox.id.0), first, last])
                .unwrap();
            while rows.next().unwrap().is_some() {}
        }
        let stmt = db.prepare_cached(&sql).unwrap();
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn small_reads_wait_for_a_reader_when_all_are_busy() {
        use crate::backend::Backend;
        let dir = tempfile::tempdir().unwrap();
        let (store, _, inbox) = store_with_mail(dir.path()).await;
        drop(store);
        let backend = std::sync::Arc::new(super::SqliteBackend::open(dir.path()).await.unwrap());
        let busy: Vec<_> = backend.readers.iter().map(super::lock).collect();
        let one = UidSet::from_ranges([(1, 1)]);
        let (inline, pooled) = {
            let (a, b) = (backend.clone(), backend.clone());
            let one = one.clone();
            (
                tokio::spawn(
                    async move { a.fetch_meta(inbox.id, &one, MetaFields::default()).await },
                ),
                tokio::spawn(async move { b.load_content(inbox.id, 2).await }),
            )
        };
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(!inline.is_finished() && !pooled.is_finished());
        drop(busy);
        let metas = inline.await.unwrap().unwrap();
        assert_eq!(metas.iter().map(|m| m.uid).collect::<Vec<_>>(), [1]);
        assert!(!pooled.await.unwrap().unwrap().blobs.is_empty());
        // With the readers free again a small read is answered at once.
        let metas = backend
            .fetch_meta(inbox.id, &one, MetaFields::default())
            .await
            .unwrap();
        assert_eq!(metas.len(), 1);
    }

    #[tokio::test]
    async fn long_journals_are_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _, inbox) = store_with_mail(dir.path()).await;
        let start = store.mailbox_status(inbox.id).await.unwrap().highest_modseq;
        let flagged: Flags = [Flag::Flagged].into_iter().collect();
        let one = UidSet::from_ranges([(1, 1)]);
        let toggles = super::INLINE_CHANGES + 6;
        for n in 0..toggles {
            let op = if n % 2 == 0 {
                FlagOp::Add
            } else {
                FlagOp::Remove
            };
            store
                .store_flags(inbox.id, &one, op, &flagged, None)
                .await
                .unwrap();
        }
        let changes = store.changes_since(inbox.id, start).await.unwrap();
        let modseqs: Vec<u64> = changes.changes.iter().map(|c| c.modseq).collect();
        assert_eq!(
            modseqs,
            (start + 1..=start + toggles as u64).collect::<Vec<_>>()
        );
        assert_eq!(changes.highest_modseq, start + toggles as u64);
        // The last few fit the inline read.
        let recent = store.changes_since(inbox.id, start + 6).await.unwrap();
        assert_eq!(recent.changes.len(), super::INLINE_CHANGES);
    }

    #[tokio::test]
    async fn older_store_gains_the_scan_indexes_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _, inbox) = store_with_mail(dir.path()).await;
        drop(store);
        let index_count = |db: &rusqlite::Connection| -> i64 {
            db.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index'
                 AND name IN ('messages_meta', 'messages_search_headers')",
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        // Back to a store as the version before schema versioning left it, then as each
        // step left it: every rollback undoes the newest step first.
        let before_rules =
            "DROP TABLE filters; DROP TABLE autoreplies; DROP TABLE autoreplies_sent;";
        let before_settings =
            "DROP INDEX messages_expires; ALTER TABLE messages DROP COLUMN expires;
            ALTER TABLE mailboxes DROP COLUMN hidden; ALTER TABLE mailboxes DROP COLUMN retention;
            DROP TABLE stored_files;";
        let before_subscriptions = "DROP TRIGGER dangling_subscriptions_of_deleted_user;
            DROP TABLE dangling_subscriptions;";
        let before_profiles =
            "DROP TRIGGER users_profile_gone; DROP TRIGGER addresses_details_gone;
            DROP TABLE user_profiles; DROP TABLE address_details; DROP TABLE forwarded_addresses;";
        let before_recent = "ALTER TABLE mailboxes DROP COLUMN recent_uid;";
        let before_register = "DROP TRIGGER address_register_of_deleted_user;
            DROP TABLE address_register;";
        let before_encryption = "ALTER TABLE mailboxes DROP COLUMN encrypt_messages;";
        let before_totp = "DROP TRIGGER users_totp_gone; DROP TABLE totp;";
        let before_keywords = "DROP TRIGGER mailboxes_keywords_gone; DROP TABLE mailbox_keywords;";
        let before_auth = "DROP TABLE asps; ALTER TABLE users DROP COLUMN suspended;
            ALTER TABLE users DROP COLUMN disabled_scopes;";
        let before_counts = "DROP TRIGGER messages_counted_in; DROP TRIGGER messages_counted_out;
            DROP TRIGGER messages_counted_again; ALTER TABLE mailboxes DROP COLUMN message_count;
            ALTER TABLE mailboxes DROP COLUMN unseen_count;
            ALTER TABLE mailboxes DROP COLUMN message_bytes;";
        for older in [
            format!(
                "{before_counts} DROP INDEX messages_meta; DROP INDEX messages_search_headers; PRAGMA user_version = 0;"
            ),
            format!("{before_counts} DROP INDEX messages_search_headers; PRAGMA user_version = 1;"),
            format!("{before_counts} PRAGMA user_version = 2;"),
            "PRAGMA user_version = 3;".to_string(),
        ]
        .into_iter()
        .map(|older| format!("{before_auth} {older}"))
        .chain(["PRAGMA user_version = 4;".to_string()])
        .map(|older| format!("{before_recent} {older}"))
        .chain(["PRAGMA user_version = 5;".to_string()])
        .map(|older| format!("{before_settings} {older}"))
        .chain(["PRAGMA user_version = 6;".to_string()])
        .map(|older| format!("{before_rules} {older}"))
        .chain(["PRAGMA user_version = 7;".to_string()])
        .map(|older| format!("{before_subscriptions} {older}"))
        .chain(["PRAGMA user_version = 8;".to_string()])
        .map(|older| format!("DROP TABLE registry; {older}"))
        .chain(["PRAGMA user_version = 9;".to_string()])
        .map(|older| format!("{before_profiles} {older}"))
        .chain(["PRAGMA user_version = 10;".to_string()])
        .map(|older| format!("{before_register} {older}"))
        .chain(["PRAGMA user_version = 11;".to_string()])
        .map(|older| format!("{before_encryption} {older}"))
        .chain(["PRAGMA user_version = 12;".to_string()])
        .map(|older| format!("{before_totp} {older}"))
        .chain(["PRAGMA user_version = 13;".to_string()])
        {
            let older = format!("{before_keywords} {older}");
            let db = raw(dir.path());
            db.execute_batch(&older).unwrap();
            drop(db);
            let store = Store::open_sqlite(dir.path(), StoreConfig::default())
                .await
                .unwrap();
            let db = raw(dir.path());
            let version: i64 = db
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap();
            assert_eq!(version, super::MIGRATIONS.len() as i64);
            assert_eq!(index_count(&db), 2);
            let metas = store
                .fetch_meta(inbox.id, &UidSet::all(), MetaFields::default())
                .await
                .unwrap();
            assert_eq!(metas.iter().map(|m| m.uid).collect::<Vec<_>>(), [1, 2, 3]);
            let subject = SearchKey::Header("subject".into(), "2".into());
            assert_eq!(store.search(inbox.id, &subject).await.unwrap(), [3]);
            let status = store.mailbox_status(inbox.id).await.unwrap();
            assert_eq!((status.messages, status.unseen), (3, 3));
        }
    }

    #[tokio::test]
    async fn mailbox_counts_follow_every_change() {
        let dir = tempfile::tempdir().unwrap();
        let (store, user, inbox) = store_with_mail(dir.path()).await;
        let other = store.get_mailbox(user.id, "Trash").await.unwrap();
        let seen: Flags = [Flag::Seen].into_iter().collect();
        let all = UidSet::all();
        let counted = |db: &rusqlite::Connection, mailbox: MailboxId| -> (u32, u32, u64) {
            db.query_row(
                "SELECT count(*), coalesce(sum(1 - seen), 0), coalesce(sum(size), 0)
                 FROM messages WHERE mailbox = ?1",
                [super::id_bytes(mailbox.0)],
                |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64)),
            )
            .unwrap()
        };
        let check = |step: &str| {
            let store = store.clone();
            let db = raw(dir.path());
            let step = step.to_string();
            async move {
                for mailbox in [inbox.id, other.id] {
                    let status = store.mailbox_status(mailbox).await.unwrap();
                    assert_eq!(
                        (status.messages, status.unseen, status.size),
                        counted(&db, mailbox),
                        "after {step}"
                    );
                }
            }
        };
        check("append").await;
        store
            .store_flags(
                inbox.id,
                &UidSet::from_ranges([(1, 2)]),
                FlagOp::Add,
                &seen,
                None,
            )
            .await
            .unwrap();
        check("seen").await;
        store.copy(inbox.id, &all, other.id).await.unwrap();
        check("copy").await;
        store
            .move_messages(inbox.id, &UidSet::from_ranges([(2, 2)]), other.id)
            .await
            .unwrap();
        check("move").await;
        store
            .store_flags(other.id, &all, FlagOp::Replace, &Flags::new(), None)
            .await
            .unwrap();
        check("unseen again").await;
        store
            .expunge(other.id, Some(&UidSet::from_ranges([(1, 2)])))
            .await
            .unwrap();
        check("expunge").await;
        assert!(store.mailbox_status(other.id).await.unwrap().messages > 0);
    }

    #[tokio::test]
    async fn verify_reports_and_repairs_drift() {
        let dir = tempfile::tempdir().unwrap();
        let (store, user, inbox) = store_with_mail(dir.path()).await;
        let used = store.get_user(user.id).await.unwrap().storage_used;
        let db = raw(dir.path());
        db.execute_batch(
            "UPDATE users SET storage_used = 5;
             UPDATE blobs SET refcount = refcount + 7;
             UPDATE mailboxes SET uidnext = 2, highest_modseq = 1 WHERE path = 'INBOX';
             UPDATE mailboxes SET unseen_count = 0 WHERE path = 'INBOX';",
        )
        .unwrap();
        let found = store.verify(false).await.unwrap();
        assert!(!found.repaired);
        assert_eq!(found.problems.len(), 1 + 1 + 3 + 2, "{:?}", found.problems);
        assert_eq!(
            store.verify(false).await.unwrap(),
            found,
            "report only changes nothing"
        );

        let fixed = store.verify(true).await.unwrap();
        assert!(fixed.repaired);
        assert_eq!(fixed.problems, found.problems);
        assert!(store.verify(false).await.unwrap().problems.is_empty());
        assert_eq!(store.get_user(user.id).await.unwrap().storage_used, used);
        let snap = store.snapshot(inbox.id).await.unwrap();
        assert_eq!((snap.uidnext, snap.highest_modseq), (4, 3));
        assert_eq!(store.mailbox_status(inbox.id).await.unwrap().unseen, 3);
        let next = store
            .append(inbox.id, b"x", &Flags::new(), None)
            .await
            .unwrap();
        assert_eq!((next.uid, next.modseq), (4, 4));
    }

    #[tokio::test]
    async fn trimmed_journal_reports_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _, inbox) = store_with_mail(dir.path()).await;
        assert_eq!(store.trim_journal(3600).await.unwrap(), 0);
        raw(dir.path())
            .execute("UPDATE journal SET created = created - 7200", [])
            .unwrap();
        store
            .store_flags(
                inbox.id,
                &UidSet::all(),
                FlagOp::Add,
                &[Flag::Seen].into(),
                None,
            )
            .await
            .unwrap();
        assert_eq!(store.trim_journal(3600).await.unwrap(), 3);
        let old = store.changes_since(inbox.id, 1).await.unwrap();
        assert!(old.truncated);
        let recent = store.changes_since(inbox.id, 3).await.unwrap();
        assert!(!recent.truncated);
        assert_eq!(recent.changes.len(), 3);
        assert!(recent.changes.iter().all(|c| c.modseq == 4));
    }
}
