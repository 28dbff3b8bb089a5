//! IDLE (RFC 2177): changes are pushed as the store's notifier reports them; a keepalive line
//! goes out periodically so NATs keep the connection.

use std::io;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, interval_at};

use crate::connection::Inbound;
use crate::state::{Fail, Outcome, Reply, Session, logout_requested};

pub async fn idle(session: &mut Session, _tag: &str) -> Outcome {
    let Some(user) = session.user.as_ref().map(|u| u.id) else {
        return Ok(Reply::Bad("Log in first".into()));
    };
    // Subscribe before the first sync so no change can slip between the two.
    let mut wakeups = session.store().subscribe(user);
    let mut wakeups_open = true;
    session.conn.push(b"+ idling\r\n");
    session.sync_selected(true).await?;
    session.conn.flush().await?;
    let every = Duration::from_secs(session.config().idle_keepalive_secs.max(1));
    let mut keepalive = interval_at(Instant::now() + every, every);
    let poll_every = Duration::from_secs(session.config().idle_poll_secs.max(1));
    let mut poll = interval_at(Instant::now() + poll_every, poll_every);
    let give_up = tokio::time::sleep(Duration::from_secs(session.config().idle_timeout_secs));
    tokio::pin!(give_up);
    loop {
        tokio::select! {
            inbound = session.conn.read_inbound() => {
                return match inbound? {
                    Inbound::Message => {
                        let line = session.conn.message_bytes();
                        let line = line.strip_suffix(b"\n").unwrap_or(line);
                        let line = line.strip_suffix(b"\r").unwrap_or(line);
                        if line.eq_ignore_ascii_case(b"DONE") {
                            Ok(Reply::Ok("IDLE terminated".into()))
                        } else {
                            Ok(Reply::Bad("Expected DONE".into()))
                        }
                    }
                    Inbound::Closed => Err(Fail::Io(io::ErrorKind::UnexpectedEof.into())),
                    Inbound::LineTooLong | Inbound::LiteralAnnounced { .. } => {
                        session.conn.untagged("BYE Expected DONE");
                        Err(Fail::Io(io::Error::other("protocol error during IDLE")))
                    }
                };
            }
            wake = wakeups.recv(), if wakeups_open => {
                let ours = session.selected.as_ref().map(|s| s.mailbox.id);
                match wake {
                    Ok((mailbox, _)) if Some(mailbox) != ours => continue,
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => {
                        wakeups_open = false;
                        continue;
                    }
                }
                session.sync_selected(true).await?;
                session.conn.flush().await?;
            }
            _ = poll.tick() => {
                session.sync_selected(true).await?;
                session.conn.flush().await?;
            }
            _ = keepalive.tick() => {
                session.conn.untagged("OK Still here");
                session.conn.flush().await?;
            }
            _ = session.shutdown.requested() => {
                session.conn.untagged("BYE Server shutting down");
                return Err(Fail::Io(io::ErrorKind::Interrupted.into()));
            }
            reason = logout_requested(&mut session.logout) => {
                session.conn.untagged(&format!("BYE {reason}"));
                return Err(Fail::Io(io::ErrorKind::ConnectionAborted.into()));
            }
            _ = &mut give_up => {
                session.conn.untagged("BYE Idle for too long, closing");
                return Err(Fail::Io(io::ErrorKind::TimedOut.into()));
            }
        }
    }
}
