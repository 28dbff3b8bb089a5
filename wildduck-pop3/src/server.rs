//! POP3 on `wildduck-net`'s accept loop: the listener options from the config, and what an
//! admitted or a refused client gets.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use wildduck_net::{Client, ListenerOptions, Service, Shutdown};
use wildduck_store::Store;

use crate::config::Config;
use crate::connection::Connection;
use crate::maildrop::WireSizeCache;
use crate::state::{Session, Shared};

/// Wire sizes remembered across sessions (about 40 bytes each).
const WIRE_SIZE_CACHE_ENTRIES: usize = 1 << 20;

/// Accepts connections on `listener` until `shutdown` turns true (or its sender is
/// dropped); then tells open sessions `-ERR [SYS/TEMP]` at their next command wait and
/// returns once they have ended (or the shutdown grace period is over). Sessions in the
/// middle of a command finish it first; none enters the UPDATE state because of shutdown.
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
    let options = ListenerOptions {
        implicit_tls: tls.clone().filter(|_| config.implicit_tls),
        handshake_timeout: Duration::from_secs(config.idle_timeout_secs),
        ..ListenerOptions::new(config.max_connections)
    };
    let shared = Arc::new(Shared {
        store,
        config,
        tls,
        wire_sizes: WireSizeCache::new(WIRE_SIZE_CACHE_ENTRIES),
    });
    wildduck_net::serve(listener, options, shutdown, shared).await
}

impl Shared {
    fn connection(&self, client: Client) -> Connection {
        let timeout = Duration::from_secs(self.config.idle_timeout_secs);
        Connection::new(client.stream, self.config.max_line_length, timeout)
    }
}

impl Service for Shared {
    const PROTOCOL: &'static str = "pop3";

    async fn serve(self: Arc<Self>, client: Client, shutdown: Shutdown) {
        let peer = client.peer;
        let conn = self.connection(client);
        if let Err(error) = Session::new(conn, self, peer, shutdown).run().await {
            tracing::debug!(%error, %peer, "POP3 connection ended with an error");
        }
    }

    async fn refuse(self: Arc<Self>, client: Client) {
        let peer = client.peer;
        let mut conn = self.connection(client);
        let refused = async {
            conn.err("[SYS/TEMP] Too many connections, try again later")
                .await?;
            conn.close().await
        };
        if let Err(error) = refused.await {
            tracing::debug!(%error, %peer, "POP3 refusal not delivered");
        }
    }
}
