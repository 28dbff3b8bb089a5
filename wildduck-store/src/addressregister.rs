//! The address register (WildDuck's `addressregister`): the addresses a user corresponded
//! with, for address completion in a mail client. As WildDuck fills it:
//!
//! - a message stored into a mailbox (IMAP APPEND, the API's upload, delivery) adds its
//!   From addresses, or when the mailbox is \Sent its To, Cc and Bcc addresses — not for
//!   drafts, not into \Junk, not for list or automatic mail (`List-ID`, `Auto-Submitted`,
//!   `X-Auto-Response-Suppress`), never a no-reply address;
//! - a message submitted for delivery adds its envelope recipients.
//!
//! An entry keeps the address as first seen and the latest display name; a user may disable
//! one (it is then neither shown nor updated). Registration is a convenience: a failure to
//! record is logged and never fails the message that caused it.

use serde::{Deserialize, Serialize};

use crate::accounts::normalize_address;
use crate::backend::now;
use crate::error::{AddressError, Result};
use crate::mime::header::HeaderFields;
use crate::mime::text::decode_header_value;
use crate::model::{
    Envelope, EnvelopeAddress, Flag, Flags, MailboxId, RecordId, SpecialUse, Timestamp, UserId,
};
use crate::store::Store;

/// One entry of a user's register.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredAddress {
    pub id: RecordId,
    pub address: String,
    pub name: Option<String>,
    pub disabled: bool,
    /// When the user last corresponded with the address.
    pub updated: Timestamp,
}

/// Messages with any of these header fields add nothing (list and automatic mail).
const IGNORED_IF_PRESENT: [&str; 3] = ["list-id", "auto-submitted", "x-auto-response-suppress"];

/// Search results at most (WildDuck's `limit` maximum).
pub const MAX_REGISTER_RESULTS: usize = 250;

/// Whether the message is list or automatic mail, which adds nothing.
pub(crate) fn list_or_automatic(raw: &[u8]) -> bool {
    HeaderFields::new(raw).any(|field| {
        IGNORED_IF_PRESENT
            .iter()
            .any(|name| field.name.eq_ignore_ascii_case(name.as_bytes()))
    })
}

/// The (name, address) pairs a message stored with `flags` into a mailbox of this special
/// use adds; `automatic` is [`list_or_automatic`] of the message.
pub(crate) fn correspondents(
    special_use: Option<SpecialUse>,
    flags: &Flags,
    envelope: &Envelope,
    automatic: bool,
) -> Vec<(Option<String>, String)> {
    if automatic || flags.contains(&Flag::Draft) || special_use == Some(SpecialUse::Junk) {
        return Vec::new();
    }
    let lists: Vec<&Vec<EnvelopeAddress>> = if special_use == Some(SpecialUse::Sent) {
        vec![&envelope.to, &envelope.cc, &envelope.bcc]
    } else {
        vec![&envelope.from]
    };
    let mut found: Vec<(Option<String>, String)> = Vec::new();
    for address in lists.into_iter().flatten() {
        let (Some(local), Some(host)) = (&address.mailbox, &address.host) else {
            continue; // a group marker
        };
        let email = format!("{local}@{host}");
        if found.iter().all(|(_, seen)| *seen != email) {
            let name = address
                .name
                .as_deref()
                .map(|name| decode_header_value(name.as_bytes()).trim().to_string());
            found.push((name, email));
        }
    }
    found
}

/// Whether an address is one nobody answers (`no-reply`, `noreply`, any case).
fn is_no_reply(address: &str) -> bool {
    let lower = address.to_lowercase();
    lower.contains("noreply") || lower.contains("no-reply")
}

/// Whether an entry answers a completion query, as WildDuck's: the address contains the
/// query as given, or the name starts with it ignoring case.
fn matches(entry: &RegisteredAddress, query: &str) -> bool {
    let name_starts = entry
        .name
        .as_deref()
        .is_some_and(|name| name.to_lowercase().starts_with(&query.to_lowercase()));
    entry.address.contains(query) || name_starts
}

impl Store {
    /// Records what a message stored into `mailbox` adds (see the module docs);
    /// `automatic` is [`list_or_automatic`] of the message.
    pub(crate) async fn register_stored_message(
        &self,
        mailbox: MailboxId,
        flags: &Flags,
        envelope: &Envelope,
        automatic: bool,
    ) {
        let mailbox = match self.backend().mailbox_by_id(mailbox).await {
            Ok(Some(mailbox)) => mailbox,
            Ok(None) => return, // removed meanwhile: nobody to record for
            Err(error) => {
                tracing::warn!(%mailbox, %error, "address register not updated");
                return;
            }
        };
        let found = correspondents(mailbox.special_use, flags, envelope, automatic);
        self.register_correspondents(mailbox.user, found).await;
    }

    /// Records the addresses of a message `user` submitted: its To, Cc and Bcc as its
    /// \Sent copy adds them, then the other envelope recipients.
    pub(crate) async fn register_submitted(
        &self,
        user: UserId,
        envelope: &Envelope,
        automatic: bool,
        recipients: &[String],
    ) {
        let mut found = correspondents(Some(SpecialUse::Sent), &Flags::new(), envelope, automatic);
        for recipient in recipients {
            if found.iter().all(|(_, seen)| seen != recipient) {
                found.push((None, recipient.clone()));
            }
        }
        self.register_correspondents(user, found).await;
    }

    async fn register_correspondents(&self, user: UserId, found: Vec<(Option<String>, String)>) {
        let at = now();
        let entries: Vec<(String, RegisteredAddress)> = found
            .into_iter()
            .filter(|(_, address)| !is_no_reply(address))
            .filter_map(|(name, address)| {
                let normalized = normalize_address(&address).ok()?;
                let entry = RegisteredAddress {
                    id: RecordId::new(),
                    address: normalized.address,
                    name: name.filter(|name| !name.is_empty()),
                    disabled: false,
                    updated: at,
                };
                Some((normalized.addrview, entry))
            })
            .collect();
        if entries.is_empty() {
            return;
        }
        if let Err(error) = self.backend().register_addresses(user, entries).await {
            tracing::warn!(%user, %error, "address register not updated");
        }
    }

    /// The user's entries that answer `query` (see [`matches`]), most recently used first,
    /// at most `limit`; disabled ones never.
    pub async fn search_address_register(
        &self,
        user: UserId,
        query: &str,
        limit: usize,
    ) -> Result<Vec<RegisteredAddress>> {
        self.get_user(user).await?;
        let mut found: Vec<RegisteredAddress> = self
            .backend()
            .registered_addresses(user)
            .await?
            .into_iter()
            .filter(|entry| !entry.disabled && matches(entry, query))
            .collect();
        found.sort_by(|a, b| b.updated.cmp(&a.updated).then(b.id.cmp(&a.id)));
        found.truncate(limit.min(MAX_REGISTER_RESULTS));
        Ok(found)
    }

    /// Disables or enables one of the user's entries and optionally renames it;
    /// `AddressError::NotFound` when the user has no such entry.
    pub async fn update_registered_address(
        &self,
        user: UserId,
        id: RecordId,
        disabled: Option<bool>,
        name: Option<String>,
    ) -> Result<()> {
        if self
            .backend()
            .update_registered_address(user, id, disabled, name)
            .await?
        {
            Ok(())
        } else {
            Err(AddressError::NotFound.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime;

    fn found(
        special_use: Option<SpecialUse>,
        flags: &[Flag],
        raw: &str,
    ) -> Vec<(Option<String>, String)> {
        let envelope = mime::analyze(raw.as_bytes()).envelope;
        let flags: Flags = flags.iter().cloned().collect();
        let automatic = list_or_automatic(raw.as_bytes());
        correspondents(special_use, &flags, &envelope, automatic)
    }

    const MESSAGE: &str = "From: =?utf-8?Q?T=C3=B6ster?= <a@example.org>\r\n\
        To: B <b@example.org>, c@example.org\r\nCc: b@example.org\r\nSubject: x\r\n\r\nbody\r\n";

    #[test]
    fn received_mail_adds_its_senders_and_sent_mail_its_recipients() {
        assert_eq!(
            found(None, &[], MESSAGE),
            [(Some("Töster".to_string()), "a@example.org".to_string())]
        );
        assert_eq!(
            found(Some(SpecialUse::Sent), &[], MESSAGE),
            [
                (Some("B".to_string()), "b@example.org".to_string()),
                (None, "c@example.org".to_string())
            ]
        );
    }

    #[test]
    fn drafts_junk_and_list_mail_add_nothing() {
        assert!(found(None, &[Flag::Draft], MESSAGE).is_empty());
        assert!(found(Some(SpecialUse::Junk), &[], MESSAGE).is_empty());
        let listed = format!("List-ID: <l.example.org>\r\n{MESSAGE}");
        assert!(found(None, &[], &listed).is_empty());
    }

    #[test]
    fn queries_match_address_substrings_and_name_prefixes() {
        let entry = RegisteredAddress {
            id: RecordId::new(),
            address: "bestöser@öxample.com".into(),
            name: Some("test töster".into()),
            disabled: false,
            updated: 0,
        };
        for query in ["best", "öxample", "öxample.com", "öx", "Test t"] {
            assert!(matches(&entry, query), "{query}");
        }
        for query in ["wrongname", "mydomain.tld", "töster"] {
            assert!(!matches(&entry, query), "{query}");
        }
        assert!(is_no_reply("No-Reply@example.org") && is_no_reply("noreply@x.org"));
    }
}
