//! Commands: an owned form of every command we serve ([`Request`]), built from imap-codec's
//! parse (or from our own parser for the syntax it lacks), and one file per command group that
//! executes them on a [`crate::state::Session`].

pub mod append;
pub mod auth;
pub mod compress;
pub mod copy;
pub mod expunge;
pub mod extended;
pub mod fetch;
pub mod idle;
pub mod mailbox;
pub mod qresync;
pub mod quota;
pub mod search;
pub mod sort;
pub mod store;
pub mod thread;

use imap_codec::imap_types::command::{CommandBody, FetchModifier, SelectParameter, StoreModifier};
use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::core::{Charset, Vec1};
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::extensions::enable::CapabilityEnable;
use imap_codec::imap_types::extensions::sort::{
    SortCriterion as ImapSortCriterion, SortKey as ImapSortKey,
};
use imap_codec::imap_types::extensions::thread::ThreadingAlgorithm;
use imap_codec::imap_types::fetch::{
    Macro, MacroOrMessageDataItemNames, MessageDataItemName, Section as ImapSection,
};
use imap_codec::imap_types::flag::{Flag as ImapFlag, StoreResponse, StoreType};
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox as ImapMailbox};
use imap_codec::imap_types::search::SearchKey as ImapSearchKey;
use imap_codec::imap_types::sequence::SequenceSet;
use imap_codec::imap_types::status::StatusDataItemName;
use wildduck_store::{
    Flag, FlagOp, Flags, SearchKey, Section, SectionText, SortCriterion, SortKey, SpecialUse,
    ThreadAlgorithm, Timestamp,
};

use crate::esearch::ReturnOptions;

use crate::search::SessionView;
use crate::utf7;

/// A decoded command with owned arguments (an APPEND message stays in the framer).
#[derive(Debug)]
pub struct Request {
    pub tag: String,
    pub kind: Kind,
}

#[derive(Debug)]
pub enum Kind {
    Capability,
    Noop,
    Logout,
    StartTls,
    Authenticate {
        mechanism: String,
        initial: Option<Vec<u8>>,
    },
    Login {
        username: String,
        password: String,
    },
    /// RFC 8437: back to the not-authenticated state.
    Unauthenticate,
    Select {
        mailbox: String,
        read_only: bool,
        condstore: bool,
        /// The QRESYNC parameter (RFC 7162 §3.2.5): what the client remembers of the mailbox.
        qresync: Option<qresync::Remembered>,
    },
    Create {
        mailbox: String,
        special_use: Option<SpecialUse>,
    },
    Delete {
        mailbox: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Subscribe {
        mailbox: String,
        subscribe: bool,
    },
    List(ListRequest),
    Status {
        mailbox: String,
        items: Vec<StatusItem>,
    },
    /// One message, or several (MULTIAPPEND, RFC 3502): their data are the command's last
    /// literals, in order.
    Append {
        mailbox: String,
        messages: Vec<AppendedMessage>,
    },
    Check,
    Close,
    Unselect,
    Expunge {
        uids: Option<SequenceSet>,
    },
    Search {
        uid: bool,
        key: SearchKey,
        /// ESEARCH `RETURN (…)` (RFC 4731); `None`: a plain `* SEARCH` answer.
        returns: Option<ReturnOptions>,
    },
    Sort {
        uid: bool,
        criteria: Vec<SortCriterion>,
        key: SearchKey,
        /// ESORT `RETURN (…)` (RFC 5267).
        returns: Option<ReturnOptions>,
    },
    Thread {
        uid: bool,
        algorithm: ThreadAlgorithm,
        key: SearchKey,
    },
    /// A FETCH, STORE, COPY, MOVE or UID EXPUNGE of `$` when no saved message is left
    /// (RFC 5182): it acts on nothing.
    NoSavedMessages,
    Fetch {
        uid: bool,
        set: SequenceSet,
        items: Vec<FetchItem>,
        changed_since: Option<u64>,
        /// The VANISHED modifier (RFC 7162 §3.2.6).
        vanished: bool,
    },
    Store {
        uid: bool,
        set: SequenceSet,
        op: FlagOp,
        silent: bool,
        flags: Flags,
        unchanged_since: Option<u64>,
    },
    Copy {
        uid: bool,
        set: SequenceSet,
        mailbox: String,
        is_move: bool,
    },
    Idle,
    Enable {
        capabilities: Vec<String>,
    },
    Id,
    Namespace,
    GetQuota {
        root: String,
    },
    GetQuotaRoot {
        mailbox: String,
    },
    /// Refused whatever it asks; parsed so it gets NO rather than BAD.
    SetQuota,
    /// COMPRESS DEFLATE (the only algorithm imap-codec knows).
    Compress,
}

/// LIST, LSUB and XLIST with the LIST-EXTENDED options (RFC 5258, 6154, 5819).
#[derive(Debug, Default)]
pub struct ListRequest {
    pub reference: String,
    pub patterns: Vec<String>,
    pub lsub: bool,
    pub xlist: bool,
    /// The extended syntax was used (selection options, a pattern list or RETURN): an empty
    /// pattern is then no request for the hierarchy delimiter (RFC 5258 §3).
    pub extended: bool,
    pub select_subscribed: bool,
    pub select_special_use: bool,
    /// RECURSIVEMATCH: parents of mailboxes that meet the selection are shown too, with
    /// CHILDINFO.
    pub recursive_match: bool,
    pub return_subscribed: bool,
    pub return_children: bool,
    pub return_special_use: bool,
    pub return_status: Option<Vec<StatusItem>>,
}

/// A STATUS item: one imap-codec reads, or MAILBOXID (RFC 8474), which it does not know.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusItem {
    Codec(StatusDataItemName),
    MailboxId,
}

/// What FETCH asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum FetchItem {
    Uid,
    Flags,
    InternalDate,
    Size,
    Envelope,
    BodyStructure,
    /// Non-extensible BODY.
    Body,
    ModSeq,
    /// RFC 8474: the message's email id, kept by its copies.
    EmailId,
    /// RFC 8474: always NIL, as no thread ids are kept (§5.2).
    ThreadId,
    /// RFC 8514: when the message was saved into the mailbox; NIL where the store does not
    /// know (messages stored before it kept save dates).
    SaveDate,
    Section {
        label: String,
        section: Section,
        peek: bool,
        partial: Option<(u32, u32)>,
    },
}

/// What APPEND says of one message besides its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendedMessage {
    pub flags: Flags,
    pub date: Option<Timestamp>,
    /// The `UTF8 (~{n})` form of RFC 6855 §4: only for clients that enabled UTF8=ACCEPT.
    pub utf8: bool,
}

/// Why a command could not be turned into a [`Request`].
#[derive(Debug, Default)]
pub struct Refusal {
    pub text: String,
    /// Well-formed but impossible (an unknown charset, a name no mailbox can have): the
    /// answer is NO, not BAD.
    pub declined: bool,
}

fn refuse<T>(text: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        text: text.into(),
        declined: false,
    })
}

fn decline<T>(text: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        text: text.into(),
        declined: true,
    })
}

fn utf8(bytes: &[u8]) -> Result<String, Refusal> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_string()),
        Err(_) => refuse("Argument is not valid UTF-8"),
    }
}

pub fn astring(value: &AString<'_>) -> Result<String, Refusal> {
    utf8(value.as_ref())
}

/// A mailbox name from the wire as a store path: modified UTF-7, or UTF-8 as UTF8=ACCEPT
/// clients send it (8-bit names are never valid modified UTF-7, so the two do not clash).
pub fn mailbox_name(wire: &[u8]) -> Result<String, Refusal> {
    if wire.eq_ignore_ascii_case(b"INBOX") {
        return Ok("INBOX".to_string());
    }
    if !wire.is_ascii() {
        return utf8(wire);
    }
    match utf7::decode(wire) {
        Some(name) => Ok(name),
        None => decline("[CANNOT] Mailbox name is not valid modified UTF-7"),
    }
}

fn mailbox(value: &ImapMailbox<'_>) -> Result<String, Refusal> {
    match value {
        ImapMailbox::Inbox => Ok("INBOX".to_string()),
        ImapMailbox::Other(other) => mailbox_name(other.as_ref()),
    }
}

/// A LIST pattern as a store path pattern. One that is not valid modified UTF-7 is kept as
/// written: no stored name encodes to it, so it matches nothing (as Dovecot answers it).
fn list_mailbox(value: &ListMailbox<'_>) -> Result<String, Refusal> {
    let wire: &[u8] = match value {
        ListMailbox::Token(token) => token.as_ref(),
        ListMailbox::String(string) => string.as_ref(),
    };
    match mailbox_name(wire) {
        Err(refusal) if refusal.declined => utf8(wire),
        parsed => parsed,
    }
}

pub fn store_flag(flag: &ImapFlag<'_>) -> Result<Flag, Refusal> {
    Ok(match flag {
        ImapFlag::Answered => Flag::Answered,
        ImapFlag::Deleted => Flag::Deleted,
        ImapFlag::Draft => Flag::Draft,
        ImapFlag::Flagged => Flag::Flagged,
        ImapFlag::Seen => Flag::Seen,
        ImapFlag::Keyword(atom) => Flag::Keyword(atom.inner().to_string()),
        ImapFlag::Extension(_) => return refuse(format!("Flag {flag} can not be set")),
    })
}

fn store_flags(flags: &[ImapFlag<'_>]) -> Result<Flags, Refusal> {
    flags.iter().map(store_flag).collect()
}

/// A part path as `1.2.3`.
fn part_label(part: &[u32]) -> String {
    part.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

fn header_names(names: &[AString<'_>]) -> Result<(Vec<String>, String), Refusal> {
    let names: Vec<String> = names.iter().map(astring).collect::<Result<_, _>>()?;
    let mut shown = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            shown.push(b' ');
        }
        crate::encode::astring(&mut shown, name);
    }
    Ok((names, String::from_utf8_lossy(&shown).into_owned()))
}

/// The store section and the label the response repeats, e.g. `1.2.HEADER.FIELDS (FROM)`.
fn section(value: Option<&ImapSection<'_>>) -> Result<(Section, String), Refusal> {
    let part_of = |p: &imap_codec::imap_types::fetch::Part| -> Vec<u32> {
        p.0.as_ref().iter().map(|n| n.get()).collect()
    };
    let with_prefix = |part: &[u32], text: &str| {
        if part.is_empty() {
            text.to_string()
        } else if text.is_empty() {
            part_label(part)
        } else {
            format!("{}.{}", part_label(part), text)
        }
    };
    Ok(match value {
        None => (Section::full(), String::new()),
        Some(ImapSection::Part(p)) => {
            let part = part_of(p);
            let label = part_label(&part);
            (
                Section {
                    part,
                    text: SectionText::Full,
                },
                label,
            )
        }
        Some(ImapSection::Header(p)) => {
            let part = p.as_ref().map(part_of).unwrap_or_default();
            let label = with_prefix(&part, "HEADER");
            (
                Section {
                    part,
                    text: SectionText::Header,
                },
                label,
            )
        }
        Some(ImapSection::HeaderFields(p, names)) => {
            let part = p.as_ref().map(part_of).unwrap_or_default();
            let (names, shown) = header_names(names.as_ref())?;
            let label = with_prefix(&part, &format!("HEADER.FIELDS ({shown})"));
            (
                Section {
                    part,
                    text: SectionText::HeaderFields(names),
                },
                label,
            )
        }
        Some(ImapSection::HeaderFieldsNot(p, names)) => {
            let part = p.as_ref().map(part_of).unwrap_or_default();
            let (names, shown) = header_names(names.as_ref())?;
            let label = with_prefix(&part, &format!("HEADER.FIELDS.NOT ({shown})"));
            (
                Section {
                    part,
                    text: SectionText::HeaderFieldsNot(names),
                },
                label,
            )
        }
        Some(ImapSection::Text(p)) => {
            let part = p.as_ref().map(part_of).unwrap_or_default();
            let label = with_prefix(&part, "TEXT");
            (
                Section {
                    part,
                    text: SectionText::Text,
                },
                label,
            )
        }
        Some(ImapSection::Mime(p)) => {
            let part = part_of(p);
            let label = with_prefix(&part, "MIME");
            (
                Section {
                    part,
                    text: SectionText::Mime,
                },
                label,
            )
        }
    })
}

fn fetch_item(item: &MessageDataItemName<'_>) -> Result<FetchItem, Refusal> {
    let whole = |label: &str, text: SectionText, peek: bool| FetchItem::Section {
        label: label.to_string(),
        section: Section {
            part: Vec::new(),
            text,
        },
        peek,
        partial: None,
    };
    Ok(match item {
        MessageDataItemName::Body => FetchItem::Body,
        MessageDataItemName::BodyExt {
            section: s,
            partial,
            peek,
        } => {
            let (section, label) = section(s.as_ref())?;
            FetchItem::Section {
                label: format!("BODY[{label}]"),
                section,
                peek: *peek,
                partial: partial.map(|(offset, length)| (offset, length.get())),
            }
        }
        MessageDataItemName::BodyStructure => FetchItem::BodyStructure,
        MessageDataItemName::Envelope => FetchItem::Envelope,
        MessageDataItemName::Flags => FetchItem::Flags,
        MessageDataItemName::InternalDate => FetchItem::InternalDate,
        MessageDataItemName::Rfc822 => whole("RFC822", SectionText::Full, false),
        MessageDataItemName::Rfc822Header => whole("RFC822.HEADER", SectionText::Header, true),
        MessageDataItemName::Rfc822Size => FetchItem::Size,
        MessageDataItemName::Rfc822Text => whole("RFC822.TEXT", SectionText::Text, false),
        MessageDataItemName::Uid => FetchItem::Uid,
        MessageDataItemName::ModSeq => FetchItem::ModSeq,
        MessageDataItemName::Binary { .. } | MessageDataItemName::BinarySize { .. } => {
            return refuse("BINARY is not supported");
        }
    })
}

fn select(
    name: &ImapMailbox<'_>,
    parameters: &[SelectParameter],
    read_only: bool,
) -> Result<Kind, Refusal> {
    let mut condstore = false;
    let mut remembered = None;
    for parameter in parameters {
        match parameter {
            SelectParameter::CondStore => condstore = true,
            SelectParameter::QResync {
                uid_validity,
                mod_sequence_value,
                known_uids,
                // Sequence match data only narrow a guess; the journal (or the fallback of
                // reporting every known UID that is gone) answers exactly without them.
                seq_match_data: _,
            } => {
                remembered = Some(qresync::Remembered {
                    uidvalidity: uid_validity.get(),
                    modseq: mod_sequence_value.get(),
                    known_uids: known_uids.clone(),
                })
            }
        }
    }
    Ok(Kind::Select {
        mailbox: mailbox(name)?,
        read_only,
        condstore,
        qresync: remembered,
    })
}

/// The search criteria of SEARCH, SORT and THREAD as one key; UTF-8 and US-ASCII are the
/// charsets we take (`NO [BADCHARSET]` for others).
fn search_key(
    charset: Option<&Charset<'_>>,
    criteria: &Vec1<ImapSearchKey<'_>>,
    view: SessionView<'_>,
) -> Result<SearchKey, Refusal> {
    if let Some(charset) = charset {
        let name = charset.as_ref();
        if !name.eq_ignore_ascii_case("UTF-8") && !name.eq_ignore_ascii_case("US-ASCII") {
            return decline("[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
        }
    }
    let keys: Vec<SearchKey> = criteria
        .as_ref()
        .iter()
        .map(|k| crate::search::to_store_key(k, view))
        .collect::<Result<_, _>>()
        .map_err(|text| Refusal {
            text,
            declined: false,
        })?;
    Ok(match <[SearchKey; 1]>::try_from(keys) {
        Ok([single]) => single,
        Err(many) => SearchKey::And(many),
    })
}

fn sort_criterion(criterion: &ImapSortCriterion) -> SortCriterion {
    SortCriterion {
        reverse: criterion.reverse,
        key: match criterion.key {
            ImapSortKey::Arrival => SortKey::Arrival,
            ImapSortKey::Cc => SortKey::Cc,
            ImapSortKey::Date => SortKey::Date,
            ImapSortKey::From => SortKey::From,
            ImapSortKey::Size => SortKey::Size,
            ImapSortKey::Subject => SortKey::Subject,
            ImapSortKey::To => SortKey::To,
            ImapSortKey::DisplayFrom => SortKey::DisplayFrom,
            ImapSortKey::DisplayTo => SortKey::DisplayTo,
        },
    }
}

impl Kind {
    /// The OBJECTID FETCH items taken out of the command before it was parsed; a `UID` that
    /// stood in for them goes.
    pub fn with_object_items(mut self, extra: Vec<FetchItem>, placeholder: bool) -> Self {
        if let Kind::Fetch { items, .. } = &mut self {
            if placeholder {
                items.retain(|item| *item != FetchItem::Uid);
            }
            items.extend(extra);
        }
        self
    }

    /// The ESEARCH/ESORT options taken out of the command before it was parsed.
    pub fn with_returns(mut self, options: Option<ReturnOptions>) -> Self {
        if let Kind::Search { returns, .. } | Kind::Sort { returns, .. } = &mut self {
            *returns = options;
        }
        self
    }
}

/// Turns imap-codec's parse into a [`Request`]. `view` is the selected mailbox as the session
/// shows it (SEARCH sequence sets and \Recent are resolved against it right away).
pub fn from_codec(body: &CommandBody<'_>, view: SessionView<'_>) -> Result<Kind, Refusal> {
    Ok(match body {
        CommandBody::Capability => Kind::Capability,
        CommandBody::Noop => Kind::Noop,
        CommandBody::Logout => Kind::Logout,
        CommandBody::StartTLS => Kind::StartTls,
        CommandBody::Authenticate {
            mechanism,
            initial_response,
        } => Kind::Authenticate {
            mechanism: mechanism.to_string(),
            initial: initial_response.as_ref().map(|r| r.declassify().to_vec()),
        },
        CommandBody::Login { username, password } => Kind::Login {
            username: astring(username)?,
            password: astring(password.declassify())?,
        },
        CommandBody::Select {
            mailbox: m,
            parameters,
        } => select(m, parameters, false)?,
        CommandBody::Examine {
            mailbox: m,
            parameters,
        } => select(m, parameters, true)?,
        CommandBody::Unselect => Kind::Unselect,
        CommandBody::Create { mailbox: m } => Kind::Create {
            mailbox: mailbox(m)?,
            special_use: None,
        },
        CommandBody::Delete { mailbox: m } => Kind::Delete {
            mailbox: mailbox(m)?,
        },
        CommandBody::Rename { from, to } => Kind::Rename {
            from: mailbox(from)?,
            to: mailbox(to)?,
        },
        CommandBody::Subscribe { mailbox: m } => Kind::Subscribe {
            mailbox: mailbox(m)?,
            subscribe: true,
        },
        CommandBody::Unsubscribe { mailbox: m } => Kind::Subscribe {
            mailbox: mailbox(m)?,
            subscribe: false,
        },
        CommandBody::List {
            reference,
            mailbox_wildcard,
        } => Kind::List(ListRequest {
            reference: mailbox(reference)?,
            patterns: vec![list_mailbox(mailbox_wildcard)?],
            ..Default::default()
        }),
        CommandBody::Lsub {
            reference,
            mailbox_wildcard,
        } => Kind::List(ListRequest {
            reference: mailbox(reference)?,
            patterns: vec![list_mailbox(mailbox_wildcard)?],
            lsub: true,
            ..Default::default()
        }),
        CommandBody::Status {
            mailbox: m,
            item_names,
        } => Kind::Status {
            mailbox: mailbox(m)?,
            items: item_names.iter().cloned().map(StatusItem::Codec).collect(),
        },
        CommandBody::Append {
            mailbox: m,
            flags,
            date,
            message,
        } => {
            if matches!(message, LiteralOrLiteral8::Literal8(_)) {
                return refuse("A bare ~{n} message needs BINARY, which is not supported");
            }
            Kind::Append {
                mailbox: mailbox(m)?,
                messages: vec![AppendedMessage {
                    flags: store_flags(flags)?,
                    date: date.as_ref().map(|d| d.as_ref().timestamp()),
                    utf8: false,
                }],
            }
        }
        CommandBody::Check => Kind::Check,
        CommandBody::Close => Kind::Close,
        CommandBody::Expunge => Kind::Expunge { uids: None },
        CommandBody::ExpungeUid { sequence_set } => Kind::Expunge {
            uids: Some(sequence_set.clone()),
        },
        CommandBody::Search {
            charset,
            criteria,
            uid,
        } => Kind::Search {
            uid: *uid,
            key: search_key(charset.as_ref(), criteria, view)?,
            returns: None,
        },
        CommandBody::Sort {
            sort_criteria,
            charset,
            search_criteria,
            uid,
        } => Kind::Sort {
            uid: *uid,
            criteria: sort_criteria.as_ref().iter().map(sort_criterion).collect(),
            key: search_key(Some(charset), search_criteria, view)?,
            returns: None,
        },
        CommandBody::Thread {
            algorithm,
            charset,
            search_criteria,
            uid,
        } => Kind::Thread {
            uid: *uid,
            algorithm: match algorithm {
                ThreadingAlgorithm::OrderedSubject => ThreadAlgorithm::OrderedSubject,
                ThreadingAlgorithm::References => ThreadAlgorithm::References,
                ThreadingAlgorithm::Other(_) => return refuse("Unknown threading algorithm"),
            },
            key: search_key(Some(charset), search_criteria, view)?,
        },
        CommandBody::Fetch {
            sequence_set,
            macro_or_item_names,
            uid,
            modifiers,
        } => {
            let names: Vec<MessageDataItemName<'_>> = match macro_or_item_names {
                MacroOrMessageDataItemNames::Macro(m) => match m {
                    Macro::Fast | Macro::All | Macro::Full => m.expand(),
                    _ => return refuse("Unknown FETCH macro"),
                },
                MacroOrMessageDataItemNames::MessageDataItemNames(names) => names.clone(),
            };
            let items = names.iter().map(fetch_item).collect::<Result<_, _>>()?;
            let changed_since = modifiers.iter().find_map(|m| match m {
                FetchModifier::ChangedSince(n) => Some(n.get()),
                FetchModifier::Vanished => None,
            });
            Kind::Fetch {
                uid: *uid,
                set: sequence_set.clone(),
                items,
                changed_since,
                vanished: modifiers
                    .iter()
                    .any(|m| matches!(m, FetchModifier::Vanished)),
            }
        }
        CommandBody::Store {
            sequence_set,
            kind,
            response,
            flags,
            uid,
            modifiers,
        } => Kind::Store {
            uid: *uid,
            set: sequence_set.clone(),
            op: match kind {
                StoreType::Add => FlagOp::Add,
                StoreType::Remove => FlagOp::Remove,
                StoreType::Replace => FlagOp::Replace,
            },
            silent: matches!(response, StoreResponse::Silent),
            flags: store_flags(flags)?,
            unchanged_since: modifiers
                .iter()
                .map(|StoreModifier::UnchangedSince(n)| *n)
                .next(),
        },
        CommandBody::Copy {
            sequence_set,
            mailbox: m,
            uid,
        } => Kind::Copy {
            uid: *uid,
            set: sequence_set.clone(),
            mailbox: mailbox(m)?,
            is_move: false,
        },
        CommandBody::Move {
            sequence_set,
            mailbox: m,
            uid,
        } => Kind::Copy {
            uid: *uid,
            set: sequence_set.clone(),
            mailbox: mailbox(m)?,
            is_move: true,
        },
        CommandBody::Idle => Kind::Idle,
        CommandBody::Enable { capabilities } => Kind::Enable {
            capabilities: capabilities
                .as_ref()
                .iter()
                .map(|c: &CapabilityEnable<'_>| c.to_string())
                .collect(),
        },
        CommandBody::Id { .. } => Kind::Id,
        CommandBody::Namespace => Kind::Namespace,
        CommandBody::GetQuota { root } => Kind::GetQuota {
            root: astring(root)?,
        },
        CommandBody::GetQuotaRoot { mailbox: m } => Kind::GetQuotaRoot {
            mailbox: mailbox(m)?,
        },
        CommandBody::SetQuota { .. } => Kind::SetQuota,
        CommandBody::Compress { .. } => Kind::Compress,
    })
}

/// Whether `text` is an IMAP tag (RFC 3501: ASTRING-CHARs but `+`), so it may be echoed.
pub fn is_tag(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\+".contains(&b))
}
