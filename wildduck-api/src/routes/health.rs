//! `GET /health`: answers 200 when the store answers a read.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use wildduck_store::{Error, UserError, UserId};

use super::Shared;

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
