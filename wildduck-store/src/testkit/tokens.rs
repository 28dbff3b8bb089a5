//! Conformance checks of access tokens and the logins they open: a token names its user,
//! lives by its sliding TTL, ends when revoked (alone, or all of a user's but one), and
//! opens a protocol login for its own account only, under the account's states and scopes.

use std::time::Duration;

use crate::auth::bearer::BearerMechanism;
use crate::auth::{Login, Secret};
use crate::authlog::{AttemptOrigin, AuthSource};
use crate::error::*;
use crate::model::*;
use crate::store::Store;

use super::user;

const DAY: Duration = Duration::from_secs(24 * 3600);

async fn bearer(store: &Store, username: &str, token: &str, scope: Scope) -> Result<Login> {
    store
        .authenticate_secret(
            username,
            &Secret::Token(BearerMechanism::OAuthBearer, token.to_string()),
            scope,
            &AttemptOrigin::default(),
        )
        .await
}

fn refusal(result: Result<Login>) -> AuthError {
    match result {
        Err(Error::Auth(refusal)) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

pub async fn access_tokens_and_bearer_logins(store: Store) {
    let ann = user(&store, "ann").await;
    let bob = user(&store, "bob").await;
    let first = store.issue_access_token(ann.id, DAY).await.unwrap();
    let second = store.issue_access_token(ann.id, DAY).await.unwrap();
    let bobs = store.issue_access_token(bob.id, DAY).await.unwrap();
    assert_eq!(first.len(), 40);
    assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(first, second);
    assert_eq!(store.access_token_user(&first).await.unwrap(), Some(ann.id));
    assert_eq!(store.access_token_user(&bobs).await.unwrap(), Some(bob.id));
    assert_eq!(store.access_token_user("0123").await.unwrap(), None);

    let login = bearer(&store, "ann", &first, Scope::Imap).await.unwrap();
    assert_eq!(login.user.id, ann.id);
    assert_eq!(login.source, AuthSource::Token);
    for scope in [Scope::Pop3, Scope::Smtp, Scope::Master] {
        bearer(&store, "ann", &first, scope).await.unwrap();
    }
    // Another account's token, an unknown one, an unknown user: all a wrong password.
    for (username, token) in [
        ("bob", first.as_str()),
        ("ann", "nonsense"),
        ("nobody", &bobs),
    ] {
        assert_eq!(
            refusal(bearer(&store, username, token, Scope::Imap).await),
            AuthError::InvalidCredentials
        );
    }

    store
        .set_disabled_scopes(ann.id, &[Scope::Pop3])
        .await
        .unwrap();
    assert_eq!(
        refusal(bearer(&store, "ann", &first, Scope::Pop3).await),
        AuthError::ScopeDisabled
    );
    bearer(&store, "ann", &first, Scope::Imap).await.unwrap();
    store.set_suspended(ann.id, true).await.unwrap();
    assert_eq!(
        refusal(bearer(&store, "ann", &first, Scope::Imap).await),
        AuthError::Suspended
    );
    store.set_suspended(ann.id, false).await.unwrap();

    // A password change ends the others' tokens, the caller's own lives on.
    store
        .revoke_access_tokens(ann.id, Some(&first))
        .await
        .unwrap();
    assert_eq!(store.access_token_user(&first).await.unwrap(), Some(ann.id));
    assert_eq!(store.access_token_user(&second).await.unwrap(), None);
    assert_eq!(store.access_token_user(&bobs).await.unwrap(), Some(bob.id));
    store.revoke_access_token(&first).await.unwrap();
    assert_eq!(store.access_token_user(&first).await.unwrap(), None);
    assert_eq!(
        refusal(bearer(&store, "ann", &first, Scope::Imap).await),
        AuthError::InvalidCredentials
    );
    store.revoke_access_tokens(bob.id, None).await.unwrap();
    assert_eq!(store.access_token_user(&bobs).await.unwrap(), None);

    // A one-second TTL, in whole seconds: 1.1 s later it has passed.
    let brief = store
        .issue_access_token(ann.id, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(store.access_token_user(&brief).await.unwrap(), Some(ann.id));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(store.access_token_user(&brief).await.unwrap(), None);
    assert_eq!(
        refusal(bearer(&store, "ann", &brief, Scope::Imap).await),
        AuthError::InvalidCredentials
    );
}
