//! The user-wide change feed (`Store::user_changes_after`): every mailbox of one user, in
//! journal-id order, resumable from any id, nothing of another user.

use super::*;

pub async fn user_change_feed_across_mailboxes(store: Store) {
    let alice = user(&store, "feedalice").await;
    let bob = user(&store, "feedbob").await;
    assert_eq!(store.user_journal_head(alice.id).await.unwrap(), None);
    let inbox = inbox(&store, &alice).await;
    let work = store.create_mailbox(alice.id, "Work", None).await.unwrap();
    let bobs_inbox = super::inbox(&store, &bob).await;

    let nothing = Flags::new();
    let first = store
        .append(inbox.id, &sample_message(1), &nothing, None)
        .await
        .unwrap();
    let second = store
        .append(work.id, &sample_message(2), &nothing, None)
        .await
        .unwrap();
    store
        .append(bobs_inbox.id, &sample_message(3), &nothing, None)
        .await
        .unwrap();
    let seen = flags(&[Flag::Seen]);
    store
        .store_flags(
            inbox.id,
            &UidSet::from_ranges([(1, 1)]),
            FlagOp::Add,
            &seen,
            None,
        )
        .await
        .unwrap();
    let deleted = flags(&[Flag::Deleted]);
    store
        .store_flags(
            work.id,
            &UidSet::from_ranges([(1, 1)]),
            FlagOp::Add,
            &deleted,
            None,
        )
        .await
        .unwrap();
    store.expunge(work.id, None).await.unwrap();

    let feed = store.user_changes_after(alice.id, None, 100).await.unwrap();
    let seen_as: Vec<(MailboxId, Uid, ChangeKind)> = feed
        .iter()
        .map(|entry| (entry.mailbox, entry.change.uid, entry.change.kind.clone()))
        .collect();
    assert_eq!(
        seen_as,
        vec![
            (inbox.id, first.uid, ChangeKind::Exists),
            (work.id, second.uid, ChangeKind::Exists),
            (inbox.id, first.uid, ChangeKind::Flags(seen.clone())),
            (work.id, second.uid, ChangeKind::Flags(deleted.clone())),
            (work.id, second.uid, ChangeKind::Expunge),
        ],
        "alice's changes of both mailboxes in the order made, none of bob's"
    );
    assert!(feed.windows(2).all(|pair| pair[0].id < pair[1].id));
    assert_eq!(feed[0].change.modseq, first.modseq);
    let last = feed.last().unwrap().id;
    assert_eq!(store.user_journal_head(alice.id).await.unwrap(), Some(last));

    // A resume point replays exactly what came after it, in pieces of `limit`.
    let after_second = store
        .user_changes_after(alice.id, Some(feed[1].id), 100)
        .await
        .unwrap();
    assert_eq!(after_second, feed[2..]);
    let one = store
        .user_changes_after(alice.id, Some(feed[1].id), 1)
        .await
        .unwrap();
    assert_eq!(one, feed[2..3]);
    assert!(
        store
            .user_changes_after(alice.id, Some(last), 100)
            .await
            .unwrap()
            .is_empty()
    );
    // Bob's feed is his own append only.
    let bobs = store.user_changes_after(bob.id, None, 100).await.unwrap();
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0].mailbox, bobs_inbox.id);

    // A deleted mailbox takes its entries along; what comes later still follows `last`.
    store.delete_mailbox(alice.id, "Work").await.unwrap();
    let third = store
        .append(inbox.id, &sample_message(4), &nothing, None)
        .await
        .unwrap();
    let later = store
        .user_changes_after(alice.id, Some(last), 100)
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(
        (later[0].mailbox, later[0].change.uid, &later[0].change.kind),
        (inbox.id, third.uid, &ChangeKind::Exists)
    );
    assert!(later[0].id > last);
    let remaining = store.user_changes_after(alice.id, None, 100).await.unwrap();
    assert!(remaining.iter().all(|entry| entry.mailbox == inbox.id));
    assert_eq!(remaining.len(), 3);
}
