//! Copying a whole store into another, across engines (`Store::migrate_to`): users with
//! their password hashes, addresses, quota; mailboxes with UIDVALIDITY, UIDNEXT, highest
//! MODSEQ, subscription and role; messages with their ids, UIDs, MODSEQs, flags, dates and
//! byte-exact content; each blob once; the user's application-specific passwords and TOTP
//! record (`credentials`); and every other record kind, the user's and the store's
//! (`records`). A complete run compares the two ends kind by kind, record by record.
//!
//! The copy streams: one user's records, then each mailbox in batches of messages in UID
//! order; a batch's blobs are sent only when the target lacks them. It resumes: every
//! record keeps its id, the target is asked for the highest UID it holds per mailbox, and
//! imports skip what exists, so running it again after an interruption copies only the
//! rest and never duplicates. Meant for stores no server is writing to.

mod credentials;
mod records;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::backend::{Backend, LiveContent};
use crate::error::Result;
use crate::model::{Mailbox, StoreStats};

/// How a migration runs.
#[derive(Clone, Debug)]
pub struct MigrateOptions {
    /// Messages per export/import round (bounds memory: a batch and its new blobs).
    pub batch_size: usize,
    /// Stop after copying this many messages (a run in steps; the next run goes on).
    pub max_messages: Option<u64>,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        Self {
            batch_size: 200,
            max_messages: None,
        }
    }
}

/// Where a migration stands; handed to the progress callback after every batch.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MigrateProgress {
    pub users: u64,
    pub mailboxes: u64,
    /// Messages the target holds (copied by this run or an earlier one).
    pub messages_done: u64,
    /// Messages in the source.
    pub messages_total: u64,
    /// Blobs this run stored in the target.
    pub blobs_copied: u64,
    /// Messages this run stored in the target.
    pub messages_copied: u64,
}

/// One end's state after the copy: its counts, its live content and what `verify` found.
#[derive(Clone, Debug, Serialize)]
pub struct EndCheck {
    pub stats: StoreStats,
    pub live: LiveContent,
    pub problems: Vec<String>,
}

/// The outcome of [`crate::Store::migrate_to`].
#[derive(Clone, Debug, Serialize)]
pub struct MigrateReport {
    pub progress: MigrateProgress,
    /// False when `max_messages` stopped the run early (then nothing below is checked).
    pub complete: bool,
    /// The target held records already: this run continued an earlier one.
    pub resumed: bool,
    /// Counter drift an interrupted earlier run left in the target, repaired by this run.
    pub target_repairs: Vec<String>,
    pub source: Option<EndCheck>,
    pub target: Option<EndCheck>,
    /// How many records of each kind the source holds (and the target, unless a mismatch
    /// says otherwise).
    pub records: BTreeMap<&'static str, usize>,
    /// Counts that differ between the two ends, e.g. "messages: 10 vs 9".
    pub mismatches: Vec<String>,
}

impl MigrateReport {
    /// Complete, both ends consistent, and every count equal.
    pub fn agrees(&self) -> bool {
        let clean = |end: &Option<EndCheck>| end.as_ref().is_some_and(|e| e.problems.is_empty());
        self.complete && self.mismatches.is_empty() && clean(&self.source) && clean(&self.target)
    }
}

pub(crate) async fn run(
    source: &dyn Backend,
    target: &dyn Backend,
    options: &MigrateOptions,
    mut progress: impl FnMut(&MigrateProgress),
) -> Result<MigrateReport> {
    let already = target.stats().await?;
    let resumed = already.users > 0;
    let mut state = MigrateProgress {
        messages_done: already.messages,
        messages_total: source.stats().await?.messages,
        ..MigrateProgress::default()
    };
    progress(&state);
    let batch_size = options.batch_size.max(1);
    let mut complete = true;
    records::copy_store_records(source, target).await?;
    'users: for user in source.export_users().await? {
        let mailboxes = user.mailboxes.clone();
        let id = user.record.user.id;
        target.import_user(user.clone()).await?;
        credentials::copy(source, target, id).await?;
        records::copy_user(source, target, &user).await?;
        state.users += 1;
        for mailbox in &mailboxes {
            state.mailboxes += 1;
            if !copy_mailbox(
                source,
                target,
                mailbox,
                batch_size,
                options,
                &mut state,
                &mut progress,
            )
            .await?
            {
                complete = false;
                break 'users;
            }
        }
        progress(&state);
    }
    let mut report = MigrateReport {
        progress: state,
        complete,
        resumed,
        target_repairs: Vec::new(),
        source: None,
        target: None,
        records: BTreeMap::new(),
        mismatches: Vec::new(),
    };
    if !complete {
        return Ok(report);
    }
    if resumed {
        report.target_repairs = target.verify(true).await?.problems;
    }
    let source_end = check(source).await?;
    let target_end = check(target).await?;
    report.mismatches = mismatches(&source_end, &target_end);
    let (source_records, target_records) = (
        records::census(source).await?,
        records::census(target).await?,
    );
    report
        .mismatches
        .extend(records::census_mismatches(&source_records, &target_records));
    report.records = source_records
        .iter()
        .map(|(kind, records)| (*kind, records.len()))
        .collect();
    report.source = Some(source_end);
    report.target = Some(target_end);
    Ok(report)
}

/// Copies the messages of one mailbox the target lacks. False when `max_messages` stopped it.
async fn copy_mailbox(
    source: &dyn Backend,
    target: &dyn Backend,
    mailbox: &Mailbox,
    batch_size: usize,
    options: &MigrateOptions,
    state: &mut MigrateProgress,
    progress: &mut impl FnMut(&MigrateProgress),
) -> Result<bool> {
    let mut after = target.last_uid(mailbox.id).await?;
    loop {
        let allowed = match options.max_messages {
            Some(max) if state.messages_copied >= max => return Ok(false),
            Some(max) => ((max - state.messages_copied) as usize).min(batch_size),
            None => batch_size,
        };
        let batch = source.export_messages(mailbox.id, after, allowed).await?;
        let Some(last) = batch.last() else {
            return Ok(true);
        };
        after = last.uid;
        let hashes: BTreeSet<_> = batch.iter().flat_map(|m| m.blobs.iter().copied()).collect();
        let missing = target.missing_blobs(hashes.into_iter().collect()).await?;
        state.blobs_copied += missing.len() as u64;
        let blobs = source.export_blobs(missing).await?;
        let stored = target.import_messages(mailbox.id, batch, blobs).await?;
        state.messages_copied += stored;
        state.messages_done += stored;
        progress(state);
    }
}

async fn check(store: &dyn Backend) -> Result<EndCheck> {
    Ok(EndCheck {
        problems: store.verify(false).await?.problems,
        stats: store.stats().await?,
        live: store.live_content().await?,
    })
}

/// The counts a complete copy must reproduce: records and live content. (Blobs awaiting
/// `gc` are not copied; `dedup_hits` counts history, not content.)
fn mismatches(source: &EndCheck, target: &EndCheck) -> Vec<String> {
    let (s, t) = (&source.stats, &target.stats);
    [
        ("users", s.users, t.users),
        ("mailboxes", s.mailboxes, t.mailboxes),
        ("messages", s.messages, t.messages),
        ("raw bytes", s.raw_bytes, t.raw_bytes),
        (
            "stored bytes",
            source.live.stored_bytes,
            target.live.stored_bytes,
        ),
        ("blobs", source.live.blobs, target.live.blobs),
    ]
    .into_iter()
    .filter(|(_, a, b)| a != b)
    .map(|(what, a, b)| format!("{what}: {a} in the source, {b} in the target"))
    .collect()
}
