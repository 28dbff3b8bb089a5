//! A user's change feed across all their mailboxes (the API's `GET /users/:user/updates`):
//! the journal read in id order from a resume point. Wake-ups come from
//! [`Store::subscribe`], as for IMAP sessions; the feed re-reads from its last id on each.
//!
//! The journal is trimmed by age (`Store::trim_journal`). A resume point older than the
//! oldest entry left replays what is left after it: what was trimmed is not replayed, and
//! the caller can not tell (as in WildDuck, whose journal entries expire).

use super::*;

impl Store {
    /// The journal entries of every mailbox of `user` with an id above `after` (all when
    /// `None`), oldest first, at most `limit` (at least one) per call.
    pub async fn user_changes_after(
        &self,
        user: UserId,
        after: Option<JournalId>,
        limit: usize,
    ) -> Result<Vec<UserChange>> {
        self.backend()
            .user_changes_after(user, after, limit.max(1))
            .await
    }

    /// Where a feed that starts now resumes: the id of the user's newest committed entry.
    pub async fn user_journal_head(&self, user: UserId) -> Result<Option<JournalId>> {
        self.backend().user_journal_head(user).await
    }
}
