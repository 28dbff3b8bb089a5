//! The accept loop: a connection limit, one task per client, graceful shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::Instrument;

use crate::proxy;
use crate::shutdown::Shutdown;
use crate::stream::Stream;

/// How one listener accepts connections.
#[derive(Clone)]
pub struct ListenerOptions {
    /// Most clients served at once; the ones beyond get [`Service::refuse`].
    pub max_connections: usize,
    /// Every connection starts with a TLS handshake (ports 993/995); `None`: plain.
    pub implicit_tls: Option<TlsAcceptor>,
    /// Longest wait for the PROXY header and the TLS handshake of a new connection.
    pub handshake_timeout: Duration,
    /// How long shutdown waits for sessions to end after telling them; then they are dropped.
    pub shutdown_grace: Duration,
    /// Every connection starts with a PROXY protocol header (v1 or v2, from a load balancer
    /// such as HAProxy); its source address becomes [`Client::peer`]. Only turn this on
    /// behind such a proxy: a client could otherwise claim any address.
    pub proxy_protocol: bool,
}

impl ListenerOptions {
    /// A plain listener without PROXY protocol, with the given connection limit.
    pub fn new(max_connections: usize) -> Self {
        Self {
            max_connections,
            implicit_tls: None,
            handshake_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            proxy_protocol: false,
        }
    }
}

/// An accepted client, its handshakes done.
pub struct Client {
    pub stream: Stream,
    /// The client's address: the socket's peer, or the PROXY header's source.
    pub peer: SocketAddr,
}

/// A protocol served on a listener.
pub trait Service: Send + Sync + 'static {
    /// The protocol's name in metrics (`imap`, `pop3`, `lmtp`, `submission`).
    const PROTOCOL: &'static str;

    /// Runs one session to its end. `shutdown` says when the server stops: the session
    /// should then tell its client and end soon (it is dropped after the grace period).
    fn serve(
        self: Arc<Self>,
        client: Client,
        shutdown: Shutdown,
    ) -> impl Future<Output = ()> + Send;

    /// Turns a client away because the listener is full (e.g. `* BYE Too many connections`).
    fn refuse(self: Arc<Self>, client: Client) -> impl Future<Output = ()> + Send;
}

/// Numbers the sessions of every listener of the process, so the log lines of one
/// connection can be picked out (`session{id=… peer=…}` on each).
static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// Accepts connections on `listener` until shutdown is asked for; then stops accepting,
/// lets the sessions (which see the same signal) end, and returns once they have — or after
/// `shutdown_grace`, dropping those still running.
pub async fn serve<S: Service>(
    listener: TcpListener,
    options: ListenerOptions,
    shutdown: watch::Receiver<bool>,
    service: Arc<S>,
) -> io::Result<()> {
    let mut shutdown = Shutdown::new(shutdown);
    let limit = Arc::new(Semaphore::new(options.max_connections));
    let options = Arc::new(options);
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.requested() => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    // Replies are small writes; Nagle's algorithm would hold them back
                    // behind the client's delayed ACKs.
                    let _ = socket.set_nodelay(true);
                    // Taken now, so clients still in their handshakes count too; it frees
                    // when the session task ends.
                    let permit = limit.clone().try_acquire_owned().ok();
                    let options = options.clone();
                    let service = service.clone();
                    let shutdown = shutdown.clone();
                    let span = tracing::info_span!(
                        "session",
                        id = NEXT_SESSION.fetch_add(1, Ordering::Relaxed),
                        peer = tracing::field::Empty,
                    );
                    sessions.spawn(async move {
                        let client = match handshake(socket, peer, &options).await {
                            Ok(client) => client,
                            Err(error) => {
                                tracing::debug!(%peer, %error, "connection setup failed");
                                return;
                            }
                        };
                        // After the PROXY header: the client's address, not the proxy's.
                        tracing::Span::current().record("peer", tracing::field::display(client.peer));
                        let protocol = S::PROTOCOL;
                        match permit {
                            Some(_permit) => {
                                metrics::counter!("wildduck_connections_total", "protocol" => protocol)
                                    .increment(1);
                                let _active = ActiveSession::start(protocol);
                                service.serve(client, shutdown).await;
                            }
                            None => {
                                metrics::counter!("wildduck_connections_refused_total", "protocol" => protocol)
                                    .increment(1);
                                service.refuse(client).await;
                            }
                        }
                    }.instrument(span));
                }
                Err(error) => {
                    // Usually out of file descriptors: wait instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            // Reap finished sessions so the set does not grow without bound.
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(options.shutdown_grace, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            sessions = sessions.len(),
            "sessions still running after the shutdown grace period, dropping them"
        );
        sessions.shutdown().await;
    }
    Ok(())
}

/// Counts a session in `wildduck_connections_active` for as long as it lives (dropped also
/// when shutdown cuts it off).
struct ActiveSession(metrics::Gauge);

impl ActiveSession {
    fn start(protocol: &'static str) -> Self {
        let gauge = metrics::gauge!("wildduck_connections_active", "protocol" => protocol);
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for ActiveSession {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// What happens before a session: the PROXY header, then the implicit-TLS handshake.
async fn handshake(
    mut socket: TcpStream,
    mut peer: SocketAddr,
    options: &ListenerOptions,
) -> io::Result<Client> {
    if options.proxy_protocol {
        let header =
            tokio::time::timeout(options.handshake_timeout, proxy::read_header(&mut socket))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "PROXY header timed out"))??;
        if let Some(source) = header {
            peer = source;
        }
    }
    let stream = match &options.implicit_tls {
        Some(acceptor) => Stream::tls(socket, acceptor, options.handshake_timeout).await?,
        None => Stream::plain(socket),
    };
    Ok(Client { stream, peer })
}
