//! Cross-process wake-ups over Redis pub/sub (feature `redis`).
//!
//! **One shared channel**, [`CHANNEL`], carries every wake-up as the text
//! `"<origin> <user> <mailbox> <modseq>"` and every logout as
//! `"<origin> logout <user> <reason…>"`. Each process subscribes once and hands wake-ups
//! for its own subscribers to an in-process [`LocalNotifier`]; a per-user channel would need
//! a SUBSCRIBE per logged-in user and a resubscribe of all of them after every reconnect,
//! for traffic that is a few dozen bytes per change. Past a few hundred processes, shard the
//! channel by user id (`wildduck:wake:<n>`), keeping this format.
//!
//! Wake-ups of this process are delivered locally at once and their Redis echo is ignored
//! (`origin` is a random id per notifier), so local sessions do not depend on Redis at all.
//!
//! Redis going away loses nothing a reader relies on (wake-ups carry no data; readers re-read
//! the journal). Both directions recover by themselves:
//! - the listener reconnects with backoff and subscribes again, then wakes every local
//!   subscriber for every mailbox of theirs, so sessions resync from the journal whatever
//!   was published while this process was not listening (the publisher's re-send below may
//!   reach Redis before this process has subscribed again);
//! - the publisher keeps, per mailbox, the newest unsent MODSEQ and retries until Redis is
//!   back, so sessions on other processes catch up with what changed during the outage;
//!   logouts wait in the same way, in order.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot};

use super::{LocalNotifier, LogoutWatch, Notifier, Subscription};
use crate::backend::Backend;
use crate::error::{Defect, Error, Result, StorageError, StorageErrorKind};
use crate::model::{MailboxId, ModSeq, UserId};
use crate::telemetry;

/// The pub/sub channel every process publishes to and listens on.
pub const CHANNEL: &str = "wildduck:wake";
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

type WakeUp = (UserId, MailboxId, ModSeq);

/// What travels between processes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    WakeUp(WakeUp),
    Logout(UserId, Arc<str>),
}

/// A [`Notifier`] shared by every process that talks to the same Redis.
pub struct RedisNotifier {
    local: Arc<LocalNotifier>,
    origin: u64,
    /// Sends logouts at once (see [`Notifier::publish_logout`]).
    connection: ConnectionManager,
    outbox: mpsc::UnboundedSender<Event>,
    listener: tokio::task::JoinHandle<()>,
}

/// A Redis failure of `operation` (see [`telemetry::redis_error`]) by what a caller can do
/// about it, counted (also used by `limits::redis`).
pub(crate) fn redis_error(operation: &'static str) -> impl Fn(redis::RedisError) -> Error {
    move |e| {
        telemetry::redis_error(operation);
        classify(e)
    }
}

fn classify(e: redis::RedisError) -> Error {
    let kind = if e.is_timeout() {
        StorageErrorKind::Timeout
    } else if e.is_io_error()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_unrecoverable_error()
    {
        StorageErrorKind::Unavailable
    } else {
        StorageErrorKind::Internal
    };
    StorageError::new(kind, e).into()
}

fn encode(origin: u64, event: &Event) -> String {
    match event {
        Event::WakeUp((user, mailbox, modseq)) => {
            format!("{origin:016x} {user} {mailbox} {modseq}")
        }
        Event::Logout(user, reason) => format!("{origin:016x} logout {user} {reason}"),
    }
}

fn decode(payload: &str) -> Option<(u64, Event)> {
    let (origin, rest) = payload.split_once(' ')?;
    let origin = u64::from_str_radix(origin, 16).ok()?;
    if let Some(logout) = rest.strip_prefix("logout ") {
        let (user, reason) = logout.split_once(' ').unwrap_or((logout, ""));
        return Some((origin, Event::Logout(user.parse().ok()?, Arc::from(reason))));
    }
    let mut fields = rest.split(' ');
    let user = fields.next()?.parse().ok()?;
    let mailbox = fields.next()?.parse().ok()?;
    let modseq = fields.next()?.parse().ok()?;
    fields
        .next()
        .is_none()
        .then_some((origin, Event::WakeUp((user, mailbox, modseq))))
}

impl RedisNotifier {
    /// Connects to Redis at `url` (e.g. `redis://127.0.0.1:6379/`) and starts listening.
    /// Returns once the subscription is active, so no later wake-up is missed. After a lost
    /// subscription, the mailboxes to wake are read from `backend`.
    pub(crate) async fn connect(url: &str, backend: Arc<dyn Backend>) -> Result<Self> {
        let client = redis::Client::open(url).map_err(redis_error("connect"))?;
        let publisher = ConnectionManager::new(client.clone())
            .await
            .map_err(redis_error("connect"))?;
        let local = Arc::new(LocalNotifier::default());
        let origin = rand::random::<u64>();
        let (ready_tx, ready_rx) = oneshot::channel();
        let listener = tokio::spawn(listen(client, local.clone(), backend, origin, ready_tx));
        ready_rx
            .await
            .map_err(|_| Defect::Bug("redis listener ended before subscribing"))?;
        let (outbox, queue) = mpsc::unbounded_channel();
        tokio::spawn(publish(publisher.clone(), queue, origin));
        Ok(RedisNotifier {
            local,
            origin,
            connection: publisher,
            outbox,
            listener,
        })
    }
}

impl Drop for RedisNotifier {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

#[async_trait::async_trait]
impl Notifier for RedisNotifier {
    fn publish(&self, user: UserId, mailbox: MailboxId, modseq: ModSeq) {
        self.local.publish(user, mailbox, modseq);
        // Fails only when the publisher task is gone (runtime shutting down).
        let _ = self.outbox.send(Event::WakeUp((user, mailbox, modseq)));
    }

    fn subscribe(&self, user: UserId) -> Subscription {
        self.local.subscribe(user)
    }

    async fn publish_logout(&self, user: UserId, reason: &str) {
        self.local.deliver_logout(user, reason);
        let logout = Event::Logout(user, Arc::from(reason));
        let sent: redis::RedisResult<i64> = self
            .connection
            .clone()
            .publish(CHANNEL, encode(self.origin, &logout))
            .await;
        if let Err(e) = sent {
            telemetry::redis_error("publish");
            tracing::warn!(error = %e, "redis publish of a logout failed; queued for retry");
            let _ = self.outbox.send(logout);
        }
    }

    fn watch_logout(&self, user: UserId) -> LogoutWatch {
        self.local.watch_logout(user)
    }
}

/// Receives wake-ups of other processes for ever, reconnecting after Redis restarts.
async fn listen(
    client: redis::Client,
    local: Arc<LocalNotifier>,
    backend: Arc<dyn Backend>,
    origin: u64,
    ready: oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    let mut backoff = FIRST_BACKOFF;
    loop {
        match subscribed(&client).await {
            Ok(mut pubsub) => {
                match ready.take() {
                    Some(ready) => {
                        let _ = ready.send(());
                    }
                    None => wake_everyone(backend.as_ref(), &local).await,
                }
                backoff = FIRST_BACKOFF;
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    let payload = message.get_payload_bytes();
                    match std::str::from_utf8(payload).ok().and_then(decode) {
                        Some((from, _)) if from == origin => {}
                        Some((_, Event::WakeUp((user, mailbox, modseq)))) => {
                            local.publish(user, mailbox, modseq)
                        }
                        Some((_, Event::Logout(user, reason))) => {
                            local.deliver_logout(user, &reason)
                        }
                        None => tracing::warn!(len = payload.len(), "ignoring a malformed wake-up"),
                    }
                }
                // The message stream ends only when the connection is gone.
                telemetry::redis_error("subscribe");
                tracing::warn!("redis subscription lost; reconnecting");
            }
            Err(e) => {
                telemetry::redis_error("subscribe");
                tracing::warn!(error = %e, "redis subscribe failed; retrying");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// After a gap in listening: wakes each local subscriber for every mailbox of theirs.
async fn wake_everyone(backend: &dyn Backend, local: &LocalNotifier) {
    let users = local.subscribed_users();
    tracing::info!(
        users = users.len(),
        "redis subscription back; waking local sessions to resync"
    );
    for user in users {
        match backend.list_mailboxes(user).await {
            Ok(mailboxes) => {
                for mailbox in mailboxes {
                    local.publish(user, mailbox.id, mailbox.highest_modseq);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, %user, "no resync wake-up: listing mailboxes failed")
            }
        }
    }
}

async fn subscribed(client: &redis::Client) -> redis::RedisResult<redis::aio::PubSub> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(CHANNEL).await?;
    Ok(pubsub)
}

/// Sends queued wake-ups and logouts; while Redis is away keeps the newest MODSEQ per
/// mailbox and every logout, and retries, so other processes catch up when it returns.
async fn publish(
    mut connection: ConnectionManager,
    mut queue: mpsc::UnboundedReceiver<Event>,
    origin: u64,
) {
    let mut backlog = Backlog::default();
    let mut backoff = FIRST_BACKOFF;
    loop {
        if backlog.is_empty() {
            match queue.recv().await {
                Some(event) => backlog.add(event),
                None => return,
            }
        }
        while let Ok(event) = queue.try_recv() {
            backlog.add(event);
        }
        let mut failed = false;
        for event in backlog.pending() {
            let sent: redis::RedisResult<i64> =
                connection.publish(CHANNEL, encode(origin, &event)).await;
            match sent {
                Ok(_) => backlog.sent(&event),
                Err(e) => {
                    telemetry::redis_error("publish");
                    tracing::warn!(error = %e, backlog = backlog.len(), "redis publish failed; retrying");
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            if queue.is_closed() && queue.is_empty() {
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        } else {
            backoff = FIRST_BACKOFF;
        }
    }
}

/// Events not yet sent: logouts first, in order (they are rare and end sessions), then the
/// newest MODSEQ per mailbox.
#[derive(Default)]
struct Backlog {
    logouts: VecDeque<(UserId, Arc<str>)>,
    wake_ups: HashMap<(UserId, MailboxId), ModSeq>,
}

impl Backlog {
    fn add(&mut self, event: Event) {
        match event {
            Event::WakeUp((user, mailbox, modseq)) => {
                let newest = self.wake_ups.entry((user, mailbox)).or_insert(modseq);
                *newest = (*newest).max(modseq);
            }
            Event::Logout(user, reason) => self.logouts.push_back((user, reason)),
        }
    }

    fn pending(&self) -> Vec<Event> {
        let logouts = self
            .logouts
            .iter()
            .map(|(user, reason)| Event::Logout(*user, reason.clone()));
        let wake_ups = self
            .wake_ups
            .iter()
            .map(|(&(user, mailbox), &modseq)| Event::WakeUp((user, mailbox, modseq)));
        logouts.chain(wake_ups).collect()
    }

    /// Forgets `event` unless a newer one for the same mailbox came in meanwhile.
    fn sent(&mut self, event: &Event) {
        match event {
            Event::WakeUp((user, mailbox, modseq)) => {
                if self.wake_ups.get(&(*user, *mailbox)) == Some(modseq) {
                    self.wake_ups.remove(&(*user, *mailbox));
                }
            }
            Event::Logout(..) => {
                self.logouts.pop_front();
            }
        }
    }

    fn len(&self) -> usize {
        self.logouts.len() + self.wake_ups.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_ups_round_trip_through_text() {
        let wake = Event::WakeUp((UserId::new(), MailboxId::new(), 42));
        assert_eq!(decode(&encode(7, &wake)), Some((7, wake.clone())));
        assert_eq!(decode("zz 1 2 3"), None);
        assert_eq!(decode(&format!("{} extra", encode(7, &wake))), None);
    }

    #[test]
    fn logouts_round_trip_with_their_reason() {
        let user = UserId::new();
        let logout = Event::Logout(user, Arc::from("Logout requested from API"));
        assert_eq!(decode(&encode(9, &logout)), Some((9, logout)));
        let bare = Event::Logout(user, Arc::from(""));
        assert_eq!(decode(&encode(9, &bare)), Some((9, bare)));
        assert_eq!(decode("0000000000000009 logout not-an-id why"), None);
    }

    #[test]
    fn backlog_sends_logouts_in_order_and_keeps_newest_wake_up() {
        let (user, mailbox) = (UserId::new(), MailboxId::new());
        let mut backlog = Backlog::default();
        backlog.add(Event::WakeUp((user, mailbox, 3)));
        backlog.add(Event::Logout(user, Arc::from("first")));
        backlog.add(Event::WakeUp((user, mailbox, 5)));
        backlog.add(Event::Logout(user, Arc::from("second")));
        let pending = backlog.pending();
        assert_eq!(
            pending,
            vec![
                Event::Logout(user, Arc::from("first")),
                Event::Logout(user, Arc::from("second")),
                Event::WakeUp((user, mailbox, 5)),
            ]
        );
        backlog.sent(&pending[0]);
        backlog.add(Event::WakeUp((user, mailbox, 6)));
        backlog.sent(&pending[2]);
        assert_eq!(
            backlog.pending(),
            vec![
                Event::Logout(user, Arc::from("second")),
                Event::WakeUp((user, mailbox, 6)),
            ]
        );
    }
}
