//! Mail kept encrypted to its owner's OpenPGP key, as WildDuck does: a user with a public key
//! (`pubKey`) and `encryptMessages`, or a mailbox with `encryptMessages`, gets what arrives
//! stored as PGP/MIME (RFC 3156): the message's own headers stay readable, and its
//! `Content-Type`, `Content-Transfer-Encoding` and body become one OpenPGP message, armored
//! in an `encrypted.asc` part of a `multipart/encrypted` message.
//!
//! Not encrypted, as WildDuck: drafts, messages that are `multipart/encrypted` already, and
//! anything when the user has no key. A key is checked when it is set (it must parse, its
//! bindings must verify and it must have a valid encryption key), so encryption fails only
//! when the key stopped being usable later (expired); the message is then stored as it came
//! (WildDuck does the same), with a warning in the log.
//!
//! OpenPGP is rPGP (`pgp`, pure Rust): no system library to install, and it builds on stable.

use std::io::Cursor;

use pgp::composed::{
    ArmorOptions, Deserializable, MessageBuilder, SignedPublicKey, SignedPublicSubKey,
};
use pgp::crypto::sym::SymmetricKeyAlgorithm;
use pgp::packet::{Signature, SignatureType};
use pgp::types::{KeyDetails, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::{Result, UserError};
use crate::model::{Flag, Flags, Mailbox, MailboxId};
use crate::store::{Store, blocking};

/// A user's encryption settings (WildDuck's `pubKey`, `encryptMessages`, `encryptForwarded`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EncryptionSettings {
    /// The armored public key as the user gave it; `None` when not set.
    pub pub_key: Option<String>,
    /// Messages delivered to the user are stored encrypted.
    pub encrypt_messages: bool,
    /// Messages forwarded for the user are sent encrypted.
    pub encrypt_forwarded: bool,
}

/// What a public key says about itself (WildDuck's `keyInfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// The name of the key's first user id; empty when it has none.
    pub name: String,
    /// The address of the key's first user id; empty when it has none.
    pub address: String,
    /// Lower-case hex, as WildDuck shows it.
    pub fingerprint: String,
}

/// Reads and checks an armored public key: it must parse, its self-signatures must verify,
/// and it must have an encryption key that is neither revoked nor expired.
/// `UserError::InvalidKey` otherwise.
pub fn key_info(armored: &str) -> Result<KeyInfo> {
    let key = read_key(armored)?;
    encryption_key(&key, Timestamp::now())?;
    let (name, address) = key
        .details
        .users
        .iter()
        .find_map(|user| user.id.as_str())
        .map(split_user_id)
        .unwrap_or_default();
    Ok(KeyInfo {
        name,
        address,
        fingerprint: format!("{:x}", key.fingerprint()),
    })
}

/// `raw` as PGP/MIME encrypted to `armored_key`, or `None` when it is `multipart/encrypted`
/// already. `UserError::InvalidKey` when the key can not be used.
pub fn encrypt_message(armored_key: &str, raw: &[u8]) -> Result<Option<Vec<u8>>> {
    let message = split_message(raw);
    if message.is_encrypted() {
        return Ok(None);
    }
    let key = read_key(armored_key)?;
    let recipient = encryption_key(&key, Timestamp::now())?;
    let armored = encrypt(&recipient, message.inner_entity()).map_err(invalid_key)?;
    Ok(Some(message.pgp_mime(&armored)))
}

/// Whether a message is stored encrypted: a non-draft for a user with a key who asked for
/// it, or in a mailbox that asks for it.
pub fn should_encrypt(settings: &EncryptionSettings, mailbox_encrypted: bool, draft: bool) -> bool {
    settings.pub_key.is_some() && (settings.encrypt_messages || mailbox_encrypted) && !draft
}

/// The bytes to store: `raw` encrypted when [`should_encrypt`] says so, else as it is. A key
/// that no longer works stores the message as it came (logged), as WildDuck does.
pub(crate) async fn sealed(
    settings: &EncryptionSettings,
    mailbox_encrypted: bool,
    draft: bool,
    raw: Vec<u8>,
) -> Result<Vec<u8>> {
    if !should_encrypt(settings, mailbox_encrypted, draft) {
        return Ok(raw);
    }
    let Some(key) = settings.pub_key.clone() else {
        return Ok(raw);
    };
    blocking(move || match encrypt_message(&key, &raw) {
        Ok(Some(encrypted)) => Ok(encrypted),
        Ok(None) => Ok(raw),
        Err(err) => {
            tracing::warn!(error = %err, "message stored unencrypted: the user's key fails");
            Ok(raw)
        }
    })
    .await
}

impl Store {
    /// Whether `mailbox` keeps what arrives encrypted (WildDuck's mailbox `encryptMessages`).
    pub async fn mailbox_encrypted(&self, mailbox: MailboxId) -> Result<bool> {
        self.backend().mailbox_encrypted(mailbox).await
    }

    /// `MailboxError::NotFound` for a missing mailbox.
    pub async fn set_mailbox_encrypted(&self, mailbox: MailboxId, encrypted: bool) -> Result<()> {
        self.backend()
            .set_mailbox_encrypted(mailbox, encrypted)
            .await
    }

    /// The bytes to store when a client adds `raw` to `mailbox` (an API upload): encrypted
    /// as [`should_encrypt`] says for the mailbox's owner and the mailbox.
    pub async fn sealed_for_mailbox(
        &self,
        mailbox: &Mailbox,
        flags: &Flags,
        raw: Vec<u8>,
    ) -> Result<Vec<u8>> {
        let settings = self.backend().user_profile(mailbox.user).await?.encryption;
        if settings.pub_key.is_none() {
            return Ok(raw);
        }
        let encrypted_mailbox = self.mailbox_encrypted(mailbox.id).await?;
        sealed(
            &settings,
            encrypted_mailbox,
            flags.contains(&Flag::Draft),
            raw,
        )
        .await
    }
}

fn invalid_key(err: impl std::fmt::Display) -> crate::error::Error {
    UserError::InvalidKey(err.to_string()).into()
}

/// WildDuck's leniency: line breaks normalized, and the blank line after the armor's first
/// line added when a client dropped it.
fn read_key(armored: &str) -> Result<SignedPublicKey> {
    let mut text = armored.replace("\r\n", "\n").trim().to_string();
    if text.starts_with("-----") && !text.contains("\n\n") {
        text = text.replacen('\n', "\n\n", 1);
    }
    let (key, _headers) =
        SignedPublicKey::from_armor_single(Cursor::new(text.as_bytes())).map_err(invalid_key)?;
    key.verify_bindings().map_err(invalid_key)?;
    Ok(key)
}

/// The key a message is encrypted to.
enum Recipient<'a> {
    Primary(&'a SignedPublicKey),
    Subkey(&'a SignedPublicSubKey),
}

/// The newest valid encryption subkey, else the primary key when it may encrypt.
fn encryption_key(key: &SignedPublicKey, now: Timestamp) -> Result<Recipient<'_>> {
    let unusable = || {
        invalid_key(format!(
            "Could not find valid encryption key packet in key {}",
            key.legacy_key_id()
        ))
    };
    if !key.details.revocation_signatures.is_empty() {
        return Err(unusable());
    }
    let primary_binding = key
        .details
        .users
        .iter()
        .flat_map(|user| &user.signatures)
        .max_by_key(|sig| sig.created().map(Timestamp::as_secs));
    if primary_binding.is_some_and(|sig| expired(key.created_at(), sig, now)) {
        return Err(unusable());
    }
    let subkey = key
        .public_subkeys
        .iter()
        .filter(|subkey| subkey.algorithm().can_encrypt())
        .filter_map(|subkey| {
            let revoked = subkey
                .signatures
                .iter()
                .any(|sig| sig.typ() == Some(SignatureType::SubkeyRevocation));
            let binding = subkey
                .signatures
                .iter()
                .filter(|sig| sig.typ() == Some(SignatureType::SubkeyBinding))
                .max_by_key(|sig| sig.created().map(Timestamp::as_secs))?;
            let flags = binding.key_flags();
            let usable = !revoked
                && (flags.encrypt_comms() || flags.encrypt_storage())
                && !expired(subkey.created_at(), binding, now);
            usable.then_some((subkey.created_at().as_secs(), subkey))
        })
        .max_by_key(|(created, _)| *created);
    if let Some((_, subkey)) = subkey {
        return Ok(Recipient::Subkey(subkey));
    }
    let primary_may_encrypt = primary_binding.is_none_or(|sig| {
        let flags = sig.key_flags();
        flags.encrypt_comms() || flags.encrypt_storage() || !flags.sign()
    });
    if key.algorithm().can_encrypt() && primary_may_encrypt {
        return Ok(Recipient::Primary(key));
    }
    Err(unusable())
}

/// A key expires `key_expiration_time` after its own creation (0 or absent: never).
fn expired(created: Timestamp, binding: &Signature, now: Timestamp) -> bool {
    match binding
        .key_expiration_time()
        .map(|valid_for| valid_for.as_secs())
    {
        Some(valid_for) if valid_for > 0 => {
            u64::from(created.as_secs()) + u64::from(valid_for) <= u64::from(now.as_secs())
        }
        _ => false,
    }
}

/// An armored OpenPGP message (SEIPD v1, AES-256: what every OpenPGP reader takes) holding
/// `plain` as binary literal data, with CRLF line breaks as the rest of a stored message.
fn encrypt(recipient: &Recipient<'_>, plain: Vec<u8>) -> pgp::errors::Result<String> {
    let mut rng = rand08::thread_rng();
    let mut builder =
        MessageBuilder::from_bytes("", plain).seipd_v1(&mut rng, SymmetricKeyAlgorithm::AES256);
    match recipient {
        Recipient::Primary(key) => builder.encrypt_to_key(&mut rng, key)?,
        Recipient::Subkey(key) => builder.encrypt_to_key(&mut rng, key)?,
    };
    let armored = builder.to_armored_string(&mut rng, ArmorOptions::default())?;
    Ok(armored
        .trim_end()
        .replace("\r\n", "\n")
        .replace('\n', "\r\n"))
}

/// `Name <address>` (or a bare address, or a bare name) as a user id usually is.
fn split_user_id(user_id: &str) -> (String, String) {
    let user_id = user_id.trim();
    match (user_id.rfind('<'), user_id.ends_with('>')) {
        (Some(open), true) => {
            let name = user_id[..open].trim().trim_matches('"').trim().to_string();
            let address = user_id[open + 1..user_id.len() - 1].trim().to_lowercase();
            (name, address)
        }
        _ if user_id.contains('@') && !user_id.contains(' ') => {
            (String::new(), user_id.to_lowercase())
        }
        _ => (user_id.to_string(), String::new()),
    }
}

/// A message cut where its header ends.
struct SplitMessage<'a> {
    /// Header fields, each with its continuation lines (line breaks removed).
    fields: Vec<Vec<&'a [u8]>>,
    /// The line breaks between the header and the body, as received.
    breaker: &'a [u8],
    body: &'a [u8],
}

fn split_message(raw: &[u8]) -> SplitMessage<'_> {
    // The first line break followed by an empty line ends the header.
    let end = (0..raw.len()).find(|&i| {
        raw[i] == b'\n' && (raw[i + 1..].starts_with(b"\n") || raw[i + 1..].starts_with(b"\r\n"))
    });
    let (header, breaker, body) = match end {
        Some(i) => {
            let header_end = if i > 0 && raw[i - 1] == b'\r' {
                i - 1
            } else {
                i
            };
            let body_start = if raw[i + 1] == b'\n' { i + 2 } else { i + 3 };
            (
                &raw[..header_end],
                &raw[header_end..body_start],
                &raw[body_start..],
            )
        }
        None => (raw, &raw[raw.len()..], &raw[raw.len()..]),
    };
    let mut fields: Vec<Vec<&[u8]>> = Vec::new();
    for line in header.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match (line.first(), fields.last_mut()) {
            (Some(b' ' | b'\t'), Some(field)) => field.push(line),
            _ => fields.push(vec![line]),
        }
    }
    SplitMessage {
        fields,
        breaker,
        body,
    }
}

/// The lower-cased name of a header field.
fn field_name(field: &[&[u8]]) -> String {
    let first = field.first().copied().unwrap_or_default();
    let name = first.split(|&b| b == b':').next().unwrap_or_default();
    String::from_utf8_lossy(name).trim().to_ascii_lowercase()
}

/// Header fields that describe the body: they go inside the encrypted part.
fn describes_body(field: &[&[u8]]) -> bool {
    matches!(
        field_name(field).as_str(),
        "content-type" | "content-transfer-encoding"
    )
}

impl SplitMessage<'_> {
    fn is_encrypted(&self) -> bool {
        self.fields.iter().any(|field| {
            if field_name(field) != "content-type" {
                return false;
            }
            let value: Vec<u8> = field.concat();
            let value = String::from_utf8_lossy(&value).to_ascii_lowercase();
            let value = value.split_once(':').map_or("", |(_, value)| value);
            value.split(';').next().unwrap_or_default().trim() == "multipart/encrypted"
        })
    }

    /// What is encrypted: the body's own header fields, a blank line, the body.
    fn inner_entity(&self) -> Vec<u8> {
        let mut inner = Vec::with_capacity(self.body.len() + 256);
        for field in self.fields.iter().filter(|field| describes_body(field)) {
            inner.extend_from_slice(&field.join(&b"\r\n"[..]));
            inner.extend_from_slice(b"\r\n");
        }
        inner.extend_from_slice(b"\r\n");
        inner.extend_from_slice(self.body);
        inner
    }

    /// The stored message: the other header fields, WildDuck's `multipart/encrypted` ones, and
    /// the two parts of RFC 3156 (the version part and the armored `encrypted.asc`).
    fn pgp_mime(&self, armored: &str) -> Vec<u8> {
        let boundary = format!("nm_{}", hex(&rand::random::<[u8; 14]>()));
        let mut out = Vec::with_capacity(armored.len() + 1024);
        for field in self.fields.iter().filter(|field| !describes_body(field)) {
            out.extend_from_slice(&field.join(&b"\r\n"[..]));
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(
            format!(
                "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\";\r\n \
                 boundary=\"{boundary}\"\r\n\
                 Content-Description: OpenPGP encrypted message\r\n\
                 Content-Transfer-Encoding: 7bit"
            )
            .as_bytes(),
        );
        out.extend_from_slice(if self.breaker.is_empty() {
            b"\r\n\r\n"
        } else {
            self.breaker
        });
        out.extend_from_slice(
            format!(
                "This is an OpenPGP/MIME encrypted message\r\n\r\n\
                 --{boundary}\r\n\
                 Content-Type: application/pgp-encrypted\r\n\
                 Content-Transfer-Encoding: 7bit\r\n\
                 \r\n\
                 Version: 1\r\n\
                 \r\n\
                 --{boundary}\r\n\
                 Content-Type: application/octet-stream; name=encrypted.asc\r\n\
                 Content-Disposition: inline; filename=encrypted.asc\r\n\
                 Content-Transfer-Encoding: 7bit\r\n\
                 \r\n\
                 {armored}\r\n\
                 --{boundary}--\r\n"
            )
            .as_bytes(),
        );
        out
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_and_its_fields_are_split_from_the_other_fields() {
        let raw = b"Subject: hi\r\nContent-Type: text/plain;\r\n charset=utf-8\r\nFrom: a@b\r\n\r\nbody\r\n";
        let message = split_message(raw);
        assert_eq!(
            message.inner_entity(),
            b"Content-Type: text/plain;\r\n charset=utf-8\r\n\r\nbody\r\n"
        );
        assert_eq!(message.breaker, b"\r\n\r\n");
        let stored = message.pgp_mime("ARMOR");
        let text = String::from_utf8(stored).unwrap();
        assert!(text.starts_with("Subject: hi\r\nFrom: a@b\r\nContent-Type: multipart/encrypted;"));
        assert!(text.contains("\r\n\r\nThis is an OpenPGP/MIME encrypted message\r\n"));
        assert!(text.contains("\r\n\r\nARMOR\r\n--nm_"));
        assert!(!text.contains("text/plain"));
    }

    #[test]
    fn encrypted_messages_and_bare_lf_headers_are_recognized() {
        let raw = b"Subject: x\nContent-Type: Multipart/Encrypted; protocol=x\n\nbody";
        let message = split_message(raw);
        assert!(message.is_encrypted());
        assert_eq!(message.breaker, b"\n\n");
        assert_eq!(message.body, b"body");
        assert!(
            !split_message(b"Subject: x\r\n\r\nContent-Type: multipart/encrypted\r\n")
                .is_encrypted()
        );
    }

    #[test]
    fn a_message_without_a_body_keeps_all_its_header() {
        let message = split_message(b"Subject: only");
        assert_eq!(message.fields, vec![vec![&b"Subject: only"[..]]]);
        assert!(message.body.is_empty());
    }

    #[test]
    fn user_ids_split_into_name_and_address() {
        assert_eq!(
            split_user_id("Wild Duck <Test@WildDuck.email>"),
            ("Wild Duck".into(), "test@wildduck.email".into())
        );
        assert_eq!(split_user_id("a@b.c"), (String::new(), "a@b.c".into()));
        assert_eq!(
            split_user_id("Just a name"),
            ("Just a name".into(), String::new())
        );
    }

    #[test]
    fn garbage_is_not_a_key() {
        let err = key_info(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\nnonsense\n-----END PGP PUBLIC KEY BLOCK-----",
        )
        .unwrap_err();
        assert!(
            matches!(err, crate::error::Error::User(UserError::InvalidKey(_))),
            "{err}"
        );
    }
}
