//! `wildduck-imap`: an IMAP4rev1 server that turns IMAP into calls on [`wildduck_store::Store`].
//!
//! Layout: [`server`] plugs IMAP into `wildduck-net`'s accept loop, `connection` frames bytes
//! into commands (imap-codec's `Fragmentizer`) and writes responses, `state` is what a session
//! holds (login, the selected mailbox's sequence map) and what commands answer, `session` runs
//! the loop that calls `command/` (one file per command group; commands never call back into
//! the loop), `encode` serializes ENVELOPE/BODYSTRUCTURE, `utf7` converts mailbox names,
//! `search` maps SEARCH keys, `esearch` and `objectid` rewrite the syntax imap-codec lacks.

mod command;
mod connection;
mod encode;
mod esearch;
mod objectid;
mod search;
mod server;
mod session;
mod state;
mod utf7;

use serde::{Deserialize, Serialize};

pub use server::serve;
pub use wildduck_store::PlaintextLogin;

/// Config of the IMAP server; serde so the `wildduck` binary can embed it in its TOML.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Most connections served at once; more are greeted with BYE.
    pub max_connections: usize,
    /// Most simultaneous sessions of one user.
    pub max_connections_per_user: usize,
    /// Longest command line (without literals) in bytes.
    pub max_line_length: u32,
    /// Largest literal other than an APPEND message (logins, search strings) in bytes.
    pub max_small_literal: u32,
    /// Bad commands in one session before the server says BYE.
    pub max_bad_commands: u32,
    /// Seconds of client silence before the session is closed (RFC 3501 asks for >= 30 min).
    pub idle_timeout_secs: u64,
    /// Seconds between `* OK Still here` during IDLE, so NATs keep the connection.
    pub idle_keepalive_secs: u64,
    /// Seconds between journal checks during IDLE, for changes made by other processes on the
    /// same store (the store's wake-ups only cover this process).
    pub idle_poll_secs: u64,
    /// LOGIN and AUTHENTICATE over a connection without TLS: `always`, `loopback` (the
    /// default) or `never`; the older `true`/`false` still mean `always`/`never`.
    pub allow_plaintext_login: PlaintextLogin,
    /// Every connection starts with TLS (port 993 style) instead of offering STARTTLS.
    pub implicit_tls: bool,
    /// Non-synchronizing literals (RFC 7888): `plus` (LITERAL+, any size within the limits),
    /// `minus` (LITERAL-, up to 4096 bytes) or `sync-only` (none).
    pub literal: Literals,
    /// The older switch, kept so existing config files and `WILDDUCK_IMAP_LITERAL_PLUS` still
    /// work: `false` turns `plus` into `sync-only`; it never changes `minus`.
    pub literal_plus: bool,
    /// Text of the greeting.
    pub greeting: String,
}

/// Which non-synchronizing literals (`{n+}`) the server takes (RFC 7888).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Literals {
    /// LITERAL+: any size the other limits allow.
    Plus,
    /// LITERAL-: up to [`LITERAL_MINUS_MAX`] bytes.
    Minus,
    /// Only synchronizing literals; `{n+}` closes the connection.
    SyncOnly,
}

/// The largest non-synchronizing literal a LITERAL- server must take (RFC 7888).
pub const LITERAL_MINUS_MAX: u32 = 4096;

impl Config {
    /// The literal mode in force, with the older `literal_plus` switch applied.
    pub fn literals(&self) -> Literals {
        match (self.literal, self.literal_plus) {
            (Literals::Plus, false) => Literals::SyncOnly,
            (mode, _) => mode,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_connections: 1000,
            max_connections_per_user: 15,
            max_line_length: 1024 * 1024,
            max_small_literal: 64 * 1024,
            max_bad_commands: 20,
            idle_timeout_secs: 30 * 60,
            idle_keepalive_secs: 120,
            idle_poll_secs: 10,
            allow_plaintext_login: PlaintextLogin::Loopback,
            implicit_tls: false,
            literal: Literals::Plus,
            literal_plus: true,
            greeting: "WildDuck-rs ready".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn literal_mode_from_config_files_old_and_new() {
        let old = read("literal_plus = false").expect("older switch");
        assert_eq!(old.literals(), Literals::SyncOnly);
        let minus = read("literal = \"minus\"").expect("literal");
        assert_eq!(minus.literals(), Literals::Minus);
        let sync_only = read("literal = \"sync-only\"").expect("literal");
        assert_eq!(sync_only.literals(), Literals::SyncOnly);
        assert_eq!(read("").expect("empty").literals(), Literals::Plus);
        assert!(read("literal = \"maybe\"").is_err());
        // Both keys are written (so both can be set from the environment) and read back.
        let written = toml::to_string(&minus).expect("serialize");
        assert!(written.contains("literal = \"minus\""), "{written}");
        assert!(written.contains("literal_plus = true"), "{written}");
        let again = read(&written).expect("round trip");
        assert_eq!(again.literals(), Literals::Minus);
    }
}
