//! Test harness: a store in a temporary directory, a POP3 server on a loopback port, and a
//! raw-bytes client for transcripts.
#![allow(dead_code)] // each test file uses a different part of the harness

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wildduck_pop3::Config;
use wildduck_store::{AppendOutcome, Flags, MailboxId, NewUser, Store, StoreConfig, User};

pub const USER: &str = "alice";
pub const PASSWORD: &str = "correct horse";

/// Limits that keep tests quick: no failed-login pause.
pub fn test_config() -> Config {
    Config {
        ..Config::default()
    }
}

pub struct Account {
    pub store: Store,
    pub user: User,
    pub inbox: MailboxId,
}

/// Opens (or reopens) the store in `dir`; creates the test user the first time.
pub async fn open_account(dir: &Path) -> Account {
    let store = Store::open_sqlite(dir, StoreConfig::default())
        .await
        .expect("open store");
    let user = match store.find_user(USER).await {
        Ok(user) => user,
        Err(_) => store
            .create_user(NewUser {
                username: USER.into(),
                password: PASSWORD.into(),
                ..NewUser::default()
            })
            .await
            .expect("create user"),
    };
    let inbox = store.get_mailbox(user.id, "INBOX").await.expect("INBOX").id;
    Account { store, user, inbox }
}

impl Account {
    pub async fn append(&self, raw: &[u8]) -> AppendOutcome {
        self.store
            .append(self.inbox, raw, &Flags::new(), None)
            .await
            .expect("append")
    }
}

pub struct Server {
    pub port: u16,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    pub async fn start(
        store: Store,
        config: Config,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (shutdown, receiver) = watch::channel(false);
        let task = tokio::spawn(wildduck_pop3::serve(store, config, listener, tls, receiver));
        Server {
            port,
            shutdown,
            task,
        }
    }

    pub async fn connect(&self) -> Client<TcpStream> {
        let stream = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect");
        Client::new(stream)
    }

    /// Connects and reads the greeting.
    pub async fn greeted(&self) -> Client<TcpStream> {
        let mut client = self.connect().await;
        client.expect(b"+OK WildDuck POP3 server ready\r\n").await;
        client
    }

    /// Connects and logs in with USER/PASS, checking every response.
    pub async fn logged_in(&self, messages: usize) -> Client<TcpStream> {
        let mut client = self.greeted().await;
        client
            .transcript(
                &format!("USER {USER}\r\nPASS {PASSWORD}\r\n"),
                &format!("+OK Send PASS\r\n+OK Logged in, {messages} messages in the maildrop\r\n"),
            )
            .await;
        client
    }

    pub async fn stop(self) {
        self.shutdown.send(true).expect("server still running");
        self.task.await.expect("server task").expect("serve result");
    }
}

const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// Raw-bytes client.
pub struct Client<S> {
    pub stream: S,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub fn new(stream: S) -> Self {
        Self { stream }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("send");
        self.stream.flush().await.expect("flush");
    }

    /// Reads exactly as many bytes as `expected` holds and compares.
    pub async fn expect(&mut self, expected: &[u8]) {
        let got = self.read_exact(expected.len()).await;
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "server response differs"
        );
        assert_eq!(got, expected);
    }

    pub async fn read_exact(&mut self, len: usize) -> Vec<u8> {
        let mut got = Vec::with_capacity(len);
        while got.len() < len {
            let mut buf = vec![0; len - got.len()];
            match tokio::time::timeout(READ_TIMEOUT, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) => panic!(
                    "connection closed after {:?}",
                    String::from_utf8_lossy(&got)
                ),
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Ok(Err(error)) => panic!("reading {len} bytes: {error}"),
                Err(_) => panic!(
                    "timed out waiting for {len} bytes; got {:?}",
                    String::from_utf8_lossy(&got)
                ),
            }
        }
        got
    }

    /// Reads one line including CRLF.
    pub async fn line(&mut self) -> String {
        let mut line = Vec::new();
        while !line.ends_with(b"\r\n") {
            let byte = self.read_exact(1).await;
            line.push(byte[0]);
        }
        String::from_utf8(line).expect("utf-8 line")
    }

    /// Sends `input` in one write and expects exactly `output`.
    pub async fn transcript(&mut self, input: &str, output: &str) {
        self.send(input.as_bytes()).await;
        self.expect(output.as_bytes()).await;
    }

    /// Expects the server to close the connection (after nothing more than what was read).
    pub async fn expect_closed(&mut self) {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(READ_TIMEOUT, self.stream.read_to_end(&mut rest)).await;
        match read {
            Ok(Ok(_)) => assert!(
                rest.is_empty(),
                "unexpected bytes before close: {:?}",
                String::from_utf8_lossy(&rest)
            ),
            Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionReset => {}
            Ok(Err(error)) => panic!("read failed: {error}"),
            Err(_) => panic!("server did not close the connection"),
        }
    }
}

/// A self-signed certificate for `localhost`: the server's acceptor and a client connector
/// that trusts it.
pub fn tls_pair() -> (tokio_rustls::TlsAcceptor, tokio_rustls::TlsConnector) {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let cert = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .expect("server config");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("trust");
    let client = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (
        tokio_rustls::TlsAcceptor::from(Arc::new(server)),
        tokio_rustls::TlsConnector::from(Arc::new(client)),
    )
}

/// A plain message with `body_lines` numbered body lines.
pub fn message(subject: &str, body_lines: usize) -> Vec<u8> {
    let mut raw = format!(
        "From: Bob <bob@example.com>\r\nTo: Alice <alice@example.org>\r\nSubject: {subject}\r\nMessage-ID: <{subject}@example.com>\r\n\r\n"
    );
    for n in 1..=body_lines {
        raw.push_str(&format!("line {n}\r\n"));
    }
    raw.into_bytes()
}

/// A fresh store with the test user and a server over it.
pub async fn setup(config: Config) -> (tempfile::TempDir, Account, Server) {
    let dir = tempfile::tempdir().expect("tempdir");
    let account = open_account(dir.path()).await;
    let server = Server::start(account.store.clone(), config, None).await;
    (dir, account, server)
}

/// `+OK n octets`, the message dot-stuffed, `.`: what RETR of a CRLF message sends.
pub fn retr_response(raw: &[u8]) -> Vec<u8> {
    let mut out = format!("+OK {} octets\r\n", raw.len()).into_bytes();
    for line in raw.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(b".\r\n");
    out
}
