//! Account rules: usernames and their lookup key, passwords (argon2id; WildDuck's PBKDF2 and
//! bcrypt hashes verified and upgraded), and e-mail address normalization.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use unicode_normalization::UnicodeNormalization;

use crate::error::{AddressError, UserError};

const MAX_USERNAME_CHARS: usize = 128;
const MAX_PASSWORD_BYTES: usize = 1024;
const MAX_LOCAL_PART_CHARS: usize = 64;
const MAX_ADDRESS_BYTES: usize = 320;

/// Checks a username and returns its unique lookup key (lower-case, dots removed).
pub fn unameview(username: &str) -> Result<String, UserError> {
    let invalid = |why: &str| UserError::InvalidUsername(why.to_string());
    let username: String = username.nfc().collect();
    if username.is_empty() {
        return Err(invalid("empty"));
    }
    if username.chars().count() > MAX_USERNAME_CHARS {
        return Err(invalid("too long"));
    }
    if let Some(c) = username
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+')))
    {
        return Err(invalid(&format!("character {c:?} not allowed")));
    }
    let view: String = username
        .to_lowercase()
        .chars()
        .filter(|&c| c != '.')
        .collect();
    if view.is_empty() {
        return Err(invalid("nothing but dots"));
    }
    Ok(view)
}

/// Checks a username and returns it as stored (NFC).
pub fn normalize_username(username: &str) -> Result<(String, String), UserError> {
    let view = unameview(username)?;
    Ok((username.nfc().collect(), view))
}

fn check_password(password: &str) -> Result<(), UserError> {
    if password.is_empty() {
        return Err(UserError::InvalidPassword("empty".into()));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(UserError::InvalidPassword("too long".into()));
    }
    Ok(())
}

/// Hashes a new password with argon2id (CPU-heavy: call off the async runtime).
pub fn hash_password(password: &str) -> Result<String, crate::Error> {
    check_password(password)?;
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| crate::StorageError::new(crate::StorageErrorKind::Internal, e).into())
}

/// What checking a password against a stored hash found.
#[derive(Debug, PartialEq, Eq)]
pub enum PasswordCheck {
    Mismatch,
    /// Matches, and the hash is current (argon2id).
    Match,
    /// Matches a legacy hash (PBKDF2, bcrypt): store an argon2id hash instead.
    MatchNeedsRehash,
}

/// Verifies a password against an argon2, PBKDF2 (PHC) or bcrypt hash (CPU-heavy).
/// Unknown or malformed hashes never match.
pub fn verify_password(password: &str, stored: &str) -> PasswordCheck {
    let matched = |ok: bool, current: bool| match (ok, current) {
        (false, _) => PasswordCheck::Mismatch,
        (true, true) => PasswordCheck::Match,
        (true, false) => PasswordCheck::MatchNeedsRehash,
    };
    if stored.starts_with("$2a$") || stored.starts_with("$2b$") || stored.starts_with("$2y$") {
        return matched(bcrypt::verify(password, stored).unwrap_or(false), false);
    }
    let Ok(hash) = PasswordHash::new(stored) else {
        return PasswordCheck::Mismatch;
    };
    match hash.algorithm.as_str() {
        "argon2id" | "argon2i" | "argon2d" => matched(
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok(),
            hash.algorithm.as_str() == "argon2id",
        ),
        "pbkdf2-sha256" | "pbkdf2-sha512" => matched(
            pbkdf2::Pbkdf2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok(),
            false,
        ),
        _ => PasswordCheck::Mismatch,
    }
}

/// Spends the time of one argon2 verification, so that a login for an unknown user takes as
/// long as one with a wrong password (no user enumeration by timing).
pub fn verify_against_nothing(password: &str) {
    static DUMMY: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| hash_password("no such user").unwrap_or_default());
    let _ = verify_password(password, &DUMMY);
}

/// An address in its stored forms.
#[derive(Debug, PartialEq, Eq)]
pub struct NormalizedAddress {
    /// NFC, lower-case local part, Unicode domain.
    pub address: String,
    /// `address` with dots and `+tag` removed from the local part: the unique key.
    pub addrview: String,
}

/// Normalizes an address (internationalized local parts and domains welcome).
pub fn normalize_address(input: &str) -> Result<NormalizedAddress, AddressError> {
    let invalid = |why: &str| AddressError::Invalid(why.to_string());
    let input: String = input.trim().nfc().collect();
    if input.len() > MAX_ADDRESS_BYTES {
        return Err(invalid("too long"));
    }
    let (local, domain) = input.rsplit_once('@').ok_or_else(|| invalid("no @"))?;
    if local.is_empty() || domain.is_empty() {
        return Err(invalid("empty local part or domain"));
    }
    if local.chars().count() > MAX_LOCAL_PART_CHARS {
        return Err(invalid("local part too long"));
    }
    if let Some(c) = local.chars().find(|c| {
        c.is_control()
            || c.is_whitespace()
            || matches!(
                c,
                '@' | '"' | '<' | '>' | ',' | ';' | ':' | '\\' | '(' | ')' | '[' | ']'
            )
    }) {
        return Err(invalid(&format!(
            "character {c:?} not allowed in local part"
        )));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(invalid("misplaced dot in local part"));
    }
    idna::domain_to_ascii_strict(domain).map_err(|_| invalid("bad domain"))?;
    let (domain, errors) = idna::domain_to_unicode(domain);
    errors.map_err(|_| invalid("bad domain"))?;
    let local = local.to_lowercase();
    let view_local: String = local
        .split('+')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|&c| c != '.')
        .collect();
    if view_local.is_empty() {
        return Err(invalid("local part is only a tag"));
    }
    Ok(NormalizedAddress {
        address: format!("{local}@{domain}"),
        addrview: format!("{view_local}@{domain}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_view_ignores_case_and_dots() {
        assert_eq!(unameview("John.Doe").unwrap(), "johndoe");
        assert_eq!(unameview("j.o.h.n.d.o.e").unwrap(), "johndoe");
        assert!(unameview("").is_err());
        assert!(unameview("...").is_err());
        assert!(unameview("a b").is_err());
        assert!(unameview("a\0b").is_err());
        assert!(unameview(&"x".repeat(129)).is_err());
    }

    #[test]
    fn argon2_roundtrip() {
        let hash = hash_password("secret").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert_eq!(verify_password("secret", &hash), PasswordCheck::Match);
        assert_eq!(verify_password("Secret", &hash), PasswordCheck::Mismatch);
        assert!(hash_password("").is_err());
    }

    #[test]
    fn legacy_hashes_match_and_ask_for_rehash() {
        // RFC-style PBKDF2-SHA256 test vector in PHC form (the pbkdf2 crate's own vector).
        let pbkdf2 = "$pbkdf2-sha256$i=4096,l=40\
            $c2FsdFNBTFRzYWx0U0FMVHNhbHRTQUxUc2FsdFNBTFRzYWx0\
            $NIyJ28vTKy8y2BS4EW6EzysXNH68GAAYHE4qH7jdU+HGNVGMfaxH6Q";
        assert_eq!(
            verify_password("passwordPASSWORDpassword", pbkdf2),
            PasswordCheck::MatchNeedsRehash
        );
        assert_eq!(verify_password("password", pbkdf2), PasswordCheck::Mismatch);

        let bcrypt_hash = bcrypt::hash("hunter2", 4).unwrap();
        assert_eq!(
            verify_password("hunter2", &bcrypt_hash),
            PasswordCheck::MatchNeedsRehash
        );
        assert_eq!(
            verify_password("hunter3", &bcrypt_hash),
            PasswordCheck::Mismatch
        );
        assert_eq!(verify_password("x", "garbage"), PasswordCheck::Mismatch);
        assert_eq!(verify_password("x", ""), PasswordCheck::Mismatch);
    }

    #[test]
    fn address_forms() {
        let a = normalize_address("John.Doe+news@Example.COM").unwrap();
        assert_eq!(a.address, "john.doe+news@example.com");
        assert_eq!(a.addrview, "johndoe@example.com");
        let idn = normalize_address("Andris@XN--MAANA-PTA.COM").unwrap();
        assert_eq!(idn.address, "andris@mañana.com");
        // NFD input (n + combining tilde) becomes the same NFC record.
        let nfd = normalize_address("ma\u{006e}\u{0303}ana@ñ.example").unwrap();
        assert_eq!(nfd.address, "mañana@ñ.example");
        assert_eq!(
            normalize_address("Ülo@Bücher.de").unwrap().address,
            "ülo@bücher.de"
        );
    }

    #[test]
    fn bad_addresses_are_rejected() {
        for bad in [
            "",
            "nobody",
            "@example.com",
            "a@",
            "a b@example.com",
            "a..b@example.com",
            ".a@example.com",
            "+tag@example.com",
            "a\0@example.com",
            "a@exa mple.com",
        ] {
            assert!(normalize_address(bad).is_err(), "{bad:?} accepted");
        }
    }
}
