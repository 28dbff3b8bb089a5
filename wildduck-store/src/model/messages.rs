//! What the store keeps and reads of a message: envelope, body structure, metadata,
//! sections and search keys.

use serde::{Deserialize, Serialize};

use super::*;

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
    /// The id the message had when it was first stored; its copies and moves keep it (IMAP
    /// EMAILID, RFC 8474), while `id` is this mailbox's record.
    pub email_id: MessageId,
    pub uid: Uid,
    pub modseq: ModSeq,
    pub flags: Flags,
    /// When the store received the message (IMAP INTERNALDATE).
    pub internal_date: Timestamp,
    /// When the message was saved into this mailbox (append, delivery, or the copy or move
    /// that brought it; IMAP SAVEDATE, RFC 8514); `None` for messages stored before the
    /// store kept it.
    pub saved: Option<Timestamp>,
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

/// One message of a FETCH: its metadata and, when they were read in the same snapshot,
/// the sections asked for, in the order asked (see `Store::fetch`).
#[derive(Clone, Debug)]
pub struct FetchedMessage {
    pub meta: MessageMeta,
    pub sections: Option<Vec<SectionBody>>,
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
    /// Saved into the mailbox ([`MessageMeta::saved`]; the internal date where that is not
    /// known) before / at or after this timestamp.
    SavedBefore(Timestamp),
    SavedSince(Timestamp),
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
    /// The message or a copy of it ([`MessageMeta::email_id`]).
    EmailId(MessageId),
    Not(Box<SearchKey>),
    Or(Box<SearchKey>, Box<SearchKey>),
    And(Vec<SearchKey>),
}
