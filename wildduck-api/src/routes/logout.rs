//! `PUT /users/:user/logout`: ends the user's live IMAP and POP3 sessions on every node, as
//! WildDuck's `logoutUser`; IMAP clients read the reason in their `BYE`.

use axum::Extension;
use axum::extract::Path;
use serde_json::json;
use wildduck_store::DEFAULT_LOGOUT_REASON;

use super::{JsonResult, Shared, success};
use crate::auth::{Access, Action, Resource};
use crate::input::{Input, JsonBody, user_param};

/// Longest reason WildDuck accepts.
const MAX_REASON_CHARS: usize = 128;

pub async fn logout_user(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    access.require(user, Resource::Users, Action::Read)?;
    let mut input = Input::new(body);
    let reason = input.string_max("reason", MAX_REASON_CHARS);
    input.finish()?;
    let reason = reason.filter(|given| !given.is_empty());
    state
        .store
        .logout_sessions(user, reason.as_deref().unwrap_or(DEFAULT_LOGOUT_REASON))
        .await?;
    success(json!({}))
}
