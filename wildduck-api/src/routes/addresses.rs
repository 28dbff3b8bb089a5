//! Addresses: a user's list, create, get, update, delete; every address (`GET /addresses`,
//! users' and forwarded ones); resolve. A user's main address is the one their profile names,
//! else their oldest one. Name, tags and metaData of an address are kept as its details.

use axum::Extension;
use axum::extract::Path;
use axum::http::StatusCode;
use serde_json::{Value, json};
use wildduck_store::{
    Address, AddressDetails, AddressId, ForwardedAddress, Store, UserId, tags_match,
};

use super::{JsonResult, Shared, fields, success};
use crate::auth::{Access, Action, Resource};
use crate::error::{ApiError, ApiResult};
use crate::input::{Input, JsonBody, QueryInput, hex_id, user_param};
use crate::paging::PageRequest;

/// Longest name WildDuck allows for an address.
pub const MAX_NAME_CHARS: usize = 256;

/// The address WildDuck would call the user's main one.
pub async fn main_address(store: &Store, user: UserId) -> ApiResult<Option<Address>> {
    Ok(store.main_address(user).await?)
}

/// One row of `GET /addresses`: a user's address or a forwarded one.
struct Listed {
    id: String,
    address: String,
    name: Option<String>,
    user: Option<UserId>,
    forwarded: Option<ForwardedAddress>,
    tags: Vec<String>,
    meta_data: serde_json::Map<String, Value>,
}

pub async fn list_all(
    state: Shared,
    Extension(access): Extension<Access>,
    query: QueryInput,
) -> JsonResult {
    let mut input = Input::new(query.0);
    let paging = PageRequest::read(&mut input);
    let query = input.string_max("query", 255).unwrap_or_default();
    let any_tags = fields::tags(&mut input, "tags").unwrap_or_default();
    let all_tags = fields::tags(&mut input, "requiredTags").unwrap_or_default();
    let with_meta = input.boolean("metaData").unwrap_or(false);
    input.finish()?;
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
    let mut rows = Vec::new();
    for user in users {
        for address in state.store.list_addresses(user).await? {
            let details = state.store.address_details(address.id).await?;
            rows.push(Listed {
                id: address.id.to_string(),
                address: address.address,
                name: details.name,
                user: Some(user),
                forwarded: None,
                tags: details.tags,
                meta_data: details.meta_data,
            });
        }
    }
    // Forwarded addresses belong to no user: root sees them.
    if access.own_user().is_none() {
        for forwarded in state.store.list_forwarded().await? {
            rows.push(Listed {
                id: forwarded.id.to_string(),
                address: forwarded.address.clone(),
                name: forwarded.name.clone(),
                user: None,
                tags: forwarded.tags.clone(),
                meta_data: forwarded.meta_data.clone(),
                forwarded: Some(forwarded),
            });
        }
    }
    let needle = query.to_lowercase();
    rows.retain(|row| {
        row.address.to_lowercase().contains(&needle)
            && (any_tags.is_empty() || tags_match(&row.tags, &any_tags, false))
            && tags_match(&row.tags, &all_tags, true)
    });
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    let page = paging.apply(rows, |row| &row.id)?;
    let results = page
        .rows
        .iter()
        .map(|row| {
            let mut item = json!({
                "id": row.id,
                "name": row.name,
                "address": row.address,
                "user": row.user.map(|u| u.to_string()),
                "forwarded": row.forwarded.is_some(),
                "forwardedDisabled": row.forwarded.as_ref().is_some_and(|f| f.forwarded_disabled),
                "tags": row.tags,
            });
            if let Some(forwarded) = &row.forwarded {
                item["targets"] = forwarded_targets(forwarded).into();
            }
            if with_meta {
                item["metaData"] = Value::Object(row.meta_data.clone());
            }
            item
        })
        .collect();
    success(page.response(&query, results))
}

pub async fn list(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    query: QueryInput,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let mut input = Input::new(query.0);
    let with_meta = input.boolean("metaData").unwrap_or(false);
    // WildDuck's internalData is not kept; asking for it shows nothing.
    input.boolean("internalData");
    input.finish()?;
    access.require(user, Resource::Addresses, Action::Read)?;
    state.store.get_user(user).await?;
    let addresses = state.store.list_addresses(user).await?;
    let main = main_address(&state.store, user).await?.map(|a| a.id);
    let mut results: Vec<Value> = Vec::with_capacity(addresses.len());
    for address in &addresses {
        let details = state.store.address_details(address.id).await?;
        results.push(address_json(
            address,
            Some(address.id) == main,
            &details,
            // As WildDuck: only asked for, and only where some was stored.
            with_meta && !details.meta_data.is_empty(),
        ));
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
    access.require(user, Resource::Addresses, Action::Create)?;
    let mut input = Input::new(body);
    let address = input.required_string("address");
    let main = input.boolean("main").unwrap_or(false);
    let details = read_details(&mut input, AddressDetails::default());
    input.finish()?;
    state.store.get_user(user).await?;
    let created = state.store.add_address(user, &address).await?;
    if details != AddressDetails::default() {
        state
            .store
            .set_address_details(user, created.id, details)
            .await?;
    }
    if main {
        make_main(&state.store, user, created.id).await?;
    }
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
    let details = state.store.address_details(address.id).await?;
    success(address_json(&address, main, &details, true))
}

/// Name, tags, metaData, and `main: true` to make it the main address. Renaming an address
/// is not served yet; `main: false` is ignored, as in WildDuck.
pub async fn update(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, address)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let id: AddressId = hex_id("address", &address)?;
    access.require(user, Resource::Addresses, Action::Update)?;
    let (address, _) = owned_address(&state.store, user, id).await?;
    let current = state.store.address_details(address.id).await?;
    let mut input = Input::new(body);
    let main = input.boolean("main");
    let new_address = input.string("address");
    let details = read_details(&mut input, current.clone());
    input.finish()?;
    if new_address.is_some_and(|new| new != address.address) {
        return Err(ApiError::unsupported(
            "\"address\" (renaming an address)",
            21,
        ));
    }
    if details != current {
        state.store.set_address_details(user, id, details).await?;
    }
    if main == Some(true) {
        make_main(&state.store, user, id).await?;
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
    if let Some(forwarded) = state.store.find_forwarded(&address).await? {
        return success(super::forwarded::forwarded_json(&forwarded));
    }
    let found = state.store.find_address(&address).await?;
    let details = state.store.address_details(found.id).await?;
    success(json!({
        "id": found.id.to_string(),
        "address": found.address,
        "name": details.name,
        "user": found.user.to_string(),
        "tags": details.tags,
        "metaData": details.meta_data,
    }))
}

/// Records `address` as the user's main address in their profile.
async fn make_main(store: &Store, user: UserId, address: AddressId) -> ApiResult<()> {
    let mut profile = store.user_profile(user).await?;
    if profile.main_address != Some(address) {
        profile.main_address = Some(address);
        store.set_user_profile(user, profile).await?;
    }
    Ok(())
}

/// Name, tags and metaData of a request, over `details`.
fn read_details(input: &mut Input, mut details: AddressDetails) -> AddressDetails {
    if let Some(name) = fields::optional_text(input, "name", MAX_NAME_CHARS) {
        details.name = name;
    }
    if let Some(tags) = fields::tags(input, "tags") {
        details.tags = tags;
    }
    if let Some(meta_data) = fields::meta_data(input, "metaData") {
        details.meta_data = meta_data;
    }
    details
}

/// The address `id` of `user` and whether it is the main one; 404 when the user has none
/// such (another user's address id included).
async fn owned_address(store: &Store, user: UserId, id: AddressId) -> ApiResult<(Address, bool)> {
    store.get_user(user).await?;
    let addresses = store.list_addresses(user).await?;
    let main = main_address(store, user).await?.map(|a| a.id);
    addresses
        .into_iter()
        .find(|a| a.id == id)
        .map(|a| (a, Some(id) == main))
        .ok_or_else(ApiError::address_not_found)
}

fn forwarded_targets(forwarded: &ForwardedAddress) -> Vec<&str> {
    forwarded.targets.iter().map(|t| t.value()).collect()
}

/// An address of a user, with its metaData when `with_meta`.
fn address_json(address: &Address, main: bool, details: &AddressDetails, with_meta: bool) -> Value {
    let mut body = json!({
        "id": address.id.to_string(),
        "name": details.name,
        "address": address.address,
        "main": main,
        "tags": details.tags,
    });
    if with_meta {
        body["metaData"] = Value::Object(details.meta_data.clone());
    }
    body
}
