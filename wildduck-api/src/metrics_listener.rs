//! `[metrics] listen`: Prometheus' `GET /metrics` on a listener of its own, with no token and
//! no other route, for a scraper that should not hold the API's root token. [`scrape`] is
//! what both this listener and the API's `GET /metrics` answer.

use std::io;
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;
use wildduck_store::Store;

/// Longest a scrape waits for the store's answer to what is read at scrape time.
const STORE_READ_LIMIT: Duration = Duration::from_secs(2);

/// Serves `GET /metrics` on `listener` until `shutdown` turns true.
pub async fn serve_metrics(
    store: Store,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(move || metrics(store.clone())))
        .fallback(|| async { StatusCode::NOT_FOUND });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}

/// The process's metrics, after reading from the store what is kept there rather than
/// counted here (the outbound queue depth). A store that does not answer in
/// [`STORE_READ_LIMIT`] leaves that value as last read, so a scrape still answers during
/// an outage (whose errors are counted).
pub(crate) async fn scrape(store: &Store) -> Option<String> {
    match tokio::time::timeout(STORE_READ_LIMIT, store.record_outbound_queue_depth()).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::warn!("metrics: reading the outbound queue depth: {err}"),
        Err(_) => {
            tracing::warn!("metrics: the outbound queue depth took over {STORE_READ_LIMIT:?}")
        }
    }
    wildduck_net::metrics::render()
}

async fn metrics(store: Store) -> Response {
    match scrape(&store).await {
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
