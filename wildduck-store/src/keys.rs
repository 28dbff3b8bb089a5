//! Private keys as operators hand them over (DKIM keys, the keys of TLS certificates): PEM
//! in PKCS#1 (`RSA PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`), or an Ed25519 seed as 44
//! characters of base64 (WildDuck's raw form). Kept as PKCS#8 DER whatever the input.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair,
};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;

/// The PKCS#8 header of an Ed25519 key (RFC 8410), before its 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// The SubjectPublicKeyInfo header of an Ed25519 key, before its 32 bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
/// RSA keys shorter than this are refused (WildDuck's own suite uses a 1024-bit key).
const MIN_RSA_BITS: usize = 1024;

pub(crate) enum PrivateKey {
    Rsa(Box<rsa::RsaPrivateKey>),
    Ed25519 {
        pkcs8: Vec<u8>,
        pair: Ed25519KeyPair,
    },
    Ecdsa {
        pkcs8: Vec<u8>,
        pair: EcdsaKeyPair,
    },
}

impl PrivateKey {
    /// Reads a key in any of the accepted forms; the message says why one is refused.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.len() == 44
            && let Ok(seed) = BASE64.decode(text)
            && seed.len() == 32
        {
            return Self::from_pkcs8([&ED25519_PKCS8_PREFIX[..], &seed].concat());
        }
        if let Ok(rsa) = rsa::RsaPrivateKey::from_pkcs1_pem(text) {
            return Self::rsa(rsa);
        }
        let pem = pem_block(text, "PRIVATE KEY")
            .ok_or("the key is not a PEM private key (PKCS#1 or PKCS#8)")?;
        Self::from_pkcs8(pem)
    }

    /// A new 2048-bit RSA key, as WildDuck generates DKIM keys.
    pub fn generate_rsa() -> Result<Self, String> {
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
            .map_err(|e| format!("key generation failed: {e}"))?;
        Self::rsa(key)
    }

    fn rsa(key: rsa::RsaPrivateKey) -> Result<Self, String> {
        if key.size() * 8 < MIN_RSA_BITS {
            return Err(format!("RSA keys need at least {MIN_RSA_BITS} bits"));
        }
        key.validate()
            .map_err(|e| format!("invalid RSA key: {e}"))?;
        Ok(PrivateKey::Rsa(Box::new(key)))
    }

    fn from_pkcs8(der: Vec<u8>) -> Result<Self, String> {
        if let Ok(rsa) = rsa::RsaPrivateKey::from_pkcs8_der(&der) {
            return Self::rsa(rsa);
        }
        if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der) {
            return Ok(PrivateKey::Ed25519 { pkcs8: der, pair });
        }
        let rng = SystemRandom::new();
        for algorithm in [
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            &ECDSA_P384_SHA384_ASN1_SIGNING,
        ] {
            if let Ok(pair) = EcdsaKeyPair::from_pkcs8(algorithm, &der, &rng) {
                return Ok(PrivateKey::Ecdsa { pkcs8: der, pair });
            }
        }
        Err("unsupported or damaged private key (RSA, Ed25519, ECDSA P-256/P-384)".into())
    }

    /// The key as PKCS#8 PEM, the form it is stored in.
    pub fn to_pem(&self) -> String {
        match self {
            PrivateKey::Rsa(key) => key
                .to_pkcs8_pem(LineEnding::LF)
                .map(|pem| pem.to_string())
                .unwrap_or_default(),
            PrivateKey::Ed25519 { pkcs8, .. } | PrivateKey::Ecdsa { pkcs8, .. } => {
                pem_encode("PRIVATE KEY", pkcs8)
            }
        }
    }

    /// The public key as the contents of a SubjectPublicKeyInfo's BIT STRING: what a
    /// certificate carries for it.
    pub fn public_key_bits(&self) -> Vec<u8> {
        match self {
            PrivateKey::Rsa(key) => key
                .to_public_key()
                .to_pkcs1_der()
                .map(|der| der.as_bytes().to_vec())
                .unwrap_or_default(),
            PrivateKey::Ed25519 { pair, .. } => pair.public_key().as_ref().to_vec(),
            PrivateKey::Ecdsa { pair, .. } => pair.public_key().as_ref().to_vec(),
        }
    }

    /// The public key's SubjectPublicKeyInfo DER (RSA and Ed25519; `None` for ECDSA, which
    /// DKIM does not use).
    pub fn spki_der(&self) -> Option<Vec<u8>> {
        match self {
            PrivateKey::Rsa(key) => key
                .to_public_key()
                .to_public_key_der()
                .ok()
                .map(|der| der.as_bytes().to_vec()),
            PrivateKey::Ed25519 { pair, .. } => {
                Some([&ED25519_SPKI_PREFIX[..], pair.public_key().as_ref()].concat())
            }
            PrivateKey::Ecdsa { .. } => None,
        }
    }
}

/// The DER inside the first PEM block with this label.
pub(crate) fn pem_block(text: &str, label: &str) -> Option<Vec<u8>> {
    pem_blocks(text, label).into_iter().next()
}

/// The DER of every PEM block with this label, in order.
pub(crate) fn pem_blocks(text: &str, label: &str) -> Vec<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let after = &rest[start + begin.len()..];
        let Some(stop) = after.find(&end) else { break };
        let body: String = after[..stop]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if let Ok(der) = BASE64.decode(body) {
            blocks.push(der);
        }
        rest = &after[stop + end.len()..];
    }
    blocks
}

pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = BASE64.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

/// SHA-256 of `bytes` as colon-separated lower-case hex pairs, as WildDuck shows
/// fingerprints.
pub(crate) fn fingerprint(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_ed25519_seed_becomes_pkcs8() {
        let key = PrivateKey::parse("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=").unwrap();
        assert!(matches!(key, PrivateKey::Ed25519 { .. }));
        let again = PrivateKey::parse(&key.to_pem()).unwrap();
        assert_eq!(again.public_key_bits(), key.public_key_bits());
        assert_eq!(key.spki_der().unwrap().len(), 44);
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert!(PrivateKey::parse("not a key").is_err());
        assert!(
            PrivateKey::parse("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
                .is_err()
        );
    }
}
