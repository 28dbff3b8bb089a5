//! Change notification: "mailbox M of user U changed up to MODSEQ n" wake-ups.
//!
//! A wake-up carries no data a reader relies on: receivers re-read `changes_since`, which is
//! always correct. So a lost or coalesced wake-up delays an update but never corrupts one.
//! The store publishes only after the change has committed. [`LocalNotifier`] serves one
//! process; a Redis pub/sub implementation of [`Notifier`] serves several.

#[cfg(feature = "redis")]
pub mod redis;

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::broadcast;

use crate::model::{MailboxId, ModSeq, UserId};

/// Wake-ups for one user: every committed change to one of their mailboxes sends
/// `(mailbox, highest_modseq after the change)`. Lagging receivers skip to the newest;
/// they must then re-read `changes_since`, which is always correct.
pub type Subscription = broadcast::Receiver<(MailboxId, ModSeq)>;

/// How many wake-ups a slow subscriber may lag before it skips to the newest.
const CHANNEL_CAPACITY: usize = 256;

/// Publishes and delivers wake-ups per user.
pub trait Notifier: Send + Sync {
    fn publish(&self, user: UserId, mailbox: MailboxId, modseq: ModSeq);
    fn subscribe(&self, user: UserId) -> Subscription;
}

/// In-process notifier: one tokio broadcast channel per user with subscribers.
#[derive(Default)]
pub struct LocalNotifier {
    channels: Mutex<HashMap<UserId, broadcast::Sender<(MailboxId, ModSeq)>>>,
}

impl LocalNotifier {
    /// Users with at least one live subscription.
    pub fn subscribed_users(&self) -> Vec<UserId> {
        let channels = self
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        channels
            .iter()
            .filter(|(_, sender)| sender.receiver_count() > 0)
            .map(|(&user, _)| user)
            .collect()
    }
}

impl Notifier for LocalNotifier {
    fn publish(&self, user: UserId, mailbox: MailboxId, modseq: ModSeq) {
        let mut channels = self
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(sender) = channels.get(&user) {
            // An error means nobody listens any more: forget the channel.
            if sender.send((mailbox, modseq)).is_err() {
                channels.remove(&user);
            }
        }
    }

    fn subscribe(&self, user: UserId) -> Subscription {
        let mut channels = self
            .channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        channels
            .entry(user)
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_only_subscribers_of_that_user() {
        let notifier = LocalNotifier::default();
        let (alice, bob) = (UserId::new(), UserId::new());
        let mailbox = MailboxId::new();
        let mut alice_rx = notifier.subscribe(alice);
        let mut bob_rx = notifier.subscribe(bob);
        notifier.publish(alice, mailbox, 7);
        assert_eq!(alice_rx.recv().await.unwrap(), (mailbox, 7));
        assert!(bob_rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn channel_is_dropped_when_nobody_listens() {
        let notifier = LocalNotifier::default();
        let user = UserId::new();
        drop(notifier.subscribe(user));
        notifier.publish(user, MailboxId::new(), 1);
        assert!(notifier.channels.lock().unwrap().is_empty());
        let mut rx = notifier.subscribe(user);
        notifier.publish(user, MailboxId::new(), 2);
        assert_eq!(rx.recv().await.unwrap().1, 2);
    }
}
