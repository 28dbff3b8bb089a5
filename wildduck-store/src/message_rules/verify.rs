//! The consistency rules `verify` checks (invariants 4 and 6), each a comparison of what an
//! engine keeps as a counter with what its records give, and the repair that restores it.
//! The engines read the counters and recount the records (SQLite by aggregate queries,
//! MongoDB by a scan) and write the repairs; what is compared and what a repair sets is here.

use crate::model::VerifyReport;

/// A counter that disagrees with the records: what to tell the operator and what to set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Drift<T> {
    pub problems: Vec<String>,
    pub repair: T,
}

impl<T> Drift<T> {
    fn one(problem: String, repair: T) -> Self {
        Drift {
            problems: vec![problem],
            repair,
        }
    }
}

/// A user's `storage_used` must be the sum of the sizes of their messages; the repair sets
/// it to that sum.
pub(crate) fn storage_drift(username: &str, stored: i64, messages_sum: i64) -> Option<Drift<i64>> {
    (stored != messages_sum).then(|| {
        Drift::one(
            format!("user {username}: storage_used {stored}, messages sum to {messages_sum}"),
            messages_sum,
        )
    })
}

/// A mailbox's kept counts (messages, unseen, bytes) must be what its messages give; the
/// repair sets them to that.
pub(crate) fn counts_drift(
    path: &str,
    stored: [i64; 3],
    actual: [i64; 3],
) -> Option<Drift<[i64; 3]>> {
    (stored != actual).then(|| {
        Drift::one(
            format!(
                "mailbox {path}: counts (messages, unseen, bytes) {stored:?}, messages give {actual:?}"
            ),
            actual,
        )
    })
}

/// A blob's refcount must be the number of references to it (from messages and stored
/// files); the repair sets it to that number (a blob left at 0 then awaits `gc`).
pub(crate) fn refcount_drift(hash_hex: &str, stored: i64, references: i64) -> Option<Drift<i64>> {
    (stored != references).then(|| {
        Drift::one(
            format!("blob {hash_hex}: refcount {stored}, referenced {references} times"),
            references,
        )
    })
}

/// References to blobs that are not stored: reported, not repairable.
pub(crate) fn missing_blobs(references: i64) -> Option<String> {
    (references > 0).then(|| format!("{references} message references to missing blobs"))
}

/// A mailbox's sequence counters after repair: UIDNEXT and highest MODSEQ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sequence {
    pub uidnext: i64,
    pub highest_modseq: i64,
}

/// Every UID of a mailbox must be below its UIDNEXT and every MODSEQ (of its messages and
/// its journal) at most its highest MODSEQ. The repair only ever raises the counters, so no
/// UID or MODSEQ is handed out twice.
pub(crate) fn sequence_drift(
    path: &str,
    kept: Sequence,
    max_uid: Option<i64>,
    max_modseq: Option<i64>,
) -> Option<Drift<Sequence>> {
    let uid_drift = max_uid.filter(|&uid| uid >= kept.uidnext);
    let modseq_drift = max_modseq.filter(|&modseq| modseq > kept.highest_modseq);
    let mut problems = Vec::new();
    if uid_drift.is_some() {
        problems.push(format!(
            "mailbox {path}: a UID is not below uidnext {}",
            kept.uidnext
        ));
    }
    if modseq_drift.is_some() {
        problems.push(format!(
            "mailbox {path}: a MODSEQ is above highest_modseq {}",
            kept.highest_modseq
        ));
    }
    (!problems.is_empty()).then(|| Drift {
        problems,
        repair: Sequence {
            uidnext: uid_drift.map_or(kept.uidnext, |uid| uid + 1),
            highest_modseq: modseq_drift.unwrap_or(kept.highest_modseq),
        },
    })
}

/// The report of a check that found `problems` and, when asked to, repaired them.
pub(crate) fn report(problems: Vec<String>, repair: bool) -> VerifyReport {
    VerifyReport {
        repaired: repair && !problems.is_empty(),
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_that_match_their_records_are_no_drift() {
        assert_eq!(storage_drift("a", 10, 10), None);
        assert_eq!(counts_drift("INBOX", [1, 0, 5], [1, 0, 5]), None);
        assert_eq!(refcount_drift("ab", 2, 2), None);
        assert_eq!(missing_blobs(0), None);
        let kept = Sequence {
            uidnext: 5,
            highest_modseq: 9,
        };
        assert_eq!(sequence_drift("INBOX", kept, Some(4), Some(9)), None);
        assert_eq!(sequence_drift("INBOX", kept, None, None), None);
        assert!(!report(Vec::new(), true).repaired);
    }

    #[test]
    fn a_drift_is_reported_and_repaired_to_what_the_records_give() {
        let drift = storage_drift("a", 10, 7).expect("drift");
        assert_eq!(drift.repair, 7);
        assert_eq!(
            drift.problems,
            ["user a: storage_used 10, messages sum to 7"]
        );
        assert_eq!(refcount_drift("ab", 3, 0).expect("drift").repair, 0);
        assert_eq!(
            counts_drift("X", [2, 1, 9], [1, 1, 4])
                .expect("drift")
                .repair,
            [1, 1, 4]
        );
        assert!(missing_blobs(2).is_some());
        assert!(report(vec!["x".into()], true).repaired);
        assert!(!report(vec!["x".into()], false).repaired);
    }

    #[test]
    fn a_sequence_repair_only_raises_the_counters() {
        let kept = Sequence {
            uidnext: 5,
            highest_modseq: 9,
        };
        let uid = sequence_drift("INBOX", kept, Some(5), Some(3)).expect("uid drift");
        assert_eq!(uid.problems.len(), 1);
        assert_eq!(
            uid.repair,
            Sequence {
                uidnext: 6,
                highest_modseq: 9
            }
        );
        let both = sequence_drift("INBOX", kept, Some(8), Some(12)).expect("both drift");
        assert_eq!(both.problems.len(), 2);
        assert_eq!(
            both.repair,
            Sequence {
                uidnext: 9,
                highest_modseq: 12
            }
        );
    }
}
