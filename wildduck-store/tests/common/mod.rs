//! Helpers shared by the MIME tests: fixtures, gen_mbox messages, section specs, CRLF form.
#![allow(dead_code)]

use wildduck_store::{Partial, Section, SectionText};

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/mime");
pub const GEN_MBOX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/tools/gen_mbox.py"
);

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
