//! Application-specific passwords: `/users/:user/asps` list, create, get, delete, as
//! WildDuck's `lib/api/asps.js` (without the Apple `mobileconfig` profile).

use axum::Extension;
use axum::extract::Path;
use serde_json::{Value, json};
use wildduck_store::{Asp, AspId, NewAsp, Timestamp};

use super::{JsonResult, Shared, success};
use crate::auth::{Access, Action, Resource};
use crate::error::ApiError;
use crate::input::{Input, JsonBody, QueryInput, hex_id, user_param};

pub async fn list(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    query: QueryInput,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    access.require(user, Resource::Asps, Action::Read)?;
    let mut input = Input::new(query.0);
    let show_all = input.boolean("showAll").unwrap_or(false);
    input.finish()?;
    let results: Vec<Value> = state
        .store
        .list_asps(user)
        .await?
        .iter()
        // As WildDuck: ASPs with a TTL (made for one session) only when asked for.
        .filter(|asp| show_all || asp.ttl.is_none())
        .map(asp_json)
        .collect();
    success(json!({ "results": results }))
}

pub async fn get(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, asp)): Path<(String, String)>,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let asp: AspId = hex_id("asp", &asp)?;
    access.require(user, Resource::Asps, Action::Read)?;
    success(asp_json(&state.store.get_asp(user, asp).await?))
}

pub async fn create(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    access.require(user, Resource::Asps, Action::Create)?;
    let mut input = Input::new(body);
    let description = if input.has("description") {
        input
            .string_max("description", 255)
            .map(|text| text.trim().to_string())
    } else {
        input.fail("description", "\"description\" is required".into());
        None
    };
    if description.as_deref() == Some("") {
        input.fail(
            "description",
            "\"description\" is not allowed to be empty".into(),
        );
    }
    let scopes = input.scopes("scopes", true).unwrap_or_default();
    let password = input.string("password").filter(|given| !given.is_empty());
    if password
        .as_deref()
        .is_some_and(|given| given.len() != 16 || !given.bytes().all(|b| b.is_ascii_lowercase()))
    {
        input.fail(
            "password",
            "\"password\" with value fails to match the password pattern".into(),
        );
    }
    // Joi's `number().empty([0, ''])`: 0 and "" mean no TTL.
    let ttl = input
        .number("ttl", 0.0, u64::MAX as f64)
        .map(|seconds| seconds as u64)
        .filter(|&seconds| seconds > 0);
    let mobileconfig = input.boolean("generateMobileconfig").unwrap_or(false);
    input.finish()?;
    if mobileconfig {
        return Err(ApiError::unsupported(
            "\"generateMobileconfig\" (Apple configuration profiles)",
            22,
        ));
    }
    let (asp, password) = state
        .store
        .create_asp(
            user,
            NewAsp {
                description: description.unwrap_or_default(),
                scopes,
                password,
                ttl,
            },
        )
        .await?;
    success(json!({ "id": asp.id.to_string(), "password": password }))
}

pub async fn delete(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, asp)): Path<(String, String)>,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let asp: AspId = hex_id("asp", &asp)?;
    access.require(user, Resource::Asps, Action::Delete)?;
    state.store.delete_asp(user, asp).await?;
    success(json!({}))
}

/// An ASP as WildDuck lists it: every protocol scope spelled out, dates as ISO 8601.
fn asp_json(asp: &Asp) -> Value {
    let mut last_use = json!({});
    if let Some(used) = &asp.last_use {
        last_use["time"] = iso_date(used.time).into();
    }
    let mut body = json!({
        "id": asp.id.to_string(),
        "description": asp.description,
        "scopes": asp.scopes.iter().map(|scope| scope.name()).collect::<Vec<_>>(),
        "lastUse": last_use,
        "created": iso_date(asp.created),
    });
    if let Some(expires) = asp.expires {
        body["expires"] = iso_date(expires).into();
    }
    body
}

pub(super) fn iso_date(time: Timestamp) -> String {
    mail_parser::DateTime::from_timestamp(time).to_rfc3339()
}
