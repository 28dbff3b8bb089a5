//! One client session: the RFC 1939 states, the read loop with its limits (idle timeout,
//! bad-command count, shutdown), and the login step shared by USER/PASS and AUTH.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use wildduck_store::{AuthError, Error, Scope, User};

use crate::reply::store_failure;

use crate::command::{self, Command, Phase};
use crate::config::PlaintextLogin;
use crate::connection::{Connection, Frame};
use crate::maildrop::Maildrop;
use crate::server::{Shared, shutdown_requested};

/// RFC 1939 states. UPDATE is the QUIT handler itself: it ends the session.
pub(crate) enum State {
    /// Before login; remembers the name given with USER.
    Authorization {
        user: Option<String>,
    },
    Transaction(Transaction),
}

pub(crate) struct Transaction {
    pub(crate) user: User,
    pub(crate) maildrop: Maildrop,
}

/// Whether the session goes on after a command.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Close,
}

pub(crate) struct Session {
    pub(crate) conn: Connection,
    pub(crate) shared: Arc<Shared>,
    pub(crate) state: State,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
    bad_commands: u32,
    auth_failures: u32,
}

impl Session {
    pub(crate) fn new(
        conn: Connection,
        shared: Arc<Shared>,
        peer: SocketAddr,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            conn,
            shared,
            state: State::Authorization { user: None },
            peer,
            shutdown,
            bad_commands: 0,
            auth_failures: 0,
        }
    }

    /// Greets, then runs commands until QUIT, a limit, shutdown or the client leaves.
    /// Leaving without QUIT changes nothing in the maildrop (no UPDATE state).
    pub(crate) async fn run(mut self) -> io::Result<()> {
        self.conn.ok("WildDuck POP3 server ready").await?;
        loop {
            let Some(frame) = self.next_frame().await? else {
                break;
            };
            let flow = match frame {
                Frame::TooLong => self.bad_command("Line too long").await?,
                Frame::Line(line) => match Command::parse(&line) {
                    Ok(command) => self.execute(command).await?,
                    Err(error) => self.bad_command(&error.to_string()).await?,
                },
            };
            if flow == Flow::Close {
                break;
            }
        }
        self.conn.close().await
    }

    /// Waits for the next frame, answering the end of the session itself on idle timeout
    /// and shutdown (then `None`). Responses are flushed only when no command is pending.
    pub(crate) async fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        if !self.conn.has_buffered_line() {
            self.conn.flush().await?;
        }
        let idle = Duration::from_secs(self.shared.config.idle_timeout_secs);
        tokio::select! {
            biased;
            _ = shutdown_requested(&mut self.shutdown) => {
                self.conn.err("[SYS/TEMP] Server shutting down").await?;
                Ok(None)
            }
            read = tokio::time::timeout(idle, self.conn.read_frame()) => match read {
                Ok(frame) => frame,
                Err(_) => {
                    self.conn.err("Idle timeout, closing connection").await?;
                    Ok(None)
                }
            },
        }
    }

    async fn execute(&mut self, command: Command) -> io::Result<Flow> {
        let in_state = matches!(
            (command.phase(), &self.state),
            (Phase::Any, _)
                | (Phase::Authorization, State::Authorization { .. })
                | (Phase::Transaction, State::Transaction(_))
        );
        if !in_state {
            return self.bad_command("Command not valid in this state").await;
        }
        match command {
            Command::Capa => command::capa::capa(self).await,
            Command::Stls => command::stls::stls(self).await,
            Command::User(name) => command::auth::user(self, name).await,
            Command::Pass(password) => command::auth::pass(self, password).await,
            Command::Auth {
                mechanism,
                initial_response,
            } => command::auth::auth(self, mechanism, initial_response).await,
            Command::Stat => command::listing::stat(self).await,
            Command::List(number) => command::listing::list(self, number).await,
            Command::Uidl(number) => command::listing::uidl(self, number).await,
            Command::Retr(number) => command::retrieve::retr(self, number).await,
            Command::Top(number, lines) => command::retrieve::top(self, number, lines).await,
            Command::Dele(number) => command::mark::dele(self, number).await,
            Command::Rset => command::mark::rset(self).await,
            Command::Noop => command::mark::noop(self).await,
            Command::Quit => command::quit::quit(self).await,
        }
    }

    /// Answers a command that could not run; too many of them end the session.
    pub(crate) async fn bad_command(&mut self, reason: &str) -> io::Result<Flow> {
        self.bad_commands += 1;
        if self.bad_commands > self.shared.config.max_bad_commands {
            self.conn
                .err(&format!(
                    "{reason}; too many bad commands, closing connection"
                ))
                .await?;
            return Ok(Flow::Close);
        }
        self.conn.err(reason).await?;
        Ok(Flow::Continue)
    }

    /// USER/PASS and AUTH PLAIN need TLS unless the config allows plaintext here.
    pub(crate) fn plaintext_login_allowed(&self) -> bool {
        self.conn.is_tls()
            || match self.shared.config.allow_plaintext_login {
                PlaintextLogin::Always => true,
                PlaintextLogin::Loopback => self.peer.ip().to_canonical().is_loopback(),
                PlaintextLogin::Never => false,
            }
    }

    /// Checks credentials under the store's lockout (shared with IMAP, per user and per
    /// IP) and opens the maildrop: the step into TRANSACTION. Every attempt is logged, never
    /// with the password.
    pub(crate) async fn login(&mut self, username: &str, password: &str) -> io::Result<Flow> {
        let store = self.shared.store.clone();
        let ip = self.peer.ip();
        match store.login_allowed(username, ip).await {
            Ok(Ok(())) => {}
            Ok(Err(left)) => {
                tracing::info!(user = username, %ip, outcome = "locked", "POP3 login attempt");
                let reason = format!(
                    "[LOGIN-DELAY] Too many failed logins, try again in {} seconds",
                    left.as_secs().max(1)
                );
                let pause = store.limits().max_failure_delay.min(left);
                return self.failed_login(&reason, pause).await;
            }
            Err(error) => return self.auth_unavailable(error).await,
        }
        let (failure, reason) = match store.authenticate(username, password, Scope::Pop3).await {
            Ok(user) => {
                tracing::info!(user = username, %ip, outcome = "success", "POP3 login attempt");
                if let Err(error) = store.record_login_success(username, ip).await {
                    return self.auth_unavailable(error).await;
                }
                return self.open_maildrop(user).await;
            }
            Err(Error::Auth(AuthError::Disabled)) => ("disabled", "[AUTH] Account is disabled"),
            Err(Error::Auth(_) | Error::User(_)) => {
                ("bad credentials", "[AUTH] Invalid username or password")
            }
            Err(error) => return self.auth_unavailable(error).await,
        };
        tracing::info!(user = username, %ip, outcome = failure, "POP3 login attempt");
        match store.record_login_failure(username, ip).await {
            Ok(pause) => self.failed_login(reason, pause).await,
            Err(error) => self.auth_unavailable(error).await,
        }
    }

    async fn auth_unavailable(&mut self, error: Error) -> io::Result<Flow> {
        tracing::warn!(%error, "POP3 authentication failed in the store");
        self.conn
            .err(&store_failure(&error, "Authentication is unavailable"))
            .await?;
        Ok(Flow::Continue)
    }

    async fn open_maildrop(&mut self, user: User) -> io::Result<Flow> {
        let store = &self.shared.store;
        let maildrop = match Maildrop::open(store, user.id, self.shared.config.max_messages).await {
            Ok(maildrop) => maildrop,
            Err(error) => {
                tracing::warn!(%error, user = %user.id, "POP3 could not open INBOX");
                self.conn
                    .err(&store_failure(&error, "Could not open the maildrop"))
                    .await?;
                return Ok(Flow::Continue);
            }
        };
        let count = maildrop.visible().count();
        tracing::info!(user = %user.id, peer = %self.peer, "POP3 login");
        self.state = State::Transaction(Transaction { user, maildrop });
        self.conn
            .ok(&format!("Logged in, {count} messages in the maildrop"))
            .await?;
        Ok(Flow::Continue)
    }

    /// Answers a failed or locked-out login after `pause` (the store's lockout paces it).
    async fn failed_login(&mut self, reason: &str, pause: Duration) -> io::Result<Flow> {
        self.auth_failures += 1;
        // Flush first: pipelined answers before this one are not held back by the delay.
        self.conn.flush().await?;
        tokio::time::sleep(pause).await;
        if self.auth_failures >= self.shared.config.max_auth_failures {
            self.conn
                .err(&format!(
                    "{reason}; too many failed logins, closing connection"
                ))
                .await?;
            return Ok(Flow::Close);
        }
        self.conn.err(reason).await?;
        Ok(Flow::Continue)
    }

    /// The connection, server and open maildrop at once, for TRANSACTION commands
    /// (`execute` has checked the state; `None` only if called elsewhere).
    pub(crate) fn transaction(&mut self) -> Option<(&mut Connection, &Shared, &mut Transaction)> {
        match &mut self.state {
            State::Transaction(transaction) => Some((&mut self.conn, &self.shared, transaction)),
            State::Authorization { .. } => None,
        }
    }
}
