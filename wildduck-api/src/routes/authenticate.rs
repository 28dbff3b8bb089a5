//! `POST /authenticate` (password check, optionally a user token) and `DELETE /authenticate`
//! (ends the token the request came with).

use axum::Extension;
use axum::http::StatusCode;
use serde_json::json;
use wildduck_store::{AuthError, Error, Scope};

use super::{JsonResult, Shared, success};
use crate::auth::Access;
use crate::error::ApiError;
use crate::input::{Input, JsonBody};
use crate::routes::addresses::main_address;

pub async fn login(
    state: Shared,
    Extension(access): Extension<Access>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    // WildDuck's `user` role has no createAny('authentication'): root asks on users' behalf.
    access.require_root()?;
    let mut input = Input::new(body);
    let username = input.required_string("username");
    let password = input.required_string("password");
    let scope_name = input.string("scope").unwrap_or_else(|| "master".into());
    let token = input.boolean("token").unwrap_or(false);
    let scope = match scope_name.as_str() {
        "master" => Some(Scope::Api),
        "imap" => Some(Scope::Imap),
        "pop3" => Some(Scope::Pop3),
        _ => None,
    };
    if scope.is_none() {
        input.fail(
            "scope",
            format!("\"scope\" must be one of [master, imap, pop3], not {scope_name:?}"),
        );
    } else if token && scope_name != "master" {
        input.fail("scope", "\"scope\" must be [master]".into());
    }
    input.finish()?;
    let scope = scope.unwrap_or(Scope::Api);
    let user = state
        .store
        .authenticate(&username, &password, scope)
        .await
        .map_err(|err| match err {
            Error::Auth(AuthError::InvalidCredentials) => {
                ApiError::new(StatusCode::FORBIDDEN, "AuthFailed", "Authentication failed")
            }
            other => ApiError::from(other),
        })?;
    let address = main_address(&state.store, user.id).await?;
    let mut response = json!({
        "id": user.id.to_string(),
        "username": user.username,
        "address": address.map(|a| a.address),
        "scope": scope_name,
        "require2fa": false,
        "requirePasswordChange": false,
    });
    if token {
        response["token"] = state.tokens.issue(user.id).into();
    }
    success(response)
}

pub async fn logout(state: Shared, Extension(access): Extension<Access>) -> JsonResult {
    if let Access::User { token, .. } = &access {
        state.tokens.revoke(token);
    }
    success(json!({}))
}
