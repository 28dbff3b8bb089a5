//! `/users/:user/addressregister`: search (and disable or rename entries of) the addresses a
//! user corresponded with, as WildDuck's `lib/api/addresses.js`. The register and its rules
//! are the store's (`addressregister`).

use axum::Extension;
use axum::extract::Path;
use serde_json::{Value, json};
use wildduck_store::{MAX_REGISTER_RESULTS, RecordId};

use super::{JsonResult, Shared, success};
use crate::auth::{Access, Action, Resource};
use crate::input::{Input, JsonBody, QueryInput, hex_id, user_param};

/// Results when the query asks for no number.
const DEFAULT_LIMIT: usize = 20;

pub async fn search(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    query: QueryInput,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let mut input = Input::new(query.0);
    let text = input
        .string_max("query", 255)
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty());
    if text.is_none() {
        input.fail("query", "\"query\" is required".into());
    }
    let limit = input
        .number("limit", 1.0, MAX_REGISTER_RESULTS as f64)
        .map_or(DEFAULT_LIMIT, |n| n as usize);
    // Session data only WildDuck's logs read.
    input.string("sess");
    input.string("ip");
    input.finish()?;
    access.require(user, Resource::Addresses, Action::Read)?;
    let found = state
        .store
        .search_address_register(user, &text.unwrap_or_default(), limit)
        .await?;
    let results: Vec<Value> = found
        .iter()
        .map(|entry| {
            json!({
                "id": entry.id.to_string(),
                "name": entry.name,
                "address": entry.address,
            })
        })
        .collect();
    success(json!({ "results": results }))
}

pub async fn update(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, id)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let id: RecordId = hex_id("address", &id)?;
    let mut input = Input::new(body);
    let disabled = input.boolean("disabled");
    let name = input.string_max("name", 255);
    input.string("sess");
    input.string("ip");
    input.finish()?;
    access.require(user, Resource::Addresses, Action::Update)?;
    state
        .store
        .update_registered_address(user, id, disabled, name)
        .await?;
    success(json!({}))
}
