//! Conformance check of the address register: what stored messages add, search, disabling,
//! and removal with the user.

use crate::model::*;
use crate::store::Store;

use super::{flags, user};

fn addresses(found: &[crate::addressregister::RegisteredAddress]) -> Vec<&str> {
    found.iter().map(|entry| entry.address.as_str()).collect()
}

/// Received mail adds its From, Sent mail its To/Cc (with names, updated on the next
/// message); drafts add nothing; a disabled entry is hidden and kept as it is; the
/// register goes with its user and is never another user's.
pub async fn address_register_entries(store: Store) {
    let owner = user(&store, "corresponding").await;
    let other = user(&store, "bystander").await;
    let mailboxes = store.list_mailboxes(owner.id).await.unwrap();
    let inbox = mailboxes.iter().find(|m| m.path == "INBOX").unwrap().id;
    let sent = mailboxes
        .iter()
        .find(|m| m.special_use == Some(SpecialUse::Sent))
        .unwrap()
        .id;
    let received = b"From: Zed <zed@one.example>\r\nTo: me@example.com\r\nSubject: a\r\n\r\nx\r\n";
    store
        .append(inbox, received, &Flags::new(), None)
        .await
        .unwrap();
    let written =
        b"From: me@example.com\r\nTo: Amy <amy@two.example>\r\nCc: bo@two.example\r\n\r\nx\r\n";
    store
        .append(sent, written, &Flags::new(), None)
        .await
        .unwrap();
    let draft = b"From: dee@three.example\r\nSubject: d\r\n\r\nx\r\n";
    store
        .append(inbox, draft, &flags(&[Flag::Draft]), None)
        .await
        .unwrap();

    let found = store
        .search_address_register(owner.id, "example", 10)
        .await
        .unwrap();
    let mut listed = addresses(&found);
    listed.sort();
    assert_eq!(
        listed,
        ["amy@two.example", "bo@two.example", "zed@one.example"]
    );
    let zed = store
        .search_address_register(owner.id, "z", 10)
        .await
        .unwrap();
    assert_eq!(zed[0].name.as_deref(), Some("Zed"));
    assert!(
        store
            .search_address_register(owner.id, "three", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .search_address_register(other.id, "example", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .search_address_register(owner.id, "example", 2)
            .await
            .unwrap()
            .len(),
        2
    );

    // A later message renames; a disabled entry is neither shown nor changed.
    let renamed = b"From: Zed Two <zed@one.example>\r\n\r\nx\r\n";
    store
        .append(inbox, renamed, &Flags::new(), None)
        .await
        .unwrap();
    let zed = store
        .search_address_register(owner.id, "zed@", 10)
        .await
        .unwrap();
    assert_eq!(zed.len(), 1);
    assert_eq!(zed[0].name.as_deref(), Some("Zed Two"));
    store
        .update_registered_address(owner.id, zed[0].id, Some(true), None)
        .await
        .unwrap();
    store
        .append(inbox, received, &Flags::new(), None)
        .await
        .unwrap();
    assert!(
        store
            .search_address_register(owner.id, "zed@", 10)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .update_registered_address(owner.id, zed[0].id, Some(false), None)
        .await
        .unwrap();
    let zed = store
        .search_address_register(owner.id, "zed@", 10)
        .await
        .unwrap();
    assert_eq!(zed[0].name.as_deref(), Some("Zed Two"));
    assert!(
        store
            .update_registered_address(other.id, zed[0].id, Some(true), None)
            .await
            .is_err()
    );

    store.delete_user(owner.id).await.unwrap();
    let again = user(&store, "corresponding").await;
    assert!(
        store
            .search_address_register(again.id, "example", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .search_address_register(owner.id, "example", 10)
            .await
            .is_err()
    );
}
