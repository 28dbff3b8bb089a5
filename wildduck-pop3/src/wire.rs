//! How a stored message goes on the POP3 wire, and how many octets that is.
//!
//! RFC 1939 sends a message as CRLF-terminated lines, dot-stuffed, ended by `.CRLF`, and
//! counts its size as the octets of those lines *before* dot-stuffing. The store keeps the
//! message byte-exact, which may include bare LF line endings or a missing final line end,
//! so the wire form is: every bare LF becomes CRLF, a missing final CRLF is added, nothing
//! else changes. The same [`WireEncoder`] produces the bytes RETR sends and counts the
//! sizes LIST and STAT report, so the two always agree.

/// Streaming converter from stored bytes to POP3 wire lines. Keeps a few bytes of state
/// between chunks, so a message is never joined into one buffer.
pub(crate) struct WireEncoder {
    stuff_dots: bool,
    at_line_start: bool,
    last_byte: Option<u8>,
    /// Octets of the current line so far (to spot the empty line that ends the header).
    line_len: u64,
    top: Top,
}

/// TOP's cut: the header, the empty line, then some body lines.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Top {
    /// The whole message (RETR).
    Off,
    /// Still in the header; then this many body lines.
    Header(u64),
    /// Body lines still to pass.
    Body(u64),
}

impl WireEncoder {
    /// For RETR: the whole message, dot-stuffed.
    pub(crate) fn transmit() -> Self {
        Self::new(true, Top::Off)
    }

    /// For TOP: the header, the empty line after it and `lines` body lines, dot-stuffed.
    pub(crate) fn top(lines: u64) -> Self {
        Self::new(true, Top::Header(lines))
    }

    /// For size counting: the octets the client gets after removing the dot-stuffing.
    pub(crate) fn count() -> Self {
        Self::new(false, Top::Off)
    }

    fn new(stuff_dots: bool, top: Top) -> Self {
        Self {
            stuff_dots,
            at_line_start: true,
            last_byte: None,
            line_len: 0,
            top,
        }
    }

    fn limit_reached(&self) -> bool {
        self.top == Top::Body(0)
    }

    /// Feeds stored bytes; `emit` receives the wire bytes in order.
    pub(crate) fn encode(&mut self, mut input: &[u8], emit: &mut impl FnMut(&[u8])) {
        while !input.is_empty() && !self.limit_reached() {
            if self.at_line_start {
                if self.stuff_dots && input[0] == b'.' {
                    emit(b".");
                }
                self.at_line_start = false;
                self.line_len = 0;
            }
            let Some(end) = memchr::memchr(b'\n', input) else {
                emit(input);
                self.line_len += input.len() as u64;
                self.last_byte = input.last().copied();
                return;
            };
            let line = &input[..end];
            self.line_len += line.len() as u64;
            let has_cr = match line.last() {
                Some(&b) => b == b'\r',
                None => self.last_byte == Some(b'\r'),
            };
            if !line.is_empty() {
                emit(line);
            }
            emit(if has_cr { b"\n" } else { b"\r\n" });
            let was_empty = self.line_len == u64::from(has_cr);
            self.end_line(was_empty);
            input = &input[end + 1..];
        }
    }

    fn end_line(&mut self, was_empty: bool) {
        self.last_byte = Some(b'\n');
        self.at_line_start = true;
        self.top = match self.top {
            Top::Header(lines) if was_empty => Top::Body(lines),
            Top::Body(left) => Top::Body(left.saturating_sub(1)),
            other => other,
        };
    }

    /// Ends the message: completes an unterminated last line.
    pub(crate) fn finish(&mut self, emit: &mut impl FnMut(&[u8])) {
        if self.at_line_start || self.limit_reached() {
            return;
        }
        emit(if self.last_byte == Some(b'\r') {
            b"\n"
        } else {
            b"\r\n"
        });
        self.end_line(false);
    }
}

/// The RFC 1939 size of a message: octets of its wire form without dot-stuffing.
pub(crate) fn wire_size<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    let mut encoder = WireEncoder::count();
    let mut size = 0u64;
    let mut add = |piece: &[u8]| size += piece.len() as u64;
    for chunk in chunks {
        encoder.encode(chunk, &mut add);
    }
    encoder.finish(&mut add);
    size
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(mut encoder: WireEncoder, chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut emit = |piece: &[u8]| out.extend_from_slice(piece);
        for chunk in chunks {
            encoder.encode(chunk, &mut emit);
        }
        encoder.finish(&mut emit);
        out
    }

    fn transmit(chunks: &[&[u8]]) -> Vec<u8> {
        encode(WireEncoder::transmit(), chunks)
    }

    fn unstuff(wire: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for line in wire.split_inclusive(|&b| b == b'\n') {
            out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        }
        out
    }

    #[test]
    fn crlf_message_passes_unchanged_except_dots() {
        let wire = transmit(&[b"A: b\r\n\r\n.x\r\n..\r\n.\r\nend\r\n"]);
        assert_eq!(wire, b"A: b\r\n\r\n..x\r\n...\r\n..\r\nend\r\n");
        assert_eq!(
            wire_size([&b"A: b\r\n\r\n.x\r\n..\r\n.\r\nend\r\n"[..]]),
            24
        );
    }

    #[test]
    fn bare_lf_and_missing_final_newline_are_completed() {
        let stored: &[u8] = b"A: b\n\n.dot\nlast";
        let wire = transmit(&[stored]);
        assert_eq!(wire, b"A: b\r\n\r\n..dot\r\nlast\r\n");
        assert_eq!(wire_size([stored]), unstuff(&wire).len() as u64);
    }

    #[test]
    fn chunk_boundaries_do_not_matter() {
        let stored: &[u8] = b"H: v\r\n\r\n.a\r\nb\n.\rc\r\n\r\nend\r";
        let whole = transmit(&[stored]);
        for split in 0..=stored.len() {
            let (a, b) = stored.split_at(split);
            assert_eq!(transmit(&[a, b]), whole, "split at {split}");
            assert_eq!(wire_size([a, b]), unstuff(&whole).len() as u64);
        }
        assert_eq!(whole, b"H: v\r\n\r\n..a\r\nb\r\n..\rc\r\n\r\nend\r\n");
    }

    #[test]
    fn top_cuts_after_the_header_and_whole_body_lines() {
        let stored: &[u8] = b"H: v\r\nX: y\n\r\none\r\n.two\nthree\r\n";
        let top = |lines, chunks: &[&[u8]]| encode(WireEncoder::top(lines), chunks);
        assert_eq!(top(0, &[stored]), b"H: v\r\nX: y\r\n\r\n");
        assert_eq!(top(2, &[stored]), b"H: v\r\nX: y\r\n\r\none\r\n..two\r\n");
        assert_eq!(
            top(99, &[stored]),
            b"H: v\r\nX: y\r\n\r\none\r\n..two\r\nthree\r\n"
        );
        for split in 0..=stored.len() {
            let (a, b) = stored.split_at(split);
            assert_eq!(
                top(1, &[a, b]),
                b"H: v\r\nX: y\r\n\r\none\r\n",
                "split at {split}"
            );
        }
        // Bare-LF separator, and a message with no body at all.
        assert_eq!(top(1, &[b"H: v\n\nbody\nmore\n"]), b"H: v\r\n\r\nbody\r\n");
        assert_eq!(top(5, &[b"H: v\r\nX: y"]), b"H: v\r\nX: y\r\n");
    }

    #[test]
    fn empty_message_is_empty() {
        assert_eq!(transmit(&[b""]), b"");
        assert_eq!(wire_size([&b""[..]]), 0);
    }
}
