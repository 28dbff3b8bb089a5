//! Framing over a (possibly TLS) stream: imap-codec's `Fragmentizer` cuts the input into lines
//! and literals; we add the limits it lacks (line length, literal acceptance) and the response
//! writer (buffered text, literals streamed chunk by chunk). After COMPRESS (RFC 4978) both
//! directions pass through raw DEFLATE, with a sync flush whenever responses are flushed.

use std::io;
use std::ops::Range;
use std::time::Duration;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use imap_codec::fragmentizer::{FragmentInfo, Fragmentizer};
use imap_codec::imap_types::core::LiteralMode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wildduck_net::Stream;

/// Bytes read from the socket at a time; bounds what sits unparsed in the framer.
const READ_CHUNK: usize = 8 * 1024;
/// Buffers grown past this by one big command are given back afterwards.
const KEEP_CAPACITY: usize = 16 * 1024;
/// Literals up to this size are copied into the output buffer instead of written apart.
const BUFFERED_LITERAL: u64 = 64 * 1024;
/// Longest TLS handshake, for implicit TLS and STARTTLS alike.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the framer has for the session.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    /// A whole command (lines and literals) is in [`Connection::message_bytes`].
    Message,
    /// The current line announces a literal; the session must accept or reject it.
    LiteralAnnounced { length: u32, sync: bool },
    /// A line exceeded the limit; its rest was not buffered. The stream is out of step now.
    LineTooLong,
    /// The client closed the connection.
    Closed,
}

pub struct Connection {
    stream: Stream,
    framer: Fragmentizer,
    max_message: u32,
    max_line: usize,
    /// Offset in the current message where the line being read starts.
    line_start: usize,
    /// Inside an accepted literal: line limits do not apply.
    in_literal: bool,
    /// Ranges of the literals of the current message, in order (APPEND's messages).
    literals: Vec<Range<usize>>,
    /// The current command was already refused: its literals and lines are read and dropped.
    discarding: bool,
    out: Vec<u8>,
    /// Set once COMPRESS DEFLATE has been accepted.
    deflate: Option<Box<Deflate>>,
}

/// Raw DEFLATE (no zlib header) in both directions.
struct Deflate {
    compress: Compress,
    decompress: Decompress,
    /// Compressed since the last sync flush: a flush has something to end.
    unflushed: bool,
}

/// Room added to an output buffer before each zlib call.
const ZLIB_ROOM: usize = 8 * 1024;

/// Runs `step` (one zlib call writing into spare capacity of `out`) until it has consumed all
/// of `input` and left room in `out`: zlib is done with the input and any requested flush.
fn drain_zlib(
    mut input: &[u8],
    out: &mut Vec<u8>,
    mut step: impl FnMut(&[u8], &mut Vec<u8>) -> io::Result<usize>,
) -> io::Result<()> {
    loop {
        out.reserve(ZLIB_ROOM);
        let before = out.len();
        let consumed = step(input, out)?;
        input = &input[consumed..];
        let produced = out.len() - before;
        if (input.is_empty() && out.len() < out.capacity()) || (consumed == 0 && produced == 0) {
            return Ok(());
        }
    }
}

impl Deflate {
    fn compress(&mut self, input: &[u8], flush: FlushCompress) -> io::Result<Vec<u8>> {
        self.unflushed = flush == FlushCompress::None;
        let mut out = Vec::new();
        let compress = &mut self.compress;
        drain_zlib(input, &mut out, |input, out| {
            let before = compress.total_in();
            compress
                .compress_vec(input, out, flush)
                .map_err(io::Error::other)?;
            Ok((compress.total_in() - before) as usize)
        })?;
        Ok(out)
    }

    fn decompress(&mut self, input: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let decompress = &mut self.decompress;
        drain_zlib(input, &mut out, |input, out| {
            let before = decompress.total_in();
            decompress
                .decompress_vec(input, out, FlushDecompress::None)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            Ok((decompress.total_in() - before) as usize)
        })?;
        Ok(out)
    }
}

impl Connection {
    /// `max_message` bounds a whole command with its literals, `max_line` each line.
    pub fn new(stream: Stream, max_message: u32, max_line: u32) -> Self {
        Self {
            stream,
            framer: Fragmentizer::new(max_message),
            max_message,
            max_line: max_line as usize,
            line_start: 0,
            in_literal: false,
            literals: Vec::new(),
            discarding: false,
            out: Vec::new(),
            deflate: None,
        }
    }

    pub fn is_compressed(&self) -> bool {
        self.deflate.is_some()
    }

    /// Starts DEFLATE in both directions, after everything so far went out uncompressed.
    /// Bytes pipelined after the COMPRESS command are dropped: the client may only send
    /// compressed data once it has seen the OK.
    pub async fn start_deflate(&mut self) -> io::Result<()> {
        self.flush().await?;
        self.framer = Fragmentizer::new(self.max_message);
        self.start_next_message();
        self.deflate = Some(Box::new(Deflate {
            compress: Compress::new(Compression::default(), false),
            decompress: Decompress::new(false),
            unflushed: false,
        }));
        Ok(())
    }

    pub fn is_tls(&self) -> bool {
        self.stream.is_tls()
    }

    /// Reads until a complete command, a literal announcement, or a framing failure.
    /// Cancel-safe: bytes are only handed to the framer after a read completed.
    pub async fn read_inbound(&mut self) -> io::Result<Inbound> {
        if self.framer.is_message_complete() {
            self.start_next_message();
        }
        loop {
            match self.framer.progress() {
                Some(FragmentInfo::Line {
                    start,
                    end,
                    announcement,
                    ..
                }) => {
                    self.line_start = end;
                    if end - start > self.max_line {
                        return Ok(Inbound::LineTooLong);
                    }
                    let inbound = match announcement {
                        Some(literal) => Inbound::LiteralAnnounced {
                            length: literal.length,
                            sync: literal.mode == LiteralMode::Sync,
                        },
                        None => Inbound::Message,
                    };
                    if !self.discarding {
                        return Ok(inbound);
                    }
                    match inbound {
                        // The client waits for a continuation that will not come: the
                        // refused command ends here.
                        Inbound::LiteralAnnounced { sync: true, .. } => self.reject_literal(),
                        Inbound::LiteralAnnounced { .. } => self.in_literal = true,
                        _ => self.start_next_message(),
                    }
                }
                Some(FragmentInfo::Literal { start, end }) => {
                    self.in_literal = false;
                    self.line_start = end;
                    self.literals.push(start..end);
                }
                None => {
                    let unfinished_line = self.framer.message_bytes().len() - self.line_start;
                    if !self.in_literal && unfinished_line > self.max_line {
                        return Ok(Inbound::LineTooLong);
                    }
                    let mut chunk = [0u8; READ_CHUNK];
                    let n = self.stream.read(&mut chunk).await?;
                    if n == 0 {
                        return Ok(Inbound::Closed);
                    }
                    match self.deflate.as_mut() {
                        Some(deflate) => {
                            let plain = deflate.decompress(&chunk[..n])?;
                            self.framer.enqueue_bytes(&plain);
                        }
                        None => self.framer.enqueue_bytes(&chunk[..n]),
                    }
                }
            }
        }
    }

    /// Resets per-message state; gives memory back after a big command.
    fn start_next_message(&mut self) {
        if self.framer.message_bytes().len() > KEEP_CAPACITY {
            // `skip_message` is what `progress` does at a message start; cloning then drops
            // the grown buffer's capacity while keeping pipelined bytes.
            self.framer.skip_message();
            self.framer = self.framer.clone();
        }
        self.line_start = 0;
        self.in_literal = false;
        self.literals.clear();
        self.discarding = false;
    }

    /// The bytes of the current command so far (lines and literals).
    pub fn message_bytes(&self) -> &[u8] {
        self.framer.message_bytes()
    }

    /// Where the last literal sits in [`Self::message_bytes`].
    pub fn last_literal_range(&self) -> Option<Range<usize>> {
        self.literal_ranges().last().cloned()
    }

    /// Where the literals of the current command sit in [`Self::message_bytes`], in order.
    pub fn literal_ranges(&self) -> &[Range<usize>] {
        let held = self.framer.message_bytes().len();
        let whole = self.literals.partition_point(|range| range.end <= held);
        &self.literals[..whole]
    }

    /// Bytes the current command may still grow by before it is too long.
    pub fn room_left(&self) -> u64 {
        u64::from(self.max_message).saturating_sub(self.framer.message_bytes().len() as u64)
    }

    pub fn is_message_truncated(&self) -> bool {
        self.framer.is_max_message_size_exceeded()
    }

    /// Accepts an announced literal; a synchronizing one gets the continuation request.
    pub async fn accept_literal(&mut self, sync: bool) -> io::Result<()> {
        self.in_literal = true;
        if sync {
            self.push(b"+ Ready for literal data\r\n");
            self.flush().await?;
        }
        Ok(())
    }

    /// Drops the current command after refusing its synchronizing literal (the client will
    /// not send the literal, so the next line is a new command).
    pub fn reject_literal(&mut self) {
        self.framer.skip_message();
        self.line_start = 0;
        self.in_literal = false;
        self.literals.clear();
        self.discarding = false;
    }

    /// Reads the rest of the current, already answered command (its announced literal
    /// included) and drops it; the framer keeps at most `max_message` bytes of it meanwhile.
    pub fn discard_message(&mut self) {
        self.framer.poison_message();
        self.in_literal = true;
        self.discarding = true;
    }

    /// Upgrades a plain stream to TLS. Bytes the client pipelined after STARTTLS are dropped
    /// (they were sent in clear and must not be taken as protected commands).
    pub async fn start_tls(&mut self, acceptor: &tokio_rustls::TlsAcceptor) -> io::Result<()> {
        self.flush().await?;
        self.stream
            .start_tls(acceptor, TLS_HANDSHAKE_TIMEOUT)
            .await?;
        self.framer = Fragmentizer::new(self.max_message);
        self.start_next_message();
        Ok(())
    }

    /// Appends response bytes to the output buffer.
    pub fn push(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    pub fn push_str(&mut self, text: &str) {
        self.push(text.as_bytes());
    }

    /// Appends formatted text straight to the output buffer (`write!(conn, ..)`), with no
    /// string allocated per response line.
    pub fn push_fmt(&mut self, args: std::fmt::Arguments<'_>) {
        // Writing into a Vec cannot fail.
        let _ = std::io::Write::write_fmt(&mut self.out, args);
    }

    /// Writes one untagged line: `* {text}\r\n`.
    pub fn untagged(&mut self, text: &str) {
        self.push(b"* ");
        self.push_str(text);
        self.push(b"\r\n");
    }

    /// Writes one tagged line: `{tag} {text}\r\n`.
    pub fn tagged(&mut self, tag: &str, text: &str) {
        self.push_str(tag);
        self.push(b" ");
        self.push_str(text);
        self.push(b"\r\n");
    }

    pub fn pending_output(&self) -> usize {
        self.out.len()
    }

    /// Writes a synchronizing literal whose content comes in pieces. A small one joins the
    /// output buffer, so the response leaves in one write with what follows it (a write per
    /// piece cost more in wake-ups than the copy); a big one is written piece by piece,
    /// never joined. NUL may not appear in an IMAP literal: it goes out as 0x80 (as Dovecot
    /// does).
    pub async fn write_literal(&mut self, chunks: &[bytes::Bytes]) -> io::Result<()> {
        let length: u64 = chunks.iter().map(|c| c.len() as u64).sum();
        self.push_fmt(format_args!("{{{length}}}\r\n"));
        let buffered = length <= BUFFERED_LITERAL;
        if !buffered {
            self.write_out().await?;
        }
        for chunk in chunks {
            let cleaned = if chunk.contains(&0) {
                std::borrow::Cow::Owned(
                    chunk
                        .iter()
                        .map(|&b| if b == 0 { 0x80 } else { b })
                        .collect(),
                )
            } else {
                std::borrow::Cow::Borrowed(chunk.as_ref())
            };
            if buffered {
                self.push(&cleaned);
            } else {
                self.write_raw(&cleaned).await?;
            }
        }
        Ok(())
    }

    /// Writes to the stream, through the compressor once COMPRESS is active.
    async fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.deflate.as_mut() {
            Some(deflate) => {
                let compressed = deflate.compress(bytes, FlushCompress::None)?;
                self.stream.write_all(&compressed).await
            }
            None => self.stream.write_all(bytes).await,
        }
    }

    async fn write_out(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            let out = std::mem::take(&mut self.out);
            let written = self.write_raw(&out).await;
            self.out = out;
            written?;
            self.out.clear();
            if self.out.capacity() > KEEP_CAPACITY {
                self.out = Vec::new();
            }
        }
        Ok(())
    }

    /// Sends everything buffered.
    pub async fn flush(&mut self) -> io::Result<()> {
        self.write_out().await?;
        if let Some(deflate) = self.deflate.as_mut().filter(|d| d.unflushed) {
            // A sync flush ends the burst on a byte boundary the client can decode now.
            let tail = deflate.compress(&[], FlushCompress::Sync)?;
            self.stream.write_all(&tail).await?;
        }
        self.stream.flush().await
    }

    pub async fn shutdown(&mut self) {
        let _ = self.flush().await;
        let _ = self.stream.shutdown().await;
    }
}
