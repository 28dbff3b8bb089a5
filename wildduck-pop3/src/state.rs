//! What a session is: the RFC 1939 states, the connection and the server it belongs to, and
//! the steps every command uses (reading the next line under the session's limits, answering
//! a bad command, the plaintext-login rule). The handlers in `command/` work on it; `session`
//! runs the loop that calls them.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio_rustls::TlsAcceptor;
use wildduck_net::Shutdown;
use wildduck_store::{LogoutWatch, Store, User};

use crate::config::Config;
use crate::connection::{Connection, Frame};
use crate::maildrop::{Maildrop, WireSizeCache};

/// What every session of one server shares.
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) config: Config,
    pub(crate) tls: Option<TlsAcceptor>,
    pub(crate) wire_sizes: WireSizeCache,
}

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
    /// Logouts of this user (API, suspension) from any process.
    pub(crate) logout: LogoutWatch,
}

/// Resolves with the reason when the logged-in user is logged out (never before a login).
async fn logout_requested(state: &mut State) -> Arc<str> {
    let State::Transaction(transaction) = state else {
        return std::future::pending().await;
    };
    loop {
        match transaction.logout.recv().await {
            Ok(reason) => return reason,
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return std::future::pending().await,
        }
    }
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
    /// The client's address (the PROXY header's source behind a load balancer).
    pub(crate) peer: SocketAddr,
    shutdown: Shutdown,
    bad_commands: u32,
    /// Failed logins so far; too many end the session.
    pub(crate) auth_failures: u32,
}

impl Session {
    pub(crate) fn new(
        conn: Connection,
        shared: Arc<Shared>,
        peer: SocketAddr,
        shutdown: Shutdown,
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

    /// Waits for the next frame, answering the end of the session itself on idle timeout
    /// and shutdown (then `None`). Responses are flushed only when no command is pending.
    pub(crate) async fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        if !self.conn.has_buffered_line() {
            self.conn.flush().await?;
        }
        let idle = Duration::from_secs(self.shared.config.idle_timeout_secs);
        tokio::select! {
            biased;
            _ = self.shutdown.requested() => {
                self.conn.err("[SYS/TEMP] Server shutting down").await?;
                Ok(None)
            }
            // Ends without UPDATE: messages marked for deletion stay.
            reason = logout_requested(&mut self.state) => {
                self.conn.err(&reason).await?;
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
            || self
                .shared
                .config
                .allow_plaintext_login
                .allows(self.peer.ip().to_canonical().is_loopback())
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
