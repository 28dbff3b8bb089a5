//! `wildduck-lmtp`: SMTP in and out of [`wildduck_store::Store`]. LMTP delivery (RFC 2033)
//! for an MTA in front (Postfix, Exim, Haraka), SMTP submission (RFC 6409) for users' mail
//! out, and the relay worker that sends the outbound queue to a smarthost.
//!
//! - `wire`: SMTP framing both listeners share: command lines with a length limit, DATA and
//!   BDAT bodies into a bounded buffer, queued replies flushed when the client waits
//!   (PIPELINING). Commands are parsed with `smtp-proto`.
//! - `dialog`: the session loop both share (shutdown, idle timeout, bad-command count), the
//!   BDAT chunks of a transaction, STARTTLS, and the replies to parse and store errors.
//! - `session`: the LMTP state machine — LHLO, STARTTLS with `[tls]`, MAIL FROM (SIZE, BODY=8BITMIME, SMTPUTF8),
//!   RCPT TO resolved by the store as it arrives, DATA or BDAT (CHUNKING), then one reply per
//!   accepted recipient in RCPT order, each `250` given only after that copy is durable.
//! - `server`: LMTP on `wildduck-net`'s accept loop.
//! - `submission`: EHLO, STARTTLS, AUTH PLAIN/LOGIN (under the store's lockout), MAIL with
//!   the sender checked, RCPT, DATA/BDAT into `Store::submit`.
//! - `relay`: the worker that leases due queue entries, speaks SMTP to the smarthost (its
//!   own small client, to keep each recipient's reply) and records the outcome in the store.
//!
//! The decisions about a message — which user an address reaches, what is prepended, where
//! it is stored, whose sender an address is, when to retry and what to report — are the
//! store's (`Store::resolve_recipient`, `Store::deliver`, `Store::submit`,
//! `Store::record_attempt`); this crate only speaks the protocols.

pub mod config;
mod dialog;
pub mod relay;
mod server;
mod session;
pub mod submission;
pub mod wire;

pub use config::Config;
pub use server::serve;
