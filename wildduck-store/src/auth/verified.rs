//! A short memory of passwords that matched, so a client that reconnects (imaptest, a phone
//! polling POP3, a webmail opening a session per request) does not pay the password hash
//! (argon2id: tens of milliseconds of CPU) at every login — Dovecot's auth cache does the same.
//!
//! An entry is a keyed SHA-256 of the *stored hash* and the password, never the password
//! itself; the key is random per process, so a memory dump gives no offline oracle. Because
//! the stored hash is part of the entry, a password change (or a rehash, or a deleted ASP)
//! makes the old entry unreachable at once: nothing has to be dropped by hand. Only matches
//! are remembered; a wrong password always pays the full hash, and the lockout counts it as
//! before. Everything else about the login (disabled, suspended, scopes, ASP expiry) is still
//! decided on the fresh account record.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::accounts::{self, PasswordCheck};

/// How long a match is trusted without hashing again.
const TTL: Duration = Duration::from_secs(60);
/// At most this many entries; past it, expired ones are swept, then the oldest dropped.
const CAPACITY: usize = 16_384;

type Fingerprint = [u8; 32];

pub(crate) struct VerifiedLogins {
    key: [u8; 32],
    matched: Mutex<HashMap<Fingerprint, Instant>>,
}

impl VerifiedLogins {
    pub(crate) fn new() -> Self {
        Self {
            key: rand::random(),
            matched: Mutex::new(HashMap::new()),
        }
    }

    /// [`accounts::verify_password`], answered from memory when this password matched this
    /// stored hash less than a minute ago (CPU-heavy on a miss: call off the async runtime).
    pub(crate) fn verify(&self, password: &str, stored: &str) -> PasswordCheck {
        let fingerprint = self.fingerprint(password, stored);
        if self.recently_matched(&fingerprint) {
            return PasswordCheck::Match;
        }
        let check = accounts::verify_password(password, stored);
        // A hash due for an upgrade is replaced on this login, so it is not worth keeping.
        if check == PasswordCheck::Match {
            self.remember(fingerprint);
        }
        check
    }

    fn fingerprint(&self, password: &str, stored: &str) -> Fingerprint {
        let mut hasher = Sha256::new();
        hasher.update(self.key);
        // Length-prefixed so no two (stored, password) pairs share an input.
        hasher.update((stored.len() as u64).to_be_bytes());
        hasher.update(stored.as_bytes());
        hasher.update(password.as_bytes());
        hasher.finalize().into()
    }

    fn recently_matched(&self, fingerprint: &Fingerprint) -> bool {
        let matched = self.matched.lock().unwrap_or_else(|e| e.into_inner());
        matched
            .get(fingerprint)
            .is_some_and(|at| at.elapsed() < TTL)
    }

    fn remember(&self, fingerprint: Fingerprint) {
        let mut matched = self.matched.lock().unwrap_or_else(|e| e.into_inner());
        if matched.len() >= CAPACITY {
            matched.retain(|_, at| at.elapsed() < TTL);
        }
        if matched.len() >= CAPACITY
            && let Some(oldest) = matched.iter().min_by_key(|(_, at)| **at).map(|(f, _)| *f)
        {
            matched.remove(&oldest);
        }
        matched.insert(fingerprint, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argon2_hash(password: &str) -> String {
        accounts::hash_password(password).unwrap()
    }

    #[test]
    fn a_match_is_remembered_and_only_for_that_stored_hash() {
        let logins = VerifiedLogins::new();
        let stored = argon2_hash("secret-one");
        assert_eq!(logins.verify("secret-one", &stored), PasswordCheck::Match);
        assert!(logins.recently_matched(&logins.fingerprint("secret-one", &stored)));
        // Another password, or the same password against a new hash (a password change
        // re-salts), is hashed again.
        assert_eq!(
            logins.verify("secret-two", &stored),
            PasswordCheck::Mismatch
        );
        let changed = argon2_hash("secret-one");
        assert!(!logins.recently_matched(&logins.fingerprint("secret-one", &changed)));
        assert_eq!(logins.verify("secret-one", &changed), PasswordCheck::Match);
    }

    #[test]
    fn mismatches_are_not_remembered() {
        let logins = VerifiedLogins::new();
        let stored = argon2_hash("secret-one");
        assert_eq!(logins.verify("wrong", &stored), PasswordCheck::Mismatch);
        assert!(!logins.recently_matched(&logins.fingerprint("wrong", &stored)));
        assert!(logins.matched.lock().unwrap().is_empty());
    }

    #[test]
    fn the_memory_stays_bounded() {
        let logins = VerifiedLogins::new();
        for n in 0..CAPACITY + 10 {
            logins.remember(logins.fingerprint(&n.to_string(), "stored"));
        }
        assert_eq!(logins.matched.lock().unwrap().len(), CAPACITY);
    }
}
