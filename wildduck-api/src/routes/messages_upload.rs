//! `POST /users/:user/mailboxes/:mailbox/messages`: store a message given as RFC 822 bytes
//! (the `raw` field in base64, or a `message/rfc822` request body, stored byte for byte) or
//! built from WildDuck's JSON fields by the store's `mime::compose`.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request};
use axum::http::{StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use rand::RngCore;
use serde_json::{Map, Value, json};
use wildduck_store::mime::compose::{NewAttachment, NewMessage, compose};
use wildduck_store::mime::parsed::{MailAddress, parse_iso_date};
use wildduck_store::{Flag, FlagOp, Flags, Timestamp, UidSet};

use super::addresses::main_address;
use super::mailboxes::owned_mailbox;
use super::{JsonResult, Shared, success};
use crate::auth::{Access, Action, Resource};
use crate::error::ApiError;
use crate::input::{Input, JsonBody, hex_id, mailbox_param, user_param};

/// Base64 as Node's `Buffer.from(…, 'base64')` reads it: padding optional.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub async fn upload(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, mailbox)): Path<(String, String)>,
    request: Request,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let mailbox = mailbox_param(&mailbox)?;
    let is_rfc822 = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .trim()
                .to_ascii_lowercase()
                .starts_with("message/rfc822")
        });
    let (body, raw_body) = if is_rfc822 {
        let bytes = Bytes::from_request(request, &())
            .await
            .map_err(|rejection| {
                ApiError::new(rejection.status(), "InvalidContent", rejection.body_text())
            })?;
        (Map::new(), Some(bytes.to_vec()))
    } else {
        (JsonBody::from_request(request, &()).await?.0, None)
    };
    let mut input = Input::new(body);
    let flags = read_flags(&mut input);
    let date = read_date(&mut input, "date");
    let raw = raw_body.or_else(|| read_raw(&mut input));
    let fields = if raw.is_none() {
        Some(Fields::read(&mut input))
    } else {
        None
    };
    let replace_previous = read_replace_previous(&mut input);
    let unsupported = first_given(&input, &["files", "reference", "metaData", "bimi"]);
    input.finish()?;
    if let Some(key) = unsupported {
        return Err(ApiError::unsupported(&format!("\"{key}\" on upload"), 20));
    }
    access.require(user, Resource::Messages, Action::Create)?;
    let target = owned_mailbox(&state.store, user, mailbox).await?;
    let raw = match (raw, fields) {
        (Some(raw), _) => raw,
        (None, Some(fields)) => {
            let from = match fields.from.clone() {
                Some(from) => from,
                None => MailAddress {
                    name: String::new(),
                    address: main_address(&state.store, user)
                        .await?
                        .map(|a| a.address)
                        .unwrap_or_default(),
                },
            };
            fields.build(from, date.unwrap_or_else(now))
        }
        (None, None) => Vec::new(),
    };
    if raw.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "EmptyMessage",
            "Empty message provided",
        ));
    }
    let raw = state.store.sealed_for_mailbox(&target, &flags, raw).await?;
    let stored = state.store.append(target.id, &raw, &flags, date).await?;
    if let Some((mailbox, uid)) = replace_previous {
        let previous = match mailbox {
            Some(id) => owned_mailbox(&state.store, user, id).await?.id,
            None => target.id,
        };
        let uids = UidSet::from_ranges([(uid, uid)]);
        let deleted = Flags::from([Flag::Deleted]);
        state
            .store
            .store_flags(previous, &uids, FlagOp::Add, &deleted, None)
            .await?;
        state.store.expunge(previous, Some(&uids)).await?;
    }
    success(json!({
        "message": {
            "id": stored.uid,
            "mailbox": target.id.to_string(),
            "size": stored.size,
        }
    }))
}

fn now() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as Timestamp)
}

/// `unseen` (default false: an uploaded message is seen), `flagged`, `draft`.
fn read_flags(input: &mut Input) -> Flags {
    let mut flags = Flags::new();
    if !input.boolean("unseen").unwrap_or(false) {
        flags.insert(Flag::Seen);
    }
    if input.boolean("flagged").unwrap_or(false) {
        flags.insert(Flag::Flagged);
    }
    if input.boolean("draft").unwrap_or(false) {
        flags.insert(Flag::Draft);
    }
    flags
}

/// A date field as Joi's `date()` reads it: an ISO 8601 string or milliseconds since the
/// epoch.
pub(super) fn read_date(input: &mut Input, key: &str) -> Option<Timestamp> {
    let parsed = match input.value(key)? {
        Value::Number(ms) => ms.as_f64().map(|ms| (ms / 1000.0).floor() as Timestamp),
        Value::String(text) if text.trim().is_empty() => return None,
        Value::String(text) => parse_iso_date(text).or_else(|| {
            text.trim()
                .parse::<f64>()
                .ok()
                .filter(|ms| ms.is_finite())
                .map(|ms| (ms / 1000.0).floor() as Timestamp)
        }),
        _ => None,
    };
    if parsed.is_none() {
        input.fail(key, format!("\"{key}\" must be a valid date"));
    }
    parsed
}

/// The first of `keys` given a value that asks for something (not empty, null or false).
pub(super) fn first_given(input: &Input, keys: &[&'static str]) -> Option<&'static str> {
    keys.iter().copied().find(|key| {
        input.value(key).is_some_and(|value| match value {
            Value::Null | Value::Bool(false) => false,
            Value::String(text) => !text.is_empty() && text != "false",
            Value::Array(items) => !items.is_empty(),
            Value::Object(fields) => !fields.is_empty(),
            _ => true,
        })
    })
}

/// `raw`: the message in base64 (Joi's `binary()` in a JSON body).
fn read_raw(input: &mut Input) -> Option<Vec<u8>> {
    let text = input.string("raw")?;
    if text.is_empty() {
        return None;
    }
    let compact: String = text.split_ascii_whitespace().collect();
    match LENIENT_BASE64.decode(compact) {
        Ok(raw) => Some(raw),
        Err(_) => {
            input.fail("raw", "\"raw\" must be a buffer or a string".to_string());
            None
        }
    }
}

/// `replacePrevious: {mailbox?, id}`: a message to delete once the new one is stored.
fn read_replace_previous(
    input: &mut Input,
) -> Option<(Option<wildduck_store::MailboxId>, wildduck_store::Uid)> {
    let Value::Object(fields) = input.value("replacePrevious")?.clone() else {
        input.fail(
            "replacePrevious",
            "\"replacePrevious\" must be of type object".to_string(),
        );
        return None;
    };
    let mut inner = Input::new(fields);
    let uid = inner.integer("id", 1, u64::from(u32::MAX));
    if !inner.has("id") {
        inner.fail("id", "\"replacePrevious.id\" is required".to_string());
    }
    let mailbox = inner
        .string("mailbox")
        .map(|raw| hex_id("replacePrevious.mailbox", &raw));
    if let Err(err) = inner.finish() {
        input.fail("replacePrevious", err.message);
        return None;
    }
    match mailbox.transpose() {
        Ok(mailbox) => Some((mailbox, uid? as wildduck_store::Uid)),
        Err(err) => {
            input.fail("replacePrevious", err.message);
            None
        }
    }
}

/// WildDuck's structured message fields.
pub(super) struct Fields {
    pub(super) from: Option<MailAddress>,
    reply_to: Option<MailAddress>,
    pub(super) to: Vec<MailAddress>,
    pub(super) cc: Vec<MailAddress>,
    pub(super) bcc: Vec<MailAddress>,
    subject: Option<String>,
    text: Option<String>,
    html: Option<String>,
    headers: Vec<(String, String)>,
    attachments: Vec<NewAttachment>,
}

impl Fields {
    pub(super) fn read(input: &mut Input) -> Self {
        let text_field = |input: &mut Input, key: &str, max: usize| {
            input.string_max(key, max).filter(|text| !text.is_empty())
        };
        Self {
            from: address(input, "from"),
            reply_to: address(input, "replyTo"),
            to: address_list(input, "to"),
            cc: address_list(input, "cc"),
            bcc: address_list(input, "bcc"),
            subject: text_field(input, "subject", 2 * 1024),
            text: text_field(input, "text", 1024 * 1024),
            html: text_field(input, "html", 1024 * 1024),
            headers: headers(input),
            attachments: attachments(input),
        }
    }

    pub(super) fn build(self, from: MailAddress, date: Timestamp) -> Vec<u8> {
        let mut id = [0u8; 16];
        rand::rng().fill_bytes(&mut id);
        compose(&NewMessage {
            from,
            reply_to: self.reply_to,
            to: self.to,
            cc: self.cc,
            bcc: self.bcc,
            subject: self.subject,
            text: self.text,
            html: self.html,
            headers: self.headers,
            attachments: self.attachments,
            date,
            message_id_local: id.iter().map(|b| format!("{b:02x}")).collect(),
        })
    }
}

/// The objects of an array field, each checked by `item`; problems are the field's.
fn each_object<T>(
    input: &mut Input,
    key: &str,
    mut item: impl FnMut(&mut Input, &str) -> Option<T>,
) -> Vec<T> {
    let items = match input.value(key) {
        None => return Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => {
            input.fail(key, format!("\"{key}\" must be an array"));
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (index, value) in items.into_iter().enumerate() {
        let path = format!("{key}[{index}]");
        let Value::Object(fields) = value else {
            input.fail(key, format!("\"{path}\" must be of type object"));
            continue;
        };
        let mut inner = Input::new(fields);
        let parsed = item(&mut inner, &path);
        match inner.finish() {
            Ok(()) => out.extend(parsed),
            Err(err) => input.fail(key, err.message),
        }
    }
    out
}

/// `{name?, address}`.
fn address_fields(input: &mut Input) -> Option<MailAddress> {
    let name = input.string_max("name", 255).unwrap_or_default();
    let address = input.required_string("address");
    let valid = address
        .rsplit_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !address.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid && input.has("address") {
        input.fail("address", "\"address\" must be a valid email".to_string());
        return None;
    }
    Some(MailAddress { name, address })
}

pub(super) fn address(input: &mut Input, key: &str) -> Option<MailAddress> {
    let Value::Object(fields) = input.value(key)?.clone() else {
        input.fail(key, format!("\"{key}\" must be of type object"));
        return None;
    };
    let mut inner = Input::new(fields);
    let parsed = address_fields(&mut inner);
    match inner.finish() {
        Ok(()) => parsed,
        Err(err) => {
            input.fail(key, err.message);
            None
        }
    }
}

pub(super) fn address_list(input: &mut Input, key: &str) -> Vec<MailAddress> {
    each_object(input, key, |inner, _| address_fields(inner))
}

/// `headers: [{key, value}]`; names must be header field names (RFC 5322 `ftext`).
fn headers(input: &mut Input) -> Vec<(String, String)> {
    each_object(input, "headers", |inner, path| {
        let key = inner.required_string("key");
        let value = inner.string("value").unwrap_or_default();
        let valid = !key.is_empty() && key.bytes().all(|b| (33..=126).contains(&b) && b != b':');
        if !valid && inner.has("key") {
            inner.fail("key", format!("\"{path}.key\" is not a valid header name"));
            return None;
        }
        Some((key, value))
    })
}

/// `attachments: [{content, filename?, contentType?, encoding?, cid?, contentDisposition?}]`.
fn attachments(input: &mut Input) -> Vec<NewAttachment> {
    each_object(input, "attachments", |inner, path| {
        let content = inner.required_string("content");
        let encoding = inner.string("encoding").unwrap_or_else(|| "base64".into());
        let filename = inner.string_max("filename", 255).filter(|f| !f.is_empty());
        let content_type = inner
            .string_max("contentType", 255)
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "application/octet-stream".into());
        let cid = inner.string_max("cid", 255).filter(|c| !c.is_empty());
        let disposition = inner
            .string("contentDisposition")
            .map(|d| d.trim().to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "attachment".into());
        if disposition != "attachment" && disposition != "inline" {
            inner.fail(
                "contentDisposition",
                format!("\"{path}.contentDisposition\" must be one of [inline, attachment]"),
            );
            return None;
        }
        let content = if encoding.eq_ignore_ascii_case("base64") {
            let compact: String = content.split_ascii_whitespace().collect();
            // Node decodes base64 leniently; so do we, dropping an incomplete last quantum.
            let usable = compact.len() - compact.len() % 4;
            match general_purpose::STANDARD
                .decode(&compact)
                .or_else(|_| LENIENT_BASE64.decode(&compact[..usable]))
            {
                Ok(bytes) => bytes,
                Err(_) => {
                    inner.fail("content", format!("\"{path}.content\" is not valid base64"));
                    return None;
                }
            }
        } else {
            content.into_bytes()
        };
        Some(NewAttachment {
            filename,
            content_type,
            disposition,
            cid,
            content,
        })
    })
}
