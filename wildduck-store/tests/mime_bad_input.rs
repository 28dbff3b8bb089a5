//! Hostile and degenerate input: nothing panics, everything comes back byte for byte.

mod common;

use bytes::Bytes;
use common::{check_message, reference};
use wildduck_store::mime::layout::{LeafEncoding, reassemble, split_for_storage};
use wildduck_store::mime::{MAX_DEPTH, MAX_PARTS, analyze, read_section};
use wildduck_store::{MessageError, Partial, Section, SectionText};

#[test]
fn empty_message() {
    check_message("empty", b"");
    let analysis = analyze(b"");
    assert_eq!(analysis.body_structure.size, 0);
    assert_eq!(analysis.envelope.subject, None);
    let fields = Section {
        part: vec![],
        text: SectionText::HeaderFields(vec!["Subject".into()]),
    };
    assert_eq!(
        read_section(&Bytes::new(), &fields, None).unwrap().to_vec(),
        b"\r\n"
    );
}

#[test]
fn only_headers() {
    for raw in [
        &b"Subject: only headers\r\nFrom: a@b.c"[..],
        b"Subject: only headers\r\nFrom: a@b.c\r\n",
        b"Subject: x\n\n",
        b"Content-Type: multipart/mixed; boundary=x\r\n",
        b"\r\n",
        b"no colon at all",
    ] {
        check_message("only headers", raw);
    }
    let analysis = analyze(b"Subject: only headers\r\nFrom: a@b.c");
    assert_eq!(analysis.envelope.subject.as_deref(), Some("only headers"));
    assert_eq!(analysis.body_structure.size, 0);
}

#[test]
fn nul_bytes_and_invalid_utf8_in_headers() {
    let raw = b"Subject: caf\xe9 \xff\xfe\x00 ok\r\nFrom: \"N\x00me\xff\" <a\xff@b.c>\r\n\
Content-Type: text/plain; charset=\"\xff\"; name=\"\xc3\x28\"\r\n\
X-Nul: \x00\x00\r\n\r\nbody \x00 with NUL\r\n\xff\xfe\r\n";
    check_message("nul/utf8", raw);
    let analysis = analyze(raw);
    assert_eq!(analysis.body_structure.size, 21);
    assert!(analysis.search_headers.contains("X-Nul"));
    let multipart = b"Content-Type: multipart/mixed; boundary=\"\xff\x00\"\r\n\r\n\
--\xff\x00\r\nContent-Type: text/plain\r\n\r\n\x00\x00\r\n--\xff\x00--\r\n";
    check_message("nul boundary", multipart);
    assert_eq!(analyze(multipart).body_structure.parts.len(), 1);
}

#[test]
fn ten_thousand_parts() {
    let mut raw =
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"sep\"\r\n\r\n".to_vec();
    for i in 0..10_000 {
        raw.extend_from_slice(
            format!("--sep\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n").as_bytes(),
        );
    }
    raw.extend_from_slice(b"--sep--\r\n");
    let bytes = Bytes::from(raw.clone());
    let analysis = analyze(&raw);
    assert_eq!(analysis.body_structure.parts.len(), 10_000);
    let tree = reference::parse(&raw);
    for part in [1u32, 2, 5_000, 9_999, 10_000, 10_001] {
        for text in [SectionText::Full, SectionText::Mime] {
            let section = Section {
                part: vec![part],
                text,
            };
            let ours = read_section(&bytes, &section, None).unwrap().to_vec();
            assert_eq!(ours, reference::section(&raw, &tree, &section, None));
        }
    }
    let stored = split_for_storage(&bytes);
    assert_eq!(
        reassemble(&stored.layout, &stored.leaf_bodies).unwrap(),
        raw
    );
}

#[test]
fn nesting_a_thousand_deep() {
    // Multiparts inside multiparts.
    let mut raw = Vec::new();
    for level in 0..1000 {
        raw.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\n")
                .as_bytes(),
        );
    }
    raw.extend_from_slice(b"Content-Type: text/plain\r\n\r\ndeep\r\n");
    for level in (0..1000).rev() {
        raw.extend_from_slice(format!("--b{level}--\r\n").as_bytes());
    }
    check_message("multipart nesting", &raw);
    // Levels 0..=MAX_DEPTH, the last one an unparsed multipart shown with one empty part.
    assert_eq!(depth(&analyze(&raw).body_structure), MAX_DEPTH + 2);

    // Messages inside messages.
    let mut raw = Vec::new();
    for _ in 0..1000 {
        raw.extend_from_slice(b"Subject: level\r\nContent-Type: message/rfc822\r\n\r\n");
    }
    raw.extend_from_slice(b"Subject: bottom\r\n\r\nbody\r\n");
    check_message("message nesting", &raw);
    assert_eq!(depth(&analyze(&raw).body_structure), MAX_DEPTH + 1);
}

fn depth(structure: &wildduck_store::BodyStructure) -> usize {
    1 + structure.parts.iter().map(depth).max().unwrap_or(0)
}

#[test]
fn fifty_megabyte_attachment() {
    let data: Vec<u8> = (0..50u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut raw = b"From: a@b.c\r\nSubject: big\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n\
--x\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=big.bin\r\n\r\n"
        .to_vec();
    let body_start = raw.len();
    let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &data);
    for line in encoded.as_bytes().chunks(76) {
        raw.extend_from_slice(line);
        raw.extend_from_slice(b"\r\n");
    }
    let body_end = raw.len() - 2;
    raw.extend_from_slice(b"--x--\r\n");
    let bytes = Bytes::from(raw);

    let analysis = analyze(&bytes);
    assert_eq!(
        analysis.body_structure.parts[1].size,
        (body_end - body_start) as u64
    );

    let attachment = Section {
        part: vec![2],
        text: SectionText::Full,
    };
    let body = read_section(&bytes, &attachment, None).unwrap();
    assert!(body.chunks.len() == 1 && body.chunks[0] == bytes.slice(body_start..body_end));
    let partial = Some(Partial {
        offset: 40 << 20,
        length: Some(1000),
    });
    let piece = read_section(&bytes, &attachment, partial).unwrap().to_vec();
    assert_eq!(
        piece,
        &bytes[body_start + (40 << 20)..body_start + (40 << 20) + 1000]
    );

    let stored = split_for_storage(&bytes);
    assert_eq!(stored.layout.leaves.len(), 1);
    assert!(matches!(
        stored.layout.leaves[0].encoding,
        LeafEncoding::Base64(_)
    ));
    assert_eq!(stored.leaf_bodies[0], data);
    assert!(stored.layout.skeleton.len() < 1000);
    assert!(reassemble(&stored.layout, &stored.leaf_bodies).unwrap() == bytes);
}

#[test]
fn bad_sections_are_refused_not_panicked() {
    let raw = Bytes::from_static(b"Subject: x\r\n\r\nbody\r\n");
    let zero = Section {
        part: vec![0],
        text: SectionText::Full,
    };
    let mime_top = Section {
        part: vec![],
        text: SectionText::Mime,
    };
    for section in [zero, mime_top] {
        assert!(matches!(
            read_section(&raw, &section, None),
            Err(wildduck_store::Error::Message(
                MessageError::InvalidSection(_)
            ))
        ));
    }
    let huge = Some(Partial {
        offset: u64::MAX,
        length: Some(u64::MAX),
    });
    assert!(
        read_section(&raw, &Section::full(), huge)
            .unwrap()
            .is_empty()
    );
    let deep = Section {
        part: vec![u32::MAX, 1, 1],
        text: SectionText::Full,
    };
    assert!(read_section(&raw, &deep, None).unwrap().is_empty());
}

#[test]
fn parts_beyond_the_limit_stay_in_the_last_part() {
    let mut raw = b"Content-Type: multipart/mixed; boundary=\"s\"\r\n\r\n".to_vec();
    for i in 0..MAX_PARTS + 10 {
        raw.extend_from_slice(format!("--s\r\n\r\n{i}\r\n").as_bytes());
    }
    raw.extend_from_slice(b"--s--\r\n");
    let bytes = Bytes::from(raw.clone());
    let tree = wildduck_store::mime::split(&raw);
    assert_eq!(tree.parts.len(), MAX_PARTS);
    let last = tree.parts.last().expect("parts");
    assert_eq!(last.body.end, raw.len(), "the last part runs to the end");
    assert_eq!(analyze(&raw).body_structure.parts.len(), MAX_PARTS - 1);
    let stored = split_for_storage(&bytes);
    assert_eq!(
        reassemble(&stored.layout, &stored.leaf_bodies).unwrap(),
        raw
    );
    let section = Section {
        part: vec![2],
        text: SectionText::Full,
    };
    assert_eq!(read_section(&bytes, &section, None).unwrap().to_vec(), b"1");
}
