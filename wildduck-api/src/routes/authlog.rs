//! The auth log as WildDuck's `lib/api/auth.js` shows it: `GET /users/:user/authlog` (newest
//! first, paged, narrowed by `action` and `filterip`) and `GET /users/:user/authlog/:event`;
//! and the `sess`/`ip` fields a caller gives to be logged with an attempt it makes for a
//! client. Events hold one attempt each, so `events` is 1 and `last` is `created`.

use std::net::IpAddr;

use axum::Extension;
use axum::extract::Path;
use axum::http::StatusCode;
use serde_json::{Value, json};
use wildduck_store::{AttemptOrigin, AuthEvent, AuthLogFilter, RecordId};

use super::asps::iso_date;
use super::{JsonResult, Shared, success};
use crate::auth::{Access, Action, Resource};
use crate::error::{ApiError, ApiResult};
use crate::input::{Input, QueryInput, hex_id, user_param};
use crate::paging::PageRequest;

const MAX_SESS_CHARS: usize = 255;
const MAX_ACTION_CHARS: usize = 100;

/// An IP address field (v4 or v6, no CIDR), as WildDuck's `sessIPSchema`.
fn ip_field(input: &mut Input, key: &str) -> Option<IpAddr> {
    let text = input.string(key)?;
    match text.trim().parse() {
        Ok(ip) => Some(ip),
        Err(_) => {
            input.fail(key, format!("\"{key}\" must be a valid ip address"));
            None
        }
    }
}

/// The `sess` and `ip` a caller asks to have logged with an attempt.
pub(super) fn attempt_origin(input: &mut Input) -> AttemptOrigin {
    AttemptOrigin {
        sess: input.string_max("sess", MAX_SESS_CHARS),
        ip: ip_field(input, "ip"),
        protocol: None,
    }
}

/// Sort keys that ascend as events get older, so the pager walks newest first.
fn newest_first_key(id: RecordId) -> String {
    id.bytes().iter().map(|b| format!("{:02x}", !b)).collect()
}

fn event_json(event: &AuthEvent) -> Value {
    let mut body = json!({
        "id": event.id.to_string(),
        "action": event.action,
        "result": event.result.name(),
        "created": iso_date(event.created),
        "last": iso_date(event.created),
        "events": 1,
        "expires": iso_date(event.expires),
    });
    let optional = [
        ("reason", event.reason.clone()),
        (
            "username",
            Some(event.username.clone()).filter(|u| !u.is_empty()),
        ),
        ("protocol", event.protocol.clone()),
        (
            "requiredScope",
            event.scope.map(|scope| scope.name().to_string()),
        ),
        (
            "source",
            event.source.map(|source| source.name().to_string()),
        ),
        ("asp", event.asp.map(|asp| asp.to_string())),
        ("ip", event.ip.clone()),
        ("sess", event.sess.clone()),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            body[key] = value.into();
        }
    }
    if event.require_2fa {
        body["require2fa"] = json!(["totp"]);
    }
    body
}

fn readable_user(access: &Access, user: &str) -> ApiResult<wildduck_store::UserId> {
    let user = user_param(access, user)?;
    access.require(user, Resource::Authentication, Action::Read)?;
    Ok(user)
}

pub async fn list(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    query: QueryInput,
) -> JsonResult {
    let user = readable_user(&access, &user)?;
    let mut input = Input::new(query.0);
    let paging = PageRequest::read(&mut input);
    let action = input
        .string_max("action", MAX_ACTION_CHARS)
        .map(|action| action.trim().to_lowercase())
        .filter(|action| !action.is_empty());
    let ip = ip_field(&mut input, "filterip");
    // Accepted as WildDuck does: they name the caller's session, not a filter.
    attempt_origin(&mut input);
    input.finish()?;
    let filter = AuthLogFilter {
        action: action.clone(),
        ip: ip.map(|ip| ip.to_string()),
    };
    let rows: Vec<(String, AuthEvent)> = state
        .store
        .auth_log(user, &filter)
        .await?
        .into_iter()
        .map(|event| (newest_first_key(event.id), event))
        .collect();
    let page = paging.apply(rows, |(key, _)| key)?;
    let results = page
        .rows
        .iter()
        .map(|(_, event)| event_json(event))
        .collect();
    let mut body = page.response("", results);
    if let Value::Object(fields) = &mut body {
        fields.remove("query");
        if let Some(action) = action {
            fields.insert("action".into(), action.into());
        }
    }
    success(body)
}

pub async fn get(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, event)): Path<(String, String)>,
) -> JsonResult {
    let user = readable_user(&access, &user)?;
    let event: RecordId = hex_id("event", &event)?;
    match state.store.auth_log_event(user, event).await? {
        Some(event) => success(event_json(&event)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "EventNotFound",
            "Event was not found",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_ids_sort_first() {
        let older = RecordId::from_bytes([1; 12]);
        let newer = RecordId::from_bytes([2; 12]);
        assert!(newest_first_key(newer) < newest_first_key(older));
    }
}
