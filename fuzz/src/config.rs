//! The config file: generated TOML (the listeners' sections with right and wrong keys, types
//! and sizes, nesting, bad UTF-8) through `toml` into each crate's `Config`, as the
//! `wildduck` binary reads its sections. (The binary's own layering of defaults, file and
//! environment lives in the binary; `wildduck-cli/tests/hostile.rs` feeds it bad files.)

use proptest::prelude::*;

use crate::grammar::{number, text, with_mutations, word};
use crate::harness::Target;

const SECTIONS: &[&str] = &["imap", "pop3", "lmtp", "submission", "api", "store", "x"];
const KEYS: &[&str] = &[
    "max_connections",
    "max_line_length",
    "max_small_literal",
    "max_bad_commands",
    "idle_timeout_secs",
    "allow_plaintext_login",
    "implicit_tls",
    "literal",
    "literal_plus",
    "greeting",
    "hostname",
    "max_recipients",
    "max_messages",
    "delete_moves_to_trash",
    "access_token",
    "max_auth_failures",
    "unknown",
];

fn value() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        number(),
        word().prop_map(|w| format!("\"{w}\"")),
        text().prop_map(|t| format!(
            "\"{}\"",
            String::from_utf8_lossy(&t).replace(['"', '\\', '\n', '\r'], "")
        )),
        Just("true".to_string()),
        Just("1e400".to_string()),
        Just("\"loopback\"".to_string()),
        Just("\"sync-only\"".to_string()),
        Just("1979-05-27T07:32:00Z".to_string()),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((word(), inner), 0..3).prop_map(|kv| {
                let fields: Vec<String> =
                    kv.into_iter().map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", fields.join(", "))
            }),
        ]
    })
    .boxed()
}

fn file() -> BoxedStrategy<Vec<u8>> {
    prop::collection::vec(
        (
            prop::sample::select(SECTIONS),
            prop::collection::vec((prop::sample::select(KEYS), value()), 0..6),
        ),
        0..5,
    )
    .prop_map(|sections| {
        let mut out = String::new();
        for (name, keys) in sections {
            out.push_str(&format!("[{name}]\n"));
            for (key, value) in keys {
                out.push_str(&format!("{key} = {value}\n"));
            }
        }
        out.into_bytes()
    })
    .boxed()
}

pub struct ConfigFile;

impl Target for ConfigFile {
    fn name(&self) -> &'static str {
        "config-toml"
    }

    fn inputs(&self) -> BoxedStrategy<Vec<u8>> {
        with_mutations(file())
    }

    fn check(&self, input: &[u8]) -> Result<(), String> {
        let Ok(text) = std::str::from_utf8(input) else {
            return Ok(());
        };
        let Ok(table) = text.parse::<toml::Table>() else {
            return Ok(());
        };
        let section = |name: &str| {
            table
                .get(name)
                .cloned()
                .unwrap_or(toml::Value::Table(toml::Table::new()))
        };
        // Any answer but a panic will do; what parses must write back out and read the same.
        if let Ok(imap) = section("imap").try_into::<wildduck_imap::Config>() {
            let written = toml::to_string(&imap)
                .map_err(|e| format!("imap config does not write back: {e}"))?;
            toml::from_str::<wildduck_imap::Config>(&written)
                .map_err(|e| format!("imap config does not read back: {e}"))?;
        }
        let _ = section("pop3").try_into::<wildduck_pop3::Config>();
        let _ = section("lmtp").try_into::<wildduck_lmtp::Config>();
        let _ = section("submission").try_into::<wildduck_lmtp::submission::Config>();
        let _ = section("api").try_into::<wildduck_api::Config>();
        Ok(())
    }
}
