//! Sending a stored draft (WildDuck's `POST …/messages/:message/submit`): the draft's own
//! bytes go through [`Store::submit_message`] with the envelope taken from its headers as
//! WildDuck takes it. Then the draft leaves its mailbox (flagged and expunged, as a client
//! would), so the message is in \Sent once, as after WildDuck's move of the draft.

use crate::api_submission::SubmitEnvelope;
use crate::error::{MessageError, Result};
use crate::model::*;
use crate::outbound::Submitted;
use crate::store::Store;

impl Store {
    /// Sends draft `uid` of `mailbox` for `user`, not before `send_at` when given. `MessageError::NotDraft` when the message
    /// lacks `\Draft`, `TooManyRecipients` past `const:max:rcpt_to`; `Ok(None)` (nothing sent, the draft kept) when it names no
    /// recipient, as WildDuck answers.
    pub async fn submit_draft(
        &self,
        user: &User,
        mailbox: MailboxId,
        uid: Uid,
        send_at: Option<Timestamp>,
    ) -> Result<Option<Submitted>> {
        let draft = self.display_message(mailbox, uid).await?;
        if !draft.meta.flags.contains(&Flag::Draft) {
            return Err(MessageError::NotDraft.into());
        }
        let parsed = &draft.parsed;
        let envelope =
            SubmitEnvelope::from_headers(&parsed.from, &parsed.to, &parsed.cc, &parsed.bcc);
        let raw = self.message_source(mailbox, uid).await?;
        let Some(submitted) = self.submit_message(user, &envelope, &raw, send_at).await? else {
            return Ok(None);
        };
        let one = UidSet::from_ranges([(uid, uid)]);
        self.store_flags(
            mailbox,
            &one,
            FlagOp::Add,
            &Flags::from([Flag::Deleted]),
            None,
        )
        .await?;
        self.expunge(mailbox, Some(&one)).await?;
        Ok(Some(submitted))
    }
}
