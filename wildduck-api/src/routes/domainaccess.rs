//! Domain access lists: `/domainaccess/:tag/allow|block` add and list, `DELETE
//! /domainaccess/:domain` (an entry's id), as WildDuck's `lib/api/domainaccess.js`. Root
//! only. The store applies them at delivery through `Store::domain_access_verdict`.

use axum::Extension;
use axum::extract::Path;
use serde_json::json;
use wildduck_store::{AccessAction, RecordId};

use super::{JsonResult, Shared, success};
use crate::auth::Access;
use crate::error::ApiError;
use crate::input::{Input, JsonBody, hex_id};

fn action_param(action: &str) -> Result<AccessAction, ApiError> {
    match action {
        "allow" => Ok(AccessAction::Allow),
        "block" => Ok(AccessAction::Block),
        other => Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("/domainaccess/:tag/{other} does not exist"),
        )),
    }
}

pub async fn add(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((tag, action)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    access.require_root()?;
    let action = action_param(&action)?;
    let mut input = Input::new(body);
    let domain = input.required_string("domain");
    if domain.chars().count() > 255 {
        input.fail(
            "domain",
            "\"domain\" length must be less than or equal to 255 characters long".into(),
        );
    }
    if tag.trim().is_empty() || tag.chars().count() > 128 {
        input.fail("tag", "\"tag\" must be 1 to 128 characters long".into());
    }
    input.finish()?;
    let id = state.store.set_domain_access(&tag, &domain, action).await?;
    success(json!({ "id": id.to_string() }))
}

pub async fn list(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((tag, action)): Path<(String, String)>,
) -> JsonResult {
    access.require_root()?;
    let action = action_param(&action)?;
    let results: Vec<_> = state
        .store
        .list_domain_access(&tag, action)
        .await?
        .iter()
        .map(|entry| {
            json!({"id": entry.id.to_string(), "domain": entry.domain, "action": entry.action.name()})
        })
        .collect();
    success(json!({ "results": results }))
}

pub async fn delete(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(domain): Path<String>,
) -> JsonResult {
    access.require_root()?;
    let id: RecordId = hex_id("domain", &domain)?;
    state.store.delete_domain_access(id).await?;
    success(json!({ "deleted": id.to_string() }))
}
