//! Sending a stored draft (WildDuck's `POST …/messages/:message/submit`): the draft's own
//! bytes go through the submission rule ([`Store::submit`]: sender check, \Sent copy and
//! queue entries in one unit), with the envelope taken from its headers as WildDuck takes
//! it — From's first address as the sender, To, Cc and Bcc as the recipients. Then the
//! draft leaves its mailbox (flagged and expunged, as a client would), so the message is
//! in \Sent once, as after WildDuck's move of the draft.

use crate::error::{MessageError, Result};
use crate::model::*;
use crate::outbound::{Submission, Submitted};
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
        let sender = parsed
            .from
            .first()
            .map(|from| from.address.clone())
            .unwrap_or_default();
        let mut recipients: Vec<String> = Vec::new();
        for address in parsed.to.iter().chain(&parsed.cc).chain(&parsed.bcc) {
            let taken = recipients
                .iter()
                .any(|known| known.eq_ignore_ascii_case(&address.address));
            if !address.address.is_empty() && !taken {
                recipients.push(address.address.clone());
            }
        }
        if recipients.is_empty() {
            return Ok(None);
        }
        let allowed = self.setting_number(crate::settings::MAX_RCPT_TO).await?;
        if recipients.len() as u64 > allowed {
            return Err(MessageError::TooManyRecipients { allowed }.into());
        }
        let raw = self.message_source(mailbox, uid).await?;
        let submitted = self
            .submit_scheduled(
                Submission {
                    user,
                    sender: &sender,
                    recipients: &recipients,
                    raw: &raw,
                },
                send_at,
            )
            .await?;
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
