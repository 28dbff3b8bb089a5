//! The content seam: how a message's bytes become a layout plus blobs, and back.
//!
//! A message is stored as its *skeleton* (every header block, boundary line, preamble and
//! small body, zstd-compressed inside the layout record) plus one blob per *leaf* body that
//! [`split_with_policy`] cuts out (attachment-like or large bodies). Base64 leaves are kept
//! decoded when the observed line layout re-encodes them exactly, so the same file sent
//! with another line length, or to another user, is the same blob. Blob `i` holds leaf `i`.
//!
//! Sections are read from the skeleton alone as long as they do not cover a leaf: the part
//! tree is found by splitting the skeleton with a one-byte stand-in for each leaf (checked at
//! ingest to give the message's own tree; when it does not, reads fall back to the whole
//! message). Only leaves a section covers are read, and of those only the prefix the
//! section's range needs is decompressed.
//!
//! Old stores keep the single-blob layout `Whole`; it is still read.

mod cache;
mod wire;

use std::ops::Range;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::backend::{BlobData, ContentWrite};
use crate::error::{Defect, Error, Result, StorageError, StorageErrorKind};
use crate::mime::layout::{
    Base64Layout, Layout, LayoutPolicy, Leaf, LeafEncoding, Source, decoded_range_for, encoded_len,
    encoded_slice, split_with_policy,
};
use crate::mime::section::{apply_partial, section_pieces};
use crate::mime::{self, PartKind, PartTree, Piece};
use crate::model::{Partial, Section, SectionBody, SectionText};
use wire::{Reader, Writer};

pub(crate) use cache::LayoutCache;

/// Blob stored as given (it did not shrink under compression).
pub const CODEC_RAW: u8 = 0;
/// Blob stored zstd-compressed.
pub const CODEC_ZSTD: u8 = 1;

const ZSTD_LEVEL: i32 = 3;

/// Which leaf bodies leave the skeleton. Tuned with `benches/storage.rs` (200 messages,
/// every copy counted): text bodies from 1 KiB up become leaves too, so a message delivered
/// to many users shares its text as well as its attachments; 16/1 KiB kept 23% of raw in
/// `stored_bytes`, 1 KiB/512 B 19%, and going lower saved nothing more in the database file.
const LEAF_POLICY: LayoutPolicy = LayoutPolicy {
    min_attachment: 512,
    min_large: 1024,
};

/// First byte of a packed layout. The legacy layout is JSON, which starts with `"`.
const PACKED_TAG: u8 = 0x01;
const ENCODING_RAW: u8 = 0;
const ENCODING_BASE64: u8 = 1;

/// The layout of stores written before the content engine: one blob, the whole message.
#[derive(Debug, Serialize, Deserialize)]
enum LegacyLayout {
    Whole,
}

/// A stored layout, parsed and checked.
enum Stored {
    Whole,
    Packed(Packed),
}

/// A message as skeleton plus leaves; every offset checked against the others.
struct Packed {
    raw_len: usize,
    /// Splitting the skeleton with stand-ins gives the message's part tree.
    tree_from_skeleton: bool,
    layout: Layout,
}

/// A stored layout as reads use it: parsed (skeleton decompressed) once, shared by every
/// read of a message with these layout bytes (see [`LayoutCache`]).
pub(crate) struct ParsedLayout {
    stored: Stored,
    /// The part tree found on the stand-in text, split the first time a section needs it.
    stand_in: OnceLock<StandInText>,
}

/// The skeleton with a stand-in byte per leaf, and its part tree.
struct StandInText {
    map: StandIns,
    text: Vec<u8>,
    tree: PartTree,
}

impl ParsedLayout {
    pub(crate) fn parse(layout: &[u8]) -> Result<Arc<ParsedLayout>> {
        Ok(Arc::new(ParsedLayout {
            stored: parse(layout)?,
            stand_in: OnceLock::new(),
        }))
    }

    /// Bytes held in memory for this layout (skeleton, and the stand-in text once split).
    fn held_bytes(&self) -> usize {
        match &self.stored {
            Stored::Packed(packed) => 2 * packed.layout.skeleton.len(),
            Stored::Whole => 0,
        }
    }

    fn stand_in<'a>(packed: &Packed, slot: &'a OnceLock<StandInText>) -> &'a StandInText {
        slot.get_or_init(|| {
            let map = StandIns::new(&packed.layout.leaves);
            let text = map.fill(&packed.layout.skeleton);
            let tree = mime::split(&text);
            StandInText { map, text, tree }
        })
    }
}

// ---- writing ----

/// Splits a raw message (already split into its part tree) into what the backend stores.
pub fn pack(raw: &Bytes, tree: &PartTree) -> Result<ContentWrite> {
    let split = split_with_policy(raw, tree, LEAF_POLICY);
    let (skeleton, leaves) = (&split.layout.skeleton, &split.layout.leaves);
    let stand_ins = StandIns::new(leaves);
    // Without leaves the stand-in text is the message itself.
    let tree_from_skeleton =
        leaves.is_empty() || trees_agree(tree, &mime::split(&stand_ins.fill(skeleton)), &stand_ins);
    let (codec, stored_skeleton) = compress(skeleton.as_slice())?;

    let mut w = Writer::new(PACKED_TAG);
    w.usize(raw.len());
    w.u8(u8::from(tree_from_skeleton));
    w.usize(skeleton.len());
    w.u8(codec);
    w.bytes(&stored_skeleton);
    w.usize(leaves.len());
    for leaf in leaves {
        w.usize(leaf.at);
        w.usize(leaf.offset);
        w.usize(leaf.len);
        w.usize(leaf.decoded_len);
        match &leaf.encoding {
            LeafEncoding::Raw => w.u8(ENCODING_RAW),
            LeafEncoding::Base64(b64) => {
                w.u8(ENCODING_BASE64);
                w.usize(b64.line_len);
                w.bytes(&b64.eol);
                w.bytes(&b64.tail);
            }
        }
    }
    Ok(ContentWrite {
        layout: w.finish(),
        blobs: split
            .leaf_bodies
            .into_iter()
            .map(encode_blob)
            .collect::<Result<_>>()?,
    })
}

thread_local! {
    /// One zstd compression context per thread: setting up a fresh one per blob cost about
    /// as much as compressing a typical message part. Same level, same output.
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// zstd unless that does not make the bytes smaller. Kept raw, owned bytes are passed on
/// without a copy (a big attachment is then held once, not twice).
fn compress(bytes: impl AsRef<[u8]> + Into<Vec<u8>>) -> Result<(u8, Vec<u8>)> {
    let compressed = COMPRESSOR
        .with_borrow_mut(|slot| {
            let compressor = match slot {
                Some(compressor) => compressor,
                None => slot.insert(zstd::bulk::Compressor::new(ZSTD_LEVEL)?),
            };
            compressor.compress(bytes.as_ref())
        })
        .map_err(|e| StorageError::new(StorageErrorKind::Internal, e))?;
    if compressed.len() < bytes.as_ref().len() {
        return Ok((CODEC_ZSTD, compressed));
    }
    drop(compressed);
    Ok((CODEC_RAW, bytes.into()))
}

/// Compresses a blob unless that does not make it smaller; keys it by blake3 of codec and
/// stored bytes.
fn encode_blob(content: Bytes) -> Result<BlobData> {
    let raw_len = content.len() as u64;
    let (codec, data) = compress(content)?;
    let mut hasher = blake3::Hasher::new();
    hasher.update(&[codec]);
    hasher.update(&data);
    Ok(BlobData {
        hash: *hasher.finalize().as_bytes(),
        raw_len,
        codec,
        data,
    })
}

/// A whole file (a user's stored file) as one blob: compressed when that helps, keyed like
/// a message's leaf, so equal files are stored once.
pub(crate) fn pack_file(content: Vec<u8>) -> Result<BlobData> {
    encode_blob(Bytes::from(content))
}

/// A file's content back from its blob's codec and stored bytes.
pub(crate) fn unpack_file(codec: u8, data: Vec<u8>) -> Result<Vec<u8>> {
    decode_prefix(codec, data, usize::MAX)
}

// ---- parsing a stored layout ----

fn corrupt(what: String) -> Error {
    Defect::layout(what).into()
}

fn parse(layout: &[u8]) -> Result<Stored> {
    if layout.first() != Some(&PACKED_TAG) {
        return match serde_json::from_slice(layout) {
            Ok(LegacyLayout::Whole) => Ok(Stored::Whole),
            Err(e) => Err(StorageError::new(StorageErrorKind::Corrupt, e).into()),
        };
    }
    let mut r = Reader::new(layout);
    r.u8()?;
    let raw_len = r.usize()?;
    let tree_from_skeleton = r.u8()? != 0;
    let skeleton_len = r.usize()?;
    let codec = r.u8()?;
    let stored = r.bytes()?.to_vec();
    let skeleton = decode_prefix(codec, stored, skeleton_len)?;
    if skeleton.len() != skeleton_len {
        return Err(corrupt("skeleton length".into()));
    }
    let count = r.usize()?;
    let mut leaves = Vec::with_capacity(count.min(layout.len()));
    for _ in 0..count {
        let (at, offset, len, decoded_len) = (r.usize()?, r.usize()?, r.usize()?, r.usize()?);
        let encoding = match r.u8()? {
            ENCODING_RAW => LeafEncoding::Raw,
            ENCODING_BASE64 => LeafEncoding::Base64(Base64Layout {
                line_len: r.usize()?,
                eol: r.bytes()?.to_vec(),
                tail: r.bytes()?.to_vec(),
            }),
            other => return Err(corrupt(format!("leaf encoding {other}"))),
        };
        leaves.push(Leaf {
            at,
            offset,
            len,
            decoded_len,
            encoding,
        });
    }
    r.end()?;
    let packed = Packed {
        raw_len,
        tree_from_skeleton,
        layout: Layout { skeleton, leaves },
    };
    packed.check()?;
    Ok(Stored::Packed(packed))
}

impl Packed {
    /// Leaves in order, each where the skeleton says, lengths adding up, base64 lengths
    /// matching their layouts: after this, every slice taken below is in range.
    fn check(&self) -> Result<()> {
        let (mut at, mut real) = (0usize, 0usize);
        for leaf in &self.layout.leaves {
            let gap = leaf.at.checked_sub(at);
            if gap.and_then(|g| real.checked_add(g)) != Some(leaf.offset) || leaf.len == 0 {
                return Err(corrupt(format!("leaf at {} out of place", leaf.offset)));
            }
            let stored_len_fits = match &leaf.encoding {
                LeafEncoding::Raw => leaf.decoded_len == leaf.len,
                LeafEncoding::Base64(b64) => {
                    b64.line_len > 0 && encoded_len(leaf.decoded_len, b64) == leaf.len
                }
            };
            if !stored_len_fits {
                return Err(corrupt(format!(
                    "leaf at {} has a wrong length",
                    leaf.offset
                )));
            }
            at = leaf.at;
            real = leaf
                .offset
                .checked_add(leaf.len)
                .ok_or_else(|| corrupt("leaf length".into()))?;
        }
        let rest = self.layout.skeleton.len().checked_sub(at);
        if rest.and_then(|r| real.checked_add(r)) != Some(self.raw_len) {
            return Err(corrupt("lengths do not add up".into()));
        }
        Ok(())
    }
}

// ---- the part tree from the skeleton ----

/// Each leaf replaced by one stand-in byte: positions in that text and in the message.
struct StandIns {
    /// Per leaf: the position after its stand-in, and how much longer the message is than
    /// the stand-in text from there on.
    ends: Vec<usize>,
    shifts: Vec<usize>,
    ats: Vec<usize>,
}

const STAND_IN: u8 = b'X';

impl StandIns {
    fn new(leaves: &[Leaf]) -> Self {
        let mut shift = 0;
        let mut ends = Vec::with_capacity(leaves.len());
        let mut shifts = Vec::with_capacity(leaves.len());
        for (index, leaf) in leaves.iter().enumerate() {
            ends.push(leaf.at + index + 1);
            shift += leaf.len - 1;
            shifts.push(shift);
        }
        StandIns {
            ends,
            shifts,
            ats: leaves.iter().map(|l| l.at).collect(),
        }
    }

    /// The skeleton with a stand-in byte where each leaf goes.
    fn fill(&self, skeleton: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(skeleton.len() + self.ats.len());
        let mut from = 0;
        for &at in &self.ats {
            out.extend_from_slice(&skeleton[from..at]);
            out.push(STAND_IN);
            from = at;
        }
        out.extend_from_slice(&skeleton[from..]);
        out
    }

    /// A position in the stand-in text as a message offset.
    fn to_message(&self, position: usize) -> usize {
        match self.ends.partition_point(|&end| end <= position) {
            0 => position,
            passed => position + self.shifts[passed - 1],
        }
    }

    fn range(&self, range: &Range<usize>) -> Range<usize> {
        self.to_message(range.start)..self.to_message(range.end)
    }
}

/// Whether the stand-in tree, mapped to message offsets, is the message's tree in every
/// respect section extraction uses.
fn trees_agree(real: &PartTree, stand_in: &PartTree, map: &StandIns) -> bool {
    let same_kind = |a: &PartKind, b: &PartKind| match (a, b) {
        (PartKind::Leaf, PartKind::Leaf) => true,
        (PartKind::Message { child: x }, PartKind::Message { child: y }) => x == y,
        (PartKind::Multipart { children: x, .. }, PartKind::Multipart { children: y, .. }) => {
            x == y
        }
        _ => false,
    };
    real.len == map.to_message(stand_in.len)
        && real.parts.len() == stand_in.parts.len()
        && real.parts.iter().zip(&stand_in.parts).all(|(r, s)| {
            r.header == map.range(&s.header)
                && r.body == map.range(&s.body)
                && same_kind(&r.kind, &s.kind)
        })
}

// ---- reading ----

/// What one section read needs, worked out from the layout before any blob is loaded.
pub struct SectionPlan {
    layout: Arc<ParsedLayout>,
    work: Work,
}

enum Work {
    /// Load every blob, rebuild the message, extract from it.
    Reassemble {
        section: Section,
        partial: Option<Partial>,
    },
    /// The section's bytes, in order.
    Chunks(Vec<ChunkSource>),
}

/// Where one chunk of a section comes from.
enum ChunkSource {
    Literal(&'static [u8]),
    Stored(Source),
}

impl SectionPlan {
    /// Plans reading `section` (and `partial` of it) of the message stored with `layout`.
    #[cfg(test)]
    pub fn new(layout: &[u8], section: &Section, partial: Option<Partial>) -> Result<Self> {
        Self::of(ParsedLayout::parse(layout)?, section, partial)
    }

    /// Plans reading `section` (and `partial` of it) of a message with this parsed layout.
    pub(crate) fn of(
        layout: Arc<ParsedLayout>,
        section: &Section,
        partial: Option<Partial>,
    ) -> Result<Self> {
        let work = match &layout.stored {
            Stored::Packed(packed) if packed.tree_from_skeleton || is_whole(section) => {
                Work::Chunks(chunk_sources(packed, &layout.stand_in, section, partial)?)
            }
            _ => Work::Reassemble {
                section: section.clone(),
                partial,
            },
        };
        Ok(SectionPlan { layout, work })
    }

    /// Positions of the blobs to load, ascending.
    pub fn blobs(&self) -> Vec<usize> {
        match (&self.layout.stored, &self.work) {
            (Stored::Whole, _) => vec![0],
            (Stored::Packed(packed), Work::Reassemble { .. }) => {
                (0..packed.layout.leaves.len()).collect()
            }
            (Stored::Packed(_), Work::Chunks(sources)) => {
                let mut wanted: Vec<usize> = sources
                    .iter()
                    .filter_map(|s| match s {
                        ChunkSource::Stored(Source::Leaf { index, .. }) => Some(*index),
                        _ => None,
                    })
                    .collect();
                wanted.sort_unstable();
                wanted.dedup();
                wanted
            }
        }
    }

    /// Length of the whole message, when the layout records it (not for whole-message blobs).
    pub fn message_len(&self) -> Option<usize> {
        match &self.layout.stored {
            Stored::Packed(packed) => Some(packed.raw_len),
            Stored::Whole => None,
        }
    }

    /// The section's bytes, given the blobs [`SectionPlan::blobs`] named, in that order.
    pub fn read(self, blobs: Vec<(u8, Vec<u8>)>) -> Result<SectionBody> {
        let wanted = self.blobs();
        if blobs.len() != wanted.len() {
            return Err(corrupt(format!(
                "content needs {} blobs, {} loaded",
                wanted.len(),
                blobs.len()
            )));
        }
        match (&self.layout.stored, self.work) {
            (stored, Work::Reassemble { section, partial }) => {
                let raw = reassemble(stored, blobs)?;
                mime::read_section(&raw, &section, partial)
            }
            (Stored::Packed(packed), Work::Chunks(sources)) => {
                read_chunks(packed, &sources, wanted.into_iter().zip(blobs).collect())
            }
            (Stored::Whole, Work::Chunks(_)) => {
                Err(Defect::Bug("whole layout planned as chunks").into())
            }
        }
    }
}

/// The exact raw bytes of a message from its layout and all its blobs.
fn reassemble(stored: &Stored, blobs: Vec<(u8, Vec<u8>)>) -> Result<Bytes> {
    match stored {
        Stored::Whole => {
            let [(codec, data)] = <[_; 1]>::try_from(blobs).map_err(|blobs| {
                corrupt(format!(
                    "whole-message layout needs 1 blob, found {}",
                    blobs.len()
                ))
            })?;
            decode_prefix(codec, data, usize::MAX).map(Bytes::from)
        }
        Stored::Packed(packed) => {
            let sources = chunk_sources_in(packed, vec![Piece::Raw(0..packed.raw_len)])?;
            let loaded = blobs.into_iter().enumerate().collect();
            Ok(Bytes::from(read_chunks(packed, &sources, loaded)?.to_vec()))
        }
    }
}

/// The whole message (BODY[], RETR): read without a part tree, so the skeleton is not split.
fn is_whole(section: &Section) -> bool {
    section.part.is_empty() && section.text == SectionText::Full
}

/// Where a section's bytes come from, found on the stand-in text.
fn chunk_sources(
    packed: &Packed,
    stand_in: &OnceLock<StandInText>,
    section: &Section,
    partial: Option<Partial>,
) -> Result<Vec<ChunkSource>> {
    if is_whole(section) {
        return chunk_sources_in(
            packed,
            apply_partial(vec![Piece::Raw(0..packed.raw_len)], partial),
        );
    }
    let StandInText { map, text, tree } = ParsedLayout::stand_in(packed, stand_in);
    let pieces = section_pieces(text, tree, section)?
        .into_iter()
        .map(|piece| match piece {
            Piece::Raw(range) => Piece::Raw(map.range(&range)),
            literal => literal,
        })
        .collect();
    chunk_sources_in(packed, apply_partial(pieces, partial))
}

/// Cuts pieces (message offsets) into skeleton and leaf ranges.
fn chunk_sources_in(packed: &Packed, pieces: Vec<Piece>) -> Result<Vec<ChunkSource>> {
    let mut out = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Literal(bytes) => out.push(ChunkSource::Literal(bytes)),
            Piece::Raw(range) if range.end > packed.raw_len => {
                return Err(corrupt("section reaches past the message".into()));
            }
            Piece::Raw(range) => out.extend(
                packed
                    .layout
                    .sources(range)
                    .into_iter()
                    .map(ChunkSource::Stored),
            ),
        }
    }
    Ok(out)
}

/// Produces the chunks, decompressing of each loaded leaf only the prefix its ranges need.
/// Raw-leaf chunks share the buffers they come from; skeleton chunks are copied out of the
/// shared parsed layout.
fn read_chunks(
    packed: &Packed,
    sources: &[ChunkSource],
    loaded: Vec<(usize, (u8, Vec<u8>))>,
) -> Result<SectionBody> {
    let Layout { skeleton, leaves } = &packed.layout;
    let mut contents: Vec<Option<Bytes>> = vec![None; leaves.len()];
    for (index, (codec, data)) in loaded {
        let leaf = leaves
            .get(index)
            .ok_or_else(|| corrupt(format!("blob {index} has no leaf")))?;
        let needed = sources
            .iter()
            .filter_map(|s| match s {
                ChunkSource::Stored(Source::Leaf { index: i, range }) if *i == index => {
                    Some(stored_range(leaf, range).end)
                }
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let content = decode_prefix(codec, data, needed)?;
        if content.len() < needed {
            return Err(corrupt(format!(
                "blob of leaf at {} too short",
                leaf.offset
            )));
        }
        contents[index] = Some(Bytes::from(content));
    }
    let mut chunks = Vec::with_capacity(sources.len());
    for source in sources {
        chunks.push(match source {
            ChunkSource::Literal(bytes) => Bytes::from_static(bytes),
            ChunkSource::Stored(Source::Skeleton(range)) => {
                Bytes::copy_from_slice(&skeleton[range.clone()])
            }
            ChunkSource::Stored(Source::Leaf { index, range }) => {
                let leaf = &leaves[*index];
                let content = contents[*index]
                    .as_ref()
                    .ok_or(Defect::Bug("leaf blob was not loaded"))?;
                match &leaf.encoding {
                    LeafEncoding::Raw => content.slice(range.clone()),
                    LeafEncoding::Base64(b64) => {
                        let decoded = stored_range(leaf, range);
                        encoded_slice(
                            &content[decoded.clone()],
                            decoded,
                            leaf.decoded_len,
                            range.clone(),
                            b64,
                        )
                    }
                }
            }
        });
    }
    Ok(SectionBody { chunks })
}

/// The bytes of a leaf's blob content that give `range` of its form in the message.
fn stored_range(leaf: &Leaf, range: &Range<usize>) -> Range<usize> {
    match &leaf.encoding {
        LeafEncoding::Raw => range.clone(),
        LeafEncoding::Base64(b64) => decoded_range_for(range.clone(), leaf.decoded_len, b64),
    }
}

thread_local! {
    /// One zstd decompression context per thread, reset for every blob.
    static DECOMPRESSOR: std::cell::RefCell<zstd::zstd_safe::DCtx<'static>> =
        std::cell::RefCell::new(zstd::zstd_safe::DCtx::create());
}

/// At least the first `len` bytes of a blob's content (all of it if shorter); a zstd blob
/// is decompressed only that far.
fn decode_prefix(codec: u8, mut data: Vec<u8>, len: usize) -> Result<Vec<u8>> {
    use std::io::Read;
    match codec {
        CODEC_RAW => {
            data.truncate(len);
            Ok(data)
        }
        CODEC_ZSTD => DECOMPRESSOR.with_borrow_mut(|context| {
            let mut out = Vec::new();
            // `&[u8]` is its own read buffer, and the context is reused: creating both per
            // blob cost more than decompressing a typical message part.
            zstd::stream::read::Decoder::with_context(data.as_slice(), context)
                .take(len as u64)
                .read_to_end(&mut out)
                .map_err(|e| StorageError::new(StorageErrorKind::Corrupt, e))?;
            Ok(out)
        }),
        other => Err(Defect::Malformed {
            what: "blob",
            detail: format!("unknown codec {other}"),
        }
        .into()),
    }
}

#[cfg(test)]
mod tests;
