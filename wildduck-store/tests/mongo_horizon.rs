//! The committed horizon on MongoDB: a change whose writer has allocated its MODSEQ but not
//! yet committed holds readers back, so they never skip it; a writer that died is reaped.
//! The in-flight writer is simulated by writing its pending entry directly, as a writer
//! stopped between allocation and commit would leave it.
#![cfg(all(feature = "mongodb", feature = "redis"))]

mod servers;

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, Document, doc};
use servers::{fresh_database_uri, servers};
use wildduck_store::testkit::{sample_message, user};
use wildduck_store::*;

/// Opens a store and a raw handle on its `mailboxes` collection.
async fn store_and_mailboxes() -> (Store, mongodb::Collection<Document>) {
    let uri = fresh_database_uri(&servers().mongodb_uri);
    let store = Store::open_mongodb(&uri, None, StoreConfig::default())
        .await
        .unwrap();
    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let mailboxes = client.default_database().unwrap().collection("mailboxes");
    (store, mailboxes)
}

/// Does what a writer does in its first step: takes the next MODSEQ, pending since `started`.
async fn stalled_writer(
    mailboxes: &mongodb::Collection<Document>,
    mailbox: MailboxId,
    started: i64,
) -> String {
    let before = mailboxes
        .find_one(doc! {"_id": ObjectId::from(mailbox)})
        .await
        .unwrap()
        .unwrap();
    let floor = match before.get("modseq") {
        Some(Bson::Int32(v)) => *v as i64,
        Some(Bson::Int64(v)) => *v,
        other => panic!("modseq stored as {other:?}"),
    };
    let token = format!("t{started}_1");
    mailboxes
        .update_one(
            doc! {"_id": ObjectId::from(mailbox)},
            doc! {"$inc": {"modseq": 1i64}, "$set": {format!("pending.{token}"): floor}},
        )
        .await
        .unwrap();
    token
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_wait_for_a_modseq_that_commits_late() {
    let (store, mailboxes) = store_and_mailboxes().await;
    let owner = user(&store, "horizon").await;
    let inbox = store.get_mailbox(owner.id, "INBOX").await.unwrap();
    let first = store
        .append(inbox.id, &sample_message(1), &Flags::new(), None)
        .await
        .unwrap();
    let token = stalled_writer(&mailboxes, inbox.id, now()).await;
    let later = store
        .append(inbox.id, &sample_message(2), &Flags::new(), None)
        .await
        .unwrap();
    assert_eq!(
        later.modseq,
        first.modseq + 2,
        "the stalled writer holds MODSEQ {}",
        first.modseq + 1
    );

    // Readers trust nothing past the stalled MODSEQ: not the later append either.
    let changes = store.changes_since(inbox.id, 0).await.unwrap();
    assert_eq!(changes.highest_modseq, first.modseq);
    assert_eq!(changes.changes.len(), 1);
    let snapshot = store.snapshot(inbox.id).await.unwrap();
    assert_eq!(
        (snapshot.uids, snapshot.highest_modseq),
        (vec![first.uid], first.modseq)
    );
    assert_eq!(store.mailbox_status(inbox.id).await.unwrap().messages, 1);

    // The stalled writer commits: everything up to the later append shows, nothing skipped.
    mailboxes
        .update_one(
            doc! {"_id": ObjectId::from(inbox.id)},
            doc! {"$unset": {format!("pending.{token}"): ""}},
        )
        .await
        .unwrap();
    let changes = store.changes_since(inbox.id, first.modseq).await.unwrap();
    assert_eq!(changes.highest_modseq, later.modseq);
    assert_eq!(
        changes.changes,
        vec![Change {
            modseq: later.modseq,
            uid: later.uid,
            kind: ChangeKind::Exists
        }]
    );
    assert_eq!(
        store.snapshot(inbox.id).await.unwrap().uids,
        vec![first.uid, later.uid]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_died_is_reaped_and_verify_reports_it() {
    let (store, mailboxes) = store_and_mailboxes().await;
    let owner = user(&store, "reaper").await;
    let inbox = store.get_mailbox(owner.id, "INBOX").await.unwrap();
    let dead_since = now() - 3600;
    stalled_writer(&mailboxes, inbox.id, dead_since).await;
    let report = store.verify(false).await.unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(
        report.problems[0].contains("never committed"),
        "{:?}",
        report.problems
    );

    // The next writer reaps the dead allocation; its own change becomes visible.
    let appended = store
        .append(inbox.id, &sample_message(1), &Flags::new(), None)
        .await
        .unwrap();
    assert_eq!(appended.modseq, 2, "the dead writer's MODSEQ 1 stays a gap");
    let snapshot = store.snapshot(inbox.id).await.unwrap();
    assert_eq!(
        (snapshot.uids, snapshot.highest_modseq),
        (vec![appended.uid], appended.modseq)
    );
    assert!(store.verify(false).await.unwrap().problems.is_empty());
}
