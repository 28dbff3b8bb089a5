//! TLS for the servers: a rustls acceptor (ring provider) from PEM files.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::error::{CliError, CliResult, ErrorKind};

/// Builds the acceptor from a certificate chain and a private key, both PEM.
pub fn load_acceptor(cert: &Path, key: &Path) -> CliResult<TlsAcceptor> {
    fn fail(path: &Path, what: &'static str) -> impl Fn(rustls::pki_types::pem::Error) -> CliError {
        let path = path.display().to_string();
        move |err| {
            CliError::new(
                ErrorKind::Config,
                format!("tls: {path}: can not read {what}: {err}"),
            )
        }
    }
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(fail(cert, "certificates"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail(cert, "certificates"))?;
    if chain.is_empty() {
        return Err(CliError::new(
            ErrorKind::Config,
            format!("tls: {}: no certificate in the file", cert.display()),
        ));
    }
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(fail(key, "a private key"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| {
            builder
                .with_no_client_auth()
                .with_single_cert(chain, private_key)
        })
        .map_err(|err| CliError::new(ErrorKind::Config, format!("tls: {err}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
