//! Many writers on one mailbox at once: distinct increasing UIDs, exact quota; readers running
//! alongside only ever see whole changes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use wildduck_store::*;

const WRITERS: usize = 12;
const APPENDS_PER_WRITER: usize = 15;

fn message(writer: usize, n: usize) -> Vec<u8> {
    format!(
        "Subject: w{writer} n{n}\r\n\r\n{}\r\n",
        "x".repeat(writer * 7 + n)
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_get_distinct_uids_and_exact_quota() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(dir.path(), StoreConfig::default())
        .await
        .unwrap();
    let user = store
        .create_user(NewUser {
            username: "busy".into(),
            password: "pw".into(),
            ..NewUser::default()
        })
        .await
        .unwrap();
    let inbox = store.get_mailbox(user.id, "INBOX").await.unwrap();
    let done = Arc::new(AtomicBool::new(false));

    // Readers: every snapshot must describe a whole number of appends (each append is one
    // UID and one MODSEQ with its journal entry, committed together).
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (store, done) = (store.clone(), done.clone());
            tokio::spawn(async move {
                let mut seen = 0usize;
                while !done.load(Ordering::Relaxed) {
                    let snap = store.snapshot(inbox.id).await.unwrap();
                    let n = snap.uids.len();
                    assert_eq!(snap.uids, (1..=n as u32).collect::<Vec<_>>());
                    assert_eq!(snap.uidnext as usize, n + 1);
                    assert_eq!(snap.highest_modseq as usize, n);
                    let changes = store.changes_since(inbox.id, 0).await.unwrap();
                    assert!(
                        changes.changes.len() >= n,
                        "journal never behind the messages"
                    );
                    assert_eq!(changes.changes.len() as u64, changes.highest_modseq);
                    assert!(n >= seen, "a reader never goes back in time");
                    seen = n;
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for n in 0..APPENDS_PER_WRITER {
                    let raw = message(w, n);
                    let out = store
                        .append(inbox.id, &raw, &Flags::new(), None)
                        .await
                        .unwrap();
                    outcomes.push(out);
                }
                outcomes
            })
        })
        .collect();

    let mut all = Vec::new();
    for writer in writers {
        let outcomes = writer.await.unwrap();
        assert!(
            outcomes
                .windows(2)
                .all(|w| w[0].uid < w[1].uid && w[0].modseq < w[1].modseq),
            "one writer's UIDs and MODSEQs increase"
        );
        all.extend(outcomes);
    }
    done.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.unwrap();
    }

    let total = WRITERS * APPENDS_PER_WRITER;
    let mut uids: Vec<Uid> = all.iter().map(|o| o.uid).collect();
    uids.sort_unstable();
    assert_eq!(
        uids,
        (1..=total as u32).collect::<Vec<_>>(),
        "distinct, no gaps"
    );
    let mut modseqs: Vec<ModSeq> = all.iter().map(|o| o.modseq).collect();
    modseqs.sort_unstable();
    modseqs.dedup();
    assert_eq!(modseqs.len(), total);

    let expected: u64 = (0..WRITERS)
        .flat_map(|w| (0..APPENDS_PER_WRITER).map(move |n| message(w, n).len() as u64))
        .sum();
    assert_eq!(
        store.get_user(user.id).await.unwrap().storage_used,
        expected
    );
    assert_eq!(store.mailbox_status(inbox.id).await.unwrap().size, expected);
    let report = store.verify(false).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_moves_never_lose_or_duplicate_messages() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(dir.path(), StoreConfig::default())
        .await
        .unwrap();
    let user = store
        .create_user(NewUser {
            username: "mover".into(),
            password: "pw".into(),
            ..NewUser::default()
        })
        .await
        .unwrap();
    let a = store.get_mailbox(user.id, "INBOX").await.unwrap().id;
    let b = store.get_mailbox(user.id, "Trash").await.unwrap().id;
    for n in 0..40 {
        store
            .append(a, &message(0, n), &Flags::new(), None)
            .await
            .unwrap();
    }
    let used = store.get_user(user.id).await.unwrap().storage_used;
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    let (from, to) = if t % 2 == 0 { (a, b) } else { (b, a) };
                    let snap = store.snapshot(from).await.unwrap();
                    if let Some(&uid) = snap.uids.first() {
                        store
                            .move_messages(from, &UidSet::from_ranges([(uid, uid)]), to)
                            .await
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let count =
        store.snapshot(a).await.unwrap().uids.len() + store.snapshot(b).await.unwrap().uids.len();
    assert_eq!(count, 40);
    assert_eq!(store.get_user(user.id).await.unwrap().storage_used, used);
    let report = store.verify(false).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

/// Concurrent appends racing for the last bytes of quota: exactly as many succeed as fit,
/// the rest fail with OverQuota and leave no trace (a failing operation never spoils the
/// others committed with it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_for_quota_admits_exactly_what_fits() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(dir.path(), StoreConfig::default())
        .await
        .unwrap();
    let raw = message(3, 3);
    let size = raw.len() as u64;
    let fits = 17u64;
    let user = store
        .create_user(NewUser {
            username: "tight".into(),
            password: "pw".into(),
            quota: Some(size * fits + size / 2),
            ..NewUser::default()
        })
        .await
        .unwrap();
    let inbox = store.get_mailbox(user.id, "INBOX").await.unwrap();
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let (store, raw) = (store.clone(), raw.clone());
            tokio::spawn(async move { store.append(inbox.id, &raw, &Flags::new(), None).await })
        })
        .collect();
    let mut admitted = Vec::new();
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(out) => admitted.push(out.uid),
            Err(Error::Message(MessageError::OverQuota { .. })) => refused += 1,
            Err(other) => panic!("unexpected {other}"),
        }
    }
    admitted.sort_unstable();
    assert_eq!(admitted, (1..=fits as u32).collect::<Vec<_>>());
    assert_eq!(refused, 40 - fits as usize);
    assert_eq!(
        store.get_user(user.id).await.unwrap().storage_used,
        size * fits
    );
    let snap = store.snapshot(inbox.id).await.unwrap();
    assert_eq!((snap.uidnext, snap.highest_modseq), (fits as u32 + 1, fits));
    let report = store.verify(false).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}
