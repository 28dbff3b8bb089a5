//! `POST /users/:user/submit`: WildDuck's `submitMessage`, a message composed from JSON
//! (the fields of the upload route) and sent through the store's submission rule — the
//! one SMTP submission uses: From and envelope sender must be the user's, the \Sent copy
//! is stored and the outbound queue entries made in one unit. A future `sendTime` dates the
//! message and holds its queue entries until then.
//!
//! Left out (`501`): `reference` (reply/forward of a stored message), `draft`, `meta`,
//! `isDraft`, `uploadOnly`, and a `mailbox` other than \Sent.

use axum::Extension;
use axum::extract::Path;
use axum::http::StatusCode;
use serde_json::{Value, json};
use wildduck_store::mime::parsed::MailAddress;
use wildduck_store::{MailboxId, SubmitEnvelope, now};

use super::addresses::main_address;
use super::mailboxes::owned_mailbox;
use super::messages_submit::{sending_account, sent_mailbox};
use super::messages_upload::{Fields, address, address_list, first_given, read_date};
use super::{JsonResult, Shared, success};
use crate::auth::{Access, Action, Resource};
use crate::error::ApiError;
use crate::input::{Input, JsonBody, hex_id, user_param};

/// `envelope: {from?, to?}` as given; what is missing comes from the message.
#[derive(Default)]
struct GivenEnvelope {
    from: Option<MailAddress>,
    to: Vec<MailAddress>,
}

pub async fn submit(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let mut input = Input::new(body);
    let fields = Fields::read(&mut input);
    let send_time = read_date(&mut input, "sendTime");
    let given = read_envelope(&mut input);
    let mailbox = input
        .string("mailbox")
        .filter(|text| !text.is_empty())
        .and_then(|raw| match hex_id::<MailboxId>("mailbox", &raw) {
            Ok(id) => Some(id),
            Err(err) => {
                input.fail("mailbox", err.message);
                None
            }
        });
    let unsupported = first_given(
        &input,
        &["reference", "draft", "meta", "isDraft", "uploadOnly"],
    );
    input.finish()?;
    if let Some(key) = unsupported {
        return Err(ApiError::unsupported(&format!("\"{key}\" on submit"), 21));
    }
    access.require(user, Resource::Messages, Action::Create)?;
    let account = sending_account(&state.store, user).await?;
    let sent = sent_mailbox(&state.store, user).await?;
    if let Some(id) = mailbox {
        let named = owned_mailbox(&state.store, user, id).await?;
        if sent.as_ref().is_none_or(|sent| sent.id != named.id) {
            return Err(ApiError::unsupported(
                "a \"mailbox\" other than Sent Mail on submit",
                21,
            ));
        }
    }
    let from = match fields.from.clone().or(given.from.clone()) {
        Some(from) => from,
        None => MailAddress {
            name: String::new(),
            address: main_address(&state.store, user)
                .await?
                .map(|a| a.address)
                .unwrap_or_default(),
        },
    };
    // Without envelope recipients, the message's To, Cc and Bcc are.
    let (to, cc, bcc): (&[MailAddress], &[MailAddress], &[MailAddress]) = if given.to.is_empty() {
        (&fields.to, &fields.cc, &fields.bcc)
    } else {
        (&given.to, &[], &[])
    };
    let sender = given.from.as_ref().unwrap_or(&from);
    let envelope = SubmitEnvelope::from_headers(std::slice::from_ref(sender), to, cc, bcc);
    let date = send_time.filter(|&at| at > now()).unwrap_or_else(now);
    let raw = fields.build(from, date);
    let Some(submitted) = state
        .store
        .submit_message(&account, &envelope, &raw, send_time)
        .await?
    else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "NoRecipients",
            "No recipients: give \"to\", \"cc\", \"bcc\" or \"envelope.to\"",
        ));
    };
    success(json!({
        "message": {
            "mailbox": sent.map(|m| m.id.to_string()),
            "id": submitted.sent.uid,
            "queueId": submitted.queued.first().map(ToString::to_string),
        }
    }))
}

/// `envelope: {from?: {name?, address}, to?: [{name?, address}]}`.
fn read_envelope(input: &mut Input) -> GivenEnvelope {
    let fields = match input.value("envelope") {
        None | Some(Value::Null) => return GivenEnvelope::default(),
        Some(Value::Object(fields)) => fields.clone(),
        Some(_) => {
            input.fail(
                "envelope",
                "\"envelope\" must be of type object".to_string(),
            );
            return GivenEnvelope::default();
        }
    };
    let mut inner = Input::new(fields);
    let envelope = GivenEnvelope {
        from: address(&mut inner, "from"),
        to: address_list(&mut inner, "to"),
    };
    if let Err(err) = inner.finish() {
        input.fail("envelope", format!("\"envelope\": {}", err.message));
    }
    envelope
}
