//! The webhook worker `wildduck serve` runs beside the relay: it hands the store's new
//! events out to the webhooks that want them (`Store::hand_out_events`), then POSTs each
//! leased delivery as WildDuck's JSON body and records the answer
//! (`Store::finish_event_delivery`: 2xx settles, 410 removes the webhook, anything else is
//! tried again later, five attempts in all). Deliveries are leased in the store, so several
//! processes over one store post each (event, webhook) once between them, and one that is
//! killed leaves its deliveries for the next.

use std::io;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use wildduck_store::{
    DeliveryEnd, EVENT_HORIZON, EventDelivery, PostAnswer, Store, Webhook, delivery_payload,
};

use super::Config;
use super::hops::Reach;
use super::http::exchange;

/// Events handed out per round.
const HAND_OUT_BATCH: usize = 100;
/// How often handed-out events older than the horizon are trimmed.
const TRIM_EVERY: Duration = Duration::from_secs(3600);

/// Posts events until `shutdown` turns true; posts under way are finished first. Uses the
/// `[outbound]` timeout, trusted roots, poll interval and concurrency.
pub async fn run(
    store: Store,
    config: Config,
    hostname: String,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    let reach = config.reach(&hostname)?;
    // Long enough for one post (connection and answer, each within the timeout).
    let lease = reach.timeout * 2;
    let poll = Duration::from_millis(config.poll_interval_ms);
    let batch = config.concurrency.max(1);
    let mut trimmed_at: Option<Instant> = None;
    let claim = || {
        let trim = trimmed_at.is_none_or(|at| at.elapsed() >= TRIM_EVERY);
        if trim {
            trimmed_at = Some(Instant::now());
        }
        let store = store.clone();
        async move {
            if trim {
                match store.trim_events(EVENT_HORIZON).await {
                    Ok(trimmed) => tracing::debug!(trimmed, "webhooks: old events trimmed"),
                    Err(error) => tracing::warn!(%error, "webhooks: old events not trimmed"),
                }
            }
            if let Err(error) = store.hand_out_events(HAND_OUT_BATCH).await {
                tracing::warn!(%error, "webhooks: new events could not be handed out");
            }
            store
                .claim_event_deliveries(batch, lease)
                .await
                .unwrap_or_else(|error| {
                    tracing::warn!(%error, "webhooks: deliveries could not be read");
                    Vec::new()
                })
        }
    };
    let work = |(delivery, webhook)| deliver(store.clone(), reach.clone(), delivery, webhook);
    super::work_in_rounds(&mut shutdown, poll, claim, work).await;
    Ok(())
}

/// POSTs one delivery and records what its receiver answered.
async fn deliver(store: Store, reach: Reach, delivery: EventDelivery, webhook: Webhook) {
    let body = delivery_payload(&delivery).to_string();
    let posted = exchange(&webhook.url, "application/json", body.as_bytes(), &reach);
    let answer = match tokio::time::timeout(reach.timeout, posted).await {
        Ok(Ok(status)) if status.is_success() => PostAnswer::Accepted,
        Ok(Ok(status)) if status.as_u16() == 410 => PostAnswer::Gone,
        Ok(Ok(status)) => {
            tracing::info!(webhook = %webhook.id, %status, "webhook refused an event");
            PostAnswer::Failed
        }
        Ok(Err(error)) => {
            tracing::info!(webhook = %webhook.id, %error, "webhook not reached");
            PostAnswer::Failed
        }
        Err(_) => {
            tracing::info!(webhook = %webhook.id, "webhook gave no answer in time");
            PostAnswer::Failed
        }
    };
    let event = &delivery.event;
    match store.finish_event_delivery(&delivery, answer).await {
        Ok(DeliveryEnd::GaveUp) => {
            tracing::warn!(webhook = %webhook.id, event = %event.id, kind = %event.kind,
                "webhook delivery given up");
        }
        Ok(DeliveryEnd::WebhookRemoved) => {
            tracing::info!(webhook = %webhook.id, "webhook answered 410 and is removed");
        }
        Ok(end) => {
            tracing::debug!(webhook = %webhook.id, event = %event.id, ?end, "webhook delivery")
        }
        // The lease runs out and the delivery is posted again.
        Err(error) => {
            tracing::warn!(webhook = %webhook.id, %error, "webhook delivery not recorded")
        }
    }
}
