//! Errors axum's own extractors answer (a path segment that is not UTF-8, a query string
//! that does not parse) come as plain text; WildDuck answers every error as JSON. This turns
//! them into WildDuck's `InputValidationError`, keeping their status and text.

use axum::body::to_bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Longest rejection text kept; axum's are one line.
const MAX_REJECTION_BYTES: usize = 4096;

/// A client error with a plain-text body becomes WildDuck's JSON error body.
pub async fn as_json_error(response: Response) -> Response {
    let plain_text = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/plain"));
    if !response.status().is_client_error() || !plain_text {
        return response;
    }
    let status = response.status();
    let text = match to_bytes(response.into_body(), MAX_REJECTION_BYTES).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    };
    let text = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("Invalid request")
            .to_string()
    } else {
        text
    };
    let mut error = ApiError::new(StatusCode::BAD_REQUEST, "InputValidationError", text);
    error.status = status;
    error.into_response()
}
