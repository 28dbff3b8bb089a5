//! The embedded default engine: one SQLite file per store (bundled SQLite).
//!
//! WAL journal with `synchronous=FULL`, so a committed transaction survives a crash of the
//! process (and of the machine). Writes go to one writer thread that owns the only write
//! connection; reads run on tokio's blocking pool over several reader connections, each in a
//! deferred transaction so it sees one consistent snapshot. Nothing blocks the async runtime.
//!
//! Group commit: the writer takes every operation that is waiting, runs each inside its own
//! savepoint of one transaction and commits once, then answers them all. Each operation stays
//! atomic (a failing one rolls back to its savepoint), and none is answered before its commit
//! has returned.
//!
//! Flag changes are the one exception to "fsynced before answered" ([`Durability::Deferred`]):
//! a group made only of them commits with `synchronous=NORMAL`, so the commit is in the WAL
//! (the kernel has it: it survives a crash of the process) but not yet on the disk. The writer
//! fsyncs the WAL at the latest [`DEFERRED_SYNC`] later, and any synced commit (a message, an
//! account change) fsyncs it sooner. A power loss can undo at most that window of flag
//! changes, each whole or not at all, never a message. Dovecot does not fsync flag changes at
//! all (`mail_fsync = optimized`); an fsync per STORE made STORE 3-4x slower than its.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::*;
use crate::error::{
    AddressError, AspError, Defect, Error, MailboxError, MessageError, RuleError, StorageError,
    StorageErrorKind, UserError,
};
use crate::retention;
use crate::telemetry::{self, Access, Engine};

mod access_tokens;
mod accounts;
mod addressregister;
mod asps;
mod authlog;
mod blobs;
mod encryption;
mod events;
mod expiry;
#[cfg(feature = "testkit")]
pub mod faults;
mod files;
mod journal;
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
mod schema;
mod search;
mod sort;
mod subscriptions;
#[cfg(test)]
mod tests;
mod transfer;
mod two_factor;

use blobs::*;
use events::log_event;
use journal::*;
use mailboxes::*;
use messages::*;
use records::*;
use schema::*;

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
/// Longest a [`Durability::Deferred`] commit waits for its fsync.
const DEFERRED_SYNC: Duration = Duration::from_millis(100);
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
            // SQLite stops a statement only when asked to (an interrupt, a progress handler):
            // the caller gave up waiting, the data is intact, and a retry may succeed.
            ErrorCode::OperationInterrupted => StorageErrorKind::Timeout,
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

/// When a write's commit must be on the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Durability {
    /// fsynced before the write is answered.
    Synced,
    /// In the WAL when answered, fsynced within [`DEFERRED_SYNC`] (flag changes only).
    Deferred,
}

/// A job and the durability its caller needs.
struct Queued {
    job: Job,
    durability: Durability,
}

/// The SQLite engine.
pub struct SqliteBackend {
    writer: mpsc::Sender<Queued>,
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

/// Longest a connection waits for a lock another process holds (a `wildduck` command next
/// to `serve`, a backup tool) before its statement fails as busy.
const BUSY_WAIT: Duration = Duration::from_secs(30);

/// Opens a connection to `file` for `access`: the writer's, or one of the readers.
fn open_connection(file: &Path, access: Access) -> rusqlite::Result<Connection> {
    let mut conn = Connection::open(file)?;
    #[cfg(feature = "testkit")]
    faults::watch(&conn);
    // A plain function is all SQLite's handler takes, so one per access.
    let on_busy: fn(i32) -> bool = match access {
        Access::Read => |attempts| wait_while_busy(Access::Read, attempts),
        Access::Write => |attempts| wait_while_busy(Access::Write, attempts),
    };
    conn.busy_handler(Some(on_busy))?;
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

/// SQLite's busy handler: another process holds the lock `access` needs. Waits as SQLite's
/// own busy timeout does (ever longer sleeps, at most 100 ms each) up to [`BUSY_WAIT`] in
/// all, and counts each try again as a retry; false gives up (the statement fails busy).
fn wait_while_busy(access: Access, attempts: i32) -> bool {
    let sleep_ms = |attempt: i32| (1u64 << attempt.clamp(0, 7)).min(100);
    let waited: u64 = (0..attempts).map(sleep_ms).sum();
    if waited >= BUSY_WAIT.as_millis() as u64 {
        return false;
    }
    telemetry::transaction_retry(Engine::Sqlite, access);
    std::thread::sleep(Duration::from_millis(sleep_ms(attempts)));
    true
}

impl SqliteBackend {
    /// Opens or creates `store.sqlite` inside `dir`.
    pub async fn open(dir: &Path) -> Result<Self> {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || -> TxResult<Self> {
            std::fs::create_dir_all(&dir).map_err(StorageError::from)?;
            let file = dir.join("store.sqlite");
            let mut writer = open_connection(&file, Access::Write)?;
            prepare_schema(&mut writer)?;
            let readers = (0..READERS)
                .map(|_| open_connection(&file, Access::Read).map(Mutex::new))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let (jobs, queue) = mpsc::channel::<Queued>();
            let wal = dir.join("store.sqlite-wal");
            let writer_thread = std::thread::Builder::new()
                .name("wildduck-sqlite-writer".into())
                .spawn(move || write_loop(writer, queue, wal))
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

    /// Runs `f` as one atomic unit on the writer thread; answers after it has committed and
    /// the commit is on the disk.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> TxResult<T> + Send + 'static,
    {
        self.write_with(Durability::Synced, f).await
    }

    /// Like `write`, answered once the commit is in the WAL; on the disk within
    /// [`DEFERRED_SYNC`]. For flag changes only (see the module documentation).
    async fn write_deferred<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> TxResult<T> + Send + 'static,
    {
        self.write_with(Durability::Deferred, f).await
    }

    async fn write_with<T, F>(&self, durability: Durability, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> TxResult<T> + Send + 'static,
    {
        let queued = Instant::now();
        let (reply, answer) = tokio::sync::oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |conn| {
            take_blob_writes(); // left by a job that panicked
            let outcome = match conn {
                Ok(conn) => f(conn),
                Err(refused) => Err(Fail::Store(refused.into())),
            };
            let (stored_blobs, found_blobs) = take_blob_writes();
            let ok = outcome.is_ok();
            let answer: Answer = Box::new(move |commit_error| {
                let result = match (outcome, commit_error) {
                    (Ok(value), None) => {
                        telemetry::blob_writes(stored_blobs, found_blobs);
                        Ok(value)
                    }
                    (Ok(_), Some(e)) => Err(Error::Storage(e.clone())),
                    (Err(e), _) => Err(e.into()),
                };
                let _ = reply.send(result);
            });
            (ok, answer)
        });
        self.writer
            .send(Queued { job, durability })
            .map_err(|_| Defect::Bug("the writer thread has stopped"))?;
        let answered = answer.await;
        // Waiting for the writer and for the group's commit is part of what a write costs.
        telemetry::transaction(Engine::Sqlite, Access::Write, queued.elapsed());
        answered.map_err(|_| Defect::Bug("a write operation panicked"))?
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
            f(tx.conn)
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
            return Ok(f(tx.conn)?);
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
            let message = stored_message(tx.conn, mailbox, uid)?;
            if message.size <= INLINE_CONTENT_BYTES {
                return Ok(load(tx.conn, message)?);
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

/// Runs a statement that takes no parameters and returns no rows (transaction control)
/// from the statement cache: parsing BEGIN and COMMIT afresh was a visible part of a small
/// read.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// One read transaction (a consistent snapshot) on a reader connection, ended when dropped,
/// panics included, so the connection goes back to its pool outside any transaction. Every
/// read goes through one, so its life is the read's latency.
struct ReadTx<'c> {
    conn: &'c Connection,
    opened: Instant,
}

impl<'c> ReadTx<'c> {
    fn begin(conn: &'c Connection) -> rusqlite::Result<Self> {
        let opened = Instant::now();
        run_cached(conn, "BEGIN")?;
        Ok(ReadTx { conn, opened })
    }
}

impl Drop for ReadTx<'_> {
    fn drop(&mut self) {
        // A read transaction has nothing to keep or undo; ending it is all that matters. A
        // failed COMMIT leaves it open, and every later BEGIN on this reader would fail.
        if let Err(e) = run_cached(self.conn, "COMMIT") {
            tracing::error!("sqlite ending a read snapshot: {e}");
            if let Err(e) = run_cached(self.conn, "ROLLBACK") {
                tracing::error!("sqlite dropping a read snapshot: {e}");
            }
        }
        telemetry::transaction(Engine::Sqlite, Access::Read, self.opened.elapsed());
    }
}

/// The writer thread: group commit of whatever operations are waiting. Ends when the
/// backend (the only sender) is dropped.
fn write_loop(conn: Connection, queue: mpsc::Receiver<Queued>, wal: PathBuf) {
    let mut sync = WalSync::new(wal);
    loop {
        let first = match sync.due() {
            None => queue
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some(due) => queue.recv_timeout(due.saturating_duration_since(Instant::now())),
        };
        let first = match first {
            Ok(first) => first,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                sync.now();
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(queued) => group.push(queued),
                Err(_) => break,
            }
        }
        // A busy writer never times out above: a deferred commit's fsync comes due here.
        if sync.due().is_some_and(|due| due <= Instant::now()) {
            sync.now();
        }
        let durability = if group.iter().any(|q| q.durability == Durability::Synced) {
            Durability::Synced
        } else {
            Durability::Deferred
        };
        if let Err(e) = set_synchronous(&conn, durability) {
            tracing::error!("sqlite synchronous setting: {e}");
        }
        let Some(answers) = run_group(&conn, group.into_iter().map(|q| q.job).collect()) else {
            continue;
        };
        let committed = run_cached(&conn, "COMMIT").map_err(sqlite_error);
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        sync.committed(durability);
        for answer in answers {
            answer(committed.as_ref().err());
        }
    }
    // The queue is closed: the store is being dropped. Move the WAL into the database and
    // empty it (readers still open are idle, outside any transaction); the checkpoint
    // fsyncs what deferred commits left.
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
        tracing::warn!("sqlite checkpoint on close: {e}");
        sync.now();
    }
}

/// The writer's `synchronous` setting for a group: FULL fsyncs the WAL at commit (which
/// makes every earlier deferred commit durable too), NORMAL leaves it to [`WalSync`].
fn set_synchronous(conn: &Connection, durability: Durability) -> rusqlite::Result<()> {
    run_cached(
        conn,
        match durability {
            Durability::Synced => "PRAGMA synchronous = FULL",
            Durability::Deferred => "PRAGMA synchronous = NORMAL",
        },
    )
}

/// The fsync owed to deferred commits.
struct WalSync {
    wal: PathBuf,
    /// When the oldest commit not yet on the disk was made.
    owed_since: Option<Instant>,
}

impl WalSync {
    fn new(wal: PathBuf) -> Self {
        WalSync {
            wal,
            owed_since: None,
        }
    }

    /// When the owed fsync must happen, if one is owed.
    fn due(&self) -> Option<Instant> {
        self.owed_since.map(|since| since + DEFERRED_SYNC)
    }

    fn committed(&mut self, durability: Durability) {
        match durability {
            // A synced commit fsynced the whole WAL, earlier frames included.
            Durability::Synced => self.owed_since = None,
            Durability::Deferred => {
                self.owed_since.get_or_insert_with(Instant::now);
            }
        }
    }

    /// fsyncs the WAL file. Its frames are what the deferred commits wrote; once they are on
    /// the disk, SQLite's recovery replays them after a power loss.
    fn now(&mut self) {
        if self.owed_since.take().is_none() {
            return;
        }
        let synced = std::fs::File::open(&self.wal).and_then(|file| file.sync_data());
        match synced {
            Ok(()) => {}
            // No WAL file: no frame is waiting for the disk.
            Err(_) if !self.wal.exists() => {}
            Err(e) => tracing::error!("sqlite WAL fsync: {e}"),
        }
    }
}

/// Runs each job in its own savepoint of one open transaction, whose answers wait for the
/// commit. A job that fails or panics is rolled back alone (a panicking job's caller sees
/// its reply channel close). None: the transaction did not begin, every job was answered
/// with the engine's error.
///
/// Some failures (an I/O error, a full disk, an interrupt) make SQLite roll back the whole
/// transaction, not just the savepoint: the jobs run so far are undone too, and are answered
/// so at once; the rest run in a new transaction. (Run on in autocommit instead, each would
/// commit at its RELEASE and then be answered with the failed COMMIT: done but told failed.)
fn run_group(conn: &Connection, group: Vec<Job>) -> Option<Vec<Answer>> {
    let mut jobs = group.into_iter();
    if let Err(e) = begin_group(conn) {
        answer_refused(jobs, &e);
        return None;
    }
    let mut answers = Vec::with_capacity(jobs.len());
    while let Some(job) = jobs.next() {
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
        if conn.is_autocommit() {
            let undone = StorageError::from(Defect::UndoneWithOthers(
                "the write was undone with its group after another write failed",
            ));
            for answer in answers.drain(..) {
                answer(Some(&undone));
            }
            if let Err(e) = begin_group(conn) {
                answer_refused(jobs, &e);
                return None;
            }
        }
    }
    Some(answers)
}

fn begin_group(conn: &Connection) -> std::result::Result<(), StorageError> {
    run_cached(conn, "BEGIN IMMEDIATE").map_err(|e| {
        let e = sqlite_error(e);
        tracing::error!("sqlite begin: {e}");
        e
    })
}

/// Answers jobs that could not run with the error that refused them.
fn answer_refused(jobs: impl Iterator<Item = Job>, refused: &StorageError) {
    for job in jobs {
        let (_, answer) = job(Err(refused.clone()));
        answer(None);
    }
}

// ---- value encodings ----

impl Backend for SqliteBackend {}
