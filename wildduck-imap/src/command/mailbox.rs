//! Mailbox commands: SELECT/EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE/UNSUBSCRIBE,
//! LIST/LSUB/XLIST (with LIST-EXTENDED, SPECIAL-USE, LIST-STATUS), STATUS, NAMESPACE.

use std::collections::BTreeSet;

use imap_codec::imap_types::status::StatusDataItemName;
use wildduck_store::{
    Error, Flag, Mailbox, MailboxError, MailboxId, PATH_SEPARATOR, SearchKey, SelectView,
    SpecialUse, Store, Uid,
};

use super::qresync::{Remembered, resync_at_select};
use super::{ListRequest, StatusItem};
use crate::encode;
use crate::state::{Outcome, Reply, Selected, Session, flags_announcement};
use crate::utf7;

/// The name of a mailbox on the wire (modified UTF-7, quoted when needed).
/// A store path as the client reads it: UTF-8 once it enabled UTF8=ACCEPT (RFC 6855),
/// modified UTF-7 otherwise.
pub fn wire_name(path: &str, utf8: bool) -> String {
    let mut out = Vec::new();
    if utf8 {
        encode::astring_utf8(&mut out, path);
    } else {
        encode::astring(&mut out, &utf7::encode(path));
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn user_id(session: &Session) -> Result<wildduck_store::UserId, Reply> {
    session
        .user
        .as_ref()
        .map(|u| u.id)
        .ok_or_else(|| Reply::Bad("Log in first".into()))
}

pub fn namespace(session: &mut Session) -> Outcome {
    session.conn.untagged("NAMESPACE ((\"\" \"/\")) NIL NIL");
    Ok(Reply::Ok("Namespace completed".into()))
}

pub async fn select(
    session: &mut Session,
    name: &str,
    read_only: bool,
    condstore: bool,
    qresync: Option<&Remembered>,
) -> Outcome {
    if qresync.is_some() && !session.qresync {
        return Ok(Reply::Bad("QRESYNC is not enabled".into()));
    }
    // A failed SELECT leaves no mailbox selected (RFC 3501 §6.3.1); with QRESYNC the client
    // is told where the old mailbox's responses end (RFC 7162 §3.2.11).
    if session.selected.take().is_some() && session.qresync {
        session.conn.untagged("OK [CLOSED] Previous mailbox closed");
    }
    let user = user_id(session).map_err(crate::state::Fail::Reply)?;
    if condstore {
        session.condstore = true;
    }
    let store = session.store().clone();
    let mailbox = store.get_mailbox(user, name).await?;
    if mailbox.hidden {
        // As WildDuck: a mailbox hidden through the API can not be opened over IMAP.
        return Ok(Reply::No("[CANNOT] This mailbox is hidden".into()));
    }
    let SelectView {
        snapshot,
        keywords,
        first_unseen,
    } = store.select_view(mailbox.id).await?;
    for line in flags_announcement(&keywords, read_only) {
        session.conn.untagged(&line);
    }
    let recent = recent_at_select(&store, mailbox.id, &snapshot.uids, read_only).await?;
    session
        .conn
        .untagged(&format!("{} EXISTS", snapshot.uids.len()));
    session.conn.untagged(&format!("{} RECENT", recent.len()));
    if let Some(index) = first_unseen {
        session
            .conn
            .untagged(&format!("OK [UNSEEN {}] First unseen", index + 1));
    }
    session.conn.untagged(&format!(
        "OK [UIDVALIDITY {}] UIDs valid",
        snapshot.uidvalidity
    ));
    session.conn.untagged(&format!(
        "OK [UIDNEXT {}] Predicted next UID",
        snapshot.uidnext
    ));
    session.conn.untagged(&format!(
        "OK [HIGHESTMODSEQ {}] Highest",
        snapshot.highest_modseq
    ));
    session
        .conn
        .untagged(&format!("OK [MAILBOXID ({})] Ok", mailbox.id));
    session.selected = Some(Selected::new(
        mailbox, read_only, snapshot, keywords, recent,
    ));
    if let Some(remembered) = qresync {
        resync_at_select(session, remembered).await?;
    }
    let mode = if read_only {
        "[READ-ONLY] EXAMINE"
    } else {
        "[READ-WRITE] SELECT"
    };
    Ok(Reply::Ok(format!("{mode} completed")))
}

/// The \Recent messages of a session opening a mailbox: SELECT claims what it sees that no
/// session claimed before; EXAMINE shows what nobody claimed and leaves it unclaimed.
async fn recent_at_select(
    store: &Store,
    mailbox: MailboxId,
    uids: &[Uid],
    read_only: bool,
) -> Result<BTreeSet<Uid>, Error> {
    let Some(&highest) = uids.last() else {
        return Ok(BTreeSet::new());
    };
    let recent: Vec<Uid> = if read_only {
        store.unclaimed_recent(mailbox).await?
    } else {
        let claimed = store.claim_recent(mailbox, highest).await?;
        let first = uids.partition_point(|uid| uid < claimed.start());
        uids[first..].to_vec()
    };
    Ok(recent.into_iter().filter(|&uid| uid <= highest).collect())
}

pub async fn create(session: &mut Session, name: &str, special_use: Option<SpecialUse>) -> Outcome {
    let user = user_id(session).map_err(crate::state::Fail::Reply)?;
    let name = name.trim_end_matches(PATH_SEPARATOR);
    if name.is_empty() {
        return Ok(Reply::Bad("Mailbox name is empty".into()));
    }
    if name.eq_ignore_ascii_case("INBOX") {
        return Ok(Reply::No("[ALREADYEXISTS] INBOX always exists".into()));
    }
    let created = session
        .store()
        .create_unsubscribed_mailbox(user, name, special_use)
        .await?;
    Ok(Reply::Ok(format!(
        "[MAILBOXID ({})] Create completed",
        created.id
    )))
}

pub async fn delete(session: &mut Session, name: &str) -> Outcome {
    let user = user_id(session).map_err(crate::state::Fail::Reply)?;
    if name.eq_ignore_ascii_case("INBOX") {
        return Ok(Reply::No("[CANNOT] INBOX can not be deleted".into()));
    }
    session.store().delete_mailbox(user, name).await?;
    if session
        .selected
        .as_ref()
        .is_some_and(|s| s.mailbox.path == name)
    {
        session.selected = None;
    }
    Ok(Reply::Ok("Delete completed".into()))
}

pub async fn rename(session: &mut Session, from: &str, to: &str) -> Outcome {
    let user = user_id(session).map_err(crate::state::Fail::Reply)?;
    let to = to.trim_end_matches(PATH_SEPARATOR);
    if to.eq_ignore_ascii_case("INBOX") {
        return Ok(Reply::No("[ALREADYEXISTS] INBOX always exists".into()));
    }
    session.store().rename_mailbox(user, from, to).await?;
    Ok(Reply::Ok("Rename completed".into()))
}

pub async fn subscribe(session: &mut Session, name: &str, subscribed: bool) -> Outcome {
    let user = user_id(session).map_err(crate::state::Fail::Reply)?;
    session
        .store()
        .set_subscribed(user, name, subscribed)
        .await?;
    Ok(Reply::Ok(format!(
        "{} completed",
        if subscribed {
            "Subscribe"
        } else {
            "Unsubscribe"
        }
    )))
}

/// Whether `path` matches an IMAP LIST pattern (`*` anything, `%` anything but `/`).
pub fn matches_pattern(pattern: &str, path: &str) -> bool {
    // INBOX is case-insensitive, also as the first level of a pattern.
    let pattern = match pattern.get(..5) {
        Some(head) if head.eq_ignore_ascii_case("INBOX") && path.starts_with("INBOX") => {
            format!("INBOX{}", &pattern[5..])
        }
        _ => pattern.to_string(),
    };
    let pattern: Vec<char> = pattern.chars().collect();
    let path: Vec<char> = path.chars().collect();
    // Dynamic programming over (pattern prefix, path prefix): linear in each, so hostile
    // patterns like `*a*a*a*…` cost no more than plain ones.
    let mut reachable = vec![false; path.len() + 1];
    reachable[0] = true;
    for &p in &pattern {
        let mut next = vec![false; path.len() + 1];
        match p {
            '*' | '%' => {
                for i in 0..=path.len() {
                    next[i] = reachable[i]
                        || (i > 0 && next[i - 1] && (p == '*' || path[i - 1] != PATH_SEPARATOR));
                }
            }
            c => {
                for i in 1..=path.len() {
                    next[i] = reachable[i - 1] && path[i - 1] == c;
                }
            }
        }
        reachable = next;
    }
    reachable[path.len()]
}

fn xlist_attribute(mailbox: &Mailbox) -> Option<&'static str> {
    if mailbox.path == "INBOX" {
        return Some("\\Inbox");
    }
    mailbox.special_use.map(|role| match role {
        SpecialUse::Junk => "\\Spam",
        SpecialUse::All => "\\AllMail",
        SpecialUse::Flagged => "\\Starred",
        other => other.attribute(),
    })
}

pub async fn list(session: &mut Session, request: &ListRequest) -> Outcome {
    let user = user_id(session).map_err(crate::state::Fail::Reply)?;
    let keyword = if request.lsub {
        "LSUB"
    } else if request.xlist {
        "XLIST"
    } else {
        "LIST"
    };
    if !request.extended && request.patterns.iter().all(String::is_empty) {
        session
            .conn
            .untagged(&format!("{keyword} (\\Noselect) \"/\" \"\""));
        return Ok(Reply::Ok(format!("{keyword} completed")));
    }
    let store = session.store().clone();
    // Hidden mailboxes (WildDuck's API setting) are left out of LIST and LSUB.
    let mut mailboxes = store.list_mailboxes(user).await?;
    mailboxes.retain(|m| !m.hidden);
    let patterns: Vec<String> = request
        .patterns
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| format!("{}{}", request.reference, p))
        .collect();
    let only_subscribed = request.lsub || request.select_subscribed;
    // Names subscribed after their mailbox was deleted (RFC 3501 §6.3.6) are listed only
    // where subscriptions are asked for.
    let dangling = if only_subscribed {
        store.subscriptions_without_mailbox(user).await?
    } else {
        Vec::new()
    };
    let selected = |m: &Mailbox| {
        (!only_subscribed || m.subscribed)
            && (!request.select_special_use || m.special_use.is_some())
    };
    let matched_path = |path: &str| patterns.iter().any(|p| matches_pattern(p, path));
    let matched = |m: &Mailbox| matched_path(&m.path);
    let childinfo = childinfo_item(request);
    for mailbox in &mailboxes {
        if !matched(mailbox) {
            continue;
        }
        let prefix = format!("{}{}", mailbox.path, PATH_SEPARATOR);
        let descendants = || mailboxes.iter().filter(|m| m.path.starts_with(&prefix));
        // RECURSIVEMATCH (RFC 5258 §3.1): a parent that does not meet the selection is shown
        // for descendants that do and that the patterns do not show themselves.
        let dangling_below = || dangling.iter().filter(|name| name.starts_with(&prefix));
        let shown_for_descendants = request.recursive_match
            && (descendants().any(|d| selected(d) && !matched(d))
                || dangling_below().any(|name| !matched_path(name)));
        if !selected(mailbox) && !shown_for_descendants {
            continue;
        }
        let has_children = descendants().next().is_some();
        let mut attributes = vec![if has_children {
            "\\HasChildren"
        } else {
            "\\HasNoChildren"
        }];
        if (request.select_subscribed || request.return_subscribed) && mailbox.subscribed {
            attributes.push("\\Subscribed");
        }
        if request.xlist {
            attributes.extend(xlist_attribute(mailbox));
        } else if !request.lsub {
            attributes.extend(mailbox.special_use.map(SpecialUse::attribute));
        }
        let name = wire_name(&mailbox.path, session.utf8);
        let extended_data = match &childinfo {
            Some(item) if descendants().any(selected) || dangling_below().next().is_some() => {
                item.as_str()
            }
            _ => "",
        };
        session.conn.untagged(&format!(
            "{keyword} ({}) \"/\" {name}{extended_data}",
            attributes.join(" ")
        ));
        if let Some(items) = &request.return_status {
            let line = status_line(session, mailbox, items).await?;
            session.conn.untagged(&line);
        }
    }
    // A subscribed name without a mailbox: `\NonExistent` (RFC 5258 §3), which LSUB says as
    // `\Noselect`.
    let nonexistent = if request.lsub {
        "\\Noselect"
    } else {
        "\\Subscribed \\NonExistent"
    };
    for name in dangling.iter().filter(|name| matched_path(name)) {
        let name = wire_name(name, session.utf8);
        session
            .conn
            .untagged(&format!("{keyword} ({nonexistent}) \"/\" {name}"));
    }
    if request.lsub {
        let subscribed: BTreeSet<&str> = mailboxes
            .iter()
            .filter(|m| m.subscribed)
            .map(|m| m.path.as_str())
            .chain(dangling.iter().map(String::as_str))
            .collect();
        for parent in unsubscribed_parents(&subscribed, matched_path) {
            let name = wire_name(&parent, session.utf8);
            session
                .conn
                .untagged(&format!("LSUB (\\Noselect) \"/\" {name}"));
        }
    }
    Ok(Reply::Ok(format!("{keyword} completed")))
}

/// RFC 3501 §6.3.9: a subscribed mailbox the patterns do not match (`%` stops at a level) is
/// shown through its nearest matching parent, as `\Noselect` when that parent is not itself
/// subscribed (or does not exist).
fn unsubscribed_parents(
    subscribed: &BTreeSet<&str>,
    matched: impl Fn(&str) -> bool,
) -> BTreeSet<String> {
    let mut parents = BTreeSet::new();
    for path in subscribed {
        if matched(path) {
            continue;
        }
        let ancestors = path
            .match_indices(PATH_SEPARATOR)
            .map(|(at, _)| &path[..at]);
        if let Some(parent) = ancestors.filter(|a| matched(a)).last()
            && !subscribed.contains(parent)
        {
            parents.insert(parent.to_string());
        }
    }
    parents
}

/// ` ("CHILDINFO" (…))` naming the selection options descendants met, for RECURSIVEMATCH.
fn childinfo_item(request: &ListRequest) -> Option<String> {
    if !request.recursive_match {
        return None;
    }
    let mut options = Vec::new();
    if request.select_subscribed {
        options.push("\"SUBSCRIBED\"");
    }
    if request.select_special_use {
        options.push("\"SPECIAL-USE\"");
    }
    Some(format!(" (\"CHILDINFO\" ({}))", options.join(" ")))
}

async fn status_line(
    session: &Session,
    mailbox: &Mailbox,
    items: &[StatusItem],
) -> Result<String, crate::state::Fail> {
    let status = session.store().mailbox_status(mailbox.id).await?;
    let mut values = Vec::new();
    for item in items {
        let item = match item {
            StatusItem::MailboxId => {
                values.push(format!("MAILBOXID ({})", mailbox.id));
                continue;
            }
            StatusItem::Codec(item) => item,
        };
        let value = match item {
            StatusDataItemName::Messages => format!("MESSAGES {}", status.messages),
            StatusDataItemName::Recent => {
                let unclaimed = session.store().unclaimed_recent(mailbox.id).await?;
                format!("RECENT {}", unclaimed.len())
            }
            StatusDataItemName::UidNext => format!("UIDNEXT {}", status.uidnext),
            StatusDataItemName::UidValidity => format!("UIDVALIDITY {}", status.uidvalidity),
            StatusDataItemName::Unseen => format!("UNSEEN {}", status.unseen),
            StatusDataItemName::HighestModSeq => format!("HIGHESTMODSEQ {}", status.highest_modseq),
            // RFC 8438: the sum of the messages' RFC822.SIZE.
            StatusDataItemName::Size => format!("SIZE {}", status.size),
            StatusDataItemName::Deleted => {
                let deleted = session
                    .store()
                    .search(mailbox.id, &SearchKey::Flag(Flag::Deleted, true))
                    .await?;
                format!("DELETED {}", deleted.len())
            }
            StatusDataItemName::DeletedStorage => {
                return Err(crate::state::Fail::Reply(Reply::Bad(
                    "DELETED-STORAGE is not supported".into(),
                )));
            }
        };
        values.push(value);
    }
    Ok(format!(
        "STATUS {} ({})",
        wire_name(&mailbox.path, session.utf8),
        values.join(" ")
    ))
}

pub async fn status(session: &mut Session, name: &str, items: &[StatusItem]) -> Outcome {
    let user = user_id(session).map_err(crate::state::Fail::Reply)?;
    let mailbox = match session.store().get_mailbox(user, name).await {
        Ok(mailbox) => mailbox,
        Err(Error::Mailbox(MailboxError::NotFound)) => {
            return Ok(Reply::No("[NONEXISTENT] No such mailbox".into()));
        }
        Err(e) => return Err(e.into()),
    };
    let line = status_line(session, &mailbox, items).await?;
    session.conn.untagged(&line);
    Ok(Reply::Ok("Status completed".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_patterns() {
        assert!(matches_pattern("*", "a/b/c"));
        assert!(matches_pattern("%", "INBOX"));
        assert!(!matches_pattern("%", "a/b"));
        assert!(matches_pattern("a/%", "a/b"));
        assert!(!matches_pattern("a/%", "a/b/c"));
        assert!(matches_pattern("inbox", "INBOX"));
        assert!(matches_pattern("Inbox/*", "INBOX/x"));
        assert!(matches_pattern("smoke-1*", "smoke-1-tmp"));
        assert!(!matches_pattern("Sent", "Sent Mail"));
        assert!(matches_pattern("Entw*", "Entwürfe"));
    }

    #[test]
    fn lsub_shows_unsubscribed_parents_as_noselect() {
        let mailbox = |path: &str, subscribed: bool| Mailbox {
            id: MailboxId::new(),
            user: wildduck_store::UserId::new(),
            path: path.into(),
            special_use: None,
            uidvalidity: 1,
            uidnext: 1,
            highest_modseq: 0,
            subscribed,
            hidden: false,
            retention: None,
        };
        let mailboxes = [
            mailbox("box", false),
            mailbox("box/test", true),
            mailbox("box/test2", false),
            mailbox("box/test2/test", true),
            mailbox("box/test3/test3", true),
            mailbox("box/test4", true),
            mailbox("box/test4/deep", true),
        ];
        let subscribed: BTreeSet<&str> = mailboxes
            .iter()
            .filter(|m| m.subscribed)
            .map(|m| m.path.as_str())
            .collect();
        let parents = |pattern: &str| {
            unsubscribed_parents(&subscribed, |path| matches_pattern(pattern, path))
                .into_iter()
                .collect::<Vec<_>>()
        };
        // box/test3 does not exist, box/test4 is subscribed itself (listed as it is).
        assert_eq!(parents("box/%"), ["box/test2", "box/test3"]);
        assert_eq!(parents("%"), ["box"]);
        assert!(parents("*").is_empty());
        assert!(parents("box/test2/%").is_empty());
    }

    #[test]
    fn names_on_the_wire() {
        assert_eq!(wire_name("INBOX", false), "INBOX");
        assert_eq!(wire_name("Sent Mail", false), "\"Sent Mail\"");
        assert_eq!(wire_name("Entwürfe/日本", false), "Entw&APw-rfe/&ZeVnLA-");
        assert_eq!(wire_name("Entwürfe/日本", true), "\"Entwürfe/日本\"");
    }
}
