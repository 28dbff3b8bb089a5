//! Conformance checks of the mailbox tree, names, SELECT and the per-mailbox state
//! (keywords, \Recent).

use super::*;

/// Create with parents, rename with children (UIDVALIDITY kept), delete rules, subscribe.
pub async fn mailbox_hierarchy(store: Store) {
    let u = user(&store, "hier").await;
    let leaf = store
        .create_mailbox(u.id, "Work/Projects/Rust", None)
        .await
        .unwrap();
    for parent in ["Work", "Work/Projects"] {
        store.get_mailbox(u.id, parent).await.unwrap();
    }
    assert_eq!(
        store
            .create_mailbox(u.id, "Work/Projects", None)
            .await
            .unwrap_err(),
        Error::Mailbox(MailboxError::AlreadyExists)
    );
    assert_eq!(
        store.create_mailbox(u.id, "inbox", None).await.unwrap_err(),
        Error::Mailbox(MailboxError::AlreadyExists)
    );
    let archive = store
        .create_mailbox(u.id, "Old Stuff", Some(SpecialUse::Archive))
        .await
        .unwrap();
    assert_eq!(archive.special_use, Some(SpecialUse::Archive));
    store
        .append(leaf.id, &sample_message(1), &Flags::new(), None)
        .await
        .unwrap();

    store
        .rename_mailbox(u.id, "Work", "Job/2024")
        .await
        .unwrap();
    assert_eq!(
        store.get_mailbox(u.id, "Work").await.unwrap_err(),
        Error::Mailbox(MailboxError::NotFound)
    );
    let moved = store
        .get_mailbox(u.id, "Job/2024/Projects/Rust")
        .await
        .unwrap();
    assert_eq!(moved.id, leaf.id);
    assert_eq!(moved.uidvalidity, leaf.uidvalidity);
    assert_eq!(store.snapshot(moved.id).await.unwrap().uids, vec![1]);
    store.get_mailbox(u.id, "Job").await.unwrap();

    assert_eq!(
        store
            .rename_mailbox(u.id, "Job/2024", "Job/2024/Inner")
            .await
            .unwrap_err(),
        Error::Mailbox(MailboxError::InvalidName(
            "can not move a mailbox into itself".into()
        ))
    );
    assert_eq!(
        store
            .rename_mailbox(u.id, "Job", "Drafts")
            .await
            .unwrap_err(),
        Error::Mailbox(MailboxError::AlreadyExists)
    );
    assert_eq!(
        store
            .rename_mailbox(u.id, "Nope", "Other")
            .await
            .unwrap_err(),
        Error::Mailbox(MailboxError::NotFound)
    );
    assert_eq!(
        store
            .rename_mailbox(u.id, "Job", "inbox")
            .await
            .unwrap_err(),
        Error::Mailbox(MailboxError::AlreadyExists)
    );

    // A new mailbox at an old path never gets the old UIDVALIDITY.
    let reborn = store.create_mailbox(u.id, "Work", None).await.unwrap();
    assert!(reborn.uidvalidity > leaf.uidvalidity);

    for protected in ["INBOX", "inbox", "Sent Mail", "Trash", "Old Stuff"] {
        assert!(
            matches!(
                store.delete_mailbox(u.id, protected).await,
                Err(Error::Mailbox(MailboxError::Protected(_)))
            ),
            "{protected}"
        );
    }
    let before = store.get_user(u.id).await.unwrap().storage_used;
    assert!(before > 0);
    store
        .delete_mailbox(u.id, "Job/2024/Projects/Rust")
        .await
        .unwrap();
    assert_eq!(store.get_user(u.id).await.unwrap().storage_used, 0);
    assert_eq!(
        store.get_mailbox_by_id(leaf.id).await.unwrap_err(),
        Error::Mailbox(MailboxError::NotFound)
    );
    assert_eq!(
        store.snapshot(leaf.id).await.unwrap_err(),
        Error::Mailbox(MailboxError::NotFound)
    );
    assert_eq!(
        store
            .delete_mailbox(u.id, "Job/2024/Projects/Rust")
            .await
            .unwrap_err(),
        Error::Mailbox(MailboxError::NotFound)
    );

    store.set_subscribed(u.id, "Job", false).await.unwrap();
    assert!(!store.get_mailbox(u.id, "Job").await.unwrap().subscribed);
    store.set_subscribed(u.id, "job", true).await.unwrap_err();
    let paths: Vec<String> = store
        .list_mailboxes(u.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.path)
        .collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
}

/// RFC 3501: renaming INBOX moves its messages into a new mailbox; INBOX stays, empty.
pub async fn inbox_rename(store: Store) {
    let u = user(&store, "inboxer").await;
    let inbox = inbox(&store, &u).await;
    store
        .create_mailbox(u.id, "INBOX/Child", None)
        .await
        .unwrap();
    for n in 0..3 {
        store
            .append(inbox.id, &sample_message(n), &flags(&[Flag::Flagged]), None)
            .await
            .unwrap();
    }
    let used = store.get_user(u.id).await.unwrap().storage_used;
    store
        .rename_mailbox(u.id, "Inbox", "Old Inbox")
        .await
        .unwrap();
    let old = store.get_mailbox(u.id, "Old Inbox").await.unwrap();
    assert_ne!(old.uidvalidity, inbox.uidvalidity);
    assert_eq!(store.snapshot(old.id).await.unwrap().uids, vec![1, 2, 3]);
    assert_eq!(body(&store, old.id, 2).await, sample_message(1));
    let meta = store
        .fetch_meta(old.id, &UidSet::all(), MetaFields::default())
        .await
        .unwrap();
    assert!(meta.iter().all(|m| m.flags == flags(&[Flag::Flagged])));
    let inbox_now = store.get_mailbox(u.id, "INBOX").await.unwrap();
    assert_eq!(inbox_now.id, inbox.id);
    assert_eq!(inbox_now.uidvalidity, inbox.uidvalidity);
    assert!(store.snapshot(inbox.id).await.unwrap().uids.is_empty());
    assert_eq!(inbox_now.uidnext, 4, "INBOX keeps its UID counter");
    store.get_mailbox(u.id, "INBOX/Child").await.unwrap();
    assert_eq!(store.get_user(u.id).await.unwrap().storage_used, used);
}

/// Bad names are typed errors and leave every mailbox as it was.
pub async fn bad_mailbox_names_change_nothing(store: Store) {
    let u = user(&store, "names").await;
    store.create_mailbox(u.id, "Keep/Me", None).await.unwrap();
    let before = store.list_mailboxes(u.id).await.unwrap();
    let long = "n".repeat(2000);
    let long_segment = format!("a/{}", "s".repeat(300));
    let bad: Vec<&str> = vec![
        "",
        "/",
        "/Keep",
        "Keep/",
        "Keep//Me",
        "..",
        "Keep/..",
        "Keep/../../etc",
        "./x",
        "a\0b",
        "a\nb",
        "a\rb",
        "bell\u{7}",
        &long,
        &long_segment,
    ];
    for name in &bad {
        let invalid =
            |r: Result<()>| matches!(r, Err(Error::Mailbox(MailboxError::InvalidName(_))));
        assert!(
            invalid(store.create_mailbox(u.id, name, None).await.map(|_| ())),
            "create {name:?}"
        );
        assert!(
            invalid(store.rename_mailbox(u.id, "Keep", name).await),
            "rename to {name:?}"
        );
        assert!(
            invalid(store.rename_mailbox(u.id, name, "Other").await),
            "rename from {name:?}"
        );
        assert!(
            invalid(store.delete_mailbox(u.id, name).await),
            "delete {name:?}"
        );
        assert!(
            invalid(store.get_mailbox(u.id, name).await.map(|_| ())),
            "get {name:?}"
        );
    }
    assert_eq!(store.list_mailboxes(u.id).await.unwrap(), before);
}

/// Flags: add/remove/replace, keywords, UNCHANGEDSINCE with the failed list.
pub async fn select_view(store: Store) {
    let u = user(&store, "selector").await;
    let inbox = inbox(&store, &u).await;
    let empty = store.select_view(inbox.id).await.unwrap();
    assert_eq!(empty.snapshot, store.snapshot(inbox.id).await.unwrap());
    assert!(empty.keywords.is_empty() && empty.first_unseen.is_none());
    let label = |k: &str| Flag::Keyword(k.into());
    let appended = [
        flags(&[Flag::Seen, label("$Label1")]),
        flags(&[Flag::Seen]),
        flags(&[label("Work")]),
        flags(&[label("$Label1"), Flag::Flagged]),
        Flags::new(),
    ];
    for (n, message_flags) in appended.iter().enumerate() {
        store
            .append(inbox.id, &sample_message(n), message_flags, None)
            .await
            .unwrap();
    }
    // A gap in the UIDs, so "first unseen" is a position, not a UID.
    store
        .store_flags(
            inbox.id,
            &UidSet::from_ranges([(1, 1)]),
            FlagOp::Add,
            &flags(&[Flag::Deleted]),
            None,
        )
        .await
        .unwrap();
    store.expunge(inbox.id, None).await.unwrap();
    let view = store.select_view(inbox.id).await.unwrap();
    assert_eq!(view.snapshot, store.snapshot(inbox.id).await.unwrap());
    assert_eq!(view.snapshot.uids, [2, 3, 4, 5]);
    assert_eq!(view.first_unseen, Some(1));
    assert_eq!(
        view.keywords.into_iter().collect::<Vec<_>>(),
        ["$Label1", "Work"]
    );
}

/// A keyword a mailbox's message had stays in its SELECT view once no message has it (so
/// every session lists the same FLAGS), and goes with the mailbox.
pub async fn keywords_outlive_their_messages(store: Store) {
    let u = user(&store, "keywords").await;
    let inbox = inbox(&store, &u).await;
    let label = |k: &str| Flag::Keyword(k.into());
    store
        .append(
            inbox.id,
            &sample_message(0),
            &flags(&[label("Appended")]),
            None,
        )
        .await
        .unwrap();
    let one = UidSet::from_ranges([(1, 1)]);
    for (op, keyword) in [(FlagOp::Add, "$Passing"), (FlagOp::Remove, "$Passing")] {
        store
            .store_flags(inbox.id, &one, op, &flags(&[label(keyword)]), None)
            .await
            .unwrap();
    }
    store
        .store_flags(inbox.id, &one, FlagOp::Replace, &Flags::new(), None)
        .await
        .unwrap();
    let view = store.select_view(inbox.id).await.unwrap();
    assert_eq!(
        view.keywords.into_iter().collect::<Vec<_>>(),
        ["$Passing", "Appended"]
    );

    // Copies may carry any keyword their source had.
    let archive = store
        .create_mailbox(u.id, "Keyword copies", None)
        .await
        .unwrap()
        .id;
    store.copy(inbox.id, &one, archive).await.unwrap();
    let copied = store.select_view(archive).await.unwrap();
    assert_eq!(
        copied.keywords.into_iter().collect::<Vec<_>>(),
        ["$Passing", "Appended"]
    );

    let deleted = store
        .create_mailbox(u.id, "Short lived", None)
        .await
        .unwrap()
        .id;
    store
        .append(deleted, &sample_message(1), &flags(&[label("Gone")]), None)
        .await
        .unwrap();
    store.delete_mailbox(u.id, "Short lived").await.unwrap();
    assert!(store.mailbox_keywords(deleted).await.unwrap().is_empty());
}

/// \Recent: every message is claimed by exactly one of many concurrent claimers, claims
/// never go back, and what nobody claimed is what `unclaimed_recent` lists.
pub async fn recent_claims(store: Store) {
    let u = user(&store, "recent").await;
    let inbox = inbox(&store, &u).await;
    for n in 0..3 {
        store
            .append(inbox.id, &sample_message(n), &Flags::new(), None)
            .await
            .unwrap();
    }
    assert_eq!(store.unclaimed_recent(inbox.id).await.unwrap(), [1, 2, 3]);
    assert_eq!(store.claim_recent(inbox.id, 2).await.unwrap(), 1..=2);
    assert_eq!(store.unclaimed_recent(inbox.id).await.unwrap(), [3]);
    // A claim below the marker wins nothing and lowers nothing.
    assert!(store.claim_recent(inbox.id, 1).await.unwrap().is_empty());
    assert_eq!(store.unclaimed_recent(inbox.id).await.unwrap(), [3]);

    for n in 3..40 {
        store
            .append(inbox.id, &sample_message(n), &Flags::new(), None)
            .await
            .unwrap();
    }
    // Sixteen claims race, each up to its own UID (some repeat, some lie below others).
    let claims = (0..16u32).map(|i| {
        let store = store.clone();
        let up_to = 3 + (i * 7) % 38;
        tokio::spawn(async move { store.claim_recent(inbox.id, up_to).await.unwrap() })
    });
    let mut claimed = Vec::new();
    for claim in claims {
        claimed.extend(claim.await.unwrap());
    }
    claimed.sort_unstable();
    let highest = *claimed.last().unwrap();
    assert_eq!(
        claimed,
        (3..=highest).collect::<Vec<_>>(),
        "each UID exactly once"
    );
    let unclaimed: Vec<Uid> = (highest + 1..=40).collect();
    assert_eq!(store.unclaimed_recent(inbox.id).await.unwrap(), unclaimed);
    assert!(matches!(
        store.claim_recent(MailboxId::new(), 5).await,
        Err(Error::Mailbox(MailboxError::NotFound))
    ));
}
