//! Conformance checks of the auth log: every login attempt is kept with its result, reason,
//! origin and credential kind (never the password), listed per user newest first, found by
//! id within its user only, and dropped by the retention sweep once expired.

use std::net::IpAddr;
use std::time::Duration;

use crate::authlog::{
    ACTION_AUTHENTICATION, AUTH_LOG_RETENTION, AttemptOrigin, AuthEvent, AuthLogFilter, AuthResult,
    AuthSource,
};
use crate::backend::now;
use crate::model::*;
use crate::store::Store;

use super::user;

/// The user's log once it holds `count` events: they are written in the background.
async fn events_once_written(store: &Store, user: UserId, count: usize) -> Vec<AuthEvent> {
    for _ in 0..500 {
        let events = store
            .auth_log(user, &AuthLogFilter::default())
            .await
            .unwrap();
        if events.len() >= count {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the auth log never reached {count} events");
}

pub async fn auth_log_events(store: Store) {
    let ann = user(&store, "ann").await;
    let other = user(&store, "other").await;
    let (asp, asp_password) = store
        .create_asp(
            ann.id,
            NewAsp {
                description: "phone".into(),
                scopes: vec![Scope::Imap],
                ..NewAsp::default()
            },
        )
        .await
        .unwrap();
    let ip: IpAddr = "192.0.2.7".parse().unwrap();
    let origin = AttemptOrigin {
        ip: Some(ip),
        protocol: None,
        sess: Some("sess-1".into()),
    };
    let attempts = [
        ("ann", "pass word", Scope::Imap),
        ("ann", "wrong", Scope::Pop3),
        ("ann", asp_password.as_str(), Scope::Imap),
        ("ann", asp_password.as_str(), Scope::Smtp),
        ("nobody", "pass word", Scope::Imap),
    ];
    for (username, password, scope) in attempts {
        let _ = store
            .authenticate_with(username, password, scope, &origin)
            .await;
    }
    store
        .set_disabled_scopes(ann.id, &[Scope::Pop3])
        .await
        .unwrap();
    let _ = store
        .authenticate_from("ann", "pass word", Scope::Pop3, None)
        .await;
    store.log_locked_login("ann", Scope::Smtp, &AttemptOrigin::from_ip(Some(ip)));

    let events = events_once_written(&store, ann.id, 6).await;
    assert_eq!(events.len(), 6, "the unknown name is in nobody's log");
    let mut ids: Vec<RecordId> = events.iter().map(|event| event.id).collect();
    ids.sort_by_key(|&id| std::cmp::Reverse(id));
    assert_eq!(
        ids,
        events.iter().map(|event| event.id).collect::<Vec<_>>(),
        "newest first"
    );
    let described: Vec<_> = events
        .iter()
        .rev()
        .map(|event| {
            (
                event.protocol.as_deref(),
                event.result,
                event.reason.as_deref(),
                event.source,
            )
        })
        .collect();
    // The locked one is written after a lookup of its own: it may come before the last
    // password attempt.
    let (locked, rest): (Vec<_>, Vec<_>) = described
        .into_iter()
        .partition(|(_, _, reason, _)| *reason == Some("locked"));
    assert_eq!(
        locked,
        [(Some("SMTP"), AuthResult::Fail, Some("locked"), None)]
    );
    assert_eq!(
        rest,
        [
            (
                Some("IMAP"),
                AuthResult::Success,
                None,
                Some(AuthSource::Master)
            ),
            (
                Some("POP3"),
                AuthResult::Fail,
                Some("bad credentials"),
                None
            ),
            (
                Some("IMAP"),
                AuthResult::Success,
                None,
                Some(AuthSource::Asp)
            ),
            (
                Some("SMTP"),
                AuthResult::Fail,
                Some("password not valid for this scope"),
                None
            ),
            (Some("POP3"), AuthResult::Fail, Some("scope disabled"), None),
        ]
    );
    let with_asp = events
        .iter()
        .find(|event| event.source == Some(AuthSource::Asp))
        .unwrap();
    assert_eq!(with_asp.asp, Some(asp.id));
    assert_eq!(with_asp.ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(with_asp.sess.as_deref(), Some("sess-1"));
    assert_eq!(with_asp.scope, Some(Scope::Imap));
    assert_eq!(with_asp.user, Some(ann.id));
    assert_eq!(with_asp.action, ACTION_AUTHENTICATION);
    let kept = serde_json::to_string(&events).unwrap();
    assert!(!kept.contains("pass word") && !kept.contains("wrong"));
    assert!(!kept.contains(&asp_password));

    // Filters, and one event by id (only within its user).
    let from_ip = AuthLogFilter {
        action: None,
        ip: Some("192.0.2.7".into()),
    };
    assert_eq!(store.auth_log(ann.id, &from_ip).await.unwrap().len(), 5);
    let other_action = AuthLogFilter {
        action: Some("check 2fa totp".into()),
        ip: None,
    };
    assert!(
        store
            .auth_log(ann.id, &other_action)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.auth_log_event(ann.id, with_asp.id).await.unwrap(),
        Some(with_asp.clone())
    );
    assert_eq!(
        store.auth_log_event(other.id, with_asp.id).await.unwrap(),
        None
    );
    assert!(
        store
            .auth_log(other.id, &AuthLogFilter::default())
            .await
            .unwrap()
            .is_empty()
    );

    // The retention sweep drops events once their 30 days are over, not before.
    store.expunge_expired(now()).await.unwrap();
    assert_eq!(events_once_written(&store, ann.id, 6).await.len(), 6);
    store
        .expunge_expired(now() + AUTH_LOG_RETENTION + 1)
        .await
        .unwrap();
    assert!(
        store
            .auth_log(ann.id, &AuthLogFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
}
