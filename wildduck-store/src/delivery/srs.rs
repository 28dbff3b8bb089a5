//! SRS, the Sender Rewriting Scheme, in the form libsrs2 (Postfix's postsrsd, Exim, ZoneMTA's
//! plugin that WildDuck relies on) writes: a forward leaves with the envelope sender
//! `SRS0=HHHH=TT=domain=local@<our domain>`, so the receiver's SPF check of the sender's
//! domain meets our domain, which our servers may send for; a bounce to that address comes
//! back here and is returned to `local@domain`.
//!
//! - `TT`: the day it was made (days since the Unix epoch, modulo 1024) in two base32
//!   characters; an address older than [`MAX_AGE_DAYS`] is refused, so a harvested one stops
//!   working.
//! - `HHHH`: the first four base64 characters of HMAC-SHA1 with the secret over the
//!   lower-cased `TT`, domain and local part: nobody without the secret can make one, so the
//!   return path is not an open relay. Compared without case (MTAs may lower-case addresses).
//! - A sender that is already an SRS address of someone else's is wrapped again (SRS0 of
//!   SRS0): longer than libsrs2's SRS1 shortcut, but it returns the same way.

use ring::hmac;

/// What rewriting needs: the secret that signs and the domain the rewritten senders use (a
/// domain whose MX delivers to this server over LMTP and whose SPF allows the relay).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Srs {
    pub secret: String,
    pub domain: String,
}

/// Days an SRS address keeps working (libsrs2's default).
pub const MAX_AGE_DAYS: u64 = 21;
const HASH_CHARS: usize = 4;
const TIMESTAMP_RANGE: u64 = 1024;
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

impl Srs {
    /// The envelope sender a forward of mail from `sender` leaves with on day `today` (days
    /// since the epoch). An empty sender (a bounce) stays empty, and so does one without a
    /// domain or already in our domain: there is nothing to return to, or it is ours.
    pub fn forward(&self, sender: &str, today: u64) -> String {
        let Some((local, domain)) = sender.rsplit_once('@') else {
            return sender.to_string();
        };
        if local.is_empty() || domain.is_empty() || domain.eq_ignore_ascii_case(&self.domain) {
            return sender.to_string();
        }
        let timestamp = encode_day(today);
        let hash = self.hash(&timestamp, domain, local);
        format!("SRS0={hash}={timestamp}={domain}={local}@{}", self.domain)
    }

    /// The original sender behind `address` when it is an SRS0 address of our domain, signed
    /// with our secret within [`MAX_AGE_DAYS`] of `today`; `None` for anything else.
    pub fn reverse(&self, address: &str, today: u64) -> Option<String> {
        let (local, domain) = address.rsplit_once('@')?;
        if !domain.eq_ignore_ascii_case(&self.domain) {
            return None;
        }
        let prefix = local.get(..5)?;
        if !prefix.eq_ignore_ascii_case("SRS0=") {
            return None;
        }
        let mut fields = local[5..].splitn(4, '=');
        let (hash, timestamp, original_domain, original_local) = (
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
        );
        if original_domain.is_empty() || original_local.is_empty() {
            return None;
        }
        let expected = self.hash(timestamp, original_domain, original_local);
        if !hash.eq_ignore_ascii_case(&expected) {
            return None;
        }
        let made = decode_day(timestamp)?;
        let age = (today % TIMESTAMP_RANGE + TIMESTAMP_RANGE - made) % TIMESTAMP_RANGE;
        (age <= MAX_AGE_DAYS).then(|| format!("{original_local}@{original_domain}"))
    }

    fn hash(&self, timestamp: &str, domain: &str, local: &str) -> String {
        use base64::Engine;
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, self.secret.as_bytes());
        let mut context = hmac::Context::with_key(&key);
        for part in [timestamp, domain, local] {
            context.update(part.to_ascii_lowercase().as_bytes());
        }
        let digest = context.sign();
        let mut encoded = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
        encoded.truncate(HASH_CHARS);
        encoded
    }
}

/// Days since the Unix epoch now.
pub fn today() -> u64 {
    crate::backend::now().max(0) as u64 / 86_400
}

fn encode_day(day: u64) -> String {
    let day = day % TIMESTAMP_RANGE;
    [BASE32[(day >> 5) as usize], BASE32[(day & 31) as usize]]
        .iter()
        .map(|&c| c as char)
        .collect()
}

fn decode_day(timestamp: &str) -> Option<u64> {
    let digit = |c: u8| {
        BASE32
            .iter()
            .position(|&b| b == c.to_ascii_uppercase())
            .map(|i| i as u64)
    };
    match timestamp.as_bytes() {
        &[high, low] => Some(digit(high)? << 5 | digit(low)?),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn srs() -> Srs {
        Srs {
            secret: "a secret".into(),
            domain: "fwd.example".into(),
        }
    }

    #[test]
    fn a_forwarded_sender_comes_back_within_its_age() {
        let day = 20_000;
        let rewritten = srs().forward("Alice.Smith@Sender.example", day);
        assert!(rewritten.starts_with("SRS0="), "{rewritten}");
        assert!(
            rewritten.ends_with("=Sender.example=Alice.Smith@fwd.example"),
            "{rewritten}"
        );
        for later in [day, day + 1, day + MAX_AGE_DAYS] {
            assert_eq!(
                srs().reverse(&rewritten, later).as_deref(),
                Some("Alice.Smith@Sender.example")
            );
        }
        // MTAs may lower-case the whole address.
        assert_eq!(
            srs().reverse(&rewritten.to_lowercase(), day).as_deref(),
            Some("alice.smith@sender.example")
        );
        assert_eq!(srs().reverse(&rewritten, day + MAX_AGE_DAYS + 1), None);
    }

    #[test]
    fn the_day_wraps_around_its_range() {
        let made = 3 * TIMESTAMP_RANGE - 2;
        let rewritten = srs().forward("a@b.example", made);
        assert!(srs().reverse(&rewritten, made + 5).is_some());
    }

    #[test]
    fn forged_or_foreign_addresses_do_not_reverse() {
        let rewritten = srs().forward("a@b.example", 100);
        let other_secret = Srs {
            secret: "another".into(),
            ..srs()
        };
        assert_eq!(other_secret.reverse(&rewritten, 100), None);
        let tampered = rewritten.replace("=b.example=", "=c.example=");
        assert_eq!(srs().reverse(&tampered, 100), None);
        let other_domain = rewritten.replace("@fwd.example", "@elsewhere.example");
        assert_eq!(srs().reverse(&other_domain, 100), None);
        for junk in [
            "SRS0=@fwd.example",
            "SRS0=abcd=AA=x@fwd.example",
            "plain@fwd.example",
            "@",
        ] {
            assert_eq!(srs().reverse(junk, 100), None, "{junk}");
        }
    }

    #[test]
    fn bounces_and_our_own_senders_are_kept() {
        assert_eq!(srs().forward("", 1), "");
        assert_eq!(srs().forward("postmaster", 1), "postmaster");
        assert_eq!(srs().forward("me@FWD.example", 1), "me@FWD.example");
    }

    #[test]
    fn an_srs_sender_is_wrapped_again_and_unwraps_in_turn() {
        let first = Srs {
            secret: "theirs".into(),
            domain: "relay.example".into(),
        }
        .forward("a@b.example", 7);
        let ours = srs().forward(&first, 7);
        assert_eq!(srs().reverse(&ours, 7).as_deref(), Some(first.as_str()));
    }
}
