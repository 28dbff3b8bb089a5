//! The per-message decision of a STORE (RFC 3501 §6.4.6, RFC 7162 §3.1.3).

use crate::model::{FlagOp, Flags, ModSeq};

/// What a STORE does to one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FlagChange {
    /// UNCHANGEDSINCE refuses it: the message changed after the limit (`MODIFIED`).
    Refused,
    /// The operation leaves its flags as they are: it keeps its MODSEQ.
    Same,
    /// Its new flags, written with the command's one new MODSEQ and journalled.
    Changed(Flags),
}

/// The decision for a message holding `current` flags at `modseq`. UNCHANGEDSINCE is tested
/// first: a message changed after the limit is refused even when the operation would not
/// change it.
pub(crate) fn flag_change(
    op: FlagOp,
    given: &Flags,
    unchanged_since: Option<ModSeq>,
    current: &Flags,
    modseq: ModSeq,
) -> FlagChange {
    if unchanged_since.is_some_and(|limit| modseq > limit) {
        return FlagChange::Refused;
    }
    let new = op.apply(current, given);
    if &new == current {
        FlagChange::Same
    } else {
        FlagChange::Changed(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Flag;

    fn flags(list: &[Flag]) -> Flags {
        list.iter().cloned().collect()
    }

    #[test]
    fn unchangedsince_refuses_a_later_change_even_when_nothing_would_change() {
        let seen = flags(&[Flag::Seen]);
        let refused = flag_change(FlagOp::Add, &seen, Some(4), &seen, 5);
        assert_eq!(refused, FlagChange::Refused);
        let at_limit = flag_change(FlagOp::Add, &seen, Some(5), &seen, 5);
        assert_eq!(at_limit, FlagChange::Same);
    }

    #[test]
    fn a_change_carries_the_new_flags_and_no_change_is_same() {
        let seen = flags(&[Flag::Seen]);
        let both = flags(&[Flag::Seen, Flag::Flagged]);
        let added = flag_change(FlagOp::Add, &flags(&[Flag::Flagged]), None, &seen, 1);
        assert_eq!(added, FlagChange::Changed(both.clone()));
        let removed = flag_change(FlagOp::Remove, &flags(&[Flag::Deleted]), None, &both, 1);
        assert_eq!(removed, FlagChange::Same);
        let replaced = flag_change(FlagOp::Replace, &Flags::new(), Some(1), &seen, 1);
        assert_eq!(replaced, FlagChange::Changed(Flags::new()));
    }
}
