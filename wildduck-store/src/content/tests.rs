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
    let blob = encode_blob(raw).unwrap();
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
    let a = encode_blob(b"hello hello hello hello hello hello").unwrap();
    let b = encode_blob(b"hello hello hello hello hello hello").unwrap();
    let c = encode_blob(b"hello hello hello hello hello hellO").unwrap();
    assert_eq!(a.hash, b.hash);
    assert_ne!(a.hash, c.hash);
    assert_eq!(a.codec, CODEC_ZSTD);
    assert_eq!(encode_blob(b"").unwrap().codec, CODEC_RAW);
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
