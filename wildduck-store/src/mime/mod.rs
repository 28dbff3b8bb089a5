//! MIME analysis of raw messages: the part tree with byte offsets, ENVELOPE, BODYSTRUCTURE,
//! search text, section extraction, and the skeleton + leaves storage layout. Never alters a
//! byte.
//!
//! Submodules, one concern each:
//! - [`split`]: the streaming splitter that finds every part's header and body offsets;
//! - [`header`]: header fields and the RFC 822 lexical pieces of Content-* values;
//! - [`address`], [`structure`]: ENVELOPE and BODYSTRUCTURE (as Dovecot computes them);
//! - [`text`]: decoded text for SEARCH;
//! - [`parsed`]: the message as a webmail reads it (WildDuck's parsed message for the API);
//! - [`compose`]: a new message built from structured fields (the API's JSON upload);
//! - [`section`]: which bytes a section (and a partial range of it) is made of;
//! - [`layout`]: skeleton + leaf bodies for storage, base64 bodies kept decoded when exact.
//!
//! ENVELOPE and BODYSTRUCTURE follow Dovecot 2.3 exactly (checked against its answers in
//! `tests/golden/`), which differs from a "decoded" reading of the model in three ways:
//! strings are the header text as written (RFC 2047 words stay encoded; IMAP clients decode
//! them), media types and parameter names keep the case they were written in, and RFC 2231
//! parameters are joined but not decoded (`filename*` = `utf-8''caf%C3%A9`). Sizes are octets
//! as stored (Dovecot counts CRLF line endings; a bare-LF message gives smaller sizes here).

pub mod address;
pub mod compose;
pub mod data_urls;
pub mod header;
pub mod layout;
pub mod parsed;
pub mod section;
pub mod split;
pub mod structure;
pub mod text;

use bytes::Bytes;

use crate::error::Result;
use crate::model::{BodyStructure, Envelope, Partial, Section, SectionBody, Timestamp};

pub use layout::{Layout, Leaf, LeafEncoding, Source, reassemble, split_for_storage};
pub use section::Piece;
pub use split::{MAX_DEPTH, MAX_PARTS, PartKind, PartNode, PartTree, Splitter, split};

/// What the store keeps about a message's content besides its bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Analysis {
    pub envelope: Envelope,
    pub body_structure: BodyStructure,
    /// The Date: header as a timestamp, if it parses.
    pub header_date: Option<Timestamp>,
    /// Every header field, decoded to UTF-8, one `name: value` per line (for SEARCH HEADER).
    pub search_headers: String,
    /// Decoded text of the text parts (for SEARCH BODY/TEXT).
    pub search_body: String,
}

/// Analyzes a raw message. Never fails: broken MIME is described as well as it can be.
///
/// ENVELOPE and BODYSTRUCTURE strings are the header text as written (RFC 2047 words stay
/// encoded, as Dovecot sends them; IMAP clients decode them); the search fields are decoded.
pub fn analyze(raw: &[u8]) -> Analysis {
    analyze_tree(raw, &split(raw))
}

/// [`analyze`] for a message already split.
pub fn analyze_tree(raw: &[u8], tree: &PartTree) -> Analysis {
    let header = &raw[tree.root().header.clone()];
    Analysis {
        envelope: structure::envelope(header),
        body_structure: structure::body_structure(raw, tree, 0),
        header_date: text::header_date(header),
        search_headers: text::search_headers(header),
        search_body: text::search_body(raw, tree),
    }
}

/// Extracts one section (and a byte range of it) from a raw message, as slices of `raw`.
pub fn read_section(
    raw: &Bytes,
    section: &Section,
    partial: Option<Partial>,
) -> Result<SectionBody> {
    let tree = split(raw);
    read_section_in(raw, &tree, section, partial)
}

/// [`read_section`] for a message already split.
pub fn read_section_in(
    raw: &Bytes,
    tree: &PartTree,
    section: &Section,
    partial: Option<Partial>,
) -> Result<SectionBody> {
    let pieces = section::section_pieces(raw, tree, section)?;
    let chunks = section::apply_partial(pieces, partial)
        .into_iter()
        .map(|piece| match piece {
            Piece::Raw(range) => raw.slice(range),
            Piece::Literal(bytes) => Bytes::from_static(bytes),
        })
        .collect();
    Ok(SectionBody { chunks })
}
