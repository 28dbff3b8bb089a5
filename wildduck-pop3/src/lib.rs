//! `wildduck-pop3`: a POP3 server (RFC 1939, CAPA from RFC 2449, AUTH PLAIN from RFC 5034,
//! STLS from RFC 2595, RFC 3206 response codes) over [`wildduck_store::Store`].
//!
//! # The maildrop
//!
//! The maildrop is the user's INBOX as it was at login (optionally only its newest
//! `max_messages`). Message numbers map to UIDs and stay fixed for the session; DELE only
//! marks, RSET unmarks, and QUIT (the UPDATE state) sets `\Seen` on retrieved messages and
//! expunges exactly the UIDs marked with DELE — or moves them to the Trash folder with
//! `delete_moves_to_trash`. A client that disconnects without QUIT changes nothing.
//!
//! UIDL shows the stored message's id ([`wildduck_store::MessageId`], 24 hex digits): it
//! survives restarts and differs between two copies of one message.
//!
//! # Sizes
//!
//! LIST and STAT report the octets RETR sends before dot-stuffing, as RFC 1939 counts them.
//! The store keeps messages byte-exact; a message with bare LF line ends or without a final
//! line end is sent with CRLF (module `wire`), so its POP3 size can be larger than its stored
//! size. That size is computed from the content when first needed (LIST/STAT compute the
//! ones they show, reading several messages at a time; RETR learns it while sending) and
//! remembered by message id for the life of the server: stored messages never change, so
//! the remembered size never goes stale. (Were the store to record this size at ingest,
//! the first STAT of a session would not have to read content at all.)
//!
//! # Limits
//!
//! Line length, idle timeout (also for a client that stops reading), bad commands and failed
//! logins per connection (with a pause before each failure answer), connections per server,
//! the newest-N cap on the maildrop. The failed-login lockout and the daily download
//! allowance (`LimitsConfig::daily_download`, counted by RETR) are the store's counters, so
//! IMAP and POP3 share them (and, with Redis, every process does).
//!
//! # Concurrent sessions
//!
//! There is no maildrop lock and no `-ERR [IN-USE]`: several sessions of one user may run at
//! once (and IMAP sessions beside them). This is safe because every change is by UID, never
//! by position: QUIT expunges only the UIDs this session marked, so a message that arrived
//! meanwhile or one another session already removed is never touched by mistake; a message
//! removed by another session answers RETR/TOP with `-ERR` while the session's numbering
//! stays as it was. Two sessions may download the same message; that is the usual POP3
//! duplicate, which UIDL-tracking clients already handle.

mod command;
pub mod config;
mod connection;
mod maildrop;
mod reply;
mod server;
mod session;
mod state;
mod wire;

pub use config::{Config, PlaintextLogin};
pub use server::serve;
