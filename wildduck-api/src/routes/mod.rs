//! The route table, one file per route group.

mod addresses;
mod addressregister;
mod asps;
mod authenticate;
mod authlog;
mod autoreply;
mod certs;
mod dkim;
mod domainaccess;
mod domainaliases;
mod fields;
mod filters;
mod forwarded;
mod health;
mod logout;
mod mailboxes;
mod message_actions;
mod messages;
mod messages_clear;
mod messages_forward;
mod messages_submit;
mod messages_upload;
mod openapi;
mod outbound;
mod preauth;
mod rename_domain;
mod search_apply;
mod search_query;
mod settings;
mod storage;
mod submit;
mod two_factor;
mod updates;
mod users;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, Uri};
use axum::middleware;
use axum::routing::{delete, get, post, put};
use serde_json::{Value, json};

use crate::ApiState;
use crate::auth::require_token;
use crate::error::ApiError;
use crate::input::MAX_BODY_BYTES;

pub type Shared = axum::extract::State<Arc<ApiState>>;
pub type JsonResult = Result<axum::Json<Value>, ApiError>;

/// `{"success": true, …fields}`, WildDuck's success shape.
pub fn success(fields: Value) -> JsonResult {
    let mut body = json!({ "success": true });
    if let (Value::Object(target), Value::Object(extra)) = (&mut body, fields) {
        target.extend(extra);
    }
    Ok(axum::Json(body))
}

pub fn router(state: Arc<ApiState>) -> Router {
    // Every route wants a token, /health too, as in WildDuck.
    let protected = Router::new()
        .route("/health", get(health::health))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(openapi::document))
        .route(
            "/authenticate",
            post(authenticate::login).delete(authenticate::logout),
        )
        .route("/preauth", post(preauth::check))
        .route("/users", get(users::list).post(users::create))
        .route("/users/resolve/{username}", get(users::resolve))
        .route(
            "/users/{user}",
            get(users::get).put(users::update).delete(users::delete),
        )
        .route(
            "/users/{user}/restore",
            get(users::restore_info).post(users::restore),
        )
        .route("/users/{user}/logout", put(logout::logout_user))
        .route("/users/{user}/updates", get(updates::updates))
        .route("/users/{user}/quota/reset", post(users::quota_reset))
        .route("/users/{user}/authlog", get(authlog::list))
        .route("/users/{user}/authlog/{event}", get(authlog::get))
        .route("/users/{user}/2fa/totp/setup", post(two_factor::setup))
        .route("/users/{user}/2fa/totp/enable", post(two_factor::enable))
        .route("/users/{user}/2fa/totp/check", post(two_factor::check))
        .route("/users/{user}/2fa/totp", delete(two_factor::disable))
        .route("/users/{user}/2fa", delete(two_factor::disable))
        .route("/quota/reset", post(users::quota_reset_all))
        .route("/users/{user}/password/reset", post(users::password_reset))
        .route("/users/{user}/asps", get(asps::list).post(asps::create))
        .route(
            "/users/{user}/asps/{asp}",
            get(asps::get).delete(asps::delete),
        )
        .route("/filters", get(filters::list_all))
        .route(
            "/users/{user}/filters",
            get(filters::list).post(filters::create),
        )
        .route(
            "/users/{user}/filters/{filter}",
            get(filters::get)
                .put(filters::update)
                .delete(filters::delete),
        )
        .route(
            "/users/{user}/autoreply",
            get(autoreply::get)
                .put(autoreply::update)
                .delete(autoreply::delete),
        )
        .route("/addresses", get(addresses::list_all))
        .route("/addresses/resolve/{address}", get(addresses::resolve))
        .route("/addresses/renameDomain", put(rename_domain::rename))
        .route("/addresses/forwarded", post(forwarded::create))
        .route(
            "/addresses/forwarded/{address}",
            get(forwarded::get)
                .put(forwarded::update)
                .delete(forwarded::delete),
        )
        .route(
            "/users/{user}/addresses",
            get(addresses::list).post(addresses::create),
        )
        .route(
            "/users/{user}/addresses/{address}",
            get(addresses::get)
                .put(addresses::update)
                .delete(addresses::delete),
        )
        .route(
            "/users/{user}/addressregister",
            get(addressregister::search),
        )
        .route(
            "/users/{user}/addressregister/{address}",
            put(addressregister::update),
        )
        .route(
            "/users/{user}/mailboxes",
            get(mailboxes::list).post(mailboxes::create),
        )
        .route(
            "/users/{user}/mailboxes/{mailbox}",
            get(mailboxes::get)
                .put(mailboxes::update)
                .delete(mailboxes::delete),
        )
        .route(
            "/users/{user}/mailboxes/{mailbox}/messages",
            get(messages::list)
                .post(messages_upload::upload)
                .put(messages::update_many)
                .delete(messages_clear::delete_all),
        )
        .route(
            "/users/{user}/mailboxes/{mailbox}/messages/{message}",
            get(messages::get)
                .put(messages::update_one)
                .delete(messages::delete),
        )
        .route(
            "/users/{user}/mailboxes/{mailbox}/messages/{message}/submit",
            post(messages_submit::submit),
        )
        .route(
            "/users/{user}/mailboxes/{mailbox}/messages/{message}/forward",
            post(messages_forward::forward),
        )
        .route(
            "/users/{user}/mailboxes/{mailbox}/messages/{message}/message.eml",
            get(messages::source),
        )
        .route(
            "/users/{user}/mailboxes/{mailbox}/messages/{message}/attachments/{attachment}",
            get(messages::attachment),
        )
        .route(
            "/users/{user}/search",
            get(messages::search).post(search_apply::apply),
        )
        .route("/users/{user}/submit", post(submit::submit))
        .route(
            "/users/{user}/outbound/{queue_id}",
            delete(outbound::delete),
        )
        .route(
            "/users/{user}/storage",
            get(storage::list).post(storage::upload),
        )
        .route(
            "/users/{user}/storage/{file}",
            get(storage::download).delete(storage::delete),
        )
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/webhooks/{webhook}", delete(webhooks::delete))
        .route(
            "/domainaliases",
            get(domainaliases::list).post(domainaliases::create),
        )
        .route(
            "/domainaliases/resolve/{alias}",
            get(domainaliases::resolve),
        )
        .route(
            "/domainaliases/{alias}",
            get(domainaliases::get).delete(domainaliases::delete),
        )
        .route(
            "/domainaccess/{tag}/{action}",
            get(domainaccess::list).post(domainaccess::add),
        )
        .route("/domainaccess/{domain}", delete(domainaccess::delete))
        .route("/settings", get(settings::list))
        .route("/settings/{key}", get(settings::get).post(settings::set))
        .route("/dkim", get(dkim::list).post(dkim::set))
        .route("/dkim/resolve/{domain}", get(dkim::resolve))
        .route("/dkim/{dkim}", get(dkim::get).delete(dkim::delete))
        .route("/certs", get(certs::list).post(certs::set))
        .route("/certs/resolve/{servername}", get(certs::resolve))
        .route("/certs/{cert}", get(certs::get).delete(certs::delete))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .merge(protected)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::map_response(crate::rejection::as_json_error))
        .with_state(state)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        format!("{} does not exist", uri.path()),
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "This method is not allowed on this resource",
    )
}
