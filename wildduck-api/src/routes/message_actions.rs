//! The flag changes and deletes the message routes share (one message, a range, a whole
//! mailbox, a search's matches), through the store calls IMAP uses so live sessions see
//! them.

use wildduck_store::{Flag, FlagOp, Flags, MailboxId, Store, UidSet};

use crate::error::ApiResult;

/// Sets (true) or clears (false) each flag of `changes` on `uids`; the number of messages
/// the last change reached, `None` when there was no change to make.
pub async fn set_flags(
    store: &Store,
    mailbox: MailboxId,
    uids: &UidSet,
    changes: &[(Flag, bool)],
) -> ApiResult<Option<usize>> {
    let mut reached = None;
    for (op, on) in [(FlagOp::Add, true), (FlagOp::Remove, false)] {
        let flags: Flags = changes
            .iter()
            .filter(|(_, wanted)| *wanted == on)
            .map(|(flag, _)| flag.clone())
            .collect();
        if !flags.is_empty() {
            let outcome = store.store_flags(mailbox, uids, op, &flags, None).await?;
            reached = Some(outcome.updated.len());
        }
    }
    Ok(reached)
}

/// Flags `uids` `\Deleted` and expunges them, as IMAP's UID EXPUNGE; the number gone. A
/// message arriving meanwhile is not in `uids`' flagged set and stays.
pub async fn delete_messages(store: &Store, mailbox: MailboxId, uids: &UidSet) -> ApiResult<usize> {
    let deleted = Flags::from([Flag::Deleted]);
    store
        .store_flags(mailbox, uids, FlagOp::Add, &deleted, None)
        .await?;
    Ok(store.expunge(mailbox, Some(uids)).await?.uids.len())
}
