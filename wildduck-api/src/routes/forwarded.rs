//! Forwarded addresses (`/addresses/forwarded`): addresses with forwarding targets and no
//! mailbox, for root only (WildDuck's `addresses: *Any`). Mail to one is queued to its
//! targets by the store's delivery rule. The autoreply of a forwarded address is kept and
//! shown, not sent yet (docs/api.md).

use axum::Extension;
use axum::extract::Path;
use serde_json::{Value, json};
use wildduck_store::mime::parsed::iso_date;
use wildduck_store::{AddressId, ForwardedAddress, ForwardedAutoreply, NewForwarded};

use super::addresses::MAX_NAME_CHARS;
use super::{JsonResult, Shared, fields, success};
use crate::auth::Access;
use crate::input::{Input, JsonBody, hex_id};

/// WildDuck's limits on the autoreply fields (characters).
const MAX_SUBJECT_CHARS: usize = 2 * 1024;
const MAX_BODY_CHARS: usize = 128 * 1024;

pub async fn create(
    state: Shared,
    Extension(access): Extension<Access>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    access.require_root()?;
    let mut input = Input::new(body);
    let address = input.required_string("address");
    let mut new = NewForwarded {
        address,
        ..NewForwarded::default()
    };
    new.name = fields::optional_text(&mut input, "name", MAX_NAME_CHARS).flatten();
    new.targets = fields::targets(&mut input, "targets").unwrap_or_default();
    new.forwards = input.integer("forwards", 0, u64::MAX >> 11).unwrap_or(0);
    new.tags = fields::tags(&mut input, "tags").unwrap_or_default();
    new.meta_data = fields::meta_data(&mut input, "metaData").unwrap_or_default();
    new.autoreply = read_autoreply(&mut input, ForwardedAutoreply::default()).unwrap_or_default();
    input.finish()?;
    let created = state.store.create_forwarded(new).await?;
    success(json!({ "id": created.id.to_string() }))
}

pub async fn get(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(address): Path<String>,
) -> JsonResult {
    access.require_root()?;
    let id: AddressId = hex_id("address", &address)?;
    let forwarded = state.store.get_forwarded(id).await?;
    success(forwarded_json(&forwarded))
}

/// Every field may change; fields not given stay.
pub async fn update(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(address): Path<String>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    access.require_root()?;
    let id: AddressId = hex_id("id", &address)?;
    let mut forwarded = state.store.get_forwarded(id).await?;
    let mut input = Input::new(body);
    if let Some(address) = input.string("address") {
        forwarded.address = address;
    }
    if let Some(name) = fields::optional_text(&mut input, "name", MAX_NAME_CHARS) {
        forwarded.name = name;
    }
    if let Some(targets) = fields::targets(&mut input, "targets") {
        forwarded.targets = targets;
    }
    if let Some(forwards) = input.integer("forwards", 0, u64::MAX >> 11) {
        forwarded.forwards = forwards;
    }
    if let Some(disabled) = input.boolean("forwardedDisabled") {
        forwarded.forwarded_disabled = disabled;
    }
    if let Some(tags) = fields::tags(&mut input, "tags") {
        forwarded.tags = tags;
    }
    if let Some(meta_data) = fields::meta_data(&mut input, "metaData") {
        forwarded.meta_data = meta_data;
    }
    if let Some(autoreply) = read_autoreply(&mut input, forwarded.autoreply.clone()) {
        forwarded.autoreply = autoreply;
    }
    input.finish()?;
    state.store.update_forwarded(forwarded).await?;
    success(json!({}))
}

pub async fn delete(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(address): Path<String>,
) -> JsonResult {
    access.require_root()?;
    let id: AddressId = hex_id("address", &address)?;
    state.store.delete_forwarded(id).await?;
    success(json!({}))
}

/// The `autoreply` object over `current`: given fields replace, `""` clears.
fn read_autoreply(input: &mut Input, current: ForwardedAutoreply) -> Option<ForwardedAutoreply> {
    let Some(Value::Object(fields_given)) = input.value("autoreply").cloned() else {
        if input.has("autoreply") {
            input.fail("autoreply", "\"autoreply\" must be of type object".into());
        }
        return None;
    };
    let mut nested = Input::new(fields_given);
    let mut autoreply = current;
    autoreply.status = nested.boolean("status").unwrap_or(true);
    for (key, slot) in [("start", &mut autoreply.start), ("end", &mut autoreply.end)] {
        if nested.has(key) {
            *slot = fields::date(&mut nested, key);
        }
    }
    for (key, max, slot) in [
        ("name", MAX_NAME_CHARS, &mut autoreply.name),
        ("subject", MAX_SUBJECT_CHARS, &mut autoreply.subject),
        ("text", MAX_BODY_CHARS, &mut autoreply.text),
        ("html", MAX_BODY_CHARS, &mut autoreply.html),
    ] {
        if let Some(value) = fields::optional_text(&mut nested, key, max) {
            *slot = value;
        }
    }
    match nested.finish() {
        Ok(()) => Some(autoreply),
        Err(err) => {
            input.fail("autoreply", err.message);
            None
        }
    }
}

/// A forwarded address as WildDuck shows it.
pub fn forwarded_json(forwarded: &ForwardedAddress) -> Value {
    let autoreply = &forwarded.autoreply;
    json!({
        "id": forwarded.id.to_string(),
        "address": forwarded.address,
        "name": forwarded.name,
        "targets": forwarded.targets.iter().map(|t| t.value()).collect::<Vec<_>>(),
        "limits": { "forwards": { "allowed": forwarded.forwards } },
        "autoreply": {
            "status": autoreply.status,
            "name": autoreply.name,
            "subject": autoreply.subject,
            "text": autoreply.text,
            "html": autoreply.html,
            "start": autoreply.start.map(iso_date),
            "end": autoreply.end.map(iso_date),
        },
        "created": iso_date(forwarded.created),
        "tags": forwarded.tags,
        "metaData": Value::Object(forwarded.meta_data.clone()),
        "forwardedDisabled": forwarded.forwarded_disabled,
    })
}
