//! Byte-exactness through the store: every fixture (as given and in CRLF form) and 300
//! `gen_mbox.py` messages are appended with `Store::append`, then every section, whole and
//! partial, read with `Store::read_section` must equal `mime::read_section` on the raw bytes.

mod common;

use bytes::Bytes;
use common::{crlf, fixtures, gen_mbox, reference};
use wildduck_store::{
    Flags, MailboxId, MetaFields, NewUser, Partial, Section, SectionText, Store, StoreConfig,
    UidSet, mime,
};

async fn inbox(store: &Store) -> MailboxId {
    let user = store
        .create_user(NewUser {
            username: "roundtrip".into(),
            password: "pw".into(),
            ..NewUser::default()
        })
        .await
        .expect("user");
    store.get_mailbox(user.id, "INBOX").await.expect("inbox").id
}

/// Appends `raw`, compares every interesting section; returns how many chunks `BODY[]` came
/// in (more than one when leaves were cut out: the message is streamed, not joined).
async fn check_through_store(store: &Store, mailbox: MailboxId, name: &str, raw: &[u8]) -> usize {
    let uid = store
        .append(mailbox, raw, &Flags::new(), None)
        .await
        .unwrap_or_else(|e| panic!("{name}: append: {e}"))
        .uid;
    let bytes = Bytes::copy_from_slice(raw);
    let whole = store
        .read_section(mailbox, uid, &Section::full(), None)
        .await
        .unwrap_or_else(|e| panic!("{name}: BODY[]: {e}"));
    assert!(whole.to_vec() == raw, "{name}: BODY[] differs");
    for section in reference::interesting_sections(&reference::parse(raw)) {
        let expected = mime::read_section(&bytes, &section, None).unwrap().to_vec();
        let len = expected.len() as u64;
        let partials = [
            None,
            Some(Partial {
                offset: 0,
                length: Some(1),
            }),
            Some(Partial {
                offset: 3,
                length: Some(17),
            }),
            Some(Partial {
                offset: len / 2,
                length: None,
            }),
            Some(Partial {
                offset: len / 3,
                length: Some(len / 3 + 5),
            }),
            Some(Partial {
                offset: len,
                length: Some(5),
            }),
        ];
        for partial in partials {
            let expected = mime::read_section(&bytes, &section, partial)
                .unwrap()
                .to_vec();
            let ours = store
                .read_section(mailbox, uid, &section, partial)
                .await
                .unwrap_or_else(|e| panic!("{name} {section:?} {partial:?}: {e}"))
                .to_vec();
            assert!(ours == expected, "{name} {section:?} {partial:?} differs");
        }
    }
    whole.chunks.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_round_trip_through_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(dir.path(), StoreConfig::default())
        .await
        .expect("store");
    let mailbox = inbox(&store).await;
    for (stem, raw) in fixtures() {
        check_through_store(&store, mailbox, &stem, &raw).await;
        check_through_store(&store, mailbox, &format!("{stem} (crlf)"), &crlf(&raw)).await;
    }
    assert!(store.verify(false).await.unwrap().problems.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gen_mbox_round_trips_through_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(dir.path(), StoreConfig::default())
        .await
        .expect("store");
    let mailbox = inbox(&store).await;
    let mut streamed = 0;
    for (i, raw) in gen_mbox(300, 1).iter().enumerate() {
        if check_through_store(&store, mailbox, &format!("gen_mbox #{i}"), raw).await > 1 {
            streamed += 1;
        }
    }
    // The corpus has attachments: those messages come back as skeleton and leaf pieces.
    assert!(streamed > 50, "only {streamed} messages had leaves");
    let stats = store.stats().await.unwrap();
    assert!(
        stats.stored_bytes < stats.raw_bytes,
        "stored {} of {} raw bytes",
        stats.stored_bytes,
        stats.raw_bytes
    );
    assert!(store.verify(false).await.unwrap().problems.is_empty());
}

/// `Store::fetch` (FETCH's one read): a whole mailbox asked for BODY[] and a TEXT window at
/// once gives every message's own bytes; sections come with the metadata for a UID-ordered
/// prefix of at most the budget's bytes, and the rest, read apart, are the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_reads_sections_with_the_metadata_byte_exact() {
    const BUDGET: u64 = 256 * 1024;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(dir.path(), StoreConfig::default())
        .await
        .expect("store");
    let mailbox = inbox(&store).await;
    let raws = gen_mbox(60, 2);
    for raw in &raws {
        store
            .append(mailbox, raw, &Flags::new(), None)
            .await
            .unwrap();
    }
    let text = Section {
        part: vec![],
        text: SectionText::Text,
    };
    let window = Some(Partial {
        offset: 100,
        length: Some(2048),
    });
    let wanted = [(Section::full(), None), (text.clone(), window)];
    let fetched = store
        .fetch(mailbox, &UidSet::all(), MetaFields::default(), &wanted)
        .await
        .unwrap();
    assert_eq!(fetched.len(), raws.len());
    let (mut read_with, mut bytes_with) = (0, 0);
    for (message, raw) in fetched.iter().zip(&raws) {
        let bytes = Bytes::copy_from_slice(raw);
        let expected = [
            bytes.to_vec(),
            mime::read_section(&bytes, &text, window).unwrap().to_vec(),
        ];
        let sections = match &message.sections {
            Some(sections) => {
                assert_eq!(read_with, message.meta.uid as usize - 1, "a prefix");
                read_with += 1;
                bytes_with += message.meta.size;
                sections.clone()
            }
            None => {
                let mut apart = Vec::new();
                for (section, partial) in &wanted {
                    apart.push(
                        store
                            .read_section(mailbox, message.meta.uid, section, *partial)
                            .await
                            .unwrap(),
                    );
                }
                apart
            }
        };
        let got: Vec<Vec<u8>> = sections.iter().map(|s| s.to_vec()).collect();
        assert!(got == expected, "UID {} differs", message.meta.uid);
    }
    assert!(
        read_with > 0 && read_with < raws.len(),
        "{read_with} read with the metadata"
    );
    assert!(bytes_with <= BUDGET);
    // One message asked alone comes with its sections.
    let one = store
        .fetch(
            mailbox,
            &UidSet::from_iter([2]),
            MetaFields::default(),
            &wanted[..1],
        )
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].sections.as_ref().unwrap()[0].to_vec(), raws[1]);
}
