//! LMTP on `wildduck-net`'s accept loop: plain TCP with STARTTLS when a certificate is
//! configured (LMTP faces the MTA on loopback or a private network; an MTA on another host
//! can encrypt), the connection limit and idle timeout from the config, and what an admitted
//! or a refused client gets.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use wildduck_net::{Client, ListenerOptions, Service, Shutdown, Stream};
use wildduck_store::Store;

use crate::config::Config;
use crate::session::Session;
use crate::wire::Wire;

/// What every LMTP session of one listener shares.
struct Shared {
    store: Store,
    config: Arc<Config>,
    /// For STARTTLS.
    tls: Option<TlsAcceptor>,
}

/// Accepts connections on `listener` until `shutdown` turns true (or its sender is dropped);
/// then tells waiting sessions `421` and returns once every session has ended (or the
/// shutdown grace period is over). A session in the middle of a delivery finishes it first
/// within that grace; one cut off later has not been answered `250`, so the MTA retries.
pub async fn serve(
    store: Store,
    config: Config,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let options = ListenerOptions::new(config.max_connections);
    let shared = Arc::new(Shared {
        store,
        config: Arc::new(config),
        tls,
    });
    wildduck_net::serve(listener, options, shutdown, shared).await
}

impl Shared {
    fn wire(&self, stream: Stream) -> Wire<Stream> {
        let idle = Duration::from_secs(self.config.idle_timeout_secs);
        Wire::new(stream, self.config.max_line_length, idle)
    }
}

impl Service for Shared {
    const PROTOCOL: &'static str = "lmtp";

    async fn serve(self: Arc<Self>, client: Client, shutdown: Shutdown) {
        let peer = client.peer;
        let wire = self.wire(client.stream);
        let session = Session::new(
            wire,
            self.store.clone(),
            self.config.clone(),
            self.tls.clone(),
            shutdown,
        );
        if let Err(error) = session.run().await {
            tracing::debug!(%error, %peer, "LMTP connection ended with an error");
        }
    }

    async fn refuse(self: Arc<Self>, client: Client) {
        let peer = client.peer;
        if let Err(error) = self.wire(client.stream).turn_away().await {
            tracing::debug!(%error, %peer, "LMTP refusal not delivered");
        }
    }
}
