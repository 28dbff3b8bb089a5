//! Store benchmarks: durable append, and snapshot / metadata / search reads on a
//! 100,000-message mailbox. Run: `cargo bench -p wildduck-store --bench store`.
//!
//! The big mailbox is built with a few whole-mailbox copies (one transaction each), not
//! 100,000 appends, so setup stays short.

use criterion::{Criterion, criterion_group, criterion_main};
use wildduck_store::*;

const BIG: u32 = 100_000;

fn message(size: usize) -> Vec<u8> {
    let mut raw = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: bench\r\n\r\n".to_vec();
    while raw.len() < size {
        raw.extend_from_slice(b"Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n");
    }
    raw
}

async fn store_with_user(dir: &std::path::Path) -> (Store, User) {
    let store = Store::open_sqlite(dir, StoreConfig::default())
        .await
        .unwrap();
    let user = store
        .create_user(NewUser {
            username: "bench".into(),
            password: "pw".into(),
            ..NewUser::default()
        })
        .await
        .unwrap();
    (store, user)
}

/// Fills `mailbox` to exactly `count` messages by doubling with copies.
async fn fill(store: &Store, mailbox: MailboxId, count: u32) {
    store
        .append(mailbox, &message(2048), &Flags::new(), None)
        .await
        .unwrap();
    let mut have = 1u32;
    while have < count {
        let take = have.min(count - have);
        let snap = store.snapshot(mailbox).await.unwrap();
        let last = snap.uids[take as usize - 1];
        store
            .copy(
                mailbox,
                &UidSet::from_ranges([(snap.uids[0], last)]),
                mailbox,
            )
            .await
            .unwrap();
        have += take;
    }
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (store, user) = rt.block_on(store_with_user(dir.path()));
    let inbox = rt.block_on(store.get_mailbox(user.id, "INBOX")).unwrap();

    let mut append = c.benchmark_group("append");
    for size in [2 * 1024, 100 * 1024] {
        let raw = message(size);
        append.bench_function(format!("{} KiB", size / 1024), |b| {
            b.to_async(&rt).iter(|| async {
                store
                    .append(inbox.id, &raw, &Flags::new(), None)
                    .await
                    .unwrap()
            })
        });
    }
    // 32 clients appending at once: the writer commits them in groups.
    let raw = message(2 * 1024);
    append.bench_function("32 concurrent x 2 KiB", |b| {
        b.to_async(&rt).iter(|| async {
            let tasks: Vec<_> = (0..32)
                .map(|_| {
                    let (store, raw) = (store.clone(), raw.clone());
                    tokio::spawn(async move {
                        store
                            .append(inbox.id, &raw, &Flags::new(), None)
                            .await
                            .unwrap()
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        })
    });
    append.finish();

    let big = rt
        .block_on(store.create_mailbox(user.id, "Big", None))
        .unwrap();
    let started = std::time::Instant::now();
    rt.block_on(fill(&store, big.id, BIG));
    eprintln!("setup: {BIG} messages in {:?}", started.elapsed());

    let mut reads = c.benchmark_group("100k mailbox");
    reads.bench_function("snapshot", |b| {
        b.to_async(&rt).iter(|| async {
            let snap = store.snapshot(big.id).await.unwrap();
            assert_eq!(snap.uids.len(), BIG as usize);
            snap
        })
    });
    reads.bench_function("status", |b| {
        b.to_async(&rt)
            .iter(|| async { store.mailbox_status(big.id).await.unwrap() })
    });
    reads.bench_function("fetch_meta 100 flags", |b| {
        b.to_async(&rt).iter(|| async {
            store
                .fetch_meta(
                    big.id,
                    &UidSet::from_ranges([(50_000, 50_099)]),
                    MetaFields::default(),
                )
                .await
                .unwrap()
        })
    });
    // What SELECT reads: the flags of every message.
    reads.bench_function("fetch_meta all flags", |b| {
        b.to_async(&rt).iter(|| async {
            let metas = store
                .fetch_meta(big.id, &UidSet::all(), MetaFields::default())
                .await
                .unwrap();
            assert_eq!(metas.len(), BIG as usize);
            metas
        })
    });
    reads.bench_function("search subject", |b| {
        b.to_async(&rt).iter(|| async {
            store
                .search(
                    big.id,
                    &SearchKey::Header("subject".into(), "nothing".into()),
                )
                .await
                .unwrap()
        })
    });
    reads.bench_function("search unseen", |b| {
        b.to_async(&rt).iter(|| async {
            store
                .search(big.id, &SearchKey::Flag(Flag::Seen, false))
                .await
                .unwrap()
        })
    });
    reads.finish();
}

criterion_group! {
    name = store;
    config = Criterion::default().sample_size(10);
    targets = benches
}
criterion_main!(store);
