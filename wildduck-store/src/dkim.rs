//! DKIM keys and signing (RFC 6376; Ed25519 as RFC 8463).
//!
//! One key per signing domain, as WildDuck keeps them: setting a key for a domain that has
//! one replaces it under the same id. Without a private key given, a 2048-bit RSA key is
//! generated. The private key is stored (PKCS#8 PEM) and never shown; the public key, its
//! fingerprint and the DNS record to publish are.
//!
//! [`DkimSigner`] signs outgoing mail with `relaxed/relaxed` canonicalization over the
//! headers WildDuck's signer covers that the message has; the relay asks
//! [`Store::dkim_signer`] for the key of the sender's domain.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::backend::{RegistryEntry, RegistryKind, now};
use crate::domains::normalize_domain;
use crate::error::{RegistryError, Result};
use crate::keys::{PrivateKey, fingerprint};
use crate::model::{RecordId, Timestamp};
use crate::store::{Store, blocking};

const KIND: RegistryKind = RegistryKind::Dkim;
const MAX_SELECTOR_CHARS: usize = 255;

/// A DKIM key as shown: everything but the private key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DkimKey {
    pub id: RecordId,
    pub domain: String,
    pub selector: String,
    pub description: Option<String>,
    pub fingerprint: String,
    /// SubjectPublicKeyInfo, PEM.
    pub public_key: String,
    /// `selector._domainkey.domain`.
    pub dns_name: String,
    /// The TXT record's value: `v=DKIM1;…;p=…`.
    pub dns_value: String,
    pub created: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct DkimBody {
    selector: String,
    description: Option<String>,
    /// PKCS#8 PEM.
    private_key: String,
    fingerprint: String,
    public_key: String,
    dns_value: String,
    created: Timestamp,
}

fn key_from(entry: &RegistryEntry) -> Result<(DkimKey, String)> {
    let body: DkimBody = serde_json::from_str(&entry.body).map_err(|e| {
        crate::error::Error::from(crate::error::Defect::Malformed {
            what: "DKIM key",
            detail: e.to_string(),
        })
    })?;
    let key = DkimKey {
        id: entry.id,
        dns_name: format!("{}._domainkey.{}", body.selector, entry.key),
        domain: entry.key.clone(),
        selector: body.selector,
        description: body.description,
        fingerprint: body.fingerprint,
        public_key: body.public_key,
        dns_value: body.dns_value,
        created: body.created,
    };
    Ok((key, body.private_key))
}

fn invalid(why: impl Into<String>) -> crate::error::Error {
    RegistryError::Invalid(KIND, why.into()).into()
}

/// A DKIM selector: one or more DNS labels.
fn check_selector(selector: &str) -> Result<()> {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if selector.chars().count() > MAX_SELECTOR_CHARS || !selector.split('.').all(label_ok) {
        return Err(invalid(format!("{selector:?} is not a selector")));
    }
    Ok(())
}

/// What is needed to set a domain's key.
pub struct NewDkimKey {
    pub domain: String,
    pub selector: String,
    pub description: Option<String>,
    /// PEM or a raw Ed25519 seed; `None` generates an RSA key.
    pub private_key: Option<String>,
}

impl Store {
    /// Sets the key of a domain (replacing its key, if any, under the same id). Returns the
    /// key and whether it was new.
    pub async fn set_dkim_key(&self, new: NewDkimKey) -> Result<(DkimKey, bool)> {
        let domain = normalize_domain(&new.domain).map_err(invalid)?;
        let selector = new.selector.trim().to_string();
        check_selector(&selector)?;
        let given = new.private_key.filter(|text| !text.trim().is_empty());
        let key = blocking(move || {
            match given {
                Some(text) => PrivateKey::parse(&text),
                None => PrivateKey::generate_rsa(),
            }
            .map_err(invalid)
        })
        .await?;
        let spki = key
            .spki_der()
            .ok_or_else(|| invalid("DKIM keys are RSA or Ed25519"))?;
        let dns_value = match key {
            // RFC 8463: the bare 32-byte key, and the key type named.
            PrivateKey::Ed25519 { .. } => format!(
                "v=DKIM1;k=ed25519;t=s;p={}",
                BASE64.encode(key.public_key_bits())
            ),
            _ => format!("v=DKIM1;t=s;p={}", BASE64.encode(&spki)),
        };
        let body = DkimBody {
            selector,
            description: new.description.filter(|text| !text.is_empty()),
            private_key: key.to_pem(),
            fingerprint: fingerprint(&spki),
            public_key: crate::keys::pem_encode("PUBLIC KEY", &spki),
            dns_value,
            created: now(),
        };
        let entry = RegistryEntry {
            id: RecordId::new(),
            key: domain,
            body: serde_json::to_string(&body).expect("a plain struct"),
        };
        let (id, created) = self.backend().upsert_entry(KIND, entry.clone()).await?;
        let (key, _) = key_from(&RegistryEntry { id, ..entry })?;
        Ok((key, created))
    }

    /// Every DKIM key, sorted by domain.
    pub async fn list_dkim_keys(&self) -> Result<Vec<DkimKey>> {
        let entries = self.backend().list_entries(KIND).await?;
        entries
            .iter()
            .map(|e| key_from(e).map(|(key, _)| key))
            .collect()
    }

    pub async fn get_dkim_key(&self, id: RecordId) -> Result<DkimKey> {
        match self.backend().entry_by_id(KIND, id).await? {
            Some(entry) => Ok(key_from(&entry)?.0),
            None => Err(RegistryError::NotFound(KIND).into()),
        }
    }

    /// The key of a domain.
    pub async fn resolve_dkim_key(&self, domain: &str) -> Result<DkimKey> {
        let domain = normalize_domain(domain).map_err(|_| RegistryError::NotFound(KIND))?;
        match self.backend().entry_by_key(KIND, &domain).await? {
            Some(entry) => Ok(key_from(&entry)?.0),
            None => Err(RegistryError::NotFound(KIND).into()),
        }
    }

    pub async fn delete_dkim_key(&self, id: RecordId) -> Result<()> {
        self.delete_registry_entry(KIND, id).await
    }

    /// The signer of the domain of `address` (the part after the last `@`), if the domain
    /// has a key.
    pub async fn dkim_signer(&self, address: &str) -> Result<Option<DkimSigner>> {
        let Some((_, domain)) = address.rsplit_once('@') else {
            return Ok(None);
        };
        let Ok(domain) = normalize_domain(domain) else {
            return Ok(None);
        };
        let Some(entry) = self.backend().entry_by_key(KIND, &domain).await? else {
            return Ok(None);
        };
        let (key, private_key) = key_from(&entry)?;
        // Only RSA and Ed25519 keys are stored (`set_dkim_key`); anything else is damage.
        let private_key = PrivateKey::parse(&private_key)
            .and_then(|key| match key {
                PrivateKey::Ecdsa { .. } => Err("an ECDSA key".to_string()),
                key => Ok(key),
            })
            .map_err(|why| {
                crate::error::Error::from(crate::error::Defect::Malformed {
                    what: "stored DKIM key",
                    detail: why,
                })
            })?;
        // The d= tag is ASCII: an internationalized domain signs as its A-label.
        let domain = idna::domain_to_ascii(&key.domain).unwrap_or(key.domain);
        Ok(Some(DkimSigner {
            domain,
            selector: key.selector,
            key: private_key,
        }))
    }
}

/// Header fields signed when present, as WildDuck's (ZoneMTA's) signer lists them.
const SIGNED_HEADERS: &[&str] = &[
    "from",
    "sender",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "to",
    "cc",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-id",
    "content-description",
    "resent-date",
    "resent-from",
    "resent-sender",
    "resent-to",
    "resent-cc",
    "resent-message-id",
    "in-reply-to",
    "references",
    "list-id",
    "list-help",
    "list-unsubscribe",
    "list-subscribe",
    "list-post",
    "list-owner",
    "list-archive",
];

/// Signs messages for one domain.
pub struct DkimSigner {
    domain: String,
    selector: String,
    key: PrivateKey,
}

impl DkimSigner {
    /// The `DKIM-Signature` header field (with its CRLF) to put in front of `message`,
    /// signed at time `at`.
    pub fn signature_header(&self, message: &[u8], at: Timestamp) -> String {
        let (head, body) = split_message(message);
        let body_hash = BASE64.encode(sha2::Sha256::digest(relaxed_body(body)));
        let fields = header_fields(head);
        // RFC 6376 §5.4.2: several instances of a field are signed from the bottom up.
        let mut signed = Vec::new();
        let mut names = Vec::new();
        for name in SIGNED_HEADERS {
            for field in fields
                .iter()
                .rev()
                .filter(|f| f.0.eq_ignore_ascii_case(name))
            {
                signed.push(field);
                names.push(*name);
            }
        }
        let algorithm = match self.key {
            PrivateKey::Ed25519 { .. } => "ed25519-sha256",
            _ => "rsa-sha256",
        };
        let unsigned = format!(
            "DKIM-Signature: v=1; a={algorithm}; c=relaxed/relaxed; d={}; s={};\r\n\tt={at}; bh={body_hash};\r\n\th={};\r\n\tb=",
            self.domain,
            self.selector,
            names.join(":")
        );
        let mut data = Vec::new();
        for (name, value) in signed {
            data.extend_from_slice(relaxed_header(name, value).as_bytes());
            data.extend_from_slice(b"\r\n");
        }
        let (name, value) = unsigned.split_once(':').expect("the header has a colon");
        data.extend_from_slice(relaxed_header(name, value).as_bytes());
        let signature = match &self.key {
            PrivateKey::Rsa(key) => {
                use rsa::signature::{SignatureEncoding, Signer};
                let signer = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new((**key).clone());
                signer.sign(&data).to_vec()
            }
            PrivateKey::Ed25519 { pair, .. } => {
                pair.sign(&sha2::Sha256::digest(&data)).as_ref().to_vec()
            }
            PrivateKey::Ecdsa { .. } => unreachable!("dkim_signer refuses ECDSA keys"),
        };
        format!("{unsigned}{}\r\n", BASE64.encode(signature))
    }
}

/// The header block (with its last line's end) and the body after the empty line.
fn split_message(message: &[u8]) -> (&[u8], &[u8]) {
    for (separator, head_end) in [(&b"\r\n\r\n"[..], 2), (&b"\n\n"[..], 1)] {
        if let Some(at) = memchr::memmem::find(message, separator) {
            return (&message[..at + head_end], &message[at + separator.len()..]);
        }
    }
    (message, &[])
}

/// The header fields as (name, value with its folding), in order.
fn header_fields(head: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(head);
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.1.push_str("\r\n");
                last.1.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.to_string(), value.to_string()));
        }
    }
    fields
}

/// RFC 6376 §3.4.2: the name lower-cased, the value unfolded, whitespace runs made one
/// space, no whitespace around the colon or at the end.
fn relaxed_header(name: &str, value: &str) -> String {
    let unfolded = value.replace(['\r', '\n'], "");
    let value = collapse_whitespace(&unfolded);
    format!(
        "{}:{}",
        name.trim_end().to_ascii_lowercase(),
        value.trim_matches(' ')
    )
}

fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_space = false;
    for c in text.chars() {
        if c == ' ' || c == '\t' {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
    out
}

/// RFC 6376 §3.4.4: whitespace runs made one space, none at line ends, no empty lines at
/// the end, every line ended by CRLF.
fn relaxed_body(body: &[u8]) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut out = Vec::with_capacity(line.len());
        let mut in_space = false;
        for &b in line {
            if b == b' ' || b == b'\t' {
                in_space = true;
            } else {
                if in_space {
                    out.push(b' ');
                }
                out.push(b);
                in_space = false;
            }
        }
        lines.push(out);
    }
    while lines.last().is_some_and(|line| line.is_empty()) {
        lines.pop();
    }
    let mut canonical = Vec::with_capacity(body.len());
    for line in lines {
        canonical.extend_from_slice(&line);
        canonical.extend_from_slice(b"\r\n");
    }
    canonical
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relaxed_body_follows_rfc_6376_examples() {
        // RFC 6376 §3.4.6 example, relaxed body.
        let body = b" C \r\nD \t E\r\n\r\n\r\n";
        assert_eq!(relaxed_body(body), b" C\r\nD E\r\n");
        assert_eq!(relaxed_body(b""), b"");
        assert_eq!(relaxed_body(b"\r\n\r\n"), b"");
    }

    #[test]
    fn relaxed_header_follows_rfc_6376_examples() {
        assert_eq!(relaxed_header("A", " X"), "a:X");
        assert_eq!(relaxed_header("B ", " Y\t\r\n\tZ  "), "b:Y Z");
    }

    #[test]
    fn header_fields_keep_their_folding_and_order() {
        let (head, body) = split_message(b"From: a@x\r\nSubject: one\r\n two\r\n\r\nbody");
        assert_eq!(body, b"body");
        let fields = header_fields(head);
        assert_eq!(fields[1], ("Subject".into(), " one\r\n two".into()));
    }

    #[test]
    fn selectors_are_dns_labels() {
        assert!(check_selector("wildduck").is_ok());
        assert!(check_selector("s1.2024").is_ok());
        assert!(check_selector("").is_err());
        assert!(check_selector("bad selector").is_err());
    }
}
