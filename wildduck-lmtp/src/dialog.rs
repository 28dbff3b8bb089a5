//! What every SMTP-family session (LMTP, submission) does the same way around its commands:
//! the loop that reads a command line at a time, the end of a session at shutdown, at the
//! idle timeout or after too many bad commands, the BDAT chunks of one transaction, and the
//! replies to what `smtp-proto` could not parse. The sessions decide only what a command
//! means.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;
use wildduck_net::{Shutdown, Stream};
use wildduck_store::{AddressError, AuthError, Error, MessageError, UserError};

use crate::wire::{Body, CommandLine, Reply, Wire};

/// Longest piece of client input quoted back in a reply.
const MAX_QUOTED_CHARS: usize = 64;

/// Longest wait for a client's TLS handshake after STARTTLS.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// STARTTLS (RFC 3207) on a plain connection: `220`, pipelined input dropped, the
/// handshake. On `Ok(Ok(()))` the caller forgets its greeting and transaction (§4.2: the
/// client starts over). Refused with `503` when TLS is active, `502` without a certificate.
pub(crate) async fn start_tls(
    wire: &mut Wire<Stream>,
    acceptor: Option<&TlsAcceptor>,
) -> io::Result<Result<(), Reply>> {
    if wire.stream_mut().is_tls() {
        return Ok(Err(Reply::new(503, "5.5.1", "TLS is already active")));
    }
    let Some(acceptor) = acceptor else {
        return Ok(Err(Reply::new(502, "5.5.1", "STARTTLS is not available")));
    };
    wire.reply(&Reply::new(220, "2.0.0", "Ready to start TLS"));
    wire.flush().await?;
    wire.discard_input();
    wire.stream_mut()
        .start_tls(acceptor, TLS_HANDSHAKE_TIMEOUT)
        .await?;
    Ok(Ok(()))
}

/// What the session does after a command.
pub(crate) enum Next {
    Continue,
    Close,
}

/// The wire of one session with its shutdown signal and its count of bad commands.
pub(crate) struct Dialog<S> {
    pub(crate) wire: Wire<S>,
    shutdown: Shutdown,
    bad_commands: u32,
    max_bad_commands: u32,
}

/// What the loop reads next.
enum Input {
    Line(Vec<u8>),
    TooLong,
    Closed,
    ShuttingDown,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Dialog<S> {
    pub(crate) fn new(wire: Wire<S>, shutdown: Shutdown, max_bad_commands: u32) -> Self {
        Self {
            wire,
            shutdown,
            bad_commands: 0,
            max_bad_commands,
        }
    }

    /// A refused command: the reply, and the session ends once there were too many.
    pub(crate) fn bad(&mut self, reply: Reply) -> Next {
        self.wire.reply(&reply);
        self.bad_commands += 1;
        if self.bad_commands >= self.max_bad_commands {
            self.wire.reply(&Reply::new(
                421,
                "4.7.0",
                "Too many errors, closing connection",
            ));
            return Next::Close;
        }
        Next::Continue
    }

    async fn next_input(&mut self) -> io::Result<Input> {
        tokio::select! {
            _ = self.shutdown.requested() => Ok(Input::ShuttingDown),
            line = self.wire.read_line() => Ok(match line? {
                Some(CommandLine::Line(line)) => Input::Line(line),
                Some(CommandLine::TooLong) => Input::TooLong,
                None => Input::Closed,
            }),
        }
    }
}

/// A protocol's state machine over a [`Dialog`].
pub(crate) trait Commands {
    type Stream: AsyncRead + AsyncWrite + Unpin;

    fn dialog(&mut self) -> &mut Dialog<Self::Stream> {
        self.parts().0
    }

    /// Answers one command line (its replies queued on the wire).
    async fn command(&mut self, line: &[u8]) -> io::Result<Next>;

    /// What MAIL and RCPT have gathered: the message body comes to it.
    type Transaction: Envelope;

    /// The dialog and the transaction at once (a BDAT chunk goes from one into the other).
    fn parts(&mut self) -> (&mut Dialog<Self::Stream>, &mut Option<Self::Transaction>);

    fn transaction(&mut self) -> &mut Option<Self::Transaction> {
        self.parts().1
    }

    /// The largest message body accepted, in bytes.
    fn body_limit(&self) -> usize;

    /// Takes the body (or the news that it was too big) and answers; the transaction ends.
    async fn finish(&mut self, transaction: Self::Transaction, body: Body);

    /// Why the message data can not come now, if it can not.
    fn data_refusal(&mut self) -> Option<Reply> {
        match self.transaction() {
            None => Some(Reply::new(503, "5.5.1", "MAIL first")),
            Some(t) if !t.has_recipients() => Some(Reply::new(554, "5.5.1", "No valid recipients")),
            Some(_) => None,
        }
    }

    /// DATA: the body up to the lone dot.
    async fn data(&mut self) -> io::Result<Next> {
        let after_bdat = self
            .transaction()
            .as_mut()
            .is_some_and(|t| t.chunks().started());
        let refusal = if after_bdat {
            Some(Reply::new(503, "5.5.1", "DATA after BDAT"))
        } else {
            self.data_refusal()
        };
        if let Some(reply) = refusal {
            return Ok(self.dialog().bad(reply));
        }
        let limit = self.body_limit();
        let wire = &mut self.dialog().wire;
        wire.reply(&Reply::new(354, "2.0.0", "End data with <CR><LF>.<CR><LF>"));
        let body = wire.read_data(limit).await?;
        if let Some(transaction) = self.transaction().take() {
            self.finish(transaction, body).await;
        }
        Ok(Next::Continue)
    }

    /// BDAT: one chunk of the body; the last one ends it.
    async fn bdat(&mut self, size: usize, is_last: bool) -> io::Result<Next> {
        let limit = self.body_limit();
        let refusal = self.data_refusal();
        // The chunk follows the command whatever the answer: read it, keep it if it counts.
        let (dialog, transaction) = self.parts();
        let sink = match (&refusal, transaction.as_mut()) {
            (None, Some(transaction)) => transaction.chunks().sink(size, limit),
            _ => None,
        };
        dialog.wire.read_chunk(size, sink).await?;
        if let Some(reply) = refusal {
            return Ok(self.dialog().bad(reply));
        }
        if !is_last {
            self.dialog()
                .wire
                .reply(&Reply::new(250, "2.0.0", format!("{size} octets received")));
            return Ok(Next::Continue);
        }
        if let Some(mut transaction) = self.transaction().take() {
            let body = transaction.chunks().body();
            self.finish(transaction, body).await;
        }
        Ok(Next::Continue)
    }
}

/// A transaction as the body commands see it.
pub(crate) trait Envelope {
    fn chunks(&mut self) -> &mut Chunks;
    fn has_recipients(&self) -> bool;
}

/// Runs a session after its greeting until the client leaves, a command closes it, too
/// many bad commands, the idle timeout (waiting for a command or inside a body alike) or
/// shutdown; then flushes the last replies and closes.
pub(crate) async fn converse<C: Commands>(mut session: C) -> io::Result<()> {
    loop {
        let next = match session.dialog().next_input().await {
            Ok(Input::Line(line)) => session.command(&line).await,
            Ok(Input::TooLong) => {
                Ok(session
                    .dialog()
                    .bad(Reply::new(500, "5.5.6", "Line too long")))
            }
            Ok(Input::Closed) => return Ok(()),
            Ok(Input::ShuttingDown) => {
                session.dialog().wire.reply(&Reply::new(
                    421,
                    "4.3.2",
                    "Server shutting down, try again later",
                ));
                Ok(Next::Close)
            }
            Err(err) => Err(err),
        };
        match next {
            Ok(Next::Continue) => {}
            Ok(Next::Close) => break,
            Err(err) if err.kind() == io::ErrorKind::TimedOut => {
                session.dialog().wire.reply(&Reply::new(
                    421,
                    "4.4.2",
                    "Idle timeout, closing connection",
                ));
                break;
            }
            Err(err) => return Err(err),
        }
    }
    session.dialog().wire.close().await
}

/// The BDAT chunks of one transaction, bounded by the message size limit.
#[derive(Default)]
pub(crate) struct Chunks {
    /// Received so far; `None` before the first chunk.
    received: Option<Vec<u8>>,
    /// The chunks passed the size limit: the rest is read and dropped.
    too_big: bool,
}

impl Chunks {
    /// Whether a BDAT chunk came (then DATA and RCPT are out of order).
    pub(crate) fn started(&self) -> bool {
        self.received.is_some()
    }

    /// Where the next chunk of `size` bytes goes: onto the chunks so far, or nowhere once
    /// they would pass `limit` (the message is then refused at the last chunk).
    pub(crate) fn sink(&mut self, size: usize, limit: usize) -> Option<&mut Vec<u8>> {
        let received = self.received.get_or_insert_with(Vec::new);
        if self.too_big || received.len().saturating_add(size) > limit {
            self.too_big = true;
            *received = Vec::new();
            return None;
        }
        Some(received)
    }

    /// The message the chunks made.
    pub(crate) fn body(&mut self) -> Body {
        match (self.too_big, self.received.take()) {
            (false, received) => Body::Complete(received.unwrap_or_default()),
            (true, _) => Body::TooBig,
        }
    }
}

/// The reply for a store error. The one place that decides permanent against temporary:
/// anything not known to be the message's or the recipient's fault is `451 4.3.0`, so the
/// MTA keeps the message and tries again (never a `250` for what is not durable).
pub(crate) fn store_error_reply(err: &Error) -> Reply {
    match err {
        Error::Address(AddressError::NotFound) | Error::User(UserError::NotFound) => {
            Reply::new(550, "5.1.1", "No such user here")
        }
        Error::Address(AddressError::Invalid(_)) => Reply::new(501, "5.1.3", "Bad address syntax"),
        Error::Address(AddressError::NotOwned(_)) => {
            Reply::new(553, "5.7.1", "Sender address is not yours")
        }
        Error::Auth(AuthError::Disabled) => Reply::new(550, "5.2.1", "Mailbox disabled"),
        Error::Message(MessageError::OverQuota { .. }) => Reply::new(552, "5.2.2", "Mailbox full"),
        Error::Message(MessageError::TooBig { .. }) => Reply::new(552, "5.3.4", "Message too big"),
        // Gmail's answer to a user over their sending quota.
        Error::Message(MessageError::SendingLimit { .. }) => {
            Reply::new(550, "5.4.5", "Daily sending limit exceeded")
        }
        other => {
            tracing::warn!(error = %other, "store failed, answering 451");
            Reply::new(451, "4.3.0", "Temporary failure, try again later")
        }
    }
}

/// The reply for a command smtp-proto could not parse.
pub(crate) fn parse_error_reply(err: smtp_proto::Error) -> Reply {
    use smtp_proto::Error as Parse;
    match err {
        Parse::InvalidSenderAddress => Reply::new(501, "5.1.7", "Bad sender address syntax"),
        Parse::InvalidRecipientAddress => Reply::new(501, "5.1.3", "Bad recipient address syntax"),
        Parse::SyntaxError { syntax } => Reply::new(501, "5.5.4", format!("Syntax: {syntax}")),
        Parse::InvalidParameter { param } => {
            Reply::new(501, "5.5.4", format!("Invalid parameter {param}"))
        }
        Parse::UnsupportedParameter { param } => Reply::new(
            555,
            "5.5.4",
            format!("Unsupported parameter {}", quoted(&param)),
        ),
        _ => Reply::new(500, "5.5.2", "Unknown command"),
    }
}

/// Client input fit to quote in a reply: printable ASCII, cut short.
fn quoted(input: &str) -> String {
    input
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(MAX_QUOTED_CHARS)
        .collect()
}
