//! RETR and TOP: stream a message (or its header and first lines) from the store's chunks,
//! dot-stuffed, without joining it into one buffer.

use std::io;

use wildduck_store::{Error, MessageError, Section, SectionBody, Store, UserId};

use crate::connection::Connection;
use crate::reply::store_failure;
use crate::state::{Flow, Session};
use crate::wire::{self, WireEncoder};

/// Input is encoded in slices of this size, bounding the output buffer.
const SLICE: usize = 32 * 1024;

pub(crate) async fn retr(session: &mut Session, number: u32) -> io::Result<Flow> {
    let Some((conn, shared, transaction)) = session.transaction() else {
        return session.bad_command("Command not valid in this state").await;
    };
    let maildrop = &mut transaction.maildrop;
    let message = match maildrop.get(number) {
        Ok(message) => message,
        Err(missing) => {
            conn.err(missing.reply()).await?;
            return Ok(Flow::Continue);
        }
    };
    let section = Section::full();
    let body = match shared
        .store
        .read_section(maildrop.mailbox, message.uid, &section, None)
        .await
    {
        Ok(body) => body,
        Err(error) => return unreadable(conn, error).await,
    };
    // STAT/LIST usually sized it already; counting again is a second pass over the message.
    let size = match maildrop.known_size(number, &shared.wire_sizes) {
        Some(size) => size,
        None => {
            let size = wire::wire_size(body.chunks.iter().map(|c| &c[..]));
            maildrop.learn_size(number, size, &shared.wire_sizes);
            size
        }
    };
    match charge_download(&shared.store, transaction.user.id, size).await {
        Ok(true) => {}
        Ok(false) => {
            conn.err("[SYS/TEMP] Daily download limit reached, try again tomorrow")
                .await?;
            return Ok(Flow::Continue);
        }
        Err(error) => return unreadable(conn, error).await,
    }
    conn.ok(&format!("{size} octets")).await?;
    let mut encoder = WireEncoder::transmit();
    send(conn, &mut encoder, &body).await?;
    finish(conn, &mut encoder).await?;
    if let Ok(message) = maildrop.get_mut(number) {
        message.retrieved = true;
    }
    Ok(Flow::Continue)
}

pub(crate) async fn top(session: &mut Session, number: u32, lines: u64) -> io::Result<Flow> {
    let Some((conn, shared, transaction)) = session.transaction() else {
        return session.bad_command("Command not valid in this state").await;
    };
    let maildrop = &transaction.maildrop;
    let message = match maildrop.get(number) {
        Ok(message) => message,
        Err(missing) => {
            conn.err(missing.reply()).await?;
            return Ok(Flow::Continue);
        }
    };
    // The whole message, cut here: TOP then agrees with RETR byte for byte, also for
    // messages without a body or with bare-LF line ends.
    let body = match shared
        .store
        .read_section(maildrop.mailbox, message.uid, &Section::full(), None)
        .await
    {
        Ok(body) => body,
        Err(error) => return unreadable(conn, error).await,
    };
    conn.ok("Top of message follows").await?;
    let mut encoder = WireEncoder::top(lines);
    send(conn, &mut encoder, &body).await?;
    finish(conn, &mut encoder).await?;
    Ok(Flow::Continue)
}

/// Counts `size` bytes against the user's daily download allowance (the store's counter,
/// shared with IMAP and, with Redis, with other processes) unless that would pass the limit;
/// false = refused, nothing counted.
async fn charge_download(store: &Store, user: UserId, size: u64) -> Result<bool, Error> {
    if let Some(limit) = store.limits().daily_download {
        let used_today = match store.add_download(user, 0).await? {
            Ok(total) => total,
            Err(_) => return Ok(false),
        };
        if used_today.saturating_add(size) > limit {
            return Ok(false);
        }
    }
    // Past the limit now only if another session counted meanwhile: this message was
    // already allowed, like a FETCH that crosses the limit.
    let _total_or_exceeded = store.add_download(user, size).await?;
    Ok(true)
}

async fn unreadable(conn: &mut Connection, error: Error) -> io::Result<Flow> {
    match error {
        Error::Message(MessageError::NotFound) => {
            conn.err("Message was removed by another session").await?
        }
        error => {
            tracing::warn!(%error, "POP3 could not read a message");
            conn.err(&store_failure(&error, "Could not read the message"))
                .await?
        }
    }
    Ok(Flow::Continue)
}

async fn send(
    conn: &mut Connection,
    encoder: &mut WireEncoder,
    body: &SectionBody,
) -> io::Result<()> {
    let mut out = Vec::with_capacity(SLICE + SLICE / 2);
    for chunk in &body.chunks {
        for slice in chunk.chunks(SLICE) {
            out.clear();
            encoder.encode(slice, &mut |piece| out.extend_from_slice(piece));
            conn.write(&out).await?;
        }
    }
    Ok(())
}

async fn finish(conn: &mut Connection, encoder: &mut WireEncoder) -> io::Result<()> {
    let mut end = Vec::with_capacity(5);
    encoder.finish(&mut |piece| end.extend_from_slice(piece));
    end.extend_from_slice(b".\r\n");
    conn.write(&end).await
}
