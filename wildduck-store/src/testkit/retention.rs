//! Conformance checks of mailbox settings, message expiry and the users' stored files.

use crate::NewFile;
use crate::backend::now;
use crate::error::*;
use crate::model::*;
use crate::store::Store;

use super::{body, inbox, sample_message, user};

/// A mailbox keeps `hidden` and `retention`; a message arriving there (append, copy, move)
/// expires `retention` later, one moved out keeps none; the sweep takes only what expired,
/// through the expunge path (journal entry, quota credited); the API's own expiry is kept.
pub async fn mailbox_retention(store: Store) {
    let u = user(&store, "keeper").await;
    let inbox = inbox(&store, &u).await;
    let settings = MailboxSettings {
        hidden: true,
        retention: Some(10_000),
    };
    let short = store
        .create_mailbox_with_settings(u.id, "Lists/Short", settings)
        .await
        .unwrap();
    assert_eq!((short.hidden, short.retention), (true, Some(10_000)));
    let paths: Vec<String> = store
        .list_mailboxes(u.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.path)
        .collect();
    assert!(paths.contains(&"Lists/Short".to_string()));
    assert!(!paths.contains(&"Lists".to_string()), "no parent is made");
    let found = store.get_mailbox_by_id(short.id).await.unwrap();
    assert_eq!((found.hidden, found.retention), (true, Some(10_000)));

    let start = now();
    let raw = sample_message(7);
    let size = raw.len() as u64;
    store
        .append(short.id, &raw, &Flags::new(), None)
        .await
        .unwrap();
    store
        .append(inbox.id, &raw, &Flags::new(), None)
        .await
        .unwrap();
    store
        .append(inbox.id, &raw, &Flags::new(), None)
        .await
        .unwrap();
    // Inbox 1 is copied in (expires), inbox 2 is moved in and out again (expires no more).
    store
        .copy(inbox.id, &UidSet::from_ranges([(1, 1)]), short.id)
        .await
        .unwrap();
    let moved = store
        .move_messages(inbox.id, &UidSet::from_ranges([(2, 2)]), short.id)
        .await
        .unwrap();
    let (_, moved_uid) = moved.pairs[0];
    store
        .move_messages(
            short.id,
            &UidSet::from_ranges([(moved_uid, moved_uid)]),
            inbox.id,
        )
        .await
        .unwrap();
    assert_eq!(store.snapshot(short.id).await.unwrap().uids, vec![1, 2]);
    assert_eq!(store.get_user(u.id).await.unwrap().storage_used, 4 * size);

    // Nothing has expired 9 s after the start: retention is 10 s after arrival.
    assert_eq!(store.expunge_expired(start + 9).await.unwrap(), 0);
    let before = store.mailbox_status(short.id).await.unwrap().highest_modseq;
    assert_eq!(store.expunge_expired(start + 3600).await.unwrap(), 2);
    assert!(store.snapshot(short.id).await.unwrap().uids.is_empty());
    let changes = store.changes_since(short.id, before).await.unwrap();
    let expunged: Vec<Uid> = changes
        .changes
        .iter()
        .filter(|c| matches!(c.kind, ChangeKind::Expunge))
        .map(|c| c.uid)
        .collect();
    assert_eq!(expunged, vec![1, 2], "sessions hear the expunges");
    assert_eq!(
        store.get_user(u.id).await.unwrap().storage_used,
        2 * size,
        "quota credited"
    );
    assert_eq!(store.snapshot(inbox.id).await.unwrap().uids.len(), 2);

    // An expiry set on one message (the API's `expires`), then cleared on another.
    let two = UidSet::from_ranges([(1, u32::MAX)]);
    assert_eq!(
        store
            .set_message_expiry(inbox.id, &two, Some(start))
            .await
            .unwrap(),
        2
    );
    let kept = store.snapshot(inbox.id).await.unwrap().uids[1];
    let one = UidSet::from_ranges([(kept, kept)]);
    assert_eq!(
        store
            .set_message_expiry(inbox.id, &one, None)
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.expunge_expired(start).await.unwrap(), 1);
    assert_eq!(store.snapshot(inbox.id).await.unwrap().uids, vec![kept]);
    assert_eq!(body(&store, inbox.id, kept).await, raw);

    // Settings change; a retention of 0 is none; later arrivals follow the new setting.
    store
        .update_mailbox_settings(
            short.id,
            MailboxSettingsUpdate {
                hidden: Some(false),
                retention: Some(Some(0)),
            },
        )
        .await
        .unwrap();
    let found = store.get_mailbox_by_id(short.id).await.unwrap();
    assert_eq!((found.hidden, found.retention), (false, None));
    store
        .append(short.id, &raw, &Flags::new(), None)
        .await
        .unwrap();
    assert_eq!(store.expunge_expired(start + 100_000).await.unwrap(), 0);
    assert_eq!(
        store
            .update_mailbox_settings(MailboxId::new(), MailboxSettingsUpdate::default())
            .await
            .unwrap_err(),
        Error::Mailbox(MailboxError::NotFound)
    );
    let report = store.verify(false).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

/// Stored files: equal content kept once, read back byte for byte, one user's files out of
/// another's reach, `verify` and `gc` counting file references, files gone with the user.
pub async fn stored_files(store: Store) {
    let owner = user(&store, "filer").await;
    let other = user(&store, "stranger").await;
    let content: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let new = |name: Option<&str>| NewFile {
        filename: name.map(Into::into),
        content_type: None,
        cid: Some("logo@example".into()),
        content: content.clone(),
    };
    let first = store
        .store_file(owner.id, new(Some("b.gif")))
        .await
        .unwrap();
    let second = store
        .store_file(owner.id, new(Some("a.gif")))
        .await
        .unwrap();
    assert_eq!(first.content_type, "image/gif");
    assert_eq!(first.size, content.len() as u64);
    assert_eq!(first.md5.len(), 32);
    assert_eq!(
        store.stats().await.unwrap().blobs,
        1,
        "equal files share a blob"
    );
    let listed = store.list_files(owner.id).await.unwrap();
    let names: Vec<&str> = listed.iter().map(|f| f.filename.as_str()).collect();
    assert_eq!(names, ["a.gif", "b.gif"]);
    assert_eq!(listed[0].cid.as_deref(), Some("logo@example"));
    let (record, bytes) = store.read_file(owner.id, first.id).await.unwrap().unwrap();
    assert_eq!((record, bytes), (first.clone(), content.clone()));
    assert!(store.read_file(other.id, first.id).await.unwrap().is_none());
    assert!(!store.delete_file(other.id, first.id).await.unwrap());
    assert!(store.list_files(other.id).await.unwrap().is_empty());
    assert_eq!(
        store.list_files(UserId::new()).await.unwrap_err(),
        Error::User(UserError::NotFound)
    );
    assert_eq!(
        store
            .store_file(UserId::new(), new(None))
            .await
            .unwrap_err(),
        Error::User(UserError::NotFound)
    );
    let report = store.verify(false).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);

    assert!(store.delete_file(owner.id, first.id).await.unwrap());
    assert!(store.read_file(owner.id, first.id).await.unwrap().is_none());
    assert_eq!(
        store.gc(0).await.unwrap(),
        0,
        "the other file still uses the blob"
    );
    let (_, bytes) = store.read_file(owner.id, second.id).await.unwrap().unwrap();
    assert_eq!(bytes, content);
    store.delete_user(owner.id).await.unwrap();
    assert_eq!(
        store.gc(0).await.unwrap(),
        1,
        "the blob goes with the last file"
    );
    let report = store.verify(false).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}
