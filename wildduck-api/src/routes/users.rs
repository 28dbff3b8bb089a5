//! Users: list, create, get, update, delete (now or deferred), restore, resolve, quota reset,
//! password reset.
//!
//! Fields WildDuck has and we do not keep yet are refused with 501 when their value would
//! change behaviour (retention) and ignored when they only describe or
//! tune limits we do not enforce per user; docs/api.md lists both. Name, language, tags,
//! forwarding targets, the daily forward and recipient limits, the spam level, the PGP key
//! and encryption settings, metaData and internalData are kept (the store's user profile).

use axum::Extension;
use axum::extract::Path;
use serde_json::{Value, json};
use wildduck_store::encryption::{self, EncryptionSettings};
use wildduck_store::mime::parsed::iso_date;
use wildduck_store::{NewUser, User, UserId, UserProfile, normalize_address, tags_match};

use super::addresses::main_address;
use super::{JsonResult, Shared, fields, success};
use crate::auth::{Access, Action, Resource};
use crate::error::{ApiError, ApiResult};
use crate::input::{Input, JsonBody, QueryInput, user_param};
use crate::paging::PageRequest;

/// Longest name WildDuck allows for a user.
const MAX_NAME_CHARS: usize = 256;

pub async fn list(
    state: Shared,
    Extension(access): Extension<Access>,
    query: QueryInput,
) -> JsonResult {
    let mut input = Input::new(query.0);
    let paging = PageRequest::read(&mut input);
    let query = input.string_max("query", 255).unwrap_or_default();
    let any_tags = fields::tags(&mut input, "tags").unwrap_or_default();
    let all_tags = fields::tags(&mut input, "requiredTags").unwrap_or_default();
    input.finish()?;
    let needle = query.to_lowercase();
    let mut rows = Vec::new();
    for user in state.store.list_users().await? {
        // A user token lists its own account only (WildDuck's `userlisting: read:own`).
        if access.own_user().is_some_and(|own| own != user.id) {
            continue;
        }
        let address = main_address(&state.store, user.id).await?;
        let profile = state.store.user_profile(user.id).await?;
        let matches = needle.is_empty()
            || user.username.to_lowercase().contains(&needle)
            || address
                .as_ref()
                .is_some_and(|a| a.address.to_lowercase().contains(&needle));
        let tagged = (any_tags.is_empty() || tags_match(&profile.tags, &any_tags, false))
            && tags_match(&profile.tags, &all_tags, true);
        if matches && tagged {
            rows.push((user, address.map(|a| a.address), profile));
        }
    }
    // Sorted by id: creation order, and a unique key for the cursors.
    let mut rows: Vec<(String, User, Option<String>, UserProfile)> = rows
        .into_iter()
        .map(|(user, address, profile)| (user.id.to_string(), user, address, profile))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let page = paging.apply(rows, |(id, ..)| id)?;
    let results = page
        .rows
        .iter()
        .map(|(_, user, address, profile)| {
            user_json(
                user,
                address.as_deref(),
                profile,
                access.own_user().is_none(),
            )
        })
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
    let empty_address = input.boolean("emptyAddress").unwrap_or(false);
    let address = input.string("address").filter(|_| !empty_address);
    let quota = input.integer("quota", 0, u64::MAX >> 11);
    let hashed = input.boolean("hashedPassword").unwrap_or(false);
    let disabled_scopes = input.scopes("disabledScopes", false).unwrap_or_default();
    let mut profile = UserProfile::default();
    read_profile(&mut input, &mut profile, true);
    read_encryption(&mut input, &mut profile.encryption);
    refuse_unsupported_account_fields(&mut input)?;
    input.finish()?;
    check_key(&profile.encryption, &EncryptionSettings::default())?;
    // As WildDuck: without an address (and unless told not to), the account gets one made
    // of the username and this host's name.
    let address = match address {
        Some(address) => Some(address),
        None if empty_address => None,
        None => Some(default_address(&username)),
    };
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
    if profile != UserProfile::default() {
        state.store.set_user_profile(user.id, profile).await?;
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
    let profile = state.store.user_profile(user).await?;
    let mut body = user_json(
        &record,
        address.as_ref().map(|a| a.address.as_str()),
        &profile,
        access.own_user().is_none(),
    );
    let store_level = state.store.config().delivery.spam.level;
    body["spamLevel"] = profile.spam_level.unwrap_or(store_level).into();
    let (sent, sending_left) = state.store.recipients_sent(user).await?;
    let (forwarded, forwarding_left) = state.store.forwards_used(user).await?;
    body["limits"] = json!({
        "quota": { "allowed": record.quota, "used": record.storage_used },
        "recipients": {
            "allowed": state.store.sending_allowance(user).await?,
            "used": sent,
            "ttl": sending_left.as_secs(),
        },
        "forwards": {
            "allowed": state.store.forwarding_allowance(user).await?,
            "used": forwarded,
            "ttl": forwarding_left.as_secs(),
        },
    });
    add_encryption_json(&mut body, &profile.encryption);
    success(body)
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
    let mut profile = state.store.user_profile(user).await?;
    let profile_before = profile.clone();
    read_profile(&mut input, &mut profile, access.own_user().is_none());
    read_encryption(&mut input, &mut profile.encryption);
    if input.boolean("hashedPassword") == Some(true) {
        return Err(ApiError::unsupported(
            "\"hashedPassword\" when updating a user",
            22,
        ));
    }
    refuse_unsupported_account_fields(&mut input)?;
    input.finish()?;
    check_key(&profile.encryption, &profile_before.encryption)?;
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
        state.store.revoke_access_tokens(user, keep).await?;
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
    if profile != profile_before {
        state.store.set_user_profile(user, profile).await?;
    }
    success(json!({}))
}

/// Deletes a user now, or with `deleteAfter` takes them out of the registry now and their
/// data at that date (`Store::schedule_user_deletion`; `/users/:user/restore` undoes it).
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
    let delete_after = fields::date(&mut input, "deleteAfter");
    input.finish()?;
    let now = wildduck_store::now();
    let response = match delete_after.filter(|&at| at > now) {
        Some(at) => {
            let scheduled = state.store.schedule_user_deletion(user, at).await?;
            json!({
                "code": "TaskScheduled",
                "user": user.to_string(),
                "addresses": { "deleted": scheduled.addresses_deleted },
                "deleteAfter": iso_date(scheduled.delete_after),
                "task": scheduled.task.to_string(),
            })
        }
        None => {
            state.store.get_user(user).await?;
            let addresses = state.store.list_addresses(user).await?;
            state.store.delete_user(user).await?;
            json!({
                "user": user.to_string(),
                "addresses": { "deleted": addresses.len() },
                "deleteAfter": iso_date(now),
            })
        }
    };
    state.store.revoke_access_tokens(user, None).await?;
    success(response)
}

/// What restoring a user deleted with `deleteAfter` would bring back.
pub async fn restore_info(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    access.require(user, Resource::Users, Action::Read)?;
    let info = state.store.deleted_user_info(user).await?;
    success(json!({
        "user": user.to_string(),
        "username": info.username,
        "storageUsed": info.storage_used,
        "tags": info.tags,
        "deleted": iso_date(info.deleted_at),
        "recoverableAddresses": info.recoverable_addresses,
    }))
}

/// Cancels a deferred deletion: the user and the addresses no one took come back.
pub async fn restore(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    access.require(user, Resource::Users, Action::Update)?;
    Input::new(body).finish()?;
    let restored = state.store.restore_user(user).await?;
    let mut addresses = json!({ "recovered": restored.recovered });
    if let Some(main) = restored.main {
        addresses["main"] = main.into();
    }
    success(json!({
        "code": "TaskCancelled",
        "user": user.to_string(),
        "task": restored.task.to_string(),
        "addresses": addresses,
    }))
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

/// Recounts the storage a user's messages take and stores that figure. The store moves the
/// counter with every change, so the two numbers differ only after a fault.
pub async fn quota_reset(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
) -> JsonResult {
    let user: UserId = user_param(&access, &user)?;
    access.require_root()?;
    let (previous, counted) = state.store.recount_storage(user).await?;
    success(json!({
        "storageUsed": counted,
        "previousStorageUsed": previous,
    }))
}

/// Recounts every user's storage in the background (WildDuck queues a task too); answers at
/// once with the task's id, which the log lines of the recount carry.
pub async fn quota_reset_all(state: Shared, Extension(access): Extension<Access>) -> JsonResult {
    access.require_root()?;
    let task = wildduck_store::RecordId::new().to_string();
    let store = state.store.clone();
    let task_id = task.clone();
    tokio::spawn(async move {
        let users = match store.list_users().await {
            Ok(users) => users,
            Err(err) => {
                tracing::warn!(task = task_id, %err, "quota recount: listing users failed");
                return;
            }
        };
        for user in users {
            match store.recount_storage(user.id).await {
                Ok((previous, counted)) if previous != counted => {
                    tracing::info!(task = task_id, user = %user.id, previous, counted, "quota recounted");
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(task = task_id, user = %user.id, %err, "quota recount failed")
                }
            }
        }
        tracing::info!(task = task_id, "quota recount finished");
    });
    success(json!({ "task": task }))
}

/// A temporary password (WildDuck's reset): usable from `validAfter` for 24 hours, for the
/// API's `master` scope only, and it asks for a password change at login.
pub async fn password_reset(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    access.require_root()?;
    let mut input = Input::new(body);
    let valid_after = fields::date(&mut input, "validAfter");
    input.finish()?;
    let password = state.store.reset_password(user, valid_after).await?;
    let mut response = json!({ "password": password });
    if let Some(valid_after) = valid_after {
        response["validAfter"] = iso_date(valid_after).into();
    }
    success(response)
}

/// The profile fields of a create or update request, written into `profile`. `internalData`
/// only when `root` (WildDuck hides it from the `user` role).
fn read_profile(input: &mut Input, profile: &mut UserProfile, root: bool) {
    if let Some(name) = fields::optional_text(input, "name", MAX_NAME_CHARS) {
        profile.name = name;
    }
    if let Some(language) = fields::optional_text(input, "language", 20) {
        profile.language = language;
    }
    if let Some(tags) = fields::tags(input, "tags") {
        profile.tags = tags;
    }
    if let Some(targets) = fields::targets(input, "targets") {
        profile.targets = targets;
    }
    if let Some(forwards) = input.integer("forwards", 0, u64::MAX >> 11) {
        profile.forwards = forwards;
    }
    if let Some(recipients) = input.integer("recipients", 0, u64::MAX >> 11) {
        profile.recipients = recipients;
    }
    if let Some(level) = input.integer("spamLevel", 0, 100) {
        profile.spam_level = u8::try_from(level).ok();
    }
    if let Some(meta_data) = fields::meta_data(input, "metaData") {
        profile.meta_data = meta_data;
    }
    if root && let Some(internal_data) = fields::meta_data(input, "internalData") {
        profile.internal_data = internal_data;
    }
}

/// `username@<this host>` (WildDuck's default, from `os.hostname()`), or the username itself
/// when it is an address already.
fn default_address(username: &str) -> String {
    if normalize_address(username).is_ok() {
        return username.to_string();
    }
    let local = username.split('@').next().unwrap_or(username);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_lowercase())
        .ok()
        .filter(|name| normalize_address(&format!("{local}@{name}")).is_ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{local}@{host}")
}

/// Fields whose effect we can not honour yet: refused, never dropped in silence.
fn refuse_unsupported_account_fields(input: &mut Input) -> ApiResult<()> {
    if input.boolean("requirePasswordChange") == Some(true) {
        return Err(ApiError::unsupported("\"requirePasswordChange\"", 22));
    }
    if input
        .number("retention", 0.0, f64::MAX)
        .is_some_and(|ms| ms > 0.0)
    {
        return Err(ApiError::unsupported("Message \"retention\"", 21));
    }
    Ok(())
}

/// `pubKey` (`""` removes it; else it must look like an armored public key),
/// `encryptMessages` and `encryptForwarded`, into `settings`.
fn read_encryption(input: &mut Input, settings: &mut EncryptionSettings) {
    if let Some(key) = input.string("pubKey") {
        let key = key.trim();
        if key.is_empty() {
            settings.pub_key = None;
        } else if key.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
            settings.pub_key = Some(key.to_string());
        } else {
            input.fail(
                "pubKey",
                format!(
                    "\"pubKey\" with value \"{key}\" fails to match the PGP key format pattern"
                ),
            );
        }
    }
    if let Some(on) = input.boolean("encryptMessages") {
        settings.encrypt_messages = on;
    }
    if let Some(on) = input.boolean("encryptForwarded") {
        settings.encrypt_forwarded = on;
    }
}

/// A new key is checked before anything is written, so a key mail can not be encrypted to
/// changes nothing (WildDuck's 400 "PGP key validation failed. …").
fn check_key(settings: &EncryptionSettings, before: &EncryptionSettings) -> ApiResult<()> {
    if let Some(key) = &settings.pub_key
        && before.pub_key.as_ref() != Some(key)
    {
        encryption::key_info(key)?;
    }
    Ok(())
}

/// WildDuck's `encryptMessages`, `encryptForwarded`, `pubKey` (`""` when none) and `keyInfo`
/// (`false` when there is no key; left out when the key no longer reads, as WildDuck).
fn add_encryption_json(body: &mut Value, settings: &EncryptionSettings) {
    body["encryptMessages"] = json!(settings.encrypt_messages);
    body["encryptForwarded"] = json!(settings.encrypt_forwarded);
    body["pubKey"] = json!(settings.pub_key.as_deref().unwrap_or_default());
    match settings.pub_key.as_deref().map(encryption::key_info) {
        None => body["keyInfo"] = json!(false),
        Some(Ok(info)) => {
            body["keyInfo"] = json!({
                "name": info.name,
                "address": info.address,
                "fingerprint": info.fingerprint,
            })
        }
        Some(Err(err)) => tracing::warn!(error = %err, "stored public key does not read"),
    }
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

fn user_json(user: &User, address: Option<&str>, profile: &UserProfile, root: bool) -> Value {
    let mut body = json!({
        "id": user.id.to_string(),
        "username": user.username,
        "name": profile.name,
        "language": profile.language,
        "address": address,
        "tags": profile.tags,
        "targets": profile.targets.iter().map(|t| t.value()).collect::<Vec<_>>(),
        "metaData": profile.meta_data,
        "quota": { "allowed": user.quota, "used": user.storage_used },
        "disabled": user.disabled,
        "activated": true,
        "suspended": user.suspended,
        "disabledScopes": user.disabled_scopes.iter().map(|s| s.name()).collect::<Vec<_>>(),
        "hasPasswordSet": true,
    });
    if root {
        body["internalData"] = Value::Object(profile.internal_data.clone());
    }
    body
}
