//! The accept loop: a connection semaphore, one task per client, graceful shutdown.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use wildduck_store::Store;

use crate::config::Config;
use crate::connection::{Connection, Stream};
use crate::download::DownloadMeter;
use crate::maildrop::WireSizeCache;
use crate::session::Session;

/// Wire sizes remembered across sessions (about 40 bytes each).
const WIRE_SIZE_CACHE_ENTRIES: usize = 1 << 20;

/// What every session of one server shares.
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) config: Config,
    pub(crate) tls: Option<TlsAcceptor>,
    pub(crate) wire_sizes: WireSizeCache,
    pub(crate) downloads: DownloadMeter,
}

/// Accepts connections on `listener` until `shutdown` turns true (or its sender is
/// dropped); then tells open sessions `-ERR [SYS/TEMP]` at their next command wait and
/// returns once they have ended. Sessions in the middle of a command finish it first;
/// none enters the UPDATE state because of shutdown.
pub async fn serve(
    store: Store,
    config: Config,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    if config.implicit_tls && tls.is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "implicit_tls needs a TLS acceptor",
        ));
    }
    let limit = Arc::new(Semaphore::new(config.max_connections));
    let shared = Arc::new(Shared {
        store,
        config,
        tls,
        wire_sizes: WireSizeCache::new(WIRE_SIZE_CACHE_ENTRIES),
        downloads: DownloadMeter::default(),
    });
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown_requested(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    // Replies are small writes; Nagle's algorithm would hold them back
                    // behind the client's delayed ACKs (bimodal RETR latency in benchmarks).
                    let _ = socket.set_nodelay(true);
                    let permit = limit.clone().try_acquire_owned().ok();
                    let shared = shared.clone();
                    let shutdown = shutdown.clone();
                    sessions.spawn(async move {
                        let result = handle(socket, peer, shared, shutdown, permit.is_some()).await;
                        // The slot frees only once the session has ended.
                        drop(permit);
                        if let Err(error) = result {
                            tracing::debug!(%error, %peer, "POP3 connection ended with an error");
                        }
                    });
                }
                Err(error) => {
                    // Usually out of file descriptors: wait instead of spinning.
                    tracing::warn!(%error, "POP3 accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    drop(listener);
    while sessions.join_next().await.is_some() {}
    Ok(())
}

/// Resolves once shutdown is asked for, or when nobody can ask any more (sender dropped).
pub(crate) async fn shutdown_requested(shutdown: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns must not live across an await: map it away here.
    let _ = shutdown.wait_for(|&stop| stop).await.map(|_| ());
}

async fn handle(
    socket: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    admitted: bool,
) -> io::Result<()> {
    let config = &shared.config;
    let timeout = Duration::from_secs(config.idle_timeout_secs);
    let stream = match (&shared.tls, config.implicit_tls) {
        (Some(acceptor), true) => {
            let tls = tokio::time::timeout(timeout, acceptor.accept(socket))
                .await
                .map_err(|_| {
                    io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")
                })??;
            Stream::Tls(Box::new(tls))
        }
        _ => Stream::Plain(socket),
    };
    let mut conn = Connection::new(stream, config.max_line_length, timeout);
    if !admitted {
        conn.err("[SYS/TEMP] Too many connections, try again later")
            .await?;
        return conn.close().await;
    }
    Session::new(conn, shared, peer, shutdown).run().await
}
