//! The accept loop and the stream over real loopback sockets: connection limit, graceful
//! shutdown (sessions told, then the bounded wait), STARTTLS and implicit TLS with a real TLS
//! client, and the PROXY header's address handed to the session.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use wildduck_net::{Client, ListenerOptions, Service, Shutdown, serve};

/// Long enough never to fire on a loaded machine: only a hang trips it.
const HANG: Duration = Duration::from_secs(30);

/// A line protocol: greets with the peer it was given, answers `TLS?` and `STARTTLS`, says
/// `bye` on shutdown (unless told to ignore it) and reports each session's end.
struct Echo {
    tls: Option<TlsAcceptor>,
    ignore_shutdown: bool,
    ended: mpsc::UnboundedSender<()>,
}

/// Reads one `\n`-terminated line byte by byte (so nothing after it is buffered away).
async fn read_line<S: AsyncRead + Unpin>(stream: &mut S) -> Option<String> {
    let mut line = Vec::new();
    loop {
        match stream.read_u8().await {
            Ok(b'\n') => return String::from_utf8(line).ok(),
            Ok(byte) => line.push(byte),
            Err(_) => return None,
        }
    }
}

async fn write_line<S: AsyncWrite + Unpin>(stream: &mut S, line: &str) {
    let _ = stream.write_all(format!("{line}\n").as_bytes()).await;
}

impl Echo {
    async fn session(&self, client: Client, mut shutdown: Shutdown) {
        let Client { mut stream, peer } = client;
        write_line(&mut stream, &format!("hello {peer}")).await;
        loop {
            let line = tokio::select! {
                line = read_line(&mut stream) => line,
                _ = shutdown.requested(), if !self.ignore_shutdown => {
                    write_line(&mut stream, "bye").await;
                    break;
                }
            };
            match line.as_deref() {
                None => break,
                Some("TLS?") => {
                    let answer = if stream.is_tls() { "tls yes" } else { "tls no" };
                    write_line(&mut stream, answer).await;
                }
                Some("STARTTLS") => {
                    let Some(acceptor) = &self.tls else { break };
                    if !stream.is_tls() {
                        write_line(&mut stream, "go").await;
                    }
                    if let Err(error) = stream.start_tls(acceptor, HANG).await {
                        write_line(&mut stream, &format!("error {error}")).await;
                    }
                }
                Some(other) => write_line(&mut stream, &format!("what is {other}")).await,
            }
        }
        let _ = stream.shutdown().await;
    }
}

impl Service for Echo {
    const PROTOCOL: &'static str = "echo";

    async fn serve(self: Arc<Self>, client: Client, shutdown: Shutdown) {
        self.session(client, shutdown).await;
        let _ = self.ended.send(());
    }

    async fn refuse(self: Arc<Self>, mut client: Client) {
        write_line(&mut client.stream, "busy").await;
        let _ = client.stream.shutdown().await;
    }
}

fn tls_pair() -> (TlsAcceptor, TlsConnector) {
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

struct Running {
    address: SocketAddr,
    stop: watch::Sender<bool>,
    ended: mpsc::UnboundedReceiver<()>,
    server: JoinHandle<std::io::Result<()>>,
}

async fn start(
    options: ListenerOptions,
    tls: Option<TlsAcceptor>,
    ignore_shutdown: bool,
) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (stop, shutdown) = watch::channel(false);
    let (ended_tx, ended) = mpsc::unbounded_channel();
    let service = Arc::new(Echo {
        tls,
        ignore_shutdown,
        ended: ended_tx,
    });
    let server = tokio::spawn(serve(listener, options, shutdown, service));
    Running {
        address,
        stop,
        ended,
        server,
    }
}

async fn line<S: AsyncRead + Unpin>(stream: &mut S) -> Option<String> {
    tokio::time::timeout(HANG, read_line(stream))
        .await
        .expect("the server answers")
}

/// Connects and reads the first line.
async fn connect(address: SocketAddr) -> (TcpStream, Option<String>) {
    let mut socket = TcpStream::connect(address).await.expect("connect");
    let first = line(&mut socket).await;
    (socket, first)
}

#[tokio::test]
async fn connections_beyond_the_limit_are_refused_until_a_slot_frees() {
    let mut running = start(ListenerOptions::new(2), None, false).await;
    let (first, greeting) = connect(running.address).await;
    assert_eq!(
        greeting,
        Some(format!("hello {}", first.local_addr().unwrap())),
        "the session gets the socket's peer address"
    );
    let (_second, greeting) = connect(running.address).await;
    assert!(greeting.unwrap().starts_with("hello "));
    let (mut third, refusal) = connect(running.address).await;
    assert_eq!(refusal.as_deref(), Some("busy"));
    assert_eq!(line(&mut third).await, None, "a refused client is closed");

    drop(first);
    tokio::time::timeout(HANG, running.ended.recv())
        .await
        .expect("the first session ends when its client leaves");
    // The slot frees as the session's task finishes, just after it reported its end: a
    // client may still be refused in between, but one of the next few gets in.
    for _ in 0..100 {
        let (_fourth, greeting) = connect(running.address).await;
        match greeting.as_deref() {
            Some("busy") => tokio::time::sleep(Duration::from_millis(10)).await,
            Some(hello) => {
                assert!(hello.starts_with("hello "), "{hello}");
                return;
            }
            None => panic!("closed without a greeting"),
        }
    }
    panic!("the freed slot is never used");
}

#[tokio::test]
async fn shutdown_tells_sessions_stops_accepting_and_returns_once_they_end() {
    let mut options = ListenerOptions::new(10);
    // Far longer than the sessions need: serve must return because they ended.
    options.shutdown_grace = HANG;
    let mut running = start(options, None, false).await;
    let (mut first, _) = connect(running.address).await;
    let (mut second, _) = connect(running.address).await;
    write_line(&mut second, "TLS?").await;
    assert_eq!(line(&mut second).await.as_deref(), Some("tls no"));

    running.stop.send(true).expect("server listens");
    assert_eq!(line(&mut first).await.as_deref(), Some("bye"));
    assert_eq!(line(&mut second).await.as_deref(), Some("bye"));
    assert_eq!(line(&mut first).await, None);
    let result = tokio::time::timeout(HANG, running.server)
        .await
        .expect("serve returns once the sessions ended")
        .expect("serve does not panic");
    assert!(result.is_ok());
    assert_eq!(running.ended.recv().await, Some(()));
    assert_eq!(running.ended.recv().await, Some(()));
    assert!(
        TcpStream::connect(running.address).await.is_err(),
        "the listening socket is closed"
    );
}

#[tokio::test]
async fn shutdown_drops_sessions_that_outlive_the_grace_period() {
    let mut options = ListenerOptions::new(10);
    options.shutdown_grace = Duration::from_millis(200);
    let mut running = start(options, None, true).await;
    let (mut stubborn, _) = connect(running.address).await;

    running.stop.send(true).expect("server listens");
    let result = tokio::time::timeout(HANG, running.server)
        .await
        .expect("serve returns after the grace period")
        .expect("serve does not panic");
    assert!(result.is_ok());
    assert_eq!(
        line(&mut stubborn).await,
        None,
        "the dropped session's socket closes"
    );
    assert!(
        running.ended.recv().await.is_none(),
        "the session was dropped, it did not end by itself"
    );
}

#[tokio::test]
async fn starttls_upgrades_the_stream_in_place() {
    let (acceptor, connector) = tls_pair();
    let running = start(ListenerOptions::new(10), Some(acceptor), false).await;
    let (mut socket, greeting) = connect(running.address).await;
    assert!(greeting.unwrap().starts_with("hello "));
    write_line(&mut socket, "TLS?").await;
    assert_eq!(line(&mut socket).await.as_deref(), Some("tls no"));
    write_line(&mut socket, "STARTTLS").await;
    assert_eq!(line(&mut socket).await.as_deref(), Some("go"));

    let localhost = ServerName::try_from("localhost").expect("server name");
    let mut tls = connector
        .connect(localhost, socket)
        .await
        .expect("TLS handshake");
    write_line(&mut tls, "TLS?").await;
    assert_eq!(line(&mut tls).await.as_deref(), Some("tls yes"));
    // A second upgrade is refused and the TLS session goes on.
    write_line(&mut tls, "STARTTLS").await;
    assert_eq!(
        line(&mut tls).await.as_deref(),
        Some("error TLS is already active")
    );
    write_line(&mut tls, "TLS?").await;
    assert_eq!(line(&mut tls).await.as_deref(), Some("tls yes"));
}

#[tokio::test]
async fn implicit_tls_handshakes_before_the_session_and_drops_plain_clients() {
    let (acceptor, connector) = tls_pair();
    let mut options = ListenerOptions::new(10);
    options.implicit_tls = Some(acceptor);
    let running = start(options, None, false).await;
    let socket = TcpStream::connect(running.address).await.expect("connect");
    let localhost = ServerName::try_from("localhost").expect("server name");
    let mut tls = connector
        .connect(localhost, socket)
        .await
        .expect("TLS handshake");
    assert!(line(&mut tls).await.unwrap().starts_with("hello "));
    write_line(&mut tls, "TLS?").await;
    assert_eq!(line(&mut tls).await.as_deref(), Some("tls yes"));

    // A plain client never reaches a session: the failed handshake closes it.
    let mut plain = TcpStream::connect(running.address).await.expect("connect");
    write_line(&mut plain, "TLS?").await;
    assert_eq!(line(&mut plain).await, None);
}

#[tokio::test]
async fn the_proxy_header_source_becomes_the_peer() {
    let mut options = ListenerOptions::new(10);
    options.proxy_protocol = true;
    let running = start(options, None, false).await;

    let mut v1 = TcpStream::connect(running.address).await.expect("connect");
    // The header and the first command in one write: the command must survive.
    v1.write_all(b"PROXY TCP4 192.0.2.1 198.51.100.1 56324 143\r\nTLS?\n")
        .await
        .expect("write");
    assert_eq!(
        line(&mut v1).await.as_deref(),
        Some("hello 192.0.2.1:56324")
    );
    assert_eq!(line(&mut v1).await.as_deref(), Some("tls no"));

    let mut v2 = TcpStream::connect(running.address).await.expect("connect");
    let mut header = b"\r\n\r\n\0\r\nQUIT\n\x21\x21\x00\x24".to_vec();
    header.extend_from_slice(
        &"2001:db8::7"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    header.extend_from_slice(&[0; 16]);
    header.extend_from_slice(&4000u16.to_be_bytes());
    header.extend_from_slice(&993u16.to_be_bytes());
    v2.write_all(&header).await.expect("write");
    assert_eq!(
        line(&mut v2).await.as_deref(),
        Some("hello [2001:db8::7]:4000")
    );

    // A client that does not speak PROXY never reaches a session.
    let mut direct = TcpStream::connect(running.address).await.expect("connect");
    write_line(&mut direct, "TLS?").await;
    assert_eq!(line(&mut direct).await, None);
}
