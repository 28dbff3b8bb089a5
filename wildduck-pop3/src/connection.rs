//! Line framing over a plain or TLS socket, buffered responses, and the STLS upgrade.
//!
//! Commands are read into one buffer and handed out line by line, so several commands that
//! arrive in one packet (PIPELINING) are answered in order; responses are buffered and only
//! flushed when no further complete command is waiting.

use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio_rustls::TlsAcceptor;
use wildduck_net::Stream;

/// One unit of client input.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A command line without its line ending.
    Line(Bytes),
    /// A line longer than the limit; its bytes were discarded.
    TooLong,
}

/// A client connection: framed input, buffered output.
pub(crate) struct Connection {
    stream: BufWriter<Stream>,
    input: BytesMut,
    max_line_length: usize,
    /// Set while skipping the rest of an over-long line.
    discarding: bool,
    /// How long one write may stall before the client counts as gone.
    write_timeout: Duration,
}

impl Connection {
    pub(crate) fn new(stream: Stream, max_line_length: usize, write_timeout: Duration) -> Self {
        Self {
            stream: BufWriter::new(stream),
            input: BytesMut::with_capacity(512),
            max_line_length,
            discarding: false,
            write_timeout,
        }
    }

    pub(crate) fn is_tls(&self) -> bool {
        self.stream.get_ref().is_tls()
    }

    /// Whether a complete command is already buffered (then responses are not flushed yet).
    pub(crate) fn has_buffered_line(&self) -> bool {
        !self.discarding && self.input.contains(&b'\n')
    }

    /// Reads the next frame; `None` when the client closed the connection.
    /// Cancel-safe: bytes read so far stay in the buffer.
    pub(crate) async fn read_frame(&mut self) -> io::Result<Option<Frame>> {
        loop {
            if let Some(frame) = self.take_frame() {
                return Ok(Some(frame));
            }
            if self.stream.read_buf(&mut self.input).await? == 0 {
                return Ok(None);
            }
        }
    }

    /// Takes one frame from the buffer if a complete one is there.
    fn take_frame(&mut self) -> Option<Frame> {
        match self.input.iter().position(|&b| b == b'\n') {
            Some(end) => {
                let mut line = self.input.split_to(end + 1);
                if std::mem::take(&mut self.discarding) || line.len() > self.max_line_length {
                    return Some(Frame::TooLong);
                }
                line.truncate(end);
                if line.last() == Some(&b'\r') {
                    line.truncate(end - 1);
                }
                Some(Frame::Line(line.freeze()))
            }
            None => {
                if self.input.len() >= self.max_line_length {
                    // Keep memory bounded: forget the partial line, answer once it ends.
                    self.discarding = true;
                    self.input.clear();
                }
                None
            }
        }
    }

    /// Queues bytes for the client.
    pub(crate) async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let write = self.stream.write_all(bytes);
        tokio::time::timeout(self.write_timeout, write)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "client stopped reading"))?
    }

    /// Queues `+OK text`.
    pub(crate) async fn ok(&mut self, text: &str) -> io::Result<()> {
        self.line("+OK", text).await
    }

    /// Queues `-ERR text`.
    pub(crate) async fn err(&mut self, text: &str) -> io::Result<()> {
        self.line("-ERR", text).await
    }

    async fn line(&mut self, status: &str, text: &str) -> io::Result<()> {
        let line = if text.is_empty() {
            format!("{status}\r\n")
        } else {
            format!("{status} {text}\r\n")
        };
        self.write(line.as_bytes()).await
    }

    /// Sends everything queued.
    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        tokio::time::timeout(self.write_timeout, self.stream.flush())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "client stopped reading"))?
    }

    /// Switches a plain connection to TLS (STLS). Input the client sent after the STLS
    /// command is dropped: it was not protected and must not be executed (RFC 2595 §3.1
    /// warns about such injection).
    pub(crate) async fn upgrade(&mut self, acceptor: &TlsAcceptor) -> io::Result<()> {
        self.flush().await?;
        self.input.clear();
        self.discarding = false;
        // Flushed: the writer's buffer is empty, the socket underneath can change.
        self.stream
            .get_mut()
            .start_tls(acceptor, self.write_timeout)
            .await
    }

    /// Flushes and closes the write side.
    pub(crate) async fn close(&mut self) -> io::Result<()> {
        self.flush().await?;
        self.stream.shutdown().await
    }
}
