use bytes::Bytes;

use super::*;
use crate::backend::ContentWrite;
use crate::content::{SectionPlan, pack};
use crate::mime;
use crate::model::{Partial, Section, SectionText};

fn packed(raw: &[u8]) -> ContentWrite {
    let raw = Bytes::copy_from_slice(raw);
    pack(&raw, &mime::split(&raw)).unwrap()
}

/// A section read as the store does, the layout parsed through `cache`.
fn read(
    cache: &LayoutCache,
    written: &ContentWrite,
    section: &Section,
    partial: Option<Partial>,
) -> Vec<u8> {
    let plan = SectionPlan::of(cache.parsed(&written.layout).unwrap(), section, partial).unwrap();
    let blobs = plan
        .blobs()
        .into_iter()
        .map(|i| (written.blobs[i].codec, written.blobs[i].data.clone()))
        .collect();
    plan.read(blobs).unwrap().to_vec()
}

/// Text, a base64 attachment and more text: three leaves between skeleton pieces.
fn message(tag: &str, seed: u8) -> Vec<u8> {
    use base64::Engine as _;
    let text: String = (0..120).map(|i| format!("{tag} line {i}\r\n")).collect();
    let data: Vec<u8> = (0..3000u32).map(|i| (i as u8).wrapping_mul(seed)).collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&data);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "Subject: {tag}\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
         Content-Type: text/plain\r\n\r\n{text}--b\r\n\
         Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {}\r\n--b\r\nContent-Type: text/plain\r\n\r\n{text}--b--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

#[test]
fn messages_never_get_each_others_bytes() {
    let cache = LayoutCache::new();
    let raws = [message("first", 3), message("second", 7)];
    let stored = raws.each_ref().map(|raw| packed(raw));
    assert_eq!(stored[0].blobs.len(), 3, "three leaves");
    let text = Section {
        part: vec![],
        text: SectionText::Text,
    };
    // Interleaved, so each read after the first is a hit right after the other's.
    for _ in 0..3 {
        for (raw, written) in raws.iter().zip(&stored) {
            assert_eq!(read(&cache, written, &Section::full(), None), *raw);
            let expected = mime::read_section(&Bytes::copy_from_slice(raw), &text, None)
                .unwrap()
                .to_vec();
            assert_eq!(read(&cache, written, &text, None), expected);
        }
    }
    assert_eq!(cache.len(), 2);
}

#[test]
fn partial_ranges_across_leaf_boundaries_stay_exact() {
    let cache = LayoutCache::new();
    let raw = message("ranges", 5);
    let written = packed(&raw);
    let sections = [
        Section::full(),
        Section {
            part: vec![],
            text: SectionText::Text,
        },
        Section {
            part: vec![2],
            text: SectionText::Full,
        },
    ];
    for section in &sections {
        // Windows of several lengths slid over the whole section, so every leaf boundary
        // (and every base64 line end) falls inside, at and next to some window's ends.
        for length in [1u64, 77, 1000] {
            for offset in (0..raw.len() as u64).step_by(37) {
                let partial = Some(Partial {
                    offset,
                    length: Some(length),
                });
                let expected = mime::read_section(&Bytes::copy_from_slice(&raw), section, partial)
                    .unwrap()
                    .to_vec();
                assert_eq!(
                    read(&cache, &written, section, partial),
                    expected,
                    "{section:?} <{offset}.{length}>"
                );
            }
        }
    }
    assert_eq!(cache.len(), 1, "one layout, parsed once");
}

#[test]
fn kept_bytes_stay_under_the_capacity_and_evicted_layouts_read_again() {
    let one = packed(&message("size", 1));
    let capacity = 3 * weight(&one.layout, &ParsedLayout::parse(&one.layout).unwrap());
    let cache = LayoutCache::with_capacity(capacity);
    let raws: Vec<Vec<u8>> = (0..10).map(|i| message(&format!("m{i}"), i)).collect();
    let stored: Vec<ContentWrite> = raws.iter().map(|raw| packed(raw)).collect();
    for _ in 0..2 {
        for (raw, written) in raws.iter().zip(&stored) {
            assert_eq!(read(&cache, written, &Section::full(), None), *raw);
            assert!(cache.lock().bytes <= capacity);
        }
    }
    assert!((1..=3).contains(&cache.len()), "{} kept", cache.len());
}

#[test]
fn a_bad_layout_is_an_error_and_not_kept() {
    let cache = LayoutCache::new();
    let written = packed(&message("cut", 2));
    let cut = &written.layout[..written.layout.len() / 2];
    assert!(cache.parsed(cut).is_err());
    assert_eq!(cache.len(), 0);
}
