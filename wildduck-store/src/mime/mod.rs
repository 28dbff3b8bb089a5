//! MIME analysis of raw messages: the part tree with byte offsets, ENVELOPE, BODYSTRUCTURE,
//! search text, and section extraction. Never alters a byte.
//!
//! INTERFACE CONTRACT used by `store.rs` (owned by the content-engine work; the bodies below
//! are a temporary minimal version until it lands).

use crate::error::Result;
use crate::model::{BodyStructure, Envelope, Partial, Section, SectionBody, Timestamp};

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
pub fn analyze(raw: &[u8]) -> Analysis {
    let _ = raw;
    Analysis::default()
}

/// Extracts one section (and a byte range of it) from a raw message.
pub fn read_section(
    raw: &bytes::Bytes,
    section: &Section,
    partial: Option<Partial>,
) -> Result<SectionBody> {
    let _ = (section, partial);
    Ok(SectionBody {
        chunks: vec![raw.clone()],
    })
}
