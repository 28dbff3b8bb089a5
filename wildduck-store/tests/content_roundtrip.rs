//! Byte-exactness through the store: every fixture (as given and in CRLF form) and 300
//! `gen_mbox.py` messages are appended with `Store::append`, then every section, whole and
//! partial, read with `Store::read_section` must equal `mime::read_section` on the raw bytes.

mod common;

use bytes::Bytes;
use common::{crlf, fixtures, gen_mbox, reference};
use wildduck_store::{Flags, MailboxId, NewUser, Partial, Section, Store, StoreConfig, mime};

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
