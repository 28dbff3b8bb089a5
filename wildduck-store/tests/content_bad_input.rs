//! Hostile and odd input through the store: every message is appended with `Store::append`
//! and must come back byte for byte, its sections equal to `mime::read_section` on the raw
//! bytes; what a limit refuses is refused with a clear error and leaves nothing behind.

use base64::Engine as _;
use bytes::Bytes;
use wildduck_store::{
    Error, Flags, MailboxId, MessageError, NewUser, Partial, Section, SectionText, Store,
    StoreConfig, mime,
};

async fn open() -> (tempfile::TempDir, Store, MailboxId) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(dir.path(), StoreConfig::default())
        .await
        .expect("store");
    let user = store
        .create_user(NewUser {
            username: "odd".into(),
            password: "pw".into(),
            ..NewUser::default()
        })
        .await
        .expect("user");
    let inbox = store.get_mailbox(user.id, "INBOX").await.expect("inbox").id;
    (dir, store, inbox)
}

fn noise(len: usize, seed: &str) -> Vec<u8> {
    let mut data = vec![0u8; len];
    blake3::Hasher::new()
        .update(seed.as_bytes())
        .finalize_xof()
        .fill(&mut data);
    data
}

fn base64_lines(data: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    lines.join("\r\n")
}

/// Appends, then compares BODY[] and the given sections (with a partial) to the reference.
async fn check(store: &Store, mailbox: MailboxId, name: &str, raw: &[u8], sections: &[Section]) {
    let uid = store
        .append(mailbox, raw, &Flags::new(), None)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .uid;
    let bytes = Bytes::copy_from_slice(raw);
    let whole = store
        .read_section(mailbox, uid, &Section::full(), None)
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(whole.to_vec() == raw, "{name}: BODY[] differs");
    let partial = Some(Partial {
        offset: 7,
        length: Some(1000),
    });
    for section in sections {
        for partial in [None, partial] {
            let expected = mime::read_section(&bytes, section, partial)
                .unwrap()
                .to_vec();
            let ours = store
                .read_section(mailbox, uid, section, partial)
                .await
                .unwrap_or_else(|e| panic!("{name} {section:?}: {e}"))
                .to_vec();
            assert!(ours == expected, "{name} {section:?} {partial:?} differs");
        }
    }
}

fn section(part: &[u32], text: SectionText) -> Section {
    Section {
        part: part.to_vec(),
        text,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_messages_come_back_exactly() {
    let (_dir, store, inbox) = open().await;
    let basic = [
        section(&[], SectionText::Header),
        section(&[], SectionText::Text),
        section(&[1], SectionText::Full),
        section(&[2], SectionText::Mime),
    ];
    check(&store, inbox, "empty", b"", &basic).await;
    check(
        &store,
        inbox,
        "headers only",
        b"Subject: x\r\nFrom: a@b",
        &basic,
    )
    .await;
    let mut nul_and_8bit = b"Subject: \xff\xfe caf\xe9\0\r\nX-Bad\r\n\r\n".to_vec();
    nul_and_8bit.extend_from_slice(&noise(3000, "binary body"));
    check(
        &store,
        inbox,
        "NUL and invalid UTF-8",
        &nul_and_8bit,
        &basic,
    )
    .await;

    // An attachment-like body right after a header with no blank line.
    let mut no_blank = b"Content-Type: application/octet-stream\r\n".to_vec();
    no_blank.extend_from_slice(&b"not a header line\r\n".repeat(100));
    check(&store, inbox, "no blank line", &no_blank, &basic).await;

    // 10,000 parts, every tenth one big enough to be a leaf of its own.
    let mut many = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n".to_vec();
    for n in 0..10_000 {
        let body = if n % 10 == 0 {
            base64_lines(&noise(600, &n.to_string()))
        } else {
            format!("part {n}")
        };
        many.extend_from_slice(
            format!(
                "--x\r\nContent-Type: application/octet-stream\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n{body}\r\n"
            )
            .as_bytes(),
        );
    }
    many.extend_from_slice(b"--x--\r\n");
    let mut sections = basic.to_vec();
    for part in [1, 2, 11, 5000, 9991, 10_000, 10_001] {
        sections.push(section(&[part], SectionText::Full));
        sections.push(section(&[part], SectionText::Mime));
    }
    check(&store, inbox, "10,000 parts", &many, &sections).await;

    // Nesting 1,000 deep, a leaf at the bottom.
    let mut deep = Vec::new();
    for level in 0..1000 {
        deep.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=b{level}\r\n\r\n--b{level}\r\n")
                .as_bytes(),
        );
    }
    deep.extend_from_slice(b"Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    deep.extend_from_slice(base64_lines(&noise(5000, "deep")).as_bytes());
    for level in (0..1000).rev() {
        deep.extend_from_slice(format!("\r\n--b{level}--").as_bytes());
    }
    let deep_sections = [
        section(&[1; 60], SectionText::Full),
        section(&[1; 99], SectionText::Mime),
    ];
    check(&store, inbox, "1,000 deep", &deep, &deep_sections).await;

    let report = store.verify(false).await.expect("verify");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mb_message_is_stored_and_a_bigger_one_refused() {
    let (_dir, store, inbox) = open().await;
    let head = "Subject: big\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n\
                Content-Type: video/mp4\r\nContent-Transfer-Encoding: base64\r\n\r\n";
    let mut raw = head.as_bytes().to_vec();
    raw.extend_from_slice(base64_lines(&noise(37_000_000, "big")).as_bytes());
    raw.extend_from_slice(b"\r\n--z--\r\n");
    assert!(raw.len() > 50_000_000);
    let attachment = [section(&[1], SectionText::Mime)];
    check(&store, inbox, "50 MB", &raw, &attachment).await;
    let uid = store.snapshot(inbox).await.expect("snapshot").uids[0];
    let tail = Some(Partial {
        offset: 49_000_000,
        length: Some(4096),
    });
    let one = section(&[1], SectionText::Full);
    let expected = mime::read_section(&Bytes::from(raw.clone()), &one, tail)
        .unwrap()
        .to_vec();
    let ours = store
        .read_section(inbox, uid, &one, tail)
        .await
        .expect("partial");
    assert!(ours.to_vec() == expected, "partial of the big attachment");
    let stats = store.stats().await.expect("stats");
    assert!(
        stats.stored_bytes < 38_000_000,
        "kept decoded: {}",
        stats.stored_bytes
    );

    let limit = store.config().max_message_size as usize;
    let too_big = vec![b'a'; limit + 1];
    let refused = store.append(inbox, &too_big, &Flags::new(), None).await;
    assert!(matches!(
        refused,
        Err(Error::Message(MessageError::TooBig { .. }))
    ));
    assert_eq!(
        store.stats().await.expect("stats").messages,
        1,
        "nothing partial written"
    );
}
