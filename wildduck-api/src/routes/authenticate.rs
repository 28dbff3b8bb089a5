//! `POST /authenticate` (password check, optionally a user token) and `DELETE /authenticate`
//! (ends the token the request came with).

use axum::Extension;
use axum::http::StatusCode;
use serde_json::json;
use wildduck_store::{Error, Scope};

use super::{JsonResult, Shared, success};
use crate::auth::Access;
use crate::error::ApiError;
use crate::input::{Input, JsonBody};
use crate::routes::addresses::main_address;
use crate::routes::authlog::attempt_origin;

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
    let mut origin = attempt_origin(&mut input);
    // WildDuck's default application name for its security log.
    origin.protocol = Some(
        input
            .string_max("protocol", 100)
            .unwrap_or_else(|| "API".into()),
    );
    let scope = match scope_name.as_str() {
        "master" => Some(Scope::Master),
        other => Scope::protocol(other).filter(|scope| scope.name() == other),
    };
    if scope.is_none() {
        input.fail(
            "scope",
            format!("\"scope\" must be one of [master, imap, smtp, pop3], not {scope_name:?}"),
        );
    } else if token && scope_name != "master" {
        input.fail("scope", "\"scope\" must be [master]".into());
    }
    input.finish()?;
    let scope = scope.unwrap_or(Scope::Master);
    let login = match state
        .store
        .authenticate_with(&username, &password, scope, &origin)
        .await
    {
        Ok(login) => login,
        Err(Error::Auth(refused)) => {
            tracing::info!(user = username, %scope, outcome = refused.reason(), "API login attempt");
            // Every refusal reads as a wrong password, as on IMAP (WildDuck answers a
            // disabled account the same way).
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "AuthFailed",
                "Authentication failed",
            ));
        }
        Err(other) => return Err(other.into()),
    };
    tracing::info!(user = username, %scope, outcome = "success", "API login attempt");
    let user = login.user;
    let address = main_address(&state.store, user.id).await?;
    let mut response = json!({
        "id": user.id.to_string(),
        "username": user.username,
        "address": address.map(|a| a.address),
        "scope": scope_name,
        "require2fa": if login.require_2fa { json!(["totp"]) } else { json!(false) },
        "requirePasswordChange": login.require_password_change,
    });
    if token {
        let ttl = state.config.token_ttl();
        response["token"] = state.store.issue_access_token(user.id, ttl).await?.into();
    }
    success(response)
}

pub async fn logout(state: Shared, Extension(access): Extension<Access>) -> JsonResult {
    if let Access::User { token, .. } = &access {
        state.store.revoke_access_token(token).await?;
    }
    success(json!({}))
}
