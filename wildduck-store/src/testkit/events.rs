//! Conformance checks of the event log and webhook deliveries: a change logs its event with
//! WildDuck's name and payload, a refused change logs none; webhooks match by pattern and
//! user; a delivery is made once per (event, webhook) however often an event is handed out,
//! is held by one lease at a time, is retried later, and goes with its trimmed event.

use serde_json::Value;

use crate::backend::now;
use crate::model::*;
use crate::store::Store;
use crate::webhooks::{DeliveryEnd, PostAnswer};

use super::user;

/// The pending events as (name, user, payload).
async fn pending(store: &Store) -> Vec<(String, Option<UserId>, Value)> {
    store
        .backend()
        .pending_events(1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.user, serde_json::from_str(&e.data).unwrap()))
        .collect()
}

pub async fn changes_log_their_events(store: Store) {
    let ann = store
        .create_user(NewUser {
            username: "ann".into(),
            password: "pass word".into(),
            address: Some("ann@example.com".into()),
            ..NewUser::default()
        })
        .await
        .unwrap();
    let added = store.add_address(ann.id, "ann2@example.com").await.unwrap();
    let folder = store.create_mailbox(ann.id, "Folder", None).await.unwrap();
    store
        .rename_mailbox(ann.id, "Folder", "Renamed")
        .await
        .unwrap();
    store.delete_mailbox(ann.id, "Renamed").await.unwrap();
    store
        .remove_address(ann.id, "ann2@example.com")
        .await
        .unwrap();

    // Refused changes log nothing.
    let before = pending(&store).await.len();
    assert!(store.create_mailbox(ann.id, "INBOX", None).await.is_err());
    assert!(store.add_address(ann.id, "ann@example.com").await.is_err());
    assert!(
        store
            .create_user(NewUser {
                username: "ann".into(),
                password: "pass word".into(),
                ..NewUser::default()
            })
            .await
            .is_err()
    );
    assert_eq!(pending(&store).await.len(), before);

    store.delete_user(ann.id).await.unwrap();
    let logged = pending(&store).await;
    let names: Vec<&str> = logged.iter().map(|(name, ..)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "user.created",
            "address.user.created",
            "mailbox.created",
            "mailbox.renamed",
            "mailbox.deleted",
            "address.user.deleted",
            "user.delete.completed",
        ]
    );
    assert!(logged.iter().all(|(_, user, _)| *user == Some(ann.id)));
    assert_eq!(logged[0].2["username"], "ann");
    assert_eq!(logged[0].2["address"], "ann@example.com");
    assert_eq!(logged[1].2["address"], added.id.to_string());
    assert_eq!(logged[1].2["value"], "ann2@example.com");
    let folder_id = folder.id.to_string();
    assert_eq!(logged[2].2["mailbox"], folder_id.as_str());
    assert_eq!(logged[2].2["path"], "Folder");
    assert_eq!(logged[3].2["previous"], "Folder");
    assert_eq!(logged[3].2["current"], "Renamed");
    assert_eq!(logged[4].2["mailbox"], folder_id.as_str());
    assert_eq!(logged[5].2["value"], "ann2@example.com");

    // Operator records log events of no user; a refused one logs none.
    let alias = store
        .create_domain_alias("alias.example", "example.com")
        .await
        .unwrap();
    assert!(
        store
            .create_domain_alias("alias.example", "example.org")
            .await
            .is_err()
    );
    store.delete_domain_alias(alias.id).await.unwrap();
    let new_key = |selector: &str| crate::dkim::NewDkimKey {
        domain: "example.com".into(),
        selector: selector.into(),
        description: None,
        private_key: Some(super::domains::RSA_1024.into()),
    };
    let (key, _) = store.set_dkim_key(new_key("one")).await.unwrap();
    store.set_dkim_key(new_key("two")).await.unwrap();
    store.delete_dkim_key(key.id).await.unwrap();
    let records = &pending(&store).await[logged.len()..];
    let names: Vec<&str> = records.iter().map(|(name, ..)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "domainalias.created",
            "domainalias.deleted",
            "dkim.created",
            "dkim.updated",
            "dkim.deleted",
        ]
    );
    assert!(records.iter().all(|(_, user, _)| user.is_none()));
    let alias_id = alias.id.to_string();
    assert_eq!(records[0].2["domainalias"], alias_id.as_str());
    assert_eq!(records[0].2["alias"], "alias.example");
    assert_eq!(records[0].2["domain"], "example.com");
    let key_id = key.id.to_string();
    assert!(
        records[2..]
            .iter()
            .all(|(.., data)| data["dkim"] == key_id.as_str())
    );
    assert_eq!(records[3].2["selector"], "two");
    assert_eq!(records[4].2["domain"], "example.com");
}

pub async fn webhook_deliveries_are_leased_once(store: Store) {
    // Bad webhooks are refused and store nothing.
    for url in ["ftp://example.com/", "http://", "not a url"] {
        assert!(
            store
                .create_webhook(&["*".into()], None, url)
                .await
                .is_err()
        );
    }
    let nobody = UserId(RecordId::new());
    assert!(matches!(
        store
            .create_webhook(&["*".into()], Some(nobody), "http://127.0.0.1/")
            .await,
        Err(crate::error::Error::User(crate::error::UserError::NotFound))
    ));
    assert!(store.list_webhooks().await.unwrap().is_empty());

    let ann = user(&store, "ann").await;
    let all_users = store
        .create_webhook(&[" USER.* ".into()], None, "http://127.0.0.1:9/users")
        .await
        .unwrap();
    assert_eq!(all_users.types, ["user.*"]);
    let bobs_only = {
        let bob = user(&store, "bob").await;
        store
            .create_webhook(&["*".into()], Some(bob.id), "http://127.0.0.1:9/bob")
            .await
            .unwrap()
    };
    let listed = store.list_webhooks().await.unwrap();
    assert_eq!(listed, [all_users.clone(), bobs_only.clone()]);
    assert_eq!(store.get_webhook(all_users.id).await.unwrap(), all_users);

    // ann's mailbox.created matches no webhook; user.created of ann and bob go to
    // `user.*`, bob's also to his own webhook.
    store.create_mailbox(ann.id, "Lists", None).await.unwrap();
    assert_eq!(store.hand_out_events(100).await.unwrap(), 3);
    assert!(pending(&store).await.is_empty());
    assert_eq!(store.hand_out_events(100).await.unwrap(), 0);

    let claimed = store
        .claim_event_deliveries(10, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let mut pairs: Vec<(String, RecordId)> = claimed
        .iter()
        .map(|(d, w)| (d.event.kind.clone(), w.id))
        .collect();
    pairs.sort();
    let mut expected = vec![
        ("user.created".to_string(), all_users.id),
        ("user.created".to_string(), all_users.id),
        ("user.created".to_string(), bobs_only.id),
    ];
    expected.sort();
    assert_eq!(pairs, expected);
    // Leased: nobody else gets them meanwhile.
    let lease = std::time::Duration::from_secs(60);
    assert!(
        store
            .claim_event_deliveries(10, lease)
            .await
            .unwrap()
            .is_empty()
    );

    // Handing an event out again makes no second delivery.
    let (first, _) = &claimed[0];
    store
        .backend()
        .hand_out_event(first.event.id, vec![first.webhook], now())
        .await
        .unwrap();
    assert!(
        store
            .claim_event_deliveries(10, lease)
            .await
            .unwrap()
            .is_empty()
    );

    // A stale lease records nothing; the holder's failure makes it due again later.
    let stale = EventDelivery {
        lease: RecordId::new(),
        ..first.clone()
    };
    assert_eq!(
        store
            .finish_event_delivery(&stale, PostAnswer::Accepted)
            .await
            .unwrap(),
        DeliveryEnd::LeaseLost
    );
    match store
        .finish_event_delivery(first, PostAnswer::Failed)
        .await
        .unwrap()
    {
        DeliveryEnd::RetryAt(at) => assert!(at > now(), "{at}"),
        other => panic!("{other:?}"),
    }
    assert!(
        store
            .claim_event_deliveries(10, lease)
            .await
            .unwrap()
            .is_empty()
    );

    // 410 removes the webhook; 2xx settles.
    let (gone, gone_hook) = claimed.iter().find(|(_, w)| w.id == bobs_only.id).unwrap();
    assert_eq!(
        store
            .finish_event_delivery(gone, PostAnswer::Gone)
            .await
            .unwrap(),
        DeliveryEnd::WebhookRemoved
    );
    assert!(store.get_webhook(gone_hook.id).await.is_err());
    let (settled, _) = claimed
        .iter()
        .find(|(d, w)| w.id == all_users.id && d.event.id != first.event.id)
        .unwrap();
    assert_eq!(
        store
            .finish_event_delivery(settled, PostAnswer::Accepted)
            .await
            .unwrap(),
        DeliveryEnd::Delivered
    );
    // A settled delivery stays settled when its event is handed out again (a second worker
    // that read it pending before the first marked it).
    store
        .backend()
        .hand_out_event(settled.event.id, vec![settled.webhook], now())
        .await
        .unwrap();
    assert!(
        store
            .claim_event_deliveries(10, lease)
            .await
            .unwrap()
            .is_empty()
    );

    // Trimming drops handed-out events with their deliveries, never a pending event.
    store.create_mailbox(ann.id, "Later", None).await.unwrap();
    let trimmed = store.backend().trim_events(now() + 1).await.unwrap();
    assert_eq!(trimmed, 3);
    assert_eq!(pending(&store).await.len(), 1);
    store.delete_webhook(all_users.id).await.unwrap();
    assert!(store.delete_webhook(all_users.id).await.is_err());
}

/// A message moved or copied into \Junk logs `marked.spam`, one moved out of it (but not into
/// \Trash) `marked.ham`, each naming the message where it now is; other moves log nothing.
pub async fn junk_moves_log_marked_spam_and_ham(store: Store) {
    let ann = user(&store, "ann").await;
    let mailbox = |path: &'static str| {
        let store = store.clone();
        async move { store.get_mailbox(ann.id, path).await.unwrap().id }
    };
    let (inbox, junk, trash) = (
        mailbox("INBOX").await,
        mailbox("Junk").await,
        mailbox("Trash").await,
    );
    for n in 0..2 {
        store
            .append(inbox, &super::sample_message(n), &Flags::new(), None)
            .await
            .unwrap();
    }
    let before = pending(&store).await.len();
    let uid = |n: Uid| UidSet::from_ranges([(n, n)]);
    let to_junk = store.move_messages(inbox, &uid(1), junk).await.unwrap();
    let copied = store.copy(inbox, &uid(2), junk).await.unwrap();
    let to_inbox = store
        .move_messages(junk, &uid(to_junk.pairs[0].1), inbox)
        .await
        .unwrap();
    store
        .move_messages(junk, &uid(copied.pairs[0].1), trash)
        .await
        .unwrap();
    store
        .move_messages(trash, &UidSet::all(), inbox)
        .await
        .unwrap();
    let logged = &pending(&store).await[before..];
    let names: Vec<&str> = logged.iter().map(|(name, ..)| name.as_str()).collect();
    assert_eq!(names, ["marked.spam", "marked.spam", "marked.ham"]);
    assert!(logged.iter().all(|(_, user, _)| *user == Some(ann.id)));
    let junk_id = junk.to_string();
    assert_eq!(logged[0].2["mailbox"], junk_id.as_str());
    assert_eq!(logged[0].2["id"], to_junk.pairs[0].1);
    assert_eq!(logged[1].2["id"], copied.pairs[0].1);
    let inbox_id = inbox.to_string();
    assert_eq!(logged[2].2["mailbox"], inbox_id.as_str());
    assert_eq!(logged[2].2["id"], to_inbox.pairs[0].1);
    // The message as it is now (a move keeps its id on SQLite, MongoDB writes a new one).
    let message_ids: Vec<&str> = logged
        .iter()
        .map(|(.., data)| data["message"].as_str().unwrap())
        .collect();
    assert!(
        message_ids.iter().all(|id| id.len() == 24),
        "{message_ids:?}"
    );
    assert_ne!(
        message_ids[0], message_ids[1],
        "a copy is a message of its own"
    );
}
