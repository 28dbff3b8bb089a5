//! `POST /preauth`: may this username log in to a scope (WildDuck's pre-auth check, no
//! password). The rule is the store's `pre_authenticate`.

use axum::Extension;
use axum::http::StatusCode;
use serde_json::json;
use wildduck_store::{AuthError, Error, Scope};

use super::{JsonResult, Shared, success};
use crate::auth::Access;
use crate::error::ApiError;
use crate::input::{Input, JsonBody};
use crate::routes::addresses::main_address;

pub async fn check(
    state: Shared,
    Extension(access): Extension<Access>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    access.require_root()?;
    let mut input = Input::new(body);
    let username = input.required_string("username");
    let scope_name = input.string("scope").unwrap_or_else(|| "master".into());
    // Session data only WildDuck's logs read.
    input.string("sess");
    input.string("ip");
    let scope = match scope_name.as_str() {
        "master" => Some(Scope::Master),
        other => Scope::protocol(other).filter(|scope| scope.name() == other),
    };
    if scope.is_none() {
        input.fail(
            "scope",
            format!("\"scope\" must be one of [master, imap, smtp, pop3], not {scope_name:?}"),
        );
    }
    input.finish()?;
    let scope = scope.unwrap_or(Scope::Master);
    let user = match state.store.pre_authenticate(&username, scope).await {
        Ok(user) => user,
        Err(Error::Auth(AuthError::ScopeDisabled)) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "InvalidAuthScope",
                "Access to requested service disabled",
            ));
        }
        Err(Error::Auth(_)) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "AuthFailed",
                "Authentication failed",
            ));
        }
        Err(other) => return Err(other.into()),
    };
    let address = main_address(&state.store, user.id).await?;
    success(json!({
        "id": user.id.to_string(),
        "username": user.username,
        "address": address.map(|a| a.address),
        "scope": scope_name,
        "require2fa": false,
    }))
}
