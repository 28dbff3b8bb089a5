//! Request fields the account routes share (users, addresses, forwarded addresses), read as
//! WildDuck's Joi schemas read them; problems are recorded on the [`Input`].

use serde_json::{Map, Value};
use wildduck_store::mime::parsed::parse_iso_date;
use wildduck_store::{ForwardTarget, Timestamp};

use crate::input::Input;

/// Longest tag WildDuck's schema allows.
const MAX_TAG_CHARS: usize = 128;
/// Largest `metaData` WildDuck stores (its `metaDataSchema` counts the JSON text).
const MAX_META_DATA_BYTES: usize = 1024 * 1024;

/// `tags`: an array of strings in a body; in a query (`?tags=a,b`), a comma-separated string.
pub fn tags(input: &mut Input, key: &str) -> Option<Vec<String>> {
    let tags: Vec<String> = match input.value(key)? {
        Value::String(text) => text.split(',').map(str::to_string).collect(),
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(|item| item.as_str().map(str::to_string))
            .collect(),
        _ => {
            input.fail(key, format!("\"{key}\" must be an array of strings"));
            return None;
        }
    };
    if let Some(index) = tags
        .iter()
        .position(|tag| tag.trim().chars().count() > MAX_TAG_CHARS)
    {
        input.fail(
            key,
            format!(
                "\"{key}[{index}]\" length must be less than or equal to {MAX_TAG_CHARS} characters long"
            ),
        );
        return None;
    }
    Some(tags)
}

/// `targets`: forwarding targets, each an address or an `smtp(s)://`/`http(s)://` URL.
pub fn targets(input: &mut Input, key: &str) -> Option<Vec<ForwardTarget>> {
    let Some(Value::Array(items)) = input.value(key).cloned() else {
        if input.has(key) {
            input.fail(key, format!("\"{key}\" must be an array"));
        }
        return None;
    };
    let mut targets = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let parsed = item.as_str().map(ForwardTarget::parse);
        match parsed {
            Some(Ok(target)) => targets.push(target),
            _ => {
                input.fail(
                    key,
                    format!(
                        "\"{key}[{index}]\" does not match any of the allowed types (an email address or an smtp, smtps, http or https URL)"
                    ),
                );
                return None;
            }
        }
    }
    Some(targets)
}

/// WildDuck's `metaDataSchema`: an object, or a string holding a JSON object.
pub fn meta_data(input: &mut Input, key: &str) -> Option<Map<String, Value>> {
    let parsed = match input.value(key)? {
        Value::Object(map) => Some(map.clone()),
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        },
        _ => None,
    };
    let Some(map) = parsed else {
        input.fail(
            key,
            format!("\"{key}\" must be an object or a JSON object as a string"),
        );
        return None;
    };
    if serde_json::to_string(&map).map_or(0, |text| text.len()) > MAX_META_DATA_BYTES {
        input.fail(key, format!("\"{key}\" is too large"));
        return None;
    }
    Some(map)
}

/// A Joi `date()`: an ISO 8601 string (or milliseconds since the epoch); `""` and `false`
/// are absent.
pub fn date(input: &mut Input, key: &str) -> Option<Timestamp> {
    let parsed = match input.value(key)? {
        Value::String(text) if text.is_empty() => return None,
        Value::Bool(false) => return None,
        Value::String(text) => parse_iso_date(text),
        Value::Number(ms) => ms.as_i64().map(|ms| ms.div_euclid(1000)),
        _ => None,
    };
    if parsed.is_none() {
        input.fail(key, format!("\"{key}\" must be a valid date"));
    }
    parsed
}

/// An optional string field up to `max` characters, `""` meaning "remove".
pub fn optional_text(input: &mut Input, key: &str, max: usize) -> Option<Option<String>> {
    let text = input.string_max(key, max)?;
    Some(Some(text).filter(|text| !text.is_empty()))
}
