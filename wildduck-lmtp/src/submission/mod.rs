//! SMTP submission (RFC 6409) on `wildduck-net`'s accept loop: a plain listener with STARTTLS
//! when a certificate is configured, or an implicit-TLS one; AUTH before MAIL; what the user
//! sends goes to `Store::submit` (the \Sent copy and the outbound queue).

mod auth;
pub mod config;
mod session;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use wildduck_net::{Client, ListenerOptions, Service, Shutdown, Stream};
use wildduck_store::Store;

pub use config::Config;

use crate::wire::Wire;
use session::Session;

/// What every submission session of one listener shares.
struct Shared {
    store: Store,
    config: Config,
    /// For STARTTLS on a plain listener.
    tls: Option<TlsAcceptor>,
}

/// Accepts submission clients on `listener` until `shutdown` turns true; then tells waiting
/// sessions `421` and returns once they have ended (or the grace period is over). A message
/// is acknowledged `250` only once `Store::submit` has stored it.
pub async fn serve(
    store: Store,
    config: Config,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    if config.implicit_tls && tls.is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "implicit_tls needs a TLS acceptor",
        ));
    }
    let mut options = ListenerOptions::new(config.max_connections);
    options.implicit_tls = tls.clone().filter(|_| config.implicit_tls);
    let shared = Arc::new(Shared { store, config, tls });
    wildduck_net::serve(listener, options, shutdown, shared).await
}

impl Shared {
    fn wire(&self, stream: Stream) -> Wire<Stream> {
        let idle = Duration::from_secs(self.config.idle_timeout_secs);
        Wire::new(stream, self.config.max_line_length, idle)
    }
}

impl Service for Shared {
    const PROTOCOL: &'static str = "submission";

    async fn serve(self: Arc<Self>, client: Client, shutdown: Shutdown) {
        let peer = client.peer;
        let wire = self.wire(client.stream);
        let session = Session::new(wire, self.clone(), peer, shutdown);
        if let Err(error) = session.run().await {
            tracing::debug!(%error, %peer, "submission connection ended with an error");
        }
    }

    async fn refuse(self: Arc<Self>, client: Client) {
        let peer = client.peer;
        if let Err(error) = self.wire(client.stream).turn_away().await {
            tracing::debug!(%error, %peer, "submission refusal not delivered");
        }
    }
}
