//! Cross-process wake-ups over Redis pub/sub (feature `redis`).
//!
//! **One shared channel**, [`CHANNEL`], carries every wake-up as the text
//! `"<origin> <user> <mailbox> <modseq>"`. Each process subscribes once and hands wake-ups
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
//!   back, so sessions on other processes catch up with what changed during the outage.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot};

use super::{LocalNotifier, Notifier, Subscription};
use crate::backend::Backend;
use crate::error::{Defect, Error, Result, StorageError, StorageErrorKind};
use crate::model::{MailboxId, ModSeq, UserId};

/// The pub/sub channel every process publishes to and listens on.
pub const CHANNEL: &str = "wildduck:wake";
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

type WakeUp = (UserId, MailboxId, ModSeq);

/// A [`Notifier`] shared by every process that talks to the same Redis.
pub struct RedisNotifier {
    local: Arc<LocalNotifier>,
    outbox: mpsc::UnboundedSender<WakeUp>,
    listener: tokio::task::JoinHandle<()>,
}

/// A Redis failure by what a caller can do about it (also used by `limits::redis`).
pub(crate) fn redis_error(e: redis::RedisError) -> Error {
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

fn encode(origin: u64, (user, mailbox, modseq): WakeUp) -> String {
    format!("{origin:016x} {user} {mailbox} {modseq}")
}

fn decode(payload: &str) -> Option<(u64, WakeUp)> {
    let mut fields = payload.split(' ');
    let origin = u64::from_str_radix(fields.next()?, 16).ok()?;
    let user = fields.next()?.parse().ok()?;
    let mailbox = fields.next()?.parse().ok()?;
    let modseq = fields.next()?.parse().ok()?;
    fields
        .next()
        .is_none()
        .then_some((origin, (user, mailbox, modseq)))
}

impl RedisNotifier {
    /// Connects to Redis at `url` (e.g. `redis://127.0.0.1:6379/`) and starts listening.
    /// Returns once the subscription is active, so no later wake-up is missed. After a lost
    /// subscription, the mailboxes to wake are read from `backend`.
    pub(crate) async fn connect(url: &str, backend: Arc<dyn Backend>) -> Result<Self> {
        let client = redis::Client::open(url).map_err(redis_error)?;
        let publisher = ConnectionManager::new(client.clone())
            .await
            .map_err(redis_error)?;
        let local = Arc::new(LocalNotifier::default());
        let origin = rand::random::<u64>();
        let (ready_tx, ready_rx) = oneshot::channel();
        let listener = tokio::spawn(listen(client, local.clone(), backend, origin, ready_tx));
        ready_rx
            .await
            .map_err(|_| Defect::Bug("redis listener ended before subscribing"))?;
        let (outbox, queue) = mpsc::unbounded_channel();
        tokio::spawn(publish(publisher, queue, origin));
        Ok(RedisNotifier {
            local,
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

impl Notifier for RedisNotifier {
    fn publish(&self, user: UserId, mailbox: MailboxId, modseq: ModSeq) {
        self.local.publish(user, mailbox, modseq);
        // Fails only when the publisher task is gone (runtime shutting down).
        let _ = self.outbox.send((user, mailbox, modseq));
    }

    fn subscribe(&self, user: UserId) -> Subscription {
        self.local.subscribe(user)
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
                        Some((_, (user, mailbox, modseq))) => local.publish(user, mailbox, modseq),
                        None => tracing::warn!(len = payload.len(), "ignoring a malformed wake-up"),
                    }
                }
                tracing::warn!("redis subscription lost; reconnecting");
            }
            Err(e) => tracing::warn!(error = %e, "redis subscribe failed; retrying"),
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

/// Sends queued wake-ups; while Redis is away keeps the newest MODSEQ per mailbox and
/// retries, so other processes catch up when it returns.
async fn publish(
    mut connection: ConnectionManager,
    mut queue: mpsc::UnboundedReceiver<WakeUp>,
    origin: u64,
) {
    let mut backlog: HashMap<(UserId, MailboxId), ModSeq> = HashMap::new();
    let mut backoff = FIRST_BACKOFF;
    loop {
        if backlog.is_empty() {
            match queue.recv().await {
                Some((user, mailbox, modseq)) => {
                    backlog.insert((user, mailbox), modseq);
                }
                None => return,
            }
        }
        while let Ok((user, mailbox, modseq)) = queue.try_recv() {
            let newest = backlog.entry((user, mailbox)).or_insert(modseq);
            *newest = (*newest).max(modseq);
        }
        let pending: Vec<_> = backlog.iter().map(|(&k, &v)| (k, v)).collect();
        let mut failed = false;
        for ((user, mailbox), modseq) in pending {
            let sent: redis::RedisResult<i64> = connection
                .publish(CHANNEL, encode(origin, (user, mailbox, modseq)))
                .await;
            match sent {
                Ok(_) => {
                    if backlog.get(&(user, mailbox)) == Some(&modseq) {
                        backlog.remove(&(user, mailbox));
                    }
                }
                Err(e) => {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_ups_round_trip_through_text() {
        let wake = (UserId::new(), MailboxId::new(), 42);
        assert_eq!(decode(&encode(7, wake)), Some((7, wake)));
        assert_eq!(decode("zz 1 2 3"), None);
        assert_eq!(decode(&format!("{} extra", encode(7, wake))), None);
    }
}
