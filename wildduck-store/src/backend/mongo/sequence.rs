//! UID and MODSEQ allocation without transactions, and the committed horizon readers trust.
//!
//! A change to a mailbox runs in three steps:
//!
//! 1. **Allocate** — one atomic `findOneAndUpdate` on the mailbox document:
//!    `$inc {uidnext: n, modseq: 1}` and `$set {"pending.<token>": floor}`, where `floor` is
//!    the allocation counter `modseq` as read just before (so `floor < ` the MODSEQ we get).
//! 2. **Write** the messages and journal entries stamped with that MODSEQ.
//! 3. **Commit** — `$unset {"pending.<token>"}`.
//!
//! A reader reads the mailbox document once and trusts MODSEQs up to the *horizon*
//! `min(modseq, every pending floor)`. Any MODSEQ at or below the horizon was allocated
//! (it is ≤ `modseq`) by an operation that is no longer pending, because a pending one has a
//! floor below its own MODSEQ. So `changes_since` never returns a MODSEQ above the horizon
//! and never skips one that commits late: a late writer holds the horizon below itself
//! until it commits. Snapshots filter on the same horizon (`added ≤ horizon`, removals
//! above it still shown), so a session's UID list and its MODSEQ agree.
//!
//! A writer that dies between 1 and 3 would hold the horizon forever, so a pending entry
//! older than [`PENDING_TIMEOUT_SECS`] (its token carries its start time) is reaped by the
//! next writer. Until then the mailbox's new messages stay invisible, so a server that starts
//! again on the same host must not wait for that: a token also names its host and its
//! process (id and start time), and whoever reads a mailbox document removes the entries of
//! processes of its own host that are gone — a server killed a moment ago and started again
//! clears its predecessor's entries at its first read. If the writer was only slow and commits after its entry was reaped, its
//! unset matches nothing: it then **restamps** — allocates a fresh MODSEQ and moves its
//! journal entries and messages onto it — so readers that already passed the old MODSEQ
//! still see the change. What a dead writer left half-done (a message without its journal
//! entry, raised refcounts or quota) is what `verify` repairs; nothing committed is lost.

use std::sync::OnceLock;
use std::time::Instant;

use mongodb::bson::{Document, doc};
use mongodb::options::ReturnDocument;

use super::records::{MailboxDoc, ObjectId, bson_int, from_document, id_is};
use super::{MongoBackend, db_error};
use crate::backend::now;
use crate::error::{Defect, MailboxError, Result};
use crate::message_rules::transfer::check_uid_space;
use crate::model::*;
use crate::telemetry::{self, Access, Engine};

/// A writer's pending entry older than this is presumed dead and reaped.
pub const PENDING_TIMEOUT_SECS: i64 = 60;

/// One allocated MODSEQ (and UIDs) of one mailbox, pending until committed.
#[derive(Clone, Debug)]
pub struct Allocation {
    pub mailbox: MailboxId,
    pub modseq: ModSeq,
    /// The first of the allocated UIDs (`uidnext` before the allocation).
    pub first_uid: Uid,
    pub uidvalidity: u32,
    token: String,
    /// When it was allocated: its change's latency runs until the commit.
    allocated: Instant,
}

/// `t<start>_<random>_<host>_<pid>_<pid start>`: when the writer started, and which
/// process of which host it is.
fn new_token(host: &str) -> String {
    let (pid, started) = this_process().unwrap_or((0, 0));
    format!(
        "t{}_{}_{host}_{pid}_{started}",
        now(),
        rand::random::<u32>()
    )
}

/// A process: its id and its start time (clock ticks after boot, from `/proc`), which
/// tells it from a later process that got the same id.
type ProcessId = (u32, u64);

/// The host and process a token was made by; `None` for tokens made before tokens named
/// them.
fn token_origin(token: &str) -> Option<(&str, ProcessId)> {
    let mut parts = token.split('_').skip(2);
    let host = parts.next()?;
    let pid = parts.next()?.parse().ok()?;
    let started = parts.next()?.parse().ok()?;
    Some((host, (pid, started)))
}

/// When process `pid` of this host started; `None` when there is no such process (or no
/// `/proc` to ask).
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22 of proc(5); the name before it (field 2) may hold spaces, so count from its
    // closing parenthesis, after which field 3 comes.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(22 - 3)?.parse().ok()
}

/// This process, read from `/proc` once: every mailbox read asks.
fn this_process() -> Option<ProcessId> {
    static THIS: OnceLock<Option<ProcessId>> = OnceLock::new();
    *THIS.get_or_init(|| {
        let pid = std::process::id();
        Some((pid, process_start(pid)?))
    })
}

/// This machine's name as it may stand in a token (and so in a field path): letters,
/// digits and `-` only.
pub fn host_tag() -> String {
    // Linux's own answer to gethostname(2), without a dependency for one call.
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let tag: String = name
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    if tag.is_empty() { "host".into() } else { tag }
}

/// When the writer holding `token` started (seconds since the epoch).
pub fn token_started(token: &str) -> Option<i64> {
    token.strip_prefix('t')?.split('_').next()?.parse().ok()
}

impl MongoBackend {
    pub(super) async fn mailbox_doc(&self, mailbox: MailboxId) -> Result<MailboxDoc> {
        let read = || async {
            self.mailboxes
                .find_one(doc! {"_id": ObjectId::from(mailbox)})
                .await
                .map_err(db_error)?
                .ok_or_else(|| MailboxError::NotFound.into())
        };
        let record: MailboxDoc = read().await?;
        if self.reap_left_by_dead_processes(&record).await? {
            return read().await;
        }
        Ok(record)
    }

    /// Allocates one MODSEQ and `uids` UIDs in `mailbox`, pending until [`Self::commit`].
    pub(super) async fn allocate(&self, mailbox: MailboxId, uids: u32) -> Result<Allocation> {
        let before = self.mailbox_doc(mailbox).await?;
        self.reap_stale(&before).await?;
        check_uid_space(before.uidnext.max(0) as u64, uids as u64)?;
        let token = new_token(&self.host);
        let after = self
            .mailboxes
            .clone_with_type::<Document>()
            .find_one_and_update(
                doc! {"_id": ObjectId::from(mailbox)},
                doc! {
                    "$inc": {"uidnext": uids as i64, "modseq": 1i64},
                    "$set": {format!("pending.{token}"): before.modseq},
                },
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(db_error)?
            .ok_or(MailboxError::NotFound)?;
        let after: MailboxDoc = from_document(after)?;
        let allocation = Allocation {
            mailbox,
            modseq: after.modseq as u64,
            first_uid: (after.uidnext - uids as i64) as u32,
            uidvalidity: after.uidvalidity as u32,
            token,
            allocated: Instant::now(),
        };
        if let Err(exhausted) = check_uid_space(after.uidnext.max(0) as u64, 0) {
            // A concurrent allocation got there first; give the MODSEQ back as a gap.
            self.release_token(mailbox, &allocation.token).await?;
            return Err(exhausted);
        }
        Ok(allocation)
    }

    /// Ends the pending state of an allocation: its changes become visible to readers.
    /// `MailboxError::NotFound` when the mailbox was deleted meanwhile (the caller undoes).
    /// Every allocation ends here (a failed change's undo too), so the time since it was
    /// allocated is the change's transaction latency: the window readers wait behind.
    pub(super) async fn commit(&self, allocation: &Allocation) -> Result<()> {
        let committed = self.end_pending(allocation).await;
        telemetry::transaction(
            Engine::Mongodb,
            Access::Write,
            allocation.allocated.elapsed(),
        );
        committed
    }

    async fn end_pending(&self, allocation: &Allocation) -> Result<()> {
        if self
            .release_token(allocation.mailbox, &allocation.token)
            .await?
        {
            return Ok(());
        }
        self.mailbox_doc(allocation.mailbox).await?;
        telemetry::transaction_retry(Engine::Mongodb, Access::Write);
        self.restamp(allocation).await
    }

    async fn release_token(&self, mailbox: MailboxId, token: &str) -> Result<bool> {
        let key = format!("pending.{token}");
        let result = self
            .mailboxes
            .update_one(
                doc! {"_id": ObjectId::from(mailbox), &key: {"$exists": true}},
                doc! {"$unset": {&key: ""}},
            )
            .await
            .map_err(db_error)?;
        Ok(result.matched_count == 1)
    }

    /// Our pending entry was reaped: readers may have passed our MODSEQ. Move every record
    /// stamped with it to a fresh MODSEQ and commit that one instead.
    async fn restamp(&self, old: &Allocation) -> Result<()> {
        tracing::warn!(
            mailbox = %old.mailbox,
            modseq = old.modseq,
            "pending MODSEQ was reaped before it committed; restamping"
        );
        let fresh = self.allocate(old.mailbox, 0).await?;
        let (from, to) = (old.modseq as i64, fresh.modseq as i64);
        self.journal
            .update_many(
                doc! {"mailbox": id_is(old.mailbox), "modseq": from},
                doc! {"$set": {"modseq": to}},
            )
            .await
            .map_err(db_error)?;
        self.messages
            .update_many(
                doc! {"mailbox": id_is(old.mailbox), "modseq": from},
                doc! {"$set": {"modseq": to}},
            )
            .await
            .map_err(db_error)?;
        self.messages
            .update_many(
                doc! {"mailbox": id_is(old.mailbox), "added": from},
                doc! {"$set": {"added": to}},
            )
            .await
            .map_err(db_error)?;
        self.messages
            .update_many(
                doc! {"mailbox": id_is(old.mailbox), "expunged": from},
                doc! {"$set": {"expunged": to}},
            )
            .await
            .map_err(db_error)?;
        if self.release_token(fresh.mailbox, &fresh.token).await? {
            Ok(())
        } else {
            Err(Defect::TooSlow(
                "MODSEQ allocation reaped twice; the database is too slow for the pending timeout",
            )
            .into())
        }
    }

    /// Removes the pending entries in `mailbox` of processes of this host that are gone
    /// (a restarted server finds its predecessor's entries this way, at once, instead of
    /// after the timeout). Whether any went. Containers that share a host name but not a
    /// PID namespace see each other's live processes as gone: such an entry is reaped early
    /// and its writer restamps, as after the timeout (see the module docs) — slower, not
    /// wrong.
    async fn reap_left_by_dead_processes(&self, mailbox: &MailboxDoc) -> Result<bool> {
        let Some(this) = this_process() else {
            return Ok(false); // no /proc: no way to tell a dead process from a live one
        };
        let mut reaped = false;
        for (token, floor) in &mailbox.pending {
            let Some((host, (pid, started))) = token_origin(token) else {
                continue;
            };
            // This process's own entries (the usual ones) need no look into /proc.
            if host == self.host && (pid, started) != this && process_start(pid) != Some(started) {
                tracing::warn!(mailbox = %mailbox.id, token, floor = bson_int(floor),
                    "reaping a MODSEQ allocation of a process of this host that is gone");
                reaped |= self
                    .release_token(MailboxId::from(mailbox.id), token)
                    .await?;
            }
        }
        Ok(reaped)
    }

    /// Removes pending entries of writers that died (older than the timeout).
    async fn reap_stale(&self, mailbox: &MailboxDoc) -> Result<()> {
        let cutoff = now() - PENDING_TIMEOUT_SECS;
        for (token, floor) in &mailbox.pending {
            if token_started(token).is_some_and(|started| started < cutoff) {
                tracing::warn!(mailbox = %mailbox.id, token, floor = bson_int(floor),
                    "reaping a MODSEQ allocation whose writer never committed");
                self.release_token(MailboxId::from(mailbox.id), token)
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_their_start_time_and_origin() {
        let token = new_token("node-1");
        let started = token_started(&token).expect("parses");
        assert!((now() - started).abs() <= 1);
        let this = this_process().expect("/proc on this machine");
        assert_eq!(token_origin(&token), Some(("node-1", this)));
        assert_eq!(token_started("garbage"), None);
        assert_eq!(token_started("t12_34"), Some(12));
        assert_eq!(
            token_origin("t12_34"),
            None,
            "a token from before origins were named"
        );
    }

    #[test]
    fn a_process_is_told_from_one_that_is_gone() {
        let (pid, started) = this_process().expect("/proc on this machine");
        assert_eq!(process_start(pid), Some(started));
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("run sleep");
        assert!(process_start(child.id()).is_some(), "a live child");
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(process_start(child.id()), None, "the reaped child is gone");
    }

    #[test]
    fn the_host_tag_can_stand_in_a_field_path() {
        let tag = host_tag();
        assert!(!tag.is_empty());
        assert!(
            tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{tag}"
        );
    }

    #[test]
    fn horizon_is_below_every_pending_floor() {
        let mut mailbox = MailboxDoc::new(UserId::new(), "INBOX", None, 1);
        mailbox.modseq = 9;
        assert_eq!(mailbox.horizon(), 9);
        mailbox.pending.insert("t1_1", 7i64);
        mailbox.pending.insert("t1_2", 5i64);
        assert_eq!(mailbox.horizon(), 5);
        mailbox.pending.remove("t1_2");
        assert_eq!(mailbox.horizon(), 7);
    }
}
