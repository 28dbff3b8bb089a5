//! `POST /users/:user/mailboxes/:mailbox/messages/:message/submit`: send a stored draft.
//! The store's `submit_draft` does the work (the submission rule and the outbound queue that
//! SMTP submission uses); this route checks the input and answers as WildDuck does.

use axum::Extension;
use axum::extract::Path;
use axum::http::StatusCode;
use serde_json::json;
use wildduck_store::{Mailbox, SpecialUse, Store, User, UserId};

use super::messages::message_path;
use super::messages_upload::read_date;
use super::{JsonResult, Shared, success};
use crate::auth::{Access, Action, Resource};
use crate::error::{ApiError, ApiResult};
use crate::input::{Input, JsonBody};

pub async fn submit(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, mailbox, message)): Path<(String, String, String)>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    let (user, mailbox, uid) = message_path(&access, &user, &mailbox, &message)?;
    let mut input = Input::new(body);
    let delete_files = input.boolean("deleteFiles").unwrap_or(false);
    let send_time = read_date(&mut input, "sendTime");
    input.finish()?;
    if delete_files {
        return Err(ApiError::unsupported("\"deleteFiles\" (stored files)", 20));
    }
    access.require(user, Resource::Messages, Action::Create)?;
    let account = sending_account(&state.store, user).await?;
    let mailbox = super::messages::owned_message_mailbox(&state.store, user, mailbox).await?;
    let Some(submitted) = state
        .store
        .submit_draft(&account, mailbox.id, uid, send_time)
        .await?
    else {
        return success(json!({}));
    };
    let sent = sent_mailbox(&state.store, user).await?;
    success(json!({
        "queueId": submitted.queued.first().map(ToString::to_string),
        "message": {
            "id": submitted.sent.uid,
            "mailbox": sent.map(|m| m.id.to_string()),
            "size": submitted.sent.size,
        }
    }))
}

/// The user, when they may send: `UserDisabled` for a disabled or suspended account.
pub(super) async fn sending_account(store: &Store, user: UserId) -> ApiResult<User> {
    let account = store.get_user(user).await?;
    if account.disabled || account.suspended {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "UserDisabled",
            "User account is disabled",
        ));
    }
    Ok(account)
}

/// The user's \Sent mailbox, where the submission rule keeps the sent copy.
pub(super) async fn sent_mailbox(store: &Store, user: UserId) -> ApiResult<Option<Mailbox>> {
    Ok(store
        .list_mailboxes(user)
        .await?
        .into_iter()
        .find(|m| m.special_use == Some(SpecialUse::Sent)))
}
