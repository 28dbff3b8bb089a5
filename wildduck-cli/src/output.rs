//! How a command's result reaches the user: text for people, or one JSON document with
//! `--json` (errors too, so a script reads stdout either way and checks the exit code).

use serde::Serialize;
use serde_json::{Value, json};

use crate::error::CliError;

/// What a command produced.
#[derive(Debug, Default)]
pub struct Report {
    /// The document printed with `--json`.
    pub json: Value,
    /// The text printed without `--json` (nothing when empty).
    pub text: String,
}

impl Report {
    pub fn new(json: impl Serialize, text: impl Into<String>) -> Self {
        Self {
            // Serializing our own plain structs can not fail; Null would show it if it did.
            json: serde_json::to_value(json).unwrap_or(Value::Null),
            text: text.into(),
        }
    }
}

/// Prints a successful result to stdout.
pub fn print_report(report: &Report, as_json: bool) {
    if as_json {
        // Null: the command already printed what it had (serve's event lines).
        if !report.json.is_null() {
            println!("{}", pretty(&report.json));
        }
    } else if !report.text.is_empty() {
        if report.text.ends_with('\n') {
            print!("{}", report.text);
        } else {
            println!("{}", report.text);
        }
    }
}

/// Prints an error: as JSON on stdout with `--json`, else as one line on stderr.
pub fn print_error(err: &CliError, as_json: bool) {
    if as_json {
        let doc = json!({
            "error": {
                "kind": err.kind,
                "exit_code": err.kind.exit_code(),
                "message": err.message,
            }
        });
        println!("{}", pretty(&doc));
    } else {
        eprintln!("wildduck: {}", err.message);
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// Formats a byte count for people: `1.5 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Lays out rows under a header with columns padded to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            let pad = widths
                .get(i)
                .copied()
                .unwrap_or(0)
                .saturating_sub(cell.chars().count());
            text.push_str(cell);
            text.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_shown_in_binary_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }

    #[test]
    fn table_pads_columns_to_the_widest_cell() {
        let text = table(&["A", "LONG"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(text, "A    LONG\nxyz  1\n");
    }
}
