//! Header blocks: iterating fields with their exact byte ranges, and the RFC 822/2045 lexical
//! pieces (comments, quoted strings, tokens) that Content-* fields are made of.

use std::ops::Range;

/// One header field of a header block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderField<'a> {
    /// The field name without trailing white space (the whole line if it has no colon).
    pub name: &'a [u8],
    /// Everything after the colon, folding and final line ending included.
    pub value: &'a [u8],
    /// The field's bytes in the block, from the name to the end of its last line.
    pub range: Range<usize>,
}

/// Iterates the fields of a header block, stopping at the blank line that ends it.
pub struct HeaderFields<'a> {
    block: &'a [u8],
    pos: usize,
}

impl<'a> HeaderFields<'a> {
    pub fn new(block: &'a [u8]) -> Self {
        HeaderFields { block, pos: 0 }
    }
}

impl<'a> Iterator for HeaderFields<'a> {
    type Item = HeaderField<'a>;

    fn next(&mut self) -> Option<HeaderField<'a>> {
        let block = self.block;
        let start = self.pos;
        if start >= block.len() || is_blank_line(&block[start..]) {
            return None;
        }
        // The field runs until a line that does not start with white space.
        let mut end = line_end(block, start);
        while end < block.len() && matches!(block[end], b' ' | b'\t') {
            end = line_end(block, end);
        }
        self.pos = end;
        let field = &block[start..end];
        let (name, value) = match field.iter().position(|&b| b == b':') {
            Some(colon) if !field[..colon].contains(&b'\n') => {
                (trim_end(&field[..colon]), &field[colon + 1..])
            }
            _ => (trim_end(trim_eol(field)), &field[field.len()..]),
        };
        Some(HeaderField {
            name,
            value,
            range: start..end,
        })
    }
}

fn is_blank_line(rest: &[u8]) -> bool {
    rest.starts_with(b"\n") || rest.starts_with(b"\r\n")
}

/// The offset after the line feed of the line starting at `start` (or the block's end).
fn line_end(block: &[u8], start: usize) -> usize {
    match block[start..].iter().position(|&b| b == b'\n') {
        Some(pos) => start + pos + 1,
        None => block.len(),
    }
}

fn trim_eol(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes.strip_suffix(b"\r").unwrap_or(bytes)
}

pub fn trim_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    &bytes[..end]
}

pub fn trim(bytes: &[u8]) -> &[u8] {
    let bytes = trim_end(bytes);
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

/// A header value with its folding removed: CR and LF dropped, the white space that
/// follows them kept (what Dovecot puts in ENVELOPE), leading white space skipped.
pub fn unfold(value: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = value
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    let lead = out.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    out.drain(..lead);
    out
}

/// Dovecot's "for humans" form of subjects and display names: runs of spaces, tabs and
/// line breaks become one space, and leading and trailing white space goes.
pub fn for_humans(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text
        .split([' ', '\t', '\r', '\n'])
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Converts header bytes to a string; bytes that are not UTF-8 become U+FFFD.
pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A parsed Content-Type (or Content-Disposition when `media_subtype` is unused).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContentType {
    pub media_type: String,
    pub media_subtype: String,
    pub params: Vec<(String, String)>,
}

/// Parses `type/subtype; name=value; ...` the way Dovecot does: comments skipped, quoted
/// strings unquoted, RFC 2231 continuations (`name*0`, `name*1*`) joined but their charset
/// encoding left as is (the name keeps a trailing `*` when the value is encoded).
pub fn parse_content_type(value: &[u8]) -> ContentType {
    let mut lexer = Lexer::new(value);
    lexer.skip_cfws();
    let media_type = lexer.token();
    lexer.skip_cfws();
    let media_subtype = if lexer.eat(b'/') {
        lexer.skip_cfws();
        lexer.token()
    } else {
        String::new()
    };
    ContentType {
        media_type,
        media_subtype,
        params: parse_params(&mut lexer),
    }
}

/// Parses a Content-Disposition value: a token and parameters.
pub fn parse_disposition(value: &[u8]) -> ContentType {
    let mut lexer = Lexer::new(value);
    lexer.skip_cfws();
    let media_type = lexer.token();
    ContentType {
        media_type,
        media_subtype: String::new(),
        params: parse_params(&mut lexer),
    }
}

fn parse_params(lexer: &mut Lexer<'_>) -> Vec<(String, String)> {
    let mut raw = Vec::new();
    loop {
        // Skip to the next ';' (anything else is junk Dovecot ignores too).
        lexer.skip_cfws();
        if lexer.at_end() {
            break;
        }
        if !lexer.eat(b';') {
            lexer.skip_junk_until_semicolon();
            continue;
        }
        lexer.skip_cfws();
        let name = lexer.token();
        lexer.skip_cfws();
        if name.is_empty() || !lexer.eat(b'=') {
            continue;
        }
        lexer.skip_cfws();
        let value = if lexer.peek() == Some(b'"') {
            lexer.quoted_string()
        } else {
            lexer.token()
        };
        raw.push((name, value));
    }
    join_rfc2231_continuations(raw)
}

/// Joins `name*0=..; name*1=..` into one parameter, in index order, at the position of the
/// first piece. An encoded piece (`*N*`) marks the joined name with a trailing `*`.
fn join_rfc2231_continuations(raw: Vec<(String, String)>) -> Vec<(String, String)> {
    struct Joined {
        name: String,
        encoded: bool,
        pieces: Vec<(u32, String)>,
    }
    enum Slot {
        Plain(String, String),
        Joined(Joined),
    }
    let mut slots: Vec<Slot> = Vec::new();
    for (name, value) in raw {
        let Some((base, index, encoded)) = split_continuation(&name) else {
            slots.push(Slot::Plain(name, value));
            continue;
        };
        let existing = slots.iter_mut().find_map(|slot| match slot {
            Slot::Joined(j) if j.name.eq_ignore_ascii_case(base) => Some(j),
            _ => None,
        });
        match existing {
            Some(joined) => {
                joined.encoded |= encoded && index == 0;
                joined.pieces.push((index, value));
            }
            None => slots.push(Slot::Joined(Joined {
                name: base.to_string(),
                encoded: encoded && index == 0,
                pieces: vec![(index, value)],
            })),
        }
    }
    slots
        .into_iter()
        .map(|slot| match slot {
            Slot::Plain(name, value) => (name, value),
            Slot::Joined(mut joined) => {
                joined.pieces.sort_by_key(|(index, _)| *index);
                let value: String = joined.pieces.into_iter().map(|(_, v)| v).collect();
                let name = if joined.encoded {
                    format!("{}*", joined.name)
                } else {
                    joined.name
                };
                (name, value)
            }
        })
        .collect()
}

/// `name*3*` → (`name`, 3, true); `name*0` → (`name`, 0, false); others → None.
fn split_continuation(name: &str) -> Option<(&str, u32, bool)> {
    let (base, rest) = name.split_once('*')?;
    let (digits, encoded) = match rest.strip_suffix('*') {
        Some(d) => (d, true),
        None => (rest, false),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((base, digits.parse().ok()?, encoded))
}

/// RFC 822 lexical scanner over a header value.
pub struct Lexer<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Lexer { data, pos: 0 }
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    pub fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    pub fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Skips white space, line breaks and (nested) comments.
    pub fn skip_cfws(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'(' => {
                    self.comment();
                }
                _ => break,
            }
        }
    }

    /// Reads a comment (at `(`) and returns its text, unescaped, nested parentheses kept.
    pub fn comment(&mut self) -> Vec<u8> {
        let mut depth = 0usize;
        let mut text = Vec::new();
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'(' => {
                    if depth > 0 {
                        text.push(b);
                    }
                    depth += 1;
                }
                b')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break;
                    }
                    text.push(b);
                }
                b'\\' => {
                    if let Some(next) = self.peek() {
                        self.pos += 1;
                        text.push(next);
                    }
                }
                b'\r' | b'\n' => {}
                _ => text.push(b),
            }
        }
        text
    }

    /// A MIME token (RFC 2045): anything but controls, space and tspecials.
    pub fn token(&mut self) -> String {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b <= b' ' || b == 0x7f || b"()<>@,;:\\\"/[]?=".contains(&b) {
                break;
            }
            self.pos += 1;
        }
        lossy(&self.data[start..self.pos])
    }

    /// A quoted string (at `"`), unquoted and unescaped, folding removed.
    pub fn quoted_string(&mut self) -> String {
        lossy(&self.quoted_bytes())
    }

    pub fn quoted_bytes(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.eat(b'"');
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(next) = self.peek() {
                        self.pos += 1;
                        out.push(next);
                    }
                }
                b'\r' | b'\n' => {}
                _ => out.push(b),
            }
        }
        out
    }

    fn skip_junk_until_semicolon(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b';' => break,
                b'"' => {
                    self.quoted_bytes();
                }
                b'(' => {
                    self.comment();
                }
                _ => self.pos += 1,
            }
        }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn set_position(&mut self, pos: usize) {
        self.pos = pos.min(self.data.len());
    }

    pub fn rest(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_keep_folding_and_ranges() {
        let block = b"Subject: a\r\n b\r\nTo : x@y\r\nbroken line\r\n\r\nbody";
        let fields: Vec<_> = HeaderFields::new(block).collect();
        assert_eq!(fields.len(), 3);
        assert_eq!(fields[0].name, b"Subject");
        assert_eq!(fields[0].value, b" a\r\n b\r\n");
        assert_eq!(fields[0].range, 0..16);
        assert_eq!(fields[1].name, b"To");
        assert_eq!(fields[2].name, b"broken line");
        assert_eq!(fields[2].value, b"");
    }

    #[test]
    fn content_type_with_rfc2231_continuations() {
        let ct = parse_content_type(
            b" text/plain (c); charset=\"utf-8\"; name*0*=utf-8''a%20; name*1*=b; x=\"q\\\"\"\r\n",
        );
        assert_eq!(ct.media_type, "text");
        assert_eq!(ct.media_subtype, "plain");
        assert_eq!(
            ct.params,
            vec![
                ("charset".to_string(), "utf-8".to_string()),
                ("name*".to_string(), "utf-8''a%20b".to_string()),
                ("x".to_string(), "q\"".to_string()),
            ]
        );
    }

    #[test]
    fn unfold_drops_line_breaks_only() {
        assert_eq!(unfold(b" a\r\n\tb \r\n"), b"a\tb ");
    }
}
