//! How the benchmark's clients use their sockets.

use std::io;

use clap::ValueEnum;
use tokio::net::TcpStream;

/// The socket behaviour of the simulated client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ClientStyle {
    /// TCP_NODELAY on: every write leaves at once. What a client tuned for latency does.
    Tuned,
    /// Nagle's algorithm on, as imaplib, Thunderbird and most mail libraries leave it: a small
    /// write waits for the ACK of the previous one. An APPEND's literal and its closing CRLF are
    /// two writes in both styles, so a server that delays its ACKs stalls this client only.
    Stock,
}

impl ClientStyle {
    pub async fn connect(self, addr: std::net::SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(self == ClientStyle::Tuned)?;
        Ok(stream)
    }
}
