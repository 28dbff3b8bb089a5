//! `verify` on MongoDB: counters broken behind the store's back are reported with the same
//! words as on SQLite (one checker, `message_rules::verify`), repaired to what the records
//! give, and the store goes on from the repaired counters.
#![cfg(all(feature = "mongodb", feature = "redis"))]

mod servers;

use mongodb::bson::{Document, doc};
use servers::{fresh_database_uri, servers};
use wildduck_store::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reports_and_repairs_drift() {
    let uri = fresh_database_uri(&servers().mongodb_uri);
    let store = Store::open_mongodb(&uri, None, StoreConfig::default())
        .await
        .unwrap();
    let user = store
        .create_user(NewUser {
            username: "drift".into(),
            password: "pw".into(),
            ..NewUser::default()
        })
        .await
        .unwrap();
    let inbox = store.get_mailbox(user.id, "INBOX").await.unwrap();
    for n in 0..3 {
        // Bodies big enough to become one leaf blob each.
        let raw = format!(
            "Subject: {n}\r\n\r\n{}\r\n",
            format!("body {n} ").repeat(200)
        );
        store
            .append(inbox.id, raw.as_bytes(), &Flags::new(), None)
            .await
            .unwrap();
    }
    let used = store.get_user(user.id).await.unwrap().storage_used;
    assert!(store.verify(false).await.unwrap().problems.is_empty());

    let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
    let db = client.default_database().unwrap();
    db.collection::<Document>("users")
        .update_many(doc! {}, doc! {"$set": {"storage_used": 5i64}})
        .await
        .unwrap();
    let blobs = db
        .collection::<Document>("blobs")
        .update_many(doc! {}, doc! {"$inc": {"refcount": 7i64}})
        .await
        .unwrap()
        .modified_count;
    assert_eq!(blobs, 3, "one leaf blob per message");
    db.collection::<Document>("mailboxes")
        .update_one(
            doc! {"path": "INBOX"},
            doc! {"$set": {"uidnext": 2i64, "modseq": 1i64}},
        )
        .await
        .unwrap();

    let found = store.verify(false).await.unwrap();
    assert!(!found.repaired);
    assert_eq!(found.problems.len(), 1 + 3 + 2, "{:?}", found.problems);
    for expected in [
        format!("user drift: storage_used 5, messages sum to {used}"),
        "mailbox INBOX: a UID is not below uidnext 2".to_string(),
        "mailbox INBOX: a MODSEQ is above highest_modseq 1".to_string(),
    ] {
        assert!(
            found.problems.contains(&expected),
            "{expected:?} in {found:?}"
        );
    }
    assert_eq!(
        found
            .problems
            .iter()
            .filter(|p| p.starts_with("blob ") && p.ends_with(": refcount 8, referenced 1 times"))
            .count(),
        3,
        "{:?}",
        found.problems
    );
    assert_eq!(
        store.verify(false).await.unwrap(),
        found,
        "report only changes nothing"
    );

    let fixed = store.verify(true).await.unwrap();
    assert!(fixed.repaired);
    assert_eq!(fixed.problems, found.problems);
    assert!(store.verify(false).await.unwrap().problems.is_empty());
    assert_eq!(store.get_user(user.id).await.unwrap().storage_used, used);
    let snap = store.snapshot(inbox.id).await.unwrap();
    assert_eq!((snap.uidnext, snap.highest_modseq), (4, 3));
    let next = store
        .append(inbox.id, b"x", &Flags::new(), None)
        .await
        .unwrap();
    assert_eq!((next.uid, next.modseq), (4, 4));
}
