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
mod forward;
mod resolve;
mod srs;

pub use srs::Srs;

use futures_util::future::join_all;

use crate::error::{AddressError, AuthError, Result};
use crate::model::{Address, AppendOutcome, MailboxId, RecordId, User};
use crate::profiles::{ForwardTarget, ForwardedAddress};
use crate::store::Store;

/// A recipient the store accepts mail for.
#[derive(Clone, Debug, PartialEq)]
pub struct Recipient {
    /// The address as the sender gave it (trimmed): what `Delivered-To` says.
    pub address: String,
    pub destination: Destination,
}

/// Where mail for a recipient goes.
#[derive(Clone, Debug, PartialEq)]
pub enum Destination {
    /// A user's INBOX (and the user's forwarding targets), through the stored address it
    /// reached: the user's own, or a wildcard.
    User { matched: Address, user: User },
    /// A forwarded address: its targets only, no mailbox.
    Forwarded(ForwardedAddress),
    /// An SRS address this server signed for a forward (`[lmtp.srs]`): mail to it
    /// (a bounce of the forward) goes back to the original sender through the queue.
    SrsReturn { original: String },
}

/// What a destination is to [`Store::deliver`]: reached twice in one delivery, it is
/// handled once.
#[derive(PartialEq)]
enum DestinationKey<'a> {
    Record(RecordId),
    Address(&'a str),
}

impl Destination {
    fn key(&self) -> DestinationKey<'_> {
        match self {
            Destination::User { user, .. } => DestinationKey::Record(user.id.0),
            Destination::Forwarded(forwarded) => DestinationKey::Record(forwarded.id.0),
            Destination::SrsReturn { original } => DestinationKey::Address(original),
        }
    }
}

impl Recipient {
    /// The user whose mailbox it reaches; `None` for a forwarded address.
    pub fn user(&self) -> Option<&User> {
        match &self.destination {
            Destination::User { user, .. } => Some(user),
            Destination::Forwarded(_) | Destination::SrsReturn { .. } => None,
        }
    }
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
    /// Queued to a forwarded address's targets (or back to the original sender of an SRS
    /// address), or dropped as a forwarding loop.
    Forwarded,
}

/// How many bytes of recipients' copies one delivery holds at once (each copy is the
/// message with its own trace headers, analysed on its own).
const COPIES_IN_FLIGHT_BYTES: usize = 64 << 20;

/// Longest envelope sender written into `Return-Path` (RFC 5321's path limit).
const MAX_RETURN_PATH_BYTES: usize = 256;

impl Store {
    /// Where `address` delivers to: a forwarded address with that exact lookup key, else a
    /// user in the order of [`resolve`]: exact, `+tag` and dots ignored, wildcards. With SRS
    /// configured, an SRS address of ours that verifies reaches its original sender (one
    /// that does not verify is looked up as any other address, and so is unknown).
    /// `AddressError::Invalid` or `NotFound`, or `AuthError::Disabled` for a disabled user or
    /// a forwarded address whose forwarding is disabled.
    pub async fn resolve_recipient(&self, address: &str) -> Result<Recipient> {
        let address_given = address.trim().to_string();
        let srs = self.config().delivery.srs.as_ref();
        if let Some(original) = srs.and_then(|srs| srs.reverse(&address_given, srs::today())) {
            return Ok(Recipient {
                address: address_given,
                destination: Destination::SrsReturn { original },
            });
        }
        if let Some(forwarded) = self.find_forwarded(address).await? {
            if forwarded.forwarded_disabled {
                return Err(AuthError::Disabled.into());
            }
            return Ok(Recipient {
                address: address_given,
                destination: Destination::Forwarded(forwarded),
            });
        }
        let (matched, user) = resolve::resolve(self.backend(), address).await?;
        Ok(Recipient {
            address: address_given,
            destination: Destination::User { matched, user },
        })
    }

    /// Stores `delivery.raw` for every recipient; one result per recipient, in order. A
    /// result is `Ok` only once that copy (or forward) is durable. A user or forwarded
    /// address reached by several recipients gets the message once, and each of those
    /// recipients the same result.
    ///
    /// The destinations are served at the same time, so their commits meet in the engine's
    /// group commit (one fsync on SQLite for all of them, not one each); in batches of at
    /// most [`COPIES_IN_FLIGHT_BYTES`] of copies, so a big message to many recipients goes
    /// a few at a time.
    /// `AddressError::Invalid` (and nothing stored) for a return path unfit for a header.
    pub async fn deliver(&self, delivery: Delivery<'_>) -> Result<Vec<Result<Delivered>>> {
        check_return_path(delivery.return_path)?;
        let recipients = delivery.recipients;
        // For each recipient, the first recipient that reaches its destination.
        let first: Vec<usize> = (0..recipients.len())
            .map(|index| {
                recipients[..index]
                    .iter()
                    .position(|other| {
                        other.destination.key() == recipients[index].destination.key()
                    })
                    .unwrap_or(index)
            })
            .collect();
        let served: Vec<usize> = (0..recipients.len())
            .filter(|&index| first[index] == index)
            .collect();
        let at_once = (COPIES_IN_FLIGHT_BYTES / delivery.raw.len().max(1)).max(1);
        let mut outcomes = Vec::with_capacity(served.len());
        for batch in served.chunks(at_once) {
            let mut pending = Vec::with_capacity(batch.len());
            for &index in batch {
                pending.push(self.deliver_to_destination(&delivery, &recipients[index]));
            }
            outcomes.extend(join_all(pending).await);
        }
        Ok(first
            .iter()
            .map(|&index| {
                let position = served.binary_search(&index).expect("a served recipient");
                outcomes[position].clone()
            })
            .collect())
    }

    async fn deliver_to_destination(
        &self,
        delivery: &Delivery<'_>,
        recipient: &Recipient,
    ) -> Result<Delivered> {
        match &recipient.destination {
            Destination::Forwarded(forwarded) => {
                self.forward_for_address(delivery, recipient, &forwarded.targets)
                    .await
            }
            Destination::SrsReturn { original } => {
                let target = ForwardTarget::Mail(original.clone());
                self.forward_for_address(delivery, recipient, std::slice::from_ref(&target))
                    .await
            }
            Destination::User { user, .. } => self.deliver_to_one(delivery, recipient, user).await,
        }
    }

    async fn deliver_to_one(
        &self,
        delivery: &Delivery<'_>,
        recipient: &Recipient,
        user: &User,
    ) -> Result<Delivered> {
        let message = with_trace_headers(delivery, recipient);
        self.filter_and_store(delivery, recipient, user, message)
            .await
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
