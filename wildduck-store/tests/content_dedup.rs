//! Content-addressed dedup through the store: one attachment sent to 50 users, and once more
//! with another base64 line length, is one blob; copies share blobs; expunge + gc frees them;
//! `verify` finds nothing wrong at any point.

use base64::Engine as _;
use wildduck_store::{
    Flag, FlagOp, Flags, MailboxId, NewUser, Section, Store, StoreConfig, UidSet,
};

const ATTACHMENT_LEN: usize = 60_000;

/// Incompressible bytes (like a JPEG), so stored size is easy to reason about.
fn attachment() -> Vec<u8> {
    let mut data = vec![0u8; ATTACHMENT_LEN];
    blake3::Hasher::new()
        .update(b"the shared attachment")
        .finalize_xof()
        .fill(&mut data);
    data
}

/// A message to `to` carrying the attachment, base64 lines of `line_len`.
fn message(to: &str, line_len: usize, eol: &str) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(attachment());
    let body: Vec<&str> = encoded
        .as_bytes()
        .chunks(line_len)
        .map(|c| std::str::from_utf8(c).expect("base64 is ascii"))
        .collect();
    format!(
        "From: sender@example.com{eol}To: {to}{eol}Subject: the report{eol}\
         MIME-Version: 1.0{eol}Content-Type: multipart/mixed; boundary=\"sep\"{eol}{eol}\
         --sep{eol}Content-Type: text/plain{eol}{eol}Report attached, {to}.{eol}\
         --sep{eol}Content-Type: application/pdf; name=report.pdf{eol}\
         Content-Disposition: attachment; filename=report.pdf{eol}\
         Content-Transfer-Encoding: base64{eol}{eol}{}{eol}--sep--{eol}",
        body.join(eol)
    )
    .into_bytes()
}

async fn inbox_of(store: &Store, name: &str) -> MailboxId {
    let user = store
        .create_user(NewUser {
            username: name.into(),
            password: "pw".into(),
            ..NewUser::default()
        })
        .await
        .expect("user");
    store.get_mailbox(user.id, "INBOX").await.expect("inbox").id
}

async fn assert_verified(store: &Store) {
    let report = store.verify(false).await.expect("verify");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_attachment_to_many_users_and_encodings_is_stored_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(dir.path(), StoreConfig::default())
        .await
        .expect("store");
    let mut delivered = Vec::new();
    for n in 0..50 {
        let mailbox = inbox_of(&store, &format!("user{n}")).await;
        let raw = message(&format!("user{n}@example.com"), 76, "\r\n");
        let uid = store
            .append(mailbox, &raw, &Flags::new(), None)
            .await
            .expect("append")
            .uid;
        delivered.push((mailbox, uid, raw));
    }
    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.blobs, 1, "one attachment blob for 50 messages");
    assert_eq!(stats.dedup_hits, 49);

    // The same file from a client with 64-character lines and bare LF line endings.
    let other_client = message("user0@example.com", 64, "\n");
    let (mailbox0, _, _) = delivered[0];
    let uid = store
        .append(mailbox0, &other_client, &Flags::new(), None)
        .await
        .expect("append")
        .uid;
    delivered.push((mailbox0, uid, other_client));
    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.blobs, 1, "the other line layout found the same blob");
    assert_eq!(stats.dedup_hits, 50);
    let raw_total: u64 = delivered.iter().map(|(_, _, raw)| raw.len() as u64).sum();
    assert_eq!(stats.raw_bytes, raw_total);
    // One decoded copy of the attachment, plus 51 compressed skeletons of a few hundred bytes.
    assert!(
        stats.stored_bytes >= ATTACHMENT_LEN as u64
            && stats.stored_bytes < ATTACHMENT_LEN as u64 + 51 * 400,
        "stored {} bytes",
        stats.stored_bytes
    );
    for (mailbox, uid, raw) in &delivered {
        let body = store
            .read_section(*mailbox, *uid, &Section::full(), None)
            .await
            .expect("BODY[]");
        assert!(body.to_vec() == *raw, "message comes back exactly");
    }
    assert_verified(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_share_blobs_and_expunge_then_gc_frees_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(dir.path(), StoreConfig::default())
        .await
        .expect("store");
    let inbox = inbox_of(&store, "alice").await;
    let raw = message("alice@example.com", 76, "\r\n");
    let uid = store
        .append(inbox, &raw, &Flags::new(), None)
        .await
        .expect("append")
        .uid;
    let before = store.stats().await.expect("stats");

    let archive = store
        .create_mailbox(
            store.find_user("alice").await.expect("alice").id,
            "Archive",
            None,
        )
        .await
        .expect("mailbox")
        .id;
    let copied = store
        .copy(inbox, &UidSet::from_ranges([(uid, uid)]), archive)
        .await
        .expect("copy");
    let copy_uid = copied.pairs[0].1;
    let after_copy = store.stats().await.expect("stats");
    assert_eq!(after_copy.blobs, before.blobs, "copy adds no blob");
    assert_eq!(after_copy.messages, before.messages + 1);
    assert_eq!(after_copy.raw_bytes, 2 * before.raw_bytes);
    let copy_body = store
        .read_section(archive, copy_uid, &Section::full(), None)
        .await
        .expect("read copy");
    assert!(copy_body.to_vec() == raw);
    assert_verified(&store).await;

    // Expunging one copy keeps the blob for the other.
    let deleted: Flags = [Flag::Deleted].into_iter().collect();
    let expunge = |mailbox: MailboxId, uid| {
        let store = store.clone();
        let deleted = deleted.clone();
        async move {
            store
                .store_flags(
                    mailbox,
                    &UidSet::from_ranges([(uid, uid)]),
                    FlagOp::Add,
                    &deleted,
                    None,
                )
                .await
                .expect("flag");
            store.expunge(mailbox, None).await.expect("expunge");
        }
    };
    expunge(inbox, uid).await;
    assert_eq!(store.gc(0).await.expect("gc"), 0, "still referenced");
    let still = store
        .read_section(archive, copy_uid, &Section::full(), None)
        .await
        .expect("read copy");
    assert!(still.to_vec() == raw);
    assert_verified(&store).await;

    expunge(archive, copy_uid).await;
    assert_eq!(store.gc(0).await.expect("gc"), before.blobs);
    let empty = store.stats().await.expect("stats");
    assert_eq!((empty.messages, empty.blobs, empty.stored_bytes), (0, 0, 0));
    assert_verified(&store).await;
}
