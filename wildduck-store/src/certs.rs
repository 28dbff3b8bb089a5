//! TLS certificates for the listeners, kept by server name as WildDuck keeps them.
//!
//! A certificate is stored with its private key (PKCS#8 PEM, never shown), the chain as
//! given, and what is read from the leaf: the names it covers (DNS subject alternative
//! names, else the subject's common name), its expiry and, as WildDuck, the fingerprint of
//! the private key.
//! The private key must be the leaf's (checked by comparing public keys). Setting a
//! certificate for a server name that has one replaces it under the same id. An expired
//! certificate is accepted (WildDuck's own suite stores one); it is shown with its expiry.

use serde::{Deserialize, Serialize};
use x509_parser::extensions::GeneralName;

use crate::backend::{RegistryEntry, RegistryKind, now};
use crate::domains::normalize_domain;
use crate::error::{RegistryError, Result};
use crate::keys::{PrivateKey, fingerprint, pem_blocks};
use crate::model::{RecordId, Timestamp};
use crate::store::Store;

const KIND: RegistryKind = RegistryKind::Cert;

/// A certificate as shown: everything but the private key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    pub id: RecordId,
    pub servername: String,
    pub description: Option<String>,
    pub fingerprint: String,
    pub expires: Timestamp,
    pub alt_names: Vec<String>,
    pub created: Timestamp,
    pub updated: Timestamp,
}

/// A certificate as a TLS listener needs it: the names it may be served for (the server
/// name and the leaf's names, `*.domain` for wildcards), the PEM chain, leaf first, and the
/// PKCS#8 PEM private key.
pub struct ListenerCertificate {
    pub names: Vec<String>,
    pub chain: String,
    pub private_key: String,
}

/// What is needed to set a server name's certificate.
pub struct NewCertificate {
    /// Taken from the certificate (its common name, else its first name) when `None`.
    pub servername: Option<String>,
    pub description: Option<String>,
    pub private_key: String,
    /// The leaf first, then any intermediates, PEM.
    pub cert: String,
    /// More intermediates, PEM.
    pub ca: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct CertBody {
    description: Option<String>,
    /// PKCS#8 PEM.
    private_key: String,
    /// The chain, PEM, leaf first.
    chain: String,
    fingerprint: String,
    expires: Timestamp,
    alt_names: Vec<String>,
    created: Timestamp,
    updated: Timestamp,
}

fn invalid(why: impl Into<String>) -> crate::error::Error {
    RegistryError::Invalid(KIND, why.into()).into()
}

fn decode(entry: &RegistryEntry) -> Result<CertBody> {
    serde_json::from_str(&entry.body).map_err(|e| {
        crate::error::Defect::Malformed {
            what: "certificate",
            detail: e.to_string(),
        }
        .into()
    })
}

fn shown(entry: &RegistryEntry, body: &CertBody) -> Certificate {
    Certificate {
        id: entry.id,
        servername: entry.key.clone(),
        description: body.description.clone(),
        fingerprint: body.fingerprint.clone(),
        expires: body.expires,
        alt_names: body.alt_names.clone(),
        created: body.created,
        updated: body.updated,
    }
}

/// What the leaf says: its names (normalized), its common name, expiry, public key bits.
struct Leaf {
    alt_names: Vec<String>,
    common_name: Option<String>,
    expires: Timestamp,
    public_key_bits: Vec<u8>,
}

fn read_leaf(der: &[u8]) -> std::result::Result<Leaf, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("the certificate can not be parsed: {e}"))?;
    let normalize = |name: &str| {
        normalize_domain(name.trim_start_matches("*."))
            .ok()
            .map(|d| {
                if name.starts_with("*.") {
                    format!("*.{d}")
                } else {
                    d
                }
            })
    };
    let mut alt_names: Vec<String> = cert
        .subject_alternative_name()
        .map_err(|e| format!("bad subjectAltName: {e}"))?
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(dns) => normalize(dns),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .and_then(normalize);
    if alt_names.is_empty() {
        alt_names.extend(common_name.clone());
    }
    let spki = cert.public_key();
    Ok(Leaf {
        alt_names,
        common_name,
        expires: cert.validity().not_after.timestamp(),
        public_key_bits: spki.subject_public_key.data.to_vec(),
    })
}

/// WildDuck's certificate fingerprint (`key-fingerprint` of the private key): SHA-256 of the
/// key's DER as given, PKCS#1 or PKCS#8; of its PKCS#8 form when it came as a raw seed.
fn key_fingerprint(given: &str, key: &PrivateKey) -> String {
    ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"]
        .iter()
        .find_map(|label| pem_blocks(given, label).into_iter().next())
        .or_else(|| pem_blocks(&key.to_pem(), "PRIVATE KEY").into_iter().next())
        .map_or_else(String::new, |der| fingerprint(&der))
}

impl Store {
    /// Sets the certificate of a server name (replacing its certificate, if any, under the
    /// same id). Returns it and whether it was new.
    pub async fn set_certificate(&self, new: NewCertificate) -> Result<(Certificate, bool)> {
        let chain_ders = pem_blocks(&new.cert, "CERTIFICATE");
        let leaf_der = chain_ders
            .first()
            .ok_or_else(|| invalid("the certificate is not PEM"))?;
        let leaf = read_leaf(leaf_der).map_err(invalid)?;
        let key = PrivateKey::parse(&new.private_key).map_err(invalid)?;
        if key.public_key_bits() != leaf.public_key_bits {
            return Err(invalid(
                "the private key does not belong to the certificate",
            ));
        }
        let mut chain = new.cert.trim().to_string();
        for extra in &new.ca {
            if pem_blocks(extra, "CERTIFICATE").is_empty() {
                return Err(invalid("a CA certificate is not PEM"));
            }
            chain.push('\n');
            chain.push_str(extra.trim());
        }
        let servername = match new.servername.filter(|name| !name.trim().is_empty()) {
            Some(name) => normalize_domain(&name).map_err(invalid)?,
            None => leaf
                .common_name
                .clone()
                .or_else(|| leaf.alt_names.first().cloned())
                .ok_or_else(|| invalid("Invalid or missing servername"))?,
        };
        let at = now();
        let created = self
            .backend()
            .entry_by_key(KIND, &servername)
            .await?
            .map(|entry| decode(&entry).map(|body| body.created))
            .transpose()?
            .unwrap_or(at);
        let alt_names = if leaf.alt_names.is_empty() {
            vec![servername.clone()]
        } else {
            leaf.alt_names
        };
        let body = CertBody {
            description: new.description.filter(|text| !text.is_empty()),
            private_key: key.to_pem(),
            chain,
            fingerprint: key_fingerprint(&new.private_key, &key),
            expires: leaf.expires,
            alt_names,
            created,
            updated: at,
        };
        let entry = RegistryEntry {
            id: RecordId::new(),
            key: servername,
            body: serde_json::to_string(&body).expect("a plain struct"),
        };
        let (id, is_new) = self.backend().upsert_entry(KIND, entry.clone()).await?;
        Ok((shown(&RegistryEntry { id, ..entry }, &body), is_new))
    }

    /// Every certificate, sorted by server name.
    pub async fn list_certificates(&self) -> Result<Vec<Certificate>> {
        let entries = self.backend().list_entries(KIND).await?;
        entries
            .iter()
            .map(|entry| Ok(shown(entry, &decode(entry)?)))
            .collect()
    }

    pub async fn get_certificate(&self, id: RecordId) -> Result<Certificate> {
        match self.backend().entry_by_id(KIND, id).await? {
            Some(entry) => Ok(shown(&entry, &decode(&entry)?)),
            None => Err(RegistryError::NotFound(KIND).into()),
        }
    }

    /// The certificate stored for a server name.
    pub async fn resolve_certificate(&self, servername: &str) -> Result<Certificate> {
        let name = normalize_domain(servername).map_err(|_| RegistryError::NotFound(KIND))?;
        match self.backend().entry_by_key(KIND, &name).await? {
            Some(entry) => Ok(shown(&entry, &decode(&entry)?)),
            None => Err(RegistryError::NotFound(KIND).into()),
        }
    }

    /// Every unexpired certificate with its key, for the listeners to pick by the name a
    /// client asks for (SNI). An expired one is left out, so such a client gets the
    /// configured default instead of a certificate it must refuse.
    pub async fn listener_certificates(&self) -> Result<Vec<ListenerCertificate>> {
        let at = now();
        let mut certificates = Vec::new();
        for entry in self.backend().list_entries(KIND).await? {
            let body = decode(&entry)?;
            if body.expires <= at {
                continue;
            }
            let mut names = vec![entry.key.clone()];
            names.extend(body.alt_names.into_iter().filter(|name| *name != entry.key));
            certificates.push(ListenerCertificate {
                names,
                chain: body.chain,
                private_key: body.private_key,
            });
        }
        Ok(certificates)
    }

    pub async fn delete_certificate(&self, id: RecordId) -> Result<()> {
        self.delete_registry_entry(KIND, id).await
    }
}
