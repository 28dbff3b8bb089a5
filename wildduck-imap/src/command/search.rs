//! SEARCH and UID SEARCH: the key was converted (sequence sets resolved) when parsed; the
//! store answers with UIDs, shown as sequence numbers or UIDs.

use wildduck_store::{MetaFields, SearchKey, UidSet};

use crate::state::{Outcome, Reply, Session};

pub async fn search(session: &mut Session, uid_mode: bool, key: &SearchKey) -> Outcome {
    let store = session.shared.store.clone();
    let Some(selected) = session.selected.as_ref() else {
        return Ok(Reply::Bad("Select a mailbox first".into()));
    };
    let found = store.search(selected.mailbox.id, key).await?;
    let mut line = String::from("SEARCH");
    // Messages this session has not been told about yet are left out.
    let shown: Vec<_> = found
        .into_iter()
        .filter_map(|uid| Some((uid, selected.sequence_of(uid)?)))
        .collect();
    for (uid, seq) in &shown {
        line.push(' ');
        line.push_str(&if uid_mode {
            uid.to_string()
        } else {
            seq.to_string()
        });
    }
    // A MODSEQ search reports the highest MODSEQ of what it found (RFC 7162 §3.4).
    if uses_modseq(key) && !shown.is_empty() {
        let uids: UidSet = shown.iter().map(|(uid, _)| *uid).collect();
        let metas = store
            .fetch_meta(selected.mailbox.id, &uids, MetaFields::default())
            .await?;
        if let Some(highest) = metas.iter().map(|m| m.modseq).max() {
            line.push_str(&format!(" (MODSEQ {highest})"));
        }
    }
    session.conn.untagged(&line);
    Ok(Reply::Ok("Search completed".into()))
}

fn uses_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeqAtLeast(_) => true,
        SearchKey::Not(inner) => uses_modseq(inner),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::And(keys) => keys.iter().any(uses_modseq),
        _ => false,
    }
}
