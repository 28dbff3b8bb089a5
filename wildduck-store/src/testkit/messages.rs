//! Conformance checks of messages: append (single and batch), flags, copy and move, quota,
//! expunge and the journal, wake-ups, verify and gc.

use super::*;

/// Create user, append, snapshot, fetch_meta, BODY[], flags, expunge.
pub async fn basic_message_flow(store: Store) {
    let alice = user(&store, "alice").await;
    let inbox = inbox(&store, &alice).await;
    let raw = sample_message(1);
    let first = store
        .append(inbox.id, &raw, &flags(&[Flag::Seen]), Some(1_700_000_000))
        .await
        .unwrap();
    assert_eq!(first.uid, 1);
    assert_eq!(first.uidvalidity, inbox.uidvalidity);
    assert_eq!(first.size, raw.len() as u64);
    let second = store
        .append(inbox.id, &sample_message(2), &Flags::new(), None)
        .await
        .unwrap();
    assert_eq!(second.uid, 2);
    assert!(second.modseq > first.modseq);

    let snap = store.snapshot(inbox.id).await.unwrap();
    assert_eq!(snap.uids, vec![1, 2]);
    assert_eq!(snap.uidnext, 3);
    assert_eq!(snap.highest_modseq, second.modseq);

    let meta = store
        .fetch_meta(inbox.id, &UidSet::all(), MetaFields::default())
        .await
        .unwrap();
    assert_eq!(meta.len(), 2);
    assert_eq!(meta[0].uid, 1);
    assert_eq!(meta[0].flags, flags(&[Flag::Seen]));
    assert_eq!(meta[0].internal_date, 1_700_000_000);
    assert_eq!(meta[0].size, raw.len() as u64);
    assert_eq!(meta[0].id, first.id);
    assert!(meta[0].envelope.is_none() && meta[0].body_structure.is_none());
    let with_envelope = store
        .fetch_meta(
            inbox.id,
            &UidSet::from_ranges([(2, 2)]),
            MetaFields {
                envelope: true,
                body_structure: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(with_envelope.len(), 1);
    assert!(with_envelope[0].envelope.is_some() && with_envelope[0].body_structure.is_some());

    assert_eq!(body(&store, inbox.id, 1).await, raw);
    assert_eq!(
        store
            .read_section(inbox.id, 9, &Section::full(), None)
            .await
            .unwrap_err(),
        Error::Message(MessageError::NotFound)
    );

    let status = store.mailbox_status(inbox.id).await.unwrap();
    assert_eq!(status.messages, 2);
    assert_eq!(status.unseen, 1);
    assert_eq!(status.uidnext, 3);
    assert_eq!(
        status.size,
        raw.len() as u64 + sample_message(2).len() as u64
    );

    let stored = store
        .store_flags(
            inbox.id,
            &UidSet::all(),
            FlagOp::Add,
            &flags(&[Flag::Deleted]),
            None,
        )
        .await
        .unwrap();
    let flag_modseq = stored.modseq.expect("flags changed");
    assert!(flag_modseq > second.modseq);
    assert_eq!(stored.updated.len(), 2);
    assert!(stored.updated.iter().all(|(_, _, m)| *m == flag_modseq));

    let gone = store
        .expunge(inbox.id, Some(&UidSet::from_ranges([(1, 1)])))
        .await
        .unwrap();
    assert_eq!(gone.uids, vec![1]);
    assert!(gone.modseq.unwrap() > flag_modseq);
    assert_eq!(store.snapshot(inbox.id).await.unwrap().uids, vec![2]);
    let user_after = store.get_user(alice.id).await.unwrap();
    assert_eq!(user_after.storage_used, sample_message(2).len() as u64);
    let next = store
        .append(inbox.id, &raw, &Flags::new(), None)
        .await
        .unwrap();
    assert_eq!(next.uid, 3, "UIDs are never reused");
}

pub async fn flags_and_unchangedsince(store: Store) {
    let u = user(&store, "flagger").await;
    let inbox = inbox(&store, &u).await;
    for n in 0..3 {
        store
            .append(inbox.id, &sample_message(n), &Flags::new(), None)
            .await
            .unwrap();
    }
    let kw = Flag::Keyword("$Label1".into());
    let out = store
        .store_flags(
            inbox.id,
            &UidSet::from_ranges([(1, 2)]),
            FlagOp::Add,
            &flags(&[Flag::Seen, kw.clone()]),
            None,
        )
        .await
        .unwrap();
    let m1 = out.modseq.unwrap();
    assert_eq!(
        out.updated,
        vec![
            (1, flags(&[Flag::Seen, kw.clone()]), m1),
            (2, flags(&[Flag::Seen, kw.clone()]), m1)
        ]
    );
    // Nothing changes: no MODSEQ, but the messages are still reported.
    let same = store
        .store_flags(
            inbox.id,
            &UidSet::from_ranges([(1, 1)]),
            FlagOp::Add,
            &flags(&[Flag::Seen]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(same.modseq, None);
    assert_eq!(
        same.updated,
        vec![(1, flags(&[Flag::Seen, kw.clone()]), m1)]
    );
    assert_eq!(store.snapshot(inbox.id).await.unwrap().highest_modseq, m1);

    let status = store.mailbox_status(inbox.id).await.unwrap();
    assert_eq!(status.unseen, 1);

    let cond = store
        .store_flags(
            inbox.id,
            &UidSet::all(),
            FlagOp::Replace,
            &flags(&[Flag::Answered]),
            Some(m1 - 1),
        )
        .await
        .unwrap();
    assert_eq!(cond.modified, vec![1, 2]);
    let m2 = cond.modseq.unwrap();
    assert_eq!(cond.updated, vec![(3, flags(&[Flag::Answered]), m2)]);

    let removed = store
        .store_flags(
            inbox.id,
            &UidSet::from_ranges([(1, 1)]),
            FlagOp::Remove,
            &flags(std::slice::from_ref(&kw)),
            Some(m2),
        )
        .await
        .unwrap();
    assert!(removed.modified.is_empty());
    assert_eq!(removed.updated[0].1, flags(&[Flag::Seen]));

    for bad in ["", "two words", "\\Recent", "paren(", "ctl\u{1}", "star*"] {
        let result = store
            .store_flags(
                inbox.id,
                &UidSet::all(),
                FlagOp::Add,
                &flags(&[Flag::Keyword(bad.into())]),
                None,
            )
            .await;
        assert!(
            matches!(result, Err(Error::Message(MessageError::InvalidFlag(_)))),
            "{bad:?}"
        );
    }
    let meta = store
        .fetch_meta(inbox.id, &UidSet::all(), MetaFields::default())
        .await
        .unwrap();
    assert_eq!(meta[0].flags, flags(&[Flag::Seen]));
    assert_eq!(meta[1].flags, flags(&[Flag::Seen, kw]));
    assert_eq!(meta[2].flags, flags(&[Flag::Answered]));
    let none = store
        .store_flags(
            inbox.id,
            &UidSet::from_ranges([(50, 60)]),
            FlagOp::Add,
            &flags(&[Flag::Seen]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(none.modseq, None);
    assert!(none.updated.is_empty());
}

/// Copy shares content and keeps flags; move is atomic and journals both sides.
pub async fn copy_and_move(store: Store) {
    let u = user(&store, "mover").await;
    let inbox = inbox(&store, &u).await;
    let trash = store.get_mailbox(u.id, "Trash").await.unwrap();
    for n in 0..4 {
        store
            .append(inbox.id, &sample_message(n), &flags(&[Flag::Seen]), None)
            .await
            .unwrap();
    }
    let blobs_before = store.stats().await.unwrap().blobs;
    let copied = store
        .copy(inbox.id, &UidSet::from_ranges([(2, 3), (9, 12)]), trash.id)
        .await
        .unwrap();
    assert_eq!(copied.pairs, vec![(2, 1), (3, 2)]);
    assert_eq!(copied.uidvalidity, trash.uidvalidity);
    assert_eq!(
        store.stats().await.unwrap().blobs,
        blobs_before,
        "content shared"
    );
    assert_eq!(body(&store, trash.id, 2).await, sample_message(2));
    let copied_meta = store
        .fetch_meta(trash.id, &UidSet::all(), MetaFields::default())
        .await
        .unwrap();
    assert!(copied_meta.iter().all(|m| m.flags == flags(&[Flag::Seen])));
    let total: u64 = (0..4).map(|n| sample_message(n).len() as u64).sum();
    let copies: u64 = (2..4).map(|n| sample_message(n).len() as u64).sum();
    assert_eq!(
        store.get_user(u.id).await.unwrap().storage_used,
        total + copies
    );

    let inbox_modseq = store.snapshot(inbox.id).await.unwrap().highest_modseq;
    let moved = store
        .move_messages(inbox.id, &UidSet::from_ranges([(1, 1), (4, 4)]), trash.id)
        .await
        .unwrap();
    assert_eq!(moved.pairs, vec![(1, 3), (4, 4)]);
    assert_eq!(store.snapshot(inbox.id).await.unwrap().uids, vec![2, 3]);
    assert_eq!(
        store.snapshot(trash.id).await.unwrap().uids,
        vec![1, 2, 3, 4]
    );
    assert_eq!(body(&store, trash.id, 4).await, sample_message(3));
    assert_eq!(
        store.get_user(u.id).await.unwrap().storage_used,
        total + copies,
        "moving within a user does not change quota"
    );
    let inbox_changes = store.changes_since(inbox.id, inbox_modseq).await.unwrap();
    let expunged: Vec<Uid> = inbox_changes
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Expunge)
        .map(|c| c.uid)
        .collect();
    assert_eq!(expunged, vec![1, 4]);
    let nothing = store
        .copy(inbox.id, &UidSet::from_ranges([(100, 200)]), trash.id)
        .await
        .unwrap();
    assert!(nothing.pairs.is_empty() && nothing.modseq.is_none());
    assert_eq!(
        store
            .copy(inbox.id, &UidSet::all(), MailboxId::new())
            .await
            .unwrap_err(),
        Error::Mailbox(MailboxError::NotFound)
    );
    assert_eq!(store.snapshot(inbox.id).await.unwrap().uids, vec![2, 3]);
    let report = store.verify(false).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

/// A message's save date (IMAP SAVEDATE, RFC 8514) is when it entered its mailbox: an
/// append's time, and for a copy or a move the time of the copy, not the original's; SEARCH
/// SAVEDBEFORE/SAVEDSINCE read it.
pub async fn save_dates_follow_copies_and_moves(store: Store) {
    let u = user(&store, "savedates").await;
    let inbox = inbox(&store, &u).await;
    let trash = store.get_mailbox(u.id, "Trash").await.unwrap();
    let before_append = crate::backend::now();
    for n in 0..2 {
        store
            .append(inbox.id, &sample_message(n), &Flags::new(), Some(1_000_000))
            .await
            .unwrap();
    }
    let saved = |mailbox: MailboxId| {
        let store = store.clone();
        async move {
            let all = UidSet::all();
            let metas = store.fetch_meta(mailbox, &all, MetaFields::default());
            let metas = metas.await.unwrap();
            metas
                .iter()
                .map(|m| m.saved.expect("a save date"))
                .collect::<Vec<_>>()
        }
    };
    let appended = saved(inbox.id).await;
    assert!(
        appended
            .iter()
            .all(|&t| t >= before_append && t <= crate::backend::now())
    );
    // A later second, so a copy's save date can be told from the original's.
    while crate::backend::now() <= appended[1] {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let before_copy = crate::backend::now();
    store
        .copy(inbox.id, &UidSet::from_ranges([(1, 1)]), trash.id)
        .await
        .unwrap();
    store
        .move_messages(inbox.id, &UidSet::from_ranges([(2, 2)]), trash.id)
        .await
        .unwrap();
    let in_trash = saved(trash.id).await;
    assert!(in_trash.iter().all(|&t| t >= before_copy), "{in_trash:?}");
    assert_eq!(
        saved(inbox.id).await,
        vec![appended[0]],
        "the original keeps its own"
    );
    let search = |mailbox: MailboxId, key: SearchKey| {
        let store = store.clone();
        async move { store.search(mailbox, &key).await.unwrap() }
    };
    assert_eq!(
        search(trash.id, SearchKey::SavedSince(before_copy)).await,
        [1, 2]
    );
    assert!(
        search(trash.id, SearchKey::SavedBefore(before_copy))
            .await
            .is_empty()
    );
    assert_eq!(
        search(inbox.id, SearchKey::SavedBefore(before_copy)).await,
        [1]
    );
    // Not the internal date, which the append set far in the past.
    assert!(
        search(inbox.id, SearchKey::SavedBefore(1_000_001))
            .await
            .is_empty()
    );
}

/// A message's email id (IMAP EMAILID, RFC 8474) is its id when first stored; copies, moves
/// and copies of those keep it, and SEARCH finds the message by it wherever it is.
pub async fn email_ids_follow_copies(store: Store) {
    let u = user(&store, "emailids").await;
    let inbox = inbox(&store, &u).await;
    let trash = store.get_mailbox(u.id, "Trash").await.unwrap();
    let junk = store.get_mailbox(u.id, "Junk").await.unwrap();
    let mut stored = Vec::new();
    for n in 0..2 {
        let appended = store
            .append(inbox.id, &sample_message(n), &Flags::new(), None)
            .await
            .unwrap();
        stored.push(appended.id);
    }
    let ids = |mailbox: MailboxId| {
        let store = store.clone();
        async move {
            let all = UidSet::all();
            let metas = store.fetch_meta(mailbox, &all, MetaFields::default()).await;
            metas
                .unwrap()
                .into_iter()
                .map(|m| (m.uid, m.id, m.email_id))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        ids(inbox.id).await,
        vec![(1, stored[0], stored[0]), (2, stored[1], stored[1])]
    );
    assert_ne!(stored[0], stored[1]);
    store
        .copy(inbox.id, &UidSet::from_ranges([(1, 1)]), trash.id)
        .await
        .unwrap();
    store
        .move_messages(inbox.id, &UidSet::from_ranges([(2, 2)]), trash.id)
        .await
        .unwrap();
    let in_trash = ids(trash.id).await;
    assert_ne!(in_trash[0].1, stored[0], "a copy is a record of its own");
    assert_eq!(
        in_trash.iter().map(|m| (m.0, m.2)).collect::<Vec<_>>(),
        vec![(1, stored[0]), (2, stored[1])]
    );
    store.copy(trash.id, &UidSet::all(), junk.id).await.unwrap();
    let in_junk: Vec<MessageId> = ids(junk.id).await.iter().map(|m| m.2).collect();
    assert_eq!(in_junk, stored, "copies of copies and of moved messages");
    let search = |mailbox: MailboxId, key: SearchKey| {
        let store = store.clone();
        async move { store.search(mailbox, &key).await.unwrap() }
    };
    assert_eq!(
        search(junk.id, SearchKey::EmailId(stored[1])).await,
        vec![2]
    );
    assert_eq!(
        search(trash.id, SearchKey::EmailId(stored[0])).await,
        vec![1]
    );
    assert!(
        search(inbox.id, SearchKey::EmailId(stored[1]))
            .await
            .is_empty()
    );
    assert!(
        search(junk.id, SearchKey::EmailId(MessageId::new()))
            .await
            .is_empty()
    );
    // With a text key beside it, the id is also tested on the rows text search reads.
    let with_text = SearchKey::And(vec![
        SearchKey::EmailId(stored[0]),
        SearchKey::Text("body 0".into()),
    ]);
    assert_eq!(search(junk.id, with_text).await, vec![1]);
    let either = SearchKey::Or(
        Box::new(SearchKey::EmailId(stored[1])),
        Box::new(SearchKey::Text("body 0".into())),
    );
    assert_eq!(search(junk.id, either).await, vec![1, 2]);
}

/// A batch stores what the same appends one by one store: UIDs in order, MODSEQs, journal,
/// flags, dates, analysis, bytes and quota; one wake-up with the last MODSEQ.
pub async fn append_batch_matches_appends(store: Store) {
    let single = user(&store, "single").await;
    let batched = user(&store, "batched").await;
    let single_inbox = inbox(&store, &single).await;
    let batched_inbox = inbox(&store, &batched).await;
    let raws: Vec<Vec<u8>> = (1..=5).map(sample_message).collect();
    let flag_sets = [
        flags(&[Flag::Seen]),
        Flags::new(),
        flags(&[Flag::Flagged, Flag::Keyword("$label1".into())]),
        flags(&[Flag::Deleted]),
        Flags::new(),
    ];
    let items: Vec<AppendItem> = raws
        .iter()
        .zip(&flag_sets)
        .enumerate()
        .map(|(i, (raw, flags))| AppendItem {
            raw,
            flags,
            internal_date: Some(1_700_000_000 + i as i64),
        })
        .collect();
    let mut appended = Vec::new();
    for item in &items {
        appended.push(
            store
                .append(single_inbox.id, item.raw, item.flags, item.internal_date)
                .await
                .unwrap(),
        );
    }
    let mut rx = store.subscribe(batched.id);
    let batch = store.append_batch(batched_inbox.id, &items).await.unwrap();
    assert!(batch.stopped.is_none());
    let wake = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .expect("a wake-up")
        .unwrap();
    let last = batch.stored.last().expect("five stored");
    assert_eq!(wake, (batched_inbox.id, last.modseq));

    let key = |o: &AppendOutcome| (o.uid, o.modseq, o.size);
    assert_eq!(
        batch.stored.iter().map(key).collect::<Vec<_>>(),
        appended.iter().map(key).collect::<Vec<_>>()
    );
    assert_eq!(
        batch.stored.iter().map(|o| o.uid).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    let fields = MetaFields {
        envelope: true,
        body_structure: true,
    };
    let single_meta = store
        .fetch_meta(single_inbox.id, &UidSet::all(), fields)
        .await
        .unwrap();
    let batched_meta = store
        .fetch_meta(batched_inbox.id, &UidSet::all(), fields)
        .await
        .unwrap();
    assert_eq!(batched_meta.len(), 5);
    for ((one, other), outcome) in single_meta.iter().zip(&batched_meta).zip(&batch.stored) {
        assert_eq!(other.id, outcome.id);
        assert_eq!(
            (
                one.uid,
                one.modseq,
                &one.flags,
                one.internal_date,
                one.header_date,
                one.size
            ),
            (
                other.uid,
                other.modseq,
                &other.flags,
                other.internal_date,
                other.header_date,
                other.size
            )
        );
        assert_eq!(one.envelope, other.envelope);
        assert_eq!(one.body_structure, other.body_structure);
        assert_eq!(
            body(&store, batched_inbox.id, other.uid).await,
            raws[other.uid as usize - 1]
        );
    }
    assert_eq!(
        store
            .changes_since(single_inbox.id, 0)
            .await
            .unwrap()
            .changes,
        store
            .changes_since(batched_inbox.id, 0)
            .await
            .unwrap()
            .changes
    );
    let single_snap = store.snapshot(single_inbox.id).await.unwrap();
    let batched_snap = store.snapshot(batched_inbox.id).await.unwrap();
    assert_eq!(
        (batched_snap.uidnext, batched_snap.highest_modseq),
        (single_snap.uidnext, single_snap.highest_modseq)
    );
    assert_eq!(
        store.get_user(batched.id).await.unwrap().storage_used,
        store.get_user(single.id).await.unwrap().storage_used
    );
    assert_eq!(
        store
            .search(batched_inbox.id, &SearchKey::Body("body 3".into()))
            .await
            .unwrap(),
        vec![3]
    );

    let empty = store.append_batch(batched_inbox.id, &[]).await.unwrap();
    assert!(empty.stored.is_empty() && empty.stopped.is_none());
}

/// A batch stops at the first message that does not fit the quota or is refused: the ones
/// before it are stored, it and the rest are not.
pub async fn append_batch_stops_where_a_message_fails(store: Store) {
    let u = user(&store, "batchquota").await;
    let inbox = inbox(&store, &u).await;
    let size = sample_message(1).len() as u64;
    store
        .set_quota(u.id, Some(size * 2 + size / 2))
        .await
        .unwrap();
    let raws: Vec<Vec<u8>> = (1..=4).map(sample_message).collect();
    let no_flags = Flags::new();
    let items: Vec<AppendItem> = raws
        .iter()
        .map(|raw| AppendItem {
            raw,
            flags: &no_flags,
            internal_date: None,
        })
        .collect();
    let outcome = store.append_batch(inbox.id, &items).await.unwrap();
    assert_eq!(
        outcome.stored.iter().map(|o| o.uid).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert!(matches!(
        outcome.stopped,
        Some(Error::Message(MessageError::OverQuota { used, needed, .. })) if used == 2 * size && needed == size
    ));
    let snap = store.snapshot(inbox.id).await.unwrap();
    assert_eq!(snap.uids, vec![1, 2]);
    assert_eq!(snap.uidnext, 3);
    assert_eq!(snap.highest_modseq, outcome.stored[1].modseq);
    assert_eq!(store.get_user(u.id).await.unwrap().storage_used, 2 * size);
    assert_eq!(
        store
            .changes_since(inbox.id, 0)
            .await
            .unwrap()
            .changes
            .len(),
        2
    );

    // A refused flag ends the batch the same way, before anything after it is tried.
    store.set_quota(u.id, None).await.unwrap();
    let bad = flags(&[Flag::Keyword("bad keyword".into())]);
    let mixed = [
        items[2],
        AppendItem {
            flags: &bad,
            ..items[3]
        },
        items[0],
    ];
    let outcome = store.append_batch(inbox.id, &mixed).await.unwrap();
    assert_eq!(
        outcome.stored.iter().map(|o| o.uid).collect::<Vec<_>>(),
        vec![3]
    );
    assert!(matches!(
        outcome.stopped,
        Some(Error::Message(MessageError::InvalidFlag(_)))
    ));
    assert_eq!(store.snapshot(inbox.id).await.unwrap().uids, vec![1, 2, 3]);
    assert_eq!(store.get_user(u.id).await.unwrap().storage_used, 3 * size);
}

/// `append_all` (IMAP MULTIAPPEND) stores every message with consecutive UIDs, or, when one
/// is refused — over quota only with a later message, a bad flag on the second — none: UIDNEXT,
/// the messages, the journal, the quota and the blobs stay as they were.
pub async fn append_all_stores_all_or_none(store: Store) {
    let u = user(&store, "appendall").await;
    let inbox = inbox(&store, &u).await;
    let size = sample_message(1).len() as u64;
    let raws: Vec<Vec<u8>> = (1..=3).map(sample_message).collect();
    let no_flags = Flags::new();
    let seen = flags(&[Flag::Seen]);
    let items: Vec<AppendItem> = raws
        .iter()
        .map(|raw| AppendItem {
            raw,
            flags: &no_flags,
            internal_date: None,
        })
        .collect();
    assert!(store.append_all(inbox.id, &[]).await.unwrap().is_empty());

    let unchanged = |expected_uids: Vec<Uid>, expected_uidnext: Uid, expected_used: u64| {
        let store = store.clone();
        async move {
            let snap = store.snapshot(inbox.id).await.unwrap();
            assert_eq!(snap.uids, expected_uids);
            assert_eq!(snap.uidnext, expected_uidnext);
            let used = store.get_user(u.id).await.unwrap().storage_used;
            assert_eq!(used, expected_used);
            let changes = store.changes_since(inbox.id, 0).await.unwrap().changes;
            assert_eq!(changes.len(), expected_uids.len());
            let report = store.verify(false).await.unwrap();
            assert!(report.problems.is_empty(), "{:?}", report.problems);
        }
    };
    store
        .set_quota(u.id, Some(size * 2 + size / 2))
        .await
        .unwrap();
    let refused = store.append_all(inbox.id, &items).await.unwrap_err();
    assert!(
        matches!(refused, Error::Message(MessageError::OverQuota { .. })),
        "{refused:?}"
    );
    unchanged(vec![], 1, 0).await;
    store.set_quota(u.id, None).await.unwrap();

    let bad = flags(&[Flag::Keyword("bad keyword".into())]);
    let second_bad = [
        items[0],
        AppendItem {
            flags: &bad,
            ..items[1]
        },
    ];
    let refused = store.append_all(inbox.id, &second_bad).await.unwrap_err();
    assert!(matches!(
        refused,
        Error::Message(MessageError::InvalidFlag(_))
    ));
    unchanged(vec![], 1, 0).await;

    let with_flags = [
        AppendItem {
            flags: &seen,
            internal_date: Some(1_700_000_000),
            ..items[0]
        },
        items[1],
        items[2],
    ];
    let stored = store.append_all(inbox.id, &with_flags).await.unwrap();
    assert_eq!(
        stored.iter().map(|o| o.uid).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(stored.iter().all(|o| o.uidvalidity == inbox.uidvalidity));
    for (n, raw) in raws.iter().enumerate() {
        assert_eq!(&body(&store, inbox.id, n as Uid + 1).await, raw);
    }
    let metas = store
        .fetch_meta(inbox.id, &UidSet::all(), MetaFields::default())
        .await
        .unwrap();
    assert_eq!(metas[0].flags, seen);
    assert_eq!(metas[0].internal_date, 1_700_000_000);
    assert!(metas[1].flags.is_empty());
    unchanged(vec![1, 2, 3], 4, 3 * size).await;

    // A refusal after messages are stored leaves those as they are.
    store.set_quota(u.id, Some(4 * size)).await.unwrap();
    let refused = store.append_all(inbox.id, &items[..2]).await.unwrap_err();
    assert!(matches!(
        refused,
        Error::Message(MessageError::OverQuota { .. })
    ));
    unchanged(vec![1, 2, 3], 4, 3 * size).await;
}

/// Over quota: append, copy fail with OverQuota and change nothing; too big is TooBig.
pub async fn quota(store: Store) {
    let u = user(&store, "quota").await;
    let inbox = inbox(&store, &u).await;
    let drafts = store.get_mailbox(u.id, "Drafts").await.unwrap();
    let size = sample_message(1).len() as u64;
    store
        .set_quota(u.id, Some(size * 2 + size / 2))
        .await
        .unwrap();
    store
        .append(inbox.id, &sample_message(1), &Flags::new(), None)
        .await
        .unwrap();
    store.check_append(inbox.id, size).await.unwrap();
    store
        .append(inbox.id, &sample_message(2), &Flags::new(), None)
        .await
        .unwrap();
    let before = store.snapshot(inbox.id).await.unwrap();
    let over = store
        .append(inbox.id, &sample_message(3), &Flags::new(), None)
        .await
        .unwrap_err();
    assert!(matches!(
        over,
        Error::Message(MessageError::OverQuota { used, needed, .. }) if used == 2 * size && needed == size
    ));
    assert!(matches!(
        store.check_append(inbox.id, size).await,
        Err(Error::Message(MessageError::OverQuota { .. }))
    ));
    assert!(matches!(
        store.copy(inbox.id, &UidSet::all(), drafts.id).await,
        Err(Error::Message(MessageError::OverQuota { .. }))
    ));
    // Moving needs no new space.
    store
        .move_messages(inbox.id, &UidSet::from_ranges([(1, 1)]), drafts.id)
        .await
        .unwrap();
    assert_eq!(store.snapshot(inbox.id).await.unwrap().uids, vec![2]);
    assert_eq!(before.uidnext, 3);
    assert_eq!(store.snapshot(inbox.id).await.unwrap().uidnext, 3);
    assert_eq!(store.get_user(u.id).await.unwrap().storage_used, 2 * size);

    let limit = store.config().max_message_size;
    assert!(matches!(
        store.check_append(inbox.id, limit + 1).await,
        Err(Error::Message(MessageError::TooBig { .. }))
    ));
    store.set_quota(u.id, None).await.unwrap();
    store
        .append(inbox.id, &sample_message(3), &Flags::new(), None)
        .await
        .unwrap();
    assert_eq!(store.get_user(u.id).await.unwrap().storage_used, 3 * size);
    assert_eq!(
        store
            .append(MailboxId::new(), b"x", &Flags::new(), None)
            .await
            .unwrap_err(),
        Error::Mailbox(MailboxError::NotFound)
    );
}

/// Expunge removes only \Deleted (within the set); the journal tells it all in order.
pub async fn expunge_and_journal(store: Store) {
    let u = user(&store, "journal").await;
    let inbox = inbox(&store, &u).await;
    let start = store.snapshot(inbox.id).await.unwrap().highest_modseq;
    let mut appended = Vec::new();
    for n in 0..5 {
        appended.push(
            store
                .append(inbox.id, &sample_message(n), &Flags::new(), None)
                .await
                .unwrap(),
        );
    }
    let flagged = store
        .store_flags(
            inbox.id,
            &UidSet::from_ranges([(2, 4)]),
            FlagOp::Add,
            &flags(&[Flag::Deleted]),
            None,
        )
        .await
        .unwrap();
    let partial = store
        .expunge(inbox.id, Some(&UidSet::from_ranges([(1, 2)])))
        .await
        .unwrap();
    assert_eq!(partial.uids, vec![2]);
    let rest = store.expunge(inbox.id, None).await.unwrap();
    assert_eq!(rest.uids, vec![3, 4]);
    let empty = store.expunge(inbox.id, None).await.unwrap();
    assert!(empty.uids.is_empty() && empty.modseq.is_none());

    let changes = store.changes_since(inbox.id, start).await.unwrap();
    assert!(!changes.truncated);
    let mut expected: Vec<Change> = appended
        .iter()
        .map(|a| Change {
            modseq: a.modseq,
            uid: a.uid,
            kind: ChangeKind::Exists,
        })
        .collect();
    let m = flagged.modseq.unwrap();
    for uid in 2..=4 {
        expected.push(Change {
            modseq: m,
            uid,
            kind: ChangeKind::Flags(flags(&[Flag::Deleted])),
        });
    }
    expected.push(Change {
        modseq: partial.modseq.unwrap(),
        uid: 2,
        kind: ChangeKind::Expunge,
    });
    for uid in [3, 4] {
        expected.push(Change {
            modseq: rest.modseq.unwrap(),
            uid,
            kind: ChangeKind::Expunge,
        });
    }
    assert_eq!(changes.changes, expected);
    assert_eq!(changes.highest_modseq, rest.modseq.unwrap());
    let later = store.changes_since(inbox.id, m).await.unwrap();
    assert_eq!(later.changes.len(), 3);
    assert!(
        store
            .changes_since(inbox.id, changes.highest_modseq)
            .await
            .unwrap()
            .changes
            .is_empty()
    );
    assert_eq!(store.snapshot(inbox.id).await.unwrap().uids, vec![1, 5]);
}

/// Subscribers hear about committed changes of their own mailboxes only.
pub async fn notifications(store: Store) {
    let u = user(&store, "listener").await;
    let other = user(&store, "other").await;
    let inbox = inbox(&store, &u).await;
    let other_inbox = store.get_mailbox(other.id, "INBOX").await.unwrap();
    let mut rx = store.subscribe(u.id);
    let appended = store
        .append(inbox.id, &sample_message(1), &Flags::new(), None)
        .await
        .unwrap();
    store
        .append(other_inbox.id, &sample_message(1), &Flags::new(), None)
        .await
        .unwrap();
    let wake = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .expect("a wake-up")
        .unwrap();
    assert_eq!(wake, (inbox.id, appended.modseq));
    // The change is visible once the wake-up arrives.
    assert_eq!(
        store.snapshot(inbox.id).await.unwrap().highest_modseq,
        appended.modseq
    );
    let flagged = store
        .store_flags(
            inbox.id,
            &UidSet::all(),
            FlagOp::Add,
            &flags(&[Flag::Seen]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        rx.recv().await.unwrap(),
        (inbox.id, flagged.modseq.unwrap())
    );
    assert!(
        rx.try_recv().is_err(),
        "no wake-up for other users' changes"
    );
}

/// verify finds nothing on a consistent store; gc keeps blobs within the grace period.
pub async fn verify_and_gc(store: Store) {
    let u = user(&store, "verifier").await;
    let inbox = inbox(&store, &u).await;
    store
        .append(inbox.id, &sample_message(1), &flags(&[Flag::Deleted]), None)
        .await
        .unwrap();
    store
        .copy(inbox.id, &UidSet::all(), inbox.id)
        .await
        .unwrap();
    let report = store.verify(false).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(!report.repaired);
    store.expunge(inbox.id, None).await.unwrap();
    assert_eq!(store.gc(3600).await.unwrap(), 0, "grace period protects it");
    assert_eq!(store.stats().await.unwrap().blobs, 1);
    assert_eq!(store.gc(0).await.unwrap(), 1);
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.messages, stats.blobs, stats.raw_bytes), (0, 0, 0));
    assert!(store.verify(true).await.unwrap().problems.is_empty());
}
