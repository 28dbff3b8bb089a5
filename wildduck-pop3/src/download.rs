//! The daily download allowance per user (WildDuck's `maxDownloadMB`): bytes sent by RETR
//! per UTC day. Counted in this process only; the store has no shared counters yet.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use wildduck_store::UserId;

const SECONDS_PER_DAY: u64 = 86_400;

#[derive(Default)]
pub(crate) struct DownloadMeter {
    /// User → (UTC day number, bytes sent that day).
    sent: Mutex<HashMap<UserId, (u64, u64)>>,
}

impl DownloadMeter {
    /// Counts `bytes` for `user` today unless that would pass `limit`; false = refused.
    pub(crate) fn charge(&self, user: UserId, bytes: u64, limit: u64) -> bool {
        let today = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |now| now.as_secs() / SECONDS_PER_DAY);
        let Ok(mut sent) = self.sent.lock() else {
            return true;
        };
        // Yesterday's counts are of no use: forget them all at once.
        sent.retain(|_, (day, _)| *day == today);
        let used = sent.entry(user).or_insert((today, 0));
        if used.1.saturating_add(bytes) > limit {
            return false;
        }
        used.1 += bytes;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_limit_per_user() {
        let meter = DownloadMeter::default();
        let (alice, bob) = (UserId::new(), UserId::new());
        assert!(meter.charge(alice, 60, 100));
        assert!(!meter.charge(alice, 50, 100));
        assert!(meter.charge(alice, 40, 100));
        assert!(meter.charge(bob, 100, 100));
    }
}
