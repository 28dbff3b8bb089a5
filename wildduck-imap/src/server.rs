//! Accept loop: a semaphore bounds connections, one task per session, graceful shutdown.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use wildduck_store::Store;

use crate::Config;
use crate::connection::{Connection, Stream};
use crate::session::{Session, Shared};

/// Accepts connections on `listener` until `shutdown` turns true; then sends BYE to open
/// sessions and returns once they have ended.
pub async fn serve(
    store: Store,
    config: Config,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    if config.implicit_tls && tls.is_none() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "implicit_tls needs a TLS acceptor",
        ));
    }
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let shared = Arc::new(Shared::new(store, config, tls));
    let mut sessions = JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
            // Reap finished sessions so the set does not grow without bound.
            Some(_) = sessions.join_next(), if !sessions.is_empty() => continue,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Running out of file descriptors and the like: log, keep serving.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let shared = shared.clone();
        let session_shutdown = shutdown.clone();
        let permit = permits.clone().try_acquire_owned();
        sessions.spawn(async move {
            let Ok(_permit) = permit else {
                let mut conn = Connection::new(Stream::Plain(tcp), 1024, 1024);
                conn.untagged("BYE Too many connections, try again later");
                conn.shutdown().await;
                return;
            };
            let stream = if shared.config.implicit_tls {
                let Some(acceptor) = shared.tls.as_ref() else {
                    return;
                };
                match acceptor.accept(tcp).await {
                    Ok(tls) => Stream::Tls(Box::new(tls)),
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                }
            } else {
                Stream::Plain(tcp)
            };
            let max_line = shared.config.max_line_length;
            let max_message = u32::try_from(shared.store.config().max_message_size)
                .unwrap_or(u32::MAX)
                .saturating_add(max_line.saturating_mul(2));
            let conn = Connection::new(stream, max_message, max_line);
            tracing::debug!(%peer, "session starts");
            Session::new(shared, conn, peer.ip(), session_shutdown)
                .run()
                .await;
            tracing::debug!(%peer, "session ends");
        });
    }
    // Sessions see the same shutdown signal, say BYE and end.
    while sessions.join_next().await.is_some() {}
    Ok(())
}
