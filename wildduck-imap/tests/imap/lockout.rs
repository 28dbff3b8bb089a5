//! Failed-login lockout: a password-guessing client gets locked out (per user and per IP)
//! and slowed down; the right user logs in once the lock lapses; no password reaches the log.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wildduck_imap::Config;
use wildduck_store::{LimitsConfig, MemoryCounters};

use crate::harness::*;

const LOCK: Duration = Duration::from_millis(1000);
const MAX_LOCK: Duration = Duration::from_millis(1500);

/// Log output collected in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut log) = self.0.lock() {
            log.extend_from_slice(bytes);
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_thousand_wrong_passwords_lock_the_account_until_the_lock_lapses() {
    let log = Captured::default();
    let writer = log.clone();
    // Global (a thread-scoped one misses events whose callsites other tests hit first):
    // the log then holds every test's logins, and none may show a password.
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    )
    .expect("only this test installs a subscriber");
    let base = TestServer::start().await;
    let store = base.store.with_limits(
        Box::new(MemoryCounters::default()),
        LimitsConfig {
            max_user_failures: 5,
            max_ip_failures: 50,
            failure_window: Duration::from_secs(60),
            lock: LOCK,
            max_lock: MAX_LOCK,
            failure_delay: Duration::from_millis(1),
            max_failure_delay: Duration::from_millis(2),
            ..LimitsConfig::default()
        },
    );
    let (addr, shutdown, task) = spawn_server(store, Config::default(), None).await;

    let mut guesser = Client::connect(addr).await;
    let (mut failed, mut locked) = (0, 0);
    for attempt in 0..1000 {
        let reply = guesser
            .exchange(&format!("g{attempt} LOGIN {USER} guess-{attempt}\r\n"))
            .await;
        if reply == format!("g{attempt} NO [AUTHENTICATIONFAILED] Authentication failed\r\n") {
            failed += 1;
        } else {
            assert!(
                reply.starts_with(&format!("g{attempt} NO [LIMIT] Too many failed logins")),
                "{reply}"
            );
            locked += 1;
        }
    }
    // While locked, guesses are refused without the password being checked.
    assert!(
        locked >= 900,
        "only {locked} of 1000 guesses were locked out"
    );
    assert!(failed >= 5, "the first five guesses are checked: {failed}");

    // Make the lock fresh: guess until a checked failure is followed by a lock refusal.
    let mut previous_failed = false;
    for attempt in 0..3000 {
        let reply = guesser
            .exchange(&format!("h{attempt} LOGIN {USER} guess\r\n"))
            .await;
        let is_locked = reply.contains("NO [LIMIT]");
        if is_locked && previous_failed {
            break;
        }
        assert!(attempt < 2999, "no fresh lock after 3000 more guesses");
        previous_failed = !is_locked;
    }

    // The right password on another connection is refused while the lock lasts...
    let mut owner = Client::connect(addr).await;
    let refused = owner
        .exchange(&format!("o1 LOGIN {USER} \"{PASSWORD}\"\r\n"))
        .await;
    assert!(refused.starts_with("o1 NO [LIMIT]"), "{refused}");
    // ...and accepted once it has lapsed.
    tokio::time::sleep(MAX_LOCK + Duration::from_millis(100)).await;
    let accepted = owner
        .exchange(&format!("o2 LOGIN {USER} \"{PASSWORD}\"\r\n"))
        .await;
    assert!(accepted.contains("o2 OK"), "{accepted}");

    let log =
        String::from_utf8_lossy(&log.0.lock().map(|l| l.clone()).unwrap_or_default()).into_owned();
    let attempts = log.matches("IMAP login attempt").count();
    assert!(attempts >= 1002, "every attempt is logged: {attempts}");
    assert!(
        log.contains("outcome=\"locked\""),
        "lock refusals are logged"
    );
    assert!(
        log.contains("outcome=\"success\""),
        "the final login is logged: {}",
        &log[log.len().saturating_sub(3000)..]
    );
    assert!(!log.contains("guess"), "a password reached the log");
    assert!(!log.contains(PASSWORD), "a password reached the log");

    let _ = shutdown.send(true);
    let _ = task.await;
    base.stop().await;
}
