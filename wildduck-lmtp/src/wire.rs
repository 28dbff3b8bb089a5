//! SMTP wire framing shared by LMTP and submission: command lines with a length
//! limit, DATA bodies (dot-unstuffed by smtp-proto's `DataReceiver`) and BDAT chunks into a
//! bounded buffer, and replies with enhanced status codes.
//!
//! Input is read into one buffer and handed out a command at a time; replies are queued and
//! flushed only when the next read would wait, so a pipelined batch (RFC 2920) is answered
//! in one write, in order. Every read and write waits at most the idle timeout.

use std::borrow::Cow;
use std::io;
use std::time::Duration;

use smtp_proto::request::receiver::{DataReceiver, DummyDataReceiver};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How much one socket read asks for.
const READ_CHUNK: usize = 16 * 1024;

/// One reply: code, enhanced status code (RFC 3463), text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub status: &'static str,
    pub text: Cow<'static, str>,
}

impl Reply {
    pub fn new(code: u16, status: &'static str, text: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            status,
            text: text.into(),
        }
    }

    /// What the reply means for a message, as metrics label it.
    pub fn outcome(&self) -> &'static str {
        match self.code {
            200..=299 => "accepted",
            400..=499 => "deferred",
            _ => "rejected",
        }
    }
}

/// One command line from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum CommandLine {
    /// The line with its line ending.
    Line(Vec<u8>),
    /// A line longer than the limit; its bytes were read and dropped.
    TooLong,
}

/// A message body read after DATA or BDAT.
#[derive(Debug, PartialEq, Eq)]
pub enum Body {
    Complete(Vec<u8>),
    /// Longer than the limit: read to its end and dropped.
    TooBig,
}

/// The framing over one connection's stream.
pub struct Wire<S> {
    stream: S,
    /// Read but not yet consumed.
    input: Vec<u8>,
    /// Replies not yet written.
    output: Vec<u8>,
    max_line: usize,
    idle: Duration,
    /// Dropping the rest of an over-long line.
    skipping_line: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Wire<S> {
    pub fn new(stream: S, max_line: usize, idle: Duration) -> Self {
        Self {
            stream,
            input: Vec::new(),
            output: Vec::new(),
            max_line,
            idle,
            skipping_line: false,
        }
    }

    /// The next command line, or `None` when the client closed the connection.
    pub async fn read_line(&mut self) -> io::Result<Option<CommandLine>> {
        loop {
            if let Some(end) = memchr::memchr(b'\n', &self.input) {
                let line: Vec<u8> = self.input.drain(..=end).collect();
                if std::mem::take(&mut self.skipping_line) || line.len() > self.max_line {
                    return Ok(Some(CommandLine::TooLong));
                }
                return Ok(Some(CommandLine::Line(line)));
            }
            if self.input.len() > self.max_line {
                self.input.clear();
                self.skipping_line = true;
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// A DATA body up to the terminating `.` line, dot-unstuffed; longer than `limit` bytes
    /// it is read to its end and dropped.
    pub async fn read_data(&mut self, limit: usize) -> io::Result<Body> {
        let mut receiver = DataReceiver::new();
        let mut body = Vec::new();
        // The receiver unstuffs a dot (and sees the end) only after a CRLF it has seen:
        // show it the one that ended the DATA command, so the first line counts too.
        receiver.ingest(&mut b"\r\n".iter(), &mut body);
        body.clear();
        loop {
            let mut bytes = self.input.iter();
            let done = receiver.ingest(&mut bytes, &mut body);
            let consumed = self.input.len() - bytes.len();
            self.input.drain(..consumed);
            if body.len() > limit {
                if done {
                    return Ok(Body::TooBig);
                }
                drop(body);
                let mut discard = DummyDataReceiver::new_data(&receiver);
                loop {
                    let mut bytes = self.input.iter();
                    let done = discard.ingest(&mut bytes);
                    let consumed = self.input.len() - bytes.len();
                    self.input.drain(..consumed);
                    if done {
                        return Ok(Body::TooBig);
                    }
                    self.fill_or_eof().await?;
                }
            }
            if done {
                return Ok(Body::Complete(body));
            }
            self.fill_or_eof().await?;
        }
    }

    /// Exactly `size` bytes of a BDAT chunk, appended to `sink`, or dropped when `sink` is
    /// `None`.
    pub async fn read_chunk(
        &mut self,
        size: usize,
        mut sink: Option<&mut Vec<u8>>,
    ) -> io::Result<()> {
        let mut left = size;
        loop {
            let take = left.min(self.input.len());
            if let Some(sink) = sink.as_deref_mut() {
                sink.extend_from_slice(&self.input[..take]);
            }
            self.input.drain(..take);
            left -= take;
            if left == 0 {
                return Ok(());
            }
            self.fill_or_eof().await?;
        }
    }

    /// Queues a one-line reply.
    pub fn reply(&mut self, reply: &Reply) {
        let line = format!("{} {} {}\r\n", reply.code, reply.status, reply.text);
        self.output.extend_from_slice(line.as_bytes());
    }

    /// Queues a reply without an enhanced code, one line or several (the greeting, LHLO).
    pub fn reply_lines(&mut self, code: u16, lines: &[String]) {
        for (index, line) in lines.iter().enumerate() {
            let separator = if index + 1 == lines.len() { ' ' } else { '-' };
            let line = format!("{code}{separator}{line}\r\n");
            self.output.extend_from_slice(line.as_bytes());
        }
    }

    /// Writes the queued replies. Cancel-safe: what is not yet written stays queued.
    pub async fn flush(&mut self) -> io::Result<()> {
        while !self.output.is_empty() {
            let written = tokio::time::timeout(self.idle, self.stream.write(&self.output))
                .await
                .map_err(|_| timed_out())??;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.output.drain(..written);
        }
        tokio::time::timeout(self.idle, self.stream.flush())
            .await
            .map_err(|_| timed_out())?
    }

    /// Flushes the queued replies and closes the write side.
    pub async fn close(&mut self) -> io::Result<()> {
        self.flush().await?;
        tokio::time::timeout(self.idle, self.stream.shutdown())
            .await
            .unwrap_or(Ok(()))
    }

    /// Tells a client the listener has no room for it (`421`, as LMTP and submission both
    /// answer over the connection limit) and closes.
    pub async fn turn_away(mut self) -> io::Result<()> {
        self.reply(&Reply::new(
            421,
            "4.3.2",
            "Too many connections, try again later",
        ));
        self.close().await
    }

    /// The stream under the framing, for a STARTTLS upgrade. Flush the replies and
    /// [`discard_input`](Self::discard_input) first.
    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Drops what the client sent that was not read yet: after STARTTLS, commands sent in
    /// clear before the handshake must not count as protected (RFC 3207 §4.2).
    pub fn discard_input(&mut self) {
        self.input.clear();
        self.skipping_line = false;
    }

    /// Reads more input (flushing replies first: the client may wait for them).
    /// `false` at the end of the stream.
    async fn fill(&mut self) -> io::Result<bool> {
        self.flush().await?;
        self.input.reserve(READ_CHUNK);
        let idle = self.idle;
        let read = tokio::time::timeout(idle, self.stream.read_buf(&mut self.input))
            .await
            .map_err(|_| timed_out())??;
        Ok(read > 0)
    }

    /// Like `fill`, where the end of the stream cuts a body short.
    async fn fill_or_eof(&mut self) -> io::Result<()> {
        if self.fill().await? {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside a message body",
            ))
        }
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "idle timeout")
}
