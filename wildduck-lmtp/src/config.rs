//! Settings of the LMTP server, embedded by the `wildduck` binary in its TOML file.

use serde::{Deserialize, Serialize};

/// Config of the LMTP server. The largest message is the store's `max_message_size`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The name in the greeting and the LHLO reply.
    pub hostname: String,
    /// Open connections at most; more are told `421` and closed.
    pub max_connections: usize,
    /// Longest command line in octets including CRLF (RFC 5321 asks for at least 512;
    /// parameters and internationalized addresses make lines longer). Longer lines get
    /// `500 5.5.6` and count as bad commands.
    pub max_line_length: usize,
    /// Seconds without progress (a command, body bytes, or the client reading replies)
    /// before `421 4.4.2` and close. RFC 5321 asks for at least 5 minutes.
    pub idle_timeout_secs: u64,
    /// Unknown, malformed or out-of-order commands allowed before `421 4.7.0` and close.
    pub max_bad_commands: u32,
    /// Recipients in one transaction; more get `452 4.5.3` (the MTA sends them again).
    pub max_recipients: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            hostname: "localhost".into(),
            max_connections: 1000,
            max_line_length: 4096,
            idle_timeout_secs: 300,
            max_bad_commands: 10,
            max_recipients: 1000,
        }
    }
}
