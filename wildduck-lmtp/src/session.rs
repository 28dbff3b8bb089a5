//! One LMTP session (RFC 2033): the state machine over the SMTP wire.
//!
//! LHLO opens; MAIL starts a transaction; each RCPT is resolved by the store at once (unknown
//! and disabled recipients are refused there); DATA or BDAT chunks carry the message; after
//! the data every accepted recipient gets its own reply, in RCPT order, and the transaction
//! ends. Bad input gets a 5xx reply and counts; too many, too-long lines included, end the
//! session with `421`. Nothing here decides about storage: resolution and delivery are the
//! store's.

use std::borrow::Cow;
use std::io;
use std::sync::Arc;

use smtp_proto::{MAIL_BODY_BINARYMIME, MAIL_SMTPUTF8, Request};
use tokio::io::{AsyncRead, AsyncWrite};
use wildduck_net::Shutdown;
use wildduck_store::{
    AddressError, AuthError, Delivery, Error, MessageError, Recipient, Store, UserError,
};

use crate::config::Config;
use crate::wire::{Body, CommandLine, Reply, Wire};

/// Longest piece of client input quoted back in a reply.
const MAX_QUOTED_CHARS: usize = 64;

pub(crate) struct Session<S> {
    wire: Wire<S>,
    store: Store,
    config: Arc<Config>,
    shutdown: Shutdown,
    greeted: bool,
    transaction: Option<Transaction>,
    bad_commands: u32,
}

/// What MAIL, RCPT and BDAT have gathered so far.
struct Transaction {
    return_path: String,
    smtputf8: bool,
    recipients: Vec<Recipient>,
    /// BDAT chunks received so far; `None` before the first.
    chunks: Option<Vec<u8>>,
    /// The chunks passed the size limit: the rest is read and dropped.
    chunks_too_big: bool,
}

impl Transaction {
    /// Where the next BDAT chunk of `size` bytes goes: onto the chunks so far, or nowhere
    /// once they would pass `limit` (the message is then refused at the last chunk).
    fn chunk_sink(&mut self, size: usize, limit: usize) -> Option<&mut Vec<u8>> {
        let chunks = self.chunks.get_or_insert_with(Vec::new);
        if self.chunks_too_big || chunks.len().saturating_add(size) > limit {
            self.chunks_too_big = true;
            *chunks = Vec::new();
            return None;
        }
        Some(chunks)
    }

    fn chunked_body(&mut self) -> Body {
        match (self.chunks_too_big, self.chunks.take()) {
            (false, chunks) => Body::Complete(chunks.unwrap_or_default()),
            (true, _) => Body::TooBig,
        }
    }
}

/// What the session does after a command.
enum Next {
    Continue,
    Close,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<S> {
    pub(crate) fn new(
        wire: Wire<S>,
        store: Store,
        config: Arc<Config>,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            wire,
            store,
            config,
            shutdown,
            greeted: false,
            transaction: None,
            bad_commands: 0,
        }
    }

    pub(crate) async fn run(mut self) -> io::Result<()> {
        // No enhanced status code before LHLO (RFC 2034 §3).
        let greeting = format!("{} LMTP ready", self.config.hostname);
        self.wire.reply_lines(220, &[greeting]);
        loop {
            let line = tokio::select! {
                _ = self.shutdown.requested() => {
                    self.wire.reply(&Reply::new(421, "4.3.2", "Server shutting down, try again later"));
                    break;
                }
                line = self.wire.read_line() => line,
            };
            let next = match line {
                Ok(Some(CommandLine::Line(line))) => self.command(&line).await,
                Ok(Some(CommandLine::TooLong)) => {
                    Ok(self.bad(Reply::new(500, "5.5.6", "Line too long")))
                }
                Ok(None) => return Ok(()),
                Err(err) => Err(err),
            };
            match next {
                Ok(Next::Continue) => {}
                Ok(Next::Close) => break,
                // Waiting for a command or inside a body alike.
                Err(err) if err.kind() == io::ErrorKind::TimedOut => {
                    self.wire.reply(&Reply::new(
                        421,
                        "4.4.2",
                        "Idle timeout, closing connection",
                    ));
                    break;
                }
                Err(err) => return Err(err),
            }
        }
        self.wire.close().await
    }

    /// A refused command: the reply, and the session ends once there were too many.
    fn bad(&mut self, reply: Reply) -> Next {
        self.wire.reply(&reply);
        self.bad_commands += 1;
        if self.bad_commands >= self.config.max_bad_commands {
            self.wire.reply(&Reply::new(
                421,
                "4.7.0",
                "Too many errors, closing connection",
            ));
            return Next::Close;
        }
        Next::Continue
    }

    async fn command(&mut self, line: &[u8]) -> io::Result<Next> {
        let request = match Request::parse(&mut line.iter()) {
            Ok(request) => request,
            Err(err) => return Ok(self.bad(parse_error_reply(err))),
        };
        let reply = match request {
            Request::Lhlo { host: _ } => {
                self.greeted = true;
                self.transaction = None;
                let lines = [
                    self.config.hostname.clone(),
                    "PIPELINING".into(),
                    "ENHANCEDSTATUSCODES".into(),
                    "8BITMIME".into(),
                    "SMTPUTF8".into(),
                    "CHUNKING".into(),
                    format!("SIZE {}", self.max_message_size()),
                ];
                self.wire.reply_lines(250, &lines);
                return Ok(Next::Continue);
            }
            Request::Ehlo { .. } | Request::Helo { .. } => {
                return Ok(self.bad(Reply::new(500, "5.5.1", "This is LMTP: say LHLO")));
            }
            Request::Mail { from } => match self.mail(from.address, from.flags, from.size) {
                Ok(reply) => reply,
                Err(reply) => return Ok(self.bad(reply)),
            },
            Request::Rcpt { to } => match self.rcpt(&to.address).await {
                Ok(reply) => reply,
                Err(reply) => return Ok(self.bad(reply)),
            },
            Request::Data => return self.data().await,
            Request::Bdat {
                chunk_size,
                is_last,
            } => return self.bdat(chunk_size, is_last).await,
            Request::Rset => {
                self.transaction = None;
                Reply::new(250, "2.0.0", "Ok")
            }
            Request::Noop { .. } => Reply::new(250, "2.0.0", "Ok"),
            Request::Quit => {
                self.wire.reply(&Reply::new(221, "2.0.0", "Bye"));
                return Ok(Next::Close);
            }
            Request::Vrfy { .. } => Reply::new(
                252,
                "2.5.2",
                "Cannot VRFY user, but will accept message and attempt delivery",
            ),
            Request::Help { .. } => Reply::new(
                214,
                "2.0.0",
                "Commands: LHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY",
            ),
            Request::Expn { .. }
            | Request::Auth { .. }
            | Request::StartTls
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => Reply::new(502, "5.5.1", "Command not implemented"),
        };
        self.wire.reply(&reply);
        Ok(Next::Continue)
    }

    fn max_message_size(&self) -> u64 {
        self.store.config().max_message_size
    }

    fn mail(&mut self, address: Cow<'_, str>, flags: u64, size: usize) -> Result<Reply, Reply> {
        if !self.greeted {
            return Err(Reply::new(503, "5.5.1", "Say LHLO first"));
        }
        if self.transaction.is_some() {
            return Err(Reply::new(503, "5.5.1", "Nested MAIL command"));
        }
        if flags & MAIL_BODY_BINARYMIME != 0 {
            return Err(Reply::new(555, "5.5.4", "BODY=BINARYMIME is not supported"));
        }
        let smtputf8 = flags & MAIL_SMTPUTF8 != 0;
        if !smtputf8 && !address.is_ascii() {
            return Err(Reply::new(553, "5.6.7", "Non-ASCII sender needs SMTPUTF8"));
        }
        if size as u64 > self.max_message_size() {
            return Ok(Reply::new(552, "5.3.4", "Message too big"));
        }
        self.transaction = Some(Transaction {
            return_path: address.into_owned(),
            smtputf8,
            recipients: Vec::new(),
            chunks: None,
            chunks_too_big: false,
        });
        Ok(Reply::new(250, "2.1.0", "Sender ok"))
    }

    /// `Err` for protocol errors (counted); store answers, refusals included, are `Ok`.
    async fn rcpt(&mut self, address: &str) -> Result<Reply, Reply> {
        let max_recipients = self.config.max_recipients;
        let Some(transaction) = self.transaction.as_mut() else {
            return Err(Reply::new(503, "5.5.1", "MAIL first"));
        };
        if transaction.chunks.is_some() {
            return Err(Reply::new(503, "5.5.1", "RCPT after BDAT"));
        }
        if !transaction.smtputf8 && !address.is_ascii() {
            return Err(Reply::new(
                553,
                "5.6.7",
                "Non-ASCII recipient needs SMTPUTF8",
            ));
        }
        if transaction.recipients.len() >= max_recipients {
            return Ok(Reply::new(452, "4.5.3", "Too many recipients"));
        }
        match self.store.resolve_recipient(address).await {
            Ok(recipient) => {
                transaction.recipients.push(recipient);
                Ok(Reply::new(250, "2.1.5", "Recipient ok"))
            }
            Err(err) => Ok(store_error_reply(&err)),
        }
    }

    async fn data(&mut self) -> io::Result<Next> {
        let refusal = match &self.transaction {
            Some(t) if t.chunks.is_some() => Some(Reply::new(503, "5.5.1", "DATA after BDAT")),
            _ => self.data_refusal(),
        };
        if let Some(reply) = refusal {
            return Ok(self.bad(reply));
        }
        self.wire
            .reply(&Reply::new(354, "2.0.0", "End data with <CR><LF>.<CR><LF>"));
        let body = self.wire.read_data(self.body_limit()).await?;
        if let Some(transaction) = self.transaction.take() {
            self.finish(transaction, body).await;
        }
        Ok(Next::Continue)
    }

    async fn bdat(&mut self, size: usize, is_last: bool) -> io::Result<Next> {
        let limit = self.body_limit();
        let refusal = self.data_refusal();
        // The chunk follows the command whatever the answer: read it, keep it if it counts.
        let sink = match (&refusal, self.transaction.as_mut()) {
            (None, Some(transaction)) => transaction.chunk_sink(size, limit),
            _ => None,
        };
        self.wire.read_chunk(size, sink).await?;
        if let Some(reply) = refusal {
            return Ok(self.bad(reply));
        }
        if !is_last {
            self.wire
                .reply(&Reply::new(250, "2.0.0", format!("{size} octets received")));
            return Ok(Next::Continue);
        }
        if let Some(mut transaction) = self.transaction.take() {
            let body = transaction.chunked_body();
            self.finish(transaction, body).await;
        }
        Ok(Next::Continue)
    }

    /// Why the message data can not come now, if it can not.
    fn data_refusal(&self) -> Option<Reply> {
        match &self.transaction {
            None => Some(Reply::new(503, "5.5.1", "MAIL first")),
            Some(t) if t.recipients.is_empty() => {
                Some(Reply::new(554, "5.5.1", "No valid recipients"))
            }
            Some(_) => None,
        }
    }

    fn body_limit(&self) -> usize {
        usize::try_from(self.max_message_size()).unwrap_or(usize::MAX)
    }

    /// Delivers the body and answers once per accepted recipient, in RCPT order; the
    /// transaction ends.
    async fn finish(&mut self, transaction: Transaction, body: Body) {
        let replies: Vec<Reply> = match body {
            Body::TooBig => transaction
                .recipients
                .iter()
                .map(|_| Reply::new(552, "5.3.4", "Message too big"))
                .collect(),
            Body::Complete(raw) => {
                let delivery = Delivery {
                    return_path: &transaction.return_path,
                    recipients: &transaction.recipients,
                    raw: &raw,
                };
                match self.store.deliver(delivery).await {
                    Ok(results) => results
                        .iter()
                        .map(|result| match result {
                            Ok(_) => Reply::new(250, "2.0.0", "Delivered"),
                            Err(err) => store_error_reply(err),
                        })
                        .collect(),
                    Err(err) => {
                        let reply = store_error_reply(&err);
                        transaction
                            .recipients
                            .iter()
                            .map(|_| reply.clone())
                            .collect()
                    }
                }
            }
        };
        for (recipient, reply) in transaction.recipients.iter().zip(&replies) {
            if reply.code == 250 {
                tracing::info!(recipient = %recipient.address, user = %recipient.user.username, "LMTP delivered");
            } else {
                tracing::info!(recipient = %recipient.address, code = reply.code, status = reply.status, "LMTP not delivered");
            }
            self.wire.reply(reply);
        }
    }
}

/// The reply for a store error. The one place that decides permanent against temporary:
/// anything not known to be the message's or the recipient's fault is `451 4.3.0`, so the
/// MTA keeps the message and tries again (never a `250` for what is not durable).
fn store_error_reply(err: &Error) -> Reply {
    match err {
        Error::Address(AddressError::NotFound) | Error::User(UserError::NotFound) => {
            Reply::new(550, "5.1.1", "No such user here")
        }
        Error::Address(AddressError::Invalid(_)) => Reply::new(501, "5.1.3", "Bad address syntax"),
        Error::Auth(AuthError::Disabled) => Reply::new(550, "5.2.1", "Mailbox disabled"),
        Error::Message(MessageError::OverQuota { .. }) => Reply::new(552, "5.2.2", "Mailbox full"),
        Error::Message(MessageError::TooBig { .. }) => Reply::new(552, "5.3.4", "Message too big"),
        other => {
            tracing::warn!(error = %other, "LMTP: store failed, answering 451");
            Reply::new(451, "4.3.0", "Temporary failure, try again later")
        }
    }
}

/// The reply for a command smtp-proto could not parse.
fn parse_error_reply(err: smtp_proto::Error) -> Reply {
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
