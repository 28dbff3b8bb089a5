//! The delivery hook of the user's rules (WildDuck's `FilterHandler`): the domain access
//! lists of the user's tags for the author's domain (blocked: spam, allowed: never spam),
//! then their enabled filters in creation order (the first to set an action decides it,
//! forward targets add up), then the MTA's spam verdict where neither decided about spam
//! (compared with the user's own spam level if they have one; level 100 — nothing is spam —
//! outranks the lists and filters, as in WildDuck),
//! then the autoreply, then the copy stored and the forwards and reply queued.
//!
//! Where the copy goes: a spam message into the user's \Junk folder, else a filter's mailbox,
//! else INBOX (also when the filter's mailbox or the Junk folder is gone). Spam is never
//! forwarded and never answered. A `delete` stores nothing but still forwards to the filter's
//! targets (Gmail's "forward and delete"). The stored copy and the forwards are one unit
//! (`Backend::enqueue`), so a delivery the MTA retries after a failure forwards nothing twice.
//! The autoreply's per-sender record is taken first: a retried delivery may miss a reply,
//! never send two.

use super::forward::forward_entries;
use super::{Delivered, Delivery, Recipient};
use crate::backend::now;
use crate::domains::AccessAction;
use crate::encryption::{EncryptionSettings, sealed};
use crate::error::Result;
use crate::filters::autoreply::{compose_reply, suppressed};
use crate::filters::matching::{MessageFacts, matches, needs_body};
use crate::filters::{Filter, FilterAction};
use crate::mime::address::header_addresses;
use crate::model::*;
use crate::names::INBOX;
use crate::outbound::{Envelope, OutboundEntry, entries_by_domain};
use crate::profiles::ForwardTarget;
use crate::store::Store;

/// What the user's filters decided, each action from the first filter that set it.
#[derive(Debug, Default)]
struct Decision {
    seen: Option<bool>,
    flag: Option<bool>,
    delete: Option<bool>,
    spam: Option<bool>,
    mailbox: Option<MailboxId>,
    targets: Vec<ForwardTarget>,
}

impl Decision {
    fn take(&mut self, action: &FilterAction) {
        for (decided, given) in [
            (&mut self.seen, action.seen),
            (&mut self.flag, action.flag),
            (&mut self.delete, action.delete),
            (&mut self.spam, action.spam),
        ] {
            if decided.is_none() {
                *decided = given;
            }
        }
        if self.mailbox.is_none() {
            self.mailbox = action.mailbox;
        }
        for target in &action.targets {
            if !self.targets.contains(target) {
                self.targets.push(target.clone());
            }
        }
    }
}

/// The bytes to forward when they are not the received ones: encrypted to the user's key
/// when the user asked for that (`encryptForwarded`; `encryptMessages` is for the stored copy).
async fn sealed_for_forwarding(
    settings: &EncryptionSettings,
    delivery: &Delivery<'_>,
    targets: &[ForwardTarget],
) -> Result<Option<Vec<u8>>> {
    if targets.is_empty() || !settings.encrypt_forwarded || settings.pub_key.is_none() {
        return Ok(None);
    }
    let forwarding = EncryptionSettings {
        encrypt_messages: true,
        ..settings.clone()
    };
    Ok(Some(
        sealed(&forwarding, false, false, delivery.raw.to_vec()).await?,
    ))
}

/// The filters' decision on top of `decision` (what the domain access lists said).
fn decide(mut decision: Decision, filters: &[Filter], facts: &MessageFacts) -> Decision {
    for filter in filters.iter().filter(|f| !f.disabled) {
        if matches(&filter.query, facts) {
            decision.take(&filter.action);
        }
    }
    decision
}

/// The spam level at which no message is spam.
const NEVER_SPAM: u8 = 100;

/// The domain of the message's author: its first From address, else its Sender (as
/// WildDuck reads it for the domain access lists).
fn author_domain(raw: &[u8]) -> Option<String> {
    ["from", "sender"].into_iter().find_map(|field| {
        let first = header_addresses(raw, field).into_iter().next()?;
        first.rsplit_once('@').map(|(_, domain)| domain.to_string())
    })
}

impl Store {
    /// Applies `user`'s rules to `message` (the received bytes with the trace headers) and
    /// stores or drops it; the user's own forwarding targets go with the filters' forwards.
    pub(super) async fn filter_and_store(
        &self,
        delivery: &Delivery<'_>,
        recipient: &Recipient,
        user: &User,
        message: Vec<u8>,
    ) -> Result<Delivered> {
        let filters = self.backend().list_filters(Some(user.id)).await?;
        let with_body = needs_body(filters.iter().filter(|f| !f.disabled).map(|f| &f.query));
        let facts = MessageFacts::new(&message, with_body);
        let profile = self.backend().user_profile(user.id).await?;
        let access = match author_domain(&message) {
            Some(domain) if !profile.tags.is_empty() => {
                self.domain_access_verdict(&profile.tags, &domain).await?
            }
            _ => None,
        };
        let listed = Decision {
            spam: access.map(|action| action == AccessAction::Block),
            ..Decision::default()
        };
        let decision = decide(listed, &filters, &facts);
        let spam = match profile.spam_level {
            // WildDuck's "nothing is spam" outranks the lists and the filters.
            Some(NEVER_SPAM) => false,
            level => decision.spam.unwrap_or_else(|| {
                let mut policy = self.config().delivery.spam.clone();
                policy.level = level.unwrap_or(policy.level);
                policy.is_spam(&facts)
            }),
        };
        let mut queued = Vec::new();
        if !spam {
            let mut targets = decision.targets.clone();
            for target in &profile.targets {
                if !targets.contains(target) {
                    targets.push(target.clone());
                }
            }
            let sealed_raw = sealed_for_forwarding(&profile.encryption, delivery, &targets).await?;
            let forwards = forward_entries(
                &Delivery {
                    raw: sealed_raw.as_deref().unwrap_or(delivery.raw),
                    ..*delivery
                },
                recipient,
                Some(user.id),
                &targets,
                self.config().delivery.srs.as_ref(),
            )?;
            if forwards.is_empty()
                || self
                    .take_forwards(user.id, profile.forwards, targets.len() as u64)
                    .await
            {
                queued.extend(forwards);
            } else {
                tracing::warn!(user = %user.username, "forward skipped: daily forward limit reached");
            }
            queued.extend(self.autoreply(delivery, recipient, user.id, &facts).await?);
        }
        if decision.delete == Some(true) {
            if !queued.is_empty() {
                self.backend().enqueue(None, queued).await?;
            }
            tracing::info!(user = %user.username, "message dropped by a filter");
            return Ok(Delivered::Dropped);
        }
        let mailbox = self.target_mailbox(user.id, spam, decision.mailbox).await?;
        let mut flags = Flags::new();
        if decision.seen == Some(true) {
            flags.insert(Flag::Seen);
        }
        if decision.flag == Some(true) {
            flags.insert(Flag::Flagged);
        }
        let automatic = crate::addressregister::list_or_automatic(&message);
        let encrypted_mailbox = self.mailbox_encrypted(mailbox).await?;
        let message = sealed(&profile.encryption, encrypted_mailbox, false, message).await?;
        let new = self.analyse_for_append(message, flags.clone()).await?;
        let size = new.size;
        let envelope = new.envelope.clone();
        let (outcome, wakes) = self.backend().enqueue(Some((mailbox, new)), queued).await?;
        self.publish(wakes);
        crate::store::count_stored(size);
        let outcome = outcome.ok_or(crate::error::Defect::Bug("the backend stored no copy"))?;
        self.register_stored_message(mailbox, &flags, &envelope, automatic)
            .await;
        Ok(Delivered::Stored { mailbox, outcome })
    }

    /// Junk for spam, else the filter's mailbox, else INBOX; a chosen one that is gone (or not
    /// the user's) falls back to INBOX, as WildDuck's `inboxDefault`.
    async fn target_mailbox(
        &self,
        user: UserId,
        spam: bool,
        chosen: Option<MailboxId>,
    ) -> Result<MailboxId> {
        let wanted = if spam {
            self.list_mailboxes(user)
                .await?
                .into_iter()
                .find(|m| m.special_use == Some(SpecialUse::Junk))
        } else if let Some(chosen) = chosen {
            self.backend()
                .mailbox_by_id(chosen)
                .await?
                .filter(|m| m.user == user)
        } else {
            None
        };
        match wanted {
            Some(mailbox) => Ok(mailbox.id),
            None => Ok(self.get_mailbox(user, INBOX).await?.id),
        }
    }

    /// The autoreply entry for this message, if the user's autoreply is on, the message is
    /// not one to leave unanswered, and the sender got none within the policy's interval.
    async fn autoreply(
        &self,
        delivery: &Delivery<'_>,
        recipient: &Recipient,
        user: UserId,
        facts: &MessageFacts,
    ) -> Result<Vec<OutboundEntry>> {
        let sender = delivery.return_path;
        if suppressed(sender, facts) {
            return Ok(Vec::new());
        }
        let at = now();
        let Some(autoreply) = self.backend().autoreply(user).await? else {
            return Ok(Vec::new());
        };
        if !autoreply.active_at(at) {
            return Ok(Vec::new());
        }
        // `const:autoreply:interval` (milliseconds), the configured one unless set.
        let interval_ms = self
            .setting_number(crate::settings::AUTOREPLY_INTERVAL)
            .await?;
        let interval = i64::try_from(interval_ms / 1000).unwrap_or(i64::MAX);
        let since = at.saturating_sub(interval);
        let sender_key = sender.to_lowercase();
        if !self
            .backend()
            .claim_autoreply(user, &sender_key, at, since)
            .await?
        {
            return Ok(Vec::new());
        }
        let (reply, message_id) =
            compose_reply(&autoreply, &recipient.address, sender, delivery.raw, at);
        let envelope = Envelope {
            user: Some(user),
            sender: "",
            recipients: &[sender.to_string()],
        };
        entries_by_domain(&envelope, &message_id, reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::FilterQuery;

    fn filter(query: FilterQuery, action: FilterAction, disabled: bool) -> Filter {
        Filter {
            id: FilterId::new(),
            user: UserId::new(),
            name: String::new(),
            query,
            action,
            disabled,
            created: 0,
            meta_data: None,
        }
    }

    #[test]
    fn the_first_filter_to_set_an_action_wins_and_targets_add_up() {
        let facts = MessageFacts::new(b"From: a@x.org\r\nSubject: offer\r\n\r\n", false);
        let from = |text: &str| FilterQuery {
            from: Some(text.into()),
            ..FilterQuery::default()
        };
        let target = |value: &str| ForwardTarget::parse(value).unwrap();
        let junk = MailboxId::new();
        let filters = [
            filter(
                from("a@x"),
                FilterAction {
                    seen: Some(true),
                    spam: Some(false),
                    targets: vec![target("one@y.org")],
                    ..FilterAction::default()
                },
                false,
            ),
            // Disabled: none of it counts.
            filter(
                from("a@x"),
                FilterAction {
                    flag: Some(true),
                    targets: vec![target("off@y.org")],
                    ..FilterAction::default()
                },
                true,
            ),
            // Does not match.
            filter(
                from("b@x"),
                FilterAction {
                    delete: Some(true),
                    ..FilterAction::default()
                },
                false,
            ),
            filter(
                from("x.org"),
                FilterAction {
                    seen: Some(false),
                    spam: Some(true),
                    mailbox: Some(junk),
                    targets: vec![target("one@y.org"), target("two@y.org")],
                    ..FilterAction::default()
                },
                false,
            ),
        ];
        let decision = decide(Decision::default(), &filters, &facts);
        assert_eq!(decision.seen, Some(true));
        assert_eq!(decision.spam, Some(false));
        assert_eq!(decision.flag, None);
        assert_eq!(decision.delete, None);
        assert_eq!(decision.mailbox, Some(junk));
        let targets: Vec<&str> = decision.targets.iter().map(|t| t.value()).collect();
        assert_eq!(targets, ["one@y.org", "two@y.org"]);
    }
}
