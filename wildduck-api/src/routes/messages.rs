//! Messages of a mailbox: list (WildDuck's cursor paging), get one parsed, its raw source and
//! attachments, update flags or move (one message, or a range in bulk), delete, and the
//! user-wide search. Uploading is in `messages_upload.rs`.
//!
//! `:message` is the UID. Flags, moves and deletes go through the same store calls IMAP
//! uses; the parsed message comes from the store's `display_message`.

use axum::Extension;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use wildduck_store::mime::parsed::{Attachment, MailAddress, ParsedMessage, iso_date};
use wildduck_store::{
    DisplayMessage, Error, Flag, FlagOp, Flags, Mailbox, MailboxError, MailboxId, MessageError,
    MessageMeta, MetaFields, Store, Timestamp, Uid, UidSet, UserId,
};

use super::mailboxes::owned_mailbox;
use super::message_actions::{delete_messages, set_flags};
use super::messages_upload::read_date;
use super::search_query::MessageQuery;
use super::{JsonResult, Shared, success};
use crate::auth::{Access, Action, Resource};
use crate::error::{ApiError, ApiResult};
use crate::input::{Input, JsonBody, QueryInput, hex_id, mailbox_param, user_param};
use crate::paging::PageRequest;

/// WildDuck's pattern for a message list in updates: `1,2,3`, `3:15` or `3:*`.
pub(super) const RANGE_PATTERN: &str = r"/^\d+(,\d+)*$|^\d+:(\d+|\*)$/i";

pub async fn list(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, mailbox)): Path<(String, String)>,
    query: QueryInput,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let mailbox = mailbox_param(&mailbox)?;
    let mut query = query.0;
    // WildDuck's schema for this listing has no `page` (unknown keys are let through), so a
    // malformed one is ignored rather than refused.
    query.remove("page");
    let mut input = Input::new(query);
    let unseen = input.boolean("unseen");
    let paging = PageRequest::read(&mut input);
    let descending = read_order(&mut input);
    input.finish()?;
    access.require(user, Resource::Messages, Action::Read)?;
    let mailbox = owned_mailbox(&state.store, user, mailbox).await?;
    let mut metas = all_meta(&state.store, mailbox.id).await?;
    if let Some(unseen) = unseen {
        metas.retain(|meta| meta.flags.contains(&Flag::Seen) != unseen);
    }
    let rows: Vec<(String, MessageMeta)> = metas
        .into_iter()
        .map(|meta| {
            (
                order_key(descending, meta.internal_date, &mailbox.id, meta.uid),
                meta,
            )
        })
        .collect();
    let page = paging.apply(sorted(rows, |(key, _)| key), |(key, _)| key)?;
    let mut results = Vec::with_capacity(page.rows.len());
    for (_, meta) in &page.rows {
        let message = state.store.display_message(mailbox.id, meta.uid).await?;
        results.push(listing_json(&mailbox.id, &message));
    }
    let mut response = page.response("", results);
    response["specialUse"] = json!(mailbox.special_use.map(|s| s.attribute()));
    if let Value::Object(fields) = &mut response {
        fields.remove("query");
    }
    success(response)
}

pub async fn get(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, mailbox, message)): Path<(String, String, String)>,
    query: QueryInput,
) -> JsonResult {
    let (user, mailbox, uid) = message_path(&access, &user, &mailbox, &message)?;
    let mut input = Input::new(query.0);
    let replace_cid_links = input.boolean("replaceCidLinks").unwrap_or(false);
    let mark_as_seen = input.boolean("markAsSeen").unwrap_or(false);
    input.finish()?;
    access.require(user, Resource::Messages, Action::Read)?;
    let mailbox = owned_message_mailbox(&state.store, user, mailbox).await?;
    let mut message = state.store.display_message(mailbox.id, uid).await?;
    if mark_as_seen && !message.meta.flags.contains(&Flag::Seen) {
        let seen = Flags::from([Flag::Seen]);
        let uids = UidSet::from_ranges([(uid, uid)]);
        state
            .store
            .store_flags(mailbox.id, &uids, FlagOp::Add, &seen, None)
            .await?;
        message.meta.flags.insert(Flag::Seen);
    }
    let mut response = message_json(user, &mailbox.id, &message);
    if replace_cid_links {
        let base = format!(
            "/users/{user}/mailboxes/{}/messages/{uid}/attachments/",
            mailbox.id
        );
        let link = |body: &str| body.replace("attachment:ATT", &format!("{base}ATT"));
        response["html"] = json!(
            message
                .parsed
                .html
                .iter()
                .map(|h| link(h))
                .collect::<Vec<_>>()
        );
        response["text"] = json!(link(&message.parsed.text));
    }
    success(response)
}

pub async fn source(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, mailbox, message)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let (user, mailbox, uid) = message_path(&access, &user, &mailbox, &message)?;
    access.require(user, Resource::Messages, Action::Read)?;
    let mailbox = owned_message_mailbox(&state.store, user, mailbox).await?;
    let raw = state.store.message_source(mailbox.id, uid).await?;
    Ok(([(header::CONTENT_TYPE, "message/rfc822")], Body::from(raw)).into_response())
}

pub async fn attachment(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, mailbox, message, attachment)): Path<(String, String, String, String)>,
) -> ApiResult<Response> {
    let (user, mailbox, uid) = message_path(&access, &user, &mailbox, &message)?;
    let id = attachment.to_ascii_uppercase();
    let valid = id
        .strip_prefix("ATT")
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
    if !valid {
        let mut input = Input::new(Map::new());
        input.fail(
            "attachment",
            format!(
                "\"attachment\" with value \"{attachment}\" fails to match the required pattern: /^ATT\\d+$/i"
            ),
        );
        input.finish()?;
    }
    access.require(user, Resource::Attachments, Action::Read)?;
    let mailbox = owned_message_mailbox(&state.store, user, mailbox).await?;
    let Some((listed, content)) = state.store.message_attachment(mailbox.id, uid, &id).await?
    else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "AttachmentNotFound",
            "This attachment does not exist",
        ));
    };
    let content_type = listed.content_type;
    Ok(([(header::CONTENT_TYPE, content_type)], Body::from(content)).into_response())
}

/// `PUT …/messages/:message`: the message list comes from the path.
pub async fn update_one(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, mailbox, message)): Path<(String, String, String)>,
    JsonBody(mut body): JsonBody,
) -> JsonResult {
    body.insert("message".into(), Value::String(message));
    update(state, access, user, mailbox, body).await
}

/// `PUT …/messages`: the message list is the body's `message`.
pub async fn update_many(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, mailbox)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    update(state, access, user, mailbox, body).await
}

async fn update(
    state: Shared,
    access: Access,
    user: String,
    mailbox: String,
    body: Map<String, Value>,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let mailbox = mailbox_param(&mailbox)?;
    let mut input = Input::new(body);
    let uids = message_range(&mut input);
    let flag_changes: Vec<(Flag, bool)> = [
        ("seen", Flag::Seen),
        ("flagged", Flag::Flagged),
        ("deleted", Flag::Deleted),
        ("draft", Flag::Draft),
    ]
    .into_iter()
    .filter_map(|(key, flag)| input.boolean(key).map(|on| (flag, on)))
    .collect();
    let move_to = match input.string("moveTo").filter(|text| !text.is_empty()) {
        Some(raw) => match hex_id::<MailboxId>("moveTo", &raw) {
            Ok(id) => Some(id),
            Err(err) => {
                input.fail("moveTo", err.message);
                None
            }
        },
        None => None,
    };
    let expires = read_expires(&mut input);
    input.finish()?;
    let uids = uids.unwrap_or_default();
    access.require(user, Resource::Messages, Action::Update)?;
    let source = owned_message_mailbox(&state.store, user, mailbox).await?;
    let target = match move_to {
        Some(id) => Some(owned_mailbox(&state.store, user, id).await?),
        None => None,
    };
    let mut matched = state
        .store
        .fetch_meta(source.id, &uids, MetaFields::default())
        .await?
        .len();
    if let Some(reached) = set_flags(&state.store, source.id, &uids, &flag_changes).await? {
        matched = reached;
    }
    if let Some(expires) = expires {
        matched = state
            .store
            .set_message_expiry(source.id, &uids, expires)
            .await?;
    }
    if let Some(target) = target {
        let moved = state
            .store
            .move_messages(source.id, &uids, target.id)
            .await?;
        if moved.pairs.is_empty() {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "MessageNotFound",
                "Could not move message, check if message exists",
            ));
        }
        return success(json!({
            "mailbox": target.id.to_string(),
            "id": moved.pairs.iter().map(|(from, to)| json!([from, to])).collect::<Vec<_>>(),
        }));
    }
    if matched == 0 {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "MessageNotFound",
            "No message matched query",
        ));
    }
    success(json!({ "updated": matched }))
}

pub async fn delete(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, mailbox, message)): Path<(String, String, String)>,
) -> JsonResult {
    let (user, mailbox, uid) = message_path(&access, &user, &mailbox, &message)?;
    access.require(user, Resource::Messages, Action::Delete)?;
    let mailbox = owned_message_mailbox(&state.store, user, mailbox).await?;
    let uids = UidSet::from_ranges([(uid, uid)]);
    if delete_messages(&state.store, mailbox.id, &uids).await? == 0 {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "MessageNotFound",
            "Message was not found",
        ));
    }
    success(json!({}))
}

/// `GET /users/:user/search`: messages of every mailbox (or one) matching all given terms.
pub async fn search(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    query: QueryInput,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let mut input = Input::new(query.0);
    let search = MessageQuery::read(&mut input)?;
    let paging = PageRequest::read(&mut input);
    let descending = read_order(&mut input);
    input.finish()?;
    access.require(user, Resource::Messages, Action::Read)?;
    let mut rows = Vec::new();
    for (mailbox, uids) in search.run(&state.store, user).await? {
        let set = UidSet::from_ranges(uids.iter().map(|&uid| (uid, uid)));
        for meta in state
            .store
            .fetch_meta(mailbox.id, &set, MetaFields::default())
            .await?
        {
            let key = order_key(descending, meta.internal_date, &mailbox.id, meta.uid);
            rows.push((key, mailbox.id, meta.uid));
        }
    }
    let page = paging.apply(sorted(rows, |(key, _, _)| key), |(key, _, _)| key)?;
    let mut results = Vec::with_capacity(page.rows.len());
    for (_, mailbox, uid) in &page.rows {
        let message = state.store.display_message(*mailbox, *uid).await?;
        results.push(listing_json(mailbox, &message));
    }
    success(page.response("", results))
}

/// `:user`, `:mailbox` and `:message` of a path, checked together as WildDuck does.
pub(super) fn message_path(
    access: &Access,
    user: &str,
    mailbox: &str,
    message: &str,
) -> ApiResult<(UserId, MailboxId, Uid)> {
    let user = user_param(access, user)?;
    let mailbox = mailbox_param(mailbox)?;
    let mut input = Input::new(Map::from_iter([(
        "message".to_string(),
        Value::String(message.to_string()),
    )]));
    let uid = input.integer("message", 1, u64::from(Uid::MAX));
    input.finish()?;
    Ok((user, mailbox, uid.unwrap_or_default() as Uid))
}

/// The mailbox of a message route; an unknown mailbox means an unknown message (WildDuck
/// looks the message up by mailbox and UID and finds nothing).
pub(super) async fn owned_message_mailbox(
    store: &Store,
    user: UserId,
    id: MailboxId,
) -> ApiResult<Mailbox> {
    owned_mailbox(store, user, id)
        .await
        .map_err(|err| match err {
            Error::Mailbox(MailboxError::NotFound) => Error::from(MessageError::NotFound).into(),
            other => other.into(),
        })
}

/// `message` as WildDuck's range pattern allows it.
fn message_range(input: &mut Input) -> Option<UidSet> {
    let raw = input.required_string("message");
    let set = parse_uid_range(&raw);
    if set.is_none() && input.has("message") {
        input.fail(
            "message",
            format!("\"message\" with value \"{raw}\" fails to match the required pattern: {RANGE_PATTERN}"),
        );
    }
    set
}

/// WildDuck's message list: `1,2,3`, `3:15` or `3:*`; `None` when `raw` is none of these.
pub(super) fn parse_uid_range(raw: &str) -> Option<UidSet> {
    let number = |text: &str| text.parse::<Uid>().ok().filter(|&uid| uid > 0);
    if let Some((first, last)) = raw.split_once(':') {
        let last = if last == "*" {
            Some(Uid::MAX)
        } else {
            number(last)
        };
        number(first)
            .zip(last)
            .map(|range| UidSet::from_ranges([range]))
    } else {
        raw.split(',')
            .map(|part| number(part).map(|uid| (uid, uid)))
            .collect::<Option<Vec<_>>>()
            .map(UidSet::from_ranges)
    }
}

/// `expires`: a date the messages expire at, or `false` for never (WildDuck's
/// `Joi.alternatives(date, false)`); `None` when not given.
fn read_expires(input: &mut Input) -> Option<Option<Timestamp>> {
    match input.value("expires")? {
        Value::Bool(false) => Some(None),
        Value::String(text) if text == "false" => Some(None),
        _ => read_date(input, "expires").map(Some),
    }
}

/// `order`: `asc`, or `desc` (the default); true for descending.
fn read_order(input: &mut Input) -> bool {
    match input.string("order").as_deref() {
        None | Some("") | Some("desc") => true,
        Some("asc") => false,
        Some(_) => {
            input.fail("order", "\"order\" must be one of [asc, desc]".to_string());
            true
        }
    }
}

async fn all_meta(store: &Store, mailbox: MailboxId) -> ApiResult<Vec<MessageMeta>> {
    Ok(store
        .fetch_meta(mailbox, &UidSet::all(), MetaFields::default())
        .await?)
}

/// A paging key that sorts rows by receive time (then mailbox and UID), in `descending`
/// order when asked: the numbers are complemented so that ascending keys walk backwards.
fn order_key(descending: bool, received: i64, mailbox: &MailboxId, uid: Uid) -> String {
    let mailbox = mailbox.to_string();
    if descending {
        let mailbox: String = mailbox
            .chars()
            .map(|c| char::from_digit(15 - c.to_digit(16).unwrap_or(0), 16).unwrap_or('0'))
            .collect();
        format!("{:020}{mailbox}{:010}", i64::MAX - received, Uid::MAX - uid)
    } else {
        format!("{:020}{mailbox}{uid:010}", received.max(0))
    }
}

/// Rows in key order, as [`PageRequest::apply`] wants them.
fn sorted<R>(mut rows: Vec<R>, key: impl Fn(&R) -> &str) -> Vec<R> {
    rows.sort_by(|a, b| key(a).cmp(key(b)));
    rows
}

fn address_json(address: &MailAddress) -> Value {
    json!({ "name": address.name, "address": address.address })
}

fn addresses_json(addresses: &[MailAddress]) -> Vec<Value> {
    addresses.iter().map(address_json).collect()
}

/// From:, or WildDuck's stand-in when a message has none.
fn from_json(parsed: &ParsedMessage) -> Value {
    parsed
        .from
        .first()
        .map_or_else(|| json!({ "name": "", "address": "" }), address_json)
}

fn attachment_json(attachment: &Attachment) -> Value {
    json!({
        "id": attachment.id,
        "hash": attachment.hash,
        "fileContentHash": attachment.file_content_hash,
        "filename": attachment.filename,
        "contentType": attachment.content_type,
        "disposition": attachment.disposition.as_ref().map_or(Value::Bool(false), |d| json!(d)),
        "transferEncoding": attachment.transfer_encoding,
        "cid": attachment.cid,
        "related": attachment.related,
        "sizeKb": attachment.size_kb(),
        "size": attachment.size,
    })
}

/// The fields WildDuck's listing and single-message answers share.
fn common_json(mailbox: &MailboxId, message: &DisplayMessage) -> Map<String, Value> {
    let (meta, parsed) = (&message.meta, &message.parsed);
    let has = |flag: &Flag| meta.flags.contains(flag);
    let forwarded = has(&Flag::Keyword("$Forwarded".into()));
    let mut content_type = json!({ "value": parsed.content_type.value });
    if !parsed.content_type.params.is_empty() {
        content_type["params"] = Value::Object(
            parsed
                .content_type
                .params
                .iter()
                .map(|(name, value)| (name.to_ascii_lowercase(), json!(value)))
                .collect(),
        );
    }
    let fields = json!({
        "id": meta.uid,
        "mailbox": mailbox.to_string(),
        "from": from_json(parsed),
        "subject": parsed.subject,
        "messageId": parsed.message_id,
        "date": parsed.date.or(meta.header_date).map(iso_date),
        "idate": iso_date(meta.internal_date),
        "size": meta.size,
        "seen": has(&Flag::Seen),
        "deleted": has(&Flag::Deleted),
        "flagged": has(&Flag::Flagged),
        "draft": has(&Flag::Draft),
        "answered": has(&Flag::Answered) && !forwarded,
        "forwarded": forwarded,
        "references": parsed.references,
        "contentType": content_type,
    });
    match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn listing_json(mailbox: &MailboxId, message: &DisplayMessage) -> Value {
    let parsed = &message.parsed;
    let mut row = common_json(mailbox, message);
    row.insert("to".into(), json!(addresses_json(&parsed.to)));
    row.insert("cc".into(), json!(addresses_json(&parsed.cc)));
    row.insert("bcc".into(), json!(addresses_json(&parsed.bcc)));
    row.insert("intro".into(), json!(parsed.intro()));
    row.insert(
        "attachments".into(),
        json!(parsed.attachments.iter().any(|a| !a.related)),
    );
    row.insert(
        "attachmentsList".into(),
        json!(
            parsed
                .attachments
                .iter()
                .map(attachment_json)
                .collect::<Vec<_>>()
        ),
    );
    Value::Object(row)
}

fn message_json(user: UserId, mailbox: &MailboxId, message: &DisplayMessage) -> Value {
    let parsed = &message.parsed;
    let mut body = common_json(mailbox, message);
    body.insert("user".into(), json!(user.to_string()));
    // The SMTP envelope is not kept for messages we did not receive by LMTP yet.
    body.insert("envelope".into(), json!({ "from": "", "rcpt": [] }));
    for (key, list) in [
        ("replyTo", &parsed.reply_to),
        ("to", &parsed.to),
        ("cc", &parsed.cc),
        ("bcc", &parsed.bcc),
    ] {
        if !list.is_empty() {
            body.insert(key.into(), json!(addresses_json(list)));
        }
    }
    if parsed.list_id.is_some() || parsed.list_unsubscribe.is_some() {
        body.insert(
            "list".into(),
            json!({ "id": parsed.list_id, "unsubscribe": parsed.list_unsubscribe }),
        );
    }
    // As WildDuck keeps `html` only for messages that have some (an encrypted one has none).
    if !parsed.html.is_empty() {
        body.insert("html".into(), json!(parsed.html));
    }
    body.insert("text".into(), json!(parsed.text));
    body.insert(
        "attachments".into(),
        json!(
            parsed
                .attachments
                .iter()
                .map(attachment_json)
                .collect::<Vec<_>>()
        ),
    );
    body.insert("metaData".into(), json!({}));
    if parsed.content_type.value == "multipart/encrypted" {
        body.insert("encrypted".into(), json!(true));
    }
    Value::Object(body)
}
