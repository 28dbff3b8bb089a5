//! DELE, RSET, NOOP: marks that take effect only at QUIT.

use std::io;

use crate::state::{Flow, Session};

pub(crate) async fn dele(session: &mut Session, number: u32) -> io::Result<Flow> {
    let Some((conn, _, transaction)) = session.transaction() else {
        return session.bad_command("Command not valid in this state").await;
    };
    match transaction.maildrop.get_mut(number) {
        Ok(message) => {
            message.deleted = true;
            conn.ok(&format!("Message {number} deleted")).await?;
        }
        Err(missing) => conn.err(missing.reply()).await?,
    }
    Ok(Flow::Continue)
}

pub(crate) async fn rset(session: &mut Session) -> io::Result<Flow> {
    let Some((conn, _, transaction)) = session.transaction() else {
        return session.bad_command("Command not valid in this state").await;
    };
    transaction.maildrop.undelete_all();
    let count = transaction.maildrop.visible().count();
    conn.ok(&format!("Maildrop has {count} messages")).await?;
    Ok(Flow::Continue)
}

pub(crate) async fn noop(session: &mut Session) -> io::Result<Flow> {
    session.conn.ok("").await?;
    Ok(Flow::Continue)
}
