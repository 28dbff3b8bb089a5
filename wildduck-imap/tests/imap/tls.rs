//! STARTTLS and implicit TLS with a throwaway self-signed certificate.

use std::sync::Arc;

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use wildduck_imap::Config;

use crate::harness::*;

pub fn tls_pair() -> (TlsAcceptor, TlsConnector) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let cert = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .expect("server config");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("trust the test certificate");
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    (
        TlsAcceptor::from(Arc::new(server)),
        TlsConnector::from(Arc::new(client)),
    )
}

fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").expect("server name")
}

#[tokio::test]
async fn starttls_upgrades_and_drops_pipelined_plaintext() {
    let (acceptor, connector) = tls_pair();
    let config = Config {
        allow_plaintext_login: wildduck_imap::PlaintextLogin::Never,
        ..Config::default()
    };
    let server = TestServer::start_with_tls(config, Some(acceptor)).await;
    let mut plain = BufReader::new(TcpStream::connect(server.addr).await.expect("connect"));
    let mut line = String::new();
    plain.read_line(&mut line).await.expect("greeting");
    assert!(
        line.starts_with("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED ID"),
        "{line}"
    );
    // A command injected after STARTTLS in the same packet must not be executed.
    plain
        .get_mut()
        .write_all(b"t1 STARTTLS\r\nx1 NOOP\r\n")
        .await
        .expect("send");
    line.clear();
    plain.read_line(&mut line).await.expect("starttls reply");
    assert_eq!(line, "t1 OK Begin TLS negotiation now\r\n");
    let tcp = plain.into_inner();
    let tls = connector
        .connect(localhost(), tcp)
        .await
        .expect("TLS handshake");
    let mut c = Client::over(Box::new(tls), false).await;
    let caps = c.exchange("t2 CAPABILITY\r\n").await;
    assert!(
        caps.starts_with(
            "* CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=OAUTHBEARER AUTH=XOAUTH2 SASL-IR ID"
        ),
        "{caps}"
    );
    assert!(!caps.contains("x1") && !caps.contains("STARTTLS"), "{caps}");
    assert_eq!(
        c.exchange("t3 STARTTLS\r\n").await,
        "t3 BAD TLS is already active\r\n"
    );
    let login = c
        .exchange(&format!("t4 LOGIN {USER} \"{PASSWORD}\"\r\n"))
        .await;
    assert!(login.starts_with("t4 OK [CAPABILITY"), "{login}");
    server.stop().await;
}

#[tokio::test]
async fn implicit_tls_greets_inside_tls() {
    let (acceptor, connector) = tls_pair();
    let config = Config {
        implicit_tls: true,
        allow_plaintext_login: wildduck_imap::PlaintextLogin::Never,
        ..Config::default()
    };
    let server = TestServer::start_with_tls(config, Some(acceptor)).await;
    let tcp = TcpStream::connect(server.addr).await.expect("connect");
    let tls = connector
        .connect(localhost(), tcp)
        .await
        .expect("TLS handshake");
    let mut c = Client::over(Box::new(tls), true).await;
    assert!(
        c.greeting.starts_with(
            "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=OAUTHBEARER AUTH=XOAUTH2 SASL-IR ID"
        ),
        "{}",
        c.greeting
    );
    let login = c
        .exchange(&format!("i1 LOGIN {USER} \"{PASSWORD}\"\r\n"))
        .await;
    assert!(login.starts_with("i1 OK [CAPABILITY"), "{login}");
    assert_eq!(
        c.exchange("i2 LOGOUT\r\n").await,
        "* BYE Logging out\r\ni2 OK Logout completed\r\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn implicit_tls_without_acceptor_is_a_config_error() {
    let dir = tempfile::tempdir().expect("dir");
    let store = wildduck_store::Store::open_sqlite(dir.path(), Default::default())
        .await
        .expect("store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let config = Config {
        implicit_tls: true,
        ..Config::default()
    };
    let result = wildduck_imap::serve(store, config, listener, None, rx).await;
    assert_eq!(
        result.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::InvalidInput)
    );
}
