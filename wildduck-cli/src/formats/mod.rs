//! Mail file formats the CLI imports and exports: mbox, Maildir and single `.eml` files.
//! Pure file handling; nothing here talks to the store.

pub mod maildir;
pub mod mbox;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wildduck_store::{Flags, Timestamp};

/// One message read from a file, with what the format says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    pub raw: Vec<u8>,
    pub flags: Flags,
    /// The received date the format recorded, if any.
    pub internal_date: Option<Timestamp>,
    /// Where in the input it came from, for error messages (`line 12`, a file name).
    pub origin: String,
}

/// One header field of a message: its name and its byte range (continuation lines included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderField {
    pub name: String,
    pub start: usize,
    pub end: usize,
}

/// The header fields at the start of `raw`, up to (not including) the blank line that ends
/// the header block or the first line that is not a field.
pub fn header_lines(raw: &[u8]) -> Vec<HeaderField> {
    let mut fields: Vec<HeaderField> = Vec::new();
    let mut pos = 0;
    for line in raw.split_inclusive(|&b| b == b'\n') {
        let start = pos;
        pos += line.len();
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            match fields.last_mut() {
                Some(field) => field.end = pos,
                None => break,
            }
        } else if let Some(name) = field_name(line) {
            fields.push(HeaderField {
                name: name.to_string(),
                start,
                end: pos,
            });
        } else {
            break;
        }
    }
    fields
}

/// The name of a header field line (`Name: value`), when the line is one.
fn field_name(line: &[u8]) -> Option<&str> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = &line[..colon];
    let printable = name.iter().all(|&b| (33..=126).contains(&b));
    if name.is_empty() || !printable {
        return None;
    }
    std::str::from_utf8(name).ok()
}

/// Whether `raw` starts like an RFC 5322 message: with a header field.
pub fn looks_like_message(raw: &[u8]) -> bool {
    header_lines(raw).first().is_some_and(|f| f.start == 0)
}

/// A file time as a timestamp (before 1970 included).
pub fn timestamp_of(time: SystemTime) -> Timestamp {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_secs() as Timestamp,
        Err(before) => -(before.duration().as_secs() as Timestamp),
    }
}

/// A timestamp as a file time.
pub fn system_time_of(ts: Timestamp) -> SystemTime {
    if ts >= 0 {
        UNIX_EPOCH + Duration::from_secs(ts as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(ts.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_include_continuations_and_stop_at_the_blank_line() {
        let raw = b"Subject: a\r\n b\r\nFrom: x\r\n\r\nBody: no\r\n";
        let fields = header_lines(raw);
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["Subject", "From"]);
        assert_eq!(
            &raw[fields[0].start..fields[0].end],
            b"Subject: a\r\n b\r\n"
        );
        assert_eq!(fields[1].end, 25);
    }

    #[test]
    fn messages_must_start_with_a_field() {
        assert!(looks_like_message(b"X-A: 1\n\nbody"));
        assert!(looks_like_message(b"Subject:no space"));
        assert!(!looks_like_message(b"hello world\n"));
        assert!(!looks_like_message(b" Subject: folded\n"));
        assert!(!looks_like_message(b": empty name\n"));
        assert!(!looks_like_message(b""));
    }

    #[test]
    fn file_times_round_trip_on_both_sides_of_the_epoch() {
        for ts in [-86_400 * 365, -1, 0, 1, 1_795_980_839] {
            assert_eq!(timestamp_of(system_time_of(ts)), ts);
        }
    }
}
