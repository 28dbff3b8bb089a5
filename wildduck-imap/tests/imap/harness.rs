//! A server on an ephemeral loopback port over a temp-dir SQLite store, and a raw-bytes client.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wildduck_imap::Config;
use wildduck_store::{NewUser, Store, StoreConfig};

pub const USER: &str = "alice";
pub const PASSWORD: &str = "correct horse";

/// Deadline for any single read in tests, so a broken server fails the test instead of hanging.
const READ_TIMEOUT: Duration = Duration::from_secs(20);

pub type SecondInstance = (
    Store,
    SocketAddr,
    watch::Sender<bool>,
    JoinHandle<std::io::Result<()>>,
);

pub struct TestServer {
    pub dir: TempDir,
    pub store: Store,
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(Config::default()).await
    }

    pub async fn start_with(config: Config) -> TestServer {
        Self::start_with_tls(config, None).await
    }

    pub async fn start_with_tls(
        config: Config,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open_sqlite(dir.path(), StoreConfig::default())
            .await
            .expect("open store");
        store
            .create_user(NewUser {
                username: USER.into(),
                password: PASSWORD.into(),
                ..Default::default()
            })
            .await
            .expect("create user");
        let (addr, shutdown, task) = spawn_server(store.clone(), config, tls).await;
        TestServer {
            dir,
            store,
            addr,
            shutdown,
            task,
        }
    }

    /// A second server over the same store directory (a second `open_sqlite`).
    pub async fn second_instance(dir: &Path, config: Config) -> Result<SecondInstance, String> {
        let store = Store::open_sqlite(dir, StoreConfig::default())
            .await
            .map_err(|e| e.to_string())?;
        let (addr, shutdown, task) = spawn_server(store.clone(), config, None).await;
        Ok((store, addr, shutdown, task))
    }

    pub async fn connect(&self) -> Client {
        Client::connect(self.addr).await
    }

    /// A client that is logged in and has read the greeting.
    pub async fn login(&self) -> Client {
        let mut client = self.connect().await;
        let reply = client
            .exchange(&format!("L1 LOGIN {USER} \"{PASSWORD}\"\r\n"))
            .await;
        assert!(reply.contains("L1 OK"), "login failed: {reply}");
        client
    }

    /// Asks the server to stop and waits for it.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let result = tokio::time::timeout(READ_TIMEOUT, self.task).await;
        assert!(
            matches!(result, Ok(Ok(Ok(())))),
            "server did not stop cleanly: {result:?}"
        );
    }
}

pub async fn spawn_server(
    store: Store,
    config: Config,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> (
    SocketAddr,
    watch::Sender<bool>,
    JoinHandle<std::io::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let (shutdown, receiver) = watch::channel(false);
    let task = tokio::spawn(wildduck_imap::serve(store, config, listener, tls, receiver));
    (addr, shutdown, task)
}

/// A byte stream to the server: plain TCP or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub struct Client {
    pub stream: BufReader<Box<dyn Io>>,
    pub greeting: String,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Client::over(Box::new(stream), true).await
    }

    /// A client over an established stream; reads the greeting when one is due.
    pub async fn over(stream: Box<dyn Io>, read_greeting: bool) -> Client {
        let mut client = Client {
            stream: BufReader::new(stream),
            greeting: String::new(),
        };
        if read_greeting {
            client.greeting = client.line().await;
        }
        client
    }

    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream
            .get_mut()
            .write_all(bytes.as_ref())
            .await
            .expect("send");
    }

    /// One response line including CRLF; empty at end of stream.
    pub async fn line(&mut self) -> String {
        let mut line = Vec::new();
        tokio::time::timeout(READ_TIMEOUT, self.stream.read_until(b'\n', &mut line))
            .await
            .expect("timed out waiting for a line")
            .expect("read");
        String::from_utf8_lossy(&line).into_owned()
    }

    /// Reads `n` raw bytes (literal content).
    pub async fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut data = vec![0; n];
        tokio::time::timeout(READ_TIMEOUT, self.stream.read_exact(&mut data))
            .await
            .expect("timed out reading literal")
            .expect("read literal");
        data
    }

    /// Everything up to and including the line starting with `tag ` (literals included).
    pub async fn until_tagged(&mut self, tag: &str) -> String {
        let mut out = String::new();
        loop {
            let line = self.line().await;
            if line.is_empty() {
                panic!("connection closed before {tag} completed; got:\n{out}");
            }
            out.push_str(&line);
            if let Some(n) = literal_length(&line) {
                out.push_str(&String::from_utf8_lossy(&self.bytes(n).await));
                continue;
            }
            if line.starts_with(&format!("{tag} ")) {
                return out;
            }
        }
    }

    /// Sends a command line (the tag is its first word) and returns the whole response.
    pub async fn exchange(&mut self, command: &str) -> String {
        let tag = command.split(' ').next().expect("tag").to_string();
        self.send(command).await;
        self.until_tagged(&tag).await
    }

    /// Reads until the server closes the connection; returns what came.
    pub async fn until_closed(&mut self) -> String {
        let mut out = String::new();
        loop {
            let line = self.line().await;
            if line.is_empty() {
                return out;
            }
            out.push_str(&line);
        }
    }
}

/// `{n}` at the end of a line announces n literal bytes.
pub fn literal_length(line: &str) -> Option<usize> {
    let trimmed = line.trim_end_matches("\r\n");
    let open = trimmed.rfind('{')?;
    trimmed.strip_suffix('}')?[open + 1..].parse().ok()
}

/// A small CRLF message.
pub fn message(subject: &str, body: &str) -> String {
    format!(
        "From: Alice <alice@example.com>\r\nTo: Bob <bob@example.org>\r\nSubject: {subject}\r\nDate: Mon, 02 Jan 2023 10:00:00 +0000\r\nMessage-ID: <{subject}@example.com>\r\n\r\n{body}\r\n"
    )
}

/// APPENDs with a synchronizing literal, waiting for the continuation like a real client.
pub async fn append(
    client: &mut Client,
    tag: &str,
    mailbox: &str,
    flags: &str,
    raw: &str,
) -> String {
    client
        .send(format!(
            "{tag} APPEND {mailbox} {flags}{{{}}}\r\n",
            raw.len()
        ))
        .await;
    let cont = client.line().await;
    if !cont.starts_with('+') {
        return cont;
    }
    client.send(format!("{raw}\r\n")).await;
    client.until_tagged(tag).await
}
