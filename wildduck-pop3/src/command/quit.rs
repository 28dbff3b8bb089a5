//! QUIT: in TRANSACTION it enters the UPDATE state and applies DELE and RETR.

use std::io;

use crate::reply::store_failure;
use crate::state::{Flow, Session, State};

pub(crate) async fn quit(session: &mut Session) -> io::Result<Flow> {
    let State::Transaction(transaction) = &session.state else {
        session.conn.ok("Bye").await?;
        return Ok(Flow::Close);
    };
    let shared = &session.shared;
    let result = transaction
        .maildrop
        .commit(&shared.store, shared.config.delete_moves_to_trash)
        .await;
    match result {
        Ok(removed) => {
            session
                .conn
                .ok(&format!("Bye, {removed} messages removed"))
                .await?
        }
        Err(error) => {
            tracing::warn!(%error, user = %transaction.user.id, "POP3 update failed");
            session
                .conn
                .err(&store_failure(&error, "Some deleted messages not removed"))
                .await?
        }
    }
    Ok(Flow::Close)
}
