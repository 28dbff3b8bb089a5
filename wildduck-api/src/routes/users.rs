//! Users: list, create, get, update, delete, resolve, logout, quota reset.
//!
//! Fields WildDuck has and we do not keep yet are refused with 501 when their value would
//! change behaviour (forwarding targets, retention, a deferred delete) and ignored when they
//! only describe (name, tags, language …); docs/api.md lists both.

use axum::Extension;
use axum::extract::Path;
use serde_json::{Value, json};
use wildduck_store::{NewUser, User, UserId};

use super::addresses::main_address;
use super::{JsonResult, Shared, success};
use crate::auth::{Access, Action, Resource};
use crate::error::{ApiError, ApiResult};
use crate::input::{Input, JsonBody, QueryInput, user_param};
use crate::paging::PageRequest;

pub async fn list(
    state: Shared,
    Extension(access): Extension<Access>,
    query: QueryInput,
) -> JsonResult {
    let mut input = Input::new(query.0);
    let paging = PageRequest::read(&mut input);
    let query = input.string_max("query", 255).unwrap_or_default();
    input.finish()?;
    let needle = query.to_lowercase();
    let mut rows = Vec::new();
    for user in state.store.list_users().await? {
        // A user token lists its own account only (WildDuck's `userlisting: read:own`).
        if access.own_user().is_some_and(|own| own != user.id) {
            continue;
        }
        let address = main_address(&state.store, user.id).await?;
        let matches = needle.is_empty()
            || user.username.to_lowercase().contains(&needle)
            || address
                .as_ref()
                .is_some_and(|a| a.address.to_lowercase().contains(&needle));
        if matches {
            rows.push((user, address.map(|a| a.address)));
        }
    }
    // Sorted by id: creation order, and a unique key for the cursors.
    let mut rows: Vec<(String, User, Option<String>)> = rows
        .into_iter()
        .map(|(user, address)| (user.id.to_string(), user, address))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let page = paging.apply(rows, |(id, _, _)| id)?;
    let results = page
        .rows
        .iter()
        .map(|(_, user, address)| user_json(user, address.as_deref()))
        .collect();
    success(page.response(&query, results))
}

pub async fn create(
    state: Shared,
    Extension(access): Extension<Access>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    access.require_root()?;
    let mut input = Input::new(body);
    let username = input.required_string("username");
    if !username.is_empty() && !is_wildduck_username(&username.to_lowercase()) {
        input.fail(
            "username",
            format!("\"username\" with value \"{username}\" fails to match the username pattern"),
        );
    }
    let password = input.required_string("password");
    let address = input.string("address");
    let quota = input.integer("quota", 0, u64::MAX >> 11);
    let hashed = input.boolean("hashedPassword").unwrap_or(false);
    let disabled_scopes = input.scopes("disabledScopes", false).unwrap_or_default();
    refuse_unsupported_account_fields(&mut input)?;
    input.finish()?;
    let new = NewUser {
        username,
        password,
        quota,
        address,
    };
    // A hash from WildDuck (or anything whose format WildDuck accepts) is stored as given
    // and becomes argon2id at the first login; other formats are refused here.
    let user = if hashed {
        state.store.create_user_with_password_hash(new).await?
    } else {
        state.store.create_user(new).await?
    };
    if !disabled_scopes.is_empty() {
        state
            .store
            .set_disabled_scopes(user.id, &disabled_scopes)
            .await?;
    }
    success(json!({ "id": user.id.to_string() }))
}

pub async fn get(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    access.require(user, Resource::Users, Action::Read)?;
    let record = state.store.get_user(user).await?;
    let address = main_address(&state.store, user).await?;
    success(user_json(
        &record,
        address.as_ref().map(|a| a.address.as_str()),
    ))
}

pub async fn update(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    query: QueryInput,
    JsonBody(body): JsonBody,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    access.require(user, Resource::Users, Action::Update)?;
    let mut input = Input::new(body).with_query(query);
    let password = input.string_max("password", 256);
    let quota = input.integer("quota", 0, u64::MAX >> 11);
    let disabled = input.boolean("disabled");
    let suspended = input.boolean("suspended");
    let disabled_scopes = input.scopes("disabledScopes", false);
    if input.boolean("hashedPassword") == Some(true) {
        return Err(ApiError::unsupported(
            "\"hashedPassword\" when updating a user",
            22,
        ));
    }
    refuse_unsupported_account_fields(&mut input)?;
    input.finish()?;
    // Quota and the account's state are the operator's to set, not the account holder's.
    let operator_only =
        quota.is_some() || disabled.is_some() || suspended.is_some() || disabled_scopes.is_some();
    if operator_only && access.own_user().is_some() {
        return Err(ApiError::missing_privileges());
    }
    state.store.get_user(user).await?;
    if let Some(password) = password {
        state.store.set_password(user, &password).await?;
        // As WildDuck: other sessions end with the old password, the caller's token lives on.
        let keep = match &access {
            Access::User { token, .. } => Some(token.as_str()),
            Access::Root => None,
        };
        state.tokens.revoke_user(user, keep);
    }
    if let Some(quota) = quota {
        state.store.set_quota(user, Some(quota)).await?;
    }
    if let Some(disabled) = disabled {
        state.store.set_disabled(user, disabled).await?;
    }
    if let Some(suspended) = suspended {
        state.store.set_suspended(user, suspended).await?;
    }
    if let Some(scopes) = disabled_scopes {
        state.store.set_disabled_scopes(user, &scopes).await?;
    }
    success(json!({}))
}

pub async fn delete(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    query: QueryInput,
    JsonBody(body): JsonBody,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    access.require_root()?;
    let mut input = Input::new(body).with_query(query);
    if input
        .string("deleteAfter")
        .is_some_and(|when| !when.is_empty())
    {
        // Deleting now when asked to wait would take away the restore window.
        return Err(ApiError::unsupported(
            "\"deleteAfter\" (deferred deletion)",
            21,
        ));
    }
    input.finish()?;
    state.store.get_user(user).await?;
    let addresses = state.store.list_addresses(user).await?;
    state.store.delete_user(user).await?;
    state.tokens.revoke_user(user, None);
    success(json!({ "addresses": { "deleted": addresses.len() } }))
}

pub async fn resolve(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(username): Path<String>,
) -> JsonResult {
    access.require_root()?;
    let user = state.store.find_user(&username).await?;
    success(json!({ "id": user.id.to_string() }))
}

/// WildDuck closes the user's IMAP sessions here; we have no way to do that yet.
pub async fn logout(Extension(access): Extension<Access>, Path(user): Path<String>) -> JsonResult {
    let user = user_param(&access, &user)?;
    access.require(user, Resource::Users, Action::Update)?;
    Err(ApiError::unsupported("Closing a user's IMAP sessions", 21))
}

/// Recounts the storage a user's messages take. The store moves the counter in the same
/// transaction as every change, so there is nothing to reset: both numbers are reported, and
/// a difference (which `wildduck verify --repair` fixes) would show here.
pub async fn quota_reset(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
) -> JsonResult {
    let user: UserId = user_param(&access, &user)?;
    access.require_root()?;
    let record = state.store.get_user(user).await?;
    let mut counted = 0u64;
    for mailbox in state.store.list_mailboxes(user).await? {
        counted += state.store.mailbox_status(mailbox.id).await?.size;
    }
    success(json!({
        "storageUsed": counted,
        "previousStorageUsed": record.storage_used,
    }))
}

/// Fields whose effect we can not honour yet: refused, never dropped in silence.
fn refuse_unsupported_account_fields(input: &mut Input) -> ApiResult<()> {
    if input.boolean("requirePasswordChange") == Some(true) {
        return Err(ApiError::unsupported("\"requirePasswordChange\"", 22));
    }
    if input_array_len(input, "targets").is_some_and(|n| n > 0) {
        return Err(ApiError::unsupported("Forwarding \"targets\"", 18));
    }
    if input
        .number("retention", 0.0, f64::MAX)
        .is_some_and(|ms| ms > 0.0)
    {
        return Err(ApiError::unsupported("Message \"retention\"", 21));
    }
    for field in ["encryptMessages", "encryptForwarded"] {
        if input.boolean(field) == Some(true) {
            return Err(ApiError::unsupported(&format!("\"{field}\""), 21));
        }
    }
    Ok(())
}

fn input_array_len(input: &mut Input, key: &str) -> Option<usize> {
    let len = match input.value(key)? {
        Value::Array(items) => Some(items.len()),
        _ => None,
    };
    if len.is_none() {
        input.fail(key, format!("\"{key}\" must be an array"));
    }
    len
}

/// WildDuck's username pattern (after lower-casing): `[a-z0-9-]` runs joined by one of
/// `. _ = :`, optionally `@` and a second such part.
fn is_wildduck_username(username: &str) -> bool {
    let part_ok = |part: &str| {
        !part.is_empty()
            && part.split(['.', '_', '=', ':']).all(|run| {
                !run.is_empty()
                    && run
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            })
    };
    match username.split_once('@') {
        Some((local, domain)) => part_ok(local) && part_ok(domain),
        None => part_ok(username),
    }
}

fn user_json(user: &User, address: Option<&str>) -> Value {
    json!({
        "id": user.id.to_string(),
        "username": user.username,
        "address": address,
        "quota": { "allowed": user.quota, "used": user.storage_used },
        "disabled": user.disabled,
        "activated": true,
        "suspended": user.suspended,
        "disabledScopes": user.disabled_scopes.iter().map(|s| s.name()).collect::<Vec<_>>(),
        "hasPasswordSet": true,
    })
}
