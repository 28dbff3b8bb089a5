//! The delivery rule: mail from outside (LMTP, `wildduck deliver`, later API uploads that ask
//! for it) into its recipients' mailboxes. Engine-neutral: it speaks through the facade and
//! the `Backend` trait only.
//!
//! A delivery resolves each recipient ([`resolve`]) and stores the message for each
//! recipient with `Delivered-To` and `Return-Path` prepended; the rest of the bytes are kept
//! exactly. Between resolution and the append, per recipient, the user's filters, the spam
//! verdict, the autoreply and filter forwards decide where it goes ([`filters`]).
//!
//! Each recipient's copy is analysed on its own: the prepended headers differ per recipient,
//! so the bytes differ, and `Store::append` analyses what it stores. Leaf bodies are stored
//! once for all of them all the same (content blobs are keyed by hash). Sharing one analysis
//! would need the MIME analysis to accept a prefix in front of an analysed message.

mod filters;
mod resolve;

use crate::error::{AddressError, Result};
use crate::model::{Address, AppendOutcome, MailboxId, User};
use crate::store::Store;

/// A recipient the store accepts mail for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// The address as the sender gave it (trimmed): what `Delivered-To` says.
    pub address: String,
    /// The stored address it reached: the user's own, or a wildcard.
    pub matched: Address,
    pub user: User,
}

/// One message for [`Store::deliver`].
#[derive(Clone, Copy, Debug)]
pub struct Delivery<'a> {
    /// The envelope sender (SMTP `MAIL FROM`), empty for a bounce: `Return-Path: <…>`.
    pub return_path: &'a str,
    /// In the order the results come back.
    pub recipients: &'a [Recipient],
    /// The message as received.
    pub raw: &'a [u8],
}

/// What became of one recipient's copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivered {
    /// Stored, durably, in this mailbox of the user.
    Stored {
        mailbox: MailboxId,
        outcome: AppendOutcome,
    },
    /// A filter said delete: accepted and not stored (its forwards are queued).
    Dropped,
}

/// Longest envelope sender written into `Return-Path` (RFC 5321's path limit).
const MAX_RETURN_PATH_BYTES: usize = 256;

impl Store {
    /// Which user `address` delivers to, in the order of [`resolve`]: exact, `+tag` and dots
    /// ignored, wildcards. `AddressError::Invalid` or `NotFound`, or `AuthError::Disabled`
    /// for a disabled user.
    pub async fn resolve_recipient(&self, address: &str) -> Result<Recipient> {
        let (matched, user) = resolve::resolve(self.backend(), address).await?;
        Ok(Recipient {
            address: address.trim().to_string(),
            matched,
            user,
        })
    }

    /// Stores `delivery.raw` for every recipient; one result per recipient, in order. A
    /// result is `Ok` only once that copy is durable. A user reached by several recipients
    /// gets the message once, and each of those recipients the same result.
    /// `AddressError::Invalid` (and nothing stored) for a return path unfit for a header.
    pub async fn deliver(&self, delivery: Delivery<'_>) -> Result<Vec<Result<Delivered>>> {
        check_return_path(delivery.return_path)?;
        let mut results: Vec<Result<Delivered>> = Vec::with_capacity(delivery.recipients.len());
        for (index, recipient) in delivery.recipients.iter().enumerate() {
            let earlier = delivery.recipients[..index]
                .iter()
                .position(|other| other.user.id == recipient.user.id);
            let result = match earlier {
                Some(first) => results[first].clone(),
                None => self.deliver_to_one(&delivery, recipient).await,
            };
            results.push(result);
        }
        Ok(results)
    }

    async fn deliver_to_one(
        &self,
        delivery: &Delivery<'_>,
        recipient: &Recipient,
    ) -> Result<Delivered> {
        let message = with_trace_headers(delivery, recipient);
        self.filter_and_store(delivery, recipient, message).await
    }
}

/// `Delivered-To` and `Return-Path` (CRLF, as WildDuck writes them) before the untouched bytes.
fn with_trace_headers(delivery: &Delivery<'_>, recipient: &Recipient) -> Vec<u8> {
    let headers = format!(
        "Delivered-To: {}\r\nReturn-Path: <{}>\r\n",
        recipient.address, delivery.return_path
    );
    let mut message = Vec::with_capacity(headers.len() + delivery.raw.len());
    message.extend_from_slice(headers.as_bytes());
    message.extend_from_slice(delivery.raw);
    message
}

/// The return path goes into a header: no line breaks, controls, spaces or angle brackets.
fn check_return_path(path: &str) -> Result<()> {
    let invalid = |why: &str| AddressError::Invalid(format!("return path: {why}"));
    if path.len() > MAX_RETURN_PATH_BYTES {
        return Err(invalid("too long").into());
    }
    if let Some(c) = path
        .chars()
        .find(|&c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>'))
    {
        return Err(invalid(&format!("character {c:?} not allowed")).into());
    }
    Ok(())
}
