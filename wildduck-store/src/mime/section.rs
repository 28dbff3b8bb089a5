//! Section extraction (RFC 3501 §6.4.5, with Dovecot's answers where the RFC is vague).
//!
//! A section resolves to a list of [`Piece`]s: byte ranges of the original message plus, for
//! `HEADER.FIELDS` of a header without a blank line, a literal CRLF. Ranges in message
//! coordinates are what a storage layout maps onto its skeleton and leaves.

use std::ops::Range;

use super::header::HeaderFields;
use super::split::{PartKind, PartTree};
use crate::error::{MessageError, Result};
use crate::model::{Partial, Section, SectionText};

/// One piece of a section's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Bytes `range` of the message.
    Raw(Range<usize>),
    /// Bytes that are not in the message (the blank line closing `HEADER.FIELDS`).
    Literal(&'static [u8]),
}

impl Piece {
    pub fn len(&self) -> usize {
        match self {
            Piece::Raw(range) => range.end - range.start,
            Piece::Literal(bytes) => bytes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Finds the part a numeric path names, as Dovecot does: a multipart's n-th child; in any
/// other part only `1`, the part itself, and then only as the last number unless the part is
/// a message/rfc822, whose nested message the following numbers go into. `None` when the
/// part does not exist.
pub fn find_part(tree: &PartTree, path: &[u32]) -> Option<usize> {
    let mut current = 0;
    for (position, &number) in path.iter().enumerate() {
        let more = position + 1 < path.len();
        let number = usize::try_from(number).ok()?;
        current = match &tree.parts[current].kind {
            PartKind::Multipart { children, .. } => *children.get(number.checked_sub(1)?)?,
            PartKind::Message { .. } if number == 1 => current,
            PartKind::Leaf if number == 1 && !more => current,
            _ => return None,
        };
        if let (true, PartKind::Message { child }) = (more, &tree.parts[current].kind) {
            current = *child;
        }
    }
    Some(current)
}

/// The pieces of a section of `raw`, before any partial range is applied.
pub fn section_pieces(raw: &[u8], tree: &PartTree, section: &Section) -> Result<Vec<Piece>> {
    section_pieces_with(tree, section, |range| &raw[range])
}

/// [`section_pieces`] without the message at hand: `bytes_of` gives bytes of the message by
/// range and is only asked for header blocks (for HEADER.FIELDS), which a storage layout
/// keeps in its skeleton.
pub fn section_pieces_with<'a>(
    tree: &PartTree,
    section: &Section,
    bytes_of: impl Fn(Range<usize>) -> &'a [u8],
) -> Result<Vec<Piece>> {
    if section.part.contains(&0) {
        return Err(MessageError::InvalidSection("part numbers start at 1".into()).into());
    }
    if section.part.is_empty() && section.text == SectionText::Mime {
        return Err(MessageError::InvalidSection("MIME needs a part number".into()).into());
    }
    let Some(part) = find_part(tree, &section.part) else {
        return Ok(Vec::new());
    };
    let node = &tree.parts[part];
    // HEADER, TEXT and HEADER.FIELDS of a part address the message inside a message/rfc822.
    let message = if section.part.is_empty() {
        Some(0)
    } else if let PartKind::Message { child } = node.kind {
        Some(child)
    } else {
        None
    };
    let pieces = match &section.text {
        SectionText::Full if section.part.is_empty() => vec![Piece::Raw(0..tree.len)],
        SectionText::Full => vec![Piece::Raw(node.body.clone())],
        SectionText::Mime => vec![Piece::Raw(node.header.clone())],
        SectionText::Header => match message {
            Some(m) => vec![Piece::Raw(tree.parts[m].header.clone())],
            None => Vec::new(),
        },
        SectionText::Text => match message {
            Some(m) => vec![Piece::Raw(tree.parts[m].body.clone())],
            None => Vec::new(),
        },
        SectionText::HeaderFields(names) => match message {
            Some(m) => header_fields(bytes_of(tree.parts[m].header.clone()), tree, m, names, true),
            None => Vec::new(),
        },
        SectionText::HeaderFieldsNot(names) => match message {
            Some(m) => header_fields(
                bytes_of(tree.parts[m].header.clone()),
                tree,
                m,
                names,
                false,
            ),
            None => Vec::new(),
        },
    };
    Ok(pieces.into_iter().filter(|p| !p.is_empty()).collect())
}

/// The fields of a message's header whose names are (`wanted`) or are not in `names`, then
/// the blank line that ends the header (CRLF when the header has none).
fn header_fields(
    block: &[u8],
    tree: &PartTree,
    message: usize,
    names: &[String],
    wanted: bool,
) -> Vec<Piece> {
    let header = tree.parts[message].header.clone();
    let base = header.start;
    let mut pieces = Vec::new();
    let mut fields_end = 0;
    for field in HeaderFields::new(block) {
        fields_end = field.range.end;
        let listed = names
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(field.name));
        if listed == wanted {
            pieces.push(Piece::Raw(base + field.range.start..base + field.range.end));
            if !block[..field.range.end].ends_with(b"\n") {
                pieces.push(Piece::Literal(b"\r\n"));
            }
        }
    }
    if fields_end < block.len() {
        pieces.push(Piece::Raw(base + fields_end..header.end));
    } else {
        pieces.push(Piece::Literal(b"\r\n"));
    }
    pieces
}

/// Applies `<offset.length>` to a list of pieces.
pub fn apply_partial(pieces: Vec<Piece>, partial: Option<Partial>) -> Vec<Piece> {
    let Some(partial) = partial else {
        return pieces;
    };
    let mut skip = partial.offset;
    let mut left = partial.length.unwrap_or(u64::MAX);
    let mut out = Vec::new();
    for piece in pieces {
        if left == 0 {
            break;
        }
        let len = piece.len() as u64;
        if skip >= len {
            skip -= len;
            continue;
        }
        let take = (len - skip).min(left);
        // Both values fit in usize: they are at most the piece length.
        let (from, to) = (skip as usize, (skip + take) as usize);
        out.push(match piece {
            Piece::Raw(range) => Piece::Raw(range.start + from..range.start + to),
            Piece::Literal(bytes) => Piece::Literal(&bytes[from..to]),
        });
        skip = 0;
        left -= take;
    }
    out
}
