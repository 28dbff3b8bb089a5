//! The delivery rule on the embedded store: recipient resolution in WildDuck's order (one row
//! per rule) and delivery with the two trace headers, per-recipient results and byte-exact
//! bodies.

use wildduck_store::*;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
}

impl Fixture {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(dir.path(), StoreConfig::default())
            .await
            .unwrap();
        Self { _dir: dir, store }
    }

    /// A user with the given addresses (the first made with the account).
    async fn user(&self, name: &str, addresses: &[&str], quota: Option<u64>) -> User {
        let user = self
            .store
            .create_user(NewUser {
                username: name.into(),
                password: "secret".into(),
                quota,
                address: addresses.first().map(|a| a.to_string()),
            })
            .await
            .unwrap();
        for address in addresses.iter().skip(1) {
            self.store.add_address(user.id, address).await.unwrap();
        }
        user
    }

    async fn resolves_to(&self, address: &str) -> Result<String> {
        let recipient = self.store.resolve_recipient(address).await?;
        assert_eq!(recipient.address, address.trim());
        Ok(recipient.user().expect("a user's address").username.clone())
    }

    async fn inbox_messages(&self, user: &User) -> Vec<Vec<u8>> {
        let inbox = self.store.get_mailbox(user.id, "INBOX").await.unwrap();
        let snapshot = self.store.snapshot(inbox.id).await.unwrap();
        let mut messages = Vec::new();
        for uid in snapshot.uids {
            let body = self
                .store
                .read_section(inbox.id, uid, &Section::full(), None)
                .await
                .unwrap();
            messages.push(body.to_vec());
        }
        messages
    }
}

#[tokio::test]
async fn recipients_resolve_in_wildduck_order() {
    let f = Fixture::new().await;
    f.user("ann", &["ann.lee@example.com"], None).await;
    f.user("intl", &["ülo@bücher.de"], None).await;
    f.user("catchall", &["*@example.com"], None).await;
    f.user("sales", &["*-sales@example.com"], None).await;
    f.user("info", &["info*@example.com"], None).await;
    // The same fixed length as `*-sales` (six): the prefix wins the tie.
    f.user("team", &["team-s*@example.com"], None).await;
    f.user("longer", &["*ab-sales@example.com"], None).await;
    f.user("unicode", &["*ño@mañana.example"], None).await;

    let rows: &[(&str, Result<&str>)] = &[
        // exact, case and surrounding space ignored
        ("ann.lee@example.com", Ok("ann")),
        ("  ANN.Lee@Example.COM ", Ok("ann")),
        // +tag removed
        ("ann.lee+news@example.com", Ok("ann")),
        // dots in the local part ignored
        ("annlee@example.com", Ok("ann")),
        ("a.n.n.l.e.e+x@example.com", Ok("ann")),
        // internationalized: NFC, IDNA either way
        ("Ülo@xn--bcher-kva.de", Ok("intl")),
        ("u\u{308}lo@bücher.de", Ok("intl")),
        // wildcards: longest fixed part, prefix before suffix at a tie, then `*`
        ("east-sales@example.com", Ok("sales")),
        ("ab-sales@example.com", Ok("longer")),
        ("xab-sales@example.com", Ok("longer")),
        ("info@example.com", Ok("info")),
        ("information+x@example.com", Ok("info")),
        ("team-sales@example.com", Ok("team")),
        ("someone@example.com", Ok("catchall")),
        ("x.y+z@example.com", Ok("catchall")),
        ("niño@mañana.example", Ok("unicode")),
        (
            "nino@xn--maana-pta.example",
            Err(AddressError::NotFound.into()),
        ),
        // unknown: no address and no wildcard of the domain
        ("ann.lee@example.org", Err(AddressError::NotFound.into())),
        ("ülo@bucher.de", Err(AddressError::NotFound.into())),
    ];
    for (address, expected) in rows {
        let got = f.resolves_to(address).await;
        assert_eq!(
            got.as_deref().map_err(Clone::clone),
            expected.clone(),
            "{address}"
        );
    }
    assert!(matches!(
        f.resolves_to("no-at-sign").await,
        Err(Error::Address(AddressError::Invalid(_)))
    ));
}

#[tokio::test]
async fn disabled_users_are_refused_and_come_back_when_enabled() {
    let f = Fixture::new().await;
    let user = f.user("dormant", &["dormant@example.com"], None).await;
    f.store.set_disabled(user.id, true).await.unwrap();
    assert_eq!(
        f.resolves_to("dormant@example.com").await,
        Err(AuthError::Disabled.into())
    );
    f.store.set_disabled(user.id, false).await.unwrap();
    assert_eq!(
        f.resolves_to("dormant@example.com").await.unwrap(),
        "dormant"
    );
}

#[tokio::test]
async fn malformed_wildcards_are_refused_when_added() {
    let f = Fixture::new().await;
    let user = f.user("w", &[], None).await;
    for bad in [
        "a*b@example.com",
        "**@example.com",
        "*x*@example.com",
        "*+t@example.com",
    ] {
        assert!(
            matches!(
                f.store.add_address(user.id, bad).await,
                Err(Error::Address(AddressError::Invalid(_)))
            ),
            "{bad} accepted"
        );
    }
}

#[tokio::test]
async fn delivery_prepends_two_headers_and_keeps_every_other_byte() {
    let f = Fixture::new().await;
    let ann = f.user("ann", &["ann@example.com"], None).await;
    let bob = f.user("bob", &["bob@example.com"], None).await;
    // Bare LF, a NUL, 8-bit bytes and no final line end: all kept as they are.
    let raw = b"Subject: mixed\nX-8bit: \xc3\xa9\r\n\r\nbody\0 line\nlast line without end";
    let recipients = [
        f.store
            .resolve_recipient("Ann+tag@example.com")
            .await
            .unwrap(),
        f.store.resolve_recipient("bob@example.com").await.unwrap(),
    ];
    let results = f
        .store
        .deliver(Delivery {
            return_path: "sender@example.org",
            recipients: &recipients,
            raw,
        })
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    for (user, rcpt) in [(&ann, "Ann+tag@example.com"), (&bob, "bob@example.com")] {
        let mut expected =
            format!("Delivered-To: {rcpt}\r\nReturn-Path: <sender@example.org>\r\n").into_bytes();
        expected.extend_from_slice(raw);
        assert_eq!(f.inbox_messages(user).await, [expected]);
    }

    // A bounce has an empty return path.
    let results = f
        .store
        .deliver(Delivery {
            return_path: "",
            recipients: &recipients[1..],
            raw: b"Subject: bounce\r\n\r\nx\r\n",
        })
        .await
        .unwrap();
    assert!(results[0].is_ok());
    let stored = f.inbox_messages(&bob).await;
    assert!(
        stored[1]
            .starts_with(b"Delivered-To: bob@example.com\r\nReturn-Path: <>\r\nSubject: bounce")
    );
}

#[tokio::test]
async fn over_quota_fails_only_that_recipient_and_one_user_gets_one_copy() {
    let f = Fixture::new().await;
    let full = f.user("full", &["full@example.com"], Some(10)).await;
    let roomy = f
        .user("roomy", &["roomy@example.com", "*@example.net"], None)
        .await;
    let recipients = [
        f.store
            .resolve_recipient("roomy@example.com")
            .await
            .unwrap(),
        f.store.resolve_recipient("full@example.com").await.unwrap(),
        // The same user again through a wildcard: stored once, answered alike.
        f.store
            .resolve_recipient("anyone@example.net")
            .await
            .unwrap(),
    ];
    let results = f
        .store
        .deliver(Delivery {
            return_path: "s@example.org",
            recipients: &recipients,
            raw: b"Subject: hi\r\n\r\nhello\r\n",
        })
        .await
        .unwrap();
    assert!(results[0].is_ok());
    assert!(
        matches!(
            results[1],
            Err(Error::Message(MessageError::OverQuota { .. }))
        ),
        "{results:?}"
    );
    assert_eq!(results[2], results[0]);
    assert_eq!(f.inbox_messages(&roomy).await.len(), 1);
    assert!(f.inbox_messages(&full).await.is_empty());
    assert_eq!(f.store.get_user(full.id).await.unwrap().storage_used, 0);
}

#[tokio::test]
async fn a_return_path_unfit_for_a_header_stores_nothing() {
    let f = Fixture::new().await;
    let user = f.user("ann", &["ann@example.com"], None).await;
    let recipients = [f.store.resolve_recipient("ann@example.com").await.unwrap()];
    for bad in ["a@b\r\nX-Injected: 1", "a b@c", "<a@b>", &"x".repeat(300)] {
        let result = f
            .store
            .deliver(Delivery {
                return_path: bad,
                recipients: &recipients,
                raw: b"Subject: x\r\n\r\n",
            })
            .await;
        assert!(
            matches!(result, Err(Error::Address(AddressError::Invalid(_)))),
            "{bad:?}: {result:?}"
        );
    }
    assert!(f.inbox_messages(&user).await.is_empty());
}

/// A user's forwards stop at their daily allowance of forward targets; the copies are still
/// stored, and the window counts only what was queued.
#[tokio::test]
async fn forwards_stop_at_the_daily_allowance_and_mail_is_still_stored() {
    let fixture = Fixture::new().await;
    let store = &fixture.store;
    let ann = fixture.user("ann", &["ann@example.com"], None).await;
    let mut profile = store.user_profile(ann.id).await.unwrap();
    profile.targets = vec![
        ForwardTarget::parse("one@example.net").unwrap(),
        ForwardTarget::parse("two@example.net").unwrap(),
    ];
    profile.forwards = 5;
    store.set_user_profile(ann.id, profile).await.unwrap();
    let recipient = store.resolve_recipient("ann@example.com").await.unwrap();
    for n in 0..4 {
        let raw = format!("From: s@example.org\r\nSubject: {n}\r\n\r\nbody {n}\r\n");
        let results = store
            .deliver(Delivery {
                return_path: "s@example.org",
                recipients: std::slice::from_ref(&recipient),
                raw: raw.as_bytes(),
            })
            .await
            .unwrap();
        assert!(
            matches!(results[0], Ok(Delivered::Stored { .. })),
            "{results:?}"
        );
    }
    assert_eq!(fixture.inbox_messages(&ann).await.len(), 4);
    // Two targets a message: the first two messages fit an allowance of 5, the third (6)
    // and fourth do not.
    let forwarded = store
        .list_outbound()
        .await
        .unwrap()
        .iter()
        .map(|entry| entry.recipients.len())
        .sum::<usize>();
    assert_eq!(forwarded, 4);
    assert_eq!(store.forwards_used(ann.id).await.unwrap().0, 4);
    assert_eq!(store.forwarding_allowance(ann.id).await.unwrap(), 5);
}
