//! Change notification: "mailbox M of user U changed up to MODSEQ n" wake-ups, and
//! "end every session of user U" logouts.
//!
//! A wake-up carries no data a reader relies on: receivers re-read `changes_since`, which is
//! always correct. So a lost or coalesced wake-up delays an update but never corrupts one.
//! The store publishes only after the change has committed. [`LocalNotifier`] serves one
//! process; a Redis pub/sub implementation of [`Notifier`] serves several.
//!
//! A logout (`Store::logout_sessions`: the API's `PUT /users/:user/logout`, a suspended or
//! disabled account) travels the same way and carries the reason the IMAP client is shown in
//! its `BYE`. Sessions watch for it from login on ([`LogoutWatch`]), in IDLE and between
//! commands alike. Logins refused afterwards come from the account state, not from this
//! message, so a logout lost with Redis only leaves a session open that was opened before.

#[cfg(feature = "redis")]
pub mod redis;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::model::{MailboxId, ModSeq, UserId};

/// Wake-ups for one user: every committed change to one of their mailboxes sends
/// `(mailbox, highest_modseq after the change)`. Lagging receivers skip to the newest;
/// they must then re-read `changes_since`, which is always correct.
pub type Subscription = broadcast::Receiver<(MailboxId, ModSeq)>;

/// Logouts for one user: each carries the reason to show the client. A session ends on any
/// message, and also when it lagged (it missed a logout).
pub type LogoutWatch = broadcast::Receiver<Arc<str>>;

/// How many wake-ups a slow subscriber may lag before it skips to the newest.
const CHANNEL_CAPACITY: usize = 256;
/// A session ends at the first logout, so few are ever queued.
const LOGOUT_CAPACITY: usize = 4;

/// Publishes and delivers wake-ups and logouts per user.
#[async_trait::async_trait]
pub trait Notifier: Send + Sync {
    fn publish(&self, user: UserId, mailbox: MailboxId, modseq: ModSeq);
    fn subscribe(&self, user: UserId) -> Subscription;
    /// Ends every session of `user`, on every process that hears this notifier. Returns once
    /// the logout has left this process when it can (a CLI run exits right after), else
    /// once it is queued for retry.
    async fn publish_logout(&self, user: UserId, reason: &str);
    fn watch_logout(&self, user: UserId) -> LogoutWatch;
}

/// One tokio broadcast channel per user that has receivers.
struct PerUser<T> {
    capacity: usize,
    channels: Mutex<HashMap<UserId, broadcast::Sender<T>>>,
}

impl<T: Clone> PerUser<T> {
    fn new(capacity: usize) -> Self {
        PerUser {
            capacity,
            channels: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, broadcast::Sender<T>>> {
        self.channels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn send(&self, user: UserId, message: T) {
        let mut channels = self.lock();
        if let Some(sender) = channels.get(&user) {
            // An error means nobody listens any more: forget the channel.
            if sender.send(message).is_err() {
                channels.remove(&user);
            }
        }
    }

    fn receiver(&self, user: UserId) -> broadcast::Receiver<T> {
        self.lock()
            .entry(user)
            .or_insert_with(|| broadcast::channel(self.capacity).0)
            .subscribe()
    }

    fn users(&self) -> Vec<UserId> {
        self.lock()
            .iter()
            .filter(|(_, sender)| sender.receiver_count() > 0)
            .map(|(&user, _)| user)
            .collect()
    }
}

/// In-process notifier.
pub struct LocalNotifier {
    wake_ups: PerUser<(MailboxId, ModSeq)>,
    logouts: PerUser<Arc<str>>,
}

impl Default for LocalNotifier {
    fn default() -> Self {
        LocalNotifier {
            wake_ups: PerUser::new(CHANNEL_CAPACITY),
            logouts: PerUser::new(LOGOUT_CAPACITY),
        }
    }
}

impl LocalNotifier {
    /// Users with at least one live subscription.
    pub fn subscribed_users(&self) -> Vec<UserId> {
        self.wake_ups.users()
    }

    /// Hands a logout to this process's sessions of `user`.
    pub fn deliver_logout(&self, user: UserId, reason: &str) {
        self.logouts.send(user, Arc::from(reason));
    }
}

#[async_trait::async_trait]
impl Notifier for LocalNotifier {
    fn publish(&self, user: UserId, mailbox: MailboxId, modseq: ModSeq) {
        self.wake_ups.send(user, (mailbox, modseq));
    }

    fn subscribe(&self, user: UserId) -> Subscription {
        self.wake_ups.receiver(user)
    }

    async fn publish_logout(&self, user: UserId, reason: &str) {
        self.deliver_logout(user, reason);
    }

    fn watch_logout(&self, user: UserId) -> LogoutWatch {
        self.logouts.receiver(user)
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
        assert!(notifier.wake_ups.lock().is_empty());
        let mut rx = notifier.subscribe(user);
        notifier.publish(user, MailboxId::new(), 2);
        assert_eq!(rx.recv().await.unwrap().1, 2);
    }

    #[tokio::test]
    async fn logouts_reach_only_that_users_watchers() {
        let notifier = LocalNotifier::default();
        let (alice, bob) = (UserId::new(), UserId::new());
        let mut alice_watch = notifier.watch_logout(alice);
        let mut bob_watch = notifier.watch_logout(bob);
        let mut alice_wake_ups = notifier.subscribe(alice);
        notifier.publish_logout(alice, "Account suspended").await;
        assert_eq!(&*alice_watch.recv().await.unwrap(), "Account suspended");
        assert!(bob_watch.try_recv().is_err());
        assert!(alice_wake_ups.try_recv().is_err());
    }
}
