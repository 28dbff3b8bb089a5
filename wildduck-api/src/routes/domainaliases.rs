//! Domain aliases: `/domainaliases` list, create, get, resolve, delete, as WildDuck's
//! `lib/api/domainaliases.js`. Root only (WildDuck's `…Any` permissions).

use axum::Extension;
use axum::extract::Path;
use serde_json::{Value, json};
use wildduck_store::{DomainAlias, RecordId};

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
    // WildDuck matches the text anywhere in the alias or the domain, with case.
    let rows: Vec<DomainAlias> = state
        .store
        .list_domain_aliases()
        .await?
        .into_iter()
        .filter(|alias| alias.alias.contains(&query) || alias.domain.contains(&query))
        .collect();
    let page = paging.apply(rows, |alias| &alias.alias)?;
    let results = page
        .rows
        .iter()
        .map(|alias| json!({"id": alias.id.to_string(), "alias": alias.alias, "domain": alias.domain}))
        .collect();
    success(page.response(&query, results))
}

pub async fn create(
    state: Shared,
    Extension(access): Extension<Access>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    access.require_root()?;
    let mut input = Input::new(body);
    let alias = input.required_string("alias");
    let domain = input.required_string("domain");
    for (name, value) in [("alias", &alias), ("domain", &domain)] {
        if value.chars().count() > 255 {
            input.fail(
                name,
                format!("\"{name}\" length must be less than or equal to 255 characters long"),
            );
        }
    }
    input.finish()?;
    let created = state.store.create_domain_alias(&alias, &domain).await?;
    success(json!({ "id": created.id.to_string() }))
}

pub async fn get(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(alias): Path<String>,
) -> JsonResult {
    access.require_root()?;
    let id: RecordId = hex_id("alias", &alias)?;
    success(alias_json(&state.store.get_domain_alias(id).await?))
}

pub async fn resolve(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(alias): Path<String>,
) -> JsonResult {
    access.require_root()?;
    let found = state.store.resolve_domain_alias(&alias).await?;
    success(json!({ "id": found.id.to_string() }))
}

pub async fn delete(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(alias): Path<String>,
) -> JsonResult {
    access.require_root()?;
    let id: RecordId = hex_id("alias", &alias)?;
    state.store.delete_domain_alias(id).await?;
    success(json!({}))
}

fn alias_json(alias: &DomainAlias) -> Value {
    json!({
        "id": alias.id.to_string(),
        "alias": alias.alias,
        "domain": alias.domain,
        "created": iso_date(alias.created),
    })
}
