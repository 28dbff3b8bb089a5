//! DKIM keys: `/dkim` list, set (generated or given), get, resolve by domain, delete, as
//! WildDuck's `lib/api/dkim.js`. Root only. Private keys are never answered.

use axum::Extension;
use axum::extract::Path;
use serde_json::{Value, json};
use wildduck_store::{DkimKey, NewDkimKey, RecordId};

use super::asps::iso_date;
use super::{JsonResult, Shared, success};
use crate::auth::Access;
use crate::input::{Input, JsonBody, QueryInput, hex_id};
use crate::paging::PageRequest;

pub async fn list(
    state: Shared,
    Extension(access): Extension<Access>,
    query: QueryInput,
) -> JsonResult {
    access.require_root()?;
    let mut input = Input::new(query.0);
    let paging = PageRequest::read(&mut input);
    let query = input
        .string_max("query", 255)
        .map(|text| text.trim().to_string())
        .unwrap_or_default();
    input.finish()?;
    let rows: Vec<DkimKey> = state
        .store
        .list_dkim_keys()
        .await?
        .into_iter()
        .filter(|key| key.domain.contains(&query))
        .collect();
    let page = paging.apply(rows, |key| &key.domain)?;
    let results = page
        .rows
        .iter()
        .map(|key| {
            json!({
                "id": key.id.to_string(),
                "domain": key.domain,
                "selector": key.selector,
                "description": key.description,
                "fingerprint": key.fingerprint,
                "created": iso_date(key.created),
            })
        })
        .collect();
    success(page.response(&query, results))
}

pub async fn set(
    state: Shared,
    Extension(access): Extension<Access>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    access.require_root()?;
    let mut input = Input::new(body);
    let domain = input.required_string("domain");
    let selector = input.required_string("selector");
    let description = input.string_max("description", 255);
    let private_key = input.string("privateKey");
    input.finish()?;
    let (key, _) = state
        .store
        .set_dkim_key(NewDkimKey {
            domain,
            selector,
            description,
            private_key,
        })
        .await?;
    success(key_json(&key))
}

pub async fn get(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(dkim): Path<String>,
) -> JsonResult {
    access.require_root()?;
    let id: RecordId = hex_id("dkim", &dkim)?;
    success(key_json(&state.store.get_dkim_key(id).await?))
}

pub async fn resolve(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(domain): Path<String>,
) -> JsonResult {
    access.require_root()?;
    let key = state.store.resolve_dkim_key(&domain).await?;
    success(json!({ "id": key.id.to_string() }))
}

pub async fn delete(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(dkim): Path<String>,
) -> JsonResult {
    access.require_root()?;
    let id: RecordId = hex_id("dkim", &dkim)?;
    state.store.delete_dkim_key(id).await?;
    success(json!({}))
}

fn key_json(key: &DkimKey) -> Value {
    json!({
        "id": key.id.to_string(),
        "domain": key.domain,
        "selector": key.selector,
        "description": key.description,
        "fingerprint": key.fingerprint,
        "publicKey": key.public_key,
        "dnsTxt": {"name": key.dns_name, "value": key.dns_value},
        "created": iso_date(key.created),
    })
}
