//! `GET /health`: 200 when the store answers a read and Redis (where configured) a write and
//! a read, else 500 with WildDuck's message (`DB is down`, `Redis is down`). `GET /metrics`: the process's
//! metrics in Prometheus' text format, for root (a scraper sends the root token as a bearer
//! token; from loopback without a configured token it is root already).

use axum::Extension;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use wildduck_store::Unhealthy;

use super::Shared;
use crate::auth::Access;
use crate::error::{ApiError, ApiResult};

pub async fn health(state: Shared) -> Response {
    // WildDuck's words and status (500) for each failure.
    let message = match state.store.health().await {
        Ok(()) => return (StatusCode::OK, axum::Json(json!({ "success": true }))).into_response(),
        Err(Unhealthy::Database(err)) => {
            tracing::warn!("health: the store failed a read: {err}");
            "DB is down"
        }
        Err(Unhealthy::Counters(err)) => {
            tracing::warn!("health: redis failed a write and read back: {err}");
            "Redis is down"
        }
    };
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(json!({ "success": false, "message": message })),
    )
        .into_response()
}

pub async fn metrics(state: Shared, Extension(access): Extension<Access>) -> ApiResult<Response> {
    access.require_root()?;
    let text = crate::metrics_listener::scrape(&state.store)
        .await
        .ok_or_else(|| {
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
