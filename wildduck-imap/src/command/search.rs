//! SEARCH and UID SEARCH: the key was converted (sequence sets resolved) when parsed; the
//! store answers with UIDs, shown as sequence numbers or UIDs.

use wildduck_store::SearchKey;

use crate::session::{Outcome, Reply, Session};

pub async fn search(session: &mut Session, uid_mode: bool, key: &SearchKey) -> Outcome {
    let store = session.shared.store.clone();
    let Some(selected) = session.selected.as_ref() else {
        return Ok(Reply::Bad("Select a mailbox first".into()));
    };
    let found = store.search(selected.mailbox.id, key).await?;
    let mut line = String::from("SEARCH");
    for uid in found {
        // Messages this session has not been told about yet are left out.
        if let Some(seq) = selected.sequence_of(uid) {
            line.push(' ');
            line.push_str(&if uid_mode {
                uid.to_string()
            } else {
                seq.to_string()
            });
        }
    }
    session.conn.untagged(&line);
    Ok(Reply::Ok("Search completed".into()))
}
