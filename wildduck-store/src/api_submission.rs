//! Sending a message the API hands over whole (WildDuck's `POST /users/:user/submit` and
//! a draft's `…/submit`): the envelope, when the caller gives none, comes from the message's
//! own headers as WildDuck takes it — From's first address as the sender, To, Cc and Bcc
//! (each address once) as the recipients — and no more recipients than `const:max:rcpt_to`
//! allows. Then the submission rule ([`Store::submit`]: sender and From checks, \Sent copy
//! and queue entries in one unit) does the rest.

use crate::error::{MessageError, Result};
use crate::mime::parsed::MailAddress;
use crate::model::*;
use crate::outbound::{Submission, Submitted};
use crate::store::Store;

/// Who a message goes from and to (SMTP `MAIL FROM` and `RCPT TO`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubmitEnvelope {
    pub sender: String,
    pub recipients: Vec<String>,
}

impl SubmitEnvelope {
    /// The envelope WildDuck derives from a message's addresses.
    pub fn from_headers(
        from: &[MailAddress],
        to: &[MailAddress],
        cc: &[MailAddress],
        bcc: &[MailAddress],
    ) -> Self {
        let sender = from
            .first()
            .map(|from| from.address.clone())
            .unwrap_or_default();
        let mut recipients: Vec<String> = Vec::new();
        for address in to.iter().chain(cc).chain(bcc) {
            let taken = recipients
                .iter()
                .any(|known| known.eq_ignore_ascii_case(&address.address));
            if !address.address.is_empty() && !taken {
                recipients.push(address.address.clone());
            }
        }
        Self { sender, recipients }
    }
}

impl Store {
    /// Sends `raw` for `user` along `envelope`, its queue entries not tried before `send_at`
    /// when given. `Ok(None)` (nothing sent) when the envelope names no recipient, as
    /// WildDuck answers; `TooManyRecipients` past `const:max:rcpt_to`.
    pub async fn submit_message(
        &self,
        user: &User,
        envelope: &SubmitEnvelope,
        raw: &[u8],
        send_at: Option<Timestamp>,
    ) -> Result<Option<Submitted>> {
        if envelope.recipients.is_empty() {
            return Ok(None);
        }
        let allowed = self.setting_number(crate::settings::MAX_RCPT_TO).await?;
        if envelope.recipients.len() as u64 > allowed {
            return Err(MessageError::TooManyRecipients { allowed }.into());
        }
        let submission = Submission {
            user,
            sender: &envelope.sender,
            recipients: &envelope.recipients,
            raw,
        };
        self.submit_scheduled(submission, send_at).await.map(Some)
    }
}
