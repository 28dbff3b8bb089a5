//! What a copy, a move and an expunge mean, apart from how an engine writes them.
//!
//! - A copy or move takes the existing messages of the UID set in UID order and gives them
//!   consecutive new UIDs from the target's UIDNEXT ([`uid_pairs`]), all with the target's
//!   one new MODSEQ and an EXISTS journal entry each; flags, dates and content are carried
//!   as they are (content by reference: one more blob reference per copy).
//! - A move then removes the originals from the source with the source's one new MODSEQ
//!   and an EXPUNGE journal entry each.
//! - Quota ([`transfer_quota`]): a copy charges the target's owner; a move between two users
//!   charges the new owner and releases the old one; a move within one user's mailboxes
//!   moves nothing.
//! - An expunge removes the messages of the UID set that carry `\Deleted` ([`expunges`]),
//!   with one new MODSEQ, an EXPUNGE journal entry each, their sizes released from the owner
//!   and their blob references released.
//! - UIDNEXT stays below 2^32−1 ([`check_uid_space`]), so it always fits a UID.

use crate::backend::Transfer;
use crate::error::{Defect, Error};
use crate::model::{Flag, Flags, Uid, UserId};

/// The quota a copy or move of `total` bytes moves: who is charged (checked against their
/// quota first) and who is given bytes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TransferQuota {
    pub charge: Option<(UserId, u64)>,
    pub release: Option<(UserId, u64)>,
}

pub(crate) fn transfer_quota(
    from: UserId,
    to: UserId,
    transfer: Transfer,
    total: u64,
) -> TransferQuota {
    match transfer {
        Transfer::Copy => TransferQuota {
            charge: Some((to, total)),
            release: None,
        },
        Transfer::Move if from == to => TransferQuota {
            charge: None,
            release: None,
        },
        Transfer::Move => TransferQuota {
            charge: Some((to, total)),
            release: Some((from, total)),
        },
    }
}

/// `Exhausted` unless `count` more UIDs from `uidnext` leave UIDNEXT below `Uid::MAX`.
pub(crate) fn check_uid_space(uidnext: u64, count: u64) -> Result<(), Error> {
    if uidnext.saturating_add(count) >= Uid::MAX as u64 {
        return Err(Defect::Exhausted("UID space of mailbox").into());
    }
    Ok(())
}

/// The (old UID, new UID) pairs of a copy or move of `uids` (in UID order) whose first new
/// UID is `first`.
pub(crate) fn uid_pairs(uids: impl IntoIterator<Item = Uid>, first: Uid) -> Vec<(Uid, Uid)> {
    uids.into_iter().zip(first..).collect()
}

/// Whether an EXPUNGE removes a message with these flags.
pub(crate) fn expunges(flags: &Flags) -> bool {
    flags.contains(&Flag::Deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RecordId;

    #[test]
    fn a_copy_charges_the_target_and_only_a_move_between_users_releases() {
        let (a, b) = (UserId(RecordId::new()), UserId(RecordId::new()));
        let copy = transfer_quota(a, a, Transfer::Copy, 10);
        assert_eq!((copy.charge, copy.release), (Some((a, 10)), None));
        let within = transfer_quota(a, a, Transfer::Move, 10);
        assert_eq!((within.charge, within.release), (None, None));
        let across = transfer_quota(a, b, Transfer::Move, 10);
        assert_eq!(
            (across.charge, across.release),
            (Some((b, 10)), Some((a, 10)))
        );
    }

    #[test]
    fn uidnext_stays_below_the_largest_uid() {
        let max = Uid::MAX as u64;
        assert!(check_uid_space(max - 2, 1).is_ok());
        assert!(check_uid_space(max - 1, 1).is_err());
        assert!(check_uid_space(max - 10, 10).is_err());
        assert!(check_uid_space(1, u64::MAX).is_err());
    }

    #[test]
    fn new_uids_are_consecutive_in_uid_order() {
        assert_eq!(uid_pairs([3, 7, 9], 20), vec![(3, 20), (7, 21), (9, 22)]);
        assert!(expunges(&[Flag::Deleted, Flag::Seen].into_iter().collect()));
        assert!(!expunges(&[Flag::Seen].into_iter().collect()));
    }
}
