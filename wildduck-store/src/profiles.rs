//! What an account keeps beside login and mail, as WildDuck keeps it: a user's profile (name,
//! tags, forwarding targets, metadata, which address is the main one), a temporary password,
//! the descriptive fields of an address (name, tags, metadata), and *forwarded addresses* —
//! addresses with forwarding targets and no mailbox of their own.
//!
//! The rules (target forms, tag normalization, the temporary password's window) are here;
//! the engines keep the records through the [`Profiles`](crate::backend::Profiles) trait.
//! Delivery reads the targets (`delivery/forward.rs`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::accounts;
use crate::backend::now;
use crate::error::{AddressError, AuthError, Result};
use crate::model::*;
use crate::store::{Store, blocking};

/// How long a temporary password can be used after it was made (WildDuck's 24 hours).
pub const TEMP_PASSWORD_WINDOW_SECS: Timestamp = 24 * 3600;

/// Longest tag, as WildDuck's API allows.
const MAX_TAG_CHARS: usize = 128;

/// Where a forward goes, in WildDuck's three forms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum ForwardTarget {
    /// An e-mail address: the message is queued to it through the outbound queue.
    Mail(String),
    /// An `smtp://` or `smtps://` URL of a relay that takes the message as it is.
    Relay(String),
    /// An `http://` or `https://` URL the raw message is POSTed to.
    Http(String),
}

impl ForwardTarget {
    /// Reads a target as WildDuck's API does: a URL by its scheme, else an address (it must
    /// hold an `@` and be valid). `AddressError::Invalid` otherwise.
    pub fn parse(input: &str) -> Result<ForwardTarget> {
        let input = input.trim();
        let scheme = input
            .split_once(':')
            .map(|(scheme, _)| scheme.to_ascii_lowercase());
        let target = match scheme.as_deref() {
            Some("smtp" | "smtps") => ForwardTarget::Relay(checked_url(input)?),
            Some("http" | "https") => ForwardTarget::Http(checked_url(input)?),
            _ if input.contains('@') => {
                accounts::normalize_address(input)?;
                ForwardTarget::Mail(input.to_string())
            }
            _ => {
                return Err(AddressError::Invalid(format!("unknown target type {input:?}")).into());
            }
        };
        Ok(target)
    }

    /// The target as given (the address or URL).
    pub fn value(&self) -> &str {
        match self {
            ForwardTarget::Mail(value)
            | ForwardTarget::Relay(value)
            | ForwardTarget::Http(value) => value,
        }
    }
}

/// A URL target must name a host: `scheme://host[:port][/…]`, no spaces or controls.
fn checked_url(input: &str) -> Result<String> {
    let invalid = |why: &str| AddressError::Invalid(format!("target {input:?}: {why}"));
    if input.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(invalid("spaces or control characters").into());
    }
    let rest = input
        .split_once("://")
        .map(|(_, rest)| rest)
        .ok_or_else(|| invalid("not an absolute URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    // `[v6]:port` or `host:port`.
    let (host, port) = match host_port.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((host, tail)) => (host, tail.strip_prefix(':')),
            None => ("", None),
        },
        None => match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Err(invalid("no host").into());
    }
    if let Some(port) = port
        && port.parse::<u16>().is_err()
    {
        return Err(invalid("bad port").into());
    }
    Ok(input.to_string())
}

/// Tags as WildDuck keeps them: trimmed, empty ones dropped, duplicates (ignoring case)
/// dropped, sorted ignoring case; a tag over 128 characters is `AddressError::Invalid`.
pub fn normalize_tags<S: AsRef<str>>(tags: &[S]) -> Result<Vec<String>> {
    let mut kept: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.as_ref().trim();
        if tag.chars().count() > MAX_TAG_CHARS {
            return Err(AddressError::Invalid(format!("tag longer than {MAX_TAG_CHARS}")).into());
        }
        if !tag.is_empty() && !kept.iter().any(|t| t.to_lowercase() == tag.to_lowercase()) {
            kept.push(tag.to_string());
        }
    }
    kept.sort_by_key(|t| t.to_lowercase());
    Ok(kept)
}

/// Whether `tags` hold any (or, `all`, every) of `wanted`, ignoring case.
pub fn tags_match(tags: &[String], wanted: &[String], all: bool) -> bool {
    let has = |w: &String| tags.iter().any(|t| t.to_lowercase() == w.to_lowercase());
    if all {
        wanted.iter().all(has)
    } else {
        wanted.iter().any(has)
    }
}

/// A user's descriptive fields and forwarding, all optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserProfile {
    pub name: Option<String>,
    pub language: Option<String>,
    pub tags: Vec<String>,
    /// Every message delivered to the user is also forwarded to these.
    pub targets: Vec<ForwardTarget>,
    /// Messages the user may forward per 24 hours (0: the store's default).
    pub forwards: u64,
    /// Recipients the user may send to per 24 hours (0: the store's default).
    pub recipients: u64,
    /// The user's own spam level (WildDuck's `spamLevel`: 0 everything is spam, 100
    /// nothing is, else spam from this score up); `None`: the store's level.
    pub spam_level: Option<u8>,
    /// The address the account calls its own; the oldest one when unset or gone.
    pub main_address: Option<AddressId>,
    /// The caller's own data, kept as given (a JSON object).
    pub meta_data: Map<String, Value>,
    /// The operator's own data, not shown to the account holder.
    pub internal_data: Map<String, Value>,
    /// The OpenPGP key mail is stored or forwarded encrypted to (`encryption`).
    pub encryption: crate::encryption::EncryptionSettings,
}

/// The descriptive fields of one of a user's addresses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AddressDetails {
    pub name: Option<String>,
    pub tags: Vec<String>,
    pub meta_data: Map<String, Value>,
}

/// The autoreply of a forwarded address, kept as given (WildDuck's fields).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ForwardedAutoreply {
    pub status: bool,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub name: Option<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
}

/// An address that reaches no mailbox: what it receives is forwarded to its targets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForwardedAddress {
    pub id: AddressId,
    /// As shown: NFC, lower-case local part, Unicode domain.
    pub address: String,
    /// The unique lookup key, shared with users' addresses (no two can have the same).
    pub addrview: String,
    pub name: Option<String>,
    pub targets: Vec<ForwardTarget>,
    /// Messages forwarded per 24 hours (0: the store's default).
    pub forwards: u64,
    /// Mail to it is refused while forwarding is disabled.
    pub forwarded_disabled: bool,
    pub tags: Vec<String>,
    pub meta_data: Map<String, Value>,
    pub autoreply: ForwardedAutoreply,
    pub created: Timestamp,
}

/// What a new forwarded address starts with (the address is normalized by the store).
#[derive(Clone, Debug, Default)]
pub struct NewForwarded {
    pub address: String,
    pub name: Option<String>,
    pub targets: Vec<ForwardTarget>,
    pub forwards: u64,
    pub forwarded_disabled: bool,
    pub tags: Vec<String>,
    pub meta_data: Map<String, Value>,
    pub autoreply: ForwardedAutoreply,
}

/// A temporary password as stored: its hash, from when it opens, when it was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TempPassword {
    pub hash: String,
    pub valid_after: Timestamp,
    pub created: Timestamp,
}

impl TempPassword {
    /// Whether it may still be tried at `at` (made less than 24 hours before).
    pub fn within_window(&self, at: Timestamp) -> bool {
        at.saturating_sub(self.created) < TEMP_PASSWORD_WINDOW_SECS
    }
}

/// Letters and digits of a generated temporary password (no look-alikes 0/O, 1/l/I).
const TEMP_PASSWORD_ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const TEMP_PASSWORD_CHARS: usize = 12;

impl Store {
    /// The user's profile (the default when nothing was set). `UserError::NotFound` for a
    /// missing user.
    pub async fn user_profile(&self, user: UserId) -> Result<UserProfile> {
        self.get_user(user).await?;
        self.backend().user_profile(user).await
    }

    /// Replaces the user's profile: tags normalized, the main address checked to be theirs,
    /// the public key checked to be one mail can be encrypted to (`UserError::InvalidKey`).
    pub async fn set_user_profile(&self, user: UserId, mut profile: UserProfile) -> Result<()> {
        profile.tags = normalize_tags(&profile.tags)?;
        if let Some(key) = &profile.encryption.pub_key {
            crate::encryption::key_info(key)?;
        }
        if let Some(main) = profile.main_address
            && !self
                .list_addresses(user)
                .await?
                .iter()
                .any(|a| a.id == main)
        {
            return Err(AddressError::NotFound.into());
        }
        self.backend().set_user_profile(user, profile).await
    }

    /// The user's main address: the one the profile names, else the oldest; `None` when the
    /// user has no address.
    pub async fn main_address(&self, user: UserId) -> Result<Option<Address>> {
        let addresses = self.list_addresses(user).await?;
        let chosen = self.backend().user_profile(user).await?.main_address;
        let main = chosen
            .and_then(|id| addresses.iter().find(|a| a.id == id).cloned())
            .or_else(|| addresses.into_iter().min_by_key(|a| a.id));
        Ok(main)
    }

    pub async fn address_details(&self, address: AddressId) -> Result<AddressDetails> {
        self.backend().address_details(address).await
    }

    /// Replaces the descriptive fields of one of `user`'s addresses (tags normalized).
    /// `AddressError::NotFound` when it is not theirs.
    pub async fn set_address_details(
        &self,
        user: UserId,
        address: AddressId,
        mut details: AddressDetails,
    ) -> Result<()> {
        if !self
            .list_addresses(user)
            .await?
            .iter()
            .any(|a| a.id == address)
        {
            return Err(AddressError::NotFound.into());
        }
        details.tags = normalize_tags(&details.tags)?;
        self.backend().set_address_details(address, details).await
    }

    /// Makes a temporary password for `user`, usable for the `master` scope from
    /// `valid_after` (now when `None`) for 24 hours from now, and returns it. Logging in with
    /// it asks for a password change; setting a password removes it.
    pub async fn reset_password(
        &self,
        user: UserId,
        valid_after: Option<Timestamp>,
    ) -> Result<String> {
        self.get_user(user).await?;
        let password = generate_temp_password();
        let candidate = password.clone();
        let hash = blocking(move || accounts::hash_password(&candidate)).await?;
        let created = now();
        let temp = TempPassword {
            hash,
            valid_after: valid_after.unwrap_or(created),
            created,
        };
        self.backend().set_temp_password(user, Some(temp)).await?;
        Ok(password)
    }

    /// Whether `password` is the user's live temporary password: `Ok(true)` if so,
    /// `Ok(false)` if it is not (or there is none), `AuthError::InvalidCredentials` when it is
    /// but not open yet (WildDuck's `TempPasswordNotYetValid`, answered as a wrong password).
    pub(crate) async fn check_temp_password(&self, user: UserId, password: &str) -> Result<bool> {
        let at = now();
        let Some(temp) = self
            .backend()
            .temp_password(user)
            .await?
            .filter(|temp| temp.within_window(at))
        else {
            return Ok(false);
        };
        let candidate = password.to_string();
        let stored = temp.hash.clone();
        let matches = blocking(move || {
            Ok(accounts::verify_password(&candidate, &stored) != accounts::PasswordCheck::Mismatch)
        })
        .await?;
        if matches && temp.valid_after > at {
            return Err(AuthError::InvalidCredentials.into());
        }
        Ok(matches)
    }

    pub(crate) async fn clear_temp_password(&self, user: UserId) -> Result<()> {
        self.backend().set_temp_password(user, None).await
    }

    /// Counts the storage `user`'s messages take and makes that the stored figure (it moves
    /// with every change anyway; this repairs a drift): `(previous, counted)`.
    pub async fn recount_storage(&self, user: UserId) -> Result<(u64, u64)> {
        self.backend().recount_storage(user).await
    }

    // ---- forwarded addresses ----

    /// Adds a forwarded address. `AddressError::AlreadyExists` when a user's address or
    /// another forwarded address has the same lookup key.
    pub async fn create_forwarded(&self, new: NewForwarded) -> Result<ForwardedAddress> {
        let normalized = accounts::normalize_address(&new.address)?;
        if self
            .backend()
            .address_by_view(&normalized.addrview)
            .await?
            .is_some()
        {
            return Err(AddressError::AlreadyExists.into());
        }
        let forwarded = ForwardedAddress {
            id: AddressId::new(),
            address: normalized.address,
            addrview: normalized.addrview,
            name: new.name,
            targets: new.targets,
            forwards: new.forwards,
            forwarded_disabled: new.forwarded_disabled,
            tags: normalize_tags(&new.tags)?,
            meta_data: new.meta_data,
            autoreply: new.autoreply,
            created: now(),
        };
        self.backend().create_forwarded(forwarded.clone()).await?;
        Ok(forwarded)
    }

    /// `AddressError::NotFound` when there is no forwarded address with this id.
    pub async fn get_forwarded(&self, id: AddressId) -> Result<ForwardedAddress> {
        self.backend()
            .forwarded_by_id(id)
            .await?
            .ok_or_else(|| AddressError::NotFound.into())
    }

    /// The forwarded address `address` reaches (`+tag` and dots ignored), if any.
    pub async fn find_forwarded(&self, address: &str) -> Result<Option<ForwardedAddress>> {
        let view = accounts::normalize_address(address)?.addrview;
        self.backend().forwarded_by_view(&view).await
    }

    pub async fn list_forwarded(&self) -> Result<Vec<ForwardedAddress>> {
        self.backend().list_forwarded().await
    }

    /// Stores `forwarded` as changed by the caller; a changed `address` is normalized again
    /// and must be free.
    pub async fn update_forwarded(&self, mut forwarded: ForwardedAddress) -> Result<()> {
        let current = self.get_forwarded(forwarded.id).await?;
        let normalized = accounts::normalize_address(&forwarded.address)?;
        if normalized.addrview != current.addrview
            && self
                .backend()
                .address_by_view(&normalized.addrview)
                .await?
                .is_some()
        {
            return Err(AddressError::AlreadyExists.into());
        }
        forwarded.address = normalized.address;
        forwarded.addrview = normalized.addrview;
        forwarded.tags = normalize_tags(&forwarded.tags)?;
        self.backend().update_forwarded(forwarded).await
    }

    pub async fn delete_forwarded(&self, id: AddressId) -> Result<()> {
        self.backend().delete_forwarded(id).await
    }
}

fn generate_temp_password() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..TEMP_PASSWORD_CHARS)
        .map(|_| TEMP_PASSWORD_ALPHABET[rng.random_range(0..TEMP_PASSWORD_ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_read_by_scheme_then_as_addresses() {
        assert_eq!(
            ForwardTarget::parse("user@example.com").unwrap(),
            ForwardTarget::Mail("user@example.com".into())
        );
        assert_eq!(
            ForwardTarget::parse("SMTP://mx2.zone.eu:25").unwrap(),
            ForwardTarget::Relay("SMTP://mx2.zone.eu:25".into())
        );
        assert_eq!(
            ForwardTarget::parse("https://example.com/upload/email").unwrap(),
            ForwardTarget::Http("https://example.com/upload/email".into())
        );
        for relay in [
            "smtp://[::1]",
            "smtps://[::1]:465",
            "smtp://user@mx.test:25",
        ] {
            assert!(ForwardTarget::parse(relay).is_ok(), "{relay} refused");
        }
        for bad in [
            "example.com",
            "smtp://",
            "smtp://mx:port",
            "https:///path",
            "ftp://x",
            "a b@example.com",
            "http://exa mple.com",
            "smtp://[::1",
            "smtp://[::1]:x",
        ] {
            assert!(ForwardTarget::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn tags_are_trimmed_deduplicated_ignoring_case_and_sorted() {
        let tags = normalize_tags(&[" tag2", "TAG1", "Tag2", "", "tag3 "]).unwrap();
        assert_eq!(tags, ["TAG1", "tag2", "tag3"]);
        assert!(normalize_tags(&["x".repeat(129)]).is_err());
        assert!(tags_match(&tags, &["TAG3".into(), "nope".into()], false));
        assert!(!tags_match(&tags, &["TAG3".into(), "nope".into()], true));
        assert!(tags_match(&tags, &["tag1".into(), "tag2".into()], true));
    }

    #[test]
    fn a_temporary_password_lasts_a_day() {
        let temp = TempPassword {
            hash: String::new(),
            valid_after: 0,
            created: 1000,
        };
        assert!(temp.within_window(1000 + TEMP_PASSWORD_WINDOW_SECS - 1));
        assert!(!temp.within_window(1000 + TEMP_PASSWORD_WINDOW_SECS));
    }

    #[test]
    fn generated_temporary_passwords_differ() {
        let a = generate_temp_password();
        assert_eq!(a.len(), TEMP_PASSWORD_CHARS);
        assert_ne!(a, generate_temp_password());
    }
}
