//! The autoreply: `/users/:user/autoreply` get, update (creates it on first use), delete, as
//! WildDuck's `lib/api/autoreply.js`. When it replies is the store's rule.

use axum::Extension;
use axum::extract::Path;
use serde_json::{Value, json};
use wildduck_store::mime::parsed::{iso_date, parse_iso_date};
use wildduck_store::{AutoreplyUpdate, Timestamp};

use super::{JsonResult, Shared, success};
use crate::auth::{Access, Action, Resource};
use crate::input::{Input, JsonBody, user_param};

/// WildDuck's limits: name 128 characters, subject 2 KiB, text and HTML 128 KiB.
const MAX_NAME_CHARS: usize = 128;
const MAX_SUBJECT_CHARS: usize = 2 * 1024;
const MAX_BODY_CHARS: usize = 128 * 1024;

pub async fn get(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    access.require(user, Resource::Autoreplies, Action::Read)?;
    let Some(autoreply) = state.store.get_autoreply(user).await? else {
        return success(json!({
            "status": false, "name": "", "subject": "", "text": "", "html": "",
        }));
    };
    let mut body = json!({
        "status": autoreply.status,
        "name": autoreply.name,
        "subject": autoreply.subject,
        "text": autoreply.text,
        "html": autoreply.html,
        "created": iso_date(autoreply.created),
    });
    if let Some(start) = autoreply.start {
        body["start"] = iso_date(start).into();
    }
    if let Some(end) = autoreply.end {
        body["end"] = iso_date(end).into();
    }
    success(body)
}

pub async fn update(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    access.require(user, Resource::Autoreplies, Action::Update)?;
    let mut input = Input::new(body);
    let update = AutoreplyUpdate {
        status: input.boolean("status"),
        name: input.string_max("name", MAX_NAME_CHARS),
        subject: input.string_max("subject", MAX_SUBJECT_CHARS),
        text: input.string_max("text", MAX_BODY_CHARS),
        html: input.string_max("html", MAX_BODY_CHARS),
        start: bound(&mut input, "start"),
        end: bound(&mut input, "end"),
    };
    input.finish()?;
    let autoreply = state.store.set_autoreply(user, update).await?;
    success(json!({ "id": autoreply.id.to_string() }))
}

pub async fn delete(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    access.require(user, Resource::Autoreplies, Action::Delete)?;
    state.store.delete_autoreply(user).await?;
    success(json!({}))
}

/// `start`/`end`: Joi's `date().empty('').allow(false)`: an ISO date or milliseconds since
/// the epoch sets the bound, `false` removes it, `""` or absent leaves it.
fn bound(input: &mut Input, key: &str) -> Option<Option<Timestamp>> {
    let parsed = match input.value(key)? {
        Value::Bool(false) => return Some(None),
        Value::String(text) if text.is_empty() => return None,
        Value::String(text) => match text.trim().parse::<i64>() {
            Ok(millis) => Some(millis.div_euclid(1000)),
            Err(_) => parse_iso_date(text),
        },
        Value::Number(number) => number.as_i64().map(|millis| millis.div_euclid(1000)),
        _ => None,
    };
    match parsed {
        Some(time) => Some(Some(time)),
        None => {
            input.fail(key, format!("\"{key}\" must be a valid date"));
            None
        }
    }
}
