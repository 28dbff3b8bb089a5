//! FETCH and UID FETCH: metadata from `fetch_meta`, sections from `read_section` streamed as
//! literals, `\Seen` set by non-PEEK body fetches (and reported in FLAGS). Section bytes count
//! against the user's daily download limit: a FETCH is refused once the day's total is past
//! it (as WildDuck does), and one that crosses it stops after the message that did.

use std::collections::HashMap;

use imap_codec::imap_types::sequence::SequenceSet;
use wildduck_store::{Flag, FlagOp, Flags, MetaFields, ModSeq, Partial, Uid, UidSet};

use super::FetchItem;
use crate::encode;
use crate::search::resolve;
use crate::state::{Fail, Outcome, Reply, Session};

/// Output buffered beyond this is written out between messages.
const FLUSH_AT: usize = 64 * 1024;

pub async fn fetch(
    session: &mut Session,
    uid_mode: bool,
    set: &SequenceSet,
    requested: &[FetchItem],
    changed_since: Option<ModSeq>,
) -> Outcome {
    let store = session.shared.store.clone();
    let Some(selected) = session.selected.as_ref() else {
        return Ok(Reply::Bad("Select a mailbox first".into()));
    };
    let (mailbox, read_only) = (selected.mailbox.id, selected.read_only);
    let uids = resolve(set, &selected.uids, uid_mode, !uid_mode)
        .map_err(|e| Fail::Reply(Reply::Bad(e)))?;
    let mut items = requested.to_vec();
    if uid_mode && !items.contains(&FetchItem::Uid) {
        items.insert(0, FetchItem::Uid);
    }
    if changed_since.is_some() {
        session.condstore = true;
    }
    // With CONDSTORE on, FLAGS always come with their MODSEQ (RFC 7162 §3.2).
    let wants_modseq =
        changed_since.is_some() || (session.condstore && items.contains(&FetchItem::Flags));
    if wants_modseq && !items.contains(&FetchItem::ModSeq) {
        items.push(FetchItem::ModSeq);
    }
    if uids.is_empty() {
        return Ok(Reply::Ok("Fetch completed".into()));
    }
    let user = session.user.as_ref().map(|u| u.id);
    let downloads = items.iter().any(|i| matches!(i, FetchItem::Section { .. }));
    if let (Some(user), true) = (user, downloads)
        && store.add_download(user, 0).await?.is_err()
    {
        return Ok(download_limit_reached());
    }
    let fields = MetaFields {
        envelope: items.contains(&FetchItem::Envelope),
        body_structure: items
            .iter()
            .any(|i| matches!(i, FetchItem::Body | FetchItem::BodyStructure)),
    };
    let uid_set: UidSet = uids.iter().copied().collect();
    let mut metas = store.fetch_meta(mailbox, &uid_set, fields).await?;
    if let Some(since) = changed_since {
        metas.retain(|m| m.modseq > since);
    }

    // Non-PEEK body fetches mark messages \Seen before they are shown.
    let mut seen_now: HashMap<Uid, (Flags, ModSeq)> = HashMap::new();
    let marks_seen = items
        .iter()
        .any(|i| matches!(i, FetchItem::Section { peek: false, .. }));
    if marks_seen && !read_only {
        let unseen: UidSet = metas
            .iter()
            .filter(|m| !m.flags.contains(&Flag::Seen))
            .map(|m| m.uid)
            .collect();
        if !unseen.is_empty() {
            let seen: Flags = [Flag::Seen].into_iter().collect();
            let outcome = store
                .store_flags(mailbox, &unseen, FlagOp::Add, &seen, None)
                .await?;
            if let (Some(modseq), Some(selected)) = (outcome.modseq, session.selected.as_mut()) {
                selected.own_modseqs.push(modseq);
            }
            for (uid, flags, modseq) in outcome.updated {
                seen_now.insert(uid, (flags, modseq));
            }
        }
    }

    for meta in metas.iter_mut() {
        let Some(seq) = session
            .selected
            .as_ref()
            .and_then(|s| s.sequence_of(meta.uid))
        else {
            continue;
        };
        let mut show_flags = false;
        if let Some((flags, modseq)) = seen_now.remove(&meta.uid) {
            meta.flags = flags;
            meta.modseq = modseq;
            show_flags = !items.contains(&FetchItem::Flags);
        }
        session.conn.push_fmt(format_args!("* {seq} FETCH ("));
        let mut first = true;
        let mut separator = |conn: &mut crate::connection::Connection| {
            if !std::mem::take(&mut first) {
                conn.push(b" ");
            }
        };
        let mut sent = 0;
        for item in &items {
            separator(&mut session.conn);
            sent += write_item(session, &store, mailbox, meta, item).await?;
        }
        if show_flags {
            separator(&mut session.conn);
            session
                .conn
                .push_fmt(format_args!("FLAGS {}", encode::FlagList(&meta.flags)));
        }
        session.conn.push(b")\r\n");
        if session.conn.pending_output() > FLUSH_AT {
            session.conn.flush().await?;
        }
        if let (Some(user), true) = (user, sent > 0)
            && store.add_download(user, sent).await?.is_err()
        {
            unmark_unsent(session, &store, mailbox, seen_now.into_keys()).await?;
            return Ok(download_limit_reached());
        }
    }
    Ok(Reply::Ok("Fetch completed".into()))
}

fn download_limit_reached() -> Reply {
    Reply::No("[LIMIT] Daily download limit reached, try again tomorrow".into())
}

/// A FETCH stopped early: messages it marked `\Seen` but did not send lose the flag again.
async fn unmark_unsent(
    session: &mut Session,
    store: &wildduck_store::Store,
    mailbox: wildduck_store::MailboxId,
    unsent: impl Iterator<Item = Uid>,
) -> Result<(), Fail> {
    let unsent: UidSet = unsent.collect();
    if unsent.is_empty() {
        return Ok(());
    }
    let seen: Flags = [Flag::Seen].into_iter().collect();
    let outcome = store
        .store_flags(mailbox, &unsent, FlagOp::Remove, &seen, None)
        .await?;
    if let (Some(modseq), Some(selected)) = (outcome.modseq, session.selected.as_mut()) {
        selected.own_modseqs.push(modseq);
    }
    Ok(())
}

async fn write_item(
    session: &mut Session,
    store: &wildduck_store::Store,
    mailbox: wildduck_store::MailboxId,
    meta: &wildduck_store::MessageMeta,
    item: &FetchItem,
) -> Result<u64, Fail> {
    let utf8 = session.utf8;
    let conn = &mut session.conn;
    match item {
        FetchItem::Uid => conn.push_fmt(format_args!("UID {}", meta.uid)),
        FetchItem::Flags => conn.push_fmt(format_args!("FLAGS {}", encode::FlagList(&meta.flags))),
        FetchItem::InternalDate => conn.push_fmt(format_args!(
            "INTERNALDATE {}",
            encode::internal_date(meta.internal_date)
        )),
        FetchItem::Size => conn.push_fmt(format_args!("RFC822.SIZE {}", meta.size)),
        FetchItem::ModSeq => conn.push_fmt(format_args!("MODSEQ ({})", meta.modseq)),
        FetchItem::Envelope => {
            let mut out = b"ENVELOPE ".to_vec();
            encode::envelope(
                &mut out,
                meta.envelope.as_ref().unwrap_or(&Default::default()),
                utf8,
            );
            conn.push(&out);
        }
        FetchItem::Body | FetchItem::BodyStructure => {
            let extended = matches!(item, FetchItem::BodyStructure);
            let mut out = if extended {
                b"BODYSTRUCTURE ".to_vec()
            } else {
                b"BODY ".to_vec()
            };
            encode::body_structure(
                &mut out,
                meta.body_structure.as_ref().unwrap_or(&Default::default()),
                extended,
                utf8,
            );
            conn.push(&out);
        }
        FetchItem::Section {
            label,
            section,
            partial,
            ..
        } => {
            let range = partial.map(|(offset, length)| Partial {
                offset: u64::from(offset),
                length: Some(u64::from(length)),
            });
            let body = store
                .read_section(mailbox, meta.uid, section, range)
                .await?;
            conn.push_str(label);
            if let Some((offset, _)) = partial {
                conn.push_str(&format!("<{offset}>"));
            }
            conn.push(b" ");
            conn.write_literal(&body.chunks).await?;
            return Ok(body.chunks.iter().map(|c| c.len() as u64).sum());
        }
    }
    Ok(0)
}
