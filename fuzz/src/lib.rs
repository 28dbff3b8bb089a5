//! `wildduck-fuzz`: fuzz targets for every parser that reads untrusted bytes, on stable Rust.
//!
//! Inputs come from proptest strategies shaped by each grammar (IMAP commands with literals
//! and nested lists, POP3 and SMTP/LMTP commands with DATA and BDAT, SASL exchanges, MIME
//! messages with hostile headers, HTTP requests with JSON bodies, TOML config files), plus
//! byte-level mutations of them and plain random bytes ([`grammar`]). [`harness`] runs a
//! target for a seeded number of inputs, catches panics (also those of server tasks, through
//! a panic hook), shrinks the first failing input and measures the time per input.
//!
//! The session targets speak to the real listeners ([`servers`]: one embedded store, every
//! listener on loopback, in this process) and judge the whole answer: IMAP tagged OK/NO/BAD
//! with tags the client sent, POP3 `+OK`/`-ERR` with terminated multi-line answers, SMTP
//! reply codes, HTTP statuses with WildDuck's JSON error bodies and never a 500; every
//! session must end once the client has half-closed. The parser targets call a parser
//! directly (imap-codec, smtp-proto, the store's MIME code, the config sections).
//!
//! `tests/ci.rs` runs each target for a few hundred seeded inputs and replays `corpus/`;
//! `bench/fuzz.sh` runs the `wildduck-fuzz` binary for the long runs.

pub mod config;
pub mod grammar;
pub mod harness;
pub mod http;
pub mod imap;
pub mod mime;
pub mod pop3;
pub mod servers;
pub mod smtp;

use harness::Target;

/// Every target; the session targets share the listeners of this process.
pub fn targets() -> Vec<Box<dyn Target>> {
    let servers = servers::servers();
    let mut all: Vec<Box<dyn Target>> = Vec::new();
    all.extend(imap::targets(&servers));
    all.extend(pop3::targets(&servers));
    all.extend(smtp::targets(&servers));
    all.push(Box::new(http::Api { servers }));
    all.push(Box::new(mime::Mime));
    all.push(Box::new(config::ConfigFile));
    all
}

/// The folder of kept inputs: `corpus/<target>/<name>`, each replayed by the CI test.
pub fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}
