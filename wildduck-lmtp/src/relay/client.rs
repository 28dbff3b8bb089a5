//! A small SMTP client for the smarthost: one transaction per queue entry, every recipient's
//! own RCPT reply kept, so the queue can settle each recipient on its own (a client library
//! that fails the whole message on one refused recipient could not). Plain TCP to a relay
//! on loopback or a private network.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use wildduck_store::RelayReply;

/// Longest reply accepted from the relay, all its lines together.
const MAX_REPLY_BYTES: usize = 64 * 1024;

/// Where and how to reach the smarthost.
#[derive(Clone, Debug)]
pub(crate) struct Smarthost {
    pub(crate) address: String,
    /// The name this server gives in EHLO.
    pub(crate) helo_name: String,
    /// Longest wait for the connection or any one reply.
    pub(crate) timeout: Duration,
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
    let socket = within(smarthost.timeout, TcpStream::connect(&smarthost.address)).await??;
    socket.set_nodelay(true)?;
    let mut relay = Connection {
        stream: BufReader::new(socket),
        timeout: smarthost.timeout,
    };
    relay.expect(220, "greeting").await?;
    relay
        .command(&format!("EHLO {}\r\n", smarthost.helo_name))
        .await
        .and_then(|reply| require(reply, 250, "EHLO"))?;
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

struct Connection {
    stream: BufReader<TcpStream>,
    timeout: Duration,
}

impl Connection {
    async fn command(&mut self, line: &str) -> io::Result<RelayReply> {
        within(
            self.timeout,
            self.stream.get_mut().write_all(line.as_bytes()),
        )
        .await??;
        self.reply().await
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

    /// One reply, its lines' texts joined by spaces.
    async fn reply(&mut self) -> io::Result<RelayReply> {
        let mut text = String::new();
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
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(line.get(4..).unwrap_or(""));
            if text.len() > MAX_REPLY_BYTES {
                return Err(invalid("reply too long".into()));
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(RelayReply { code, text });
            }
        }
    }

    /// Ends politely; the outcome is already known, so a failing QUIT changes nothing.
    async fn quit(mut self) -> io::Result<()> {
        let _ = self.command("QUIT\r\n").await;
        Ok(())
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
