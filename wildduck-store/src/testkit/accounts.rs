//! Conformance checks of users, logins and addresses.

use super::*;

/// New users get the default folders with their roles; names are unique by unameview.
pub async fn users_and_default_mailboxes(store: Store) {
    let user = user(&store, "John.Doe").await;
    assert_eq!(user.username, "John.Doe");
    assert_eq!(user.storage_used, 0);
    let boxes = store.list_mailboxes(user.id).await.unwrap();
    let mut expected: Vec<(String, Option<SpecialUse>)> = DEFAULT_MAILBOXES
        .iter()
        .map(|(p, u)| (p.to_string(), *u))
        .collect();
    expected.sort();
    let got: Vec<(String, Option<SpecialUse>)> = boxes
        .iter()
        .map(|m| (m.path.clone(), m.special_use))
        .collect();
    assert_eq!(got, expected);
    let mut validities: Vec<u32> = boxes.iter().map(|m| m.uidvalidity).collect();
    validities.sort_unstable();
    validities.dedup();
    assert_eq!(
        validities.len(),
        boxes.len(),
        "UIDVALIDITY unique per mailbox"
    );

    let again = store
        .create_user(NewUser {
            username: "johndoe".into(),
            password: "x".into(),
            ..NewUser::default()
        })
        .await;
    assert_eq!(again.unwrap_err(), Error::User(UserError::AlreadyExists));
    assert_eq!(store.find_user("JOHN.DOE").await.unwrap().id, user.id);
    assert_eq!(store.find_user("j.o.h.n.d.o.e").await.unwrap().id, user.id);
    assert_eq!(store.list_users().await.unwrap().len(), 1);

    for bad in ["", "a b", "x\0y", "....", "tab\t"] {
        let result = store
            .create_user(NewUser {
                username: bad.into(),
                password: "x".into(),
                ..NewUser::default()
            })
            .await;
        assert!(
            matches!(result, Err(Error::User(UserError::InvalidUsername(_)))),
            "{bad:?}: {result:?}"
        );
    }
    let empty_password = store
        .create_user(NewUser {
            username: "fresh".into(),
            password: String::new(),
            ..NewUser::default()
        })
        .await;
    assert!(matches!(
        empty_password,
        Err(Error::User(UserError::InvalidPassword(_)))
    ));
    assert_eq!(
        store.list_users().await.unwrap().len(),
        1,
        "nothing was added"
    );

    let ghost = UserId::new();
    assert_eq!(
        store.get_user(ghost).await.unwrap_err(),
        Error::User(UserError::NotFound)
    );
    assert_eq!(
        store.set_quota(ghost, Some(1)).await.unwrap_err(),
        Error::User(UserError::NotFound)
    );
    assert_eq!(
        store.delete_user(ghost).await.unwrap_err(),
        Error::User(UserError::NotFound)
    );
    assert_eq!(
        store.list_mailboxes(ghost).await.unwrap_err(),
        Error::User(UserError::NotFound)
    );
    assert_eq!(
        store.create_mailbox(ghost, "Work", None).await.unwrap_err(),
        Error::User(UserError::NotFound)
    );
    assert_eq!(
        store.add_address(ghost, "g@example.com").await.unwrap_err(),
        Error::User(UserError::NotFound)
    );
}

/// Passwords: right, wrong, unknown user, disabled, changed.
pub async fn authentication(store: Store) {
    let bob = user(&store, "bob").await;
    let ok = store.authenticate("Bob", "pass word", Scope::Imap).await;
    assert_eq!(ok.unwrap().id, bob.id);
    let bad = Error::Auth(AuthError::InvalidCredentials);
    assert_eq!(
        store
            .authenticate("bob", "wrong", Scope::Imap)
            .await
            .unwrap_err(),
        bad
    );
    assert_eq!(
        store
            .authenticate("nobody", "pass word", Scope::Pop3)
            .await
            .unwrap_err(),
        bad
    );
    assert_eq!(
        store
            .authenticate("", "pass word", Scope::Pop3)
            .await
            .unwrap_err(),
        bad
    );
    store.set_disabled(bob.id, true).await.unwrap();
    assert!(store.get_user(bob.id).await.unwrap().disabled);
    assert_eq!(
        store
            .authenticate("bob", "pass word", Scope::Imap)
            .await
            .unwrap_err(),
        Error::Auth(AuthError::Disabled)
    );
    assert_eq!(
        store
            .authenticate("bob", "wrong", Scope::Imap)
            .await
            .unwrap_err(),
        bad,
        "a disabled account does not reveal itself to a wrong password"
    );
    store.set_disabled(bob.id, false).await.unwrap();
    store.set_password(bob.id, "new secret").await.unwrap();
    assert!(
        store
            .authenticate("bob", "pass word", Scope::Imap)
            .await
            .is_err()
    );
    assert!(
        store
            .authenticate("bob", "new secret", Scope::Imap)
            .await
            .is_ok()
    );
    store.add_address(bob.id, "bob@example.com").await.unwrap();
    assert_eq!(
        store
            .authenticate("Bob@Example.com", "new secret", Scope::Smtp)
            .await
            .unwrap()
            .id,
        bob.id,
        "login by address"
    );
}

/// Addresses: normalization, lookup key, uniqueness, removal.
pub async fn addresses(store: Store) {
    let carol = user(&store, "carol").await;
    let dave = user(&store, "dave").await;
    let added = store
        .add_address(carol.id, "Carol.Smith+Work@XN--MAANA-PTA.example")
        .await
        .unwrap();
    assert_eq!(added.address, "carol.smith+work@mañana.example");
    assert_eq!(added.addrview, "carolsmith@mañana.example");
    assert_eq!(added.user, carol.id);
    for alias in [
        "carolsmith@mañana.example",
        "c.a.r.o.l.smith+other@MAÑANA.example",
        "CAROLSMITH@xn--maana-pta.example",
    ] {
        assert_eq!(
            store.resolve_address(alias).await.unwrap().id,
            carol.id,
            "{alias}"
        );
    }
    assert_eq!(
        store
            .add_address(dave.id, "carolsmith+x@mañana.example")
            .await
            .unwrap_err(),
        Error::Address(AddressError::AlreadyExists)
    );
    assert!(matches!(
        store.add_address(dave.id, "not an address").await,
        Err(Error::Address(AddressError::Invalid(_)))
    ));
    assert_eq!(
        store
            .resolve_address("nobody@example.com")
            .await
            .unwrap_err(),
        Error::Address(AddressError::NotFound)
    );
    assert!(store.list_addresses(dave.id).await.unwrap().is_empty());
    store
        .add_address(carol.id, "ünïcödé@example.org")
        .await
        .unwrap();
    assert_eq!(store.list_addresses(carol.id).await.unwrap().len(), 2);
    assert_eq!(
        store
            .remove_address(dave.id, "carolsmith@mañana.example")
            .await
            .unwrap_err(),
        Error::Address(AddressError::NotFound),
        "only the owner removes an address"
    );
    store
        .remove_address(carol.id, "carol.smith@mañana.example")
        .await
        .unwrap();
    assert_eq!(store.list_addresses(carol.id).await.unwrap().len(), 1);
    assert!(
        store
            .resolve_address("carolsmith@mañana.example")
            .await
            .is_err()
    );

    let with_address = store
        .create_user(NewUser {
            username: "erin".into(),
            password: "x".into(),
            quota: Some(1000),
            address: Some("Erin@Example.com".into()),
        })
        .await
        .unwrap();
    assert_eq!(with_address.quota, Some(1000));
    assert_eq!(
        store.find_user("erin@example.com").await.unwrap().id,
        with_address.id
    );
    let taken = store
        .create_user(NewUser {
            username: "frank".into(),
            password: "x".into(),
            quota: None,
            address: Some("erin@example.com".into()),
        })
        .await;
    assert_eq!(
        taken.unwrap_err(),
        Error::Address(AddressError::AlreadyExists)
    );
    assert!(
        store.find_user("frank").await.is_err(),
        "a failed create leaves no user behind"
    );
}

/// Deleting a user removes everything and releases blob references.
pub async fn delete_user_releases_everything(store: Store) {
    let gone = user(&store, "leaver").await;
    let stays = user(&store, "stayer").await;
    store
        .add_address(gone.id, "leaver@example.com")
        .await
        .unwrap();
    let raw = sample_message(42);
    let gone_inbox = inbox(&store, &gone).await;
    let stays_inbox = inbox(&store, &stays).await;
    store
        .append(gone_inbox.id, &raw, &Flags::new(), None)
        .await
        .unwrap();
    store
        .append(stays_inbox.id, &raw, &Flags::new(), None)
        .await
        .unwrap();
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.blobs, 1, "identical messages share one blob");
    assert_eq!(stats.dedup_hits, 1);
    store.delete_user(gone.id).await.unwrap();
    assert_eq!(
        store.get_user(gone.id).await.unwrap_err(),
        Error::User(UserError::NotFound)
    );
    assert!(store.resolve_address("leaver@example.com").await.is_err());
    assert_eq!(
        store.snapshot(gone_inbox.id).await.unwrap_err(),
        Error::Mailbox(MailboxError::NotFound)
    );
    assert_eq!(store.gc(0).await.unwrap(), 0, "blob still used by stayer");
    assert_eq!(body(&store, stays_inbox.id, 1).await, raw);
    let report = store.verify(false).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    store.delete_user(stays.id).await.unwrap();
    assert_eq!(store.gc(0).await.unwrap(), 1);
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.users, stats.messages, stats.blobs), (0, 0, 0));
}
