//! IMAP transcript tests: raw bytes to a server on an ephemeral loopback port, raw bytes back.

mod harness;

mod bad_input;
mod compress;
mod concurrent_sessions;
mod condstore;
mod daily_limits;
mod dovecot_parity;
mod idle;
mod list_extended;
mod literals;
mod lockout;
mod mailboxes;
mod mbsync;
mod messages;
mod multiappend;
mod objectid;
mod qresync;
mod quota;
mod recent;
mod savedate;
mod search_rules;
mod session_state;
mod smoke;
mod sort_thread;
mod status_size_unauthenticate;
mod storage_failure;
mod stress_regressions;
mod subscriptions;
mod tls;
mod utf8;
