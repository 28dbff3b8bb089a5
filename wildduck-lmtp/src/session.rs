//! One LMTP session (RFC 2033): the state machine over the SMTP wire.
//!
//! LHLO opens (STARTTLS may come first or after it, when a certificate is configured); MAIL
//! starts a transaction; each RCPT is resolved by the store at once (unknown
//! and disabled recipients are refused there); DATA or BDAT chunks carry the message; after
//! the data every accepted recipient gets its own reply, in RCPT order, and the transaction
//! ends. Bad input gets a 5xx reply and counts; too many, too-long lines included, end the
//! session with `421`. Nothing here decides about storage: resolution and delivery are the
//! store's.

use std::borrow::Cow;
use std::io;
use std::sync::Arc;

use smtp_proto::{MAIL_BODY_BINARYMIME, MAIL_SMTPUTF8, Request};
use tokio_rustls::TlsAcceptor;
use wildduck_net::{Shutdown, Stream};
use wildduck_store::{Delivery, Recipient, Store};

use crate::config::Config;
use crate::dialog::{self, Chunks, Commands, Dialog, Next, parse_error_reply, store_error_reply};
use crate::wire::{Body, Reply, Wire};

pub(crate) struct Session {
    dialog: Dialog<Stream>,
    store: Store,
    config: Arc<Config>,
    /// For STARTTLS.
    tls: Option<TlsAcceptor>,
    greeted: bool,
    transaction: Option<Transaction>,
}

/// What MAIL, RCPT and BDAT have gathered so far.
pub(crate) struct Transaction {
    return_path: String,
    smtputf8: bool,
    recipients: Vec<Recipient>,
    chunks: Chunks,
}

impl dialog::Envelope for Transaction {
    fn chunks(&mut self) -> &mut Chunks {
        &mut self.chunks
    }

    fn has_recipients(&self) -> bool {
        !self.recipients.is_empty()
    }
}

impl Session {
    pub(crate) fn new(
        wire: Wire<Stream>,
        store: Store,
        config: Arc<Config>,
        tls: Option<TlsAcceptor>,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            dialog: Dialog::new(wire, shutdown, config.max_bad_commands),
            store,
            config,
            tls,
            greeted: false,
            transaction: None,
        }
    }

    pub(crate) async fn run(mut self) -> io::Result<()> {
        // No enhanced status code before LHLO (RFC 2034 §3).
        let greeting = format!("{} LMTP ready", self.config.hostname);
        self.dialog.wire.reply_lines(220, &[greeting]);
        dialog::converse(self).await
    }

    fn bad(&mut self, reply: Reply) -> Next {
        self.dialog.bad(reply)
    }

    async fn respond(&mut self, line: &[u8]) -> io::Result<Next> {
        let request = match Request::parse(&mut line.iter()) {
            Ok(request) => request,
            Err(err) => return Ok(self.bad(parse_error_reply(err))),
        };
        let reply = match request {
            Request::Lhlo { host: _ } => {
                self.greeted = true;
                self.transaction = None;
                let mut lines = vec![
                    self.config.hostname.clone(),
                    "PIPELINING".into(),
                    "ENHANCEDSTATUSCODES".into(),
                    "8BITMIME".into(),
                    "SMTPUTF8".into(),
                    "CHUNKING".into(),
                    format!("SIZE {}", self.max_message_size()),
                ];
                if self.tls.is_some() && !self.dialog.wire.stream_mut().is_tls() {
                    lines.push("STARTTLS".into());
                }
                self.dialog.wire.reply_lines(250, &lines);
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
            Request::StartTls => {
                if let Err(refusal) =
                    dialog::start_tls(&mut self.dialog.wire, self.tls.as_ref()).await?
                {
                    return Ok(self.bad(refusal));
                }
                // RFC 3207 §4.2: the client starts over with LHLO.
                self.greeted = false;
                self.transaction = None;
                return Ok(Next::Continue);
            }
            Request::Quit => {
                self.dialog.wire.reply(&Reply::new(221, "2.0.0", "Bye"));
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
                "Commands: LHLO STARTTLS MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY",
            ),
            Request::Expn { .. }
            | Request::Auth { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => Reply::new(502, "5.5.1", "Command not implemented"),
        };
        self.dialog.wire.reply(&reply);
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
            chunks: Chunks::default(),
        });
        Ok(Reply::new(250, "2.1.0", "Sender ok"))
    }

    /// `Err` for protocol errors (counted); store answers, refusals included, are `Ok`.
    async fn rcpt(&mut self, address: &str) -> Result<Reply, Reply> {
        let max_recipients = self.config.max_recipients;
        let Some(transaction) = self.transaction.as_mut() else {
            return Err(Reply::new(503, "5.5.1", "MAIL first"));
        };
        if transaction.chunks.started() {
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
}

impl Commands for Session {
    type Stream = Stream;
    type Transaction = Transaction;

    fn parts(&mut self) -> (&mut Dialog<Stream>, &mut Option<Transaction>) {
        (&mut self.dialog, &mut self.transaction)
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
            metrics::counter!("wildduck_lmtp_recipients_total", "result" => reply.outcome())
                .increment(1);
            if reply.code == 250 {
                let user = recipient.user().map(|user| user.username.as_str());
                tracing::info!(recipient = %recipient.address, user, "LMTP delivered");
            } else {
                tracing::info!(recipient = %recipient.address, code = reply.code, status = reply.status, "LMTP not delivered");
            }
            self.dialog.wire.reply(reply);
        }
    }

    async fn command(&mut self, line: &[u8]) -> io::Result<Next> {
        self.respond(line).await
    }
}
