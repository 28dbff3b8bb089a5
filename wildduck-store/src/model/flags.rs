//! Message flags and how a STORE combines them.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A message flag: the RFC 3501 system flags or a keyword.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Flag {
    Seen,
    Answered,
    Flagged,
    Deleted,
    Draft,
    /// A keyword, kept as given (atom characters only; validated by the store).
    Keyword(String),
}

impl Flag {
    /// Parses `\Seen`-style system flags case-insensitively; anything else is a keyword.
    pub fn parse(s: &str) -> Flag {
        const SYSTEM: [(&str, Flag); 5] = [
            ("\\seen", Flag::Seen),
            ("\\answered", Flag::Answered),
            ("\\flagged", Flag::Flagged),
            ("\\deleted", Flag::Deleted),
            ("\\draft", Flag::Draft),
        ];
        // Compared in place: parsing runs for every flag of every message read.
        SYSTEM
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map_or_else(|| Flag::Keyword(s.to_string()), |(_, flag)| flag)
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Flag::Seen => f.write_str("\\Seen"),
            Flag::Answered => f.write_str("\\Answered"),
            Flag::Flagged => f.write_str("\\Flagged"),
            Flag::Deleted => f.write_str("\\Deleted"),
            Flag::Draft => f.write_str("\\Draft"),
            Flag::Keyword(k) => f.write_str(k),
        }
    }
}

/// A set of flags, ordered so that equal sets compare and print equally.
pub type Flags = BTreeSet<Flag>;

/// How `store_flags` combines the given flags with the current ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagOp {
    Add,
    Remove,
    Replace,
}

impl FlagOp {
    /// The flags a message has after this operation with `given` on its `current` ones; the
    /// one rule both engines apply per message.
    pub(crate) fn apply(self, current: &Flags, given: &Flags) -> Flags {
        match self {
            FlagOp::Add => current.union(given).cloned().collect(),
            FlagOp::Remove => current.difference(given).cloned().collect(),
            FlagOp::Replace => given.clone(),
        }
    }
}
