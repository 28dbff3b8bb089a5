//! Conformance checks of the login rule: scopes, account states, application passwords.

use crate::MAX_ASPS_PER_USER;
use crate::error::*;
use crate::model::*;
use crate::store::Store;

use super::user;

const ALL_SCOPES: [Scope; 4] = [Scope::Master, Scope::Imap, Scope::Pop3, Scope::Smtp];

async fn refusal(store: &Store, username: &str, password: &str, scope: Scope) -> Option<AuthError> {
    match store.authenticate(username, password, scope).await {
        Ok(_) => None,
        Err(Error::Auth(err)) => Some(err),
        Err(other) => panic!("{scope}: {other}"),
    }
}

/// Disabled scopes refuse like a wrong password; suspended and disabled accounts refuse
/// every scope, but tell it only to the right password.
pub async fn scopes_and_account_states(store: Store) {
    let bob = user(&store, "bob").await;
    for scope in ALL_SCOPES {
        assert_eq!(
            refusal(&store, "bob", "pass word", scope).await,
            None,
            "{scope}"
        );
    }
    store
        .set_disabled_scopes(bob.id, &[Scope::Pop3, Scope::Imap, Scope::Pop3])
        .await
        .unwrap();
    assert_eq!(
        store.get_user(bob.id).await.unwrap().disabled_scopes,
        vec![Scope::Imap, Scope::Pop3],
        "stored sorted, once each"
    );
    for (scope, expected) in [
        (Scope::Master, None),
        (Scope::Imap, Some(AuthError::ScopeDisabled)),
        (Scope::Pop3, Some(AuthError::ScopeDisabled)),
        (Scope::Smtp, None),
    ] {
        assert_eq!(
            refusal(&store, "bob", "pass word", scope).await,
            expected,
            "{scope}"
        );
        assert_eq!(
            refusal(&store, "bob", "wrong", scope).await,
            Some(AuthError::InvalidCredentials),
            "{scope}"
        );
    }
    assert_eq!(
        store.set_disabled_scopes(bob.id, &[Scope::Master]).await,
        Err(Error::User(UserError::InvalidScope(
            "the scope `master` can not be given here".into()
        ))),
        "the API can not be locked out"
    );
    store.set_disabled_scopes(bob.id, &[]).await.unwrap();
    assert_eq!(refusal(&store, "bob", "pass word", Scope::Imap).await, None);

    for (set, state) in [(true, AuthError::Suspended), (false, AuthError::Disabled)] {
        if set {
            store.set_suspended(bob.id, true).await.unwrap();
            assert!(store.get_user(bob.id).await.unwrap().suspended);
        } else {
            store.set_disabled(bob.id, true).await.unwrap();
        }
        for scope in ALL_SCOPES {
            assert_eq!(
                refusal(&store, "bob", "pass word", scope).await,
                Some(state.clone()),
                "{scope}"
            );
            assert_eq!(
                refusal(&store, "bob", "wrong", scope).await,
                Some(AuthError::InvalidCredentials),
                "{scope}: the state is not told to a wrong password"
            );
        }
        store.set_suspended(bob.id, false).await.unwrap();
        store.set_disabled(bob.id, false).await.unwrap();
    }
    assert_eq!(refusal(&store, "bob", "pass word", Scope::Pop3).await, None);
    let ghost = UserId::new();
    assert_eq!(
        store.set_suspended(ghost, true).await,
        Err(UserError::NotFound.into())
    );
    assert_eq!(
        store.set_disabled_scopes(ghost, &[Scope::Imap]).await,
        Err(UserError::NotFound.into())
    );
}

/// Application-specific passwords: creation rules, login by scope, spaces and case, last
/// use, TTL and expiry, deletion, the limit per user, and the account password alongside.
pub async fn application_passwords(store: Store) {
    let bob = user(&store, "bob").await;
    let carol = user(&store, "carol").await;
    let (phone, password) = store
        .create_asp(
            bob.id,
            NewAsp {
                description: " phone ".into(),
                ..NewAsp::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(password.len(), 16);
    assert!(
        password.bytes().all(|b| b.is_ascii_lowercase()),
        "{password}"
    );
    assert_eq!(phone.description, "phone");
    assert_eq!(
        phone.scopes,
        Scope::PROTOCOLS.to_vec(),
        "no scopes means all"
    );
    assert_eq!(
        (phone.ttl, phone.expires, &phone.last_use),
        (None, None, &None)
    );

    // Shown in groups of four and typed in capitals: the same password.
    let spaced: String = password
        .to_uppercase()
        .as_bytes()
        .chunks(4)
        .map(|group| std::str::from_utf8(group).unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    let ip: std::net::IpAddr = "192.0.2.7".parse().unwrap();
    let login = store
        .authenticate_from("bob", &spaced, Scope::Pop3, Some(ip))
        .await
        .unwrap();
    assert_eq!((login.user.id, login.asp), (bob.id, Some(phone.id)));
    let used = store
        .get_asp(bob.id, phone.id)
        .await
        .unwrap()
        .last_use
        .unwrap();
    assert_eq!(
        (used.scope, used.ip.as_deref()),
        (Scope::Pop3, Some("192.0.2.7"))
    );
    for scope in [Scope::Imap, Scope::Smtp] {
        assert_eq!(
            refusal(&store, "bob", &password, scope).await,
            None,
            "{scope}"
        );
    }
    assert_eq!(
        refusal(&store, "bob", &password, Scope::Master).await,
        Some(AuthError::InvalidCredentials),
        "an ASP never opens the API"
    );
    assert_eq!(
        refusal(&store, "carol", &password, Scope::Imap).await,
        Some(AuthError::InvalidCredentials),
        "another user's ASP"
    );
    let login = store
        .authenticate_from("bob", "pass word", Scope::Imap, None)
        .await
        .unwrap();
    assert_eq!(login.asp, None, "the account password still works");

    // A chosen password holding one scope; disabled scopes bind ASPs too.
    let (mail_only, chosen) = store
        .create_asp(
            bob.id,
            NewAsp {
                description: "pop client".into(),
                scopes: vec![Scope::Pop3],
                password: Some("Abcd Efgh Ijkl Mnop".into()),
                ttl: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(chosen, "abcdefghijklmnop");
    assert_eq!(mail_only.scopes, vec![Scope::Pop3]);
    assert_eq!(refusal(&store, "bob", &chosen, Scope::Pop3).await, None);
    assert_eq!(
        refusal(&store, "bob", &chosen, Scope::Imap).await,
        Some(AuthError::WrongScope)
    );
    store
        .set_disabled_scopes(bob.id, &[Scope::Pop3])
        .await
        .unwrap();
    assert_eq!(
        refusal(&store, "bob", &chosen, Scope::Pop3).await,
        Some(AuthError::ScopeDisabled)
    );
    store.set_disabled_scopes(bob.id, &[]).await.unwrap();

    // Bad input creates nothing.
    for bad in [
        NewAsp {
            description: "  ".into(),
            ..NewAsp::default()
        },
        NewAsp {
            description: "x".repeat(256),
            ..NewAsp::default()
        },
        NewAsp {
            description: "short".into(),
            password: Some("abcdefghijklmno".into()),
            ..NewAsp::default()
        },
        NewAsp {
            description: "digits".into(),
            password: Some("abcdefghijklmn0p".into()),
            ..NewAsp::default()
        },
        NewAsp {
            description: "master".into(),
            scopes: vec![Scope::Master],
            ..NewAsp::default()
        },
    ] {
        let err = store.create_asp(bob.id, bad.clone()).await.unwrap_err();
        assert!(
            matches!(err, Error::Asp(AspError::Invalid(_))),
            "{bad:?}: {err}"
        );
    }
    assert_eq!(store.list_asps(bob.id).await.unwrap().len(), 2);
    assert_eq!(
        store
            .create_asp(
                UserId::new(),
                NewAsp {
                    description: "ghost".into(),
                    ..NewAsp::default()
                }
            )
            .await
            .unwrap_err(),
        Error::User(UserError::NotFound)
    );

    // A TTL is renewed by each use; once past, the ASP neither lists nor logs in.
    let (renewed, renewed_password) = store
        .create_asp(
            bob.id,
            NewAsp {
                description: "renewed".into(),
                ttl: Some(86_400),
                ..NewAsp::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renewed.expires, Some(renewed.created + 86_400));
    assert_eq!(
        refusal(&store, "bob", &renewed_password, Scope::Imap).await,
        None
    );
    let after_use = store.get_asp(bob.id, renewed.id).await.unwrap();
    assert!(after_use.expires.unwrap() >= after_use.last_use.unwrap().time + 86_400);
    let (short, short_password) = store
        .create_asp(
            bob.id,
            NewAsp {
                description: "short-lived".into(),
                ttl: Some(1),
                ..NewAsp::default()
            },
        )
        .await
        .unwrap();
    // Whole seconds: after 1.1 s the clock's second is past `created + 1`.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        refusal(&store, "bob", &short_password, Scope::Imap).await,
        Some(AuthError::InvalidCredentials),
        "expired"
    );
    assert_eq!(
        store.get_asp(bob.id, short.id).await,
        Err(AspError::NotFound.into())
    );

    // Deleting: only the owner's, once.
    assert_eq!(
        store.delete_asp(carol.id, phone.id).await,
        Err(AspError::NotFound.into())
    );
    store.delete_asp(bob.id, phone.id).await.unwrap();
    assert_eq!(
        refusal(&store, "bob", &password, Scope::Imap).await,
        Some(AuthError::InvalidCredentials)
    );
    assert_eq!(
        store.delete_asp(bob.id, phone.id).await,
        Err(AspError::NotFound.into())
    );

    // The limit counts one user's live ASPs (the expired one is removed on the way).
    let live = store.list_asps(bob.id).await.unwrap().len();
    assert_eq!(live, 2, "pop client and renewed");
    for n in 0..3 {
        store
            .create_asp(
                carol.id,
                NewAsp {
                    description: format!("carol {n}"),
                    ..NewAsp::default()
                },
            )
            .await
            .unwrap();
    }
    for n in live..MAX_ASPS_PER_USER {
        store
            .create_asp(
                bob.id,
                NewAsp {
                    description: format!("device {n}"),
                    ..NewAsp::default()
                },
            )
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .create_asp(
                bob.id,
                NewAsp {
                    description: "one too many".into(),
                    ..NewAsp::default()
                }
            )
            .await,
        Err(AspError::TooMany {
            allowed: MAX_ASPS_PER_USER
        }
        .into())
    );
    // The chosen one is still found among 50 (by its selector, not by trying each).
    assert_eq!(refusal(&store, "bob", &chosen, Scope::Pop3).await, None);
    store.delete_user(bob.id).await.unwrap();
    assert_eq!(
        store.list_asps(bob.id).await,
        Err(UserError::NotFound.into())
    );
    assert_eq!(store.list_asps(carol.id).await.unwrap().len(), 3);
}
