//! Filters: `/filters` (every user's, or a user token's own) and `/users/:user/filters[/:filter]`
//! list, create, get, update, delete, as WildDuck's `lib/api/filters.js`. The listings
//! describe queries and actions as WildDuck's `getFilterStrings` words them; a single filter is
//! shown field by field. The rules (limits, mailbox ownership, target kinds) are the store's.

use axum::Extension;
use axum::extract::Path;
use serde_json::{Map, Value, json};
use wildduck_store::{
    Filter, FilterAction, FilterId, FilterQuery, ForwardTarget, MAX_FILTERS_PER_USER, Mailbox,
    MailboxId, NewFilter, Timestamp,
};

use super::{JsonResult, Shared, success};
use crate::auth::{Access, Action, Resource};
use crate::error::{ApiError, ApiResult};
use crate::input::{Input, JsonBody, QueryInput, hex_id, user_param};
use crate::paging::PageRequest;

/// Query fields as the API names them and the header each reads.
const HEADER_FIELDS: [&str; 4] = ["from", "to", "subject", "listId"];
const ACTION_FLAGS: [&str; 4] = ["seen", "flag", "delete", "spam"];
/// WildDuck's limit for a filter name and a query value.
const MAX_FIELD_CHARS: usize = 255;
/// WildDuck's `metaData` limit.
const MAX_META_DATA_BYTES: usize = 1024 * 1024;

pub async fn list_all(
    state: Shared,
    Extension(access): Extension<Access>,
    query: QueryInput,
) -> JsonResult {
    let mut input = Input::new(query.0);
    let paging = PageRequest::read(&mut input);
    let forward = input
        .string_max("forward", MAX_FIELD_CHARS)
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty());
    let with_meta_data = input.boolean("metaData").unwrap_or(false);
    input.finish()?;
    let filters = match access.own_user() {
        Some(own) => state.store.list_filters(own).await?,
        None => state.store.list_all_filters().await?,
    };
    // Paged by id (WildDuck sorts this listing by `_id`); the store lists in run order.
    let mut rows: Vec<(String, Filter)> = filters
        .into_iter()
        .filter(|filter| {
            forward.as_deref().is_none_or(|needle| {
                filter
                    .action
                    .targets
                    .iter()
                    .any(|t| t.value().contains(needle))
            })
        })
        .map(|filter| (filter.id.to_string(), filter))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let page = paging.apply(rows, |(id, _)| id)?;
    let mut results = Vec::with_capacity(page.rows.len());
    for (_, filter) in &page.rows {
        let mailboxes = action_mailbox(&state, filter).await?;
        let mut row = listing_json(filter, &mailboxes, with_meta_data);
        row["user"] = filter.user.to_string().into();
        if !filter.action.targets.is_empty() {
            row["targets"] = filter
                .action
                .targets
                .iter()
                .map(|target| target.value().to_string())
                .collect();
        }
        results.push(row);
    }
    let mut body = page.response("", results);
    if let Value::Object(fields) = &mut body {
        fields.remove("query");
    }
    success(body)
}

pub async fn list(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    query: QueryInput,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    access.require(user, Resource::Filters, Action::Read)?;
    let mut input = Input::new(query.0);
    let with_meta_data = input.boolean("metaData").unwrap_or(false);
    input.finish()?;
    state.store.get_user(user).await?;
    let mailboxes = state.store.list_mailboxes(user).await?;
    let filters = state.store.list_filters(user).await?;
    let results: Vec<Value> = filters
        .iter()
        .map(|filter| listing_json(filter, &mailboxes, with_meta_data))
        .collect();
    success(json!({
        "limits": { "allowed": MAX_FILTERS_PER_USER, "used": filters.len() },
        "results": results,
    }))
}

pub async fn get(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, filter)): Path<(String, String)>,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let filter: FilterId = hex_id("filter", &filter)?;
    access.require(user, Resource::Filters, Action::Read)?;
    let filter = state.store.get_filter(user, filter).await?;
    let mut query = Map::new();
    let texts = [
        ("from", &filter.query.from),
        ("to", &filter.query.to),
        ("subject", &filter.query.subject),
        ("listId", &filter.query.list_id),
        ("text", &filter.query.text),
    ];
    for (key, value) in texts {
        if let Some(value) = value {
            query.insert(key.into(), value.clone().into());
        }
    }
    if let Some(has) = filter.query.has_attachment {
        query.insert("ha".into(), has.into());
    }
    if let Some(size) = filter.query.size {
        query.insert("size".into(), size.into());
    }
    let action = &filter.action;
    let mut shown = Map::new();
    for (key, value) in ACTION_FLAGS.iter().zip(action_flags(action)) {
        if let Some(value) = value {
            shown.insert(key.to_string(), value.into());
        }
    }
    if let Some(mailbox) = action.mailbox {
        shown.insert("mailbox".into(), mailbox.to_string().into());
    }
    if !action.targets.is_empty() {
        let targets: Vec<Value> = action.targets.iter().map(|t| t.value().into()).collect();
        shown.insert("targets".into(), targets.into());
    }
    let mut body = json!({
        "id": filter.id.to_string(),
        "name": filter.name,
        "query": query,
        "action": shown,
        "disabled": filter.disabled,
        "created": iso_date(filter.created),
    });
    if let Some(meta_data) = &filter.meta_data {
        body["metaData"] = meta_data_json(meta_data);
    }
    success(body)
}

pub async fn create(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    access.require(user, Resource::Filters, Action::Create)?;
    let mut input = Input::new(body);
    let name = filter_name(&mut input);
    for key in ["query", "action"] {
        if !input.has(key) {
            input.fail(key, format!("\"{key}\" is required"));
        }
    }
    let mut new = NewFilter {
        name: name.flatten().unwrap_or_default(),
        disabled: input.boolean("disabled").unwrap_or(false),
        meta_data: meta_data(&mut input),
        ..NewFilter::default()
    };
    let query = query_changes(&mut input);
    let action = action_changes(&mut input)?;
    input.finish()?;
    query.apply(&mut new.query);
    action.apply(&mut new.action);
    let filter = state.store.create_filter(user, new).await?;
    success(json!({ "id": filter.id.to_string() }))
}

pub async fn update(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, filter)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let filter: FilterId = hex_id("filter", &filter)?;
    access.require(user, Resource::Filters, Action::Update)?;
    let mut input = Input::new(body);
    let name = filter_name(&mut input);
    let disabled = input.boolean("disabled");
    let meta_data = meta_data(&mut input);
    let query = query_changes(&mut input);
    let action = action_changes(&mut input)?;
    input.finish()?;
    let mut new = NewFilter::from(state.store.get_filter(user, filter).await?);
    // As WildDuck: an empty name keeps the old one.
    if let Some(Some(name)) = name {
        new.name = name;
    }
    if let Some(disabled) = disabled {
        new.disabled = disabled;
    }
    if meta_data.is_some() {
        new.meta_data = meta_data;
    }
    query.apply(&mut new.query);
    action.apply(&mut new.action);
    state.store.replace_filter(user, filter, new).await?;
    success(json!({}))
}

pub async fn delete(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, filter)): Path<(String, String)>,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let filter: FilterId = hex_id("filter", &filter)?;
    access.require(user, Resource::Filters, Action::Delete)?;
    state.store.delete_filter(user, filter).await?;
    success(json!({}))
}

/// `name`: absent `None`, given empty `Some(None)` (Joi's `empty('')`).
fn filter_name(input: &mut Input) -> Option<Option<String>> {
    input.string_max("name", MAX_FIELD_CHARS).map(|name| {
        let name = name.trim().to_string();
        (!name.is_empty()).then_some(name)
    })
}

/// WildDuck's `metaData`: an object, or a string holding a JSON object; kept as JSON text.
fn meta_data(input: &mut Input) -> Option<String> {
    let value = input.value("metaData")?.clone();
    let text = match &value {
        Value::Object(_) => value.to_string(),
        Value::String(text) => text.trim().to_string(),
        _ => String::new(),
    };
    let is_object = matches!(serde_json::from_str::<Value>(&text), Ok(Value::Object(_)));
    if !is_object || text.len() > MAX_META_DATA_BYTES {
        input.fail("metaData", "\"metaData\" contains an invalid value".into());
        return None;
    }
    Some(text)
}

/// A change to one optional field: `None` leaves it, `Some(None)` clears it (a key given
/// empty), `Some(Some(v))` sets it. WildDuck's update unsets a key given empty.
type Change<T> = Option<Option<T>>;

fn set<T>(field: &mut Option<T>, change: Change<T>) {
    if let Some(value) = change {
        *field = value;
    }
}

#[derive(Default)]
struct QueryChanges {
    headers: [Change<String>; 4],
    text: Change<String>,
    has_attachment: Change<bool>,
    size: Change<i64>,
}

impl QueryChanges {
    fn apply(self, query: &mut FilterQuery) {
        let [from, to, subject, list_id] = self.headers;
        set(&mut query.from, from);
        set(&mut query.to, to);
        set(&mut query.subject, subject);
        set(&mut query.list_id, list_id);
        set(&mut query.text, self.text);
        set(&mut query.has_attachment, self.has_attachment);
        set(&mut query.size, self.size);
    }
}

/// The `query` object: its text fields (trimmed, at most 255 characters, empty = cleared),
/// `ha` and `size`. Problems are recorded in `input` under `query.<key>`.
fn query_changes(input: &mut Input) -> QueryChanges {
    let mut changes = QueryChanges::default();
    let Some(object) = nested_object(input, "query") else {
        return changes;
    };
    let mut nested = Input::new(object);
    let text = |nested: &mut Input, key: &str| -> Change<String> {
        let value = nested.string_max(key, MAX_FIELD_CHARS)?;
        let value = value.trim().to_string();
        Some((!value.is_empty()).then_some(value))
    };
    for (slot, key) in changes.headers.iter_mut().zip(HEADER_FIELDS) {
        *slot = text(&mut nested, key);
    }
    changes.text = text(&mut nested, "text");
    if nested.has("ha") {
        changes.has_attachment = Some(nested.boolean("ha"));
    }
    if nested.has("size") {
        let empty = nested.value("size").is_some_and(|v| v.as_str() == Some(""));
        changes.size = Some(if empty {
            None
        } else {
            nested
                .number("size", i64::MIN as f64, i64::MAX as f64)
                .map(|size| size as i64)
        });
    }
    merge_problems(input, "query", nested);
    changes
}

#[derive(Default)]
struct ActionChanges {
    flags: [Change<bool>; 4],
    mailbox: Change<MailboxId>,
    targets: Option<Vec<ForwardTarget>>,
}

impl ActionChanges {
    fn apply(self, action: &mut FilterAction) {
        let [seen, flag, delete, spam] = self.flags;
        set(&mut action.seen, seen);
        set(&mut action.flag, flag);
        set(&mut action.delete, delete);
        set(&mut action.spam, spam);
        set(&mut action.mailbox, self.mailbox);
        if let Some(targets) = self.targets {
            action.targets = targets;
        }
    }
}

/// The `action` object: the four flags, `mailbox` (an id, empty = cleared) and `targets`
/// (addresses or smtp/http URLs, empty = cleared). An unknown target kind is WildDuck's own
/// 400 with the value in the message.
fn action_changes(input: &mut Input) -> ApiResult<ActionChanges> {
    let mut changes = ActionChanges::default();
    let Some(object) = nested_object(input, "action") else {
        return Ok(changes);
    };
    let mut nested = Input::new(object);
    for (slot, key) in changes.flags.iter_mut().zip(ACTION_FLAGS) {
        if nested.has(key) {
            *slot = Some(nested.boolean(key));
        }
    }
    if let Some(mailbox) = nested.string("mailbox") {
        changes.mailbox = Some(if mailbox.is_empty() {
            None
        } else {
            match hex_id::<MailboxId>("mailbox", &mailbox) {
                Ok(id) => Some(id),
                Err(err) => {
                    nested.fail("mailbox", err.message);
                    None
                }
            }
        });
    }
    if nested.has("targets") {
        changes.targets = Some(match nested.value("targets") {
            Some(Value::Array(items)) => {
                let mut targets = Vec::with_capacity(items.len());
                for item in items {
                    let value = item.as_str().unwrap_or_default();
                    let target = ForwardTarget::parse(value).map_err(|_| {
                        ApiError::new(
                            axum::http::StatusCode::BAD_REQUEST,
                            "InputValidationError",
                            format!("Unknown target type \"{value}\""),
                        )
                    })?;
                    targets.push(target);
                }
                targets
            }
            Some(Value::String(text)) if text.is_empty() => Vec::new(),
            _ => {
                nested.fail("targets", "\"targets\" must be an array".into());
                Vec::new()
            }
        });
    }
    merge_problems(input, "action", nested);
    Ok(changes)
}

/// The object under `key`, or a recorded problem when it is not one.
fn nested_object(input: &mut Input, key: &str) -> Option<Map<String, Value>> {
    match input.value(key)? {
        Value::Object(object) => Some(object.clone()),
        _ => {
            input.fail(key, format!("\"{key}\" must be of type object"));
            None
        }
    }
}

/// Moves a nested object's problems into `input`, named `parent.key` as Joi names them.
fn merge_problems(input: &mut Input, parent: &str, nested: Input) {
    if let Err(err) = nested.finish() {
        for (key, message) in err.details.unwrap_or_default() {
            let message = message.as_str().unwrap_or_default().replacen(
                &format!("\"{key}\""),
                &format!("\"{parent}.{key}\""),
                1,
            );
            input.fail(&format!("{parent}.{key}"), message);
        }
    }
}

fn action_flags(action: &FilterAction) -> [Option<bool>; 4] {
    [action.seen, action.flag, action.delete, action.spam]
}

/// The mailbox a filter's action names, for its description.
async fn action_mailbox(state: &Shared, filter: &Filter) -> ApiResult<Vec<Mailbox>> {
    let Some(mailbox) = filter.action.mailbox else {
        return Ok(Vec::new());
    };
    match state.store.get_mailbox_by_id(mailbox).await {
        Ok(found) => Ok(vec![found]),
        Err(wildduck_store::Error::Mailbox(_)) => Ok(Vec::new()),
        Err(err) => Err(err.into()),
    }
}

/// A filter as the listings show it: query and action as WildDuck's description words.
fn listing_json(filter: &Filter, mailboxes: &[Mailbox], with_meta_data: bool) -> Value {
    let mut row = json!({
        "id": filter.id.to_string(),
        "name": filter.name,
        "query": query_words(&filter.query),
        "action": action_words(&filter.action, mailboxes),
        "disabled": filter.disabled,
        "created": iso_date(filter.created),
    });
    if with_meta_data && let Some(meta_data) = &filter.meta_data {
        row["metaData"] = meta_data_json(meta_data);
    }
    row
}

fn query_words(query: &FilterQuery) -> Vec<Vec<String>> {
    let mut words: Vec<Vec<String>> = [
        ("from", &query.from),
        ("to", &query.to),
        ("subject", &query.subject),
        ("listId", &query.list_id),
    ]
    .into_iter()
    .filter_map(|(key, value)| Some(vec![key.to_string(), format!("({})", value.as_ref()?)]))
    .collect();
    match query.has_attachment {
        Some(true) => words.push(vec!["has attachment".into()]),
        Some(false) => words.push(vec!["no attachments".into()]),
        None => {}
    }
    if let Some(text) = &query.text {
        words.push(vec![format!("\"{text}\"")]);
    }
    match query.size {
        Some(size) if size > 0 => words.push(vec!["larger".into(), size.to_string()]),
        Some(size) if size < 0 => words.push(vec!["smaller".into(), (-size).to_string()]),
        _ => {}
    }
    words
}

fn action_words(action: &FilterAction, mailboxes: &[Mailbox]) -> Vec<Vec<String>> {
    let pairs = [
        ("mark as read", "do not mark as read"),
        ("flag it", "do not flag it"),
        ("delete it", "do not delete it"),
        ("mark it as spam", "do not mark it as spam"),
    ];
    let mut words: Vec<Vec<String>> = action_flags(action)
        .into_iter()
        .zip(pairs)
        .filter_map(|(value, (yes, no))| Some(vec![if value? { yes } else { no }.to_string()]))
        .collect();
    if let Some(mailbox) = action.mailbox {
        let target = mailboxes
            .iter()
            .find(|m| m.id == mailbox)
            .map_or(mailbox.to_string(), |m| format!("\"{}\"", m.path));
        words.push(vec!["move to folder".into(), target]);
    }
    if !action.targets.is_empty() {
        let targets: Vec<String> = action
            .targets
            .iter()
            .map(|target| match target {
                // WildDuck shows only the host of a URL target.
                ForwardTarget::Http(url) => url_host(url).to_string(),
                ForwardTarget::Mail(value) | ForwardTarget::Relay(value) => value.clone(),
            })
            .collect();
        words.push(vec!["forward to".into(), targets.join(", ")]);
    }
    words
}

fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    host.split(':').next().unwrap_or(host)
}

/// Stored JSON text back as the object WildDuck's `formatMetaData` shows.
fn meta_data_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| json!({}))
}

fn iso_date(time: Timestamp) -> String {
    wildduck_store::mime::parsed::iso_date(time)
}
