//! Mailboxes: list (with counters and sizes), create, get (by id or `resolve?path=`), update
//! (rename, subscribe, `hidden`, `retention`, `encryptMessages`), delete. WildDuck's path rules are checked
//! here, then the store's. As in WildDuck, creating `a/b` does not create `a`.

use std::cmp::Ordering;

use axum::Extension;
use axum::extract::Path;
use serde_json::{Value, json};
use wildduck_store::{
    Error, Mailbox, MailboxError, MailboxId, MailboxSettingsUpdate, Store, UserId,
};

use super::{JsonResult, Shared, success};
use crate::auth::{Access, Action, Resource};
use crate::error::ApiError;
use crate::input::{Input, JsonBody, QueryInput, mailbox_param, user_param};

/// WildDuck's `MAX_MAILBOX_NAME_LENGTH` and `MAX_SUB_MAILBOXES` (lib/consts.js).
const MAX_NAME_CHARS: usize = 512;
const MAX_LEVELS: usize = 128;

pub async fn list(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    query: QueryInput,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let mut input = Input::new(query.0);
    let special_use_only = input.boolean("specialUse").unwrap_or(false);
    let show_hidden = input.boolean("showHidden").unwrap_or(false);
    let counters = input.boolean("counters").unwrap_or(false);
    let sizes = input.boolean("sizes").unwrap_or(false);
    input.finish()?;
    access.require(user, Resource::Mailboxes, Action::Read)?;
    state.store.get_user(user).await?;
    let mut mailboxes: Vec<Mailbox> = state
        .store
        .list_mailboxes(user)
        .await?
        .into_iter()
        .filter(|m| !special_use_only || m.path == "INBOX" || m.special_use.is_some())
        .filter(|m| show_hidden || !m.hidden)
        .collect();
    mailboxes.sort_by(wildduck_order);
    let mut results = Vec::with_capacity(mailboxes.len());
    for mailbox in &mailboxes {
        let encrypted = state.store.mailbox_encrypted(mailbox.id).await?;
        let mut row = mailbox_json(mailbox, encrypted);
        if counters || sizes {
            let status = state.store.mailbox_status(mailbox.id).await?;
            if counters {
                row["total"] = status.messages.into();
                row["unseen"] = status.unseen.into();
            }
            if sizes {
                row["size"] = status.size.into();
            }
        }
        results.push(row);
    }
    success(json!({ "results": results }))
}

pub async fn create(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let mut input = Input::new(body);
    let path = mailbox_path(&mut input, true);
    let settings = SettingsInput::read(&mut input);
    input.finish()?;
    access.require(user, Resource::Mailboxes, Action::Create)?;
    state.store.get_user(user).await?;
    let path = path.unwrap_or_default();
    let encrypted = settings.encrypted;
    let settings = wildduck_store::MailboxSettings {
        hidden: settings.hidden.unwrap_or(false),
        retention: settings.retention,
    };
    let mailbox = state
        .store
        .create_mailbox_with_settings(user, &path, settings)
        .await?;
    if encrypted == Some(true) {
        state.store.set_mailbox_encrypted(mailbox.id, true).await?;
    }
    success(json!({ "id": mailbox.id.to_string() }))
}

pub async fn get(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, mailbox)): Path<(String, String)>,
    query: QueryInput,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let mut input = Input::new(query.0);
    let by_path = mailbox == "resolve";
    let path = mailbox_path(&mut input, by_path);
    let id = if by_path {
        None
    } else {
        Some(mailbox_param(&mailbox)?)
    };
    input.finish()?;
    access.require(user, Resource::Mailboxes, Action::Read)?;
    state.store.get_user(user).await?;
    let mailbox = match (id, path) {
        (Some(id), _) => owned_mailbox(&state.store, user, id).await?,
        (None, path) => {
            state
                .store
                .get_mailbox(user, &path.unwrap_or_default())
                .await?
        }
    };
    let status = state.store.mailbox_status(mailbox.id).await?;
    let encrypted = state.store.mailbox_encrypted(mailbox.id).await?;
    let mut response = mailbox_json(&mailbox, encrypted);
    response["total"] = status.messages.into();
    response["unseen"] = status.unseen.into();
    success(response)
}

pub async fn update(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, mailbox)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let id = mailbox_param(&mailbox)?;
    let mut input = Input::new(body);
    let new_path = mailbox_path(&mut input, false);
    let subscribed = input.boolean("subscribed");
    let settings = SettingsInput::read(&mut input);
    input.finish()?;
    if new_path.is_none() && subscribed.is_none() && !settings.given {
        return Err(ApiError::bad_request("Nothing was changed"));
    }
    access.require(user, Resource::Mailboxes, Action::Update)?;
    let fail = |err| ApiError::mailbox_action("Mailbox update", err);
    let mailbox = owned_mailbox(&state.store, user, id).await.map_err(fail)?;
    let mut path = mailbox.path.clone();
    if let Some(new_path) = new_path {
        if mailbox.path == "INBOX" {
            return Err(fail(
                MailboxError::Protected("INBOX can not be renamed".into()).into(),
            ));
        }
        state
            .store
            .rename_mailbox(user, &mailbox.path, &new_path)
            .await
            .map_err(fail)?;
        path = new_path;
    }
    if let Some(subscribed) = subscribed {
        state
            .store
            .set_subscribed(user, &path, subscribed)
            .await
            .map_err(fail)?;
    }
    let update = MailboxSettingsUpdate {
        hidden: settings.hidden,
        retention: settings.retention.map(Some),
    };
    if update != MailboxSettingsUpdate::default() {
        state
            .store
            .update_mailbox_settings(mailbox.id, update)
            .await
            .map_err(fail)?;
    }
    if let Some(encrypted) = settings.encrypted {
        state
            .store
            .set_mailbox_encrypted(mailbox.id, encrypted)
            .await
            .map_err(fail)?;
    }
    success(json!({}))
}

pub async fn delete(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, mailbox)): Path<(String, String)>,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let id = mailbox_param(&mailbox)?;
    access.require(user, Resource::Mailboxes, Action::Delete)?;
    let fail = |err| ApiError::mailbox_action("Mailbox deletion", err);
    let mailbox = owned_mailbox(&state.store, user, id).await.map_err(fail)?;
    state
        .store
        .delete_mailbox(user, &mailbox.path)
        .await
        .map_err(fail)?;
    success(json!({}))
}

/// The mailbox `id` if it belongs to `user`; another user's mailbox is as absent as none.
pub(super) async fn owned_mailbox(
    store: &Store,
    user: UserId,
    id: MailboxId,
) -> Result<Mailbox, Error> {
    let mailbox = store.get_mailbox_by_id(id).await?;
    if mailbox.user != user {
        return Err(MailboxError::NotFound.into());
    }
    Ok(mailbox)
}

/// `path` as WildDuck's schema checks it (no `//`, no trailing `/`, at most 128 levels of
/// at most 512 characters) and `normalizeMailbox` cleans it (leading `/` dropped, `INBOX`
/// upper-cased).
fn mailbox_path(input: &mut Input, required: bool) -> Option<String> {
    if !input.has("path") {
        if required {
            input.required_string("path");
        }
        return None;
    }
    let path = input.string("path")?;
    let failure = if path.is_empty() {
        Some("\"path\" is not allowed to be empty".to_string())
    } else if path.contains("//") || path.ends_with('/') {
        Some(format!(
            "\"path\" with value \"{path}\" matches the inverted pattern: /\\/{{2,}}|\\/$/"
        ))
    } else if path.chars().count() > MAX_NAME_CHARS * MAX_LEVELS + 127 {
        Some(format!(
            "\"path\" length must be less than or equal to {} characters long",
            MAX_NAME_CHARS * MAX_LEVELS + 127
        ))
    } else if path.split('/').count() > MAX_LEVELS {
        Some(format!(
            "The mailbox path cannot be more than {MAX_LEVELS} levels deep"
        ))
    } else if path
        .split('/')
        .any(|part| part.chars().count() > MAX_NAME_CHARS)
    {
        Some(format!(
            "Any part of the mailbox path cannot be longer than {MAX_NAME_CHARS} chars long"
        ))
    } else {
        None
    };
    if let Some(message) = failure {
        input.fail("path", message);
        return None;
    }
    let trimmed = path.strip_prefix('/').unwrap_or(&path);
    Some(match trimmed.split_once('/') {
        Some((first, rest)) if first.eq_ignore_ascii_case("INBOX") => format!("INBOX/{rest}"),
        None if trimmed.eq_ignore_ascii_case("INBOX") => "INBOX".to_string(),
        _ => trimmed.to_string(),
    })
}

/// `hidden`, `retention` (milliseconds, 0 = none) and `encryptMessages` as sent.
struct SettingsInput {
    hidden: Option<bool>,
    retention: Option<u64>,
    encrypted: Option<bool>,
    /// Whether any of them was sent at all (an update of only these is still a change).
    given: bool,
}

impl SettingsInput {
    fn read(input: &mut Input) -> Self {
        let given = ["hidden", "retention", "encryptMessages"]
            .iter()
            .any(|key| input.has(key));
        Self {
            hidden: input.boolean("hidden"),
            retention: input
                .number("retention", 0.0, f64::MAX)
                .map(|ms| ms.floor() as u64),
            encrypted: input.boolean("encryptMessages"),
            given,
        }
    }
}

/// WildDuck's listing order: INBOX, INBOX's children, subscribed before unsubscribed, then
/// by path ignoring case (as `localeCompare` mostly does).
fn wildduck_order(a: &Mailbox, b: &Mailbox) -> Ordering {
    let rank = |m: &Mailbox| {
        (
            m.path != "INBOX",
            !m.path.starts_with("INBOX/"),
            !m.subscribed,
        )
    };
    rank(a)
        .cmp(&rank(b))
        .then_with(|| a.path.to_lowercase().cmp(&b.path.to_lowercase()))
        .then_with(|| a.path.cmp(&b.path))
}

fn mailbox_json(mailbox: &Mailbox, encrypted: bool) -> Value {
    let name = mailbox.path.rsplit('/').next().unwrap_or(&mailbox.path);
    let mut row = json!({
        "id": mailbox.id.to_string(),
        "name": name,
        "path": mailbox.path,
        "specialUse": mailbox.special_use.map(|s| s.attribute()),
        "modifyIndex": mailbox.highest_modseq,
        "subscribed": mailbox.subscribed,
        "hidden": mailbox.hidden,
        "encryptMessages": encrypted,
    });
    if let Some(retention) = mailbox.retention {
        row["retention"] = retention.into();
    }
    row
}
