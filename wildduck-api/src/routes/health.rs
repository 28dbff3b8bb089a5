//! `GET /health`: answers 200 when the store answers a read. `GET /metrics`: the process's
//! metrics in Prometheus' text format, for root (a scraper sends the root token as a bearer
//! token; from loopback without a configured token it is root already).

use axum::Extension;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use wildduck_store::{Error, UserError, UserId};

use super::Shared;
use crate::auth::Access;
use crate::error::{ApiError, ApiResult};

pub async fn health(state: Shared) -> Response {
    // A point lookup of an id that exists nowhere: cheap, and it reaches the database.
    match state.store.get_user(UserId::new()).await {
        Ok(_) | Err(Error::User(UserError::NotFound)) => {
            (StatusCode::OK, axum::Json(json!({ "success": true }))).into_response()
        }
        Err(err) => {
            tracing::warn!("health: the store failed a read: {err}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({ "success": false, "message": "DB is down" })),
            )
                .into_response()
        }
    }
}

pub async fn metrics(Extension(access): Extension<Access>) -> ApiResult<Response> {
    access.require_root()?;
    let text = wildduck_net::metrics::render().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "MetricsDisabled",
            "This process records no metrics",
        )
    })?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
