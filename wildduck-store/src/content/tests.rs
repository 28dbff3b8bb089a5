use super::*;
use crate::model::SectionText;

fn packed(raw: &[u8]) -> (Bytes, ContentWrite) {
    let raw = Bytes::copy_from_slice(raw);
    let written = pack(&raw, &mime::split(&raw)).unwrap();
    (raw, written)
}

/// Reads a section the way the store does: plan, load the named blobs, read.
fn read(written: &ContentWrite, section: &Section, partial: Option<Partial>) -> Vec<u8> {
    let plan = SectionPlan::new(&written.layout, section, partial).unwrap();
    let blobs = plan
        .blobs()
        .into_iter()
        .map(|i| (written.blobs[i].codec, written.blobs[i].data.clone()))
        .collect();
    plan.read(blobs).unwrap().to_vec()
}

fn attachment_message(line_len: usize) -> Vec<u8> {
    use base64::Engine as _;
    let mut data = vec![0u8; 5000];
    blake3::Hasher::new()
        .update(b"attachment")
        .finalize_xof()
        .fill(&mut data);
    let encoded = base64::engine::general_purpose::STANDARD.encode(&data);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(line_len)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "Subject: file\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
         Content-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n\
         Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {}\r\n--b--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

#[test]
fn attachment_leaves_the_skeleton_decoded_and_comes_back_exact() {
    let (raw, written) = packed(&attachment_message(76));
    assert_eq!(written.blobs.len(), 1);
    assert_eq!(written.blobs[0].raw_len, 5000, "kept decoded");
    assert_eq!(written.blobs[0].codec, CODEC_RAW, "noise does not shrink");
    assert_eq!(read(&written, &Section::full(), None), raw);
    let other = packed(&attachment_message(64)).1;
    assert_eq!(
        other.blobs[0].hash, written.blobs[0].hash,
        "line length does not matter"
    );
}

#[test]
fn header_and_other_parts_need_no_blob() {
    let (raw, written) = packed(&attachment_message(76));
    for section in [
        Section {
            part: vec![],
            text: SectionText::Header,
        },
        Section {
            part: vec![1],
            text: SectionText::Full,
        },
        Section {
            part: vec![2],
            text: SectionText::Mime,
        },
    ] {
        let plan = SectionPlan::new(&written.layout, &section, None).unwrap();
        assert!(plan.blobs().is_empty(), "{section:?}");
        let expected = mime::read_section(&raw, &section, None).unwrap().to_vec();
        assert_eq!(plan.read(vec![]).unwrap().to_vec(), expected);
    }
    let body = Section {
        part: vec![2],
        text: SectionText::Full,
    };
    for partial in [
        None,
        Some(Partial {
            offset: 100,
            length: Some(200),
        }),
    ] {
        assert_eq!(
            read(&written, &body, partial),
            mime::read_section(&raw, &body, partial).unwrap().to_vec()
        );
    }
}

#[test]
fn legacy_whole_layout_is_still_read() {
    let raw = b"Subject: old\r\n\r\nstored before the content engine\r\n";
    let blob = encode_blob(Bytes::from_static(raw)).unwrap();
    let written = ContentWrite {
        layout: serde_json::to_vec(&LegacyLayout::Whole).unwrap(),
        blobs: vec![blob],
    };
    let section = Section {
        part: vec![],
        text: SectionText::Text,
    };
    assert_eq!(read(&written, &Section::full(), None), raw);
    assert_eq!(
        read(&written, &section, None),
        b"stored before the content engine\r\n"
    );
}

#[test]
fn corrupt_layouts_and_blobs_are_errors_not_panics() {
    let (_, written) = packed(&attachment_message(76));
    for cut in 0..written.layout.len() {
        assert!(SectionPlan::new(&written.layout[..cut], &Section::full(), None).is_err());
    }
    for position in 1..written.layout.len() {
        let mut layout = written.layout.clone();
        layout[position] ^= 0x55;
        if let Ok(plan) = SectionPlan::new(&layout, &Section::full(), None) {
            let blobs = plan
                .blobs()
                .into_iter()
                .map(|i| (written.blobs[i].codec, written.blobs[i].data.clone()))
                .collect();
            let _ = plan.read(blobs);
        }
    }
    let plan = SectionPlan::new(&written.layout, &Section::full(), None).unwrap();
    assert!(plan.read(vec![(9, vec![1])]).is_err(), "unknown codec");
    let plan = SectionPlan::new(&written.layout, &Section::full(), None).unwrap();
    assert!(
        plan.read(vec![(CODEC_RAW, vec![1, 2])]).is_err(),
        "short blob"
    );
    let plan = SectionPlan::new(&written.layout, &Section::full(), None).unwrap();
    assert!(plan.read(vec![]).is_err(), "missing blob");
    assert!(SectionPlan::new(b"?", &Section::full(), None).is_err());
}

#[test]
fn same_bytes_same_key_incompressible_kept_raw() {
    let a = encode_blob(Bytes::from_static(b"hello hello hello hello hello hello")).unwrap();
    let b = encode_blob(Bytes::from_static(b"hello hello hello hello hello hello")).unwrap();
    let c = encode_blob(Bytes::from_static(b"hello hello hello hello hello hellO")).unwrap();
    assert_eq!(a.hash, b.hash);
    assert_ne!(a.hash, c.hash);
    assert_eq!(a.codec, CODEC_ZSTD);
    assert_eq!(
        encode_blob(Bytes::from_static(b"")).unwrap().codec,
        CODEC_RAW
    );
}

#[test]
fn without_a_skeleton_tree_sections_come_from_the_whole_message() {
    let (raw, written) = packed(&attachment_message(76));
    // Clear the flag that follows the tag and the varint raw length.
    let mut layout = written.layout.clone();
    let flag = 1 + layout[1..].iter().position(|&b| b & 0x80 == 0).unwrap() + 1;
    assert_eq!(layout[flag], 1);
    layout[flag] = 0;
    let fallback = ContentWrite {
        layout,
        blobs: written.blobs.clone(),
    };
    for section in [
        Section::full(),
        Section {
            part: vec![],
            text: SectionText::Header,
        },
        Section {
            part: vec![2],
            text: SectionText::Full,
        },
    ] {
        let plan = SectionPlan::new(&fallback.layout, &section, None).unwrap();
        assert_eq!(plan.blobs(), vec![0], "{section:?} reads every blob");
        let partial = Some(Partial {
            offset: 10,
            length: Some(300),
        });
        for partial in [None, partial] {
            assert_eq!(
                read(&fallback, &section, partial),
                mime::read_section(&raw, &section, partial)
                    .unwrap()
                    .to_vec()
            );
        }
    }
}

mod generated {
    //! Generated messages with leaves in odd places (after headers without a blank line,
    //! before missing closing delimiters, inside nested messages, next to junk): every
    //! section, read through a plan, equals `mime::read_section` on the raw bytes.

    use base64::Engine as _;
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Node {
        Leaf {
            media: &'static str,
            base64_line: Option<usize>,
            data: Vec<u8>,
            blank_line: bool,
        },
        Multipart {
            children: Vec<Node>,
            junk: String,
            closed: bool,
        },
        Message(Box<Node>),
    }

    fn node() -> impl Strategy<Value = Node> {
        let leaf = (
            prop_oneof![
                Just("text/plain"),
                Just("image/png"),
                Just("application/pdf")
            ],
            prop_oneof![Just(None), (1usize..100).prop_map(Some)],
            proptest::collection::vec(any::<u8>(), 0..2500),
            prop::bool::weighted(0.85),
        )
            .prop_map(|(media, base64_line, data, blank_line)| Node::Leaf {
                media,
                base64_line,
                data,
                blank_line,
            });
        leaf.prop_recursive(3, 12, 4, |inner| {
            prop_oneof![
                (
                    proptest::collection::vec(inner.clone(), 0..4),
                    "(--b|[ -~]{0,12})",
                    prop::bool::weighted(0.8)
                )
                    .prop_map(|(children, junk, closed)| Node::Multipart {
                        children,
                        junk,
                        closed
                    }),
                inner.prop_map(|n| Node::Message(Box::new(n))),
            ]
        })
    }

    fn render(node: &Node, depth: usize, eol: &str, out: &mut Vec<u8>) {
        match node {
            Node::Leaf {
                media,
                base64_line,
                data,
                blank_line,
            } => {
                out.extend_from_slice(format!("Content-Type: {media}{eol}").as_bytes());
                let body = match base64_line {
                    Some(line) => {
                        out.extend_from_slice(
                            format!("Content-Transfer-Encoding: base64{eol}").as_bytes(),
                        );
                        let chars = base64::engine::general_purpose::STANDARD.encode(data);
                        let lines: Vec<&[u8]> = chars.as_bytes().chunks(*line).collect();
                        lines.join(eol.as_bytes())
                    }
                    None => data.clone(),
                };
                if *blank_line {
                    out.extend_from_slice(eol.as_bytes());
                }
                out.extend_from_slice(&body);
            }
            Node::Multipart {
                children,
                junk,
                closed,
            } => {
                // Boundaries that are prefixes of each other across depths.
                let boundary = "b".repeat(depth + 1);
                out.extend_from_slice(
                    format!("Content-Type: multipart/mixed; boundary={boundary}{eol}{eol}{junk}")
                        .as_bytes(),
                );
                for child in children {
                    out.extend_from_slice(format!("{eol}--{boundary}{eol}").as_bytes());
                    render(child, depth + 1, eol, out);
                }
                if *closed {
                    out.extend_from_slice(format!("{eol}--{boundary}--{eol}{junk}").as_bytes());
                }
            }
            Node::Message(inner) => {
                out.extend_from_slice(
                    format!("Content-Type: message/rfc822{eol}{eol}Subject: inner{eol}").as_bytes(),
                );
                render(inner, depth + 1, eol, out);
            }
        }
    }

    fn sections() -> Vec<Section> {
        let paths: [&[u32]; 8] = [&[], &[1], &[2], &[3], &[1, 1], &[2, 1], &[1, 2], &[2, 2, 1]];
        let mut out = Vec::new();
        for path in paths {
            for text in [
                SectionText::Full,
                SectionText::Mime,
                SectionText::Header,
                SectionText::Text,
                SectionText::HeaderFields(vec!["content-type".into()]),
                SectionText::HeaderFieldsNot(vec!["subject".into()]),
            ] {
                if path.is_empty() && text == SectionText::Mime {
                    continue;
                }
                out.push(Section {
                    part: path.to_vec(),
                    text,
                });
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn every_section_matches_the_raw_message(
            root in node(),
            crlf in any::<bool>(),
            offset in 0u64..4000,
            length in 0u64..3000,
        ) {
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut raw = format!("Subject: generated{eol}").into_bytes();
            render(&root, 0, eol, &mut raw);
            let (raw, written) = packed(&raw);
            // The root header never lies in a leaf.
            let header = Section { part: vec![], text: SectionText::Header };
            prop_assert!(SectionPlan::new(&written.layout, &header, None).unwrap().blobs().is_empty());
            for section in sections() {
                for partial in [None, Some(Partial { offset, length: Some(length) })] {
                    let expected = mime::read_section(&raw, &section, partial).unwrap().to_vec();
                    prop_assert_eq!(read(&written, &section, partial), expected);
                }
            }
        }
    }
}

#[test]
fn a_reused_compressor_gives_the_bytes_a_fresh_one_gives() {
    // Dedup keys blobs by their stored bytes: a context reused across blobs must not
    // change what a blob compresses to.
    let first = b"Subject: one\r\n\r\n".repeat(300);
    let second = b"another part, other words ".repeat(500);
    for bytes in [&first, &second, &first] {
        let (codec, data) = compress(bytes.clone()).unwrap();
        assert_eq!(codec, CODEC_ZSTD);
        assert_eq!(data, zstd::bulk::compress(bytes, ZSTD_LEVEL).unwrap());
    }
}
