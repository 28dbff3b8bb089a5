//! Conformance checks of what an account keeps beside login and mail: profiles, address
//! details, forwarded addresses and the forwarding rule, temporary passwords, the storage
//! recount.

use crate::error::*;
use crate::model::*;
use crate::profiles::{AddressDetails, ForwardTarget, NewForwarded, UserProfile};
use crate::store::Store;
use crate::{Delivered, Delivery, Destination};

use super::user;

/// An outbound entry as the checks compare it: notified user, sender, recipients, bytes.
type Queued = (Option<UserId>, String, Vec<String>, Vec<u8>);

fn mail(address: &str) -> ForwardTarget {
    ForwardTarget::Mail(address.into())
}

/// Profiles and address details round-trip; tags are normalized; the main address must be
/// the user's own; details go with their address.
pub async fn profiles_and_address_details(store: Store) {
    let ann = user(&store, "ann").await;
    let bob = user(&store, "bob").await;
    assert_eq!(
        store.user_profile(ann.id).await.unwrap(),
        UserProfile::default()
    );
    let mut meta = serde_json::Map::new();
    meta.insert("accountIcon".into(), "avatar.png".into());
    let profile = UserProfile {
        name: Some("Ann Example".into()),
        tags: vec!["status:user".into(), " Status:User ".into(), "a".into()],
        targets: vec![
            mail("copy@remote.test"),
            ForwardTarget::parse("https://example.com/in").unwrap(),
        ],
        forwards: 10,
        meta_data: meta.clone(),
        ..UserProfile::default()
    };
    store.set_user_profile(ann.id, profile).await.unwrap();
    let stored = store.user_profile(ann.id).await.unwrap();
    assert_eq!(stored.name.as_deref(), Some("Ann Example"));
    assert_eq!(stored.tags, ["a", "status:user"]);
    assert_eq!(stored.targets.len(), 2);
    assert_eq!(stored.meta_data, meta);
    assert_eq!(
        store.user_profile(bob.id).await.unwrap(),
        UserProfile::default(),
        "another user's profile is untouched"
    );
    assert!(matches!(
        store.user_profile(UserId::new()).await,
        Err(Error::User(UserError::NotFound))
    ));

    let first = store.add_address(ann.id, "ann@example.com").await.unwrap();
    let second = store
        .add_address(ann.id, "ann.two@example.com")
        .await
        .unwrap();
    let bobs = store.add_address(bob.id, "bob@example.com").await.unwrap();
    assert_eq!(
        store.main_address(ann.id).await.unwrap(),
        Some(first.clone())
    );
    let mut choose = stored.clone();
    choose.main_address = Some(bobs.id);
    assert!(matches!(
        store.set_user_profile(ann.id, choose.clone()).await,
        Err(Error::Address(AddressError::NotFound))
    ));
    choose.main_address = Some(second.id);
    store.set_user_profile(ann.id, choose).await.unwrap();
    assert_eq!(
        store.main_address(ann.id).await.unwrap(),
        Some(second.clone())
    );

    let details = AddressDetails {
        name: Some("Second".into()),
        tags: vec!["TAG2".into(), "tag3".into(), "tag2".into()],
        ..AddressDetails::default()
    };
    assert!(matches!(
        store
            .set_address_details(bob.id, second.id, details.clone())
            .await,
        Err(Error::Address(AddressError::NotFound))
    ));
    store
        .set_address_details(ann.id, second.id, details)
        .await
        .unwrap();
    let read = store.address_details(second.id).await.unwrap();
    assert_eq!(read.tags, ["TAG2", "tag3"]);
    assert_eq!(read.name.as_deref(), Some("Second"));
    store
        .remove_address(ann.id, "ann.two@example.com")
        .await
        .unwrap();
    assert_eq!(
        store.address_details(second.id).await.unwrap(),
        AddressDetails::default(),
        "details go with their address"
    );
    // The chosen main address is gone: the oldest one is main again.
    assert_eq!(
        store.main_address(ann.id).await.unwrap().map(|a| a.id),
        Some(first.id)
    );
}

/// Forwarded addresses share the lookup key space with users' addresses; mail to one is
/// queued to its targets with the original sender; a user's targets get a copy while the
/// user keeps theirs; a message that came through here before is not forwarded again.
pub async fn forwarded_addresses_and_forwarding(store: Store) {
    let ann = user(&store, "ann").await;
    store.add_address(ann.id, "ann@example.com").await.unwrap();
    let new = |address: &str| NewForwarded {
        address: address.into(),
        targets: vec![mail("far@remote.test"), mail("other@elsewhere.test")],
        tags: vec!["tag1".into()],
        ..NewForwarded::default()
    };
    assert!(matches!(
        store.create_forwarded(new("Ann@example.com")).await,
        Err(Error::Address(AddressError::AlreadyExists))
    ));
    let forwarded = store
        .create_forwarded(new("Fwd@Example.com"))
        .await
        .unwrap();
    assert_eq!(forwarded.address, "fwd@example.com");
    assert!(matches!(
        store.add_address(ann.id, "f.w.d+x@example.com").await,
        Err(Error::Address(AddressError::AlreadyExists))
    ));
    assert!(matches!(
        store.create_forwarded(new("fwd@example.com")).await,
        Err(Error::Address(AddressError::AlreadyExists))
    ));
    let found = store.find_forwarded("f.wd+tag@example.com").await.unwrap();
    assert_eq!(found.as_ref().map(|f| f.id), Some(forwarded.id));
    assert_eq!(
        store.list_forwarded().await.unwrap(),
        std::slice::from_ref(&forwarded)
    );

    let mut changed = forwarded.clone();
    changed.tags = vec!["tAG2".into(), "tag2".into()];
    store.update_forwarded(changed).await.unwrap();
    let read = store.get_forwarded(forwarded.id).await.unwrap();
    assert_eq!(read.tags, ["tAG2"]);
    let mut clash = read.clone();
    clash.address = "ann@example.com".into();
    assert!(matches!(
        store.update_forwarded(clash).await,
        Err(Error::Address(AddressError::AlreadyExists))
    ));

    // Delivery: the forwarded address and a forwarding user in one transaction.
    let mut profile = store.user_profile(ann.id).await.unwrap();
    profile.targets = vec![mail("copy@remote.test")];
    store.set_user_profile(ann.id, profile).await.unwrap();
    let recipients = [
        store.resolve_recipient("fwd+x@example.com").await.unwrap(),
        store.resolve_recipient("ann@example.com").await.unwrap(),
        // The same forwarded address again: forwarded once.
        store.resolve_recipient("f.w.d@example.com").await.unwrap(),
    ];
    assert!(matches!(
        recipients[0].destination,
        Destination::Forwarded(_)
    ));
    assert_eq!(recipients[1].user().map(|u| u.id), Some(ann.id));
    let raw =
        b"From: s@sender.test\r\nSubject: fwd\r\nMessage-ID: <m1@sender.test>\r\n\r\nbody\r\n";
    let results = store
        .deliver(Delivery {
            return_path: "s@sender.test",
            recipients: &recipients,
            raw,
        })
        .await
        .unwrap();
    assert_eq!(results[0], Ok(Delivered::Forwarded));
    assert!(matches!(results[1], Ok(Delivered::Stored { .. })));
    assert_eq!(results[2], Ok(Delivered::Forwarded));
    let queued = store.list_outbound().await.unwrap();
    let mut sent: Vec<Queued> = queued
        .iter()
        .map(|entry| {
            let to = entry.recipients.iter().map(|r| r.address.clone()).collect();
            (entry.user, entry.sender.clone(), to, entry.raw.clone())
        })
        .collect();
    sent.sort_by(|a, b| a.2.cmp(&b.2));
    let forwarded_bytes = |hop: &str| {
        let mut bytes = format!("Delivered-To: {hop}\r\n").into_bytes();
        bytes.extend_from_slice(raw);
        bytes
    };
    assert_eq!(
        sent,
        [
            (
                Some(ann.id),
                "s@sender.test".to_string(),
                vec!["copy@remote.test".to_string()],
                forwarded_bytes("ann@example.com")
            ),
            (
                None,
                "s@sender.test".to_string(),
                vec!["far@remote.test".to_string()],
                forwarded_bytes("fwd+x@example.com")
            ),
            (
                None,
                "s@sender.test".to_string(),
                vec!["other@elsewhere.test".to_string()],
                forwarded_bytes("fwd+x@example.com")
            ),
        ]
    );
    let inbox = store.get_mailbox(ann.id, "INBOX").await.unwrap();
    assert_eq!(store.snapshot(inbox.id).await.unwrap().uids.len(), 1);

    // Coming around again (it names this hop in Delivered-To): stored, not forwarded.
    let looped = forwarded_bytes("ann@example.com");
    let again = store
        .deliver(Delivery {
            return_path: "s@sender.test",
            recipients: &recipients[1..2],
            raw: &looped,
        })
        .await
        .unwrap();
    assert!(matches!(again[0], Ok(Delivered::Stored { .. })));
    assert_eq!(store.list_outbound().await.unwrap().len(), queued.len());
    assert_eq!(store.snapshot(inbox.id).await.unwrap().uids.len(), 2);

    // Forwarding disabled refuses the address; deleted, it is unknown.
    let mut disabled = store.get_forwarded(forwarded.id).await.unwrap();
    disabled.forwarded_disabled = true;
    store.update_forwarded(disabled).await.unwrap();
    assert!(matches!(
        store.resolve_recipient("fwd@example.com").await,
        Err(Error::Auth(AuthError::Disabled))
    ));
    store.delete_forwarded(forwarded.id).await.unwrap();
    assert!(matches!(
        store.delete_forwarded(forwarded.id).await,
        Err(Error::Address(AddressError::NotFound))
    ));
    assert!(matches!(
        store.resolve_recipient("fwd@example.com").await,
        Err(Error::Address(AddressError::NotFound))
    ));
    // Its address is free for a user now.
    store.add_address(ann.id, "fwd@example.com").await.unwrap();
}

/// A reset's temporary password opens `master` only, from its start time, asks for a new
/// password, and ends when one is set; the account password keeps working meanwhile.
pub async fn temporary_passwords(store: Store) {
    let ann = user(&store, "ann").await;
    let temp = store.reset_password(ann.id, None).await.unwrap();
    let login = store
        .authenticate_from("ann", &temp, Scope::Master, None)
        .await
        .unwrap();
    assert!(login.require_password_change);
    let usual = store
        .authenticate_from("ann", "pass word", Scope::Master, None)
        .await
        .unwrap();
    assert!(!usual.require_password_change);
    assert!(matches!(
        store.authenticate("ann", &temp, Scope::Imap).await,
        Err(Error::Auth(AuthError::InvalidCredentials))
    ));
    let later = store
        .reset_password(ann.id, Some(crate::backend::now() + 3600))
        .await
        .unwrap();
    assert!(matches!(
        store.authenticate("ann", &later, Scope::Master).await,
        Err(Error::Auth(AuthError::InvalidCredentials))
    ));
    let current = store.reset_password(ann.id, None).await.unwrap();
    store.set_password(ann.id, "new pass word").await.unwrap();
    assert!(matches!(
        store.authenticate("ann", &current, Scope::Master).await,
        Err(Error::Auth(AuthError::InvalidCredentials))
    ));
    assert!(matches!(
        store.reset_password(UserId::new(), None).await,
        Err(Error::User(UserError::NotFound))
    ));
}

/// The recount finds what the messages take and keeps it.
pub async fn storage_recount(store: Store) {
    let ann = user(&store, "ann").await;
    let inbox = store.get_mailbox(ann.id, "INBOX").await.unwrap();
    let message = super::sample_message(1);
    store
        .append(inbox.id, &message, &Flags::new(), None)
        .await
        .unwrap();
    let size = message.len() as u64;
    assert_eq!(store.recount_storage(ann.id).await.unwrap(), (size, size));
    assert_eq!(store.get_user(ann.id).await.unwrap().storage_used, size);
    assert!(matches!(
        store.recount_storage(UserId::new()).await,
        Err(Error::User(UserError::NotFound))
    ));
}
