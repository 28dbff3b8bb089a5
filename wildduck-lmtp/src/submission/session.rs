//! One submission session (RFC 6409): EHLO, STARTTLS, AUTH, then transactions of MAIL,
//! RCPT and DATA or BDAT whose message goes to `Store::submit`. The envelope sender must be
//! the user's own address (checked at MAIL, and with the From header again by the store).
//! Bad input gets a 5xx reply and counts; too many end the session with `421`.

use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use smtp_proto::{
    AUTH_LOGIN, AUTH_OAUTHBEARER, AUTH_PLAIN, AUTH_XOAUTH2, MAIL_BODY_BINARYMIME, MAIL_SMTPUTF8,
    Request,
};
use wildduck_net::{Shutdown, Stream};
use wildduck_store::{BearerMechanism, Secret, Submission, User};

use super::Shared;
use super::auth;
use crate::dialog::{self, Chunks, Commands, Dialog, Next, parse_error_reply, store_error_reply};
use crate::wire::{Body, CommandLine, Reply, Wire};

pub(super) struct Session {
    dialog: Dialog<Stream>,
    shared: Arc<Shared>,
    peer: SocketAddr,
    greeted: bool,
    user: Option<User>,
    transaction: Option<Transaction>,
}

/// What MAIL, RCPT and BDAT have gathered so far.
pub(crate) struct Transaction {
    sender: String,
    smtputf8: bool,
    recipients: Vec<String>,
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
    pub(super) fn new(
        wire: Wire<Stream>,
        shared: Arc<Shared>,
        peer: SocketAddr,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            dialog: Dialog::new(wire, shutdown, shared.config.max_bad_commands),
            shared,
            peer,
            greeted: false,
            user: None,
            transaction: None,
        }
    }

    pub(super) async fn run(mut self) -> io::Result<()> {
        let greeting = format!("{} ESMTP submission ready", self.shared.config.hostname);
        self.dialog.wire.reply_lines(220, &[greeting]);
        dialog::converse(self).await
    }

    fn wire(&mut self) -> &mut Wire<Stream> {
        &mut self.dialog.wire
    }

    fn is_tls(&mut self) -> bool {
        self.dialog.wire.stream_mut().is_tls()
    }

    /// AUTH may be offered and used: over TLS, or where the config allows it in clear.
    fn auth_allowed(&mut self) -> bool {
        self.is_tls()
            || self
                .shared
                .config
                .allow_plaintext_login
                .allows(self.peer.ip().is_loopback())
    }

    fn starttls_offered(&mut self) -> bool {
        self.shared.tls.is_some() && !self.is_tls()
    }

    fn max_message_size(&self) -> u64 {
        self.shared.store.config().max_message_size
    }

    async fn respond(&mut self, line: &[u8]) -> io::Result<Next> {
        let request = match Request::parse(&mut line.iter()) {
            Ok(request) => request,
            Err(err) => return Ok(self.dialog.bad(parse_error_reply(err))),
        };
        let outcome = match request {
            Request::Ehlo { host: _ } => {
                self.ehlo();
                return Ok(Next::Continue);
            }
            Request::Helo { host: _ } => {
                self.greeted = true;
                self.transaction = None;
                let hostname = self.shared.config.hostname.clone();
                self.wire().reply_lines(250, &[hostname]);
                return Ok(Next::Continue);
            }
            Request::Lhlo { .. } => Err(Reply::new(500, "5.5.1", "This is SMTP: say EHLO")),
            Request::StartTls => return self.starttls().await,
            Request::Auth {
                mechanism,
                initial_response,
            } => return self.auth(mechanism, initial_response.into_owned()).await,
            Request::Mail { from } => self.mail(from.address, from.flags, from.size).await,
            Request::Rcpt { to } => self.rcpt(to.address),
            Request::Data => return self.data().await,
            Request::Bdat {
                chunk_size,
                is_last,
            } => return self.bdat(chunk_size, is_last).await,
            Request::Rset => {
                self.transaction = None;
                Ok(Reply::new(250, "2.0.0", "Ok"))
            }
            Request::Noop { .. } => Ok(Reply::new(250, "2.0.0", "Ok")),
            Request::Quit => {
                self.wire().reply(&Reply::new(221, "2.0.0", "Bye"));
                return Ok(Next::Close);
            }
            Request::Vrfy { .. } => Ok(Reply::new(252, "2.5.2", "Cannot VRFY user")),
            Request::Help { .. } => Ok(Reply::new(
                214,
                "2.0.0",
                "Commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA BDAT RSET NOOP QUIT",
            )),
            Request::Expn { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => Ok(Reply::new(502, "5.5.1", "Command not implemented")),
        };
        match outcome {
            Ok(reply) => {
                self.wire().reply(&reply);
                Ok(Next::Continue)
            }
            Err(reply) => Ok(self.dialog.bad(reply)),
        }
    }

    /// Queues the EHLO reply: the extensions, STARTTLS and AUTH when they can be used now.
    fn ehlo(&mut self) {
        self.greeted = true;
        self.transaction = None;
        let mut lines = vec![
            self.shared.config.hostname.clone(),
            "PIPELINING".into(),
            "ENHANCEDSTATUSCODES".into(),
            "8BITMIME".into(),
            "SMTPUTF8".into(),
            "CHUNKING".into(),
            format!("SIZE {}", self.max_message_size()),
        ];
        if self.starttls_offered() {
            lines.push("STARTTLS".into());
        }
        if self.auth_allowed() {
            lines.push(format!("AUTH {}", auth::MECHANISMS));
        }
        self.wire().reply_lines(250, &lines);
    }

    async fn starttls(&mut self) -> io::Result<Next> {
        let shared = self.shared.clone();
        if let Err(refusal) = dialog::start_tls(self.wire(), shared.tls.as_ref()).await? {
            return Ok(self.dialog.bad(refusal));
        }
        self.greeted = false;
        self.user = None;
        self.transaction = None;
        Ok(Next::Continue)
    }

    async fn auth(&mut self, mechanism: u64, initial: String) -> io::Result<Next> {
        let bearer = match mechanism {
            AUTH_OAUTHBEARER => Some(BearerMechanism::OAuthBearer),
            AUTH_XOAUTH2 => Some(BearerMechanism::XOAuth2),
            _ => None,
        };
        let refusal = if !self.greeted {
            Some(Reply::new(503, "5.5.1", "Say EHLO first"))
        } else if self.user.is_some() {
            Some(Reply::new(503, "5.5.1", "Already authenticated"))
        } else if self.transaction.is_some() {
            Some(Reply::new(
                503,
                "5.5.1",
                "AUTH not allowed during a transaction",
            ))
        } else if !self.auth_allowed() {
            Some(Reply::new(
                538,
                "5.7.11",
                "Encryption required for requested authentication mechanism",
            ))
        } else if mechanism != AUTH_PLAIN && mechanism != AUTH_LOGIN && bearer.is_none() {
            Some(Reply::new(504, "5.5.4", "Unrecognized authentication type"))
        } else {
            None
        };
        if let Some(reply) = refusal {
            return Ok(self.dialog.bad(reply));
        }
        let credentials = match bearer {
            Some(bearer) => self.bearer(bearer, initial).await?,
            None if mechanism == AUTH_PLAIN => self.plain(initial).await?,
            None => self.login_exchange(initial).await?,
        };
        let (username, credential) = match credentials {
            Exchange::Done(credentials) => credentials,
            Exchange::Failed(reply) => return Ok(self.dialog.bad(reply)),
            Exchange::Closed => return Ok(Next::Close),
        };
        let store = self.shared.store.clone();
        match auth::login(&store, &username, &credential, self.peer.ip()).await {
            Ok(user) => {
                self.user = Some(user);
                self.wire()
                    .reply(&Reply::new(235, "2.7.0", "Authentication successful"));
                Ok(Next::Continue)
            }
            Err(reply) => {
                // A refused token: the error challenge, the client's dummy answer, then 535.
                if let Some(refusal) = credential.refusal_challenge().filter(|_| reply.code == 535)
                    && let Challenge::Over(Exchange::Closed) =
                        self.challenge(&BASE64.encode(refusal)).await?
                {
                    return Ok(Next::Close);
                }
                Ok(self.dialog.bad(reply))
            }
        }
    }

    /// OAUTHBEARER or XOAUTH2: the initial response, or one asked for with an empty
    /// challenge.
    async fn bearer(
        &mut self,
        mechanism: BearerMechanism,
        initial: String,
    ) -> io::Result<Exchange> {
        let response = if initial.is_empty() {
            match self.challenge("").await? {
                Challenge::Response(response) => response,
                Challenge::Over(exchange) => return Ok(exchange),
            }
        } else {
            initial.into_bytes()
        };
        Ok(match auth::bearer(mechanism, &response) {
            Ok(credentials) => Exchange::Done(credentials),
            Err(reply) => Exchange::Failed(reply),
        })
    }

    /// PLAIN: the initial response, or one asked for with an empty challenge.
    async fn plain(&mut self, initial: String) -> io::Result<Exchange> {
        let response = if initial.is_empty() {
            match self.challenge("").await? {
                Challenge::Response(response) => response,
                Challenge::Over(exchange) => return Ok(exchange),
            }
        } else {
            initial.into_bytes()
        };
        Ok(
            match auth::decode(&response).and_then(|text| auth::split_plain(&text)) {
                Ok((username, password)) => Exchange::Done((username, Secret::Password(password))),
                Err(reply) => Exchange::Failed(reply),
            },
        )
    }

    /// LOGIN: the username (maybe as the initial response), then the password.
    async fn login_exchange(&mut self, initial: String) -> io::Result<Exchange> {
        let username = if initial.is_empty() {
            match self.challenge("VXNlcm5hbWU6").await? {
                Challenge::Response(response) => response,
                Challenge::Over(exchange) => return Ok(exchange),
            }
        } else {
            initial.into_bytes()
        };
        let username = match auth::decode(&username) {
            Ok(username) => username,
            Err(reply) => return Ok(Exchange::Failed(reply)),
        };
        let password = match self.challenge("UGFzc3dvcmQ6").await? {
            Challenge::Response(response) => response,
            Challenge::Over(exchange) => return Ok(exchange),
        };
        Ok(match auth::decode(&password) {
            Ok(password) => Exchange::Done((username, Secret::Password(password))),
            Err(reply) => Exchange::Failed(reply),
        })
    }

    /// Sends a `334` challenge and reads the client's response line.
    async fn challenge(&mut self, text: &str) -> io::Result<Challenge> {
        self.wire().reply_lines(334, &[text.to_string()]);
        Ok(match self.wire().read_line().await? {
            None => Challenge::Over(Exchange::Closed),
            Some(CommandLine::TooLong) => {
                Challenge::Over(Exchange::Failed(Reply::new(500, "5.5.6", "Line too long")))
            }
            Some(CommandLine::Line(line)) if auth::is_cancel(&line) => Challenge::Over(
                Exchange::Failed(Reply::new(501, "5.0.0", "Authentication cancelled")),
            ),
            Some(CommandLine::Line(line)) => Challenge::Response(line),
        })
    }

    async fn mail(
        &mut self,
        address: Cow<'_, str>,
        flags: u64,
        size: usize,
    ) -> Result<Reply, Reply> {
        if !self.greeted {
            return Err(Reply::new(503, "5.5.1", "Say EHLO first"));
        }
        let Some(user) = &self.user else {
            return Err(Reply::new(530, "5.7.0", "Authentication required"));
        };
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
        if let Err(err) = self.shared.store.check_sender(user, &address).await {
            return Ok(store_error_reply(&err));
        }
        self.transaction = Some(Transaction {
            sender: address.into_owned(),
            smtputf8,
            recipients: Vec::new(),
            chunks: Chunks::default(),
        });
        Ok(Reply::new(250, "2.1.0", "Sender ok"))
    }

    fn rcpt(&mut self, address: Cow<'_, str>) -> Result<Reply, Reply> {
        let max_recipients = self.shared.config.max_recipients;
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
        if wildduck_store::normalize_address(&address).is_err() {
            return Err(Reply::new(501, "5.1.3", "Bad recipient address syntax"));
        }
        if transaction.recipients.len() >= max_recipients {
            return Ok(Reply::new(452, "4.5.3", "Too many recipients"));
        }
        transaction.recipients.push(address.into_owned());
        Ok(Reply::new(250, "2.1.5", "Recipient ok"))
    }
}

/// How an AUTH exchange ended.
enum Exchange {
    Done((String, Secret)),
    Failed(Reply),
    Closed,
}

/// What a `334` challenge brought.
enum Challenge {
    Response(Vec<u8>),
    Over(Exchange),
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

    /// Hands the message to the store and answers once; the transaction ends.
    async fn finish(&mut self, transaction: Transaction, body: Body) {
        let reply = match (body, &self.user) {
            (Body::TooBig, _) => Reply::new(552, "5.3.4", "Message too big"),
            (Body::Complete(_), None) => Reply::new(530, "5.7.0", "Authentication required"),
            (Body::Complete(raw), Some(user)) => {
                let submission = Submission {
                    user,
                    sender: &transaction.sender,
                    recipients: &transaction.recipients,
                    raw: &raw,
                };
                match self.shared.store.submit(submission).await {
                    Ok(submitted) => {
                        tracing::info!(
                            user = %user.username,
                            message_id = %submitted.message_id,
                            recipients = transaction.recipients.len(),
                            "submission accepted"
                        );
                        Reply::new(
                            250,
                            "2.0.0",
                            format!("Ok: queued as {}", submitted.message_id),
                        )
                    }
                    Err(err) => store_error_reply(&err),
                }
            }
        };
        metrics::counter!("wildduck_submission_messages_total", "result" => reply.outcome())
            .increment(1);
        self.wire().reply(&reply);
    }

    async fn command(&mut self, line: &[u8]) -> io::Result<Next> {
        self.respond(line).await
    }
}
