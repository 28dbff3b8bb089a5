//! Two `Store`s over one MongoDB and one Redis, as two server processes would be: UIDs stay
//! distinct and increasing under parallel appends through both, wake-ups cross from one to
//! the other (also across a Redis restart), and the quota holds exactly.
#![cfg(all(feature = "mongodb", feature = "redis"))]

mod servers;

use std::collections::BTreeSet;
use std::time::Duration;

use servers::{RedisServer, fresh_database_uri, servers};
use wildduck_store::testkit::{sample_message, user};
use wildduck_store::*;

const WAIT: Duration = Duration::from_secs(15);

async fn pair(redis_url: &str) -> (Store, Store) {
    let uri = fresh_database_uri(&servers().mongodb_uri);
    let open = || Store::open_mongodb(&uri, Some(redis_url), StoreConfig::default());
    (
        open().await.expect("store A"),
        open().await.expect("store B"),
    )
}

/// Waits until `rx` reports `mailbox` at `modseq` or later (earlier wake-ups may come first).
async fn wait_for(rx: &mut Subscription, mailbox: MailboxId, modseq: ModSeq) {
    tokio::time::timeout(WAIT, async {
        loop {
            match rx.recv().await {
                Ok((m, n)) if m == mailbox && n >= modseq => return,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("subscription ended: {e}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no wake-up for MODSEQ {modseq} within {WAIT:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_appends_through_two_stores_get_distinct_increasing_uids() {
    let (a, b) = pair(&servers().redis_url).await;
    let owner = user(&a, "parallel").await;
    let inbox = b.get_mailbox(owner.id, "INBOX").await.unwrap();
    const PER_TASK: usize = 6;
    let mut tasks = Vec::new();
    for (t, store) in [&a, &b, &a, &b].into_iter().enumerate() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for n in 0..PER_TASK {
                let raw = sample_message(t * 100 + n);
                let out = store
                    .append(inbox.id, &raw, &Flags::new(), None)
                    .await
                    .unwrap();
                got.push((out.uid, out.modseq, raw));
            }
            got
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let got = task.await.unwrap();
        for pair in got.windows(2) {
            assert!(pair[0].0 < pair[1].0, "UIDs increase within one writer");
            assert!(pair[0].1 < pair[1].1, "MODSEQs increase within one writer");
        }
        all.extend(got);
    }
    let uids: BTreeSet<Uid> = all.iter().map(|g| g.0).collect();
    let modseqs: BTreeSet<ModSeq> = all.iter().map(|g| g.1).collect();
    assert_eq!(uids.len(), all.len(), "every UID distinct");
    assert_eq!(modseqs.len(), all.len(), "every MODSEQ distinct");
    for store in [&a, &b] {
        let snapshot = store.snapshot(inbox.id).await.unwrap();
        assert_eq!(snapshot.uids, uids.iter().copied().collect::<Vec<_>>());
        assert_eq!(snapshot.highest_modseq, *modseqs.last().unwrap());
        let changes = store.changes_since(inbox.id, 0).await.unwrap();
        assert_eq!(
            changes.changes.len(),
            all.len(),
            "one journal entry per append"
        );
    }
    for (uid, _, raw) in &all {
        let body = b
            .read_section(inbox.id, *uid, &Section::full(), None)
            .await
            .unwrap();
        assert_eq!(&body.to_vec(), raw, "BODY[] of UID {uid}");
    }
    let used: u64 = all.iter().map(|g| g.2.len() as u64).sum();
    assert_eq!(a.get_user(owner.id).await.unwrap().storage_used, used);
    assert!(a.verify(false).await.unwrap().problems.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_on_one_store_hears_changes_made_through_the_other() {
    let (a, b) = pair(&servers().redis_url).await;
    let owner = user(&a, "listener").await;
    let inbox = a.get_mailbox(owner.id, "INBOX").await.unwrap();
    let mut on_b = b.subscribe(owner.id);

    let appended = a
        .append(inbox.id, &sample_message(1), &Flags::new(), None)
        .await
        .unwrap();
    wait_for(&mut on_b, inbox.id, appended.modseq).await;
    let changes = b.changes_since(inbox.id, 0).await.unwrap();
    assert_eq!(
        changes.changes,
        vec![Change {
            modseq: appended.modseq,
            uid: appended.uid,
            kind: ChangeKind::Exists
        }]
    );

    let flagged = a
        .store_flags(
            inbox.id,
            &UidSet::all(),
            FlagOp::Add,
            &[Flag::Deleted].into(),
            None,
        )
        .await
        .unwrap();
    wait_for(&mut on_b, inbox.id, flagged.modseq.unwrap()).await;
    let expunged = a.expunge(inbox.id, None).await.unwrap();
    wait_for(&mut on_b, inbox.id, expunged.modseq.unwrap()).await;
    let changes = b.changes_since(inbox.id, appended.modseq).await.unwrap();
    let kinds: Vec<ChangeKind> = changes.changes.into_iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        vec![
            ChangeKind::Flags([Flag::Deleted].into()),
            ChangeKind::Expunge
        ]
    );
    assert!(b.snapshot(inbox.id).await.unwrap().uids.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_holds_exactly_under_parallel_appends_through_both() {
    let (a, b) = pair(&servers().redis_url).await;
    let owner = user(&a, "quota").await;
    let inbox = a.get_mailbox(owner.id, "INBOX").await.unwrap();
    let raw = sample_message(7);
    const FITS: u64 = 5;
    a.set_quota(
        owner.id,
        Some(FITS * raw.len() as u64 + raw.len() as u64 / 2),
    )
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for store in [&a, &b, &a, &b] {
        let (store, raw) = (store.clone(), raw.clone());
        tasks.push(tokio::spawn(async move {
            let mut results = Vec::new();
            for _ in 0..4 {
                results.push(store.append(inbox.id, &raw, &Flags::new(), None).await);
            }
            results
        }));
    }
    let mut stored = 0u64;
    for task in tasks {
        for result in task.await.unwrap() {
            match result {
                Ok(_) => stored += 1,
                Err(Error::Message(MessageError::OverQuota { .. })) => {}
                Err(other) => panic!("unexpected error: {other}"),
            }
        }
    }
    assert_eq!(stored, FITS, "exactly as many as fit");
    let used = b.get_user(owner.id).await.unwrap().storage_used;
    assert_eq!(used, FITS * raw.len() as u64);
    assert_eq!(b.mailbox_status(inbox.id).await.unwrap().size, used);
    assert!(b.verify(false).await.unwrap().problems.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wake_ups_resume_after_a_redis_restart() {
    let mut redis = RedisServer::start();
    let (a, b) = pair(&redis.url()).await;
    let owner = user(&a, "outage").await;
    let inbox = a.get_mailbox(owner.id, "INBOX").await.unwrap();
    let mut on_a = a.subscribe(owner.id);
    let mut on_b = b.subscribe(owner.id);

    redis.stop();
    let during = a
        .append(inbox.id, &sample_message(1), &Flags::new(), None)
        .await
        .unwrap();
    wait_for(&mut on_a, inbox.id, during.modseq).await;
    assert_eq!(
        b.snapshot(inbox.id).await.unwrap().uids,
        vec![during.uid],
        "the data path never needed Redis"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    redis.restart();
    // The change made during the outage reaches the other store once Redis is back.
    wait_for(&mut on_b, inbox.id, during.modseq).await;
    let after = a
        .append(inbox.id, &sample_message(2), &Flags::new(), None)
        .await
        .unwrap();
    wait_for(&mut on_b, inbox.id, after.modseq).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_back_from_a_gap_wakes_its_sessions_to_resync() {
    let mut redis = RedisServer::start();
    let uri = fresh_database_uri(&servers().mongodb_uri);
    // The writer publishes no wake-up at all, so only the listener's resync can tell.
    let silent = Store::open_mongodb(&uri, None, StoreConfig::default())
        .await
        .unwrap();
    let listening = Store::open_mongodb(&uri, Some(&redis.url()), StoreConfig::default())
        .await
        .unwrap();
    let owner = user(&silent, "gap").await;
    let inbox = silent.get_mailbox(owner.id, "INBOX").await.unwrap();
    let mut session = listening.subscribe(owner.id);

    redis.stop();
    let during = silent
        .append(inbox.id, &sample_message(1), &Flags::new(), None)
        .await
        .unwrap();
    redis.restart();
    wait_for(&mut session, inbox.id, during.modseq).await;
}
