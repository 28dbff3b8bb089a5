//! The keywords a mailbox has had: every keyword set on one of its messages is remembered
//! (up to [`MAX_MAILBOX_KEYWORDS`], as WildDuck caps `mailbox.flags`) before the message gets
//! it, so a session that SELECTs later lists it in FLAGS like the sessions that saw it set,
//! even once no message has it any more.

use std::collections::BTreeSet;

use crate::error::Result;
use crate::model::{Flag, Flags, MailboxId};
use crate::store::Store;

/// Keywords remembered per mailbox; beyond this, new keywords are set but not remembered.
pub const MAX_MAILBOX_KEYWORDS: usize = 100;

impl Store {
    /// The keywords a mailbox has had.
    pub async fn mailbox_keywords(&self, mailbox: MailboxId) -> Result<BTreeSet<String>> {
        self.backend().mailbox_keywords(mailbox).await
    }

    /// Remembers the keywords among `flags` that `mailbox` has not had yet. Called before
    /// they are set, so no session can see a keyword the mailbox does not list.
    pub(crate) async fn remember_keywords(&self, mailbox: MailboxId, flags: &Flags) -> Result<()> {
        let keywords: BTreeSet<String> = flags
            .iter()
            .filter_map(|flag| match flag {
                Flag::Keyword(keyword) => Some(keyword.clone()),
                _ => None,
            })
            .collect();
        if keywords.is_empty() {
            return Ok(());
        }
        let known = self.backend().mailbox_keywords(mailbox).await?;
        let room = MAX_MAILBOX_KEYWORDS.saturating_sub(known.len());
        let new: BTreeSet<String> = keywords.difference(&known).take(room).cloned().collect();
        if new.is_empty() {
            return Ok(());
        }
        self.backend().remember_keywords(mailbox, &new).await
    }
}
