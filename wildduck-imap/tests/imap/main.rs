//! IMAP transcript tests: raw bytes to a server on an ephemeral loopback port, raw bytes back.

mod harness;

mod bad_input;
mod compress;
mod condstore;
mod dovecot_parity;
mod idle;
mod lockout;
mod mailboxes;
mod mbsync;
mod messages;
mod quota;
mod session_state;
mod smoke;
mod tls;
mod utf8;
