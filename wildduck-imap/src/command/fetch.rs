//! FETCH and UID FETCH: metadata and sections from one `Store::fetch` read (sections of
//! messages past its budget from `read_section`), streamed as literals, `\Seen` set by
//! non-PEEK body fetches (and reported in FLAGS). Section bytes count
//! against the user's daily download limit: a FETCH is refused once the day's total is past
//! it (as WildDuck does), and one that crosses it stops after the message that did.

use std::collections::HashMap;

use imap_codec::imap_types::sequence::SequenceSet;
use wildduck_store::{
    Error, FetchedMessage, Flag, FlagOp, Flags, MessageError, MetaFields, ModSeq, Partial, Section,
    SectionBody, Uid, UidSet,
};

use super::{FetchItem, qresync};
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
    vanished: bool,
) -> Outcome {
    let store = session.shared.store.clone();
    let Some(selected) = session.selected.as_ref() else {
        return Ok(Reply::Bad("Select a mailbox first".into()));
    };
    let (mailbox, read_only) = (selected.mailbox.id, selected.read_only);
    let uids = resolve(set, &selected.uids, uid_mode, !uid_mode)
        .map_err(|e| Fail::Reply(Reply::Bad(e)))?;
    if vanished {
        // RFC 7162 §3.2.6: only UID FETCH with CHANGEDSINCE, by a client that enabled QRESYNC.
        let (Some(since), true, true) = (changed_since, uid_mode, session.qresync) else {
            return Ok(Reply::Bad(
                "VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC".into(),
            ));
        };
        let present = selected.uids.clone();
        let since = qresync::since_then(&store, mailbox, since, Some(set), &present).await?;
        qresync::announce_earlier(session, &since.vanished);
    }
    // An item asked twice (`FETCH 1 (UID FLAGS UID)`) is answered once, as Dovecot does:
    // clients such as imaptest reject a response naming an item twice.
    let mut items: Vec<FetchItem> = Vec::with_capacity(requested.len());
    for item in requested {
        if !items.contains(item) {
            items.push(item.clone());
        }
    }
    // With QRESYNC every FETCH response carries the UID (RFC 7162 §3.2.4).
    if (uid_mode || session.qresync) && !items.contains(&FetchItem::Uid) {
        items.insert(0, FetchItem::Uid);
    }
    // FETCH MODSEQ and CHANGEDSINCE turn CONDSTORE on, and the client then learns the
    // mailbox's HIGHESTMODSEQ (RFC 7162 §3.1).
    if (changed_since.is_some() || items.contains(&FetchItem::ModSeq)) && !session.condstore {
        session.condstore = true;
        if let Some(highest) = session.selected.as_ref().map(|s| s.modseq) {
            session
                .conn
                .untagged(&format!("OK [HIGHESTMODSEQ {highest}] Highest"));
        }
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
    let requests = section_requests(&items);
    let mut messages = store.fetch(mailbox, &uid_set, fields, &requests).await?;
    if let Some(since) = changed_since {
        messages.retain(|m| m.meta.modseq > since);
    }

    // Non-PEEK body fetches mark messages \Seen before they are shown.
    let mut seen_now: HashMap<Uid, (Flags, ModSeq)> = HashMap::new();
    let marks_seen = items
        .iter()
        .any(|i| matches!(i, FetchItem::Section { peek: false, .. }));
    if marks_seen && !read_only {
        let unseen: UidSet = messages
            .iter()
            .filter(|m| !m.meta.flags.contains(&Flag::Seen))
            .map(|m| m.meta.uid)
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

    for FetchedMessage { meta, sections } in messages.iter_mut() {
        let Some((seq, recent)) = session
            .selected
            .as_ref()
            .and_then(|s| Some((s.sequence_of(meta.uid)?, s.is_recent(meta.uid))))
        else {
            continue;
        };
        // Every store read happens before the response starts, so a failure (the message
        // expunged by another session meanwhile) never leaves a FETCH line half written.
        let bodies = match sections.take() {
            Some(bodies) => bodies,
            None => match read_sections(&store, mailbox, meta.uid, &requests).await {
                Ok(bodies) => bodies,
                Err(Error::Message(MessageError::NotFound)) => continue,
                Err(e) => return Err(e.into()),
            },
        };
        let mut show_flags = false;
        if let Some((flags, modseq)) = seen_now.remove(&meta.uid) {
            meta.flags = flags;
            meta.modseq = modseq;
            show_flags = !items.contains(&FetchItem::Flags);
        }
        let shows_flags = show_flags || items.contains(&FetchItem::Flags);
        if let (true, Some(selected)) = (shows_flags, session.selected.as_mut()) {
            for line in selected.announce_keywords(&meta.flags) {
                session.conn.untagged(&line);
            }
        }
        session.conn.push_fmt(format_args!("* {seq} FETCH ("));
        let mut sent = 0;
        let mut bodies = bodies.into_iter();
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                session.conn.push(b" ");
            }
            let body = match item {
                FetchItem::Section { .. } => bodies.next(),
                _ => None,
            };
            sent += write_item(session, meta, recent, item, body).await?;
        }
        if show_flags {
            session.conn.push_fmt(format_args!(
                " FLAGS {}",
                encode::FlagList {
                    flags: &meta.flags,
                    recent
                }
            ));
        }
        session.conn.push(b")\r\n");
        let shows_state = show_flags
            || items
                .iter()
                .any(|i| matches!(i, FetchItem::Flags | FetchItem::ModSeq));
        if let (true, Some(selected)) = (shows_state, session.selected.as_mut()) {
            selected.shown(meta.uid, meta.modseq);
        }
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

/// The sections `items` ask for, with the byte range of each, in item order.
fn section_requests(items: &[FetchItem]) -> Vec<(Section, Option<Partial>)> {
    items
        .iter()
        .filter_map(|item| match item {
            FetchItem::Section {
                section, partial, ..
            } => {
                let range = partial.map(|(offset, length)| Partial {
                    offset: u64::from(offset),
                    length: Some(u64::from(length)),
                });
                Some((section.clone(), range))
            }
            _ => None,
        })
        .collect()
}

/// The sections of one message `requests` names, in order, each read on its own.
async fn read_sections(
    store: &wildduck_store::Store,
    mailbox: wildduck_store::MailboxId,
    uid: Uid,
    requests: &[(Section, Option<Partial>)],
) -> Result<Vec<SectionBody>, Error> {
    let mut bodies = Vec::with_capacity(requests.len());
    for (section, range) in requests {
        bodies.push(store.read_section(mailbox, uid, section, *range).await?);
    }
    Ok(bodies)
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

/// Writes one item; a section's body was read beforehand. Returns the section bytes sent.
async fn write_item(
    session: &mut Session,
    meta: &wildduck_store::MessageMeta,
    recent: bool,
    item: &FetchItem,
    body: Option<SectionBody>,
) -> Result<u64, Fail> {
    let utf8 = session.utf8;
    let conn = &mut session.conn;
    match item {
        FetchItem::Uid => conn.push_fmt(format_args!("UID {}", meta.uid)),
        FetchItem::Flags => conn.push_fmt(format_args!(
            "FLAGS {}",
            encode::FlagList {
                flags: &meta.flags,
                recent
            }
        )),
        FetchItem::InternalDate => conn.push_fmt(format_args!(
            "INTERNALDATE {}",
            encode::internal_date(meta.internal_date)
        )),
        FetchItem::Size => conn.push_fmt(format_args!("RFC822.SIZE {}", meta.size)),
        FetchItem::ModSeq => conn.push_fmt(format_args!("MODSEQ ({})", meta.modseq)),
        FetchItem::EmailId => conn.push_fmt(format_args!("EMAILID ({})", meta.email_id)),
        FetchItem::ThreadId => conn.push_str("THREADID NIL"),
        FetchItem::SaveDate => match meta.saved {
            Some(saved) => conn.push_fmt(format_args!("SAVEDATE {}", encode::internal_date(saved))),
            None => conn.push_str("SAVEDATE NIL"),
        },
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
        FetchItem::Section { label, partial, .. } => {
            let body = body.unwrap_or_default();
            conn.push_str(label);
            if let Some((offset, _)) = partial {
                conn.push_str(&format!("<{offset}>"));
            }
            conn.push(b" ");
            conn.write_literal(&body.chunks).await?;
            return Ok(body.len());
        }
    }
    Ok(0)
}
