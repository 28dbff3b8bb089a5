//! COPY, MOVE and their UID forms, with UIDPLUS COPYUID.

use imap_codec::imap_types::sequence::SequenceSet;
use wildduck_store::{CopyOutcome, Error, MailboxError, Uid, UidSet};

use crate::encode;
use crate::search::resolve;
use crate::state::{Fail, Outcome, Reply, Session};

fn copyuid(outcome: &CopyOutcome) -> String {
    format!(
        "COPYUID {} {} {}",
        outcome.uidvalidity,
        encode::uid_list(outcome.pairs.iter().map(|p| p.0)),
        encode::uid_list(outcome.pairs.iter().map(|p| p.1))
    )
}

pub async fn copy(
    session: &mut Session,
    uid_mode: bool,
    set: &SequenceSet,
    target: &str,
    is_move: bool,
) -> Outcome {
    let store = session.shared.store.clone();
    let (Some(selected), Some(user)) = (session.selected.as_ref(), session.user.as_ref()) else {
        return Ok(Reply::Bad("Select a mailbox first".into()));
    };
    if is_move && selected.read_only {
        return Ok(Reply::No("[READ-ONLY] Mailbox is read-only".into()));
    }
    let source = selected.mailbox.id;
    let uids = resolve(set, &selected.uids, uid_mode, !uid_mode)
        .map_err(|e| Fail::Reply(Reply::Bad(e)))?;
    let target = match store.get_mailbox(user.id, target).await {
        Ok(target) => target,
        Err(Error::Mailbox(MailboxError::NotFound)) => {
            return Ok(Reply::No("[TRYCREATE] No such mailbox".into()));
        }
        Err(e) => return Err(e.into()),
    };
    let verb = if is_move { "Move" } else { "Copy" };
    if uids.is_empty() {
        return Ok(Reply::Ok(format!("{verb} completed")));
    }
    let uid_set: UidSet = uids.iter().copied().collect();
    if !is_move {
        let outcome = store.copy(source, &uid_set, target.id).await?;
        if outcome.pairs.is_empty() {
            return Ok(Reply::Ok("Copy completed".into()));
        }
        return Ok(Reply::Ok(format!("[{}] Copy completed", copyuid(&outcome))));
    }
    let outcome = store.move_messages(source, &uid_set, target.id).await?;
    if !outcome.pairs.is_empty() {
        session
            .conn
            .untagged(&format!("OK [{}] Moved", copyuid(&outcome)));
    }
    // Report the moved messages as expunged, highest sequence number first so each number
    // stays valid while earlier ones are removed.
    if let Some(selected) = session.selected.as_mut() {
        let mut moved: Vec<Uid> = outcome.pairs.iter().map(|(uid, _)| *uid).collect();
        moved.sort_unstable_by(|a, b| b.cmp(a));
        for line in super::qresync::expunge_lines(selected, moved, session.qresync) {
            session.conn.untagged(&line);
        }
    }
    Ok(Reply::Ok("Move completed".into()))
}
