//! Mailbox settings WildDuck's API has beside the path, and message expiry: a mailbox with a
//! `retention` (milliseconds) gives every message that arrives in it (append, delivery, copy,
//! move) an expiry that long after its arrival; the API may also set or clear one message's
//! expiry. [`Store::expunge_expired`] — run periodically by `wildduck serve` — removes the
//! expired messages through the ordinary flag-and-expunge path, so sessions see them go and
//! the quota is credited exactly as for a client's EXPUNGE.
//!
//! A mailbox `hidden` is left out of IMAP LIST (as WildDuck) but stays selectable by name.

use std::collections::BTreeMap;

use crate::backend::{NewMailbox, now};
use crate::error::Result;
use crate::model::*;
use crate::names;
use crate::store::Store;

/// Expired messages handled by one round of the sweep; the next round takes the rest.
const SWEEP_BATCH: usize = 1000;

/// When a message arriving now in `mailbox` expires: its retention later, rounded up to
/// the second; never for a mailbox without retention. Both engines call this one rule.
pub(crate) fn expiry(mailbox: &Mailbox, arrived: Timestamp) -> Option<Timestamp> {
    let ms = mailbox.retention.filter(|&ms| ms > 0)?;
    let secs = i64::try_from(ms.div_ceil(1000)).unwrap_or(i64::MAX);
    Some(arrived.saturating_add(secs))
}

impl Store {
    /// Creates exactly `path`, subscribed, with `settings`, as WildDuck's API does: missing
    /// parents are not created (IMAP CREATE creates them, `create_mailbox`).
    pub async fn create_mailbox_with_settings(
        &self,
        user: UserId,
        path: &str,
        settings: MailboxSettings,
    ) -> Result<Mailbox> {
        let new = NewMailbox {
            path: names::normalize_path(path)?,
            special_use: None,
            subscribed: true,
            settings: normalized(settings),
        };
        self.backend().create_mailbox(user, Vec::new(), new).await
    }

    /// Changes a mailbox's `hidden` and `retention`. A new retention applies to messages
    /// that arrive afterwards; those already there keep the expiry they have.
    pub async fn update_mailbox_settings(
        &self,
        mailbox: MailboxId,
        mut update: MailboxSettingsUpdate,
    ) -> Result<()> {
        update.retention = update.retention.map(|ms| ms.filter(|&ms| ms > 0));
        self.backend()
            .update_mailbox_settings(mailbox, update)
            .await
    }

    /// Sets (`None`: clears) when the messages of `uids` expire; how many exist.
    pub async fn set_message_expiry(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        expires: Option<Timestamp>,
    ) -> Result<usize> {
        self.backend().set_expiry(mailbox, uids, expires).await
    }

    /// Removes every message whose expiry is at or before `at` (the sweep passes now):
    /// flagged `\Deleted` and expunged, mailbox by mailbox, as a client would. Returns how
    /// many went. A mailbox deleted meanwhile is skipped (its messages went with it).
    /// Auth log events past their time go in the same sweep (`crate::authlog`).
    pub async fn expunge_expired(&self, at: Timestamp) -> Result<u64> {
        self.drop_expired_auth_events(at).await?;
        let mut removed = 0u64;
        loop {
            let expired = self.backend().expired(at, SWEEP_BATCH).await?;
            if expired.is_empty() {
                return Ok(removed);
            }
            let full_batch = expired.len() == SWEEP_BATCH;
            let mut by_mailbox: BTreeMap<MailboxId, Vec<Uid>> = BTreeMap::new();
            for (mailbox, uid) in expired {
                by_mailbox.entry(mailbox).or_default().push(uid);
            }
            let mut progressed = false;
            for (mailbox, uids) in by_mailbox {
                let set = UidSet::from_ranges(uids.iter().map(|&uid| (uid, uid)));
                let deleted = Flags::from([Flag::Deleted]);
                let outcome = match self
                    .store_flags(mailbox, &set, FlagOp::Add, &deleted, None)
                    .await
                {
                    Ok(_) => self.expunge(mailbox, Some(&set)).await,
                    Err(err) => Err(err),
                };
                match outcome {
                    Ok(expunged) => {
                        progressed |= !expunged.uids.is_empty();
                        removed += expunged.uids.len() as u64;
                    }
                    Err(crate::error::Error::Mailbox(crate::error::MailboxError::NotFound)) => {}
                    Err(err) => return Err(err),
                }
            }
            if !full_batch || !progressed {
                return Ok(removed);
            }
        }
    }

    /// [`Store::expunge_expired`] as of now.
    pub async fn expunge_expired_now(&self) -> Result<u64> {
        self.expunge_expired(now()).await
    }
}

/// A retention of 0 means none, as in WildDuck.
fn normalized(settings: MailboxSettings) -> MailboxSettings {
    MailboxSettings {
        retention: settings.retention.filter(|&ms| ms > 0),
        ..settings
    }
}
