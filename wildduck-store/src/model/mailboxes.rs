//! Mailboxes: roles, the default set, settings and status.

use serde::{Deserialize, Serialize};

use super::*;

/// RFC 6154 special-use roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SpecialUse {
    All,
    Archive,
    Drafts,
    Flagged,
    Junk,
    Sent,
    Trash,
}

impl SpecialUse {
    /// The RFC 6154 attribute name, e.g. `\Sent`.
    pub fn attribute(self) -> &'static str {
        match self {
            SpecialUse::All => "\\All",
            SpecialUse::Archive => "\\Archive",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Flagged => "\\Flagged",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Trash => "\\Trash",
        }
    }

    /// Parses an RFC 6154 attribute name, case-insensitively.
    pub fn from_attribute(s: &str) -> Option<Self> {
        [
            SpecialUse::All,
            SpecialUse::Archive,
            SpecialUse::Drafts,
            SpecialUse::Flagged,
            SpecialUse::Junk,
            SpecialUse::Sent,
            SpecialUse::Trash,
        ]
        .into_iter()
        .find(|u| u.attribute().eq_ignore_ascii_case(s))
    }
}

/// The folders every new account gets (Gmail-like names, as WildDuck makes them).
pub const DEFAULT_MAILBOXES: [(&str, Option<SpecialUse>); 5] = [
    ("INBOX", None),
    ("Drafts", Some(SpecialUse::Drafts)),
    ("Sent Mail", Some(SpecialUse::Sent)),
    ("Junk", Some(SpecialUse::Junk)),
    ("Trash", Some(SpecialUse::Trash)),
];

/// The hierarchy separator of mailbox paths.
pub const PATH_SEPARATOR: char = '/';

/// A mailbox record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    pub id: MailboxId,
    pub user: UserId,
    /// Unicode path, `/`-separated; `INBOX` is always spelled in upper case.
    pub path: String,
    pub special_use: Option<SpecialUse>,
    pub uidvalidity: u32,
    pub uidnext: Uid,
    pub highest_modseq: ModSeq,
    pub subscribed: bool,
    /// Left out of IMAP LIST (WildDuck's `hidden`); still selectable by name.
    #[serde(default)]
    pub hidden: bool,
    /// Messages arriving here expire this many milliseconds later (WildDuck's `retention`).
    #[serde(default)]
    pub retention: Option<u64>,
}

/// The settings of a mailbox an API client chooses besides its path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MailboxSettings {
    pub hidden: bool,
    /// Milliseconds; `None` (or 0 given by a client) keeps messages until deleted.
    pub retention: Option<u64>,
}

/// A change of [`MailboxSettings`]: `None` leaves a setting as it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MailboxSettingsUpdate {
    pub hidden: Option<bool>,
    pub retention: Option<Option<u64>>,
}

/// Counters of one mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxStatus {
    pub messages: u32,
    pub unseen: u32,
    pub uidnext: Uid,
    pub uidvalidity: u32,
    pub highest_modseq: ModSeq,
    /// Sum of message sizes in bytes.
    pub size: u64,
}
