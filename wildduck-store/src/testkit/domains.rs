//! Conformance checks of the operator records: domain aliases in resolution and login,
//! domain access lists, DKIM keys and certificates kept one per key.

use super::user;
use crate::RegistryKind;
use crate::dkim::NewDkimKey;
use crate::domains::AccessAction;
use crate::error::*;
use crate::store::Store;

/// WildDuck's own suite key (1024-bit RSA, PKCS#1).
pub(super) const RSA_1024: &str = "-----BEGIN RSA PRIVATE KEY-----
MIICXQIBAAKBgQDFCPszabID2MLAzzfja3/TboKp4dHUGSkl6hNSly7IRdAhfh6J
h6vNa+2Y7pyNagX00ukycZ/03O/93X3UxjzX/NpLESo3GwSjp39R4AgdW91nKt7X
zGoz4ZQELAao+AH1QhJ8vumXFLFc6sS9l7Eu3+cZcAdWij2TCPKrB56tMQIDAQAB
AoGAAQNfz07e1Hg74CPwpKG74Yly8I6xtoZ+mKxQdx9B5VO+kz2DyK9C6eaBLUUk
1vFRoIWpH1JIQUkVjtehuwNd8rgPacPZRjSJrGuvwtP/bjzA8m/z/lI0+rfQW7L7
RfPoi2fl6MJ3KkjNypmVPPNvtJA42aPUDW6SFcXFvSv43gECQQD12RFLlZ5H3W6z
2ncJXiZha508LoyABkYeb+veCFwicoNEreQrToDgC3GuBRkODsUgRZaVu2sa4tlv
zO0rwkXRAkEAzSvmAxTvkSf/gMy5mO+sZKeUEtMHibF4LKxw7Men2oADgVTnS38r
f8uYJteLt3lkfHfV5ezEOERvQutKnMfpYQJBAL7apceUvkyyBWfQWIrIMWl9vpHi
3SXiOPsWDfjPap8/YNKnYDOSfQ/xMm5S/NFh+/yCqVVSKuKzavOVFiXbapECQQDC
hWdK7rN/xRNaUz93/2xL9hHOkyNnacoNWOSrqVO8NnicSxoLmyNrw2SbFusRZdde
puM2XfdffYqbQKd545OhAkBiCm/hUl5+hCJI6xl4wh3aR4h8j/TA6/u4ohPjqYco
LUPpKBaWeKdwQRbkkpMsVz6lFtpyZlV6V8joGEd8OLMO
-----END RSA PRIVATE KEY-----";

pub async fn domain_aliases(store: Store) {
    let ann = user(&store, "ann").await;
    store.add_address(ann.id, "ann@example.com").await.unwrap();
    let bob = user(&store, "bob").await;
    store.add_address(bob.id, "*@example.com").await.unwrap();
    let kim = user(&store, "kim").await;
    store
        .add_address(kim.id, "kim@alias.example")
        .await
        .unwrap();
    let alias = store
        .create_domain_alias("Alias.Example", "example.com")
        .await
        .unwrap();
    assert_eq!(
        (alias.alias.as_str(), alias.domain.as_str()),
        ("alias.example", "example.com")
    );
    assert_eq!(
        store
            .create_domain_alias("alias.example", "other.example")
            .await
            .unwrap_err(),
        Error::Registry(RegistryError::AlreadyExists(RegistryKind::DomainAlias))
    );
    assert!(matches!(
        store
            .create_domain_alias("example.com", "example.com")
            .await,
        Err(Error::Registry(RegistryError::Invalid(..)))
    ));
    // The exact address at the alias first, then the domain's address, then its wildcard.
    let reached = |address: &'static str| {
        let store = store.clone();
        async move {
            store
                .resolve_recipient(address)
                .await
                .map(|r| r.user().expect("a user").id)
        }
    };
    assert_eq!(reached("kim@alias.example").await.unwrap(), kim.id);
    assert_eq!(reached("A.n.n+tag@ALIAS.example").await.unwrap(), ann.id);
    assert_eq!(reached("someone@alias.example").await.unwrap(), bob.id);
    // Logins by address go through the alias too.
    assert_eq!(
        store.find_user("ann@alias.example").await.unwrap().id,
        ann.id
    );
    assert_eq!(
        store.resolve_domain_alias("ALIAS.example").await.unwrap(),
        alias
    );
    assert_eq!(
        store.list_domain_aliases().await.unwrap(),
        vec![alias.clone()]
    );

    store.delete_domain_alias(alias.id).await.unwrap();
    assert_eq!(
        store.delete_domain_alias(alias.id).await.unwrap_err(),
        Error::Registry(RegistryError::NotFound(RegistryKind::DomainAlias))
    );
    assert!(reached("ann@alias.example").await.is_err());
    assert!(store.find_user("ann@alias.example").await.is_err());
}

pub async fn domain_access_lists(store: Store) {
    let tags = vec!["Team".to_string(), "vip".to_string()];
    assert_eq!(
        store
            .domain_access_verdict(&tags, "spam.example")
            .await
            .unwrap(),
        None
    );
    let blocked = store
        .set_domain_access("team", "Spam.Example", AccessAction::Block)
        .await
        .unwrap();
    store
        .set_domain_access("VIP", "friends.example", AccessAction::Allow)
        .await
        .unwrap();
    store
        .set_domain_access("vip", "spam.example", AccessAction::Allow)
        .await
        .unwrap();
    // A block of any of the user's tags wins over an allow of another.
    assert_eq!(
        store
            .domain_access_verdict(&tags, "SPAM.example")
            .await
            .unwrap(),
        Some(AccessAction::Block)
    );
    assert_eq!(
        store
            .domain_access_verdict(&tags, "friends.example")
            .await
            .unwrap(),
        Some(AccessAction::Allow)
    );
    assert_eq!(
        store
            .domain_access_verdict(&["other".into()], "spam.example")
            .await
            .unwrap(),
        None
    );
    // Moving a domain to the other list keeps its entry.
    let moved = store
        .set_domain_access("TEAM", "spam.example", AccessAction::Allow)
        .await
        .unwrap();
    assert_eq!(moved, blocked);
    let allowed = store
        .list_domain_access("team", AccessAction::Allow)
        .await
        .unwrap();
    assert_eq!(allowed.len(), 1);
    assert_eq!(allowed[0].tag, "team", "the tag keeps its first spelling");
    assert!(
        store
            .list_domain_access("team", AccessAction::Block)
            .await
            .unwrap()
            .is_empty()
    );
    store.delete_domain_access(moved).await.unwrap();
    assert_eq!(
        store
            .domain_access_verdict(&["team".into()], "spam.example")
            .await
            .unwrap(),
        None
    );
}

pub async fn dkim_keys_one_per_domain(store: Store) {
    let new_key = |selector: &str| NewDkimKey {
        domain: "example.com".into(),
        selector: selector.into(),
        description: None,
        private_key: Some(RSA_1024.into()),
    };
    let (first, created) = store.set_dkim_key(new_key("one")).await.unwrap();
    assert!(created);
    let (second, created) = store.set_dkim_key(new_key("two")).await.unwrap();
    assert!(!created);
    assert_eq!(second.id, first.id);
    assert_eq!(store.get_dkim_key(first.id).await.unwrap().selector, "two");
    assert_eq!(store.list_dkim_keys().await.unwrap().len(), 1);
    assert!(
        store
            .dkim_signer("ann@EXAMPLE.com")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .dkim_signer("ann@other.example")
            .await
            .unwrap()
            .is_none()
    );
    store.delete_dkim_key(first.id).await.unwrap();
    assert!(
        store
            .dkim_signer("ann@example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        store.resolve_dkim_key("example.com").await,
        Err(Error::Registry(RegistryError::NotFound(RegistryKind::Dkim)))
    ));
}
