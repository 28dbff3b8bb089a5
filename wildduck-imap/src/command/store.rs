//! STORE and UID STORE (+FLAGS, -FLAGS, FLAGS, .SILENT, CONDSTORE UNCHANGEDSINCE).

use imap_codec::imap_types::sequence::SequenceSet;
use wildduck_store::{FlagOp, Flags, ModSeq, UidSet};

use crate::encode;
use crate::search::resolve;
use crate::state::{Fail, Outcome, Reply, Session};

pub async fn store(
    session: &mut Session,
    uid_mode: bool,
    set: &SequenceSet,
    op: FlagOp,
    silent: bool,
    flags: &Flags,
    unchanged_since: Option<ModSeq>,
) -> Outcome {
    let store = session.shared.store.clone();
    let Some(selected) = session.selected.as_ref() else {
        return Ok(Reply::Bad("Select a mailbox first".into()));
    };
    if selected.read_only {
        return Ok(Reply::No("[READ-ONLY] Mailbox is read-only".into()));
    }
    let mailbox = selected.mailbox.id;
    let uids = resolve(set, &selected.uids, uid_mode, !uid_mode)
        .map_err(|e| Fail::Reply(Reply::Bad(e)))?;
    if unchanged_since.is_some() {
        session.condstore = true;
    }
    if uids.is_empty() {
        return Ok(Reply::Ok("Store completed".into()));
    }
    let uid_set: UidSet = uids.iter().copied().collect();
    let outcome = store
        .store_flags(mailbox, &uid_set, op, flags, unchanged_since)
        .await?;
    let Some(selected) = session.selected.as_mut() else {
        return Ok(Reply::Ok("Store completed".into()));
    };
    if let Some(modseq) = outcome.modseq {
        selected.own_modseqs.push(modseq);
    }
    // The stored keywords are the mailbox's from now on; the updated messages may also show
    // keywords another session has just added.
    let mut lines = selected.announce_keywords(
        flags
            .iter()
            .chain(outcome.updated.iter().flat_map(|(_, flags, _)| flags)),
    );
    // With UNCHANGEDSINCE the client needs the new MODSEQs even when silent (RFC 7162 §3.2).
    let show_modseq = session.condstore;
    let report = !silent || (unchanged_since.is_some() && show_modseq);
    for (uid, flags, modseq) in outcome.updated.iter().filter(|_| report) {
        let Some(seq) = selected.sequence_of(*uid) else {
            continue;
        };
        let mut parts = Vec::new();
        // With QRESYNC every FETCH response carries the UID (RFC 7162 §3.2.4).
        if uid_mode || session.qresync {
            parts.push(format!("UID {uid}"));
        }
        if !silent {
            parts.push(format!(
                "FLAGS {}",
                encode::flag_list(flags, selected.is_recent(*uid))
            ));
        }
        if show_modseq {
            parts.push(format!("MODSEQ ({modseq})"));
        }
        lines.push(format!("{seq} FETCH ({})", parts.join(" ")));
        selected.shown(*uid, *modseq);
    }
    for line in lines {
        session.conn.untagged(&line);
    }
    if outcome.modified.is_empty() {
        return Ok(Reply::Ok("Store completed".into()));
    }
    let selected = session.selected.as_ref();
    let modified: Vec<String> = outcome
        .modified
        .iter()
        .filter_map(|uid| {
            if uid_mode {
                Some(uid.to_string())
            } else {
                selected
                    .and_then(|s| s.sequence_of(*uid))
                    .map(|seq| seq.to_string())
            }
        })
        .collect();
    Ok(Reply::Ok(format!(
        "[MODIFIED {}] Conditional store failed",
        modified.join(",")
    )))
}
