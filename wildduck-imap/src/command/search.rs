//! SEARCH and UID SEARCH: the key was converted (sequence sets resolved) when parsed; the
//! store answers with UIDs, shown as sequence numbers or UIDs, as `* SEARCH` or, with
//! `RETURN (…)`, as `* ESEARCH` (RFC 4731). `RETURN (SAVE)` keeps the result for `$`
//! (RFC 5182). SORT answers through [`answer`] too.

use std::collections::HashMap;

use wildduck_store::{MetaFields, ModSeq, SearchKey, Uid, UidSet};

use crate::esearch::{ReturnOptions, set_text};
use crate::state::{Outcome, Reply, Session};

pub async fn search(
    session: &mut Session,
    tag: &str,
    uid_mode: bool,
    key: &SearchKey,
    returns: Option<ReturnOptions>,
) -> Outcome {
    let store = session.shared.store.clone();
    let Some(selected) = session.selected.as_mut() else {
        return Ok(Reply::Bad("Select a mailbox first".into()));
    };
    // A SAVE whose search fails leaves an empty result (RFC 5182 §2.1).
    if returns.is_some_and(|r| r.save) {
        selected.saved.clear();
    }
    let found = store.search(selected.mailbox.id, key).await?;
    answer(session, tag, uid_mode, found, key, returns, "SEARCH").await?;
    Ok(Reply::Ok("Search completed".into()))
}

/// Writes the result of SEARCH or SORT (`word`): `found` in result order; messages the
/// session was not told of yet are left out.
pub async fn answer(
    session: &mut Session,
    tag: &str,
    uid_mode: bool,
    found: Vec<Uid>,
    key: &SearchKey,
    returns: Option<ReturnOptions>,
    word: &str,
) -> Result<(), crate::state::Fail> {
    let store = session.shared.store.clone();
    let Some(selected) = session.selected.as_mut() else {
        return Ok(());
    };
    let shown: Vec<(Uid, u32)> = found
        .into_iter()
        .filter_map(|uid| Some((uid, selected.sequence_of(uid)? as u32)))
        .collect();
    let number = |&(uid, seq): &(Uid, u32)| if uid_mode { uid } else { seq };
    // A MODSEQ search reports MODSEQs of what it found (RFC 7162 §3.1.5).
    let modseqs: HashMap<Uid, ModSeq> = if uses_modseq(key) && !shown.is_empty() {
        let uids: UidSet = shown.iter().map(|(uid, _)| *uid).collect();
        store
            .fetch_meta(selected.mailbox.id, &uids, MetaFields::default())
            .await?
            .into_iter()
            .map(|m| (m.uid, m.modseq))
            .collect()
    } else {
        HashMap::new()
    };
    let highest = |of: &[(Uid, u32)]| {
        of.iter()
            .filter_map(|(uid, _)| modseqs.get(uid))
            .max()
            .copied()
    };
    let Some(returns) = returns else {
        let mut line = String::from(word);
        for found in &shown {
            line.push_str(&format!(" {}", number(found)));
        }
        if let Some(highest) = highest(&shown) {
            line.push_str(&format!(" (MODSEQ {highest})"));
            selected.shown_modseq(highest);
        }
        session.conn.untagged(&line);
        return Ok(());
    };
    // SEARCH's MIN and MAX are the lowest and highest; ESORT's the first and last in order.
    let (first, last) = if word == "SEARCH" {
        (
            shown.iter().min_by_key(|s| s.0),
            shown.iter().max_by_key(|s| s.0),
        )
    } else {
        (shown.first(), shown.last())
    };
    if returns.save {
        let uids: Vec<Uid> = shown.iter().map(|(uid, _)| *uid).collect();
        selected.saved = returns.saved(&uids, first.map(|s| s.0), last.map(|s| s.0));
    }
    if !returns.answers() {
        return Ok(());
    }
    let mut line = format!("ESEARCH (TAG \"{tag}\")");
    if uid_mode {
        line.push_str(" UID");
    }
    if let (true, Some(first)) = (returns.min, first) {
        line.push_str(&format!(" MIN {}", number(first)));
    }
    if let (true, Some(last)) = (returns.max, last) {
        line.push_str(&format!(" MAX {}", number(last)));
    }
    if returns.all && !shown.is_empty() {
        let numbers: Vec<u32> = shown.iter().map(number).collect();
        line.push_str(&format!(" ALL {}", set_text(&numbers)));
    }
    if returns.count {
        line.push_str(&format!(" COUNT {}", shown.len()));
    }
    // MIN or MAX alone: that message's MODSEQ; else the highest of all found (RFC 4731 §3.2).
    let only = |flag: bool| {
        flag && [returns.min, returns.max, returns.all, returns.count]
            .iter()
            .filter(|f| **f)
            .count()
            == 1
    };
    let modseq = if only(returns.min) {
        first.and_then(|f| highest(std::slice::from_ref(f)))
    } else if only(returns.max) {
        last.and_then(|l| highest(std::slice::from_ref(l)))
    } else {
        highest(&shown)
    };
    if let Some(modseq) = modseq {
        line.push_str(&format!(" MODSEQ {modseq}"));
        selected.shown_modseq(modseq);
    }
    session.conn.untagged(&line);
    Ok(())
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
