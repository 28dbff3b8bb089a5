//! Application-specific passwords (ASPs) as WildDuck has them: 16 random letters a–z (or
//! 16 chosen by the caller), shown once and then kept only as a hash made like an account
//! password's; a description, the protocol scopes it opens, an optional TTL renewed at each
//! use, the last use; at most [`MAX_ASPS_PER_USER`] per user.
//!
//! A login does not verify every ASP of the user: each is stored with a *selector*, the sum
//! of the SHA-1 bytes of the password modulo 32 (WildDuck's `getStringSelector`), so a login
//! looks up the few ASPs with the candidate's selector and verifies only those.

use rand::Rng;
use sha1::{Digest, Sha1};

use crate::accounts;
use crate::backend::{AspRecord, now};
use crate::error::{AspError, Result};
use crate::model::*;
use crate::store::{Store, blocking};

/// WildDuck's `const:asp:limit`.
pub const MAX_ASPS_PER_USER: usize = 50;
const ASP_LETTERS: usize = 16;
const MAX_DESCRIPTION_CHARS: usize = 255;

/// The password as a login compares it: whitespace dropped, lower-cased; `None` when that
/// is not 16 letters a–z, so it can not be an ASP.
pub(crate) fn normalize(password: &str) -> Option<String> {
    let folded: String = password
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    (folded.len() == ASP_LETTERS && folded.bytes().all(|b| b.is_ascii_lowercase()))
        .then_some(folded)
}

/// The bucket an ASP is filed under: one hex digit, as WildDuck computes it.
pub(crate) fn selector(password: &str) -> String {
    let sum: u32 = Sha1::digest(password.as_bytes())
        .iter()
        .map(|&b| u32::from(b))
        .sum();
    format!("{:x}", sum % 32)
}

fn generate() -> String {
    let mut rng = rand::rng();
    (0..ASP_LETTERS)
        .map(|_| char::from(rng.random_range(b'a'..=b'z')))
        .collect()
}

/// Protocol scopes sorted and without duplicates; empty means all of them. `master` is
/// refused: managing the account always takes the account password.
pub(crate) fn protocol_scopes(
    scopes: &[Scope],
    empty_is_all: bool,
) -> std::result::Result<Vec<Scope>, String> {
    if scopes.contains(&Scope::Master) {
        return Err("the scope `master` can not be given here".into());
    }
    let mut scopes = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() && empty_is_all {
        return Ok(Scope::PROTOCOLS.to_vec());
    }
    Ok(scopes)
}

/// Whether an ASP's time is over.
pub(crate) fn is_expired(asp: &Asp, at: Timestamp) -> bool {
    asp.expires.is_some_and(|expires| expires <= at)
}

impl Store {
    /// Creates an ASP for `user`; returns it with its password, which is not kept anywhere
    /// in clear and can not be shown again. Expired ASPs of the user are removed first, so
    /// they do not count against the limit.
    pub async fn create_asp(&self, user: UserId, new: NewAsp) -> Result<(Asp, String)> {
        let description = new.description.trim().to_string();
        if description.is_empty() || description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(AspError::Invalid(format!(
                "a description of 1 to {MAX_DESCRIPTION_CHARS} characters is required"
            ))
            .into());
        }
        let scopes = protocol_scopes(&new.scopes, true).map_err(AspError::Invalid)?;
        let password = match new.password {
            Some(given) => normalize(&given).ok_or_else(|| {
                AspError::Invalid("a chosen password must be 16 letters a-z".into())
            })?,
            None => generate(),
        };
        let created = now();
        let ttl = new.ttl.filter(|&ttl| ttl > 0);
        let expires = ttl.map(|ttl| created.saturating_add(ttl.min(i64::MAX as u64) as i64));
        for expired in self.backend().list_asps(user).await? {
            if is_expired(&expired, created) {
                self.backend().delete_asp(user, expired.id).await?;
            }
        }
        let plain = password.clone();
        let password_hash = blocking(move || accounts::hash_password(&plain)).await?;
        let asp = Asp {
            id: AspId::new(),
            user,
            description,
            scopes,
            ttl,
            expires,
            created,
            last_use: None,
        };
        let record = AspRecord {
            asp: asp.clone(),
            selector: selector(&password),
            password_hash,
        };
        // `const:asp:limit`, MAX_ASPS_PER_USER unless an operator set it.
        let limit = self.setting_number(crate::settings::ASP_LIMIT).await?;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        self.backend().create_asp(record, limit).await?;
        Ok((asp, password))
    }

    /// The user's ASPs that have not expired, oldest first.
    pub async fn list_asps(&self, user: UserId) -> Result<Vec<Asp>> {
        let at = now();
        let mut asps = self.backend().list_asps(user).await?;
        asps.retain(|asp| !is_expired(asp, at));
        Ok(asps)
    }

    pub async fn get_asp(&self, user: UserId, asp: AspId) -> Result<Asp> {
        self.list_asps(user)
            .await?
            .into_iter()
            .find(|found| found.id == asp)
            .ok_or_else(|| AspError::NotFound.into())
    }

    pub async fn delete_asp(&self, user: UserId, asp: AspId) -> Result<()> {
        self.backend().delete_asp(user, asp).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_drops_spaces_and_case() {
        assert_eq!(
            normalize("Abcd efgh IJKL mnop").as_deref(),
            Some("abcdefghijklmnop")
        );
        assert_eq!(normalize("abcdefghijklmno"), None);
        assert_eq!(normalize("abcdefghijklmnopq"), None);
        assert_eq!(normalize("abcdefghijklmn0p"), None);
        // Letters outside a–z, even when they fold to 16 characters.
        assert_eq!(normalize("abcdefghijklmnöp"), None);
    }

    #[test]
    fn selector_is_wildducks() {
        // Values of WildDuck's getStringSelector, run in Node.
        for (password, expected) in [
            ("abcdefghijklmnop", "c"),
            ("zzzzzzzzzzzzzzzz", "1a"),
            ("qwertyuiopasdfgh", "1d"),
            ("mnbvcxzlkjhgfdsa", "9"),
        ] {
            assert_eq!(selector(password), expected, "{password}");
        }
    }

    #[test]
    fn generated_passwords_are_16_letters_and_differ() {
        let a = generate();
        let b = generate();
        assert_eq!(normalize(&a).as_deref(), Some(a.as_str()));
        assert_ne!(a, b);
    }

    #[test]
    fn scopes_are_sorted_and_master_is_refused() {
        assert_eq!(
            protocol_scopes(&[Scope::Smtp, Scope::Imap, Scope::Smtp], true).unwrap(),
            vec![Scope::Imap, Scope::Smtp]
        );
        assert_eq!(
            protocol_scopes(&[], true).unwrap(),
            Scope::PROTOCOLS.to_vec()
        );
        assert!(protocol_scopes(&[], false).unwrap().is_empty());
        assert!(protocol_scopes(&[Scope::Master], true).is_err());
    }
}
