//! Conformance check of a domain rename: addresses (users' and forwarded), the DKIM key and
//! the aliases of the old domain move to the new one, ids, owners and details kept; a clash
//! changes nothing.

use super::domains::RSA_1024;
use super::user;
use crate::dkim::NewDkimKey;
use crate::error::*;
use crate::profiles::{AddressDetails, NewForwarded};
use crate::store::Store;

pub async fn domain_rename(store: Store) {
    let ann = user(&store, "ann").await;
    let first = store.add_address(ann.id, "ann@old.example").await.unwrap();
    let main = store
        .add_address(ann.id, "Ann.Main@old.example")
        .await
        .unwrap();
    let mut profile = store.user_profile(ann.id).await.unwrap();
    profile.main_address = Some(main.id);
    store.set_user_profile(ann.id, profile).await.unwrap();
    let details = AddressDetails {
        name: Some("Ann".into()),
        ..AddressDetails::default()
    };
    store
        .set_address_details(ann.id, main.id, details.clone())
        .await
        .unwrap();
    let bob = user(&store, "bob").await;
    let elsewhere = store
        .add_address(bob.id, "bob@other.example")
        .await
        .unwrap();
    let bob_old = store.add_address(bob.id, "bob@old.example").await.unwrap();
    let forwarded = store
        .create_forwarded(NewForwarded {
            address: "list@old.example".into(),
            ..NewForwarded::default()
        })
        .await
        .unwrap();
    let key = NewDkimKey {
        domain: "old.example".into(),
        selector: "s1".into(),
        description: None,
        private_key: Some(RSA_1024.into()),
    };
    let (dkim, _) = store.set_dkim_key(key).await.unwrap();
    let alias = store
        .create_domain_alias("alias.example", "old.example")
        .await
        .unwrap();

    // A clash (the new spelling of ann@ taken on the new domain) renames nothing.
    let taken = store.add_address(bob.id, "ann@new.example").await.unwrap();
    assert_eq!(
        store.rename_domain("old.example", "NEW.example").await,
        Err(Error::Address(AddressError::AlreadyExists))
    );
    assert_eq!(
        store.find_address("ann@old.example").await.unwrap().id,
        first.id
    );
    assert_eq!(
        store.resolve_dkim_key("old.example").await.unwrap().id,
        dkim.id
    );
    store.remove_address(bob.id, &taken.address).await.unwrap();

    let renamed = store
        .rename_domain("old.example", "NEW.example")
        .await
        .unwrap();
    assert_eq!(
        (
            renamed.addresses,
            renamed.users,
            renamed.dkim_keys,
            renamed.aliases
        ),
        (4, 1, 1, 1),
        "ann's two, bob's one, the forwarded one; ann's main address; the key; the alias"
    );
    let found = store.find_address("ann@new.example").await.unwrap();
    assert_eq!((found.id, found.user), (first.id, ann.id));
    assert!(store.find_address("ann@old.example").await.is_err());
    let main_now = store.main_address(ann.id).await.unwrap().unwrap();
    assert_eq!(
        (main_now.id, main_now.address.as_str()),
        (main.id, "ann.main@new.example")
    );
    assert_eq!(store.address_details(main.id).await.unwrap(), details);
    let bobs: Vec<_> = store
        .list_addresses(bob.id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.id, a.address))
        .collect();
    assert_eq!(
        bobs,
        vec![
            (bob_old.id, "bob@new.example".to_string()),
            (elsewhere.id, "bob@other.example".to_string()),
        ]
    );
    let list = store.get_forwarded(forwarded.id).await.unwrap();
    assert_eq!(list.address, "list@new.example");
    assert!(
        store
            .find_forwarded("list@new.example")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.resolve_dkim_key("new.example").await.unwrap().id,
        dkim.id
    );
    assert!(store.resolve_dkim_key("old.example").await.is_err());
    assert_eq!(
        store.get_domain_alias(alias.id).await.unwrap().domain,
        "new.example"
    );
    // Nothing is left on the old domain.
    assert_eq!(
        store
            .rename_domain("old.example", "new.example")
            .await
            .unwrap(),
        crate::DomainRenamed::default()
    );
}
