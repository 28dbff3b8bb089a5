//! The mbox format (mboxrd flavour): reading one message at a time from a stream, and writing.
//!
//! Flags travel in the `Status:` (R = seen), `X-Status:` (A answered, F flagged, T draft,
//! D deleted) and `X-Keywords:` headers, as mutt and Dovecot write them. Those headers are mbox
//! bookkeeping, not message content: the reader takes them out of the stored bytes and the
//! writer puts them back, so mbox → import → export → import keeps every message byte-exact.

use std::io::{self, BufRead, Read, Write};

use wildduck_store::{Flag, Flags, Timestamp};

use crate::dates;

use super::{Mail, header_lines, looks_like_message};

/// Lines are cut at the message size limit, but never below this (From lines must fit).
const MIN_LINE_CAP: u64 = 64 * 1024;

/// Why an mbox can not be read.
#[derive(Debug, PartialEq, Eq)]
pub struct MboxError {
    /// 1-based line of the input where the problem is.
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for MboxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Reads messages from an mbox stream one by one; memory use is bounded by one message of
/// at most `max_size` bytes (larger ones are skipped over and reported).
pub struct MboxReader<R> {
    input: R,
    max_size: u64,
    line_no: usize,
    /// The `From ` line that starts the next message, with its line number.
    next_from: Option<(Vec<u8>, usize)>,
    started: bool,
}

impl<R: BufRead> MboxReader<R> {
    pub fn new(input: R, max_size: u64) -> Self {
        Self {
            input,
            max_size,
            line_no: 0,
            next_from: None,
            started: false,
        }
    }

    fn read_line(&mut self, line: &mut Vec<u8>) -> Result<bool, MboxError> {
        line.clear();
        // A line can not be longer than a message may be: bounds memory on garbage input.
        let n = (&mut self.input)
            .take(self.max_size.max(MIN_LINE_CAP).saturating_add(2))
            .read_until(b'\n', line)
            .map_err(|err| MboxError {
                line: self.line_no + 1,
                reason: format!("read error: {err}"),
            })?;
        if n > 0 {
            self.line_no += 1;
        }
        Ok(n > 0)
    }

    /// Skips blank lines before the first message; anything else there means "not an mbox".
    fn find_first_from(&mut self) -> Result<(), MboxError> {
        let mut line = Vec::new();
        while self.read_line(&mut line)? {
            if line.starts_with(b"From ") {
                self.next_from = Some((line, self.line_no));
                return Ok(());
            }
            if !line.iter().all(u8::is_ascii_whitespace) {
                return Err(MboxError {
                    line: self.line_no,
                    reason: "not an mbox: the file must start with a \"From \" line".into(),
                });
            }
        }
        Ok(())
    }

    fn read_message(&mut self, from_line: Vec<u8>, from_line_no: usize) -> Result<Mail, MboxError> {
        let mut raw = Vec::new();
        let mut line = Vec::new();
        let mut too_big = false;
        while self.read_line(&mut line)? {
            if line.starts_with(b"From ") {
                self.next_from = Some((std::mem::take(&mut line), self.line_no));
                break;
            }
            let unquoted = unquote_from(&line);
            // The blank separator line may still come off, hence the one byte of slack.
            too_big |= (raw.len() + unquoted.len()) as u64 > self.max_size.saturating_add(1);
            if !too_big {
                raw.extend_from_slice(unquoted);
            }
        }
        if too_big {
            return Err(MboxError {
                line: from_line_no,
                reason: format!("message larger than the limit of {} bytes", self.max_size),
            });
        }
        // The blank line before the next "From " (or at the end) belongs to the format.
        if raw.ends_with(b"\n\n") {
            raw.pop();
        } else if raw.ends_with(b"\r\n\r\n") {
            raw.truncate(raw.len() - 2);
        }
        if !looks_like_message(&raw) {
            return Err(MboxError {
                line: from_line_no + 1,
                reason: "message does not start with a header field".into(),
            });
        }
        let (raw, flags) = take_status_headers(&raw);
        Ok(Mail {
            raw,
            flags,
            internal_date: from_line_date(&from_line),
            origin: format!("line {from_line_no}"),
        })
    }
}

impl<R: BufRead> Iterator for MboxReader<R> {
    type Item = Result<Mail, MboxError>;

    fn next(&mut self) -> Option<Self::Item> {
        if !self.started {
            self.started = true;
            if let Err(err) = self.find_first_from() {
                return Some(Err(err));
            }
        }
        let (from_line, from_line_no) = self.next_from.take()?;
        Some(self.read_message(from_line, from_line_no))
    }
}

/// mboxrd: a line `>From `, `>>From `… lost one `>` when it was written.
fn unquote_from(line: &[u8]) -> &[u8] {
    let quotes = line.iter().take_while(|&&b| b == b'>').count();
    if quotes > 0 && line[quotes..].starts_with(b"From ") {
        &line[1..]
    } else {
        line
    }
}

/// The date of `From sender Thu Jan  1 00:00:00 1970`, when it parses.
fn from_line_date(line: &[u8]) -> Option<Timestamp> {
    let text = String::from_utf8_lossy(line);
    let after_from = text.strip_prefix("From ")?.trim_start();
    let date = after_from.split_once(char::is_whitespace)?.1;
    dates::parse_asctime(date)
}

/// Removes the flag headers from the header block and turns them into flags.
fn take_status_headers(raw: &[u8]) -> (Vec<u8>, Flags) {
    let mut flags = Flags::new();
    let mut kept = Vec::with_capacity(raw.len());
    let mut header_end = 0;
    for field in header_lines(raw) {
        header_end = field.end;
        let bytes = &raw[field.start..field.end];
        match field.name.to_ascii_lowercase().as_str() {
            "status" => {
                flags.extend(letters(bytes).filter_map(|c| (c == 'R').then_some(Flag::Seen)))
            }
            "x-status" => flags.extend(letters(bytes).filter_map(|c| match c {
                'A' => Some(Flag::Answered),
                'F' => Some(Flag::Flagged),
                'T' => Some(Flag::Draft),
                'D' => Some(Flag::Deleted),
                _ => None,
            })),
            "x-keywords" => flags.extend(
                field_value(bytes)
                    .split([',', ' ', '\t', '\r', '\n'])
                    .filter(|k| !k.is_empty())
                    .map(|k| Flag::Keyword(k.to_string())),
            ),
            _ => kept.extend_from_slice(bytes),
        }
    }
    kept.extend_from_slice(&raw[header_end..]);
    (kept, flags)
}

fn field_value(field: &[u8]) -> String {
    let text = String::from_utf8_lossy(field);
    text.split_once(':')
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

fn letters(field: &[u8]) -> impl Iterator<Item = char> {
    field_value(field).chars().collect::<Vec<_>>().into_iter()
}

/// Appends one message to an mbox stream: `From ` line, flag headers, mboxrd quoting, and the
/// blank line that ends it.
pub fn write_message(
    out: &mut impl Write,
    raw: &[u8],
    flags: &Flags,
    internal_date: Timestamp,
) -> io::Result<()> {
    writeln!(out, "From MAILER-DAEMON {}", dates::asctime(internal_date))?;
    let with_status = insert_status_headers(raw, flags);
    for line in with_status.split_inclusive(|&b| b == b'\n') {
        let quotes = line.iter().take_while(|&&b| b == b'>').count();
        if line[quotes..].starts_with(b"From ") {
            out.write_all(b">")?;
        }
        out.write_all(line)?;
    }
    if !with_status.ends_with(b"\n") {
        out.write_all(b"\n")?;
    }
    out.write_all(b"\n")
}

/// The message with `Status:`/`X-Status:`/`X-Keywords:` added at the end of its header block
/// (in the message's own line ending). A message without a complete header line to follow
/// keeps its bytes and loses its flags in the mbox.
fn insert_status_headers(raw: &[u8], flags: &Flags) -> Vec<u8> {
    let Some(header_end) = header_lines(raw).last().map(|f| f.end) else {
        return raw.to_vec();
    };
    if !raw[..header_end].ends_with(b"\n") {
        return raw.to_vec();
    }
    let eol: &[u8] = if raw[..header_end].ends_with(b"\r\n") {
        b"\r\n"
    } else {
        b"\n"
    };
    let mut status = String::from("O");
    if flags.contains(&Flag::Seen) {
        status.insert(0, 'R');
    }
    let x_status: String = [
        (Flag::Answered, 'A'),
        (Flag::Flagged, 'F'),
        (Flag::Draft, 'T'),
        (Flag::Deleted, 'D'),
    ]
    .iter()
    .filter(|(flag, _)| flags.contains(flag))
    .map(|(_, letter)| *letter)
    .collect();
    let keywords: Vec<&str> = flags
        .iter()
        .filter_map(|f| match f {
            Flag::Keyword(k) => Some(k.as_str()),
            _ => None,
        })
        .collect();

    let mut out = Vec::with_capacity(raw.len() + 64);
    out.extend_from_slice(&raw[..header_end]);
    let mut add = |name: &str, value: &str| {
        out.extend_from_slice(format!("{name}: {value}").as_bytes());
        out.extend_from_slice(eol);
    };
    add("Status", &status);
    if !x_status.is_empty() {
        add("X-Status", &x_status);
    }
    if !keywords.is_empty() {
        add("X-Keywords", &keywords.join(" "));
    }
    out.extend_from_slice(&raw[header_end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &[u8]) -> Vec<Result<Mail, MboxError>> {
        MboxReader::new(input, 1 << 20).collect()
    }

    #[test]
    fn splits_messages_unquotes_and_reads_flags_and_dates() {
        let mbox = b"From a@b Thu Jan  1 00:00:00 1970\nSubject: one\nStatus: RO\nX-Status: AF\n\nbody\n>From here\n>>From there\n\nFrom c@d Thu Jan  1 00:01:00 1970\nSubject: two\nX-Keywords: $Label1 work\n\nsecond";
        let mails: Vec<Mail> = read_all(mbox).into_iter().map(Result::unwrap).collect();
        assert_eq!(mails.len(), 2);
        assert_eq!(
            mails[0].raw,
            b"Subject: one\n\nbody\nFrom here\n>From there\n"
        );
        assert_eq!(
            mails[0].flags,
            Flags::from([Flag::Seen, Flag::Answered, Flag::Flagged])
        );
        assert_eq!(mails[0].internal_date, Some(0));
        assert_eq!(mails[1].raw, b"Subject: two\n\nsecond");
        assert_eq!(
            mails[1].flags,
            Flags::from([
                Flag::Keyword("$Label1".into()),
                Flag::Keyword("work".into())
            ])
        );
        assert_eq!(mails[1].internal_date, Some(60));
    }

    #[test]
    fn write_then_read_gives_the_same_bytes_flags_and_dates() {
        let messages: Vec<(&[u8], Flags, Timestamp)> = vec![
            (
                b"Subject: a\r\n\r\nFrom me\r\n>From you\r\n",
                Flags::from([Flag::Seen, Flag::Deleted]),
                1_000_000,
            ),
            (
                b"Subject: b\n\nno newline at end\n",
                Flags::from([Flag::Keyword("x".into()), Flag::Draft]),
                2,
            ),
            (
                b"Subject: c\nStatus-Report: kept\n\n\n\n",
                Flags::new(),
                1_795_980_839,
            ),
        ];
        let mut mbox = Vec::new();
        for (raw, flags, date) in &messages {
            write_message(&mut mbox, raw, flags, *date).unwrap();
        }
        let read: Vec<Mail> = read_all(&mbox).into_iter().map(Result::unwrap).collect();
        assert_eq!(read.len(), messages.len());
        for (mail, (raw, flags, date)) in read.iter().zip(&messages) {
            assert_eq!(mail.raw, *raw, "{}", String::from_utf8_lossy(raw));
            assert_eq!(&mail.flags, flags);
            assert_eq!(mail.internal_date, Some(*date));
        }
    }

    #[test]
    fn a_file_that_is_not_an_mbox_is_refused_at_its_first_line() {
        let errors = read_all(b"\nhello world\nFrom x Thu Jan  1 00:00:00 1970\n");
        assert_eq!(errors.len(), 1);
        let err = errors.into_iter().next().unwrap().unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.reason.contains("not an mbox"));
    }

    #[test]
    fn a_message_without_headers_is_an_error_and_reading_goes_on() {
        let mbox = b"From x Thu Jan  1 00:00:00 1970\nSubject: ok\n\nfine\n\nFrom y Thu Jan  1 00:00:00 1970\nthis is not a header\n\nFrom z Thu Jan  1 00:00:00 1970\nSubject: also ok\n\n";
        let results = read_all(mbox);
        assert_eq!(results.len(), 3);
        assert!(results[0].is_ok());
        assert_eq!(results[1].as_ref().unwrap_err().line, 7);
        assert!(results[2].is_ok());
    }

    #[test]
    fn a_message_over_the_limit_is_reported_and_the_next_one_read() {
        let mbox = b"From x Thu Jan  1 00:00:00 1970\nSubject: big\n\n0123456789\n0123456789\n\nFrom y Thu Jan  1 00:00:00 1970\nSubject: ok\n\n";
        let results: Vec<_> = MboxReader::new(&mbox[..], 20).collect();
        assert_eq!(results.len(), 2);
        let err = results[0].as_ref().unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.reason.contains("limit of 20"), "{err}");
        assert_eq!(results[1].as_ref().unwrap().raw, b"Subject: ok\n");
    }

    #[test]
    fn an_empty_file_has_no_messages() {
        assert!(read_all(b"").is_empty());
        assert!(read_all(b"\n\n").is_empty());
    }

    #[test]
    fn flag_headers_are_recognised_case_insensitively() {
        let (raw, flags) = take_status_headers(b"STATUS: R\nx-status: d\nSubject: s\n\n");
        assert_eq!(raw, b"Subject: s\n\n");
        assert_eq!(flags, Flags::from([Flag::Seen]));
    }
}
