//! APPEND and MULTIAPPEND (RFC 3502): the mailbox, the size and the daily upload limit are
//! checked before each literal is accepted (TOOBIG, OVERQUOTA, TRYCREATE, LIMIT); the messages
//! are read from the framer without another copy, stored as one unit (all or none), and their
//! bytes count against the upload limit once stored.

use wildduck_store::{AppendItem, Error, MailboxError, SpecialUse};

use super::extended::leading_words;
use super::{AppendedMessage, mailbox_name};
use crate::encode;
use crate::state::{Outcome, Reply, Session, store_error};

const UPLOAD_LIMIT_REACHED: &str = "[LIMIT] Daily upload limit reached, try again tomorrow";

/// Why `APPEND … UTF8 (~{n})` is refused to a client that has not enabled UTF8=ACCEPT.
pub const UTF8_NOT_ENABLED: &str = "APPEND with UTF8 (~{n}) needs ENABLE UTF8=ACCEPT first";

/// Whether the literal the command's last line announces is a `~{n}` one (RFC 6855's
/// `UTF8 (~{n})` message).
pub fn announces_literal8(message_so_far: &[u8]) -> bool {
    let line = message_so_far
        .strip_suffix(b"\r\n")
        .or_else(|| message_so_far.strip_suffix(b"\n"))
        .unwrap_or(message_so_far);
    line.iter()
        .rposition(|&b| b == b'{')
        .is_some_and(|open| open > 0 && line[open - 1] == b'~')
}

/// When an APPEND command line announces the message literal, the target mailbox name; `None`
/// while the announced literal is the mailbox name itself.
pub fn announced_mailbox(message_so_far: &[u8]) -> Option<String> {
    let words = leading_words(message_so_far, 3);
    // tag, APPEND, mailbox, then flags/date or nothing before the message literal.
    let name = words.get(2)?.as_ref()?;
    mailbox_name(name).ok()
}

/// Refuses an APPEND before its literal: the tagged reply text (with status) on refusal.
pub async fn precheck(session: &Session, mailbox: &str, size: u64) -> Result<(), String> {
    let Some(user) = session.user.as_ref() else {
        return Err("BAD Log in first".into());
    };
    match session.store().add_upload(user.id, 0).await {
        Ok(Ok(_)) => {}
        Ok(Err(_)) => return Err(format!("NO {UPLOAD_LIMIT_REACHED}")),
        Err(e) => return Err(reply_text(store_error(&e))),
    }
    let target = match session.store().get_mailbox(user.id, mailbox).await {
        Ok(target) => target,
        Err(Error::Mailbox(MailboxError::NotFound)) => {
            return Err("NO [TRYCREATE] No such mailbox".into());
        }
        Err(e) => return Err(reply_text(store_error(&e))),
    };
    session
        .store()
        .check_append(target.id, size)
        .await
        .map_err(|e| reply_text(store_error(&e)))
}

fn reply_text(reply: Reply) -> String {
    match reply {
        Reply::No(text) => format!("NO {text}"),
        Reply::Bad(text) => format!("BAD {text}"),
        other => format!("NO {other:?}"),
    }
}

pub async fn append(session: &mut Session, mailbox: &str, messages: &[AppendedMessage]) -> Outcome {
    let Some(user) = session.user.as_ref() else {
        return Ok(Reply::Bad("Log in first".into()));
    };
    if messages.iter().any(|m| m.utf8) && !session.utf8 {
        return Ok(Reply::Bad(UTF8_NOT_ENABLED.into()));
    }
    let user = user.id;
    let store = session.store().clone();
    if store.add_upload(user, 0).await?.is_err() {
        return Ok(Reply::No(UPLOAD_LIMIT_REACHED.into()));
    }
    let target = match store.get_mailbox(user, mailbox).await {
        Ok(target) => target,
        Err(Error::Mailbox(MailboxError::NotFound)) => {
            return Ok(Reply::No("[TRYCREATE] No such mailbox".into()));
        }
        Err(e) => return Err(e.into()),
    };
    // The messages are the command's last literals (an earlier one may be the mailbox name).
    let literals = session.conn.literal_ranges();
    let Some(first) = literals.len().checked_sub(messages.len()) else {
        return Ok(Reply::Bad("APPEND needs a message literal".into()));
    };
    let bytes = session.conn.message_bytes();
    let items: Vec<AppendItem<'_>> = literals[first..]
        .iter()
        .zip(messages)
        .map(|(range, message)| AppendItem {
            raw: &bytes[range.clone()],
            flags: &message.flags,
            internal_date: message.date,
        })
        .collect();
    if items.iter().any(|item| item.raw.is_empty()) {
        return Ok(Reply::No("Empty message".into()));
    }
    // The client filing its own copy of what it just sent through us: the one submission
    // filed stands for it.
    let filed = match (target.special_use, items.as_slice()) {
        (Some(SpecialUse::Sent), [one]) => store.submitted_copy(user, &target, one.raw).await?,
        _ => None,
    };
    let (uidvalidity, uids) = match filed {
        Some(outcome) => (outcome.uidvalidity, vec![outcome.uid]),
        None => {
            let stored = store.append_all(target.id, &items).await?;
            let size: u64 = items.iter().map(|item| item.raw.len() as u64).sum();
            // Counted once stored; a total past the limit refuses the next upload, not this one.
            let _total_or_past_limit = store.add_upload(user, size).await?;
            let uidvalidity = stored.first().map_or(target.uidvalidity, |s| s.uidvalidity);
            (uidvalidity, stored.iter().map(|s| s.uid).collect())
        }
    };
    Ok(Reply::Ok(format!(
        "[APPENDUID {uidvalidity} {}] Append completed",
        encode::uid_list(uids)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_mailbox_of_an_announced_message() {
        assert_eq!(
            announced_mailbox(b"a APPEND INBOX {10}\r\n").as_deref(),
            Some("INBOX")
        );
        assert_eq!(
            announced_mailbox(
                b"a APPEND \"Sent Mail\" (\\Seen) \"02-Jan-2023 10:00:00 +0000\" {10+}\r\n"
            )
            .as_deref(),
            Some("Sent Mail")
        );
        assert_eq!(announced_mailbox(b"a APPEND {5}\r\n"), None);
        assert_eq!(
            announced_mailbox(b"a APPEND {5}\r\nDraft {10}\r\n").as_deref(),
            Some("Draft")
        );
        assert_eq!(
            announced_mailbox(b"a APPEND Entw&APw-rfe {3}\r\n").as_deref(),
            Some("Entwürfe")
        );
        assert_eq!(
            announced_mailbox(b"a APPEND Drafts UTF8 (~{3}\r\n").as_deref(),
            Some("Drafts")
        );
    }

    #[test]
    fn tells_literal8_announcements_apart() {
        assert!(announces_literal8(b"a APPEND INBOX UTF8 (~{3}\r\n"));
        assert!(announces_literal8(b"a APPEND INBOX UTF8 (~{3+}\r\n"));
        assert!(!announces_literal8(b"a APPEND INBOX {3}\r\n"));
        assert!(!announces_literal8(b"{3}\r\n"));
    }
}
