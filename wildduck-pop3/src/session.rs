//! The session loop: greets, reads commands until QUIT, a limit, shutdown or the client
//! leaving, checks each command against the state and calls its handler in `command/`.
//! Handlers work on [`crate::state::Session`] and never call back here.

use std::io;

use crate::command::{self, Command, Phase};
use crate::connection::Frame;
use crate::state::{Flow, Session, State};

impl Session {
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
                    Ok(command) => {
                        let name = command.name();
                        let started = std::time::Instant::now();
                        let flow = self.execute(command).await?;
                        metrics::counter!("wildduck_pop3_commands_total", "command" => name)
                            .increment(1);
                        metrics::histogram!("wildduck_pop3_command_seconds", "command" => name)
                            .record(started.elapsed().as_secs_f64());
                        flow
                    }
                    Err(error) => self.bad_command(&error.to_string()).await?,
                },
            };
            if flow == Flow::Close {
                break;
            }
        }
        self.conn.close().await
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
}
