//! A client socket, plain or TLS, upgradable in place.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A client connection, plain or TLS. A session reads and writes it without caring which;
/// [`Stream::start_tls`] turns a plain one into TLS for STARTTLS-style commands.
pub struct Stream(Inner);

enum Inner {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// The socket is in a TLS handshake (or the handshake failed): nothing to read or write.
    Upgrading,
}

fn upgrading() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "stream is being upgraded to TLS",
    )
}

impl Stream {
    /// A plain TCP connection.
    pub fn plain(socket: TcpStream) -> Self {
        Self(Inner::Plain(socket))
    }

    /// Runs the server side of a TLS handshake on `socket`, at most `timeout` long.
    pub async fn tls(
        socket: TcpStream,
        acceptor: &TlsAcceptor,
        timeout: Duration,
    ) -> io::Result<Self> {
        let tls = tokio::time::timeout(timeout, acceptor.accept(socket))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        Ok(Self(Inner::Tls(Box::new(tls))))
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.0, Inner::Tls(_))
    }

    /// Upgrades a plain stream to TLS (STARTTLS, STLS). The caller has flushed its answer and
    /// dropped whatever it buffered from the client: bytes sent in clear before the
    /// handshake must not count as protected. An error leaves the stream unusable.
    pub async fn start_tls(&mut self, acceptor: &TlsAcceptor, timeout: Duration) -> io::Result<()> {
        match std::mem::replace(&mut self.0, Inner::Upgrading) {
            Inner::Plain(socket) => {
                *self = Self::tls(socket, acceptor, timeout).await?;
                Ok(())
            }
            other => {
                let already_tls = matches!(other, Inner::Tls(_));
                self.0 = other;
                Err(if already_tls {
                    io::Error::new(io::ErrorKind::InvalidInput, "TLS is already active")
                } else {
                    upgrading()
                })
            }
        }
    }
}

/// Asks the kernel to acknowledge the next bytes from the client at once.
///
/// A client with Nagle's algorithm on (imaplib, Thunderbird, most libraries) writes an IMAP
/// literal and the CRLF that ends its command apart, and holds the CRLF until the literal is
/// acknowledged; Linux delays that ACK up to 40 ms while the server has nothing to send, so every
/// APPEND waited ~44 ms. Dovecot sets TCP_QUICKACK before each read for the same reason. The
/// flag is not sticky (the kernel drops back to delayed ACKs after our own writes), so it is set
/// before every read, for every protocol; a failure only costs speed.
fn ack_promptly(tcp: &TcpStream) {
    #[cfg(target_os = "linux")]
    let _ = socket2::SockRef::from(tcp).set_tcp_quickack(true);
    #[cfg(not(target_os = "linux"))]
    let _ = tcp;
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Inner::Plain(s) => {
                ack_promptly(s);
                Pin::new(s).poll_read(cx, buf)
            }
            Inner::Tls(s) => {
                ack_promptly(s.get_ref().0);
                Pin::new(s.as_mut()).poll_read(cx, buf)
            }
            Inner::Upgrading => Poll::Ready(Err(upgrading())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().0 {
            Inner::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Inner::Upgrading => Poll::Ready(Err(upgrading())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Inner::Plain(s) => Pin::new(s).poll_flush(cx),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Inner::Upgrading => Poll::Ready(Err(upgrading())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Inner::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Inner::Upgrading => Poll::Ready(Err(upgrading())),
        }
    }
}
