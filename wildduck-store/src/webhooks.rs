//! Webhooks: URLs that get every logged event (`crate::events`) their patterns match, as
//! WildDuck's `/webhooks` and `webhooks.js` have them. A webhook is an operator record
//! (`RegistryKind::Webhook`); the event log and the deliveries live in the engines
//! (`EventLog`).
//!
//! Delivery is durable and shared: a worker hands each new event out (one delivery per
//! matching webhook, stored), then leases due deliveries, so with several processes over one
//! store each (event, webhook) pair is posted by one of them at a time; a delivery survives a
//! restart until it is settled. Five attempts with doubling waits (2, 4, 8, 16 s, WildDuck's
//! exponential backoff of 2 s); a `410 Gone` removes the webhook.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::backend::{RegistryEntry, RegistryKind, now};
use crate::domains::{decode, encode};
use crate::error::{RegistryError, Result, UserError};
use crate::model::{Event, EventDelivery, RecordId, Timestamp, UserId};
use crate::store::Store;

/// Attempts before a delivery is given up.
pub const MAX_DELIVERY_ATTEMPTS: u32 = 5;
/// How long events stay in the log once handed out.
pub const EVENT_HORIZON: Duration = Duration::from_secs(7 * 24 * 3600);
/// WildDuck's limit on one pattern.
const MAX_PATTERN_CHARS: usize = 128;

/// A URL and the event types it wants: `*`, a prefix `user.*` or an exact name; for one
/// user's events (and those of no user) or, without `user`, for every event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    pub id: RecordId,
    pub types: Vec<String>,
    pub user: Option<UserId>,
    pub url: String,
    pub created: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct WebhookBody {
    types: Vec<String>,
    user: Option<UserId>,
    url: String,
    created: Timestamp,
}

impl Webhook {
    /// Whether this webhook gets `event`.
    pub fn wants(&self, event: &Event) -> bool {
        let user_fits = match (self.user, event.user) {
            (Some(wanted), Some(user)) => wanted == user,
            _ => true,
        };
        user_fits
            && self
                .types
                .iter()
                .any(|pattern| pattern_matches(pattern, &event.kind))
    }
}

/// `*` matches every event, `a.b.*` every event below `a.b.`, anything else one name.
pub fn pattern_matches(pattern: &str, kind: &str) -> bool {
    if pattern == "*" || pattern == kind {
        return true;
    }
    pattern.strip_suffix(".*").is_some_and(|prefix| {
        kind.strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// What the receiver of a POST answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostAnswer {
    /// 2xx.
    Accepted,
    /// 410: the receiver wants no more; the webhook is removed.
    Gone,
    /// Anything else, or no answer.
    Failed,
}

/// How a delivery ended after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryEnd {
    Delivered,
    WebhookRemoved,
    RetryAt(Timestamp),
    GaveUp,
    /// The lease ran out meanwhile; another worker has the delivery.
    LeaseLost,
}

/// The JSON body WildDuck posts: `id` (ours: event and webhook, the same on every attempt),
/// `ev`, `time` (milliseconds), `user` and the event's own fields.
pub fn delivery_payload(delivery: &EventDelivery) -> Value {
    let event = &delivery.event;
    let mut body = Map::new();
    body.insert(
        "id".into(),
        format!("{}:{}", event.id, delivery.webhook).into(),
    );
    body.insert("ev".into(), event.kind.clone().into());
    body.insert("time".into(), (event.created.saturating_mul(1000)).into());
    body.insert(
        "user".into(),
        event
            .user
            .map_or(Value::Null, |user| user.to_string().into()),
    );
    if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&event.data) {
        body.extend(fields);
    }
    Value::Object(body)
}

fn invalid(why: String) -> crate::error::Error {
    RegistryError::Invalid(RegistryKind::Webhook, why).into()
}

/// An `http://` or `https://` URL with a host and no spaces (the worker posts with HTTP).
fn check_url(url: &str) -> Result<()> {
    let lower = url.to_ascii_lowercase();
    let rest = ["http://", "https://"]
        .iter()
        .find_map(|scheme| lower.strip_prefix(scheme))
        .ok_or_else(|| invalid(format!("{url:?} is not an http:// or https:// URL")))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(format!("{url:?} is not a URL")));
    }
    Ok(())
}

fn webhook_from(entry: &RegistryEntry) -> Result<Webhook> {
    let body: WebhookBody = decode(entry)?;
    Ok(Webhook {
        id: entry.id,
        types: body.types,
        user: body.user,
        url: body.url,
        created: body.created,
    })
}

/// The wait after the `failed`-th failed attempt: 2 s doubling.
fn backoff(failed: u32) -> Timestamp {
    1i64 << failed.min(20)
}

impl Store {
    /// Stores a webhook. `types` are trimmed and lower-cased as WildDuck does; `user`, when
    /// given, must exist.
    pub async fn create_webhook(
        &self,
        types: &[String],
        user: Option<UserId>,
        url: &str,
    ) -> Result<Webhook> {
        let types: Vec<String> = types.iter().map(|t| t.trim().to_lowercase()).collect();
        if let Some(long) = types.iter().find(|t| t.chars().count() > MAX_PATTERN_CHARS) {
            return Err(invalid(format!(
                "{long:?} is longer than {MAX_PATTERN_CHARS} characters"
            )));
        }
        check_url(url)?;
        if let Some(user) = user
            && self.backend().user_by_id(user).await?.is_none()
        {
            return Err(UserError::NotFound.into());
        }
        let id = RecordId::new();
        let body = WebhookBody {
            types,
            user,
            url: url.to_string(),
            created: now(),
        };
        let entry = RegistryEntry {
            id,
            key: id.to_string(),
            body: encode(&body),
        };
        self.backend()
            .insert_entry(RegistryKind::Webhook, entry.clone())
            .await?;
        webhook_from(&entry)
    }

    /// Every webhook, oldest first.
    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>> {
        self.backend()
            .list_entries(RegistryKind::Webhook)
            .await?
            .iter()
            .map(webhook_from)
            .collect()
    }

    pub async fn get_webhook(&self, id: RecordId) -> Result<Webhook> {
        match self
            .backend()
            .entry_by_id(RegistryKind::Webhook, id)
            .await?
        {
            Some(entry) => webhook_from(&entry),
            None => Err(RegistryError::NotFound(RegistryKind::Webhook).into()),
        }
    }

    pub async fn delete_webhook(&self, id: RecordId) -> Result<()> {
        self.delete_registry_entry(RegistryKind::Webhook, id).await
    }

    /// Hands up to `limit` new events out: one stored delivery per webhook that wants it.
    /// Returns how many events were handed out (0: none was waiting).
    pub async fn hand_out_events(&self, limit: usize) -> Result<usize> {
        let events = self.backend().pending_events(limit).await?;
        if events.is_empty() {
            return Ok(0);
        }
        let webhooks = self.list_webhooks().await?;
        let due = now();
        for event in &events {
            let wanting = webhooks
                .iter()
                .filter(|webhook| webhook.wants(event))
                .map(|webhook| webhook.id)
                .collect();
            self.backend()
                .hand_out_event(event.id, wanting, due)
                .await?;
        }
        Ok(events.len())
    }

    /// Leases up to `limit` due deliveries for `lease`, each with its webhook. A delivery
    /// whose webhook is gone is dropped here.
    pub async fn claim_event_deliveries(
        &self,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<(EventDelivery, Webhook)>> {
        let now = now();
        let until = now.saturating_add(lease.as_secs().max(1) as Timestamp);
        let claimed = self
            .backend()
            .claim_event_deliveries(now, until, RecordId::new(), limit)
            .await?;
        let mut ready = Vec::with_capacity(claimed.len());
        for delivery in claimed {
            match self.get_webhook(delivery.webhook).await {
                Ok(webhook) => ready.push((delivery, webhook)),
                Err(crate::error::Error::Registry(RegistryError::NotFound(_))) => {
                    self.backend()
                        .finish_event_delivery(&delivery, None)
                        .await?;
                }
                Err(error) => return Err(error),
            }
        }
        Ok(ready)
    }

    /// Records what the receiver answered to `delivery`: settled, retried later or given
    /// up; a `Gone` answer removes the webhook.
    pub async fn finish_event_delivery(
        &self,
        delivery: &EventDelivery,
        answer: PostAnswer,
    ) -> Result<DeliveryEnd> {
        let failed = delivery.attempts + 1;
        let (retry_at, end) = match answer {
            PostAnswer::Accepted => (None, DeliveryEnd::Delivered),
            PostAnswer::Gone => (None, DeliveryEnd::WebhookRemoved),
            PostAnswer::Failed if failed >= MAX_DELIVERY_ATTEMPTS => (None, DeliveryEnd::GaveUp),
            PostAnswer::Failed => {
                let at = now().saturating_add(backoff(failed));
                (Some(at), DeliveryEnd::RetryAt(at))
            }
        };
        if !self
            .backend()
            .finish_event_delivery(delivery, retry_at)
            .await?
        {
            return Ok(DeliveryEnd::LeaseLost);
        }
        if answer == PostAnswer::Gone {
            match self.delete_webhook(delivery.webhook).await {
                Ok(()) | Err(crate::error::Error::Registry(RegistryError::NotFound(_))) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(end)
    }

    /// Drops handed-out events older than `max_age` with their deliveries.
    pub async fn trim_events(&self, max_age: Duration) -> Result<u64> {
        let before = now().saturating_sub(max_age.as_secs() as Timestamp);
        self.backend().trim_events(before).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_all_prefixes_and_names() {
        assert!(pattern_matches("*", "user.created"));
        assert!(pattern_matches("user.*", "user.created"));
        assert!(pattern_matches("address.user.*", "address.user.created"));
        assert!(pattern_matches("address.*", "address.user.created"));
        assert!(pattern_matches("user.created", "user.created"));
        assert!(!pattern_matches("user.*", "users.created"));
        assert!(!pattern_matches("user.*", "user"));
        assert!(!pattern_matches("user.created", "user.created.x"));
        assert!(!pattern_matches("mailbox.*", "user.created"));
    }

    #[test]
    fn urls_must_be_http() {
        assert!(check_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(check_url("HTTPS://example.com").is_ok());
        for bad in [
            "ftp://x",
            "http://",
            "http:///path",
            "http://a b",
            "smtp://relay",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn waits_double_from_two_seconds() {
        assert_eq!((1..5).map(backoff).collect::<Vec<_>>(), [2, 4, 8, 16]);
    }
}
