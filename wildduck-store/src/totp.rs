//! TOTP (RFC 6238) as WildDuck's two-factor authentication uses it: HMAC-SHA1, 30-second
//! steps, 6 digits, a 20-byte seed shown in base32 and as an `otpauth://` URL.
//!
//! A code is accepted in the current step or one step either side (clocks drift), and only
//! in a step after the last one accepted for that user, so a code seen once can not be
//! replayed, not even within its window. Seeds are kept sealed (AES-256-GCM under a key
//! derived from the operator's secret), so a copy of the database alone yields no seed.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hmac;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Seconds per step.
pub const STEP_SECS: i64 = 30;
/// Steps accepted either side of the current one.
pub const WINDOW: i64 = 1;
const DIGITS: u32 = 6;
const SEED_BYTES: usize = 20;

/// A fresh random seed.
pub fn generate_seed() -> Vec<u8> {
    (0..SEED_BYTES).map(|_| rand::random::<u8>()).collect()
}

/// The seed as an authenticator app reads it: base32 without padding.
pub fn seed_text(seed: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(seed)
}

/// The `otpauth://` URL authenticator apps take (usually as a QR code).
pub fn otpauth_url(seed: &[u8], issuer: &str, account: &str) -> String {
    let escape = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}",
        escape(issuer),
        escape(account),
        seed_text(seed),
        escape(issuer)
    )
}

/// The step a Unix time falls in.
pub fn step_at(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The code of `step` (RFC 4226 dynamic truncation), as six digits.
pub fn code(seed: &[u8], step: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, seed);
    let digest = hmac::sign(&key, &(step as u64).to_be_bytes());
    let digest = digest.as_ref();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let word = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!(
        "{:0width$}",
        word % 10u32.pow(DIGITS),
        width = DIGITS as usize
    )
}

/// The step `given` is the code of, within the window around `now_step` and after
/// `last_accepted` (a step already used); `None` for a wrong, stale or replayed code.
/// Spaces in `given` are ignored, as apps show codes in groups.
pub fn accepted_step(
    seed: &[u8],
    given: &str,
    now_step: i64,
    last_accepted: Option<i64>,
) -> Option<i64> {
    let given: String = given.chars().filter(|c| !c.is_whitespace()).collect();
    if given.len() != DIGITS as usize || !given.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut found = None;
    // Every candidate is computed and compared in constant time, so the time taken tells
    // nothing about which step (if any) matched.
    for step in now_step - WINDOW..=now_step + WINDOW {
        let matches: bool = code(seed, step).as_bytes().ct_eq(given.as_bytes()).into();
        if matches && found.is_none() {
            found = Some(step);
        }
    }
    found.filter(|step| last_accepted.is_none_or(|last| *step > last))
}

/// Why a sealed seed could not be opened.
#[derive(Debug, PartialEq, Eq)]
pub struct SealBroken;

/// Seals and opens seeds with a key derived from the operator's secret.
pub struct SeedCipher {
    key: LessSafeKey,
}

impl SeedCipher {
    pub fn new(secret: &str) -> SeedCipher {
        let derived = Sha256::digest(format!("wildduck totp seed\0{secret}").as_bytes());
        let key = UnboundKey::new(&AES_256_GCM, &derived).expect("a 32-byte key");
        SeedCipher {
            key: LessSafeKey::new(key),
        }
    }

    /// A random nonce, then the ciphertext and tag.
    pub fn seal(&self, seed: &[u8]) -> Vec<u8> {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let mut sealed = seed.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::empty(),
                &mut sealed,
            )
            .expect("AES-GCM seals any short input");
        let mut out = nonce_bytes.to_vec();
        out.extend(sealed);
        out
    }

    /// The seed, or `SealBroken` for another key or altered bytes.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SealBroken> {
        if sealed.len() < NONCE_LEN {
            return Err(SealBroken);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealBroken)?;
        let mut body = body.to_vec();
        let seed = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut body)
            .map_err(|_| SealBroken)?;
        Ok(seed.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows, cut to six digits (the last six of the eight).
    #[test]
    fn codes_match_rfc_6238() {
        let seed = b"12345678901234567890";
        for (time, eight_digits) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code(seed, step_at(time)), eight_digits[2..], "at {time}");
        }
    }

    #[test]
    fn window_is_one_step_either_side_and_a_code_counts_once() {
        let seed = generate_seed();
        let now = 1_000_000;
        for offset in -1..=1 {
            let given = code(&seed, now + offset);
            assert_eq!(accepted_step(&seed, &given, now, None), Some(now + offset));
        }
        for offset in [-2, 2] {
            let given = code(&seed, now + offset);
            // A different step may share the code by chance (1 in a million); skip that.
            if (-1..=1).all(|o| code(&seed, now + o) != given) {
                assert_eq!(accepted_step(&seed, &given, now, None), None);
            }
        }
        let current = code(&seed, now);
        assert_eq!(accepted_step(&seed, &current, now, Some(now)), None);
        assert_eq!(
            accepted_step(&seed, &current, now, Some(now - 1)),
            Some(now)
        );
        let spaced = format!("{} {}", &current[..3], &current[3..]);
        assert_eq!(accepted_step(&seed, &spaced, now, None), Some(now));
        for malformed in ["", "12345", "1234567", "12a456"] {
            assert_eq!(accepted_step(&seed, malformed, now, None), None);
        }
    }

    #[test]
    fn seeds_open_only_with_the_same_secret() {
        let seed = generate_seed();
        let cipher = SeedCipher::new("operator secret");
        let sealed = cipher.seal(&seed);
        assert!(!sealed.windows(seed.len()).any(|w| w == seed.as_slice()));
        assert_eq!(cipher.open(&sealed), Ok(seed.clone()));
        assert_eq!(SeedCipher::new("other").open(&sealed), Err(SealBroken));
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(cipher.open(&altered), Err(SealBroken));
        assert_eq!(cipher.open(&sealed[..4]), Err(SealBroken));
    }

    #[test]
    fn seed_text_and_url_are_what_apps_read() {
        assert_eq!(
            seed_text(b"12345678901234567890"),
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        );
        assert_eq!(
            otpauth_url(b"12345678901234567890", "Wild Duck", "alice@example.com"),
            "otpauth://totp/Wild%20Duck:alice@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Wild%20Duck"
        );
    }
}
