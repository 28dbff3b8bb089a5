//! How a stored message goes on the POP3 wire, and how many octets that is.
//!
//! RFC 1939 sends a message as CRLF-terminated lines, dot-stuffed, ended by `.CRLF`, and
//! counts its size as the octets of those lines *before* dot-stuffing. The store keeps the
//! message byte-exact, which may include bare LF line endings or a missing final line end,
//! so the wire form is: every bare LF becomes CRLF, a missing final CRLF is added, nothing
//! else changes. The same [`WireEncoder`] produces the bytes RETR sends and counts the
//! sizes LIST and STAT report, so the two always agree.

/// Streaming converter from stored bytes to POP3 wire lines. Keeps only two bytes of state
/// between chunks, so a message is never joined into one buffer.
pub(crate) struct WireEncoder {
    stuff_dots: bool,
    at_line_start: bool,
    last_byte: Option<u8>,
    /// Body lines still allowed (TOP); `None` = no limit.
    lines_left: Option<u64>,
}

impl WireEncoder {
    /// For transmission: dot-stuffed.
    pub(crate) fn transmit() -> Self {
        Self::new(true)
    }

    /// For size counting: the octets the client gets after removing the dot-stuffing.
    pub(crate) fn count() -> Self {
        Self::new(false)
    }

    fn new(stuff_dots: bool) -> Self {
        Self {
            stuff_dots,
            at_line_start: true,
            last_byte: None,
            lines_left: None,
        }
    }

    /// From now on pass at most `lines` more complete lines (TOP's body line count).
    pub(crate) fn limit_lines(&mut self, lines: u64) {
        self.lines_left = Some(lines);
    }

    fn limit_reached(&self) -> bool {
        self.lines_left == Some(0)
    }

    /// Feeds stored bytes; `emit` receives the wire bytes in order.
    pub(crate) fn encode(&mut self, mut input: &[u8], emit: &mut impl FnMut(&[u8])) {
        while !input.is_empty() && !self.limit_reached() {
            if self.at_line_start {
                if self.stuff_dots && input[0] == b'.' {
                    emit(b".");
                }
                self.at_line_start = false;
            }
            let Some(end) = input.iter().position(|&b| b == b'\n') else {
                emit(input);
                self.last_byte = input.last().copied();
                return;
            };
            let line = &input[..end];
            let has_cr = match line.last() {
                Some(&b) => b == b'\r',
                None => self.last_byte == Some(b'\r'),
            };
            if !line.is_empty() {
                emit(line);
            }
            emit(if has_cr { b"\n" } else { b"\r\n" });
            self.last_byte = Some(b'\n');
            self.at_line_start = true;
            if let Some(left) = self.lines_left.as_mut() {
                *left -= 1;
            }
            input = &input[end + 1..];
        }
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
        self.at_line_start = true;
        self.last_byte = Some(b'\n');
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

    fn transmit(chunks: &[&[u8]], limit_after_first: Option<u64>) -> Vec<u8> {
        let mut encoder = WireEncoder::transmit();
        let mut out = Vec::new();
        let mut emit = |piece: &[u8]| out.extend_from_slice(piece);
        for (i, chunk) in chunks.iter().enumerate() {
            if i == 1
                && let Some(lines) = limit_after_first
            {
                encoder.limit_lines(lines);
            }
            encoder.encode(chunk, &mut emit);
        }
        encoder.finish(&mut emit);
        out
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
        let wire = transmit(&[b"A: b\r\n\r\n.x\r\n..\r\n.\r\nend\r\n"], None);
        assert_eq!(wire, b"A: b\r\n\r\n..x\r\n...\r\n..\r\nend\r\n");
        assert_eq!(
            wire_size([&b"A: b\r\n\r\n.x\r\n..\r\n.\r\nend\r\n"[..]]),
            24
        );
    }

    #[test]
    fn bare_lf_and_missing_final_newline_are_completed() {
        let stored: &[u8] = b"A: b\n\n.dot\nlast";
        let wire = transmit(&[stored], None);
        assert_eq!(wire, b"A: b\r\n\r\n..dot\r\nlast\r\n");
        assert_eq!(wire_size([stored]), unstuff(&wire).len() as u64);
    }

    #[test]
    fn chunk_boundaries_do_not_matter() {
        let stored: &[u8] = b"H: v\r\n\r\n.a\r\nb\n.\rc\r\n\r\nend\r";
        let whole = transmit(&[stored], None);
        for split in 0..=stored.len() {
            let (a, b) = stored.split_at(split);
            assert_eq!(transmit(&[a, b], None), whole, "split at {split}");
            assert_eq!(wire_size([a, b]), unstuff(&whole).len() as u64);
        }
        assert_eq!(whole, b"H: v\r\n\r\n..a\r\nb\r\n..\rc\r\n\r\nend\r\n");
    }

    #[test]
    fn line_limit_stops_after_whole_lines() {
        let header: &[u8] = b"H: v\r\n\r\n";
        let body: &[u8] = b"one\r\n.two\nthree\r\n";
        assert_eq!(transmit(&[header, body], Some(0)), b"H: v\r\n\r\n");
        assert_eq!(
            transmit(&[header, body], Some(2)),
            b"H: v\r\n\r\none\r\n..two\r\n"
        );
        assert_eq!(
            transmit(&[header, body], Some(99)),
            b"H: v\r\n\r\none\r\n..two\r\nthree\r\n"
        );
    }

    #[test]
    fn empty_message_is_empty() {
        assert_eq!(transmit(&[b""], None), b"");
        assert_eq!(wire_size([&b""[..]]), 0);
    }
}
