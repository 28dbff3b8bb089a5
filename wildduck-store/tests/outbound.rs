//! The submission rule and the outbound queue: sender checks, the \Sent copy with Bcc and
//! \Seen, one entry per domain without Bcc, leases that give an entry to one worker, and what
//! an attempt's replies do (delivered, retried with backoff, failed with a notice in the
//! sender's INBOX). On the embedded store, and on MongoDB with the `mongodb` feature.

#[cfg(feature = "mongodb")]
mod servers;

use std::time::Duration;

use wildduck_store::*;

const MESSAGE: &[u8] = b"From: Ann <ann@example.org>\r\n\
To: bob@example.com\r\n\
Bcc: carl@example.net\r\n\
Subject: hello\r\n\
\r\n\
.a line with a dot\r\n";

async fn ann(store: &Store) -> User {
    let user = store
        .create_user(NewUser {
            username: "ann".into(),
            password: "secret".into(),
            quota: None,
            address: Some("ann@example.org".into()),
        })
        .await
        .unwrap();
    store.add_address(user.id, "ann@ann.test").await.unwrap();
    user
}

fn recipients(list: &[&str]) -> Vec<String> {
    list.iter().map(|r| r.to_string()).collect()
}

async fn submit(
    store: &Store,
    user: &User,
    sender: &str,
    to: &[&str],
    raw: &[u8],
) -> Result<Submitted> {
    let recipients = recipients(to);
    store
        .submit(Submission {
            user,
            sender,
            recipients: &recipients,
            raw,
        })
        .await
}

async fn mailbox_messages(store: &Store, mailbox: MailboxId) -> Vec<(Vec<u8>, Flags)> {
    let snapshot = store.snapshot(mailbox).await.unwrap();
    let mut messages = Vec::new();
    for uid in snapshot.uids {
        let body = store
            .read_section(mailbox, uid, &Section::full(), None)
            .await
            .unwrap();
        let meta = store
            .fetch_meta(
                mailbox,
                &UidSet::from_ranges([(uid, uid)]),
                MetaFields::default(),
            )
            .await
            .unwrap();
        messages.push((body.to_vec(), meta[0].flags.clone()));
    }
    messages
}

async fn sent_box(store: &Store, user: &User) -> MailboxId {
    store
        .list_mailboxes(user.id)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.special_use == Some(SpecialUse::Sent))
        .unwrap()
        .id
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn quick_policy() -> RetryPolicy {
    RetryPolicy {
        backoff_base: Duration::from_secs(30),
        backoff_max: Duration::from_secs(3600),
        max_age: Duration::from_secs(24 * 3600),
        reporting_host: "mx.example.org".into(),
    }
}

fn reply(code: u16, text: &str) -> RelayReply {
    RelayReply {
        code,
        text: text.into(),
    }
}

async fn submission_files_the_sent_copy_and_queues_one_entry_per_domain(store: Store) {
    let user = ann(&store).await;
    let submitted = submit(
        &store,
        &user,
        "ann@example.org",
        &["bob@example.com", "carl@example.net", "dora@EXAMPLE.com"],
        MESSAGE,
    )
    .await
    .unwrap();
    assert!(submitted.message_id.ends_with("@example.org>"));

    let sent = mailbox_messages(&store, sent_box(&store, &user).await).await;
    assert_eq!(sent.len(), 1);
    let (raw, flags) = &sent[0];
    assert!(flags.contains(&Flag::Seen), "{flags:?}");
    assert!(
        contains(raw, b"Bcc: carl@example.net\r\n"),
        "the Sent copy keeps Bcc"
    );
    assert!(contains(
        raw,
        format!("Message-ID: {}\r\n", submitted.message_id).as_bytes()
    ));
    assert!(raw.starts_with(b"Message-ID: ") && contains(raw, b"\r\nDate: "));
    assert!(
        raw.ends_with(MESSAGE),
        "the client's bytes follow unchanged"
    );

    let queue = store.list_outbound().await.unwrap();
    let mut domains: Vec<(&str, Vec<&str>)> = queue
        .iter()
        .map(|e| {
            (
                e.domain.as_str(),
                e.recipients.iter().map(|r| r.address.as_str()).collect(),
            )
        })
        .collect();
    domains.sort();
    assert_eq!(
        domains,
        [
            ("example.com", vec!["bob@example.com", "dora@EXAMPLE.com"]),
            ("example.net", vec!["carl@example.net"]),
        ]
    );
    for entry in &queue {
        assert_eq!(entry.sender, "ann@example.org");
        assert!(
            !contains(&entry.raw, b"Bcc:"),
            "the relayed copy has no Bcc"
        );
        assert!(contains(
            &entry.raw,
            b"Subject: hello\r\n\r\n.a line with a dot\r\n"
        ));
        assert_eq!(entry.message_id, submitted.message_id);
        assert!(entry.pending().count() == entry.recipients.len());
    }
    let mut queued = submitted.queued.clone();
    queued.sort();
    let mut listed: Vec<OutboundId> = queue.iter().map(|e| e.id).collect();
    listed.sort();
    assert_eq!(queued, listed);
}

async fn foreign_senders_are_refused_and_nothing_is_stored(store: Store) {
    let user = ann(&store).await;
    let other = store
        .create_user(NewUser {
            username: "eve".into(),
            password: "secret".into(),
            quota: None,
            address: Some("eve@example.org".into()),
        })
        .await
        .unwrap();
    let not_owned = |result: Result<Submitted>| {
        assert!(
            matches!(result, Err(Error::Address(AddressError::NotOwned(_)))),
            "{result:?}"
        )
    };
    // Envelope sender of another user, an unknown one, and a foreign From header.
    not_owned(
        submit(
            &store,
            &user,
            "eve@example.org",
            &["bob@example.com"],
            MESSAGE,
        )
        .await,
    );
    not_owned(
        submit(
            &store,
            &user,
            "nobody@example.org",
            &["bob@example.com"],
            MESSAGE,
        )
        .await,
    );
    let forged = b"From: eve@example.org\r\nSubject: x\r\n\r\nbody\r\n";
    not_owned(
        submit(
            &store,
            &user,
            "ann@example.org",
            &["bob@example.com"],
            forged,
        )
        .await,
    );
    let no_from = b"Subject: x\r\n\r\nbody\r\n";
    not_owned(
        submit(
            &store,
            &user,
            "ann@example.org",
            &["bob@example.com"],
            no_from,
        )
        .await,
    );
    // The user's other address, with a +tag and dots, is theirs.
    let own = b"From: \"Ann\" <ann+news@ann.test>\r\nMessage-ID: <given@ann.test>\r\nDate: Mon, 7 Dec 2026 06:00:00 +0000\r\n\r\nbody\r\n";
    let submitted = submit(
        &store,
        &user,
        "ann+news@ann.test",
        &["bob@example.com"],
        own,
    )
    .await
    .unwrap();
    assert_eq!(submitted.message_id, "<given@ann.test>");
    let sent = mailbox_messages(&store, sent_box(&store, &user).await).await;
    assert_eq!(sent.len(), 1, "only the accepted message is stored");
    assert_eq!(sent[0].0, own, "Message-ID and Date given: nothing added");
    assert_eq!(store.list_outbound().await.unwrap().len(), 1);
    let bad_recipient = submit(&store, &user, "ann@example.org", &["no-at-sign"], MESSAGE).await;
    assert!(
        matches!(bad_recipient, Err(Error::Address(AddressError::Invalid(_)))),
        "{bad_recipient:?}"
    );
    assert!(
        mailbox_messages(&store, sent_box(&store, &other).await)
            .await
            .is_empty()
    );
    assert_eq!(store.list_outbound().await.unwrap().len(), 1);
}

async fn a_lease_gives_an_entry_to_one_worker(store: Store) {
    let user = ann(&store).await;
    submit(
        &store,
        &user,
        "ann@example.org",
        &["bob@example.com"],
        MESSAGE,
    )
    .await
    .unwrap();
    let lease = Duration::from_secs(600);
    let first = store
        .claim_outbound(10, lease, ClaimScope::All)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        store
            .claim_outbound(10, lease, ClaimScope::All)
            .await
            .unwrap()
            .is_empty()
    );

    // A lease that has run out (zero long) lets another worker take the entry; the first
    // worker's result is then refused.
    let stale = store
        .claim_outbound(10, Duration::ZERO, ClaimScope::All)
        .await;
    assert!(stale.unwrap().is_empty(), "the running lease still holds");
    let outcome = store
        .record_attempt(
            first[0].clone(),
            &[reply(451, "4.3.0 later")],
            &quick_policy(),
        )
        .await
        .unwrap();
    assert!(
        matches!(outcome, AttemptOutcome::Retrying { .. }),
        "{outcome:?}"
    );
    // Retrying: not due before the backoff has passed.
    assert!(
        store
            .claim_outbound(10, lease, ClaimScope::All)
            .await
            .unwrap()
            .is_empty()
    );
    let entry = &store.list_outbound().await.unwrap()[0];
    assert_eq!(entry.attempts, 1);
    assert!(entry.next_attempt >= entry.created + 30, "{entry:?}");
    assert_eq!(
        entry.recipients[0].last_reply.as_deref(),
        Some("451 4.3.0 later")
    );
}

async fn an_expired_lease_is_taken_over_and_the_old_holder_records_nothing(store: Store) {
    let user = ann(&store).await;
    submit(
        &store,
        &user,
        "ann@example.org",
        &["bob@example.com"],
        MESSAGE,
    )
    .await
    .unwrap();
    let gone = store
        .claim_outbound(1, Duration::ZERO, ClaimScope::All)
        .await
        .unwrap();
    assert_eq!(gone.len(), 1);
    let taken = store
        .claim_outbound(1, Duration::from_secs(600), ClaimScope::All)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1, "an expired lease frees the entry");
    let late = store
        .record_attempt(gone[0].clone(), &[reply(250, "2.0.0 ok")], &quick_policy())
        .await
        .unwrap();
    assert_eq!(late, AttemptOutcome::LeaseLost);
    assert_eq!(store.list_outbound().await.unwrap().len(), 1);
    let done = store
        .record_attempt(taken[0].clone(), &[reply(250, "2.0.0 ok")], &quick_policy())
        .await
        .unwrap();
    assert_eq!(done, AttemptOutcome::Finished { failed: 0 });
    assert!(store.list_outbound().await.unwrap().is_empty());
}

async fn refused_recipients_are_reported_to_the_sender(store: Store) {
    let user = ann(&store).await;
    let submitted = submit(
        &store,
        &user,
        "ann@example.org",
        &["bob@example.com", "nobody@example.com", "later@example.com"],
        MESSAGE,
    )
    .await
    .unwrap();
    let inbox = store.get_mailbox(user.id, "INBOX").await.unwrap().id;
    let claimed = store
        .claim_outbound(10, Duration::from_secs(600), ClaimScope::All)
        .await
        .unwrap();
    let replies = [
        reply(250, "2.0.0 queued"),
        reply(550, "5.1.1 no such user"),
        reply(451, "4.4.1 try later"),
    ];
    let outcome = store
        .record_attempt(claimed[0].clone(), &replies, &quick_policy())
        .await
        .unwrap();
    assert!(
        matches!(outcome, AttemptOutcome::Retrying { .. }),
        "{outcome:?}"
    );
    let notices = mailbox_messages(&store, inbox).await;
    assert_eq!(notices.len(), 1, "one notice for the refused recipient");
    let notice = &notices[0].0;
    for part in [
        &b"Content-Type: multipart/report; report-type=delivery-status;"[..],
        b"Reporting-MTA: dns; mx.example.org\r\n",
        b"Final-Recipient: rfc822; nobody@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n",
        b"Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n",
        b"Content-Type: text/rfc822-headers\r\n",
        b"Subject: hello\r\n",
    ] {
        assert!(
            contains(notice, part),
            "{}",
            String::from_utf8_lossy(notice)
        );
    }
    assert!(contains(
        notice,
        format!("In-Reply-To: {}", submitted.message_id).as_bytes()
    ));
    assert!(
        !contains(notice, b"bob@example.com>:"),
        "the delivered one is not reported"
    );
    assert!(
        !contains(notice, b"later@example.com"),
        "the pending one is not reported yet"
    );

    // Given up when too old: the pending recipient fails with a temporary status.
    let entry = store.list_outbound().await.unwrap().remove(0);
    let statuses: Vec<RecipientStatus> =
        entry.recipients.iter().map(|r| r.status.clone()).collect();
    assert_eq!(
        statuses,
        [
            RecipientStatus::Delivered,
            RecipientStatus::Failed,
            RecipientStatus::Pending
        ]
    );
    let give_up = RetryPolicy {
        max_age: Duration::ZERO,
        backoff_base: Duration::ZERO,
        ..quick_policy()
    };
    let due = store
        .claim_outbound(10, Duration::from_secs(600), ClaimScope::All)
        .await
        .unwrap();
    assert!(
        due.is_empty(),
        "the backoff of the first attempt still runs"
    );
    // A message still refused for now once it is older than the maximum age is given up.
    let submitted_again = submit(
        &store,
        &user,
        "ann@example.org",
        &["late@example.com"],
        MESSAGE,
    )
    .await
    .unwrap();
    let claimed = store
        .claim_outbound(10, Duration::from_secs(600), ClaimScope::All)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].entry.message_id, submitted_again.message_id);
    let outcome = store
        .record_attempt(
            claimed[0].clone(),
            &[reply(451, "4.4.1 still down")],
            &give_up,
        )
        .await
        .unwrap();
    assert_eq!(outcome, AttemptOutcome::Finished { failed: 1 });
    let notices = mailbox_messages(&store, inbox).await;
    assert_eq!(notices.len(), 2);
    assert!(contains(
        &notices[1].0,
        b"Final-Recipient: rfc822; late@example.com\r\nAction: failed\r\nStatus: 4.4.1\r\n"
    ));
}

/// A notice that does not fit the sender's quota is dropped, not retried: the entry is
/// finished once, so the recipients that took the message do not get it again on every lease.
async fn a_notice_over_the_senders_quota_is_dropped_and_the_entry_finishes(store: Store) {
    let user = ann(&store).await;
    submit(
        &store,
        &user,
        "ann@example.org",
        &["nobody@example.com"],
        MESSAGE,
    )
    .await
    .unwrap();
    let used = store.get_user(user.id).await.unwrap().storage_used;
    store.set_quota(user.id, Some(used)).await.unwrap();
    let claimed = store
        .claim_outbound(10, Duration::from_secs(600), ClaimScope::All)
        .await
        .unwrap();
    let outcome = store
        .record_attempt(
            claimed[0].clone(),
            &[reply(550, "5.1.1 no such user")],
            &quick_policy(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, AttemptOutcome::Finished { failed: 1 });
    assert!(store.list_outbound().await.unwrap().is_empty());
    let inbox = store.get_mailbox(user.id, "INBOX").await.unwrap().id;
    assert!(mailbox_messages(&store, inbox).await.is_empty());
    assert_eq!(store.get_user(user.id).await.unwrap().storage_used, used);
}

async fn an_operator_retries_an_entry_now_or_deletes_it(store: Store) {
    let user = ann(&store).await;
    assert_eq!(store.outbound_queue_depth().await.unwrap(), 0);
    for to in ["bob@example.com", "carl@example.net"] {
        submit(&store, &user, "ann@example.org", &[to], MESSAGE)
            .await
            .unwrap();
    }
    assert_eq!(store.outbound_queue_depth().await.unwrap(), 2);
    let lease = Duration::from_secs(600);
    for claimed in store
        .claim_outbound(10, lease, ClaimScope::All)
        .await
        .unwrap()
    {
        store
            .record_attempt(claimed, &[reply(451, "4.3.0 later")], &quick_policy())
            .await
            .unwrap();
    }
    assert!(
        store
            .claim_outbound(10, lease, ClaimScope::All)
            .await
            .unwrap()
            .is_empty()
    );
    let entries = store.list_outbound().await.unwrap();
    let (first, second) = (entries[0].id, entries[1].id);

    let shown = store.outbound_entry(first).await.unwrap().unwrap();
    assert_eq!(
        shown, entries[0],
        "show gives the entry as listed, body included"
    );
    assert!(store.retry_outbound(first).await.unwrap());
    let due = store
        .claim_outbound(10, lease, ClaimScope::All)
        .await
        .unwrap();
    assert_eq!(due.len(), 1, "only the retried entry is due");
    assert_eq!(due[0].entry.id, first);
    assert!(due[0].entry.next_attempt < shown.next_attempt);

    // Deleting an entry under a lease: the attempt finds it gone and records nothing.
    assert!(store.delete_outbound(first).await.unwrap());
    let late = store
        .record_attempt(due[0].clone(), &[reply(250, "2.0.0 ok")], &quick_policy())
        .await
        .unwrap();
    assert_eq!(late, AttemptOutcome::LeaseLost);
    assert_eq!(store.outbound_queue_depth().await.unwrap(), 1);
    assert!(store.delete_outbound(second).await.unwrap());
    assert!(store.list_outbound().await.unwrap().is_empty());
    assert_eq!(store.outbound_queue_depth().await.unwrap(), 0);
    assert_eq!(store.outbound_entry(first).await.unwrap(), None);
    assert!(!store.retry_outbound(second).await.unwrap());
    assert!(!store.delete_outbound(second).await.unwrap());
}

async fn a_user_past_their_sending_allowance_is_refused_and_nothing_is_kept(store: Store) {
    let user = ann(&store).await;
    assert_eq!(store.sending_allowance(user.id).await.unwrap(), 2000);
    let mut profile = store.user_profile(user.id).await.unwrap();
    profile.recipients = 3;
    store.set_user_profile(user.id, profile).await.unwrap();
    assert_eq!(store.sending_allowance(user.id).await.unwrap(), 3);

    let two = ["bob@example.com", "carl@example.net"];
    submit(&store, &user, "ann@example.org", &two, MESSAGE)
        .await
        .unwrap();
    let refused = submit(&store, &user, "ann@example.org", &two, MESSAGE).await;
    assert!(
        matches!(
            refused,
            Err(Error::Message(MessageError::SendingLimit {
                sent: 2,
                wanted: 2,
                allowed: 3
            }))
        ),
        "{refused:?}"
    );
    let sent = sent_box(&store, &user).await;
    assert_eq!(mailbox_messages(&store, sent).await.len(), 1);
    assert_eq!(store.list_outbound().await.unwrap().len(), 2);
    // A refusal does not count: one more recipient still fits, then none.
    submit(&store, &user, "ann@example.org", &two[..1], MESSAGE)
        .await
        .unwrap();
    assert_eq!(store.recipients_sent(user.id).await.unwrap().0, 3);
    assert!(
        submit(&store, &user, "ann@example.org", &two[..1], MESSAGE)
            .await
            .is_err()
    );
}

async fn a_client_filing_its_own_sent_copy_gets_the_submitted_one(store: Store) {
    let user = ann(&store).await;
    let sent = store
        .get_mailbox_by_id(sent_box(&store, &user).await)
        .await
        .unwrap();
    let raw = [b"Message-ID: <own-copy@ann.test>\r\n".as_slice(), MESSAGE].concat();
    let submitted = submit(&store, &user, "ann@example.org", &["bob@example.com"], &raw)
        .await
        .unwrap();
    let filed = store.submitted_copy(user.id, &sent, &raw).await.unwrap();
    assert_eq!(filed, Some(submitted.sent.clone()));

    // Another message, or another mailbox, is not the submitted copy.
    assert_eq!(
        store.submitted_copy(user.id, &sent, MESSAGE).await.unwrap(),
        None
    );
    let inbox = store.get_mailbox(user.id, "INBOX").await.unwrap();
    assert_eq!(
        store.submitted_copy(user.id, &inbox, &raw).await.unwrap(),
        None
    );
    // Once the copy is gone, the client's copy is a message of its own again.
    let copy = UidSet::from_ranges([(submitted.sent.uid, submitted.sent.uid)]);
    let deleted: Flags = [Flag::Deleted].into_iter().collect();
    store
        .store_flags(sent.id, &copy, FlagOp::Add, &deleted, None)
        .await
        .unwrap();
    store.expunge(sent.id, Some(&copy)).await.unwrap();
    assert_eq!(
        store.submitted_copy(user.id, &sent, &raw).await.unwrap(),
        None
    );
}

macro_rules! on_both_engines {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = wildduck_store::Store::open_sqlite(dir.path(), Default::default())
                        .await
                        .unwrap();
                    super::$test(store).await;
                }
            )*
        }

        #[cfg(feature = "mongodb")]
        mod mongodb {
            $(
                #[tokio::test]
                async fn $test() {
                    let uri = super::servers::fresh_database_uri(&super::servers::servers().mongodb_uri);
                    let store = wildduck_store::Store::open_mongodb(&uri, None, Default::default())
                        .await
                        .unwrap();
                    super::$test(store).await;
                }
            )*
        }
    };
}

/// A forwarded address's relay and URL targets are entries of their own with that next hop,
/// for the address the message came to; a worker without a smarthost takes only those.
async fn forward_targets_with_their_own_hop_are_entries_a_worker_without_smarthost_takes(
    store: Store,
) {
    let targets = [
        "carl@remote.test",
        "smtp://relay-user:relay-secret@127.0.0.1:2525",
        "http://127.0.0.1:8080/in",
    ];
    store
        .create_forwarded(NewForwarded {
            address: "fwd@example.org".into(),
            targets: targets.map(|t| ForwardTarget::parse(t).unwrap()).to_vec(),
            ..NewForwarded::default()
        })
        .await
        .unwrap();
    let recipient = store.resolve_recipient("fwd@example.org").await.unwrap();
    let raw = b"From: bob@remote.test\r\nSubject: hi\r\n\r\nbody\r\n";
    let results = store
        .deliver(Delivery {
            return_path: "bob@remote.test",
            recipients: std::slice::from_ref(&recipient),
            raw,
        })
        .await
        .unwrap();
    assert!(
        matches!(results[0], Ok(Delivered::Forwarded)),
        "{results:?}"
    );

    let mut expected_raw = b"Delivered-To: fwd@example.org\r\n".to_vec();
    expected_raw.extend_from_slice(raw);
    let queued = store.list_outbound().await.unwrap();
    let hops: Vec<(NextHop, Vec<&str>)> = queued
        .iter()
        .map(|entry| {
            assert_eq!(entry.raw, expected_raw);
            assert_eq!(entry.sender, "bob@remote.test");
            let to = entry
                .recipients
                .iter()
                .map(|r| r.address.as_str())
                .collect();
            (entry.next_hop.clone(), to)
        })
        .collect();
    assert_eq!(hops.len(), 3, "{hops:?}");
    for (hop, to) in [
        (NextHop::Smarthost, vec!["carl@remote.test"]),
        (NextHop::Relay(targets[1].into()), vec!["fwd@example.org"]),
        (NextHop::Http(targets[2].into()), vec!["fwd@example.org"]),
    ] {
        assert!(hops.contains(&(hop.clone(), to)), "{hop:?} in {hops:?}");
    }
    assert_eq!(
        NextHop::Relay(targets[1].into()).to_string(),
        "smtp://relay-user:***@127.0.0.1:2525"
    );

    let lease = Duration::from_secs(600);
    let own = store
        .claim_outbound(10, lease, ClaimScope::OwnHopOnly)
        .await
        .unwrap();
    let mut own_hops: Vec<NextHop> = own.iter().map(|c| c.entry.next_hop.clone()).collect();
    own_hops.sort_by_key(|hop| hop.to_string());
    assert_eq!(
        own_hops,
        [
            NextHop::Http(targets[2].into()),
            NextHop::Relay(targets[1].into())
        ]
    );
    let rest = store
        .claim_outbound(10, lease, ClaimScope::All)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].entry.next_hop, NextHop::Smarthost);
}

on_both_engines!(
    submission_files_the_sent_copy_and_queues_one_entry_per_domain,
    foreign_senders_are_refused_and_nothing_is_stored,
    a_lease_gives_an_entry_to_one_worker,
    an_expired_lease_is_taken_over_and_the_old_holder_records_nothing,
    refused_recipients_are_reported_to_the_sender,
    a_notice_over_the_senders_quota_is_dropped_and_the_entry_finishes,
    an_operator_retries_an_entry_now_or_deletes_it,
    a_user_past_their_sending_allowance_is_refused_and_nothing_is_kept,
    a_client_filing_its_own_sent_copy_gets_the_submitted_one,
    forward_targets_with_their_own_hop_are_entries_a_worker_without_smarthost_takes,
);
