//! A small SMTP client for the smarthost: one transaction per queue entry, every recipient's
//! own RCPT reply kept, so the queue can settle each recipient on its own (a client library
//! that fails the whole message on one refused recipient could not). TLS from the first
//! byte or by STARTTLS, and AUTH PLAIN or LOGIN, never in clear beyond loopback.

use std::io;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use wildduck_store::RelayReply;

use super::Credentials;

/// Longest reply accepted from the relay, all its lines together.
const MAX_REPLY_BYTES: usize = 64 * 1024;

/// How the connection to the smarthost is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Security {
    /// TLS from the first byte (`smtps://`).
    Implicit,
    /// STARTTLS when the relay offers it; `required`: never go on without it.
    StartTls { required: bool },
}

/// Where and how to reach the smarthost.
#[derive(Clone)]
pub(crate) struct Smarthost {
    /// `host:port`.
    pub(crate) address: String,
    /// The name the relay's certificate must carry: the host of `address`.
    pub(crate) server_name: ServerName<'static>,
    /// The name this server gives in EHLO.
    pub(crate) helo_name: String,
    /// Longest wait for the connection, the TLS handshake or any one reply.
    pub(crate) timeout: Duration,
    pub(crate) security: Security,
    /// Trusts the public roots and `[outbound] relay_ca_file`.
    pub(crate) tls: TlsConnector,
    pub(crate) credentials: Option<Credentials>,
}

/// One message for the relay.
pub(crate) struct Envelope<'a> {
    pub(crate) sender: &'a str,
    pub(crate) recipients: Vec<&'a str>,
    pub(crate) raw: &'a [u8],
}

/// Sends `envelope` and returns one reply per recipient, in order: its RCPT refusal, or the
/// reply to the data for the recipients the relay took. A failure before the relay answered
/// for a recipient (connection refused, lost, timed out) is a made-up `451 4.4.1`.
pub(crate) async fn send(smarthost: &Smarthost, envelope: &Envelope<'_>) -> Vec<RelayReply> {
    let mut replies: Vec<Option<RelayReply>> = vec![None; envelope.recipients.len()];
    let why = match transaction(smarthost, envelope, &mut replies).await {
        Ok(()) => "the relay gave no reply".to_string(),
        Err(err) => {
            tracing::info!(relay = %smarthost.address, error = %err, "relay attempt failed");
            err.to_string()
        }
    };
    let unsettled = RelayReply {
        code: 451,
        text: format!("4.4.1 relay {} not reached: {why}", smarthost.address),
    };
    replies
        .into_iter()
        .map(|reply| reply.unwrap_or_else(|| unsettled.clone()))
        .collect()
}

/// The SMTP dialogue; fills `replies` as the relay answers.
async fn transaction(
    smarthost: &Smarthost,
    envelope: &Envelope<'_>,
    replies: &mut [Option<RelayReply>],
) -> io::Result<()> {
    let mut relay = connect(smarthost).await?;
    relay.authenticate(smarthost).await?;
    let utf8 = if envelope.sender.is_ascii() && envelope.recipients.iter().all(|r| r.is_ascii()) {
        ""
    } else {
        " SMTPUTF8"
    };
    let mail = relay
        .command(&format!(
            "MAIL FROM:<{}> BODY=8BITMIME{utf8}\r\n",
            envelope.sender
        ))
        .await?;
    if mail.code / 100 != 2 {
        // Every recipient shares the sender's fate.
        for reply in replies.iter_mut() {
            *reply = Some(mail.clone());
        }
        return relay.quit().await;
    }
    let mut accepted = Vec::new();
    for (index, recipient) in envelope.recipients.iter().enumerate() {
        let reply = relay.command(&format!("RCPT TO:<{recipient}>\r\n")).await?;
        if reply.code / 100 == 2 {
            accepted.push(index);
        } else {
            replies[index] = Some(reply);
        }
    }
    if accepted.is_empty() {
        return relay.quit().await;
    }
    let data = relay.command("DATA\r\n").await?;
    let outcome = if data.code == 354 {
        relay.send_data(envelope.raw).await?;
        relay.reply().await?
    } else {
        data
    };
    for index in accepted {
        replies[index] = Some(outcome.clone());
    }
    relay.quit().await
}

/// Connects, greets, and protects the connection as `smarthost.security` asks; the
/// connection is then in the state after EHLO.
async fn connect(smarthost: &Smarthost) -> io::Result<Connection> {
    let socket = within(smarthost.timeout, TcpStream::connect(&smarthost.address)).await??;
    socket.set_nodelay(true)?;
    let loopback = socket.peer_addr()?.ip().is_loopback();
    let mut relay = match smarthost.security {
        Security::Implicit => Connection::new(handshake(smarthost, Box::new(socket)).await?),
        Security::StartTls { .. } => Connection::new(Box::new(socket)),
    }
    .with_timeout(smarthost.timeout);
    relay.encrypted = smarthost.security == Security::Implicit;
    relay.loopback = loopback;
    relay.expect(220, "greeting").await?;
    relay.ehlo(&smarthost.helo_name).await?;
    if let Security::StartTls { required } = smarthost.security {
        if relay.offers("STARTTLS") {
            let reply = relay.command("STARTTLS\r\n").await?;
            require(reply, 220, "STARTTLS")?;
            relay = relay.start_tls(smarthost).await?;
            relay.ehlo(&smarthost.helo_name).await?;
        } else if required {
            return Err(refused("the relay does not offer STARTTLS"));
        }
    }
    Ok(relay)
}

async fn handshake(smarthost: &Smarthost, socket: Socket) -> io::Result<Socket> {
    let tls = within(
        smarthost.timeout,
        smarthost.tls.connect(smarthost.server_name.clone(), socket),
    )
    .await??;
    Ok(Box::new(tls))
}

/// A connection to the relay, plain or TLS.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}
pub(crate) type Socket = Box<dyn Stream>;

struct Connection {
    stream: BufReader<Socket>,
    timeout: Duration,
    /// The EHLO reply's lines after the first: the extensions the relay offers.
    extensions: Vec<String>,
    encrypted: bool,
    loopback: bool,
}

impl Connection {
    fn new(socket: Socket) -> Self {
        Self {
            stream: BufReader::new(socket),
            timeout: Duration::ZERO,
            extensions: Vec::new(),
            encrypted: false,
            loopback: false,
        }
    }

    async fn ehlo(&mut self, helo_name: &str) -> io::Result<()> {
        let (code, mut lines) = self.command_lines(&format!("EHLO {helo_name}\r\n")).await?;
        if code != 250 {
            return Err(invalid(format!("EHLO answered {code} {}", lines.join(" "))));
        }
        lines.remove(0);
        self.extensions = lines;
        Ok(())
    }

    /// The relay's EHLO offers `keyword` (with or without parameters).
    fn offers(&self, keyword: &str) -> bool {
        self.extension(keyword).is_some()
    }

    /// The parameters of extension `keyword`, when the relay offers it.
    fn extension(&self, keyword: &str) -> Option<Vec<&str>> {
        self.extensions.iter().find_map(|line| {
            let mut words = line.split_ascii_whitespace();
            words
                .next()
                .filter(|word| word.eq_ignore_ascii_case(keyword))
                .map(|_| words.collect())
        })
    }

    /// Upgrades to TLS after the relay's `220` to STARTTLS. Bytes the relay sent before the
    /// handshake would be read as protected afterwards: refused.
    async fn start_tls(self, smarthost: &Smarthost) -> io::Result<Self> {
        if !self.stream.buffer().is_empty() {
            return Err(invalid(
                "the relay sent data before the TLS handshake".into(),
            ));
        }
        let socket = handshake(smarthost, self.stream.into_inner()).await?;
        Ok(Self {
            encrypted: true,
            ..Self::new(socket)
        }
        .with_timeout(self.timeout))
    }

    fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// AUTH with the configured credentials: PLAIN if offered, else LOGIN. Credentials are
    /// only sent over TLS or to a relay on loopback.
    async fn authenticate(&mut self, smarthost: &Smarthost) -> io::Result<()> {
        let Some(credentials) = &smarthost.credentials else {
            return Ok(());
        };
        if !self.encrypted && !self.loopback {
            return Err(refused(
                "credentials are not sent over an unencrypted connection",
            ));
        }
        let mechanisms = self.extension("AUTH").unwrap_or_default();
        let offered = |name: &str| mechanisms.iter().any(|m| m.eq_ignore_ascii_case(name));
        let reply = if offered("PLAIN") {
            let token = format!("\0{}\0{}", credentials.user, credentials.password);
            self.command(&format!("AUTH PLAIN {}\r\n", BASE64.encode(token)))
                .await?
        } else if offered("LOGIN") {
            let reply = self.command("AUTH LOGIN\r\n").await?;
            require(reply, 334, "AUTH LOGIN")?;
            let reply = self
                .command(&format!("{}\r\n", BASE64.encode(&credentials.user)))
                .await?;
            require(reply, 334, "AUTH LOGIN user name")?;
            self.command(&format!("{}\r\n", BASE64.encode(&credentials.password)))
                .await?
        } else {
            return Err(refused(
                "the relay offers neither AUTH PLAIN nor AUTH LOGIN",
            ));
        };
        require(reply, 235, "AUTH")
    }

    async fn command(&mut self, line: &str) -> io::Result<RelayReply> {
        self.command_lines(line).await.map(joined)
    }

    async fn expect(&mut self, code: u16, what: &str) -> io::Result<()> {
        let reply = self.reply().await?;
        require(reply, code, what)
    }

    /// The message, dot-stuffed with CRLF line endings, and the final dot.
    async fn send_data(&mut self, raw: &[u8]) -> io::Result<()> {
        let data = dot_stuffed(raw);
        within(self.timeout, self.stream.get_mut().write_all(&data)).await?
    }

    /// Sends `line`; the reply's code and its lines' texts apart.
    async fn command_lines(&mut self, line: &str) -> io::Result<(u16, Vec<String>)> {
        within(
            self.timeout,
            self.stream.get_mut().write_all(line.as_bytes()),
        )
        .await??;
        self.reply_lines().await
    }

    async fn reply(&mut self) -> io::Result<RelayReply> {
        self.reply_lines().await.map(joined)
    }

    async fn reply_lines(&mut self) -> io::Result<(u16, Vec<String>)> {
        let mut lines = Vec::new();
        let mut total = 0;
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = within(self.timeout, self.stream.read_until(b'\n', &mut line)).await??;
            if read == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\r', '\n']);
            let code = line
                .get(..3)
                .and_then(|code| code.parse::<u16>().ok())
                .filter(|code| (200..600).contains(code))
                .ok_or_else(|| invalid(format!("not an SMTP reply: {line:?}")))?;
            let text = line.get(4..).unwrap_or("");
            total += text.len() + 1;
            if total > MAX_REPLY_BYTES {
                return Err(invalid("reply too long".into()));
            }
            lines.push(text.to_string());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, lines));
            }
        }
    }

    /// Ends politely; the outcome is already known, so a failing QUIT changes nothing.
    async fn quit(mut self) -> io::Result<()> {
        let _ = self.command("QUIT\r\n").await;
        Ok(())
    }
}

/// A reply as the queue keeps it: its lines' texts joined by spaces.
fn joined((code, lines): (u16, Vec<String>)) -> RelayReply {
    RelayReply {
        code,
        text: lines.join(" "),
    }
}

fn require(reply: RelayReply, code: u16, what: &str) -> io::Result<()> {
    if reply.code == code {
        return Ok(());
    }
    Err(invalid(format!(
        "{what} answered {} {}",
        reply.code, reply.text
    )))
}

/// A setting of ours the relay's offer does not meet: retried, as the relay may change.
fn refused(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, message.to_string())
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

async fn within<F: Future>(timeout: Duration, future: F) -> io::Result<F::Output> {
    tokio::time::timeout(timeout, future)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the relay did not answer in time"))
}

/// `raw` as SMTP DATA: every line ending CRLF (a bare LF gains its CR), a leading dot
/// doubled, then `.` CRLF.
fn dot_stuffed(raw: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(raw.len() + raw.len() / 64 + 5);
    for line in raw.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            data.push(b'.');
        }
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        data.extend_from_slice(content);
        data.extend_from_slice(b"\r\n");
    }
    data.extend_from_slice(b".\r\n");
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_dot_stuffed_with_crlf_and_terminated() {
        assert_eq!(
            dot_stuffed(b"a\r\n.b\n..c\r\nlast"),
            b"a\r\n..b\r\n...c\r\nlast\r\n.\r\n"
        );
        assert_eq!(dot_stuffed(b""), b".\r\n");
    }
}
