//! Storage layout: a message becomes a skeleton (every header, boundary, preamble, epilogue
//! and small body, byte for byte) plus leaf bodies that the store keeps as blobs.
//!
//! A base64 leaf is kept decoded when encoding the decoded bytes again with the observed
//! line layout (line length, line ending, what follows the last line) gives back exactly the
//! original bytes; the same file sent with another line length then has the same blob.
//! Anything else is kept raw. [`reassemble`] gives back the exact input.

use std::ops::Range;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::header::{HeaderFields, Lexer, parse_disposition};
use super::split::{PartKind, PartTree, split};
use crate::error::{Defect, Result};

/// Which leaf bodies leave the skeleton.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayoutPolicy {
    /// Attachment-like bodies (non-text, or Content-Disposition: attachment) of at least this
    /// many bytes become leaves.
    pub min_attachment: usize,
    /// Any other leaf body of at least this many bytes becomes a leaf.
    pub min_large: usize,
}

impl Default for LayoutPolicy {
    fn default() -> Self {
        LayoutPolicy {
            min_attachment: 1024,
            min_large: 64 * 1024,
        }
    }
}

/// How a leaf's stored bytes relate to its bytes in the message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeafEncoding {
    /// Stored exactly as in the message.
    Raw,
    /// Stored decoded; the message holds it base64-encoded with this layout.
    Base64(Base64Layout),
}

/// The exact shape of a base64 body: full lines of `line_len` characters separated by
/// `eol`, the last line possibly shorter, then `tail` (the bytes after the last line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Base64Layout {
    pub line_len: usize,
    pub eol: Vec<u8>,
    pub tail: Vec<u8>,
}

/// One leaf cut out of the skeleton.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leaf {
    /// Where the leaf goes back into the skeleton (offset in the skeleton).
    pub at: usize,
    /// Offset and length of the leaf's bytes in the original message.
    pub offset: usize,
    pub len: usize,
    /// Length of the stored bytes (the decoded length for base64 leaves).
    pub decoded_len: usize,
    pub encoding: LeafEncoding,
}

/// What the message record keeps: the skeleton and where the leaves go.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    pub skeleton: Vec<u8>,
    pub leaves: Vec<Leaf>,
}

/// A layout with the stored bytes of each leaf (decoded for base64 leaves), in leaf order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageSplit {
    pub layout: Layout,
    pub leaf_bodies: Vec<Bytes>,
}

/// Splits a message for storage with the default policy.
pub fn split_for_storage(raw: &Bytes) -> StorageSplit {
    split_with_policy(raw, &split(raw), LayoutPolicy::default())
}

/// Splits an already split message for storage.
pub fn split_with_policy(raw: &Bytes, tree: &PartTree, policy: LayoutPolicy) -> StorageSplit {
    let mut layout = Layout::default();
    let mut leaf_bodies = Vec::new();
    let mut copied_up_to = 0;
    for node in &tree.parts {
        if node.kind != PartKind::Leaf {
            continue;
        }
        let body = node.body.clone();
        let len = body.end - body.start;
        let header = &raw[node.header.clone()];
        let attachment_like = node.media_type != "text" || is_attachment(header);
        let wanted = (attachment_like && len >= policy.min_attachment) || len >= policy.min_large;
        if !wanted || len == 0 {
            continue;
        }
        layout
            .skeleton
            .extend_from_slice(&raw[copied_up_to..body.start]);
        copied_up_to = body.end;
        let encoded = raw.slice(body.clone());
        let (encoding, stored) = match is_base64(header).then(|| base64_layout(&encoded)) {
            Some(Some((b64, decoded))) => (LeafEncoding::Base64(b64), Bytes::from(decoded)),
            _ => (LeafEncoding::Raw, encoded),
        };
        layout.leaves.push(Leaf {
            at: layout.skeleton.len(),
            offset: body.start,
            len,
            decoded_len: stored.len(),
            encoding,
        });
        leaf_bodies.push(stored);
    }
    layout.skeleton.extend_from_slice(&raw[copied_up_to..]);
    StorageSplit {
        layout,
        leaf_bodies,
    }
}

fn is_attachment(header: &[u8]) -> bool {
    HeaderFields::new(header).any(|f| {
        f.name.eq_ignore_ascii_case(b"content-disposition")
            && parse_disposition(f.value)
                .media_type
                .eq_ignore_ascii_case("attachment")
    })
}

fn is_base64(header: &[u8]) -> bool {
    HeaderFields::new(header).any(|f| {
        f.name.eq_ignore_ascii_case(b"content-transfer-encoding") && {
            let mut lexer = Lexer::new(f.value);
            lexer.skip_cfws();
            lexer.token().eq_ignore_ascii_case("base64")
        }
    })
}

/// Finds the line layout of a base64 body and decodes it, if encoding the result again with
/// that layout reproduces the body exactly.
fn base64_layout(body: &[u8]) -> Option<(Base64Layout, Vec<u8>)> {
    // The tail: line endings after the last line of characters.
    let content_end = body
        .iter()
        .rposition(|&b| b != b'\r' && b != b'\n')
        .map(|p| p + 1)?;
    let tail = body[content_end..].to_vec();
    let content = &body[..content_end];
    let first_lf = content.iter().position(|&b| b == b'\n');
    let (line_len, eol) = match first_lf {
        Some(pos) if pos > 0 && content[pos - 1] == b'\r' => (pos - 1, b"\r\n".to_vec()),
        Some(pos) => (pos, b"\n".to_vec()),
        None => (content.len(), Vec::new()),
    };
    if line_len == 0 || tail.len() > 16 {
        return None;
    }
    let layout = Base64Layout {
        line_len,
        eol,
        tail,
    };
    // Decoded and checked in blocks: the decoded bytes are the only copy of the body's size
    // (a 50 MiB attachment once held its characters and its re-encoding too).
    let mut decoded = Vec::with_capacity(content.len() / 4 * 3);
    let mut chars = Vec::with_capacity(DECODE_BLOCK + layout.line_len);
    for line in content.split(|&b| b == b'\n') {
        // Only a line's last CR is dropped: one elsewhere is no base64 and fails the decode,
        // as it would fail the re-encoding check below anyway.
        chars.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        if chars.len() >= DECODE_BLOCK {
            let whole = chars.len() / 4 * 4;
            STANDARD.decode_vec(&chars[..whole], &mut decoded).ok()?;
            chars.drain(..whole);
        }
    }
    STANDARD.decode_vec(&chars, &mut decoded).ok()?;
    encodes_as(&decoded, &layout, body).then_some((layout, decoded))
}

/// Characters gathered before a block is decoded.
const DECODE_BLOCK: usize = 64 * 1024;

/// Whether `decoded` encoded with `layout` gives exactly `body` ([`encode_with_layout`]
/// compared piece by piece, without building the whole encoding).
fn encodes_as(decoded: &[u8], layout: &Base64Layout, body: &[u8]) -> bool {
    let line = layout.line_len.max(1);
    // 3 * line bytes encode to 4 whole lines, so pieces start at line boundaries.
    let piece_len = 3 * line * (DECODE_BLOCK / (4 * line)).max(1);
    let mut out = Vec::new();
    let mut rest = body;
    for (i, piece) in decoded.chunks(piece_len).enumerate() {
        out.clear();
        if i > 0 {
            out.extend_from_slice(&layout.eol);
        }
        push_encoded(&mut out, piece, layout, i * piece_len / 3 * 4);
        match rest.strip_prefix(out.as_slice()) {
            Some(after) => rest = after,
            None => return false,
        }
    }
    rest == layout.tail.as_slice()
}

/// Encodes bytes with a base64 line layout.
pub fn encode_with_layout(decoded: &[u8], layout: &Base64Layout) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len(decoded.len(), layout));
    push_encoded(&mut out, decoded, layout, 0);
    out.extend_from_slice(&layout.tail);
    out
}

/// Appends the encoding of `decoded`, whose first character is character `first_char` (a
/// multiple of 4) of the leaf's whole encoding, with a line ending at every line boundary
/// after that first character.
fn push_encoded(out: &mut Vec<u8>, decoded: &[u8], layout: &Base64Layout, first_char: usize) {
    let line = layout.line_len.max(1);
    out.reserve(encoded_len(decoded.len(), layout) + layout.eol.len());
    let mut index = first_char;
    if line.is_multiple_of(4) && first_char.is_multiple_of(4) {
        // Every line holds whole 4-character groups (76 is the usual length): each line is
        // encoded straight into place, at memory speed, with no intermediate string.
        let mut rest = decoded;
        while !rest.is_empty() {
            if index > first_char && index.is_multiple_of(line) {
                out.extend_from_slice(&layout.eol);
            }
            let take = ((line - index % line) / 4 * 3).min(rest.len());
            let start = out.len();
            out.resize(start + take.div_ceil(3) * 4, 0);
            let written = STANDARD.encode_slice(&rest[..take], &mut out[start..]);
            out.truncate(start + written.unwrap_or(0));
            rest = &rest[take..];
            index += take.div_ceil(3) * 4;
        }
        return;
    }
    let chars = STANDARD.encode(decoded);
    let mut rest = chars.as_bytes();
    while !rest.is_empty() {
        if index > first_char && index.is_multiple_of(line) {
            out.extend_from_slice(&layout.eol);
        }
        // Up to the next line boundary in one copy.
        let take = (line - index % line).min(rest.len());
        out.extend_from_slice(&rest[..take]);
        rest = &rest[take..];
        index += take;
    }
}

/// Length of the encoded form of `decoded_len` bytes.
pub fn encoded_len(decoded_len: usize, layout: &Base64Layout) -> usize {
    let chars = decoded_len.div_ceil(3) * 4;
    let lines = chars.div_ceil(layout.line_len.max(1));
    chars + lines.saturating_sub(1) * layout.eol.len() + layout.tail.len()
}

/// For a byte range of a base64 leaf's encoded form, the range of decoded bytes needed to
/// produce it (whole 3-byte groups).
pub fn decoded_range_for(
    encoded: Range<usize>,
    decoded_len: usize,
    layout: &Base64Layout,
) -> Range<usize> {
    let total_chars = decoded_len.div_ceil(3) * 4;
    let to_char = |pos: usize| {
        let stride = layout.line_len + layout.eol.len();
        let line = pos / stride;
        let column = (pos % stride).min(layout.line_len);
        (line * layout.line_len + column).min(total_chars)
    };
    let first_char = to_char(encoded.start);
    let end_char = to_char(encoded.end.max(encoded.start));
    let first_group = first_char / 4;
    let end_group = end_char.div_ceil(4);
    (first_group * 3).min(decoded_len)..(end_group * 3).min(decoded_len)
}

/// Produces bytes `encoded` of a base64 leaf's encoded form from the decoded bytes
/// `decoded_part`, which must be the range [`decoded_range_for`] returned.
pub fn encoded_slice(
    decoded_part: &[u8],
    decoded_range: Range<usize>,
    decoded_len: usize,
    encoded: Range<usize>,
    layout: &Base64Layout,
) -> Bytes {
    let total = encoded_len(decoded_len, layout);
    let encoded = encoded.start.min(total)..encoded.end.min(total);
    if encoded.is_empty() {
        return Bytes::new();
    }
    let total_chars = decoded_len.div_ceil(3) * 4;
    let stride = layout.line_len + layout.eol.len();
    let mut window = Vec::with_capacity(encoded.end - encoded.start + 2 * stride);
    let start_pos = if decoded_range.start >= decoded_len {
        // Only the tail is asked for.
        window.extend_from_slice(&layout.tail);
        total - layout.tail.len()
    } else {
        let first_char = decoded_range.start / 3 * 4;
        let mut start_pos = first_char / layout.line_len * stride + first_char % layout.line_len;
        if first_char > 0 && first_char.is_multiple_of(layout.line_len) {
            // The line ending before the first character may be asked for too.
            window.extend_from_slice(&layout.eol);
            start_pos -= layout.eol.len();
        }
        push_encoded(&mut window, decoded_part, layout, first_char);
        let end_char = first_char + decoded_part.len().div_ceil(3) * 4;
        if end_char >= total_chars {
            window.extend_from_slice(&layout.tail);
        } else if !decoded_part.is_empty() && end_char.is_multiple_of(layout.line_len) {
            window.extend_from_slice(&layout.eol);
        }
        start_pos
    };
    let from = encoded.start.saturating_sub(start_pos).min(window.len());
    let to = (encoded.end.saturating_sub(start_pos)).min(window.len());
    // The window is mostly the asked range itself: it is handed on, not copied again.
    Bytes::from(window).slice(from..to)
}

/// Where a byte range of the original message is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Bytes of the skeleton.
    Skeleton(Range<usize>),
    /// Bytes of leaf `index`, in the leaf's form in the message (encoded for base64 leaves).
    Leaf { index: usize, range: Range<usize> },
}

impl Layout {
    /// Length of the original message.
    pub fn original_len(&self) -> usize {
        self.skeleton.len() + self.leaves.iter().map(|l| l.len).sum::<usize>()
    }

    /// The pieces of the skeleton and of the leaves that make up `range` of the message.
    pub fn sources(&self, range: Range<usize>) -> Vec<Source> {
        let mut out = Vec::new();
        let clip = |start: usize, end: usize| {
            let (a, b) = (range.start.max(start), range.end.min(end));
            (a < b).then(|| (a - start, b - start))
        };
        let mut original = 0;
        let mut skeleton = 0;
        for (index, leaf) in self.leaves.iter().enumerate() {
            if let Some((a, b)) = clip(original, leaf.offset) {
                out.push(Source::Skeleton(skeleton + a..skeleton + b));
            }
            skeleton += leaf.offset.saturating_sub(original);
            if let Some((a, b)) = clip(leaf.offset, leaf.offset + leaf.len) {
                out.push(Source::Leaf { index, range: a..b });
            }
            original = leaf.offset + leaf.len;
        }
        let tail = self.skeleton.len().saturating_sub(skeleton);
        if let Some((a, b)) = clip(original, original + tail) {
            out.push(Source::Skeleton(skeleton + a..skeleton + b));
        }
        out
    }

    /// `range` of the message when it lies wholly in the skeleton (headers always do).
    pub fn skeleton_slice(&self, range: Range<usize>) -> Option<&[u8]> {
        if range.is_empty() {
            return Some(&[]);
        }
        match self.sources(range).as_slice() {
            [Source::Skeleton(r)] => self.skeleton.get(r.clone()),
            _ => None,
        }
    }

    /// Reads `range` of the message. `fetch_leaf(index, stored_range)` must return those
    /// bytes of leaf `index` as stored (decoded bytes for base64 leaves), so only the part
    /// of a blob the range needs is read.
    pub fn read(
        &self,
        range: Range<usize>,
        mut fetch_leaf: impl FnMut(usize, Range<usize>) -> Result<Bytes>,
    ) -> Result<Vec<Bytes>> {
        let mut out = Vec::new();
        for source in self.sources(range) {
            match source {
                Source::Skeleton(r) => out.push(Bytes::copy_from_slice(&self.skeleton[r])),
                Source::Leaf { index, range } => {
                    let leaf = &self.leaves[index];
                    match &leaf.encoding {
                        LeafEncoding::Raw => out.push(fetch_leaf(index, range)?),
                        LeafEncoding::Base64(b64) => {
                            let decoded_len = leaf.decoded_len;
                            let need = decoded_range_for(range.clone(), decoded_len, b64);
                            let part = fetch_leaf(index, need.clone())?;
                            out.push(encoded_slice(&part, need, decoded_len, range, b64));
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Puts the message back together from its layout and its leaves' stored bytes.
pub fn reassemble(layout: &Layout, leaf_bodies: &[Bytes]) -> Result<Vec<u8>> {
    if leaf_bodies.len() != layout.leaves.len() {
        return Err(Defect::layout(format!(
            "layout has {} leaves, {} given",
            layout.leaves.len(),
            leaf_bodies.len()
        ))
        .into());
    }
    let total = layout.skeleton.len() + layout.leaves.iter().map(|l| l.len).sum::<usize>();
    let mut out = Vec::with_capacity(total);
    let mut skeleton_pos = 0;
    for (leaf, stored) in layout.leaves.iter().zip(leaf_bodies) {
        let piece = layout
            .skeleton
            .get(skeleton_pos..leaf.at)
            .ok_or_else(|| Defect::layout("leaf position outside the skeleton"))?;
        out.extend_from_slice(piece);
        skeleton_pos = leaf.at;
        let bytes = match &leaf.encoding {
            LeafEncoding::Raw => stored.to_vec(),
            LeafEncoding::Base64(b64) => encode_with_layout(stored, b64),
        };
        if bytes.len() != leaf.len {
            return Err(Defect::layout(format!(
                "leaf at {} gives {} bytes, expected {}",
                leaf.offset,
                bytes.len(),
                leaf.len
            ))
            .into());
        }
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(&layout.skeleton[skeleton_pos..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(line_len: usize, eol: &[u8], tail: &[u8]) -> Base64Layout {
        Base64Layout {
            line_len,
            eol: eol.to_vec(),
            tail: tail.to_vec(),
        }
    }

    #[test]
    fn base64_body_is_kept_decoded_when_exact() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        for l in [
            layout(76, b"\r\n", b""),
            layout(64, b"\n", b"\n"),
            layout(72, b"\r\n", b"\r\n"),
        ] {
            let encoded = encode_with_layout(&data, &l);
            let (found, decoded) = base64_layout(&encoded).expect("exact layout");
            assert_eq!(found, l);
            assert_eq!(decoded, data);
        }
        // A body whose lines vary in length is not reproducible: kept raw.
        assert!(base64_layout(b"QUJD\r\nREVGR0hJ\r\n").is_none());
    }

    #[test]
    fn bodies_over_several_decode_blocks_are_checked_whole() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 253) as u8).collect();
        for l in [layout(76, b"\r\n", b"\r\n"), layout(57, b"\n", b"")] {
            let encoded = encode_with_layout(&data, &l);
            let (found, decoded) = base64_layout(&encoded).expect("exact layout");
            assert_eq!(found, l);
            assert_eq!(decoded, data);
            // One line a character short, past the first block: not reproducible.
            let mut flawed = encoded.clone();
            let at = flawed.len() - 5000;
            let eol_at = at + flawed[at..].iter().position(|&b| b == b'\n').unwrap_or(0);
            flawed.remove(eol_at - l.eol.len());
            assert!(base64_layout(&flawed).is_none());
            // A changed character decodes, but to other bytes.
            let mut changed = encoded.clone();
            let at = (changed.len() - 7000..)
                .find(|&i| changed[i].is_ascii_alphanumeric())
                .unwrap_or(0);
            changed[at] = if changed[at] == b'A' { b'B' } else { b'A' };
            let (_, other) = base64_layout(&changed).expect("still exact");
            assert_ne!(other, data);
        }
    }

    #[test]
    fn every_encoded_range_maps_to_decoded_bytes() {
        let data: Vec<u8> = (0..200u32).map(|i| (i * 13 % 256) as u8).collect();
        for l in [
            layout(76, b"\r\n", b"\r\n"),
            layout(10, b"\n", b""),
            layout(4, b"\r\n", b"\n"),
        ] {
            let encoded = encode_with_layout(&data, &l);
            assert_eq!(encoded.len(), encoded_len(data.len(), &l));
            for start in (0..=encoded.len()).step_by(3) {
                for end in [start, start + 1, start + 7, start + 80, encoded.len()] {
                    let end = end.min(encoded.len());
                    let range = decoded_range_for(start..end, data.len(), &l);
                    let slice =
                        encoded_slice(&data[range.clone()], range, data.len(), start..end, &l);
                    assert_eq!(slice, &encoded[start..end], "range {start}..{end} of {l:?}");
                }
            }
        }
    }
}
