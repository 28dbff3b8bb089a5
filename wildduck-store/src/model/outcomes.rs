//! What the operations on messages answer: outcomes, snapshots, the journal, store
//! statistics and the verify report.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::*;

/// Result of an append.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendOutcome {
    pub id: MessageId,
    pub uid: Uid,
    pub modseq: ModSeq,
    pub uidvalidity: u32,
    pub size: u64,
}

/// One message for `Store::append_batch`: what `Store::append` takes, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct AppendItem<'a> {
    pub raw: &'a [u8],
    pub flags: &'a Flags,
    /// None = now.
    pub internal_date: Option<Timestamp>,
}

/// Result of a batch append: the messages stored, in order, and why the next one was not
/// (the ones after it were not tried).
#[derive(Debug)]
pub struct BatchOutcome {
    pub stored: Vec<AppendOutcome>,
    pub stopped: Option<crate::error::Error>,
}

/// Result of a copy or move: source UID → target UID, in source UID order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyOutcome {
    pub uidvalidity: u32,
    pub pairs: Vec<(Uid, Uid)>,
    /// MODSEQ of the target mailbox after the copy (None when nothing was copied).
    pub modseq: Option<ModSeq>,
}

/// Result of `store_flags`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlagsOutcome {
    /// The MODSEQ the change took (None when nothing changed).
    pub modseq: Option<ModSeq>,
    /// Every addressed message that still exists, with its flags after the command and its
    /// MODSEQ (changed or not), in UID order. Messages that failed UNCHANGEDSINCE are not here.
    pub updated: Vec<(Uid, Flags, ModSeq)>,
    /// UIDs whose MODSEQ was above UNCHANGEDSINCE: left unchanged (RFC 7162 `MODIFIED`).
    pub modified: Vec<Uid>,
}

/// Result of an expunge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpungeOutcome {
    pub uids: Vec<Uid>,
    pub modseq: Option<ModSeq>,
}

/// The UIDs of a mailbox at one moment, for a session's sequence-number map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub uids: Vec<Uid>,
    pub uidvalidity: u32,
    pub uidnext: Uid,
    pub highest_modseq: ModSeq,
}

/// What SELECT and EXAMINE report of a mailbox, read at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectView {
    pub snapshot: Snapshot,
    /// Every keyword set on some message.
    pub keywords: BTreeSet<String>,
    /// Index in `snapshot.uids` of the first message without `\Seen`.
    pub first_unseen: Option<usize>,
}

impl SelectView {
    /// An empty view with the mailbox's counters; messages are added in UID order.
    pub fn new(uidvalidity: u32, uidnext: Uid, highest_modseq: ModSeq) -> Self {
        Self {
            snapshot: Snapshot {
                uids: Vec::new(),
                uidvalidity,
                uidnext,
                highest_modseq,
            },
            keywords: BTreeSet::new(),
            first_unseen: None,
        }
    }

    pub fn push(&mut self, uid: Uid, flags: &Flags) {
        if self.first_unseen.is_none() && !flags.contains(&Flag::Seen) {
            self.first_unseen = Some(self.snapshot.uids.len());
        }
        for flag in flags {
            if let Flag::Keyword(keyword) = flag
                && !self.keywords.contains(keyword)
            {
                self.keywords.insert(keyword.clone());
            }
        }
        self.snapshot.uids.push(uid);
    }
}

/// One journal entry of a mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub modseq: ModSeq,
    pub uid: Uid,
    pub kind: ChangeKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeKind {
    /// A message appeared (append, copy or move in).
    Exists,
    /// A message was removed (expunge or move out).
    Expunge,
    /// A message's flags changed to these.
    Flags(Flags),
}

/// Everything that changed in a mailbox after a MODSEQ.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// In MODSEQ order, then UID order.
    pub changes: Vec<Change>,
    pub highest_modseq: ModSeq,
    /// True when the journal was trimmed past the asked MODSEQ: re-snapshot instead.
    pub truncated: bool,
}

/// Where an entry sits in one user's journal across all their mailboxes: ids grow in the
/// order the engine wrote the entries (SQLite: the second it was written, then the row's
/// insertion order; MongoDB: the entry's ObjectId). Shown as 24 hex digits, as WildDuck's
/// journal ids are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JournalId(pub RecordId);

impl std::fmt::Display for JournalId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for JournalId {
    type Err = InvalidRecordId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self)
    }
}

/// One journal entry of a user's change feed: which mailbox, and what changed there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserChange {
    pub id: JournalId,
    pub mailbox: MailboxId,
    pub change: Change,
}

/// Byte counts of the whole store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStats {
    pub users: u64,
    pub mailboxes: u64,
    pub messages: u64,
    /// Sum of raw message sizes (what Maildir would keep, one file per copy).
    pub raw_bytes: u64,
    /// Bytes actually stored: message records' skeletons plus blobs.
    pub stored_bytes: u64,
    pub blobs: u64,
    /// Blob references saved by finding an identical blob already stored.
    pub dedup_hits: u64,
}

/// What `verify` found (and fixed, with repair).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Human-readable descriptions of each drift found; empty = consistent.
    pub problems: Vec<String>,
    pub repaired: bool,
}
