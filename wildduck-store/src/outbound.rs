//! Mail out: the submission rule and the durable outbound queue. Engine-neutral: it speaks
//! through the facade and the `Backend` trait only.
//!
//! [`Store::submit`] takes what an authenticated user sends (SMTP submission today; the
//! API's submit, forwards and autoreplies are meant to come through the same
//! [`Store::enqueue_outbound`] seam): the envelope sender and the From header must be the
//! user's own addresses; a `Message-ID` and a `Date` are added when missing; then, in one
//! atomic unit, the message is stored in the user's \Sent mailbox with \Seen (Bcc kept) and
//! one queue entry per recipient domain holds the relayed copy (Bcc removed).
//!
//! A relay worker (outside the store: it speaks SMTP) leases due entries with
//! [`Store::claim_outbound`], tries them, and hands every recipient's reply to
//! [`Store::record_attempt`], which decides: delivered, failed for good (5xx, or still
//! pending when the entry is older than the policy's maximum age) or retried with
//! exponential backoff. Recipients that failed for good get a delivery status notification
//! (RFC 3464, module `dsn`) in the sender's INBOX, in the same unit as the entry's update
//! (dropped, with a warning, when it does not fit the sender's quota).
//! A lease (`claimed_until`) keeps an entry to one worker at a time; a worker that dies
//! leaves it to be taken again once the lease runs out, so an entry is sent again only when
//! no worker recorded the relay's confirmation.

mod dsn;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::accounts;
use crate::backend::now;
use crate::error::{AddressError, Defect, Error, MailboxError, MessageError, Result};
use crate::limits::DailyWindow;
use crate::mime::address::header_addresses;
use crate::mime::header::HeaderFields;
use crate::model::*;
use crate::names::INBOX;
use crate::store::Store;
use crate::telemetry;

/// One message an authenticated user sends.
#[derive(Clone, Copy, Debug)]
pub struct Submission<'a> {
    pub user: &'a User,
    /// The envelope sender (SMTP `MAIL FROM`).
    pub sender: &'a str,
    /// The envelope recipients (SMTP `RCPT TO`), Bcc recipients among them.
    pub recipients: &'a [String],
    /// The message as the client sent it.
    pub raw: &'a [u8],
}

/// What [`Store::submit`] did.
#[derive(Clone, Debug)]
pub struct Submitted {
    /// The copy in the sender's \Sent mailbox.
    pub sent: AppendOutcome,
    /// The message's `Message-ID` (given by the client or added).
    pub message_id: String,
    /// One entry per recipient domain.
    pub queued: Vec<OutboundId>,
}

/// Where one recipient of an outbound entry stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecipientStatus {
    /// Not yet accepted by the relay (never tried, or refused for now).
    Pending,
    /// The relay took responsibility for it.
    Delivered,
    /// Refused for good, or given up; the sender was told.
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundRecipient {
    pub address: String,
    pub status: RecipientStatus,
    /// The relay's last reply about it (or why it could not be asked).
    pub last_reply: Option<String>,
}

/// Where the worker sends an entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "url", rename_all = "lowercase")]
pub enum NextHop {
    /// The configured smarthost (`[outbound] relay`).
    #[default]
    Smarthost,
    /// A forward target's own SMTP relay, `smtp(s)://[user:password@]host[:port]`.
    Relay(String),
    /// A forward target's URL: the message is POSTed to it as `message/rfc822`.
    Http(String),
}

impl NextHop {
    pub fn is_smarthost(&self) -> bool {
        *self == NextHop::Smarthost
    }
}

impl std::fmt::Display for NextHop {
    /// The hop as an operator may see it: a password in the URL is replaced by `***`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = match self {
            NextHop::Smarthost => return f.write_str("smarthost"),
            NextHop::Relay(url) | NextHop::Http(url) => url,
        };
        match mask_url_password(url, "***") {
            Some(masked) => f.write_str(&masked),
            None => f.write_str(url),
        }
    }
}

/// `scheme://user:password@host/…` with the password replaced by `mask`; `None` when the
/// URL holds no password. Only the authority is looked at, so an `@` in the path stays.
pub fn mask_url_password(url: &str, mask: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (userinfo, host) = rest[..authority_end].rsplit_once('@')?;
    let (user, _) = userinfo.split_once(':')?;
    Some(format!(
        "{scheme}://{user}:{mask}@{host}{}",
        &rest[authority_end..]
    ))
}

/// Which due entries a worker takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimScope {
    /// Every due entry (the worker knows a smarthost).
    All,
    /// Only entries with a hop of their own (a worker without a smarthost leaves the
    /// others to wait for one).
    OwnHopOnly,
}

/// One queued message for the recipients of one domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundEntry {
    pub id: OutboundId,
    /// The sending user: a failure notice goes to their INBOX. `None` for a forward from a
    /// forwarded address, which has no mailbox: its failures are logged only.
    pub user: Option<UserId>,
    /// The envelope sender.
    pub sender: String,
    pub domain: String,
    pub recipients: Vec<OutboundRecipient>,
    pub message_id: String,
    /// Where it goes; absent from the stored state for the smarthost (entries queued before
    /// forwards had hops of their own read as the smarthost's).
    #[serde(default, skip_serializing_if = "NextHop::is_smarthost")]
    pub next_hop: NextHop,
    pub created: Timestamp,
    /// Attempts made so far.
    pub attempts: u32,
    /// Not tried again before this time.
    pub next_attempt: Timestamp,
    /// The message as relayed (without Bcc). Engines keep it apart from the fields above.
    #[serde(skip)]
    pub raw: Vec<u8>,
}

impl OutboundEntry {
    pub fn pending(&self) -> impl Iterator<Item = &OutboundRecipient> {
        self.recipients
            .iter()
            .filter(|r| r.status == RecipientStatus::Pending)
    }
}

/// An entry leased to one worker; only the holder of `lease` can record its attempt.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub entry: OutboundEntry,
    pub lease: RecordId,
}

/// The relay's answer about one pending recipient (a reply code and its text), or for a
/// connection that failed, a made-up temporary one (code 4xx) saying why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayReply {
    pub code: u16,
    pub text: String,
}

/// How the queue retries.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// The wait after the first failed attempt; it doubles with each further one.
    pub backoff_base: Duration,
    /// The longest wait between two attempts.
    pub backoff_max: Duration,
    /// Recipients still pending this long after submission are given up.
    pub max_age: Duration,
    /// The host named in delivery status notifications (`Reporting-MTA`).
    pub reporting_host: String,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            backoff_base: Duration::from_secs(60),
            backoff_max: Duration::from_secs(4 * 3600),
            max_age: Duration::from_secs(4 * 24 * 3600),
            reporting_host: "localhost".into(),
        }
    }
}

/// What recording an attempt did with the entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Every recipient is settled; the entry is gone.
    Finished { failed: usize },
    /// Some recipients wait for another attempt at `next_attempt`.
    Retrying { next_attempt: Timestamp },
    /// The lease ran out and another worker holds the entry: nothing was recorded.
    LeaseLost,
}

impl Store {
    /// Accepts a message `submission.user` sends: checks the sender and From, completes the
    /// header, stores the \Sent copy and queues the relayed copy, all or nothing.
    /// `AddressError::NotOwned` for a sender or From address that is not the user's,
    /// `AddressError::Invalid` for a malformed recipient.
    pub async fn submit(&self, submission: Submission<'_>) -> Result<Submitted> {
        self.submit_scheduled(submission, None).await
    }

    /// [`Store::submit`], with the queue entries not tried before `send_at` (the API's
    /// `sendTime`); the \Sent copy is stored at once, as WildDuck does.
    pub(crate) async fn submit_scheduled(
        &self,
        submission: Submission<'_>,
        send_at: Option<Timestamp>,
    ) -> Result<Submitted> {
        let user = submission.user;
        self.check_sender(user, submission.sender).await?;
        let (sent_raw, message_id) = completed_header(&submission, now());
        let from = header_addresses(&sent_raw, "from");
        if from.is_empty() {
            return Err(AddressError::NotOwned("the message has no From address".into()).into());
        }
        for address in &from {
            self.check_sender(user, address).await?;
        }
        let relayed = without_field(&sent_raw, b"bcc");
        let automatic = crate::addressregister::list_or_automatic(&sent_raw);
        let envelope = Envelope {
            user: Some(user.id),
            sender: submission.sender,
            recipients: submission.recipients,
        };
        let mut entries = entries_by_domain(&envelope, &message_id, relayed)?;
        if let Some(at) = send_at {
            for entry in &mut entries {
                entry.next_attempt = entry.next_attempt.max(at);
            }
        }
        let wanted = submission.recipients.len() as u64;
        self.check_sending_limit(user.id, wanted).await?;
        let sent = self.sent_mailbox(user.id).await?;
        let mut flags = Flags::new();
        flags.insert(Flag::Seen);
        let message = self.analyse_for_append(sent_raw, flags).await?;
        let headers = message.envelope.clone();
        let queued = entries.iter().map(|e| e.id).collect();
        let (outcome, wakes) = self
            .backend()
            .enqueue(Some((sent, message)), entries)
            .await?;
        self.publish(wakes);
        let sent_copy = outcome.ok_or(Defect::Bug("the backend stored no sent copy"))?;
        // Stored and queued: a failure of the counting below must not make the client send
        // the message again.
        let counted = self
            .count_submission(user.id, wanted, sent, &message_id, sent_copy.uid)
            .await;
        if let Err(error) = counted {
            tracing::warn!(%error, "a submission was not counted");
        }
        self.register_submitted(user.id, &headers, automatic, submission.recipients)
            .await;
        Ok(Submitted {
            sent: sent_copy,
            message_id,
            queued,
        })
    }

    /// Counts `recipients` against the user's allowance and remembers where the \Sent copy
    /// of `message_id` is, for [`Store::submitted_copy`].
    async fn count_submission(
        &self,
        user: UserId,
        recipients: u64,
        sent: MailboxId,
        message_id: &str,
        uid: Uid,
    ) -> Result<()> {
        self.limiter()
            .add_to_window(DailyWindow::Recipients, user, recipients)
            .await?;
        let key = submitted_key(user, sent, message_id);
        self.limiter()
            .counters()
            .set(&key, u64::from(uid), CLIENT_COPY_WINDOW)
            .await
    }

    /// Queues entries made elsewhere (forwards, autoreplies, the API), without a sent copy.
    pub async fn enqueue_outbound(&self, entries: Vec<OutboundEntry>) -> Result<()> {
        self.backend().enqueue(None, entries).await?;
        Ok(())
    }

    /// Leases up to `limit` entries in `scope` that are due, for `lease` long.
    pub async fn claim_outbound(
        &self,
        limit: usize,
        lease: Duration,
        scope: ClaimScope,
    ) -> Result<Vec<Claimed>> {
        let now = now();
        let until = now.saturating_add(secs(lease));
        let token = RecordId::new();
        let entries = self
            .backend()
            .claim_outbound(now, until, token, limit, scope)
            .await?;
        Ok(entries
            .into_iter()
            .map(|entry| Claimed {
                entry,
                lease: token,
            })
            .collect())
    }

    /// Records one attempt of a claimed entry: `replies` holds the relay's answer for each
    /// recipient that was pending, in the entry's order. 2xx delivered, 5xx failed, anything
    /// else stays pending (given up once the entry is older than `policy.max_age`). Failed
    /// recipients are reported to the sender's INBOX in the same unit.
    pub async fn record_attempt(
        &self,
        claimed: Claimed,
        replies: &[RelayReply],
        policy: &RetryPolicy,
    ) -> Result<AttemptOutcome> {
        let now = now();
        let Claimed { mut entry, lease } = claimed;
        let id = entry.id;
        let mut newly_failed = Vec::new();
        let pending = entry
            .recipients
            .iter_mut()
            .filter(|r| r.status == RecipientStatus::Pending);
        for (recipient, reply) in pending.zip(replies) {
            recipient.last_reply = Some(format!("{} {}", reply.code, reply.text));
            recipient.status = match reply.code {
                200..=299 => RecipientStatus::Delivered,
                500..=599 => RecipientStatus::Failed,
                _ => RecipientStatus::Pending,
            };
            if recipient.status == RecipientStatus::Failed {
                newly_failed.push(recipient.clone());
            }
        }
        entry.attempts = entry.attempts.saturating_add(1);
        let expired = now.saturating_sub(entry.created) >= secs(policy.max_age);
        if expired {
            for recipient in entry
                .recipients
                .iter_mut()
                .filter(|r| r.status == RecipientStatus::Pending)
            {
                recipient.status = RecipientStatus::Failed;
                newly_failed.push(recipient.clone());
            }
        }
        let notify = entry.user.filter(|_| !newly_failed.is_empty());
        if notify.is_none() && !newly_failed.is_empty() {
            tracing::warn!(entry = %entry.id, failed = newly_failed.len(), "forward failed; no mailbox to notify");
        }
        let dsn = if let Some(user) = notify {
            let inbox = self.get_mailbox(user, INBOX).await?;
            let report = dsn::failure_report(&entry, &newly_failed, policy, now);
            let message = self.analyse_for_append(report, Flags::new()).await?;
            Some((inbox.id, message))
        } else {
            None
        };
        let outcome = if entry.pending().next().is_some() {
            let next_attempt = now.saturating_add(secs(backoff(policy, entry.attempts)));
            entry.next_attempt = next_attempt;
            AttemptOutcome::Retrying { next_attempt }
        } else {
            AttemptOutcome::Finished {
                failed: entry
                    .recipients
                    .iter()
                    .filter(|r| r.status == RecipientStatus::Failed)
                    .count(),
            }
        };
        let next = matches!(outcome, AttemptOutcome::Retrying { .. }).then_some(entry);
        let finished = self
            .backend()
            .finish_outbound(id, lease, next.clone(), dsn)
            .await;
        let (recorded, wakes) = match finished {
            // A notice that does not fit the sender's quota is dropped, as an MTA drops a
            // bounce it cannot deliver; keeping it would hold the entry and resend the
            // message to the recipients that took it on every lease. Nothing was written.
            Err(Error::Message(MessageError::OverQuota { .. })) => {
                tracing::warn!(
                    entry = %id,
                    "delivery status notification dropped: the sender's INBOX is over quota"
                );
                self.backend()
                    .finish_outbound(id, lease, next, None)
                    .await?
            }
            finished => finished?,
        };
        self.publish(wakes);
        Ok(if recorded {
            outcome
        } else {
            AttemptOutcome::LeaseLost
        })
    }

    /// The \Sent copy that the user's own submission of `raw` filed in `sent` within the last
    /// ten minutes, when it is still there: a client that files its own copy after sending
    /// (Thunderbird, Apple Mail) gets that one back (its APPENDUID) instead of storing a
    /// second, as Gmail does. Matched by `Message-ID`; `None` for anything else.
    pub async fn submitted_copy(
        &self,
        user: UserId,
        sent: &Mailbox,
        raw: &[u8],
    ) -> Result<Option<AppendOutcome>> {
        let Some(message_id) = message_id_of(raw) else {
            return Ok(None);
        };
        let key = submitted_key(user, sent.id, &message_id);
        let Some((uid, _)) = self.limiter().counters().get(&key).await? else {
            return Ok(None);
        };
        let Ok(uid) = Uid::try_from(uid) else {
            return Ok(None);
        };
        let copy = UidSet::from_ranges([(uid, uid)]);
        let metas = self
            .fetch_meta(sent.id, &copy, MetaFields::default())
            .await?;
        Ok(metas.into_iter().next().map(|meta| AppendOutcome {
            id: meta.id,
            uid: meta.uid,
            modseq: meta.modseq,
            uidvalidity: sent.uidvalidity,
            size: meta.size,
        }))
    }

    /// The user's 24-hour sending allowance in recipients: their own, or the install's
    /// (`const:max:recipients`, the configured limit unless an operator set it).
    pub async fn sending_allowance(&self, user: UserId) -> Result<u64> {
        let own = self.user_profile(user).await?.recipients;
        if own > 0 {
            return Ok(own);
        }
        self.setting_number(crate::settings::MAX_RECIPIENTS).await
    }

    /// Recipients `user` sent to in their current 24-hour window and the time it has left.
    pub async fn recipients_sent(&self, user: UserId) -> Result<(u64, Duration)> {
        self.limiter()
            .window_used(DailyWindow::Recipients, user)
            .await
    }

    /// `MessageError::SendingLimit` when `wanted` more recipients do not fit the user's
    /// allowance. Checked before a message is taken and counted once it is stored; two
    /// messages checked at the same moment on two nodes may both pass (WildDuck's counter
    /// has the same window).
    async fn check_sending_limit(&self, user: UserId, wanted: u64) -> Result<()> {
        let allowed = self.sending_allowance(user).await?;
        let (sent, _) = self.recipients_sent(user).await?;
        if sent.saturating_add(wanted) > allowed {
            return Err(MessageError::SendingLimit {
                sent,
                wanted,
                allowed,
            }
            .into());
        }
        Ok(())
    }

    /// Every queued entry, oldest first (bodies included).
    pub async fn list_outbound(&self) -> Result<Vec<OutboundEntry>> {
        self.backend().list_outbound().await
    }

    /// How many entries wait in the queue (every process's: the queue is the store's).
    pub async fn outbound_queue_depth(&self) -> Result<u64> {
        self.backend().count_outbound().await
    }

    /// Sets the `wildduck_outbound_queue_depth` gauge to the depth read now. Called when the
    /// metrics are scraped: read from the store, the gauge stays right whichever process
    /// queued or sent an entry, and after a restart. A failed read leaves the last value.
    pub async fn record_outbound_queue_depth(&self) -> Result<()> {
        telemetry::outbound_queue_depth(self.outbound_queue_depth().await?);
        Ok(())
    }

    /// Queued entry `id` (body included), or `None` once it was settled or deleted.
    pub async fn outbound_entry(&self, id: OutboundId) -> Result<Option<OutboundEntry>> {
        self.backend().get_outbound(id).await
    }

    /// Makes entry `id` due now, whatever its backoff said; `false` when it is gone.
    pub async fn retry_outbound(&self, id: OutboundId) -> Result<bool> {
        self.backend().reschedule_outbound(id, now()).await
    }

    /// Drops entry `id` unsent (no notice to the sender: an operator's decision);
    /// `false` when it is gone.
    pub async fn delete_outbound(&self, id: OutboundId) -> Result<bool> {
        self.backend().delete_outbound(id).await
    }

    /// `Ok` when `address` may be `user`'s sender: it reaches them (their own address, `+tag`
    /// and dots ignored, or a wildcard of theirs); `AddressError::NotOwned` otherwise.
    pub async fn check_sender(&self, user: &User, address: &str) -> Result<()> {
        let not_owned = || Error::from(AddressError::NotOwned(address.to_string()));
        match self.resolve_recipient(address).await {
            Ok(recipient) if recipient.user().is_some_and(|u| u.id == user.id) => Ok(()),
            // Another user's, a forwarded address, nobody's, or a disabled user's address.
            Ok(_) | Err(Error::Address(_) | Error::Auth(_)) => Err(not_owned()),
            Err(other) => Err(other),
        }
    }

    async fn sent_mailbox(&self, user: UserId) -> Result<MailboxId> {
        self.list_mailboxes(user)
            .await?
            .into_iter()
            .find(|m| m.special_use == Some(SpecialUse::Sent))
            .map(|m| m.id)
            .ok_or_else(|| MailboxError::NotFound.into())
    }
}

/// How long a submitted message's \Sent copy stands in for the copy its client files.
const CLIENT_COPY_WINDOW: Duration = Duration::from_secs(10 * 60);

fn secs(duration: Duration) -> Timestamp {
    Timestamp::try_from(duration.as_secs()).unwrap_or(Timestamp::MAX)
}

/// The wait after `attempts` failed attempts: base, 2×base, 4×base… up to the maximum.
fn backoff(policy: &RetryPolicy, attempts: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1));
    policy
        .backoff_base
        .saturating_mul(factor)
        .min(policy.backoff_max)
}

/// The message with `Message-ID` and `Date` put in front when the client left them out,
/// and its Message-ID (with angle brackets).
/// The message's `Message-ID` as written (trimmed), if it has a non-empty one.
fn message_id_of(raw: &[u8]) -> Option<String> {
    HeaderFields::new(raw)
        .find(|field| field.name.eq_ignore_ascii_case(b"message-id"))
        .map(|field| String::from_utf8_lossy(field.value).trim().to_string())
        .filter(|id| !id.is_empty())
}

/// The counter that remembers, for [`CLIENT_COPY_WINDOW`], which UID of `sent` holds the
/// copy of the user's submitted message `message_id`.
fn submitted_key(user: UserId, sent: MailboxId, message_id: &str) -> String {
    format!("submitted:{user}:{sent}:{message_id}")
}

fn completed_header(submission: &Submission<'_>, now: Timestamp) -> (Vec<u8>, String) {
    let raw = submission.raw;
    let has_date = HeaderFields::new(raw).any(|field| field.name.eq_ignore_ascii_case(b"date"));
    let mut added = String::new();
    let message_id = match message_id_of(raw) {
        Some(id) => id,
        None => {
            let domain = submission
                .sender
                .rsplit_once('@')
                .map_or("localhost", |(_, domain)| domain);
            let id = format!("<{}@{domain}>", RecordId::new());
            added.push_str(&format!("Message-ID: {id}\r\n"));
            id
        }
    };
    if !has_date {
        let date = mail_parser::DateTime::from_timestamp(now).to_rfc822();
        added.push_str(&format!("Date: {date}\r\n"));
    }
    let mut completed = Vec::with_capacity(added.len() + raw.len());
    completed.extend_from_slice(added.as_bytes());
    completed.extend_from_slice(raw);
    (completed, message_id)
}

/// `raw` without the header fields called `name` (lower-case), every other byte kept.
fn without_field(raw: &[u8], name: &[u8]) -> Vec<u8> {
    let mut kept = Vec::with_capacity(raw.len());
    let mut next = 0;
    for field in HeaderFields::new(raw) {
        if field.name.eq_ignore_ascii_case(name) {
            kept.extend_from_slice(&raw[next..field.range.start]);
            next = field.range.end;
        }
    }
    kept.extend_from_slice(&raw[next..]);
    kept
}

/// Who sends to whom, for the queue.
pub(crate) struct Envelope<'a> {
    /// Told of failures in their INBOX.
    pub user: Option<UserId>,
    pub sender: &'a str,
    pub recipients: &'a [String],
}

/// One queue entry per recipient domain (lower-cased), recipients in the order given.
pub(crate) fn entries_by_domain(
    envelope: &Envelope<'_>,
    message_id: &str,
    relayed: Vec<u8>,
) -> Result<Vec<OutboundEntry>> {
    let mut by_domain: BTreeMap<String, Vec<OutboundRecipient>> = BTreeMap::new();
    for address in envelope.recipients {
        let address = address.trim();
        accounts::normalize_address(address)?;
        let domain = address
            .rsplit_once('@')
            .map(|(_, domain)| domain.to_lowercase())
            .unwrap_or_default();
        by_domain
            .entry(domain)
            .or_default()
            .push(OutboundRecipient {
                address: address.to_string(),
                status: RecipientStatus::Pending,
                last_reply: None,
            });
    }
    let created = now();
    Ok(by_domain
        .into_iter()
        .map(|(domain, recipients)| OutboundEntry {
            id: OutboundId::new(),
            user: envelope.user,
            sender: envelope.sender.to_string(),
            domain,
            recipients,
            message_id: message_id.to_string(),
            next_hop: NextHop::Smarthost,
            created,
            attempts: 0,
            next_attempt: created,
            raw: relayed.clone(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcc_is_removed_with_its_folded_lines_and_nothing_else() {
        let raw = b"From: a@x.org\r\nBcc: hidden@y.org,\r\n other@z.org\r\nTo: b@y.org\r\n\r\nBcc: in body\r\n";
        assert_eq!(
            without_field(raw, b"bcc"),
            b"From: a@x.org\r\nTo: b@y.org\r\n\r\nBcc: in body\r\n"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let policy = RetryPolicy {
            backoff_base: Duration::from_secs(10),
            backoff_max: Duration::from_secs(50),
            ..RetryPolicy::default()
        };
        let waits: Vec<u64> = (1..=5).map(|n| backoff(&policy, n).as_secs()).collect();
        assert_eq!(waits, [10, 20, 40, 50, 50]);
    }
}
