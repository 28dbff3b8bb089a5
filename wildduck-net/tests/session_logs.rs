//! The log lines of a session carry its span. A test binary of its own: the subscriber is
//! the process-wide default, which tests running beside it in one process would race with
//! (`tracing` caches per call site whether anyone listens).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use wildduck_net::{Client, ListenerOptions, Service, Shutdown, serve};

/// Long enough never to fire on a loaded machine: only a hang trips it.
const HANG: Duration = Duration::from_secs(30);

/// Logs each line it reads, then answers `ok`.
struct Logging;

impl Service for Logging {
    const PROTOCOL: &'static str = "logging";

    async fn serve(self: Arc<Self>, client: Client, _shutdown: Shutdown) {
        let (read, mut write) = tokio::io::split(client.stream);
        let mut lines = BufReader::new(read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            tracing::info!("asked {line}");
            if write.write_all(b"ok\n").await.is_err() {
                break;
            }
        }
    }

    async fn refuse(self: Arc<Self>, _client: Client) {}
}

/// What the subscriber writes, kept for the test to read.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn ask(client: &mut BufReader<TcpStream>, word: &str) {
    client
        .get_mut()
        .write_all(format!("{word}\n").as_bytes())
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(HANG, client.read_line(&mut answer))
        .await
        .expect("the server answers")
        .unwrap();
    assert_eq!(answer, "ok\n");
}

#[tokio::test]
async fn every_log_line_of_a_session_names_that_session_and_its_client() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address: SocketAddr = listener.local_addr().unwrap();
    let (_stop, shutdown) = watch::channel(false);
    tokio::spawn(serve(
        listener,
        ListenerOptions::new(10),
        shutdown,
        Arc::new(Logging),
    ));
    let mut first = BufReader::new(TcpStream::connect(address).await.unwrap());
    let mut second = BufReader::new(TcpStream::connect(address).await.unwrap());
    ask(&mut first, "one").await;
    ask(&mut second, "two").await;
    ask(&mut first, "three").await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let session_of = |word: &str| {
        let entry = text
            .lines()
            .find(|l| l.ends_with(&format!("asked {word}")))
            .unwrap_or_else(|| panic!("no line for {word} in {text}"));
        let start = entry
            .find("session{")
            .unwrap_or_else(|| panic!("no session span in {entry}"));
        entry[start..].split('}').next().unwrap().to_string()
    };
    let first_peer = first.get_ref().local_addr().unwrap();
    assert_eq!(
        session_of("one"),
        session_of("three"),
        "one session, one id"
    );
    assert_ne!(
        session_of("one"),
        session_of("two"),
        "two sessions, two ids"
    );
    assert!(
        session_of("one").contains(&format!("peer={first_peer}")),
        "{text}"
    );
}
