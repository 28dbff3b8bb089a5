//! Messages read for display (the API's parsed message, raw source and attachments): the
//! message's bytes come from the store like an IMAP `BODY[]`, and [`crate::mime::parsed`]
//! reads them with the same splitter IMAP uses.

use crate::error::{MessageError, Result};
use crate::mime::parsed::{Attachment, ParsedMessage, attachment_content, parse_message};
use crate::mime::split;
use crate::model::{MailboxId, MessageMeta, MetaFields, Section, Uid, UidSet};
use crate::store::{Store, blocking};

/// Messages up to this size are parsed on the calling task; larger ones on the blocking pool.
const INLINE_PARSE: usize = 64 * 1024;

/// One message for display: its metadata (flags, dates, size) and its parsed content.
#[derive(Clone, Debug)]
pub struct DisplayMessage {
    pub meta: MessageMeta,
    pub parsed: ParsedMessage,
}

impl Store {
    /// The metadata of message `uid`, or `MessageError::NotFound`.
    pub async fn message_meta(&self, mailbox: MailboxId, uid: Uid) -> Result<MessageMeta> {
        self.fetch_meta(
            mailbox,
            &UidSet::from_ranges([(uid, uid)]),
            MetaFields::default(),
        )
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| MessageError::NotFound.into())
    }

    /// The exact bytes of message `uid`, or `MessageError::NotFound`.
    pub async fn message_source(&self, mailbox: MailboxId, uid: Uid) -> Result<Vec<u8>> {
        self.message_meta(mailbox, uid).await?;
        Ok(self
            .read_section(mailbox, uid, &Section::full(), None)
            .await?
            .to_vec())
    }

    /// Message `uid` read for display, or `MessageError::NotFound`.
    pub async fn display_message(&self, mailbox: MailboxId, uid: Uid) -> Result<DisplayMessage> {
        let meta = self.message_meta(mailbox, uid).await?;
        let raw = self
            .read_section(mailbox, uid, &Section::full(), None)
            .await?
            .to_vec();
        let parsed = parse_off_task(raw, |raw| parse_message(&raw, &split(&raw))).await?;
        Ok(DisplayMessage { meta, parsed })
    }

    /// Attachment `id` (`ATT00001`…) of message `uid` as listed, and its decoded content:
    /// None when the message has no such attachment, `MessageError::NotFound` when there is
    /// no message.
    pub async fn message_attachment(
        &self,
        mailbox: MailboxId,
        uid: Uid,
        id: &str,
    ) -> Result<Option<(Attachment, Vec<u8>)>> {
        let raw = self.message_source(mailbox, uid).await?;
        let id = id.to_string();
        parse_off_task(raw, move |raw| attachment_content(&raw, &split(&raw), &id)).await
    }
}

/// Runs `parse` here for small messages and on the blocking pool for large ones.
async fn parse_off_task<T: Send + 'static>(
    raw: Vec<u8>,
    parse: impl FnOnce(Vec<u8>) -> T + Send + 'static,
) -> Result<T> {
    if raw.len() <= INLINE_PARSE {
        return Ok(parse(raw));
    }
    blocking(move || Ok(parse(raw))).await
}
