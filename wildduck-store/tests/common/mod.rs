//! Helpers shared by the MIME tests: fixtures, gen_mbox messages, section specs, CRLF form.
#![allow(dead_code)]

use wildduck_store::{Partial, Section, SectionText};

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/mime");
pub const GEN_MBOX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/tools/gen_mbox.py");

/// Every fixture as (file stem, bytes), sorted by name.
pub fn fixtures() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(FIXTURES)
        .unwrap_or_else(|e| panic!("{FIXTURES}: {e}"))
        .map(|entry| {
            let path = entry.expect("dir entry").path();
            let stem = path
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .into_owned();
            (stem, std::fs::read(&path).expect("fixture"))
        })
        .collect();
    out.sort();
    out
}

/// The messages of `gen_mbox.py -n COUNT --seed SEED`, split at mbox "From " lines (the
/// generator escapes body lines that start with "From ").
pub fn gen_mbox(count: usize, seed: u64) -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gen.mbox");
    let status = std::process::Command::new("python3")
        .arg(GEN_MBOX)
        .args(["-n", &count.to_string(), "--seed", &seed.to_string(), "-o"])
        .arg(&path)
        .status()
        .expect("python3 runs");
    assert!(status.success(), "gen_mbox.py failed");
    let data = std::fs::read(&path).expect("mbox");
    let mut messages = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    for line in data.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"From ") {
            if let Some(mut m) = current.take() {
                // mbox puts a blank line between messages.
                if m.ends_with(b"\n\n") {
                    m.pop();
                }
                messages.push(m);
            }
            current = Some(Vec::new());
        } else if let Some(m) = current.as_mut() {
            m.extend_from_slice(line);
        }
    }
    messages.extend(current);
    assert_eq!(messages.len(), count);
    messages
}

/// Bare LF turned into CRLF (Dovecot's output form).
pub fn crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 30);
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// Parses `BODY[2.1.MIME]<5.20>`, `BODY[HEADER.FIELDS (A B)]`, `BODY[]`.
pub fn parse_section_spec(spec: &str) -> (Section, Option<Partial>) {
    let inner = spec.strip_prefix("BODY[").expect("BODY[");
    let close = inner.rfind(']').expect("]");
    let (text, tail) = (&inner[..close], &inner[close + 1..]);
    let partial = tail
        .strip_prefix('<')
        .and_then(|t| t.strip_suffix('>'))
        .map(|t| {
            let (offset, length) = t.split_once('.').expect("offset.length");
            Partial {
                offset: offset.parse().expect("offset"),
                length: Some(length.parse().expect("length")),
            }
        });
    let mut part = Vec::new();
    let mut rest = text;
    while let Some(first) = rest.split('.').next() {
        match first.parse::<u32>() {
            Ok(n) if !first.is_empty() => {
                part.push(n);
                rest = rest.get(first.len() + 1..).unwrap_or("");
            }
            _ => break,
        }
    }
    let names = |r: &str| -> Vec<String> {
        let open = r.find('(').expect("(");
        r[open + 1..r.len() - 1]
            .split(' ')
            .map(str::to_string)
            .collect()
    };
    let text = if rest.is_empty() {
        SectionText::Full
    } else if rest == "HEADER" {
        SectionText::Header
    } else if rest == "TEXT" {
        SectionText::Text
    } else if rest == "MIME" {
        SectionText::Mime
    } else if rest.starts_with("HEADER.FIELDS.NOT") {
        SectionText::HeaderFieldsNot(names(rest))
    } else if rest.starts_with("HEADER.FIELDS") {
        SectionText::HeaderFields(names(rest))
    } else {
        panic!("unknown section {spec}")
    };
    (Section { part, text }, partial)
}

pub mod reference;

use bytes::Bytes;
use wildduck_store::BodyStructure;
use wildduck_store::mime::layout::{
    LeafEncoding, decoded_range_for, encoded_slice, reassemble, split_for_storage,
};
use wildduck_store::mime::section::{Piece, section_pieces_with};
use wildduck_store::mime::{Splitter, analyze, read_section, split};

/// Checks one message every way the MIME engine promises; returns its number of leaves.
pub fn check_message(name: &str, raw: &[u8]) -> usize {
    let bytes = Bytes::copy_from_slice(raw);
    let tree = reference::parse(raw);
    let our_tree = split(raw);
    let stored = split_for_storage(&bytes);

    // Sections, whole and partial, against the reference (partials on a sample of the
    // sections when there are many, to keep deep messages fast).
    let sections = reference::interesting_sections(&tree);
    let partial_every = sections.len() / 50 + 1;
    for (index, section) in sections.into_iter().enumerate() {
        let expected = reference::section(raw, &tree, &section, None);
        let ours = read_section(&bytes, &section, None)
            .unwrap_or_else(|e| panic!("{name} {section:?}: {e}"))
            .to_vec();
        assert!(ours == expected, "{name} {section:?} differs");
        let from_layout = read_from_layout(&stored, &our_tree, &section);
        assert!(
            from_layout == expected,
            "{name} {section:?} from the storage layout differs"
        );
        if index % partial_every != 0 {
            continue;
        }
        let len = expected.len() as u64;
        for (offset, length) in [(0, Some(1)), (3, Some(17)), (len / 2, None), (len, Some(5))] {
            let partial = Some(Partial { offset, length });
            let expected = reference::section(raw, &tree, &section, partial);
            let ours = read_section(&bytes, &section, partial).unwrap().to_vec();
            assert!(ours == expected, "{name} {section:?} {partial:?} differs");
        }
    }

    // Sizes and line counts of BODYSTRUCTURE against the reference tree.
    compare_sizes(name, raw, &analyze(raw).body_structure, &tree);

    // Storage layout round trip, and partial reads of decoded base64 leaves.
    let back = reassemble(&stored.layout, &stored.leaf_bodies).unwrap();
    assert!(back == raw, "{name}: reassembled message differs");
    for (leaf, body) in stored.layout.leaves.iter().zip(&stored.leaf_bodies) {
        let original = &raw[leaf.offset..leaf.offset + leaf.len];
        if let LeafEncoding::Base64(b64) = &leaf.encoding {
            let n = leaf.len;
            for range in [
                0..n.min(10),
                n / 3..n / 2,
                n.saturating_sub(7)..n,
                77..n.min(160),
            ] {
                if range.start > range.end {
                    continue;
                }
                let need = decoded_range_for(range.clone(), body.len(), b64);
                let got = encoded_slice(&body[need.clone()], need, body.len(), range.clone(), b64);
                assert!(
                    got == original[range.clone()],
                    "{name}: base64 range {range:?}"
                );
            }
        } else {
            assert!(body[..] == *original, "{name}: raw leaf differs");
        }
    }

    // The streaming splitter does not care how the message is cut into chunks.
    let whole = our_tree;
    for chunk in [1usize, 2, 3, 7, 64, 4096] {
        if chunk < 64 && raw.len() > 100_000 {
            continue; // tiny chunks are covered by the smaller messages; keep the test fast
        }
        let mut splitter = Splitter::new();
        for piece in raw.chunks(chunk) {
            splitter.feed(piece);
        }
        assert!(
            splitter.finish() == whole,
            "{name}: chunks of {chunk} give another tree"
        );
    }
    stored.layout.leaves.len()
}

/// A section read the way a store reads it: pieces located through the part tree and the
/// layout, leaf bytes fetched by range (decoded ranges for base64 leaves).
fn read_from_layout(
    stored: &wildduck_store::mime::layout::StorageSplit,
    tree: &wildduck_store::mime::PartTree,
    section: &Section,
) -> Vec<u8> {
    let layout = &stored.layout;
    let pieces = section_pieces_with(tree, section, |range| {
        layout
            .skeleton_slice(range)
            .expect("headers stay in the skeleton")
    })
    .expect("valid section");
    let mut out = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Literal(bytes) => out.extend_from_slice(bytes),
            Piece::Raw(range) => {
                let chunks = layout
                    .read(range, |index, r| Ok(stored.leaf_bodies[index].slice(r)))
                    .expect("layout read");
                for chunk in chunks {
                    out.extend_from_slice(&chunk);
                }
            }
        }
    }
    out
}

/// BODYSTRUCTURE sizes are body lengths, text and message lines are line-feed counts.
fn compare_sizes(name: &str, raw: &[u8], ours: &BodyStructure, part: &reference::RefPart) {
    let body = &raw[part.body.clone()];
    match &part.kind {
        reference::RefKind::Multipart(children) => {
            if !children.is_empty() {
                assert_eq!(ours.parts.len(), children.len(), "{name}: part count");
                for (o, c) in ours.parts.iter().zip(children) {
                    compare_sizes(name, raw, o, c);
                }
            }
        }
        reference::RefKind::Message(nested) => {
            assert_eq!(ours.size, body.len() as u64, "{name}: message size");
            let lines = body.iter().filter(|&&b| b == b'\n').count() as u64;
            assert_eq!(ours.lines, Some(lines), "{name}: message lines");
            compare_sizes(name, raw, &ours.parts[0], nested);
        }
        reference::RefKind::Leaf => {
            assert_eq!(ours.size, body.len() as u64, "{name}: leaf size");
            if ours.media_type.eq_ignore_ascii_case("text") {
                let lines = body.iter().filter(|&&b| b == b'\n').count() as u64;
                assert_eq!(ours.lines, Some(lines), "{name}: text lines");
            }
        }
    }
}
