//! Conformance check of the subscription rule: names stay subscribed when their mailbox goes.

use crate::error::*;
use crate::model::*;
use crate::store::Store;

use super::user;

async fn subscribed(store: &Store, user: UserId, path: &str) -> bool {
    let mailboxes = store.list_mailboxes(user).await.unwrap();
    mailboxes.iter().any(|m| m.path == path && m.subscribed)
}

/// DELETE keeps a subscription (RFC 3501 §6.3.6) and forgets an unsubscribed name; CREATE
/// under a kept name makes the mailbox subscribed; UNSUBSCRIBE of a kept name drops it;
/// deleting the user drops them all.
pub async fn subscriptions_outlive_their_mailbox(store: Store) {
    let u = user(&store, "subscriber").await;
    for path in ["Lists/kept", "Lists/plain", "Lists/back"] {
        store
            .create_unsubscribed_mailbox(u.id, path, None)
            .await
            .unwrap();
    }
    store
        .set_subscribed(u.id, "Lists/kept", true)
        .await
        .unwrap();
    store
        .set_subscribed(u.id, "Lists/back", true)
        .await
        .unwrap();
    for path in ["Lists/kept", "Lists/plain", "Lists/back"] {
        store.delete_mailbox(u.id, path).await.unwrap();
    }
    let kept = store.subscriptions_without_mailbox(u.id).await.unwrap();
    assert_eq!(kept, ["Lists/back", "Lists/kept"]);

    // A mailbox made again under a kept name is subscribed, whatever CREATE asked.
    store
        .create_unsubscribed_mailbox(u.id, "Lists/back", None)
        .await
        .unwrap();
    assert!(subscribed(&store, u.id, "Lists/back").await);
    let kept = store.subscriptions_without_mailbox(u.id).await.unwrap();
    assert_eq!(kept, ["Lists/kept"]);
    // Its flag decides from now on: unsubscribed, then deleted, the name is gone.
    store
        .set_subscribed(u.id, "Lists/back", false)
        .await
        .unwrap();
    store.delete_mailbox(u.id, "Lists/back").await.unwrap();
    let kept = store.subscriptions_without_mailbox(u.id).await.unwrap();
    assert_eq!(kept, ["Lists/kept"]);

    // Unsubscribing a kept name drops it; a name neither kept nor a mailbox is not found, and
    // subscribing one is refused.
    store
        .set_subscribed(u.id, "Lists/kept", false)
        .await
        .unwrap();
    assert!(
        store
            .subscriptions_without_mailbox(u.id)
            .await
            .unwrap()
            .is_empty()
    );
    for subscribe in [false, true] {
        let err = store
            .set_subscribed(u.id, "Lists/kept", subscribe)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Mailbox(MailboxError::NotFound)),
            "{err}"
        );
    }

    // Kept names belong to their user and go with them.
    store
        .create_unsubscribed_mailbox(u.id, "Lists/last", None)
        .await
        .unwrap();
    store
        .set_subscribed(u.id, "Lists/last", true)
        .await
        .unwrap();
    store.delete_mailbox(u.id, "Lists/last").await.unwrap();
    let other = user(&store, "other-subscriber").await;
    assert!(
        store
            .subscriptions_without_mailbox(other.id)
            .await
            .unwrap()
            .is_empty()
    );
    let records = store.backend().dangling_subscriptions(u.id).await.unwrap();
    assert_eq!(records, ["Lists/last"]);
    store.delete_user(u.id).await.unwrap();
    let records = store.backend().dangling_subscriptions(u.id).await.unwrap();
    assert!(records.is_empty(), "{records:?}");
}
