//! The subscription rule (RFC 3501 §6.3.6): a name stays subscribed when its mailbox is
//! deleted, and a mailbox created again under it is subscribed. An existing mailbox's
//! subscription is its `subscribed` flag; the engines keep the other subscribed names
//! (`Subscriptions`). When a mailbox is deleted its flag decides whether its name is kept, so
//! a recorded name that has a mailbox again (made by a rename, or as a missing parent) is
//! ignored while the mailbox exists and brought up to date when it goes.

use std::collections::BTreeSet;

use crate::error::{MailboxError, Result};
use crate::model::{Mailbox, UserId};
use crate::store::Store;

impl Store {
    /// The names the user is subscribed to that have no mailbox, in name order.
    pub async fn subscriptions_without_mailbox(&self, user: UserId) -> Result<Vec<String>> {
        let mailboxes = self.list_mailboxes(user).await?;
        let existing: BTreeSet<&str> = mailboxes.iter().map(|m| m.path.as_str()).collect();
        let mut names = self.backend().dangling_subscriptions(user).await?;
        names.retain(|name| !existing.contains(name.as_str()));
        Ok(names)
    }

    /// Unsubscribes a name that has no mailbox; `MailboxError::NotFound` if it was not
    /// subscribed either. (Subscribing such a name is refused: RFC 3501 lets a server check
    /// that the mailbox exists.)
    pub(crate) async fn unsubscribe_without_mailbox(&self, user: UserId, path: &str) -> Result<()> {
        let existed = self
            .backend()
            .set_dangling_subscription(user, path, false)
            .await?;
        if existed {
            Ok(())
        } else {
            Err(MailboxError::NotFound.into())
        }
    }

    /// After `mailbox` was deleted: its name stays subscribed if the mailbox was.
    pub(crate) async fn keep_subscription_of_deleted(&self, mailbox: &Mailbox) -> Result<()> {
        self.backend()
            .set_dangling_subscription(mailbox.user, &mailbox.path, mailbox.subscribed)
            .await
            .map(drop)
    }

    /// Whether `path`, which has no mailbox yet, is subscribed: a mailbox created there is.
    pub(crate) async fn is_subscribed_without_mailbox(
        &self,
        user: UserId,
        path: &str,
    ) -> Result<bool> {
        let names = self.backend().dangling_subscriptions(user).await?;
        Ok(names.iter().any(|name| name == path))
    }

    /// After creating `mailbox` subscribed for its kept name: its flag holds it from now on.
    pub(crate) async fn subscription_taken_over(&self, mailbox: &Mailbox) -> Result<()> {
        self.backend()
            .set_dangling_subscription(mailbox.user, &mailbox.path, false)
            .await
            .map(drop)
    }
}
