//! Settings of the POP3 server, embedded by the `wildduck` binary in its TOML file.

use serde::{Deserialize, Serialize};

/// When USER/PASS and AUTH PLAIN may be used on a connection that is not (yet) encrypted;
/// the store's one setting for every listener.
pub use wildduck_store::PlaintextLogin;

/// Config of the POP3 server.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Every connection starts with a TLS handshake (the POP3S port, 995).
    pub implicit_tls: bool,
    pub allow_plaintext_login: PlaintextLogin,
    /// Open connections at most; more are told `-ERR [SYS/TEMP]` and closed.
    pub max_connections: usize,
    /// Longest command line in octets including CRLF (RFC 2449 asks clients for 255; SASL
    /// initial responses can be longer). Longer lines get `-ERR` and count as bad commands.
    pub max_line_length: usize,
    /// Seconds without a command (or without progress writing a response) before the
    /// connection is closed. RFC 1939 asks for at least 10 minutes.
    pub idle_timeout_secs: u64,
    /// Unknown, malformed or wrong-state commands allowed before the connection is closed.
    pub max_bad_commands: u32,
    /// Failed logins allowed on one connection before it is closed. The pause before each
    /// answer and the lockout per user and IP are the store's (`Store::limits`).
    pub max_auth_failures: u32,
    /// List only the newest N messages of INBOX (WildDuck's `maxMessages`); None = all.
    pub max_messages: Option<u32>,
    /// Messages deleted with DELE go to the Trash special-use folder at QUIT instead of
    /// being expunged (WildDuck's behaviour). Off by default: RFC 1939 DELE deletes.
    pub delete_moves_to_trash: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            implicit_tls: false,
            allow_plaintext_login: PlaintextLogin::Loopback,
            max_connections: 1000,
            max_line_length: 2048,
            idle_timeout_secs: 600,
            max_bad_commands: 10,
            max_auth_failures: 3,
            max_messages: None,
            delete_moves_to_trash: false,
        }
    }
}
