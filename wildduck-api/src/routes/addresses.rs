//! Addresses: a user's list, create, get, update, delete; every address (`GET /addresses`);
//! resolve. A user's main address is their oldest one (we keep no `main` flag yet).

use axum::Extension;
use axum::extract::Path;
use axum::http::StatusCode;
use serde_json::{Value, json};
use wildduck_store::{Address, AddressId, Store, UserId};

use super::{JsonResult, Shared, success};
use crate::auth::{Access, Action, Resource};
use crate::error::{ApiError, ApiResult};
use crate::input::{Input, JsonBody, QueryInput, hex_id, user_param};
use crate::paging::PageRequest;

/// The address WildDuck would call the user's main one: here the first one added (ids grow
/// with time), which is the one given when the account was made.
pub async fn main_address(store: &Store, user: UserId) -> ApiResult<Option<Address>> {
    Ok(store
        .list_addresses(user)
        .await?
        .into_iter()
        .min_by_key(|a| a.id))
}

pub async fn list_all(
    state: Shared,
    Extension(access): Extension<Access>,
    query: QueryInput,
) -> JsonResult {
    let mut input = Input::new(query.0);
    let paging = PageRequest::read(&mut input);
    let query = input.string_max("query", 255).unwrap_or_default();
    let tag_filter = ["tags", "requiredTags"]
        .into_iter()
        .find(|name| input.string(name).is_some_and(|tags| !tags.is_empty()));
    input.finish()?;
    if let Some(name) = tag_filter {
        return Err(ApiError::unsupported(
            &format!("\"{name}\" (address tags)"),
            21,
        ));
    }
    let users = match access.own_user() {
        Some(own) => vec![own],
        None => state
            .store
            .list_users()
            .await?
            .into_iter()
            .map(|u| u.id)
            .collect(),
    };
    let needle = query.to_lowercase();
    let mut rows = Vec::new();
    for user in users {
        for address in state.store.list_addresses(user).await? {
            if address.address.to_lowercase().contains(&needle) {
                rows.push((address.id.to_string(), address));
            }
        }
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let page = paging.apply(rows, |(id, _)| id)?;
    let results = page
        .rows
        .iter()
        .map(|(_, address)| {
            json!({
                "id": address.id.to_string(),
                "address": address.address,
                "user": address.user.to_string(),
                "forwarded": false,
                "forwardedDisabled": false,
                "tags": [],
            })
        })
        .collect();
    success(page.response(&query, results))
}

pub async fn list(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    access.require(user, Resource::Addresses, Action::Read)?;
    state.store.get_user(user).await?;
    let addresses = state.store.list_addresses(user).await?;
    let main = addresses.iter().map(|a| a.id).min();
    let results: Vec<Value> = addresses
        .iter()
        .map(|a| address_json(a, Some(a.id) == main))
        .collect();
    success(json!({ "results": results }))
}

pub async fn create(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    access.require(user, Resource::Addresses, Action::Create)?;
    let mut input = Input::new(body);
    let address = input.required_string("address");
    let main = input.boolean("main");
    input.finish()?;
    if main == Some(true) {
        return Err(ApiError::unsupported(
            "\"main\" (choosing the main address)",
            21,
        ));
    }
    state.store.get_user(user).await?;
    let created = state.store.add_address(user, &address).await?;
    success(json!({ "id": created.id.to_string() }))
}

pub async fn get(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, address)): Path<(String, String)>,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let id: AddressId = hex_id("address", &address)?;
    access.require(user, Resource::Addresses, Action::Read)?;
    let (address, main) = owned_address(&state.store, user, id).await?;
    success(address_json(&address, main))
}

/// Only what we keep can change: making the main address main again is a no-op, anything
/// else WildDuck allows here (another main, name, tags) is not kept yet.
pub async fn update(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, address)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let id: AddressId = hex_id("address", &address)?;
    access.require(user, Resource::Addresses, Action::Update)?;
    let mut input = Input::new(body);
    let main = input.boolean("main");
    let new_address = input.string("address");
    input.finish()?;
    let (_, is_main) = owned_address(&state.store, user, id).await?;
    if main == Some(true) && !is_main {
        return Err(ApiError::unsupported(
            "\"main\" (choosing the main address)",
            21,
        ));
    }
    if new_address.is_some() {
        return Err(ApiError::unsupported(
            "\"address\" (renaming an address)",
            21,
        ));
    }
    success(json!({}))
}

pub async fn delete(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, address)): Path<(String, String)>,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let id: AddressId = hex_id("address", &address)?;
    access.require(user, Resource::Addresses, Action::Delete)?;
    let (address, main) = owned_address(&state.store, user, id).await?;
    if main {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "NotPermitted",
            "Trying to delete main address. Set a new main address first",
        ));
    }
    state.store.remove_address(user, &address.address).await?;
    success(json!({}))
}

pub async fn resolve(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(address): Path<String>,
) -> JsonResult {
    access.require_root()?;
    let found = state.store.find_address(&address).await?;
    success(json!({
        "id": found.id.to_string(),
        "address": found.address,
        "user": found.user.to_string(),
        "tags": [],
    }))
}

/// The address `id` of `user` and whether it is the main one; 404 when the user has none
/// such (another user's address id included).
async fn owned_address(store: &Store, user: UserId, id: AddressId) -> ApiResult<(Address, bool)> {
    store.get_user(user).await?;
    let addresses = store.list_addresses(user).await?;
    let main = addresses.iter().map(|a| a.id).min();
    addresses
        .into_iter()
        .find(|a| a.id == id)
        .map(|a| (a, Some(id) == main))
        .ok_or_else(ApiError::address_not_found)
}

fn address_json(address: &Address, main: bool) -> Value {
    json!({
        "id": address.id.to_string(),
        "address": address.address,
        "main": main,
        "tags": [],
    })
}
