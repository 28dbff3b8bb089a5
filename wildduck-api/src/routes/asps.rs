//! Application-specific passwords: `/users/:user/asps` list, create, get, delete, as
//! WildDuck's `lib/api/asps.js`; `generateMobileconfig` adds an Apple configuration profile
//! (`crate::mobileconfig`).

use axum::Extension;
use axum::extract::Path;
use axum::http::StatusCode;
use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use serde_json::{Value, json};
use wildduck_store::{Asp, AspId, Error, NewAsp, Scope, Timestamp, UserId};

use super::{JsonResult, Shared, success};
use crate::auth::{Access, Action, Resource};
use crate::error::ApiError;
use crate::input::{Input, JsonBody, QueryInput, hex_id, user_param};
use crate::{ApiState, mobileconfig};

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
    let profile_address = input.string("address");
    // Session data only WildDuck's logs read.
    input.string("sess");
    input.string("ip");
    input.finish()?;
    // No scopes is every scope.
    let sets_up_mail = |scope| scopes.is_empty() || scopes.contains(&scope);
    if mobileconfig
        && (!(sets_up_mail(Scope::Imap) || sets_up_mail(Scope::Pop3)) || !sets_up_mail(Scope::Smtp))
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidAuthScope",
            "Profile file requires either imap or pop3 and smtp scopes",
        ));
    }
    // The account the profile names is checked before the ASP exists.
    let account = match mobileconfig {
        true => Some(profile_account(&state, user, profile_address.as_deref()).await?),
        false => None,
    };
    let pop3_only = !sets_up_mail(Scope::Imap);
    let (asp, password) = state
        .store
        .create_asp(
            user,
            NewAsp {
                description: description.clone().unwrap_or_default(),
                scopes,
                password,
                ttl,
            },
        )
        .await?;
    let id = asp.id.to_string();
    let Some((name, address)) = account else {
        return success(json!({ "id": id, "password": password }));
    };
    let profile = state.config.mobileconfig.profile(&mobileconfig::Account {
        id: &user.to_string(),
        name: &name,
        address: &address,
        pop3: pop3_only,
        description: description.as_deref(),
        password: &password,
    });
    success(json!({
        "id": id,
        "name": name,
        "address": address,
        "password": password,
        "mobileconfig": BASE64_STANDARD.encode(profile),
    }))
}

/// The name and address a profile sets up: the given address, which must be the user's,
/// else the main address; the address's name, else the user's.
async fn profile_account(
    state: &ApiState,
    user: UserId,
    address: Option<&str>,
) -> Result<(String, String), ApiError> {
    let profile = state.store.user_profile(user).await?;
    let found = match address {
        Some(given) => match state.store.find_address(given).await {
            Ok(found) if found.user == user => Some(found),
            Ok(_) | Err(Error::Address(_)) => {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "AddressNotFound",
                    "Invalid or unknown address",
                ));
            }
            Err(other) => return Err(other.into()),
        },
        None => state.store.main_address(user).await?,
    };
    let Some(found) = found else {
        return Ok((profile.name.unwrap_or_default(), String::new()));
    };
    let name = match address {
        Some(_) => state.store.address_details(found.id).await?.name,
        None => None,
    };
    Ok((name.or(profile.name).unwrap_or_default(), found.address))
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
