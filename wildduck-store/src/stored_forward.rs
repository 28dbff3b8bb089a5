//! Forwarding a stored message again (WildDuck's `forwardStoredMessage`): its stored bytes,
//! unchanged, queued to the given addresses for the user (a failure is reported into their
//! INBOX, as for delivery forwards). The envelope sender is the one the message arrived
//! with — its `Return-Path`, which the final hop wrote — else its From address, as
//! WildDuck uses the sender recorded at delivery.

use crate::error::{MessageError, Result};
use crate::mime::header::HeaderFields;
use crate::model::*;
use crate::outbound::{Envelope, entries_by_domain};
use crate::store::Store;

impl Store {
    /// Queues message `uid` of `mailbox` to `addresses`; the queue ids (one per recipient
    /// domain). `MessageError::NotFound` when there is no such message, `AddressError::
    /// Invalid` for a malformed address (nothing queued then).
    pub async fn forward_stored(
        &self,
        user: UserId,
        mailbox: MailboxId,
        uid: Uid,
        addresses: &[String],
    ) -> Result<Vec<OutboundId>> {
        let message = self.display_message(mailbox, uid).await?;
        let raw = self.message_source(mailbox, uid).await?;
        if raw.is_empty() {
            return Err(MessageError::NotFound.into());
        }
        let sender = return_path(&raw)
            .or_else(|| message.parsed.from.first().map(|from| from.address.clone()))
            .unwrap_or_default();
        let envelope = Envelope {
            user: Some(user),
            sender: &sender,
            recipients: addresses,
        };
        let entries = entries_by_domain(&envelope, &message.parsed.message_id, raw)?;
        let queued = entries.iter().map(|entry| entry.id).collect();
        self.enqueue_outbound(entries).await?;
        Ok(queued)
    }
}

/// The address of the first `Return-Path` field (`<>` for none gives the empty sender).
fn return_path(raw: &[u8]) -> Option<String> {
    let field =
        HeaderFields::new(raw).find(|field| field.name.eq_ignore_ascii_case(b"return-path"))?;
    let value = String::from_utf8_lossy(field.value);
    Some(
        value
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim()
            .to_string(),
    )
}
