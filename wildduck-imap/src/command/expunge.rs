//! EXPUNGE, UID EXPUNGE (UIDPLUS) and CLOSE.

use imap_codec::imap_types::sequence::SequenceSet;
use wildduck_store::UidSet;

use super::qresync::expunge_lines;
use crate::search::resolve;
use crate::state::{Fail, Outcome, Reply, Session};

pub async fn expunge(session: &mut Session, uids: Option<&SequenceSet>) -> Outcome {
    let store = session.shared.store.clone();
    let Some(selected) = session.selected.as_ref() else {
        return Ok(Reply::Bad("Select a mailbox first".into()));
    };
    if selected.read_only {
        return Ok(Reply::No("[READ-ONLY] Mailbox is read-only".into()));
    }
    let mailbox = selected.mailbox.id;
    let limit: Option<UidSet> = match uids {
        Some(set) => Some(
            resolve(set, &selected.uids, true, false)
                .map_err(|e| Fail::Reply(Reply::Bad(e)))?
                .into_iter()
                .collect(),
        ),
        None => None,
    };
    if limit.as_ref().is_some_and(UidSet::is_empty) {
        return Ok(Reply::Ok("Expunge completed".into()));
    }
    let outcome = store.expunge(mailbox, limit.as_ref()).await?;
    if let Some(selected) = session.selected.as_mut() {
        for line in expunge_lines(selected, outcome.uids, session.qresync) {
            session.conn.untagged(&line);
        }
    }
    Ok(Reply::Ok("Expunge completed".into()))
}

/// Expunges silently (unless read-only) and leaves the selected state.
pub async fn close(session: &mut Session) -> Outcome {
    let store = session.shared.store.clone();
    if let Some(selected) = session.selected.take()
        && !selected.read_only
    {
        store.expunge(selected.mailbox.id, None).await?;
    }
    Ok(Reply::Ok("Close completed".into()))
}
