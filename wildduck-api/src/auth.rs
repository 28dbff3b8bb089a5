//! Who is asking: WildDuck's access tokens (`accessToken` query parameter, `X-Access-Token`
//! header, `Authorization: Bearer`), the root token from the config, user tokens from
//! `POST /authenticate` (kept by the store, `Store::access_token_user`, so IMAP, POP3 and
//! submission take them too), and the `user` role of WildDuck's `config/roles.json`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, Uri};
use axum::middleware::Next;
use axum::response::Response;
use wildduck_store::UserId;

use crate::ApiState;
use crate::error::{ApiError, ApiResult};

/// The caller of one request, put into the request's extensions by [`require_token`].
#[derive(Clone, Debug)]
pub enum Access {
    /// The root token, or any loopback caller when no root token is configured.
    Root,
    /// A user token: reaches only its own user's routes, within the `user` role.
    User { id: UserId, token: String },
}

/// What a route touches, named as in WildDuck's role table. (Listings a user token may
/// call are narrowed to its own rows by the listing routes themselves.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    Users,
    Addresses,
    Mailboxes,
    Messages,
    Attachments,
    Asps,
    Storage,
    Filters,
    Autoreplies,
    /// The auth log: a user reads their own.
    Authentication,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    Read,
    Update,
    Delete,
}

impl Access {
    /// Allows root anything, and a user token `action` on its own `user` when the `user`
    /// role grants it (WildDuck's `…Own` permissions). Everything else is MissingPrivileges.
    pub fn require(&self, user: UserId, resource: Resource, action: Action) -> ApiResult<()> {
        match self {
            Access::Root => Ok(()),
            Access::User { id, .. } if *id == user && user_role_allows(resource, action) => Ok(()),
            Access::User { .. } => Err(ApiError::missing_privileges()),
        }
    }

    /// For routes that exist only for root (WildDuck's `…Any` permissions the `user` role
    /// lacks).
    pub fn require_root(&self) -> ApiResult<()> {
        match self {
            Access::Root => Ok(()),
            Access::User { .. } => Err(ApiError::missing_privileges()),
        }
    }

    /// The user a `user` token stands for.
    pub fn own_user(&self) -> Option<UserId> {
        match self {
            Access::Root => None,
            Access::User { id, .. } => Some(*id),
        }
    }
}

/// The own-user grants of WildDuck's `user` role (config/roles.json) for what we serve.
fn user_role_allows(resource: Resource, action: Action) -> bool {
    match resource {
        Resource::Users => matches!(action, Action::Read | Action::Update),
        Resource::Addresses | Resource::Mailboxes | Resource::Messages | Resource::Attachments => {
            true
        }
        // create:own, read:own, delete:own (there is no update).
        Resource::Asps => true,
        Resource::Storage => true,
        Resource::Filters | Resource::Autoreplies => true,
        Resource::Authentication => action == Action::Read,
    }
}

/// Middleware: decides the request's [`Access`] or answers 403 as WildDuck does.
pub async fn require_token(
    State(state): State<Arc<ApiState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = presented_token(request.uri(), request.headers());
    let access = match (&state.config.access_token, token) {
        (Some(root), Some(given)) if constant_time_eq(root.as_bytes(), given.as_bytes()) => {
            Access::Root
        }
        (_, Some(given)) => match state.store.access_token_user(&given).await? {
            Some(id) => Access::User { id, token: given },
            None => return Err(ApiError::invalid_token()),
        },
        (Some(_), None) => return Err(ApiError::invalid_token()),
        // No root token: only this machine may use the API (the listener is loopback too).
        (None, None) if peer.ip().is_loopback() => Access::Root,
        (None, None) => return Err(ApiError::invalid_token()),
    };
    request.extensions_mut().insert(access);
    Ok(next.run(request).await)
}

/// The token of a request, looked for where WildDuck looks, in its order.
fn presented_token(uri: &Uri, headers: &HeaderMap) -> Option<String> {
    let from_query = Query::<HashMap<String, String>>::try_from_uri(uri)
        .ok()
        .and_then(|Query(mut params)| params.remove("accessToken"))
        .filter(|value| !value.is_empty());
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|value| !value.is_empty())
    };
    let bearer = header("authorization").map(|value| {
        match value.get(..7) {
            Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => &value[7..],
            _ => value,
        }
        .trim()
        .to_string()
    });
    from_query
        .or_else(|| header("x-access-token").map(str::to_string))
        .or(bearer)
}

/// Compares without an early exit, so response time does not reveal a token's prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_found_in_query_header_and_bearer() {
        let uri = |text: &str| text.parse::<Uri>().unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(
            presented_token(&uri("/u?a=1&accessToken=a%2Bc"), &headers),
            Some("a+c".into())
        );
        headers.insert("x-access-token", "fromheader".parse().unwrap());
        assert_eq!(
            presented_token(&uri("/u"), &headers),
            Some("fromheader".into())
        );
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer  tok ".parse().unwrap());
        assert_eq!(
            presented_token(&uri("/u?accessToken="), &headers),
            Some("tok".into())
        );
        assert_eq!(presented_token(&uri("/u"), &HeaderMap::new()), None);
    }

    #[test]
    fn a_user_token_reaches_only_its_own_user() {
        let (alice, bob) = (UserId::new(), UserId::new());
        let access = Access::User {
            id: alice,
            token: String::new(),
        };
        assert!(
            access
                .require(alice, Resource::Mailboxes, Action::Delete)
                .is_ok()
        );
        assert!(
            access
                .require(bob, Resource::Mailboxes, Action::Read)
                .is_err()
        );
        assert!(
            access
                .require(alice, Resource::Users, Action::Delete)
                .is_err()
        );
        assert!(access.require_root().is_err());
        assert!(
            Access::Root
                .require(bob, Resource::Users, Action::Delete)
                .is_ok()
        );
    }
}
