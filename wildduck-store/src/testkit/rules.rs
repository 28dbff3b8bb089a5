//! Conformance checks of the delivery rules: filter and autoreply records, and what a
//! delivery does with them (Junk, delete, mailbox, flags, forwards, one autoreply per sender).

use crate::delivery::{Delivered, Delivery};
use crate::error::*;
use crate::filters::*;
use crate::model::*;
use crate::profiles::ForwardTarget;
use crate::store::Store;

use super::user;

async fn add_address(store: &Store, user: &User, address: &str) {
    store.add_address(user.id, address).await.expect("address");
}

fn query_from(text: &str) -> FilterQuery {
    FilterQuery {
        from: Some(text.into()),
        ..FilterQuery::default()
    }
}

fn filter(name: &str, query: FilterQuery, action: FilterAction) -> NewFilter {
    NewFilter {
        name: name.into(),
        query,
        action,
        ..NewFilter::default()
    }
}

/// Delivers `raw` from `sender` to `address`; the one recipient's result.
async fn deliver(store: &Store, sender: &str, address: &str, raw: &str) -> Result<Delivered> {
    let recipient = store.resolve_recipient(address).await.expect("recipient");
    let mut results = store
        .deliver(Delivery {
            return_path: sender,
            recipients: &[recipient],
            raw: raw.as_bytes(),
        })
        .await
        .expect("deliver");
    results.remove(0)
}

async fn mailbox_with(store: &Store, user: &User, special_use: SpecialUse) -> Mailbox {
    store
        .list_mailboxes(user.id)
        .await
        .expect("mailboxes")
        .into_iter()
        .find(|m| m.special_use == Some(special_use))
        .expect("special-use mailbox")
}

async fn stored_in(store: &Store, delivered: Delivered) -> (Mailbox, Flags) {
    let Delivered::Stored { mailbox, outcome } = delivered else {
        panic!("not stored: {delivered:?}");
    };
    let metas = store
        .fetch_meta(
            mailbox,
            &UidSet::from_ranges([(outcome.uid, outcome.uid)]),
            MetaFields::default(),
        )
        .await
        .expect("fetch");
    let mailbox = store.get_mailbox_by_id(mailbox).await.expect("mailbox");
    (mailbox, metas[0].flags.clone())
}

/// Creating, listing, replacing and deleting filters; setting and removing the autoreply;
/// both go with their user.
pub async fn filter_and_autoreply_records(store: Store) {
    let ann = user(&store, "ann").await;
    let bob = user(&store, "bob").await;
    let first = store
        .create_filter(
            ann.id,
            filter(
                "  news  ",
                FilterQuery {
                    subject: Some("  weekly \t news ".into()),
                    to: Some("".into()),
                    ..FilterQuery::default()
                },
                FilterAction {
                    seen: Some(true),
                    targets: vec![ForwardTarget::parse("copy@example.org").unwrap()],
                    ..FilterAction::default()
                },
            ),
        )
        .await
        .expect("create");
    assert_eq!(first.name, "news");
    assert_eq!(first.query.subject.as_deref(), Some("weekly news"));
    assert_eq!(first.query.to, None, "an empty value is no condition");
    let second = store
        .create_filter(
            ann.id,
            filter("b", query_from("x"), FilterAction::default()),
        )
        .await
        .expect("create");
    store
        .create_filter(
            bob.id,
            filter("bob's", query_from("y"), FilterAction::default()),
        )
        .await
        .expect("create");
    let ids = |filters: Vec<Filter>| filters.into_iter().map(|f| f.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list_filters(ann.id).await.unwrap()),
        [first.id, second.id]
    );
    assert_eq!(store.list_all_filters().await.unwrap().len(), 3);
    assert_eq!(store.get_filter(ann.id, first.id).await.unwrap(), first);
    assert_eq!(
        store.get_filter(bob.id, first.id).await,
        Err(RuleError::FilterNotFound.into()),
        "another user's filter is not found"
    );

    // Replacing keeps id, owner and creation time.
    let mut changed = NewFilter::from(first.clone());
    changed.disabled = true;
    changed.meta_data = Some(r#"{"a":1}"#.into());
    let replaced = store
        .replace_filter(ann.id, first.id, changed)
        .await
        .expect("replace");
    assert_eq!(
        (replaced.id, replaced.created, replaced.disabled),
        (first.id, first.created, true)
    );
    assert_eq!(store.get_filter(ann.id, first.id).await.unwrap(), replaced);

    // Bad values change nothing.
    let foreign = mailbox_with(&store, &bob, SpecialUse::Junk).await;
    let bad = [
        (
            filter(
                "x".repeat(256).as_str(),
                FilterQuery::default(),
                FilterAction::default(),
            ),
            "long name",
        ),
        (
            filter(
                "m",
                FilterQuery::default(),
                FilterAction {
                    mailbox: Some(foreign.id),
                    ..FilterAction::default()
                },
            ),
            "another user's mailbox",
        ),
    ];
    for (new, why) in bad {
        assert!(store.create_filter(ann.id, new).await.is_err(), "{why}");
    }
    assert_eq!(store.list_filters(ann.id).await.unwrap().len(), 2);

    assert_eq!(
        store.delete_filter(bob.id, second.id).await,
        Err(RuleError::FilterNotFound.into())
    );
    store
        .delete_filter(ann.id, second.id)
        .await
        .expect("delete");
    assert_eq!(ids(store.list_filters(ann.id).await.unwrap()), [first.id]);

    // The autoreply: created on first change, changed in parts, removed.
    assert_eq!(store.get_autoreply(ann.id).await.unwrap(), None);
    let set = store
        .set_autoreply(
            ann.id,
            AutoreplyUpdate {
                status: Some(true),
                subject: Some(" Away ".into()),
                start: Some(Some(100)),
                ..AutoreplyUpdate::default()
            },
        )
        .await
        .expect("set");
    assert_eq!(
        (set.status, set.subject.as_str(), set.start),
        (true, "Away", Some(100))
    );
    let changed = store
        .set_autoreply(
            ann.id,
            AutoreplyUpdate {
                text: Some("Back Monday".into()),
                start: Some(None),
                ..AutoreplyUpdate::default()
            },
        )
        .await
        .expect("change");
    assert_eq!(changed.id, set.id);
    assert_eq!((changed.subject.as_str(), changed.start), ("Away", None));
    assert_eq!(store.get_autoreply(ann.id).await.unwrap(), Some(changed));
    store.delete_autoreply(ann.id).await.expect("delete");
    assert_eq!(store.get_autoreply(ann.id).await.unwrap(), None);
    assert!(matches!(
        store.get_autoreply(UserId::new()).await,
        Err(Error::User(UserError::NotFound))
    ));

    // Rules go with their user.
    store
        .set_autoreply(ann.id, AutoreplyUpdate::default())
        .await
        .unwrap();
    store.delete_user(ann.id).await.expect("delete user");
    assert_eq!(store.list_all_filters().await.unwrap().len(), 1);
    assert!(matches!(
        store.list_filters(ann.id).await.map(|f| f.len()),
        Ok(0) | Err(Error::User(UserError::NotFound))
    ));
}

/// Where a delivery lands and what it queues, one row per rule.
pub async fn delivery_applies_filters_and_spam(store: Store) {
    let ann = user(&store, "ann").await;
    add_address(&store, &ann, "ann@example.com").await;
    let lists = store
        .create_mailbox(ann.id, "Lists", None)
        .await
        .expect("mailbox");
    let junk = mailbox_with(&store, &ann, SpecialUse::Junk).await;
    let inbox = store.get_mailbox(ann.id, "INBOX").await.unwrap();
    let rules = [
        filter(
            "lists",
            FilterQuery {
                list_id: Some("<news.example.org>".into()),
                ..FilterQuery::default()
            },
            FilterAction {
                mailbox: Some(lists.id),
                seen: Some(true),
                flag: Some(true),
                ..FilterAction::default()
            },
        ),
        filter(
            "drop",
            FilterQuery {
                subject: Some("unwanted".into()),
                ..FilterQuery::default()
            },
            FilterAction {
                delete: Some(true),
                targets: vec![ForwardTarget::parse("archive@example.net").unwrap()],
                ..FilterAction::default()
            },
        ),
        filter(
            "trusted",
            query_from("boss@example.org"),
            FilterAction {
                spam: Some(false),
                ..FilterAction::default()
            },
        ),
        filter(
            "blocked",
            query_from("pest@example.org"),
            FilterAction {
                spam: Some(true),
                ..FilterAction::default()
            },
        ),
        filter(
            "forward big",
            FilterQuery {
                text: Some("invoice".into()),
                ..FilterQuery::default()
            },
            FilterAction {
                targets: vec![ForwardTarget::parse("books@example.net").unwrap()],
                ..FilterAction::default()
            },
        ),
    ];
    for rule in rules {
        store.create_filter(ann.id, rule).await.expect("filter");
    }
    let message = |from: &str, extra: &str, subject: &str, body: &str| {
        format!(
            "From: {from}\r\n{extra}Subject: {subject}\r\nMessage-ID: <{subject}@x>\r\n\r\n{body}\r\n"
        )
    };

    // A list message goes to its folder, seen and flagged.
    let delivered = deliver(
        &store,
        "list@example.org",
        "ann@example.com",
        &message(
            "list@example.org",
            "List-Id: News <news.example.org>\r\n",
            "digest",
            "hi",
        ),
    )
    .await
    .unwrap();
    let (mailbox, flags) = stored_in(&store, delivered).await;
    assert_eq!(mailbox.id, lists.id);
    assert!(flags.contains(&Flag::Seen) && flags.contains(&Flag::Flagged));

    // The scanner's verdict files spam in Junk; a filter's `spam: false` overrides it.
    let spam_header = "X-Spam-Flag: YES\r\n";
    let delivered = deliver(
        &store,
        "x@example.org",
        "ann@example.com",
        &message("x@example.org", spam_header, "cheap", "pills"),
    )
    .await
    .unwrap();
    assert_eq!(stored_in(&store, delivered).await.0.id, junk.id);
    let delivered = deliver(
        &store,
        "boss@example.org",
        "ann@example.com",
        &message(
            "boss@example.org",
            spam_header,
            "plan",
            "see attached invoice",
        ),
    )
    .await
    .unwrap();
    assert_eq!(stored_in(&store, delivered).await.0.id, inbox.id);
    // A filter's `spam: true` files clean mail in Junk.
    let delivered = deliver(
        &store,
        "pest@example.org",
        "ann@example.com",
        &message("pest@example.org", "", "hello", "invoice"),
    )
    .await
    .unwrap();
    assert_eq!(stored_in(&store, delivered).await.0.id, junk.id);

    // Delete: acknowledged, nothing stored, the filter's forward still queued.
    let before = store.mailbox_status(inbox.id).await.unwrap().messages;
    let delivered = deliver(
        &store,
        "x@example.org",
        "ann@example.com",
        &message("x@example.org", "", "unwanted offer", "x"),
    )
    .await
    .unwrap();
    assert_eq!(delivered, Delivered::Dropped);
    assert_eq!(
        store.mailbox_status(inbox.id).await.unwrap().messages,
        before
    );

    // Forwards: the boss's invoice went to books@ (not spam); the pest's did not (spam).
    let queued = store.list_outbound().await.unwrap();
    let mut forwarded: Vec<(String, String)> = queued
        .iter()
        .map(|entry| (entry.recipients[0].address.clone(), entry.sender.clone()))
        .collect();
    forwarded.sort();
    assert_eq!(
        forwarded,
        [
            (
                "archive@example.net".to_string(),
                "x@example.org".to_string()
            ),
            (
                "books@example.net".to_string(),
                "boss@example.org".to_string()
            ),
        ]
    );
    let books = queued
        .iter()
        .find(|e| e.recipients[0].address == "books@example.net")
        .unwrap();
    assert_eq!(
        books.raw,
        format!(
            "Delivered-To: ann@example.com\r\n{}",
            message(
                "boss@example.org",
                spam_header,
                "plan",
                "see attached invoice"
            )
        )
        .as_bytes(),
        "forwarded with this hop's Delivered-To before the bytes as received"
    );
    assert_eq!(books.user, Some(ann.id));
}

/// The autoreply answers once per sender within the interval, never automatic, bulk or
/// spam mail, and only inside its window.
pub async fn delivery_sends_one_autoreply_per_sender(store: Store) {
    let ann = user(&store, "ann").await;
    add_address(&store, &ann, "ann@example.com").await;
    store
        .set_autoreply(
            ann.id,
            AutoreplyUpdate {
                status: Some(true),
                name: Some("Ann".into()),
                subject: Some("Away".into()),
                text: Some("Back on Monday.".into()),
                ..AutoreplyUpdate::default()
            },
        )
        .await
        .unwrap();
    let plain = "From: bob@example.org\r\nSubject: hi\r\nMessage-ID: <1@example.org>\r\n\r\nx\r\n";
    let rows = [
        ("bob@example.org", plain, true),
        // The same sender again within the interval (any case): no second reply.
        ("Bob@Example.org", plain, false),
        ("carol@example.org", plain, true),
        ("", plain, false),
        (
            "dan@example.org",
            "Auto-Submitted: auto-generated\r\nSubject: x\r\n\r\nx\r\n",
            false,
        ),
        (
            "erin@example.org",
            "Precedence: bulk\r\nSubject: x\r\n\r\nx\r\n",
            false,
        ),
        (
            "fay@example.org",
            "List-Unsubscribe: <mailto:u@x>\r\nSubject: x\r\n\r\nx\r\n",
            false,
        ),
        (
            "gus@example.org",
            "X-Spam-Flag: YES\r\nSubject: x\r\n\r\nx\r\n",
            false,
        ),
    ];
    for (sender, raw, replied) in rows {
        let before = store.list_outbound().await.unwrap().len();
        deliver(&store, sender, "ann@example.com", raw)
            .await
            .expect("stored");
        let queued = store.list_outbound().await.unwrap();
        assert_eq!(
            queued.len() - before,
            usize::from(replied),
            "{sender:?} {raw:?}"
        );
        if replied {
            let reply = queued
                .iter()
                .find(|e| e.recipients[0].address.eq_ignore_ascii_case(sender))
                .expect("reply entry");
            assert_eq!(reply.sender, "", "null envelope sender");
            let text = String::from_utf8_lossy(&reply.raw);
            assert!(text.contains("Auto-Submitted: auto-replied\r\n"), "{text}");
            assert!(text.contains("Subject: Auto: Away\r\n"), "{text}");
            assert!(text.contains("From: Ann <ann@example.com>\r\n"), "{text}");
        }
    }

    // Outside its window, or off: no reply.
    for update in [
        AutoreplyUpdate {
            start: Some(Some(i64::MAX / 2)),
            ..AutoreplyUpdate::default()
        },
        AutoreplyUpdate {
            start: Some(None),
            end: Some(Some(1)),
            ..AutoreplyUpdate::default()
        },
        AutoreplyUpdate {
            end: Some(None),
            status: Some(false),
            ..AutoreplyUpdate::default()
        },
    ] {
        store.set_autoreply(ann.id, update.clone()).await.unwrap();
        let before = store.list_outbound().await.unwrap().len();
        deliver(&store, "new@example.org", "ann@example.com", plain)
            .await
            .unwrap();
        assert_eq!(
            store.list_outbound().await.unwrap().len(),
            before,
            "{update:?}"
        );
    }
}

/// The domain access lists of a user's tags decide about spam before the filters (a filter
/// can not take a blocked domain out of Junk); a user's own spam level replaces the store's,
/// and level 100 lets nothing be spam.
pub async fn delivery_applies_domain_access_and_spam_level(store: Store) {
    use crate::domains::AccessAction;

    let ann = user(&store, "ann").await;
    add_address(&store, &ann, "ann@example.com").await;
    let mut profile = store.user_profile(ann.id).await.unwrap();
    profile.tags = vec!["team".into()];
    store.set_user_profile(ann.id, profile).await.unwrap();
    store
        .set_domain_access("TEAM", "blocked.example", AccessAction::Block)
        .await
        .unwrap();
    store
        .set_domain_access("team", "friends.example", AccessAction::Allow)
        .await
        .unwrap();
    store
        .create_filter(
            ann.id,
            filter(
                "trust the pest",
                query_from("pest@blocked.example"),
                FilterAction {
                    spam: Some(false),
                    ..FilterAction::default()
                },
            ),
        )
        .await
        .unwrap();
    let junk = mailbox_with(&store, &ann, SpecialUse::Junk).await;
    let inbox = store.get_mailbox(ann.id, "INBOX").await.unwrap();
    let mailbox_of = |from: &'static str, extra: &'static str| {
        let store = store.clone();
        async move {
            let raw = format!("From: {from}\r\n{extra}Subject: hi\r\n\r\nbody\r\n");
            let delivered = deliver(&store, "bounce@elsewhere.example", "ann@example.com", &raw)
                .await
                .unwrap();
            stored_in(&store, delivered).await.0.id
        }
    };
    let spam_flag = "X-Spam-Flag: YES\r\n";

    assert_eq!(mailbox_of("pest@blocked.example", "").await, junk.id);
    assert_eq!(
        mailbox_of("Someone <x@Blocked.Example>", "").await,
        junk.id,
        "the domain is compared as normalized"
    );
    assert_eq!(
        mailbox_of("x@elsewhere.example", "Sender: y@blocked.example\r\n").await,
        inbox.id,
        "Sender counts only without a From address"
    );
    assert_eq!(mailbox_of("x@friends.example", spam_flag).await, inbox.id);
    assert_eq!(mailbox_of("x@elsewhere.example", spam_flag).await, junk.id);

    // Level 0: everything is spam, unless a list allows it; level 100: nothing is.
    let mut profile = store.user_profile(ann.id).await.unwrap();
    profile.spam_level = Some(0);
    store
        .set_user_profile(ann.id, profile.clone())
        .await
        .unwrap();
    assert_eq!(mailbox_of("x@elsewhere.example", "").await, junk.id);
    assert_eq!(mailbox_of("x@friends.example", "").await, inbox.id);
    profile.spam_level = Some(100);
    store.set_user_profile(ann.id, profile).await.unwrap();
    assert_eq!(mailbox_of("x@blocked.example", spam_flag).await, inbox.id);

    // Without the tag the lists say nothing.
    let bob = user(&store, "bob").await;
    add_address(&store, &bob, "bob@example.com").await;
    let raw = "From: pest@blocked.example\r\nSubject: hi\r\n\r\nbody\r\n";
    let delivered = deliver(&store, "b@x.example", "bob@example.com", raw)
        .await
        .unwrap();
    assert_eq!(stored_in(&store, delivered).await.0.path, "INBOX");
}
