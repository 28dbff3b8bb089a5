//! Mailboxes on the facade: listing and lookup, create (with missing parents), rename (INBOX
//! by moving its messages), delete, subscription, STATUS and the \Recent claims.

use super::*;

impl Store {
    /// All mailboxes of a user, sorted by path.
    pub async fn list_mailboxes(&self, user: UserId) -> Result<Vec<Mailbox>> {
        self.backend().list_mailboxes(user).await
    }

    /// Looks a mailbox up by path (`INBOX` case-insensitive).
    pub async fn get_mailbox(&self, user: UserId, path: &str) -> Result<Mailbox> {
        let path = names::normalize_path(path)?;
        self.backend()
            .mailbox_by_path(user, &path)
            .await?
            .ok_or_else(|| MailboxError::NotFound.into())
    }

    pub async fn get_mailbox_by_id(&self, mailbox: MailboxId) -> Result<Mailbox> {
        self.backend()
            .mailbox_by_id(mailbox)
            .await?
            .ok_or_else(|| MailboxError::NotFound.into())
    }

    /// Creates a mailbox, and any missing parents (RFC 3501 §6.3.3), subscribed.
    pub async fn create_mailbox(
        &self,
        user: UserId,
        path: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<Mailbox> {
        self.create_mailbox_with(user, path, special_use, true)
            .await
    }

    /// Creates a mailbox, and any missing parents, unsubscribed: IMAP CREATE (RFC 3501
    /// §6.3.3) leaves subscribing to the client.
    pub async fn create_unsubscribed_mailbox(
        &self,
        user: UserId,
        path: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<Mailbox> {
        self.create_mailbox_with(user, path, special_use, false)
            .await
    }

    pub(super) async fn create_mailbox_with(
        &self,
        user: UserId,
        path: &str,
        special_use: Option<SpecialUse>,
        subscribed: bool,
    ) -> Result<Mailbox> {
        let path = names::normalize_path(path)?;
        let parents = names::parents(&path);
        let kept = self.is_subscribed_without_mailbox(user, &path).await?;
        let new = NewMailbox {
            path,
            special_use,
            subscribed: subscribed || kept,
            settings: MailboxSettings::default(),
        };
        let mailbox = self.backend().create_mailbox(user, parents, new).await?;
        if kept {
            self.subscription_taken_over(&mailbox).await?;
        }
        Ok(mailbox)
    }

    /// Renames a mailbox and all its children (UIDVALIDITY kept). Renaming INBOX moves its
    /// messages to the new mailbox and leaves INBOX empty (RFC 3501).
    pub async fn rename_mailbox(&self, user: UserId, from: &str, to: &str) -> Result<()> {
        let from = names::normalize_path(from)?;
        let to = names::normalize_path(to)?;
        if to == INBOX {
            return Err(MailboxError::AlreadyExists.into());
        }
        if names::is_within(&to, &from) {
            return Err(
                MailboxError::InvalidName("can not move a mailbox into itself".into()).into(),
            );
        }
        if from == INBOX {
            return self.rename_inbox(user, to).await;
        }
        let to_parents = names::parents(&to);
        self.backend()
            .rename_mailbox_tree(user, &from, &to, to_parents)
            .await
    }

    /// RFC 3501: renaming INBOX makes a new mailbox with INBOX's messages; INBOX stays,
    /// empty, and its children stay where they are.
    pub(super) async fn rename_inbox(&self, user: UserId, to: String) -> Result<()> {
        let inbox = self.get_mailbox(user, INBOX).await?;
        let parents = names::parents(&to);
        let target = self
            .backend()
            .create_mailbox(
                user,
                parents,
                NewMailbox {
                    path: to,
                    special_use: None,
                    subscribed: true,
                    settings: MailboxSettings::default(),
                },
            )
            .await?;
        let (_, wakes) = self
            .backend()
            .transfer(inbox.id, &UidSet::all(), target.id, Transfer::Move)
            .await?;
        self.publish(wakes);
        Ok(())
    }

    /// Deletes a mailbox with its messages. Refuses INBOX and special-use folders.
    pub async fn delete_mailbox(&self, user: UserId, path: &str) -> Result<()> {
        let mailbox = self.get_mailbox(user, path).await?;
        if mailbox.path == INBOX {
            return Err(MailboxError::Protected("INBOX can not be deleted".into()).into());
        }
        if let Some(role) = mailbox.special_use {
            return Err(MailboxError::Protected(format!(
                "{} is the {} folder",
                mailbox.path,
                role.attribute()
            ))
            .into());
        }
        let wakes = self.backend().delete_mailbox(mailbox.id).await?;
        self.publish(wakes);
        self.keep_subscription_of_deleted(&mailbox).await
    }

    pub async fn set_subscribed(&self, user: UserId, path: &str, subscribed: bool) -> Result<()> {
        match self.get_mailbox(user, path).await {
            Ok(mailbox) => self.backend().set_subscribed(mailbox.id, subscribed).await,
            Err(Error::Mailbox(MailboxError::NotFound)) if !subscribed => {
                self.unsubscribe_without_mailbox(user, &names::normalize_path(path)?)
                    .await
            }
            Err(e) => Err(e),
        }
    }

    pub async fn mailbox_status(&self, mailbox: MailboxId) -> Result<MailboxStatus> {
        self.backend().mailbox_status(mailbox).await
    }

    // ---- \Recent (RFC 3501 §2.3.2) ----
    //
    // Each message is \Recent in exactly one session: the first that, with the mailbox
    // selected read-write, learns of it. The mailbox keeps a marker, the highest UID claimed;
    // a session that has seen UIDs up to n claims them by raising the marker to n, and the
    // UIDs between the old marker and n are its \Recent messages (held by the session, never
    // stored). Messages above the marker are recent to nobody yet: STATUS counts them and a
    // read-only session shows them as \Recent without claiming them.

    /// Claims, for one session, the messages up to `up_to` that no session claimed before:
    /// the returned range (empty when another session was first) holds its \Recent UIDs.
    pub async fn claim_recent(
        &self,
        mailbox: MailboxId,
        up_to: Uid,
    ) -> Result<std::ops::RangeInclusive<Uid>> {
        // Most claims find nothing new: a read spares the writer (and a commit) for them.
        let marker = self.backend().recent_marker(mailbox).await?;
        let before = if marker < up_to {
            self.backend().claim_recent(mailbox, up_to).await?
        } else {
            marker
        };
        Ok(before.saturating_add(1)..=up_to)
    }

    /// The messages no session has claimed as \Recent yet, ascending.
    pub async fn unclaimed_recent(&self, mailbox: MailboxId) -> Result<Vec<Uid>> {
        let marker = self.backend().recent_marker(mailbox).await?;
        if marker == Uid::MAX {
            return Ok(Vec::new());
        }
        let above = UidSet::from_ranges([(marker + 1, Uid::MAX)]);
        self.backend()
            .search(mailbox, &SearchKey::Uids(above))
            .await
    }

    // ---- messages ----
}
