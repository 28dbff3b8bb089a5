//! The records and values the store speaks: users, addresses, mailboxes, messages, flags,
//! UID sets, changes, sections. Engine-neutral and protocol-neutral: nothing here knows SQL,
//! BSON, IMAP syntax or sequence numbers.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A 12-byte record id, the same on every engine: 4 bytes of seconds since the epoch
/// (big-endian), 5 random bytes per process and a 3-byte counter, the layout of MongoDB's
/// ObjectId, so ids sort by creation time. Shown as 24 lower-case hex digits, as WildDuck's
/// API shows ids.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId([u8; 12]);

impl RecordId {
    /// A fresh id: now, this process, the next count.
    pub fn new() -> Self {
        static PROCESS: LazyLock<[u8; 5]> = LazyLock::new(rand::random);
        static COUNTER: LazyLock<AtomicU32> = LazyLock::new(|| AtomicU32::new(rand::random()));
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs() as u32);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes();
        let mut bytes = [0u8; 12];
        bytes[..4].copy_from_slice(&seconds.to_be_bytes());
        bytes[4..9].copy_from_slice(&*PROCESS);
        bytes[9..].copy_from_slice(&count[1..]);
        Self(bytes)
    }

    pub const fn from_bytes(bytes: [u8; 12]) -> Self {
        Self(bytes)
    }

    pub const fn bytes(self) -> [u8; 12] {
        self.0
    }
}

impl Default for RecordId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({self})")
    }
}

/// Text that is not 24 hex digits, given where an id was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a record id (24 hex digits): {0:?}")]
pub struct InvalidRecordId(pub String);

impl std::str::FromStr for RecordId {
    type Err = InvalidRecordId;
    /// Reads 24 hex digits, either case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidRecordId(s.to_string());
        if s.len() != 24 {
            return Err(invalid());
        }
        let digit = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
        let mut bytes = [0u8; 12];
        for (byte, pair) in bytes.iter_mut().zip(s.as_bytes().chunks(2)) {
            *byte = digit(pair[0])
                .zip(digit(pair[1]))
                .map(|(high, low)| high << 4 | low)
                .ok_or_else(invalid)?;
        }
        Ok(Self(bytes))
    }
}

impl Serialize for RecordId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RecordId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub RecordId);

        impl $name {
            pub fn new() -> Self {
                Self(RecordId::new())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidRecordId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map(Self)
            }
        }
    };
}

id_type!(
    /// Identifies a user account.
    UserId
);
id_type!(
    /// Identifies an e-mail address record.
    AddressId
);
id_type!(
    /// Identifies an application-specific password.
    AspId
);
id_type!(
    /// Identifies a mailbox (folder).
    MailboxId
);
id_type!(
    /// Identifies one stored message (one copy in one mailbox).
    MessageId
);
id_type!(
    /// Identifies one entry of the outbound queue.
    OutboundId
);
id_type!(
    /// Identifies a file a user stored (WildDuck's storage: attachments for drafts).
    FileId
);

/// A file a user stored, without its content (kept as one deduplicated blob).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    pub id: FileId,
    pub user: UserId,
    pub filename: String,
    pub content_type: String,
    /// The Content-ID to give it when attached inline.
    pub cid: Option<String>,
    /// Length of the content in bytes.
    pub size: u64,
    /// MD5 of the content, hex (WildDuck lists it).
    pub md5: String,
    pub created: Timestamp,
}
id_type!(
    /// Identifies a user's delivery filter.
    FilterId
);

/// A message's unique id within its mailbox (RFC 3501 UID). Never 0, never reused.
pub type Uid = u32;
/// A modification sequence number (RFC 7162). Strictly increasing per mailbox.
pub type ModSeq = u64;
/// Seconds since the Unix epoch, UTC.
pub type Timestamp = i64;

/// What a login is for, as WildDuck names it: `master` is the API and web (account
/// management), the others are the mail protocols (`smtp` is submission).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Master,
    Imap,
    Pop3,
    Smtp,
}

impl Scope {
    /// The scopes an operator may disable and an application password may hold (WildDuck's
    /// `consts.SCOPES`): everything but `master`.
    pub const PROTOCOLS: [Scope; 3] = [Scope::Imap, Scope::Pop3, Scope::Smtp];

    pub fn name(self) -> &'static str {
        match self {
            Scope::Master => "master",
            Scope::Imap => "imap",
            Scope::Pop3 => "pop3",
            Scope::Smtp => "smtp",
        }
    }

    /// A protocol scope by name (case and surrounding spaces ignored); `master` is not one.
    pub fn protocol(name: &str) -> Option<Scope> {
        let name = name.trim().to_ascii_lowercase();
        Scope::PROTOCOLS.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A user account as callers see it (never carries the password hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub username: String,
    /// Storage quota in bytes; `None` means unlimited.
    pub quota: Option<u64>,
    /// Sum of the sizes of every message the user owns.
    pub storage_used: u64,
    /// No login of any kind, and no delivery.
    pub disabled: bool,
    /// No login of any kind; mail is still delivered (WildDuck's `suspended`).
    pub suspended: bool,
    /// Protocol scopes this account may not log in to, sorted, without duplicates.
    pub disabled_scopes: Vec<Scope>,
    pub created: Timestamp,
}

/// What `Store::create_user` needs.
#[derive(Clone, Debug, Default)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub quota: Option<u64>,
    /// An address to add at once (optional).
    pub address: Option<String>,
}

/// An application-specific password (ASP) as callers see it (never its hash): a generated
/// password a mail client keeps instead of the account password, limited to some protocols.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asp {
    pub id: AspId,
    pub user: UserId,
    pub description: String,
    /// The protocol scopes it opens, sorted; all of `Scope::PROTOCOLS` is WildDuck's `*`.
    /// Never `master`: account management always takes the account password.
    pub scopes: Vec<Scope>,
    /// Seconds of validity, renewed at every use; `None`: it does not expire.
    pub ttl: Option<u64>,
    pub expires: Option<Timestamp>,
    pub created: Timestamp,
    pub last_use: Option<AspUse>,
}

/// The last successful login with an ASP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AspUse {
    pub time: Timestamp,
    pub scope: Scope,
    /// The client's address, when the shell knows it.
    pub ip: Option<String>,
}

/// What `Store::create_asp` needs.
#[derive(Clone, Debug, Default)]
pub struct NewAsp {
    pub description: String,
    /// Empty means every protocol scope (`*`).
    pub scopes: Vec<Scope>,
    /// A password chosen by the caller (16 letters a–z, spaces and case ignored); generated
    /// when `None`.
    pub password: Option<String>,
    /// Seconds until it expires unless used; every use starts the period again.
    pub ttl: Option<u64>,
}

/// An e-mail address that delivers to a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub id: AddressId,
    pub user: UserId,
    /// The address as shown: NFC, lower-case local part, Unicode domain.
    pub address: String,
    /// The unique lookup key: `address` with dots and `+tag` removed from the local part.
    pub addrview: String,
}

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

/// A set of UIDs as sorted, non-overlapping inclusive ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UidSet {
    ranges: Vec<(Uid, Uid)>,
}

impl UidSet {
    /// Every UID (1 to u32::MAX).
    pub fn all() -> Self {
        Self {
            ranges: vec![(1, Uid::MAX)],
        }
    }

    /// Builds a set from inclusive ranges in any order (reversed ranges are turned round).
    pub fn from_ranges(ranges: impl IntoIterator<Item = (Uid, Uid)>) -> Self {
        let mut ranges: Vec<(Uid, Uid)> = ranges
            .into_iter()
            .map(|(a, b)| (a.min(b), a.max(b)))
            .collect();
        ranges.sort_unstable();
        let mut merged: Vec<(Uid, Uid)> = Vec::with_capacity(ranges.len());
        for (a, b) in ranges {
            match merged.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        Self { ranges: merged }
    }

    pub fn contains(&self, uid: Uid) -> bool {
        self.ranges
            .binary_search_by(|&(a, b)| {
                if uid < a {
                    std::cmp::Ordering::Greater
                } else if uid > b {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
    }

    pub fn ranges(&self) -> &[(Uid, Uid)] {
        &self.ranges
    }

    /// How many UIDs the set names (present or not).
    pub fn len(&self) -> u64 {
        self.ranges
            .iter()
            .map(|&(first, last)| u64::from(last - first) + 1)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

impl FromIterator<Uid> for UidSet {
    fn from_iter<I: IntoIterator<Item = Uid>>(iter: I) -> Self {
        Self::from_ranges(iter.into_iter().map(|u| (u, u)))
    }
}

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

/// An address in an envelope (RFC 3501 §7.4.2 fields), as written in the header: RFC 2047
/// words stay encoded, as IMAP servers send them (see `mime` for the Dovecot rules).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeAddress {
    /// Display name as written (RFC 2047 words not decoded).
    pub name: Option<String>,
    /// Source route, obsolete; kept for completeness.
    pub adl: Option<String>,
    /// Local part, or the group name at the start of a group.
    pub mailbox: Option<String>,
    /// Domain; `None` marks group start/end as RFC 3501 does.
    pub host: Option<String>,
}

/// The envelope of a message (RFC 3501 §7.4.2), strings as written in the header.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub date: Option<String>,
    pub subject: Option<String>,
    pub from: Vec<EnvelopeAddress>,
    pub sender: Vec<EnvelopeAddress>,
    pub reply_to: Vec<EnvelopeAddress>,
    pub to: Vec<EnvelopeAddress>,
    pub cc: Vec<EnvelopeAddress>,
    pub bcc: Vec<EnvelopeAddress>,
    pub in_reply_to: Option<String>,
    pub message_id: Option<String>,
}

/// The structure of one MIME part (RFC 3501 BODYSTRUCTURE fields, protocol-neutral).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyStructure {
    /// Media type as written, e.g. `text` (compare case-insensitively).
    pub media_type: String,
    /// Subtype as written, e.g. `plain` (compare case-insensitively).
    pub media_subtype: String,
    /// Content-Type parameters as written (RFC 2231 continuations joined, not decoded).
    pub params: Vec<(String, String)>,
    pub id: Option<String>,
    pub description: Option<String>,
    /// Content-Transfer-Encoding as given (default `7BIT`).
    pub encoding: String,
    /// Body size in octets as stored.
    pub size: u64,
    /// Line count for `text/*` and `message/rfc822` parts.
    pub lines: Option<u64>,
    pub md5: Option<String>,
    pub disposition: Option<(String, Vec<(String, String)>)>,
    pub language: Vec<String>,
    pub location: Option<String>,
    /// For `message/rfc822`: the nested message's envelope.
    pub envelope: Option<Box<Envelope>>,
    /// Children of a multipart, or the single body of a `message/rfc822`.
    pub parts: Vec<BodyStructure>,
}

/// Which metadata `fetch_meta` loads besides the always-present small fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetaFields {
    pub envelope: bool,
    pub body_structure: bool,
}

/// Per-message metadata. Never needs the message content to be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageMeta {
    pub id: MessageId,
    pub uid: Uid,
    pub modseq: ModSeq,
    pub flags: Flags,
    /// When the store received the message (IMAP INTERNALDATE).
    pub internal_date: Timestamp,
    /// The Date: header, if it parsed.
    pub header_date: Option<Timestamp>,
    /// Exact size in octets of the raw message.
    pub size: u64,
    pub envelope: Option<Envelope>,
    pub body_structure: Option<BodyStructure>,
}

/// The text part of a section specifier (RFC 3501 §6.4.5), protocol-neutral.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SectionText {
    /// The whole part: `BODY[]` at the top, `BODY[1.2]` for a part.
    Full,
    /// The header block including the blank line that ends it.
    Header,
    /// Only the named header fields (case-insensitive), then the blank line.
    HeaderFields(Vec<String>),
    /// All header fields but the named ones, then the blank line.
    HeaderFieldsNot(Vec<String>),
    /// The body after the header block.
    Text,
    /// The MIME header of a part (only with a non-empty part path).
    Mime,
}

/// A section of a message: a part path (1-based, empty for the whole message) and a text
/// specifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub part: Vec<u32>,
    pub text: SectionText,
}

impl Section {
    /// The whole raw message.
    pub fn full() -> Self {
        Self {
            part: Vec::new(),
            text: SectionText::Full,
        }
    }
}

/// A byte range of a section: `<offset.length>`; `length` None means to the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partial {
    pub offset: u64,
    pub length: Option<u64>,
}

/// The bytes of a section, as the pieces they are stored in (no copy into one buffer).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SectionBody {
    pub chunks: Vec<bytes::Bytes>,
}

impl SectionBody {
    pub fn len(&self) -> u64 {
        self.chunks.iter().map(|c| c.len() as u64).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.iter().all(|c| c.is_empty())
    }

    /// Joins the pieces into one buffer (for tests and small sections).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len() as usize);
        for chunk in &self.chunks {
            out.extend_from_slice(chunk);
        }
        out
    }
}

/// A search criterion over one mailbox (RFC 3501 §6.4.4 semantics, sequence numbers already
/// turned into UIDs by the caller). Text matches are case-insensitive substring matches on
/// decoded text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchKey {
    All,
    Uids(UidSet),
    /// Has (true) or lacks (false) a flag.
    Flag(Flag, bool),
    /// Internal date (day granularity is the caller's business: these are timestamps).
    InternalBefore(Timestamp),
    InternalSince(Timestamp),
    /// The calendar day the Date: header names in its own zone (time and zone disregarded,
    /// as SENTBEFORE/SENTSINCE want) is before / on or after the day starting at this
    /// timestamp, a midnight UTC. Never true without a valid Date:.
    HeaderDateBefore(Timestamp),
    HeaderDateSince(Timestamp),
    Larger(u64),
    Smaller(u64),
    /// A header field (any name) contains the value; empty value = the field exists.
    Header(String, String),
    /// An address field (From, To, Cc, Bcc: the envelope's, RFC 3501 FROM/TO/CC/BCC) contains
    /// the value, in its text or in one of its addresses written `name <local@domain>`
    /// (comments and the spaces around `@` gone, as the envelope has them).
    Address(String, String),
    /// The decoded body text contains the value.
    Body(String),
    /// Header or body text contains the value.
    Text(String),
    /// MODSEQ at least this.
    ModSeqAtLeast(ModSeq),
    Not(Box<SearchKey>),
    Or(Box<SearchKey>, Box<SearchKey>),
    And(Vec<SearchKey>),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_show_as_24_lower_case_hex_and_read_back() {
        let id = RecordId::from_bytes([0x65, 0x4a, 0, 1, 0xab, 0xcd, 0xef, 2, 3, 4, 5, 0xff]);
        assert_eq!(id.to_string(), "654a0001abcdef02030405ff");
        assert_eq!("654A0001ABCDEF02030405FF".parse::<RecordId>(), Ok(id));
        let user = UserId(id);
        assert_eq!(user.to_string().parse::<UserId>(), Ok(user));
        assert_eq!(
            serde_json::to_string(&user).unwrap(),
            "\"654a0001abcdef02030405ff\""
        );
        assert_eq!(
            serde_json::from_str::<UserId>("\"654a0001abcdef02030405ff\"").unwrap(),
            user
        );
    }

    #[test]
    fn text_that_is_not_an_id_is_refused() {
        for bad in [
            "",
            "654a0001abcdef02030405f",
            "654a0001abcdef02030405fff",
            "654a0001abcdef02030405fg",
            "+54a0001abcdef02030405ff",
            "654a0001abcdef02030405é",
        ] {
            assert_eq!(
                bad.parse::<RecordId>(),
                Err(InvalidRecordId(bad.to_string()))
            );
        }
        assert!(serde_json::from_str::<MailboxId>("\"nope\"").is_err());
    }

    #[test]
    fn new_ids_start_with_the_time_and_sort_by_creation() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let ids: Vec<RecordId> = (0..1000).map(|_| RecordId::new()).collect();
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let seconds = |id: &RecordId| u32::from_be_bytes(id.bytes()[..4].try_into().unwrap());
        assert!(
            ids.iter()
                .all(|id| (before..=after).contains(&(seconds(id) as u64)))
        );
        // The process part is the same for all; the counter tells them apart in order
        // (unless it wrapped past 2^24 within this run, which 1000 ids can do only at the end).
        assert!(
            ids.iter()
                .all(|id| id.bytes()[4..9] == ids[0].bytes()[4..9])
        );
        let ordered = ids.windows(2).filter(|pair| pair[0] < pair[1]).count();
        assert!(
            ordered >= ids.len() - 2,
            "only {ordered} of {} in order",
            ids.len() - 1
        );
        let distinct: BTreeSet<RecordId> = ids.iter().copied().collect();
        assert_eq!(distinct.len(), ids.len());
    }
}
