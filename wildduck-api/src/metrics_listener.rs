//! `[metrics] listen`: Prometheus' `GET /metrics` on a listener of its own, with no token and
//! no other route, for a scraper that should not hold the API's root token.

use std::io;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serves `GET /metrics` on `listener` until `shutdown` turns true.
pub async fn serve_metrics(
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .fallback(|| async { StatusCode::NOT_FOUND });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}

async fn metrics() -> Response {
    match wildduck_net::metrics::render() {
        Some(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
