//! Settings as WildDuck's `/settings` has them: a fixed list of keys (`const:max:recipients`
//! and the like), each with a default — this install's configuration where we have one,
//! else WildDuck's constant — that an operator may override. Overrides are operator records
//! (`RegistryKind::Setting`, the JSON value as body), so both engines keep them.
//!
//! The rules that read a setting ask [`Store::setting_number`]: the daily recipient limit,
//! the filter and ASP limits, the autoreply interval and the API's per-message recipient
//! limit. The other keys are kept and shown, with no effect here yet (docs/api.md).

use serde_json::Value;

use crate::backend::{RegistryEntry, RegistryKind};
use crate::error::{RegistryError, Result};
use crate::model::RecordId;
use crate::store::Store;

const KIND: RegistryKind = RegistryKind::Setting;

/// How a value is checked and shown (WildDuck's `type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ValueType {
    /// Milliseconds.
    Duration,
    /// Bytes.
    Size,
    Number,
    /// WildDuck's deferral list: `5m, 7m, 1h`.
    DeferTimes,
    Boolean,
}

impl ValueType {
    fn name(self) -> &'static str {
        match self {
            ValueType::Duration => "duration",
            ValueType::Size => "size",
            ValueType::Number => "number",
            ValueType::DeferTimes => "string",
            ValueType::Boolean => "boolean",
        }
    }
}

struct Known {
    key: &'static str,
    name: &'static str,
    description: &'static str,
    value_type: ValueType,
}

const fn known(
    key: &'static str,
    name: &'static str,
    description: &'static str,
    value_type: ValueType,
) -> Known {
    Known {
        key,
        name,
        description,
        value_type,
    }
}

/// WildDuck 1.46's keys, sorted by key as its listing is.
const KNOWN: &[Known] = &[
    known(
        "const:archive:time",
        "Archive time",
        "Time in ms after deleted messages will be purged",
        ValueType::Duration,
    ),
    known(
        "const:asp:limit",
        "ASP limit",
        "How many application passwords users can register",
        ValueType::Number,
    ),
    known(
        "const:authlog:time",
        "Auth log time",
        "Time in ms after authentication log entries will be purged",
        ValueType::Duration,
    ),
    known(
        "const:autoreply:interval",
        "Autoreply interval",
        "Delay between autoreplies for the same sender",
        ValueType::Duration,
    ),
    known(
        "const:domaincache:enabled",
        "Domain cache enabled status",
        "A true/false boolean value indicating whether domains are stored in a separate cache. Only these domains are allowed for inbound emails",
        ValueType::Boolean,
    ),
    known(
        "const:max:bulk_batch_size",
        "Max bulk batch write size",
        "The maximum number of entries that are collected and then written in one insert query",
        ValueType::Number,
    ),
    known(
        "const:max:filters",
        "Max filters",
        "Maximum number of filters for an account",
        ValueType::Number,
    ),
    known(
        "const:max:forwards",
        "Max forwards",
        "Daily maximum forward count",
        ValueType::Number,
    ),
    known(
        "const:max:imap:download",
        "Max IMAP download",
        "Maximum default daily IMAP download size",
        ValueType::Size,
    ),
    known(
        "const:max:imap:upload",
        "Max IMAP upload",
        "Maximum default daily IMAP upload size",
        ValueType::Size,
    ),
    known(
        "const:max:mailboxes",
        "Max mailboxes",
        "Maximum amount of mailboxes for a user",
        ValueType::Number,
    ),
    known(
        "const:max:pop3:download",
        "Max POP3 download",
        "Maximum default daily POP3 download size",
        ValueType::Size,
    ),
    known(
        "const:max:rcpt_to",
        "Max message recipients",
        "Maximum recipients count for a single email",
        ValueType::Number,
    ),
    known(
        "const:max:recipients",
        "Max daily recipients",
        "Daily maximum recipients count",
        ValueType::Number,
    ),
    known(
        "const:max:storage",
        "Disk quota",
        "Maximum allowed storage size in bytes",
        ValueType::Size,
    ),
    known(
        "const:sender:defer_times",
        "Deferred email delay",
        "Comma separated list of times between deferred delivery attempts. Eg. \"5m, 15m, 20m, 1h, 1h, 1h\"",
        ValueType::DeferTimes,
    ),
];

pub const MAX_RECIPIENTS: &str = "const:max:recipients";
pub const MAX_RCPT_TO: &str = "const:max:rcpt_to";
pub const MAX_FILTERS: &str = "const:max:filters";
pub const ASP_LIMIT: &str = "const:asp:limit";
pub const AUTOREPLY_INTERVAL: &str = "const:autoreply:interval";

/// One row of the listing.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    pub key: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub value_type: &'static str,
    pub default: Value,
    pub value: Value,
    /// Whether an operator set the value.
    pub custom: bool,
}

const GIB: u64 = 1024 * 1024 * 1024;
const DAY_MS: u64 = 24 * 3600 * 1000;

impl Store {
    /// This install's value of `key` when no one set one: the configuration where it has
    /// the number, else WildDuck's constant.
    fn setting_default(&self, key: &str) -> Value {
        let limits = self.limits();
        let config = self.config();
        let millis = |d: std::time::Duration| Value::from(d.as_millis() as u64);
        match key {
            "const:archive:time" => Value::from(25 * DAY_MS),
            ASP_LIMIT => Value::from(crate::asps::MAX_ASPS_PER_USER),
            "const:authlog:time" => Value::from(30 * DAY_MS),
            AUTOREPLY_INTERVAL => millis(config.delivery.autoreply_interval),
            "const:domaincache:enabled" => Value::Bool(false),
            "const:max:bulk_batch_size" => Value::from(150),
            MAX_FILTERS => Value::from(crate::filters::MAX_FILTERS_PER_USER),
            "const:max:forwards" => Value::from(2000),
            "const:max:imap:download" | "const:max:pop3:download" => {
                Value::from(limits.daily_download.unwrap_or(10 * GIB))
            }
            "const:max:imap:upload" => Value::from(limits.daily_upload.unwrap_or(10 * GIB)),
            "const:max:mailboxes" => Value::from(1500),
            MAX_RCPT_TO => Value::from(400),
            MAX_RECIPIENTS => Value::from(limits.daily_recipients),
            "const:max:storage" => Value::from(GIB),
            "const:sender:defer_times" => {
                Value::from("5m, 7m, 8m, 25m, 75m, 2h, 4h, 4h, 4h, 4h, 4h, 4h, 4h, 4h, 4h, 4h, 4h")
            }
            _ => Value::Null,
        }
    }

    /// Every known key, with its value (the override, else the default), sorted by key;
    /// `filter` keeps the keys containing it (ignoring case).
    pub async fn list_settings(&self, filter: Option<&str>) -> Result<Vec<Setting>> {
        let needle = filter.map(str::to_lowercase).unwrap_or_default();
        let mut settings = Vec::new();
        for known in KNOWN {
            if !known.key.contains(&needle) {
                continue;
            }
            let stored = self.stored_setting(known.key).await?;
            let default = self.setting_default(known.key);
            settings.push(Setting {
                key: known.key,
                name: known.name,
                description: known.description,
                value_type: known.value_type.name(),
                custom: stored.is_some(),
                value: stored.unwrap_or_else(|| default.clone()),
                default,
            });
        }
        Ok(settings)
    }

    /// The value of `key`: set, else the default; `None` for a key we do not know.
    pub async fn setting(&self, key: &str) -> Result<Option<Value>> {
        if let Some(stored) = self.stored_setting(key).await? {
            return Ok(Some(stored));
        }
        Ok(KNOWN
            .iter()
            .any(|known| known.key == key)
            .then(|| self.setting_default(key)))
    }

    /// A numeric setting as the rules use it; a value that is not a whole number reads as
    /// the default.
    pub(crate) async fn setting_number(&self, key: &str) -> Result<u64> {
        let value = self.setting(key).await?;
        let number = value.as_ref().and_then(Value::as_f64).unwrap_or(f64::NAN);
        Ok(if number.is_finite() && number >= 0.0 {
            number as u64
        } else {
            self.setting_default(key).as_u64().unwrap_or(0)
        })
    }

    /// Sets `key` to `value` after checking it for the key's type (numbers also as
    /// numeric text, as WildDuck converts them). Returns the stored value;
    /// `RegistryError::NotFound` for a key not in WildDuck's list, `Invalid` (with
    /// WildDuck's message) for a value of the wrong type.
    pub async fn set_setting(&self, key: &str, value: Value) -> Result<Value> {
        let known = KNOWN
            .iter()
            .find(|known| known.key == key)
            .ok_or(RegistryError::NotFound(KIND))?;
        let value = checked(known.value_type, value)?;
        let entry = RegistryEntry {
            id: RecordId::new(),
            key: key.to_string(),
            body: value.to_string(),
        };
        self.backend().upsert_entry(KIND, entry).await?;
        Ok(value)
    }

    async fn stored_setting(&self, key: &str) -> Result<Option<Value>> {
        let Some(entry) = self.backend().entry_by_key(KIND, key).await? else {
            return Ok(None);
        };
        let value =
            serde_json::from_str(&entry.body).map_err(|e| crate::error::Defect::Malformed {
                what: "setting",
                detail: e.to_string(),
            })?;
        Ok(Some(value))
    }
}

fn invalid(message: String) -> crate::error::Error {
    RegistryError::Invalid(KIND, message).into()
}

/// `value` in the form kept for `value_type`, or WildDuck's validation message.
fn checked(value_type: ValueType, value: Value) -> Result<Value> {
    match value_type {
        ValueType::Duration | ValueType::Size | ValueType::Number => {
            let number = match &value {
                Value::Number(n) => n.as_f64(),
                Value::String(text) => text.trim().parse::<f64>().ok(),
                _ => None,
            };
            number
                .filter(|n| n.is_finite())
                .and_then(serde_json::Number::from_f64)
                .map(|n| match n.as_f64() {
                    Some(whole) if whole.fract() == 0.0 && whole.abs() < 2f64.powi(53) => {
                        Value::from(whole as i64)
                    }
                    _ => Value::Number(n),
                })
                .ok_or_else(|| invalid("\"value\" must be a number".into()))
        }
        ValueType::Boolean => match &value {
            Value::Bool(_) => Ok(value),
            Value::String(text) if text == "true" => Ok(Value::Bool(true)),
            Value::String(text) if text == "false" => Ok(Value::Bool(false)),
            _ => Err(invalid("\"value\" must be a boolean".into())),
        },
        ValueType::DeferTimes => match &value {
            Value::String(text) if is_defer_list(text.trim()) => Ok(Value::from(text.trim())),
            Value::String(text) => Err(invalid(format!(
                "\"value\" with value \"{text}\" fails to match the required pattern"
            ))),
            _ => Err(invalid("\"value\" must be a string".into())),
        },
    }
}

/// WildDuck's `^\d+\s*[a-z]*(\s*,\s*\d+\s*[a-z]*)*$`, or empty.
fn is_defer_list(text: &str) -> bool {
    text.is_empty()
        || text.split(',').all(|item| {
            let item = item.trim();
            let digits = item.bytes().take_while(u8::is_ascii_digit).count();
            digits > 0
                && item[digits..]
                    .trim_start()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_are_sorted_like_wildduck_lists_them() {
        let keys: Vec<_> = KNOWN.iter().map(|k| k.key).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn values_are_checked_for_their_type() {
        assert_eq!(
            checked(ValueType::Number, Value::from("12")).unwrap(),
            Value::from(12)
        );
        assert_eq!(
            checked(ValueType::Duration, Value::from(1.5)).unwrap(),
            Value::from(1.5)
        );
        assert!(checked(ValueType::Number, Value::from("many")).is_err());
        assert!(checked(ValueType::Boolean, Value::from(1)).is_err());
        assert!(checked(ValueType::DeferTimes, Value::from("5m, 1h,2h")).is_ok());
        assert!(checked(ValueType::DeferTimes, Value::from("5m,,1h")).is_err());
        assert!(checked(ValueType::DeferTimes, Value::from("soon")).is_err());
    }
}
