//! Settings (`/settings`): WildDuck's known keys with this install's defaults, and the
//! operator's overrides (`Store::set_setting`). Root only, as WildDuck's `settings` role.

use axum::Extension;
use axum::extract::Path;
use serde_json::{Value, json};
use wildduck_store::{Error, RegistryError};

use super::{JsonResult, Shared, success};
use crate::auth::Access;
use crate::error::ApiError;
use crate::input::{Input, JsonBody, QueryInput, validation_error};

pub async fn list(
    state: Shared,
    Extension(access): Extension<Access>,
    query: QueryInput,
) -> JsonResult {
    access.require_root()?;
    let mut input = Input::new(query.0);
    let filter = input
        .string_max("filter", 128)
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty());
    input.finish()?;
    let settings: Vec<Value> = state
        .store
        .list_settings(filter.as_deref())
        .await?
        .into_iter()
        .map(|setting| {
            json!({
                "key": setting.key,
                "value": setting.value,
                "name": setting.name,
                "description": setting.description,
                "default": setting.default,
                "type": setting.value_type,
                "custom": setting.custom,
            })
        })
        .collect();
    let mut body = json!({ "settings": settings });
    if let Some(filter) = filter {
        body["filter"] = filter.into();
    }
    success(body)
}

/// WildDuck answers an unknown key with 200 and `success: false`.
pub async fn get(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(key): Path<String>,
) -> JsonResult {
    access.require_root()?;
    let value = state.store.setting(&key).await?;
    Ok(axum::Json(match value {
        Some(value) => json!({ "success": true, "key": key, "value": value }),
        None => json!({ "success": false, "key": key, "error": "Key was not found" }),
    }))
}

pub async fn set(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(key): Path<String>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    access.require_root()?;
    let input = Input::new(body);
    let Some(value) = input.value("value").cloned() else {
        return Err(validation_error("value", "\"value\" is required".into()));
    };
    input.finish()?;
    match state.store.set_setting(&key, value).await {
        Ok(_) => success(json!({ "key": key })),
        Err(Error::Registry(RegistryError::NotFound(_))) => {
            let known: Vec<&str> = state
                .store
                .list_settings(None)
                .await?
                .iter()
                .map(|setting| setting.key)
                .collect();
            Err(validation_error(
                "key",
                format!("\"key\" must be one of [{}]", known.join(", ")),
            ))
        }
        Err(Error::Registry(RegistryError::Invalid(_, message))) => {
            Err(validation_error("value", message))
        }
        Err(err) => Err(ApiError::from(err)),
    }
}
