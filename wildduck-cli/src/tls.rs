//! TLS for the servers: one rustls acceptor (ring provider) whose certificates can be
//! replaced while it serves.
//!
//! The `[tls]` files give the default certificate. Certificates stored through the API
//! (`/certs`) are served to clients that ask for one of their names (SNI), `*.domain` ones
//! for any name one label below. [`Certificates::reload`] reads both again (on SIGHUP, and
//! the stored ones every minute); a handshake picks from the table current at that moment,
//! so sessions already running keep what they started with and none is dropped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;
use wildduck_store::Store;

use crate::error::{CliError, CliResult, ErrorKind};

/// The listeners' certificates and the acceptor that serves them.
pub struct Certificates {
    files: (PathBuf, PathBuf),
    provider: Arc<CryptoProvider>,
    table: Arc<Table>,
    acceptor: TlsAcceptor,
}

/// What a handshake picks from: replaced whole by a reload.
#[derive(Debug)]
struct Table {
    current: RwLock<Arc<Choice>>,
}

#[derive(Debug)]
struct Choice {
    default: Arc<CertifiedKey>,
    /// Lower-case names (`*.domain` for wildcards) to their certificate.
    by_name: HashMap<String, Arc<CertifiedKey>>,
}

impl Choice {
    fn pick(&self, server_name: Option<&str>) -> Arc<CertifiedKey> {
        let Some(name) = server_name.map(str::to_ascii_lowercase) else {
            return self.default.clone();
        };
        let wildcard = name
            .split_once('.')
            .map(|(_, parent)| format!("*.{parent}"));
        self.by_name
            .get(&name)
            .or_else(|| wildcard.and_then(|wildcard| self.by_name.get(&wildcard)))
            .unwrap_or(&self.default)
            .clone()
    }
}

impl ResolvesServerCert for Table {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let choice = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        Some(choice.pick(hello.server_name()))
    }
}

impl Certificates {
    /// Reads the `[tls]` files; stored certificates come with the first [`Self::reload`].
    pub fn load(cert: &Path, key: &Path) -> CliResult<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let default = Arc::new(certified_key_from_files(cert, key, &provider)?);
        let table = Arc::new(Table {
            current: RwLock::new(Arc::new(Choice {
                default,
                by_name: HashMap::new(),
            })),
        });
        let config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|err| CliError::new(ErrorKind::Config, format!("tls: {err}")))?
            .with_no_client_auth()
            .with_cert_resolver(table.clone());
        Ok(Self {
            files: (cert.to_path_buf(), key.to_path_buf()),
            provider,
            table,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }

    /// Reads the stored certificates again, and the `[tls]` files too when `with_files`.
    /// A file that no longer reads is an error and changes nothing; a stored certificate
    /// rustls can not use is left out with a warning. Returns how many names SNI can pick.
    pub async fn reload(&self, store: &Store, with_files: bool) -> CliResult<usize> {
        let default = if with_files {
            Arc::new(certified_key_from_files(
                &self.files.0,
                &self.files.1,
                &self.provider,
            )?)
        } else {
            self.current().default.clone()
        };
        let stored = store
            .listener_certificates()
            .await
            .map_err(|err| CliError::new(ErrorKind::Unavailable, format!("tls: {err}")))?;
        let mut by_name = HashMap::new();
        for certificate in stored {
            let names = certificate.names.join(", ");
            match certified_key_from_pem(
                certificate.chain.as_bytes(),
                certificate.private_key.as_bytes(),
                &self.provider,
            ) {
                Ok(key) => {
                    let key = Arc::new(key);
                    for name in certificate.names {
                        by_name.insert(name.to_ascii_lowercase(), key.clone());
                    }
                }
                Err(err) => tracing::warn!("tls: the stored certificate for {names}: {err}"),
            }
        }
        let names = by_name.len();
        *self
            .table
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(Choice { default, by_name });
        Ok(names)
    }

    fn current(&self) -> Arc<Choice> {
        self.table
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn certified_key_from_files(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> CliResult<CertifiedKey> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|err| {
            CliError::new(
                ErrorKind::Config,
                format!("tls: {}: can not read it: {err}", path.display()),
            )
        })
    };
    certified_key_from_pem(&read(cert)?, &read(key)?, provider).map_err(|err| {
        CliError::new(
            ErrorKind::Config,
            format!("tls: {} with {}: {err}", cert.display(), key.display()),
        )
    })
}

/// A chain (leaf first) and its private key, both PEM, as rustls serves them; the key
/// must belong to the leaf.
fn certified_key_from_pem(
    chain: &[u8],
    key: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_slice_iter(chain)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("can not read the certificates: {err}"))?;
    if chain.is_empty() {
        return Err("no certificate in it".to_string());
    }
    let key = PrivateKeyDer::from_pem_slice(key)
        .map_err(|err| format!("can not read a private key: {err}"))?;
    CertifiedKey::from_der(chain, key, provider).map_err(|err| err.to_string())
}
