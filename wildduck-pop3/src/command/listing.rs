//! STAT, LIST, UIDL: the scan and unique-id listings.

use std::io;

use crate::reply::store_failure;
use crate::state::{Flow, Session};

pub(crate) async fn stat(session: &mut Session) -> io::Result<Flow> {
    let Some((conn, shared, transaction)) = session.transaction() else {
        return session.bad_command("Command not valid in this state").await;
    };
    let maildrop = &mut transaction.maildrop;
    if let Err(error) = maildrop
        .ensure_sizes(&shared.store, &shared.wire_sizes, None)
        .await
    {
        tracing::warn!(%error, "POP3 could not size messages");
        conn.err(&store_failure(&error, "Could not read the maildrop"))
            .await?;
        return Ok(Flow::Continue);
    }
    let (count, size) = maildrop.totals();
    conn.ok(&format!("{count} {size}")).await?;
    Ok(Flow::Continue)
}

pub(crate) async fn list(session: &mut Session, number: Option<u32>) -> io::Result<Flow> {
    let Some((conn, shared, transaction)) = session.transaction() else {
        return session.bad_command("Command not valid in this state").await;
    };
    let maildrop = &mut transaction.maildrop;
    if let Some(number) = number
        && let Err(missing) = maildrop.get(number)
    {
        conn.err(missing.reply()).await?;
        return Ok(Flow::Continue);
    }
    if let Err(error) = maildrop
        .ensure_sizes(&shared.store, &shared.wire_sizes, number)
        .await
    {
        tracing::warn!(%error, "POP3 could not size messages");
        conn.err(&store_failure(&error, "Could not read the maildrop"))
            .await?;
        return Ok(Flow::Continue);
    }
    match number {
        Some(number) => match maildrop.get(number) {
            Ok(message) => conn.ok(&format!("{number} {}", message.size())).await?,
            Err(missing) => conn.err(missing.reply()).await?,
        },
        None => {
            let (count, size) = maildrop.totals();
            let mut response = format!("+OK {count} messages ({size} octets)\r\n");
            for (number, message) in maildrop.visible() {
                response.push_str(&format!("{number} {}\r\n", message.size()));
            }
            response.push_str(".\r\n");
            conn.write(response.as_bytes()).await?;
        }
    }
    Ok(Flow::Continue)
}

pub(crate) async fn uidl(session: &mut Session, number: Option<u32>) -> io::Result<Flow> {
    let Some((conn, _, transaction)) = session.transaction() else {
        return session.bad_command("Command not valid in this state").await;
    };
    let maildrop = &transaction.maildrop;
    match number {
        Some(number) => match maildrop.get(number) {
            Ok(message) => {
                conn.ok(&format!("{number} {}", message.unique_id()))
                    .await?
            }
            Err(missing) => conn.err(missing.reply()).await?,
        },
        None => {
            let mut response = String::from("+OK Unique-ID listing follows\r\n");
            for (number, message) in maildrop.visible() {
                response.push_str(&format!("{number} {}\r\n", message.unique_id()));
            }
            response.push_str(".\r\n");
            conn.write(response.as_bytes()).await?;
        }
    }
    Ok(Flow::Continue)
}
