//! Request input checked as WildDuck's Joi schemas check it: every field at once
//! (`abortEarly: false`), values converted where Joi converts (`"10"` is a number, `"yes"` a
//! boolean), unknown fields ignored, and WildDuck's messages in `error` and `details`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde_json::{Map, Value};
use wildduck_store::{MailboxId, Scope, UserId};

use crate::auth::Access;
use crate::error::{ApiError, ApiResult};

/// Largest request body accepted; more is answered 413 with an error body.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// A JSON object body; an empty body is an empty object (WildDuck's clients often send none).
pub struct JsonBody(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> ApiResult<Self> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "PayloadTooLarge",
                        format!("Request body is larger than {MAX_BODY_BYTES} bytes"),
                    )
                } else {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "InvalidContent",
                        rejection.body_text(),
                    )
                }
            })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Map::new()));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(JsonBody(map)),
            Ok(_) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidContent",
                "Request body must be a JSON object",
            )),
            Err(err) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidContent",
                format!("Invalid JSON: {err}"),
            )),
        }
    }
}

/// Query parameters as strings, to be checked with [`Input`] like a body.
pub struct QueryInput(pub Map<String, Value>);

impl<S: Send + Sync> FromRequestParts<S> for QueryInput {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> ApiResult<Self> {
        let Query(pairs) =
            Query::<Vec<(String, String)>>::try_from_uri(&parts.uri).map_err(|err| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "InputValidationError",
                    err.body_text(),
                )
            })?;
        Ok(QueryInput(
            pairs
                .into_iter()
                .filter(|(name, _)| name != "accessToken")
                .map(|(name, value)| (name, Value::String(value)))
                .collect(),
        ))
    }
}

/// Fields to check; problems are collected and reported together by [`Input::finish`].
pub struct Input {
    values: Map<String, Value>,
    messages: Vec<String>,
    details: Map<String, Value>,
}

impl Input {
    pub fn new(values: Map<String, Value>) -> Self {
        Self {
            values,
            messages: Vec::new(),
            details: Map::new(),
        }
    }

    /// Adds query parameters; a body field of the same name wins (restify's
    /// `overrideParams: false`).
    pub fn with_query(mut self, query: QueryInput) -> Self {
        for (name, value) in query.0 {
            self.values.entry(name).or_insert(value);
        }
        self
    }

    pub fn fail(&mut self, key: &str, message: String) {
        if !self.details.contains_key(key) {
            self.details.insert(key.to_string(), message.clone().into());
            self.messages.push(message);
        }
    }

    /// True when the field was given (Joi treats `null` as given; so do we).
    pub fn has(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// The raw JSON value of a field, for shapes the typed getters do not cover.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    pub fn string(&mut self, key: &str) -> Option<String> {
        match self.values.get(key)? {
            Value::String(text) => Some(text.clone()),
            _ => {
                self.fail(key, format!("\"{key}\" must be a string"));
                None
            }
        }
    }

    /// A string that must be there; missing, the error is recorded and `""` returned (never
    /// used: [`Input::finish`] then fails).
    pub fn required_string(&mut self, key: &str) -> String {
        if !self.has(key) {
            self.fail(key, format!("\"{key}\" is required"));
            return String::new();
        }
        self.string(key).unwrap_or_default()
    }

    /// Joi's `string().max(n)` (counted in characters, as JavaScript counts UTF-16 units;
    /// characters outside the BMP count once here).
    pub fn string_max(&mut self, key: &str, max: usize) -> Option<String> {
        let text = self.string(key)?;
        if text.chars().count() > max {
            self.fail(
                key,
                format!("\"{key}\" length must be less than or equal to {max} characters long"),
            );
            return None;
        }
        Some(text)
    }

    /// WildDuck's `booleanSchema`: true/false, and `Y yes on 1 true` / `N no off 0 false`
    /// as strings or numbers; `""` is absent.
    pub fn boolean(&mut self, key: &str) -> Option<bool> {
        let parsed = match self.values.get(key)? {
            Value::Bool(value) => Some(*value),
            Value::String(text) if text.is_empty() => return None,
            Value::String(text) => match text.to_ascii_lowercase().as_str() {
                "y" | "yes" | "on" | "1" | "true" => Some(true),
                "n" | "no" | "off" | "0" | "false" => Some(false),
                _ => None,
            },
            Value::Number(number) => match number.as_f64() {
                Some(1.0) => Some(true),
                Some(0.0) => Some(false),
                _ => None,
            },
            _ => None,
        };
        if parsed.is_none() {
            self.fail(key, format!("\"{key}\" must be a boolean"));
        }
        parsed
    }

    /// Joi's `number().min(min)`, numeric strings converted.
    pub fn number(&mut self, key: &str, min: f64, max: f64) -> Option<f64> {
        let parsed = match self.values.get(key)? {
            Value::Number(number) => number.as_f64(),
            Value::String(text) => text.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
            _ => None,
        };
        let Some(number) = parsed else {
            self.fail(key, format!("\"{key}\" must be a number"));
            return None;
        };
        if number < min {
            self.fail(
                key,
                format!("\"{key}\" must be greater than or equal to {min}"),
            );
            return None;
        }
        if number > max {
            self.fail(
                key,
                format!("\"{key}\" must be less than or equal to {max}"),
            );
            return None;
        }
        Some(number)
    }

    /// A whole number in `min..=max` (Joi `number().integer()`).
    pub fn integer(&mut self, key: &str, min: u64, max: u64) -> Option<u64> {
        let number = self.number(key, min as f64, max as f64)?;
        if number.fract() != 0.0 {
            self.fail(key, format!("\"{key}\" must be an integer"));
            return None;
        }
        Some(number as u64)
    }

    /// Joi's `array().items(string().valid(imap, pop3, smtp)).unique()`: protocol scopes.
    /// With `star`, `*` also stands for all of them, and a comma-separated string is taken
    /// as the list (WildDuck's ASP routes split one).
    pub fn scopes(&mut self, key: &str, star: bool) -> Option<Vec<Scope>> {
        let items: Vec<Value> = match self.values.get(key)? {
            Value::Array(items) => items.clone(),
            Value::String(text) if star => text
                .split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(|name| Value::String(name.into()))
                .collect(),
            _ => {
                self.fail(key, format!("\"{key}\" must be an array"));
                return None;
            }
        };
        let allowed = if star {
            "imap, pop3, smtp, *"
        } else {
            "imap, pop3, smtp"
        };
        let mut scopes = Vec::new();
        let mut seen = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let name = item.as_str().unwrap_or_default();
            let parsed = match name {
                "*" if star => Some(Scope::PROTOCOLS.to_vec()),
                _ => Scope::PROTOCOLS
                    .into_iter()
                    .find(|scope| scope.name() == name)
                    .map(|scope| vec![scope]),
            };
            let Some(parsed) = parsed else {
                self.fail(
                    key,
                    format!("\"{key}[{index}]\" must be one of [{allowed}]"),
                );
                return None;
            };
            if seen.contains(&name) {
                self.fail(
                    key,
                    format!("\"{key}[{index}]\" contains a duplicate value"),
                );
                return None;
            }
            seen.push(name);
            scopes.extend(parsed);
        }
        scopes.sort();
        scopes.dedup();
        Some(scopes)
    }

    /// Reports every recorded problem as one `InputValidationError`.
    pub fn finish(self) -> ApiResult<()> {
        if self.messages.is_empty() {
            return Ok(());
        }
        Err(ApiError {
            status: StatusCode::BAD_REQUEST,
            message: self.messages.join(". "),
            code: Some("InputValidationError"),
            details: Some(self.details),
        })
    }
}

/// `:user` of a path: 24 hex digits, or `me` for the token's own user.
pub fn user_param(access: &Access, raw: &str) -> ApiResult<UserId> {
    if raw == "me"
        && let Some(own) = access.own_user()
    {
        return Ok(own);
    }
    hex_id("user", raw)
}

pub fn mailbox_param(raw: &str) -> ApiResult<MailboxId> {
    hex_id("mailbox", raw)
}

/// WildDuck's id schema (`string().hex().lowercase().length(24)`) for any of our id types.
pub fn hex_id<T: std::str::FromStr>(name: &str, raw: &str) -> ApiResult<T> {
    let message = if !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        format!("\"{name}\" must only contain hexadecimal characters")
    } else if raw.len() != 24 {
        format!("\"{name}\" length must be 24 characters long")
    } else if let Ok(id) = raw.to_ascii_lowercase().parse::<T>() {
        return Ok(id);
    } else {
        format!("\"{name}\" is not a valid id")
    };
    Err(validation_error(name, message))
}

/// An `InputValidationError` about one field.
pub fn validation_error(key: &str, message: String) -> ApiError {
    let mut details = Map::new();
    details.insert(key.to_string(), message.clone().into());
    ApiError {
        status: StatusCode::BAD_REQUEST,
        message,
        code: Some("InputValidationError"),
        details: Some(details),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(value: Value) -> Input {
        match value {
            Value::Object(map) => Input::new(map),
            _ => panic!("object expected"),
        }
    }

    #[test]
    fn booleans_and_numbers_convert_as_joi_does() {
        let mut fields = input(json!({"a": "yes", "b": 0, "c": "what", "n": "10", "m": -1}));
        assert_eq!(fields.boolean("a"), Some(true));
        assert_eq!(fields.boolean("b"), Some(false));
        assert_eq!(fields.boolean("c"), None);
        assert_eq!(fields.number("n", 0.0, f64::MAX), Some(10.0));
        assert_eq!(fields.number("m", 0.0, f64::MAX), None);
        assert_eq!(fields.boolean("absent"), None);
        let err = fields.finish().unwrap_err();
        assert_eq!(err.code, Some("InputValidationError"));
        assert_eq!(
            err.message,
            "\"c\" must be a boolean. \"m\" must be greater than or equal to 0"
        );
        assert_eq!(err.details.unwrap().len(), 2);
    }

    #[test]
    fn ids_are_24_hex_digits() {
        let access = Access::Root;
        assert!(user_param(&access, "123").is_err());
        assert!(user_param(&access, &"-".repeat(24)).is_err());
        assert!(user_param(&access, "me").is_err());
        let id = UserId::new();
        assert_eq!(user_param(&access, &id.to_string()).unwrap(), id);
        assert_eq!(
            user_param(&access, &id.to_string().to_ascii_uppercase()).unwrap(),
            id
        );
        let own = Access::User {
            id,
            token: String::new(),
        };
        assert_eq!(user_param(&own, "me").unwrap(), id);
    }
}
