//! Account rules: usernames and their lookup key, passwords (argon2id for new hashes; every
//! format WildDuck accepts verified and upgraded on login), and e-mail address normalization.

use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use argon2::{Algorithm, Argon2, Params};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use subtle::ConstantTimeEq;
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
    /// Matches, and the hash is current (argon2id with our parameters).
    Match,
    /// Matches a hash of another format or other parameters: store an argon2id hash instead.
    MatchNeedsRehash,
}

/// Checks a hash made elsewhere before it is stored (`user add --hashed-password`): the
/// formats WildDuck accepts (its `lib/hashes.js`) pass, anything else is refused now rather
/// than failing at the first login.
pub fn check_password_hash(hash: &str) -> Result<(), UserError> {
    StoredHash::parse(hash).map(|_| ()).map_err(|why| {
        UserError::InvalidPassword(format!(
            "not a supported password hash ({why}); accepted: argon2 ($argon2id$, $argon2i$, \
             $argon2d$), bcrypt ($2a$, $2b$, $2y$), PBKDF2 as @phc/pbkdf2 writes it \
             ($pbkdf2-sha512$, $pbkdf2-sha256$, $pbkdf2-sha1$), crypt(3) SHA-512 ($6$), \
             SHA-256 ($5$), MD5 ($1$) and DES (13 characters)"
        ))
    })
}

/// Verifies a password against a stored hash in any accepted format (CPU-heavy).
/// Unknown or malformed hashes never match.
pub fn verify_password(password: &str, stored: &str) -> PasswordCheck {
    let Ok(hash) = StoredHash::parse(stored) else {
        return PasswordCheck::Mismatch;
    };
    match (hash.verify(password), hash.is_current()) {
        (false, _) => PasswordCheck::Mismatch,
        (true, true) => PasswordCheck::Match,
        (true, false) => PasswordCheck::MatchNeedsRehash,
    }
}

/// A stored password hash, parsed far enough to know it can be verified.
enum StoredHash<'a> {
    /// `$argon2id$…`, `$argon2i$…`, `$argon2d$…` (PHC strings; boxed, being large).
    Argon2(Box<PasswordHash>),
    /// `$pbkdf2-sha512$i=N$salt$hash` as `@phc/pbkdf2` writes it: base64 without padding, and
    /// the derived key as long as the stored hash (64 bytes for SHA-512, no `l=` needed).
    Pbkdf2 {
        digest: Pbkdf2Digest,
        rounds: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    /// `$2a$`, `$2b$`, `$2y$`.
    Bcrypt(&'a str),
    /// crypt(3) strings of glibc and the Node modules WildDuck uses.
    UnixCrypt(UnixCrypt, &'a str),
}

#[derive(Clone, Copy)]
enum Pbkdf2Digest {
    Sha1,
    Sha256,
    Sha512,
}

#[derive(Clone, Copy)]
enum UnixCrypt {
    /// `$1$salt$hash`.
    Md5,
    /// `$5$[rounds=N$]salt$hash`.
    Sha256,
    /// `$6$[rounds=N$]salt$hash`.
    Sha512,
    /// Traditional DES: two salt characters and eleven of hash.
    Des,
}

/// The characters of crypt(3)'s own base64.
fn is_crypt_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.' || c == '/'
}

impl<'a> StoredHash<'a> {
    fn parse(stored: &'a str) -> Result<Self, String> {
        if stored.len() == 13 && stored.chars().all(is_crypt_char) {
            return Ok(Self::UnixCrypt(UnixCrypt::Des, stored));
        }
        let scheme = stored
            .strip_prefix('$')
            .and_then(|rest| rest.split_once('$'))
            .map(|(scheme, _)| scheme)
            .ok_or("no `$scheme$` prefix")?;
        match scheme {
            "argon2id" | "argon2i" | "argon2d" => PasswordHash::new(stored)
                .map(|hash| Self::Argon2(Box::new(hash)))
                .map_err(|err| format!("malformed {scheme} hash: {err}")),
            "pbkdf2-sha512" => parse_pbkdf2(stored, Pbkdf2Digest::Sha512),
            "pbkdf2-sha256" => parse_pbkdf2(stored, Pbkdf2Digest::Sha256),
            "pbkdf2-sha1" => parse_pbkdf2(stored, Pbkdf2Digest::Sha1),
            "2a" | "2b" | "2y" => stored
                .parse::<bcrypt::HashParts>()
                .map(|_| Self::Bcrypt(stored))
                .map_err(|err| format!("malformed bcrypt hash: {err}")),
            "1" => parse_unix_crypt(stored, UnixCrypt::Md5, 8, 22),
            "5" => parse_unix_crypt(stored, UnixCrypt::Sha256, 16, 43),
            "6" => parse_unix_crypt(stored, UnixCrypt::Sha512, 16, 86),
            other => Err(format!("unknown scheme `${other}$`")),
        }
    }

    fn verify(&self, password: &str) -> bool {
        match self {
            Self::Argon2(hash) => Argon2::default()
                .verify_password(password.as_bytes(), hash.as_ref())
                .is_ok(),
            Self::Pbkdf2 {
                digest,
                rounds,
                salt,
                hash,
            } => {
                let mut derived = vec![0u8; hash.len()];
                let (password, rounds) = (password.as_bytes(), *rounds);
                match digest {
                    Pbkdf2Digest::Sha1 => {
                        pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, rounds, &mut derived)
                    }
                    Pbkdf2Digest::Sha256 => pbkdf2::pbkdf2_hmac::<pbkdf2::sha2::Sha256>(
                        password,
                        salt,
                        rounds,
                        &mut derived,
                    ),
                    Pbkdf2Digest::Sha512 => pbkdf2::pbkdf2_hmac::<pbkdf2::sha2::Sha512>(
                        password,
                        salt,
                        rounds,
                        &mut derived,
                    ),
                }
                derived.ct_eq(hash).into()
            }
            Self::Bcrypt(stored) => bcrypt::verify(password, stored).unwrap_or(false),
            // pwhash compares in constant time.
            Self::UnixCrypt(kind, stored) => match kind {
                UnixCrypt::Md5 => pwhash::md5_crypt::verify(password, stored),
                UnixCrypt::Sha256 => pwhash::sha256_crypt::verify(password, stored),
                UnixCrypt::Sha512 => pwhash::sha512_crypt::verify(password, stored),
                UnixCrypt::Des => pwhash::unix_crypt::verify(password, stored),
            },
        }
    }

    /// Argon2id with the parameters `hash_password` uses; anything else is rehashed.
    fn is_current(&self) -> bool {
        let Self::Argon2(hash) = self else {
            return false;
        };
        let ours = Params::default();
        hash.algorithm.as_str() == Algorithm::Argon2id.ident().as_str()
            && Params::try_from(hash.as_ref()).is_ok_and(|params| {
                params.m_cost() == ours.m_cost()
                    && params.t_cost() == ours.t_cost()
                    && params.p_cost() == ours.p_cost()
            })
            && hash
                .hash
                .is_some_and(|output| output.len() == Params::DEFAULT_OUTPUT_LEN)
    }
}

/// `$pbkdf2-DIGEST$i=ROUNDS$SALT$HASH` (an `l=` parameter, if present, must agree with the
/// hash's length).
fn parse_pbkdf2(stored: &str, digest: Pbkdf2Digest) -> Result<StoredHash<'_>, String> {
    let fields: Vec<&str> = stored.split('$').collect();
    let [_, _, params, salt, hash] = fields[..] else {
        return Err("expected $pbkdf2-DIGEST$i=ROUNDS$SALT$HASH".into());
    };
    let decode = |what: &str, text: &str| {
        STANDARD_NO_PAD
            .decode(text)
            .map_err(|err| format!("{what} is not base64: {err}"))
    };
    let (salt, hash) = (decode("salt", salt)?, decode("hash", hash)?);
    if salt.is_empty() || hash.is_empty() {
        return Err("empty salt or hash".into());
    }
    let mut rounds = None;
    for param in params.split(',') {
        match param.split_once('=') {
            Some(("i", value)) => rounds = value.parse::<u32>().ok().filter(|&n| n > 0),
            Some(("l", value)) if value.parse::<usize>().ok() == Some(hash.len()) => {}
            _ => return Err(format!("unexpected parameter `{param}`")),
        }
    }
    let rounds = rounds.ok_or("no iteration count `i=`")?;
    Ok(StoredHash::Pbkdf2 {
        digest,
        rounds,
        salt,
        hash,
    })
}

/// `$ID$[rounds=N$]SALT$HASH` with a salt of at most `max_salt` characters and a hash of
/// exactly `hash_len` crypt characters (MD5-crypt has no rounds).
fn parse_unix_crypt(
    stored: &str,
    kind: UnixCrypt,
    max_salt: usize,
    hash_len: usize,
) -> Result<StoredHash<'_>, String> {
    let mut fields: Vec<&str> = stored.split('$').skip(2).collect();
    if !matches!(kind, UnixCrypt::Md5)
        && let Some(rounds) = fields.first().and_then(|f| f.strip_prefix("rounds="))
    {
        if rounds.is_empty() || !rounds.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("bad rounds `{rounds}`"));
        }
        fields.remove(0);
    }
    let [salt, hash] = fields[..] else {
        return Err("expected $ID$SALT$HASH".into());
    };
    if salt.len() > max_salt || !salt.chars().all(|c| c != ':' && !c.is_control()) {
        return Err(format!(
            "salt longer than {max_salt} characters or not printable"
        ));
    }
    if hash.len() != hash_len || !hash.chars().all(is_crypt_char) {
        return Err(format!("hash is not {hash_len} crypt characters"));
    }
    Ok(StoredHash::UnixCrypt(kind, stored))
}

/// Where a password may be sent over a connection without TLS: one setting for every
/// listener (IMAP, POP3, submission). Over TLS it is always allowed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlaintextLogin {
    /// From anywhere (only for trusted networks).
    Always,
    /// Only from a loopback address.
    #[default]
    Loopback,
    /// Never: clients must start TLS first.
    Never,
}

impl PlaintextLogin {
    /// Whether a client may log in on a connection without TLS.
    pub fn allows(self, peer_is_loopback: bool) -> bool {
        match self {
            Self::Always => true,
            Self::Loopback => peer_is_loopback,
            Self::Never => false,
        }
    }
}

/// `"always"`, `"loopback"`, `"never"`, or IMAP's older boolean (`true` was `always`, `false`
/// was `never`), also as the text `true`/`false` that an environment variable brings.
impl<'de> serde::Deserialize<'de> for PlaintextLogin {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = PlaintextLogin;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("\"always\", \"loopback\" or \"never\"")
            }

            fn visit_bool<E: serde::de::Error>(self, allowed: bool) -> Result<Self::Value, E> {
                Ok(if allowed {
                    PlaintextLogin::Always
                } else {
                    PlaintextLogin::Never
                })
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
                match text {
                    "always" => Ok(PlaintextLogin::Always),
                    "loopback" => Ok(PlaintextLogin::Loopback),
                    "never" => Ok(PlaintextLogin::Never),
                    "true" | "false" => self.visit_bool(text == "true"),
                    other => Err(E::invalid_value(serde::de::Unexpected::Str(other), &self)),
                }
            }
        }
        deserializer.deserialize_any(Visitor)
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
    check_wildcard(local).map_err(invalid)?;
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

/// Longest fixed part of a wildcard local part (`prefix*`, `*suffix`), as WildDuck allows.
pub const MAX_WILDCARD_FIXED_CHARS: usize = 32;

/// A `*` in a local part makes a wildcard address: alone (`*@domain`, every local part), or
/// once at the start or the end (`*suffix@domain`, `prefix*@domain`). Anything else could
/// never match, so it is refused rather than stored.
fn check_wildcard(local: &str) -> Result<(), &'static str> {
    let stars = local.matches('*').count();
    if stars == 0 {
        return Ok(());
    }
    let fixed = local.trim_start_matches('*').trim_end_matches('*');
    if stars > 1
        || fixed.contains('*')
        || (local.starts_with('*') == local.ends_with('*') && local != "*")
    {
        return Err("a wildcard is one * at the start or the end of the local part");
    }
    if fixed.contains('+') {
        return Err("a wildcard address can not have a +tag");
    }
    if fixed.chars().count() > MAX_WILDCARD_FIXED_CHARS {
        return Err("the fixed part of a wildcard address is too long");
    }
    Ok(())
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
    fn every_wildduck_format_matches_and_asks_for_rehash() {
        let hashes = crate::testkit::wildduck_password_hashes();
        assert_eq!(hashes.len(), 11, "fixture read: {hashes:?}");
        for (format, password, hash) in hashes {
            check_password_hash(hash).unwrap_or_else(|err| panic!("{format}: {err}"));
            assert_eq!(
                verify_password(password, hash),
                PasswordCheck::MatchNeedsRehash,
                "{format}"
            );
            // Changed at the front: DES crypt reads only a password's first eight bytes.
            let wrong = format!("x{password}");
            assert_eq!(
                verify_password(&wrong, hash),
                PasswordCheck::Mismatch,
                "{format}"
            );
        }
    }

    #[test]
    fn pbkdf2_takes_the_key_length_from_the_stored_hash() {
        // RFC 6070-style PBKDF2-SHA256 vector with a 40-byte key and an explicit `l=`.
        let pbkdf2 = "$pbkdf2-sha256$i=4096,l=40\
            $c2FsdFNBTFRzYWx0U0FMVHNhbHRTQUxUc2FsdFNBTFRzYWx0\
            $NIyJ28vTKy8y2BS4EW6EzysXNH68GAAYHE4qH7jdU+HGNVGMfaxH6Q";
        assert_eq!(
            verify_password("passwordPASSWORDpassword", pbkdf2),
            PasswordCheck::MatchNeedsRehash
        );
        assert_eq!(verify_password("password", pbkdf2), PasswordCheck::Mismatch);
        // An `l=` that contradicts the hash is malformed.
        assert!(check_password_hash(&pbkdf2.replace("l=40", "l=32")).is_err());
    }

    #[test]
    fn argon2_other_than_ours_is_rehashed() {
        let salt = "c2FsdHNhbHRzYWx0c2FsdA";
        for (algorithm, params) in [
            (Algorithm::Argon2i, Params::default()),
            (Algorithm::Argon2d, Params::default()),
            (Algorithm::Argon2id, Params::new(8192, 1, 1, None).unwrap()),
        ] {
            let hasher = Argon2::new(algorithm, argon2::Version::V0x13, params);
            let salt = argon2::password_hash::phc::Salt::from_b64(salt).unwrap();
            let hash = hasher
                .hash_password_with_salt(b"secret", &salt)
                .unwrap()
                .to_string();
            check_password_hash(&hash).unwrap();
            assert_eq!(
                verify_password("secret", &hash),
                PasswordCheck::MatchNeedsRehash,
                "{hash}"
            );
            assert_eq!(verify_password("Secret", &hash), PasswordCheck::Mismatch);
        }
    }

    #[test]
    fn unknown_and_malformed_hashes_are_refused_at_import_and_never_match() {
        for bad in [
            "",
            "garbage",
            "plaintext-password",
            "$md5$abc$def",
            "$sha1$abc",
            // passlib's own PBKDF2 format (rounds without `i=`, adapted base64): WildDuck
            // refuses it too.
            "$pbkdf2-sha256$29000$N2bMOSdEiPE.$5Ru4n0Kh9FpQZ9Q0lUd6Zt5Dpr8HPT2jeKAQTlDNuOs",
            "$pbkdf2-sha512$i=0$IDfN7LMVFYG8bX15jYw/og$P35yLvXLpCkWWP1iLYOR84z0",
            "$pbkdf2-sha512$i=1$$P35yLvXLpCkWWP1iLYOR84z0",
            "$2b$04$tooshort",
            "$1$saltsalty$YAPeMSKyVbjaMPqwREZP60",
            "$6$salt$short",
            "$5$rounds=x$jjouyHRTa8XuHpz.$6Mwpio.XVt66P6ckZoWT6lbeWygqca5LiPaFYZD/vK/",
            "utrXQQQ9QrFB!",
        ] {
            let err = check_password_hash(bad).expect_err(bad);
            assert!(err.to_string().contains("accepted:"), "{err}");
            assert_eq!(verify_password("x", bad), PasswordCheck::Mismatch, "{bad}");
        }
    }

    #[test]
    fn plaintext_login_reads_the_words_and_the_older_boolean() {
        #[derive(serde::Deserialize)]
        struct Section {
            allow_plaintext_login: PlaintextLogin,
        }
        let read = |value: &str| {
            serde_json::from_str::<Section>(&format!("{{\"allow_plaintext_login\": {value}}}"))
                .map(|s| s.allow_plaintext_login)
        };
        assert_eq!(read("\"always\"").unwrap(), PlaintextLogin::Always);
        assert_eq!(read("\"loopback\"").unwrap(), PlaintextLogin::Loopback);
        assert_eq!(read("\"never\"").unwrap(), PlaintextLogin::Never);
        assert_eq!(read("true").unwrap(), PlaintextLogin::Always);
        assert_eq!(read("false").unwrap(), PlaintextLogin::Never);
        assert_eq!(read("\"false\"").unwrap(), PlaintextLogin::Never);
        let err = read("\"sometimes\"").unwrap_err().to_string();
        assert!(err.contains("\"loopback\""), "{err}");
        assert!(PlaintextLogin::Loopback.allows(true));
        assert!(!PlaintextLogin::Loopback.allows(false));
        assert!(PlaintextLogin::Always.allows(false));
        assert!(!PlaintextLogin::Never.allows(true));
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
    fn wildcard_forms() {
        assert_eq!(
            normalize_address("*@Example.com").unwrap().addrview,
            "*@example.com"
        );
        assert_eq!(
            normalize_address("J.ohn*@example.com").unwrap().addrview,
            "john*@example.com"
        );
        assert_eq!(
            normalize_address("*-Sales@example.com").unwrap().addrview,
            "*-sales@example.com"
        );
        let longest = format!("{}*@example.com", "x".repeat(MAX_WILDCARD_FIXED_CHARS));
        assert!(normalize_address(&longest).is_ok());
        let too_long = format!("*{}@example.com", "x".repeat(MAX_WILDCARD_FIXED_CHARS + 1));
        assert!(normalize_address(&too_long).is_err());
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
            "a*b@example.com",
            "**@example.com",
            "*a*@example.com",
            "*+tag@example.com",
        ] {
            assert!(normalize_address(bad).is_err(), "{bad:?} accepted");
        }
    }
}
