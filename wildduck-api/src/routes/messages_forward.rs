//! `POST /users/:user/mailboxes/:mailbox/messages/:message/forward`: WildDuck's
//! `forwardStoredMessage`, a stored message queued again, unchanged, to `addresses` (the
//! store's `forward_stored`). `target` (one of the forward targets the message had at
//! delivery) is `501`: we do not record those per message.

use axum::Extension;
use axum::extract::Path;
use serde_json::{Value, json};
use wildduck_store::normalize_address;

use super::messages::{message_path, owned_message_mailbox};
use super::{JsonResult, Shared, success};
use crate::auth::{Access, Action, Resource};
use crate::error::ApiError;
use crate::input::{Input, JsonBody};

pub async fn forward(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, mailbox, message)): Path<(String, String, String)>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    let (user, mailbox, uid) = message_path(&access, &user, &mailbox, &message)?;
    let mut input = Input::new(body);
    let target = input.integer("target", 1, 1000);
    let addresses = read_addresses(&mut input);
    input.finish()?;
    if target.is_some() {
        return Err(ApiError::unsupported(
            "\"target\" (the forward targets a message had at delivery are not kept)",
            21,
        ));
    }
    access.require(user, Resource::Messages, Action::Create)?;
    let mailbox = owned_message_mailbox(&state.store, user, mailbox).await?;
    // Checked before the empty answer, so an unknown message is 404 either way.
    state.store.display_message(mailbox.id, uid).await?;
    if addresses.is_empty() {
        return success(json!({ "forwarded": [] }));
    }
    let queued = state
        .store
        .forward_stored(user, mailbox.id, uid, &addresses)
        .await?;
    let forwarded: Vec<Value> = addresses
        .iter()
        .enumerate()
        .map(|(index, address)| {
            json!({ "seq": format!("{:03x}", index + 1), "type": "mail", "value": address })
        })
        .collect();
    success(json!({
        "queueId": queued.first().map(ToString::to_string),
        "forwarded": forwarded,
    }))
}

/// `addresses`: e-mail addresses, each checked.
fn read_addresses(input: &mut Input) -> Vec<String> {
    let items = match input.value("addresses") {
        None => return Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => {
            input.fail("addresses", "\"addresses\" must be an array".to_string());
            return Vec::new();
        }
    };
    let mut addresses = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        match item.as_str().map(str::trim) {
            Some(address) if normalize_address(address).is_ok() => {
                addresses.push(address.to_string())
            }
            _ => input.fail(
                "addresses",
                format!("\"addresses[{index}]\" must be a valid email"),
            ),
        }
    }
    addresses
}
