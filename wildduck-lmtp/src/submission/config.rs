//! Settings of the submission server, embedded by the `wildduck` binary in its TOML file.

use serde::{Deserialize, Serialize};
use wildduck_store::PlaintextLogin;

/// Config of the submission server (RFC 6409). The largest message is the store's
/// `max_message_size`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The name in the greeting and the EHLO reply.
    pub hostname: String,
    /// Open connections at most; more are told `421` and closed.
    pub max_connections: usize,
    /// Longest command line in octets including CRLF; longer lines get `500 5.5.6`.
    pub max_line_length: usize,
    /// Seconds without progress before `421 4.4.2` and close.
    pub idle_timeout_secs: u64,
    /// Unknown, malformed or out-of-order commands allowed before `421 4.7.0` and close.
    pub max_bad_commands: u32,
    /// Recipients of one message; more get `452 4.5.3` (WildDuck's limit is 400).
    pub max_recipients: usize,
    /// Where AUTH may be used without TLS (over TLS it always may).
    pub allow_plaintext_login: PlaintextLogin,
    /// Every connection starts with TLS (set per listener by `wildduck serve`).
    #[serde(skip)]
    pub implicit_tls: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            hostname: "localhost".into(),
            max_connections: 1000,
            max_line_length: 4096,
            idle_timeout_secs: 300,
            max_bad_commands: 10,
            max_recipients: 400,
            allow_plaintext_login: PlaintextLogin::default(),
            implicit_tls: false,
        }
    }
}
