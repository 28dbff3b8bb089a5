//! IMAP on `wildduck-net`'s accept loop: the listener options from the config, and what an
//! admitted or a refused client gets.

use std::io;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use wildduck_net::{Client, ListenerOptions, Service, Shutdown};
use wildduck_store::Store;

use crate::Config;
use crate::connection::{Connection, TLS_HANDSHAKE_TIMEOUT};
use crate::state::{Session, Shared};

/// Accepts connections on `listener` until `shutdown` turns true; then sends BYE to open
/// sessions and returns once they have ended (or the shutdown grace period is over).
pub async fn serve(
    store: Store,
    config: Config,
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    if config.implicit_tls && tls.is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "implicit_tls needs a TLS acceptor",
        ));
    }
    let options = ListenerOptions {
        implicit_tls: tls.clone().filter(|_| config.implicit_tls),
        handshake_timeout: TLS_HANDSHAKE_TIMEOUT,
        ..ListenerOptions::new(config.max_connections)
    };
    let shared = Arc::new(Shared::new(store, config, tls));
    wildduck_net::serve(listener, options, shutdown, shared).await
}

impl Service for Shared {
    const PROTOCOL: &'static str = "imap";

    async fn serve(self: Arc<Self>, client: Client, shutdown: Shutdown) {
        let max_line = self.config.max_line_length;
        let max_message = u32::try_from(self.store.config().max_message_size)
            .unwrap_or(u32::MAX)
            .saturating_add(max_line.saturating_mul(2));
        let conn = Connection::new(client.stream, max_message, max_line);
        let peer = client.peer;
        tracing::debug!(%peer, "session starts");
        Session::new(self, conn, peer.ip(), shutdown).run().await;
        tracing::debug!(%peer, "session ends");
    }

    async fn refuse(self: Arc<Self>, client: Client) {
        let mut conn = Connection::new(client.stream, 1024, 1024);
        conn.untagged("BYE Too many connections, try again later");
        conn.shutdown().await;
    }
}
