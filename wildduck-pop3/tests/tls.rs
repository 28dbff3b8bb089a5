//! STLS (RFC 2595) and implicit TLS, as raw-bytes transcripts inside the TLS channel.

mod common;

use common::*;
use rustls::pki_types::ServerName;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use wildduck_pop3::{Config, PlaintextLogin};

const CAPA_BEFORE_TLS: &str = "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nSTLS\r\nIMPLEMENTATION wildduck-rs\r\n.\r\n";
const CAPA_IN_TLS: &str = "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nUSER\r\nSASL PLAIN OAUTHBEARER XOAUTH2\r\nIMPLEMENTATION wildduck-rs\r\n.\r\n";

fn tls_only() -> Config {
    Config {
        allow_plaintext_login: PlaintextLogin::Never,
        ..test_config()
    }
}

async fn handshake(connector: &TlsConnector, socket: TcpStream) -> Client<TlsStream<TcpStream>> {
    let name = ServerName::try_from("localhost").expect("name");
    Client::new(
        connector
            .connect(name, socket)
            .await
            .expect("TLS handshake"),
    )
}

#[tokio::test]
async fn stls_upgrades_and_then_allows_login() {
    let dir = tempfile::tempdir().expect("tempdir");
    let account = open_account(dir.path()).await;
    let raw = message("secret", 2);
    account.append(&raw).await;
    let (acceptor, connector) = tls_pair();
    let server = Server::start(account.store.clone(), tls_only(), Some(acceptor)).await;

    let mut plain = server.greeted().await;
    plain.transcript("CAPA\r\n", CAPA_BEFORE_TLS).await;
    plain
        .transcript(
            &format!("USER {USER}\r\n"),
            "-ERR [AUTH] Plaintext login is not allowed here, use STLS first\r\n",
        )
        .await;
    plain
        .transcript("STLS\r\n", "+OK Begin TLS negotiation\r\n")
        .await;

    let mut tls = handshake(&connector, plain.stream).await;
    tls.transcript("CAPA\r\n", CAPA_IN_TLS).await;
    tls.transcript("STLS\r\n", "-ERR Already using TLS\r\n")
        .await;
    tls.transcript(
        &format!("USER {USER}\r\nPASS {PASSWORD}\r\n"),
        "+OK Send PASS\r\n+OK Logged in, 1 messages in the maildrop\r\n",
    )
    .await;
    tls.send(b"RETR 1\r\n").await;
    tls.expect(&retr_response(&raw)).await;
    tls.transcript("QUIT\r\n", "+OK Bye, 0 messages removed\r\n")
        .await;
    server.stop().await;
}

#[tokio::test]
async fn commands_pipelined_after_stls_are_not_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let account = open_account(dir.path()).await;
    let (acceptor, connector) = tls_pair();
    let server = Server::start(account.store.clone(), tls_only(), Some(acceptor)).await;

    let mut plain = server.greeted().await;
    // Plaintext injected behind STLS must be dropped, not answered inside TLS.
    plain
        .transcript("STLS\r\nCAPA\r\n", "+OK Begin TLS negotiation\r\n")
        .await;
    let mut tls = handshake(&connector, plain.stream).await;
    tls.transcript("NOOP\r\n", "+OK\r\n").await;
    tls.transcript("QUIT\r\n", "+OK Bye\r\n").await;
    server.stop().await;
}

#[tokio::test]
async fn stls_is_refused_without_a_certificate() {
    let (_dir, _account, server) = setup(test_config()).await;
    let mut client = server.greeted().await;
    client
        .transcript("STLS\r\n", "-ERR STLS is not available\r\n")
        .await;
    client.transcript("NOOP\r\n", "+OK\r\n").await;
    server.stop().await;
}

#[tokio::test]
async fn implicit_tls_greets_inside_tls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let account = open_account(dir.path()).await;
    let (acceptor, connector) = tls_pair();
    let config = Config {
        implicit_tls: true,
        ..tls_only()
    };
    let server = Server::start(account.store.clone(), config, Some(acceptor)).await;
    let socket = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .expect("connect");
    let mut tls = handshake(&connector, socket).await;
    tls.expect(b"+OK WildDuck POP3 server ready\r\n").await;
    tls.transcript("CAPA\r\n", CAPA_IN_TLS).await;
    tls.transcript(
        &format!("USER {USER}\r\nPASS {PASSWORD}\r\nQUIT\r\n"),
        "+OK Send PASS\r\n+OK Logged in, 0 messages in the maildrop\r\n+OK Bye, 0 messages removed\r\n",
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn implicit_tls_needs_an_acceptor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let account = open_account(dir.path()).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let config = Config {
        implicit_tls: true,
        ..test_config()
    };
    let result = wildduck_pop3::serve(account.store, config, listener, None, shutdown).await;
    assert_eq!(
        result.expect_err("refused").kind(),
        std::io::ErrorKind::InvalidInput
    );
}
