//! The forwarding rule: a delivered message goes on to forwarding targets — a user's
//! `targets` and their filters' (queued by `filters` in the unit of the user's stored copy,
//! so a retried delivery forwards nothing twice) or a forwarded address's (which keeps no
//! copy; queued at once) — through the durable outbound queue. One target type
//! (`profiles::ForwardTarget`) and one entry builder serve all three.
//!
//! - The forwarded bytes are the message with this hop's `Delivered-To` prepended (the rest
//!   byte-exact), so the next hop can see where it has been.
//! - The envelope sender: with SRS configured (`DeliveryPolicy::srs`, see [`super::srs`])
//!   forwards to e-mail targets leave as `SRS0=…@<srs domain>`, so a receiver's SPF check
//!   passes and a bounce comes back here (LMTP) and is returned to the real sender;
//!   without it the original sender is kept (a strict SPF receiver may refuse the forward).
//!   A failure the queue gives up on is reported into the forwarding user's INBOX (a
//!   forwarded address has none; its failures are logged).
//! - Loops: a message that already carries `Delivered-To` with this recipient's address
//!   (it came around once: Postfix's rule) or that has passed `MAX_RECEIVED_HOPS` relays is
//!   not forwarded again; the user's copy is still stored.
//! - Every target is a queue entry, so retries, leases and failure reports are the queue's:
//!   mail targets go through the smarthost (one entry per domain); an `smtp(s)://` relay
//!   target is an entry whose next hop is that relay, asked to deliver to the address the
//!   message came to (WildDuck's rule; credentials in the URL are used for AUTH); an
//!   `http(s)://` target is an entry whose next hop is the URL, which the worker POSTs the
//!   bytes to as `message/rfc822` (2xx delivered, 5xx or no answer retried, else failed).
//! - A user's forwards count against a 24-hour allowance of forward targets (their own
//!   `forwards`, else `[limits] daily_forwards`, 2,000 as WildDuck's `MAX_FORWARDS`): a
//!   message whose targets do not fit is stored but not forwarded, and the window is not
//!   charged for it. Counted when the forwards are queued, as WildDuck's counter does; a
//!   counter that can not be read lets the forward through (WildDuck ignores it too).

use super::srs::{self, Srs};
use super::{Delivered, Delivery, Recipient};
use std::time::Duration;

use crate::error::Result;
use crate::limits::DailyWindow;
use crate::mime::header::HeaderFields;
use crate::model::{RecordId, UserId};
use crate::outbound::{Envelope, NextHop, OutboundEntry, entries_by_domain};
use crate::profiles::ForwardTarget;
use crate::store::Store;

/// More `Received` headers than this and a message is taken to be looping (WildDuck's and
/// Postfix's default hop count limit is around this number).
const MAX_RECEIVED_HOPS: usize = 30;

impl Store {
    /// The user's 24-hour allowance of forward targets: their own, or the store's.
    pub async fn forwarding_allowance(&self, user: UserId) -> Result<u64> {
        Ok(self.allowance_of(self.user_profile(user).await?.forwards))
    }

    /// A user's own `forwards` setting, or the store's when they have none.
    fn allowance_of(&self, own: u64) -> u64 {
        if own > 0 {
            own
        } else {
            self.limits().daily_forwards
        }
    }

    /// Forward targets counted for `user` in their current 24-hour window, and the time it
    /// has left.
    pub async fn forwards_used(&self, user: UserId) -> Result<(u64, Duration)> {
        self.limiter()
            .window_used(DailyWindow::Forwards, user)
            .await
    }

    /// Whether `targets` more forwards fit `user`'s allowance (`own`: their profile's
    /// `forwards`, already read by the caller); counted when they do.
    pub(super) async fn take_forwards(&self, user: UserId, own: u64, targets: u64) -> bool {
        let fits = async {
            let allowed = self.allowance_of(own);
            let (used, _) = self.forwards_used(user).await?;
            if used.saturating_add(targets) > allowed {
                return Ok(false);
            }
            self.limiter()
                .add_to_window(DailyWindow::Forwards, user, targets)
                .await?;
            Ok::<bool, crate::error::Error>(true)
        };
        match fits.await {
            Ok(fits) => fits,
            Err(error) => {
                tracing::warn!(%user, %error, "forward limit not checked");
                true
            }
        }
    }

    /// Forwards a message for an address with no mailbox (a forwarded address, an SRS
    /// return) to its targets, at once.
    pub(super) async fn forward_for_address(
        &self,
        delivery: &Delivery<'_>,
        recipient: &Recipient,
        targets: &[ForwardTarget],
    ) -> Result<Delivered> {
        let srs = self.config().delivery.srs.as_ref();
        let entries = forward_entries(delivery, recipient, None, targets, srs)?;
        if !entries.is_empty() {
            self.enqueue_outbound(entries).await?;
        }
        Ok(Delivered::Forwarded)
    }
}

/// The queue entries that forward `delivery` (reached through `recipient`) to `targets`, on
/// behalf of `owner` (told of failures; `None` for a forwarded address): none for a looping
/// message. The e-mail targets share entries (one per domain, through the smarthost), sent
/// with the envelope sender rewritten by `srs` when it is set; each relay or URL target is
/// an entry of its own for `recipient`'s address with that hop (and the original sender:
/// the relay is the user's own, as WildDuck's `skipSRS`).
pub(super) fn forward_entries(
    delivery: &Delivery<'_>,
    recipient: &Recipient,
    owner: Option<UserId>,
    targets: &[ForwardTarget],
    srs: Option<&Srs>,
) -> Result<Vec<OutboundEntry>> {
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    if is_looping(delivery.raw, &recipient.address) {
        tracing::warn!(recipient = %recipient.address, "forward skipped: message is looping");
        return Ok(Vec::new());
    }
    let message_id = message_id(delivery.raw);
    let raw = with_delivered_to(delivery.raw, &recipient.address);
    let entries_to = |sender: &str, recipients: &[String]| {
        let envelope = Envelope {
            user: owner,
            sender,
            recipients,
        };
        entries_by_domain(&envelope, &message_id, raw.clone())
    };
    let mut addresses = Vec::new();
    let mut entries = Vec::new();
    for target in targets {
        let next_hop = match target {
            ForwardTarget::Mail(address) => {
                addresses.push(address.clone());
                continue;
            }
            ForwardTarget::Relay(url) => NextHop::Relay(url.clone()),
            ForwardTarget::Http(url) => NextHop::Http(url.clone()),
        };
        // As WildDuck: the relay is asked to deliver to the address the message came to.
        for mut entry in entries_to(
            delivery.return_path,
            std::slice::from_ref(&recipient.address),
        )? {
            entry.next_hop = next_hop.clone();
            entries.push(entry);
        }
    }
    if !addresses.is_empty() {
        let sender = match srs {
            Some(srs) => srs.forward(delivery.return_path, srs::today()),
            None => delivery.return_path.to_string(),
        };
        entries.extend(entries_to(&sender, &addresses)?);
    }
    Ok(entries)
}

/// `Delivered-To` (this hop) before the untouched bytes; the final hop adds `Return-Path`.
fn with_delivered_to(raw: &[u8], address: &str) -> Vec<u8> {
    let header = format!("Delivered-To: {address}\r\n");
    let mut message = Vec::with_capacity(header.len() + raw.len());
    message.extend_from_slice(header.as_bytes());
    message.extend_from_slice(raw);
    message
}

/// The message's own `Message-ID`, or a made-up one for the queue's records.
fn message_id(raw: &[u8]) -> String {
    HeaderFields::new(raw)
        .find(|field| field.name.eq_ignore_ascii_case(b"message-id"))
        .map(|field| String::from_utf8_lossy(field.value).trim().to_string())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| format!("<{}@forward>", RecordId::new()))
}

/// Whether the message came here before (a `Delivered-To` naming `address`, case ignored)
/// or has passed too many relays.
fn is_looping(raw: &[u8], address: &str) -> bool {
    let mut received = 0;
    for field in HeaderFields::new(raw) {
        if field.name.eq_ignore_ascii_case(b"received") {
            received += 1;
        } else if field.name.eq_ignore_ascii_case(b"delivered-to")
            && String::from_utf8_lossy(field.value)
                .trim()
                .eq_ignore_ascii_case(address)
        {
            return true;
        }
    }
    received > MAX_RECEIVED_HOPS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_seen_here_before_is_a_loop() {
        let raw = b"Delivered-To: Fwd@Example.com\r\nSubject: x\r\n\r\nDelivered-To: other\r\n";
        assert!(is_looping(raw, "fwd@example.com"));
        assert!(!is_looping(raw, "other@example.com"));
    }

    #[test]
    fn too_many_relays_is_a_loop() {
        let hops = "Received: from a by b\r\n".repeat(MAX_RECEIVED_HOPS);
        let raw = format!("{hops}Subject: x\r\n\r\nbody\r\n");
        assert!(!is_looping(raw.as_bytes(), "x@example.com"));
        let raw = format!("Received: from c by d\r\n{raw}");
        assert!(is_looping(raw.as_bytes(), "x@example.com"));
    }

    #[test]
    fn the_message_id_is_kept_or_made_up() {
        assert_eq!(message_id(b"Message-ID: <a@b>\r\n\r\n"), "<a@b>");
        assert!(message_id(b"Subject: x\r\n\r\n").ends_with("@forward>"));
    }
}
