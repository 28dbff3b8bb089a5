//! Webhooks: `/webhooks` list, create, delete, as WildDuck's `lib/api/webhooks.js`. Creating
//! and deleting are root's (`…Any`); a user token lists its own user's webhooks (the `user`
//! role's `read:own`). The worker that posts events is `wildduck_lmtp::relay::webhooks`.

use axum::Extension;
use axum::extract::Path;
use serde_json::{Value, json};
use wildduck_store::{RecordId, UserId, Webhook};

use super::{JsonResult, Shared, success};
use crate::auth::Access;
use crate::input::{Input, JsonBody, QueryInput, hex_id};
use crate::paging::PageRequest;

/// WildDuck's limit on one event type pattern.
const MAX_TYPE_CHARS: usize = 128;

pub async fn list(
    state: Shared,
    Extension(access): Extension<Access>,
    query: QueryInput,
) -> JsonResult {
    let mut input = Input::new(query.0);
    let paging = PageRequest::read(&mut input);
    let wanted_type = input
        .string_max("type", MAX_TYPE_CHARS)
        .map(|text| text.to_lowercase())
        .filter(|text| !text.is_empty());
    let user = input.string("user");
    input.finish()?;
    let user: Option<UserId> = match (access.own_user(), user) {
        // A user token sees its own webhooks whatever it asks for, as in WildDuck.
        (Some(own), _) => Some(own),
        (None, Some(raw)) => Some(hex_id("user", &raw)?),
        (None, None) => None,
    };
    let rows: Vec<Webhook> = state
        .store
        .list_webhooks()
        .await?
        .into_iter()
        .filter(|hook| wanted_type.as_ref().is_none_or(|t| hook.types.contains(t)))
        .filter(|hook| user.is_none_or(|user| hook.user == Some(user)))
        .collect();
    // Sorted by id, WildDuck's paginated field.
    let keyed = rows
        .into_iter()
        .map(|hook| (hook.id.to_string(), hook))
        .collect();
    let page = paging.apply(keyed, |(key, _)| key)?;
    let results = page
        .rows
        .iter()
        .map(|(_, hook)| webhook_json(hook))
        .collect();
    let mut body = page.response("", results);
    if let Value::Object(fields) = &mut body {
        fields.remove("query");
        fields.insert("type".into(), wanted_type.map_or(Value::Null, Value::from));
        fields.insert(
            "user".into(),
            user.map_or(Value::Null, |u| u.to_string().into()),
        );
    }
    success(body)
}

pub async fn create(
    state: Shared,
    Extension(access): Extension<Access>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    access.require_root()?;
    let mut input = Input::new(body);
    let types = match input.value("type") {
        None => {
            input.fail("type", "\"type\" is required".into());
            Vec::new()
        }
        Some(Value::Array(items)) => {
            let strings: Option<Vec<String>> = items
                .iter()
                .map(|item| item.as_str().map(|s| s.trim().to_lowercase()))
                .collect();
            match strings {
                Some(types) if types.iter().all(|t| t.chars().count() <= MAX_TYPE_CHARS) => types,
                Some(_) => {
                    input.fail(
                        "type",
                        format!(
                            "\"type\" items must be less than or equal to {MAX_TYPE_CHARS} characters long"
                        ),
                    );
                    Vec::new()
                }
                None => {
                    input.fail("type", "\"type\" items must be strings".into());
                    Vec::new()
                }
            }
        }
        Some(_) => {
            input.fail("type", "\"type\" must be an array".into());
            Vec::new()
        }
    };
    let url = input.required_string("url");
    let user = input.string("user");
    input.finish()?;
    let user: Option<UserId> = user.map(|raw| hex_id("user", &raw)).transpose()?;
    let created = state.store.create_webhook(&types, user, &url).await?;
    success(json!({ "id": created.id.to_string() }))
}

pub async fn delete(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(webhook): Path<String>,
) -> JsonResult {
    access.require_root()?;
    let id: RecordId = hex_id("webhook", &webhook)?;
    state.store.delete_webhook(id).await?;
    success(json!({}))
}

fn webhook_json(hook: &Webhook) -> Value {
    json!({
        "id": hook.id.to_string(),
        "type": hook.types,
        "user": hook.user.map(|u| u.to_string()),
        "url": hook.url,
    })
}
