//! QRESYNC (RFC 7162 §3.2): what a client remembers of a mailbox brought up to date at
//! SELECT, `UID FETCH … (CHANGEDSINCE m VANISHED)`, and VANISHED in place of EXPUNGE once the
//! client enabled it. Expunges since a MODSEQ come from the store's change journal; where the
//! journal was trimmed past it, every UID the client may know that is not present is reported
//! vanished, as RFC 7162 §3.2.5.2 allows.

use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use wildduck_store::{ChangeKind, MailboxId, MetaFields, ModSeq, SearchKey, Store, Uid, UidSet};

use crate::encode;
use crate::state::{Fail, Selected, Session};

/// The QRESYNC parameter of SELECT/EXAMINE: the mailbox state the client has cached.
#[derive(Debug)]
pub struct Remembered {
    pub uidvalidity: u32,
    pub modseq: ModSeq,
    /// The UIDs the client knows (no `*`); all UIDs when absent.
    pub known_uids: Option<SequenceSet>,
}

/// A UID sequence set as UID ranges, `*` standing for `highest` (at least 1: UIDs start
/// there).
pub fn uid_ranges(set: &SequenceSet, highest: Uid) -> UidSet {
    let value = |v: &SeqOrUid| match v {
        SeqOrUid::Value(n) => n.get(),
        SeqOrUid::Asterisk => highest.max(1),
    };
    UidSet::from_ranges(set.0.as_ref().iter().map(|sequence| match sequence {
        Sequence::Single(v) => (value(v), value(v)),
        Sequence::Range(a, b) => (value(a), value(b)),
    }))
}

/// What the journal says happened after a client's MODSEQ.
pub struct SinceThen {
    /// The asked UIDs expunged since, as ranges.
    pub vanished: Vec<(Uid, Uid)>,
    /// UIDs that arrived since (empty where the journal was trimmed): the client can not know
    /// them, so it learns of them by EXISTS, not by FETCH.
    pub arrived: Vec<Uid>,
}

/// The UIDs among `asked` (all when `None`) expunged after `since`, leaving out any in
/// `present` (ascending): those the session still shows are reported by a plain VANISHED
/// later; and the UIDs that arrived after `since`.
pub async fn since_then(
    store: &Store,
    mailbox: MailboxId,
    since: ModSeq,
    asked: Option<&SequenceSet>,
    present: &[Uid],
) -> Result<SinceThen, Fail> {
    let changes = store.changes_since(mailbox, since).await?;
    if changes.truncated {
        // Every UID ever given out may be gone: `*` is the highest of them.
        let highest = store
            .mailbox_status(mailbox)
            .await?
            .uidnext
            .saturating_sub(1);
        let candidates = match asked {
            Some(set) => uid_ranges(set, highest),
            None => UidSet::from_ranges((highest > 0).then_some((1, highest))),
        };
        return Ok(SinceThen {
            vanished: subtract(&candidates, present),
            arrived: Vec::new(),
        });
    }
    // Only UIDs the journal names are reported, so `*` may stand for any UID.
    let candidates = asked.map_or_else(UidSet::all, |set| uid_ranges(set, Uid::MAX));
    let mut gone = Vec::new();
    let mut arrived = Vec::new();
    for change in changes.changes.into_iter().filter(|c| c.modseq > since) {
        match change.kind {
            ChangeKind::Expunge
                if candidates.contains(change.uid)
                    && present.binary_search(&change.uid).is_err() =>
            {
                gone.push(change.uid)
            }
            ChangeKind::Exists => arrived.push(change.uid),
            _ => {}
        }
    }
    arrived.sort_unstable();
    Ok(SinceThen {
        vanished: UidSet::from_iter(gone).ranges().to_vec(),
        arrived,
    })
}

/// The ranges of `set` without the UIDs of `present` (ascending).
fn subtract(set: &UidSet, present: &[Uid]) -> Vec<(Uid, Uid)> {
    let mut out = Vec::new();
    // u64 so that the UID after u32::MAX does not wrap.
    let range = |from: u64, to: u64| (from as Uid, to as Uid);
    for &(first, last) in set.ranges() {
        let mut next = u64::from(first);
        let start = present.partition_point(|&uid| uid < first);
        for &uid in present[start..].iter().take_while(|&&uid| uid <= last) {
            if u64::from(uid) > next {
                out.push(range(next, u64::from(uid) - 1));
            }
            next = u64::from(uid) + 1;
        }
        if next <= u64::from(last) {
            out.push(range(next, u64::from(last)));
        }
    }
    out
}

/// `* VANISHED (EARLIER) …` for the ranges, if any.
pub fn announce_earlier(session: &mut Session, ranges: &[(Uid, Uid)]) {
    if !ranges.is_empty() {
        session.conn.untagged(&format!(
            "VANISHED (EARLIER) {}",
            encode::uid_ranges(ranges)
        ));
    }
}

/// Removes expunged messages from the session's sequence map and returns the lines that tell
/// the client: one `VANISHED` line with QRESYNC on, else `n EXPUNGE` per message (numbers as
/// they are when each is removed, in the order given). UIDs the session did not show are
/// skipped.
pub fn expunge_lines(
    selected: &mut Selected,
    uids: impl IntoIterator<Item = Uid>,
    qresync: bool,
) -> Vec<String> {
    let mut lines = Vec::new();
    let mut vanished = Vec::new();
    for uid in uids {
        if let Some(seq) = selected.remove(uid) {
            if qresync {
                vanished.push(uid);
            } else {
                lines.push(format!("{seq} EXPUNGE"));
            }
        }
    }
    if !vanished.is_empty() {
        vanished.sort_unstable();
        lines.push(format!("VANISHED {}", encode::uid_list(vanished)));
    }
    lines
}

/// The rest of a `SELECT … (QRESYNC …)` answer, after the mailbox was opened: what vanished
/// and what changed among the messages the client knows since the MODSEQ it remembers (the
/// ones that arrived since are left to EXISTS: clients such as imaptest number FETCH
/// responses during the SELECT against their cache).
/// Nothing when the mailbox's UIDVALIDITY is not the one remembered (the cache is void).
pub async fn resync_at_select(session: &mut Session, remembered: &Remembered) -> Result<(), Fail> {
    let store = session.shared.store.clone();
    let Some(selected) = session.selected.as_ref() else {
        return Ok(());
    };
    if selected.mailbox.uidvalidity != remembered.uidvalidity {
        return Ok(());
    }
    let mailbox = selected.mailbox.id;
    let known = remembered.known_uids.as_ref();
    let since = since_then(&store, mailbox, remembered.modseq, known, &selected.uids).await?;
    let known = known.map_or_else(UidSet::all, |set| uid_ranges(set, Uid::MAX));
    let shown: UidSet = selected
        .uids
        .iter()
        .copied()
        .filter(|&uid| known.contains(uid) && since.arrived.binary_search(&uid).is_err())
        .collect();
    announce_earlier(session, &since.vanished);
    if shown.is_empty() {
        return Ok(());
    }
    // The store's search picks the changed messages, so only their metadata is read.
    let changed = SearchKey::And(vec![
        SearchKey::Uids(shown),
        SearchKey::ModSeqAtLeast(remembered.modseq.saturating_add(1)),
    ]);
    let changed: UidSet = store.search(mailbox, &changed).await?.into_iter().collect();
    if changed.is_empty() {
        return Ok(());
    }
    let metas = store
        .fetch_meta(mailbox, &changed, MetaFields::default())
        .await?;
    // A message changed again after the search still has a MODSEQ past the remembered one.
    for meta in &metas {
        let Some(selected) = session.selected.as_mut() else {
            return Ok(());
        };
        let Some(seq) = selected.sequence_of(meta.uid) else {
            continue;
        };
        for line in selected.announce_keywords(&meta.flags) {
            session.conn.untagged(&line);
        }
        let recent = selected.is_recent(meta.uid);
        selected.shown(meta.uid, meta.modseq);
        session.conn.untagged(&format!(
            "{seq} FETCH (UID {} FLAGS {} MODSEQ ({}))",
            meta.uid,
            encode::flag_list(&meta.flags, recent),
            meta.modseq
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtracting_present_uids_leaves_the_gaps() {
        let set = UidSet::from_ranges([(1, 10), (20, 20)]);
        assert_eq!(subtract(&set, &[]), vec![(1, 10), (20, 20)]);
        assert_eq!(subtract(&set, &[1, 5, 10]), vec![(2, 4), (6, 9), (20, 20)]);
        assert_eq!(subtract(&set, &[3, 20, 30]), vec![(1, 2), (4, 10)]);
        let top = UidSet::from_ranges([(Uid::MAX - 1, Uid::MAX)]);
        assert_eq!(
            subtract(&top, &[Uid::MAX]),
            vec![(Uid::MAX - 1, Uid::MAX - 1)]
        );
    }
}
