//! `wildduck-net`: what every listener of the servers shares, and nothing of any protocol.
//!
//! [`Stream`] is a client socket, plain or TLS, that a session can upgrade in place
//! (STARTTLS, STLS). [`serve`] is the accept loop: a connection limit, `TCP_NODELAY`, the
//! implicit-TLS handshake, an optional PROXY protocol header (v1 and v2, module [`proxy`])
//! whose source address becomes the client's peer, and graceful shutdown — stop accepting,
//! tell sessions through [`Shutdown`], wait a bounded time, then drop what is left. A
//! protocol plugs in as a [`Service`]: what to do with an admitted client, and how to turn
//! one away when the limit is reached. [`metrics`] holds the process's Prometheus recorder;
//! the accept loop counts connections per protocol in it.

mod accept;
pub mod metrics;
pub mod proxy;
mod shutdown;
mod stream;

pub use accept::{Client, ListenerOptions, Service, serve};
pub use shutdown::Shutdown;
pub use stream::Stream;
