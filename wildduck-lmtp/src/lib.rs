//! `wildduck-lmtp`: LMTP delivery (RFC 2033) into [`wildduck_store::Store`], for an MTA in
//! front (Postfix, Exim, Haraka).
//!
//! - `wire`: SMTP framing any SMTP-family listener can share (the submission server will):
//!   command lines with a length limit, DATA and BDAT bodies into a bounded buffer, queued
//!   replies flushed when the client waits (PIPELINING). Commands are parsed with
//!   `smtp-proto`.
//! - `session`: the LMTP state machine — LHLO, MAIL FROM (SIZE, BODY=8BITMIME, SMTPUTF8),
//!   RCPT TO resolved by the store as it arrives, DATA or BDAT (CHUNKING), then one reply per
//!   accepted recipient in RCPT order, each `250` given only after that copy is durable.
//! - `server`: the accept loop with a connection limit and graceful shutdown (small and
//!   self-contained, to give way to the shared networking layer).
//!
//! The decisions about a message — which user an address reaches, what is prepended, where
//! it is stored — are the store's (`Store::resolve_recipient`, `Store::deliver`); this crate
//! only speaks the protocol.

pub mod config;
mod server;
mod session;
pub mod wire;

pub use config::Config;
pub use server::serve;
