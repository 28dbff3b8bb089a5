//! The listeners under attack: one embedded SQLite store in a temporary folder, every
//! listener of the crates on a loopback port of its own, served by a tokio runtime in this
//! process (so a panic in a session is seen by the harness's hook), and the blocking client
//! side the session targets use.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener as StdListener, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::watch;
use wildduck_store::{
    Flags, LimitsConfig, MemoryCounters, NewUser, PlaintextLogin, Store, StoreConfig,
};

/// Longest wait for a session to end after the client has sent everything and half-closed.
/// Far above any normal answer; it only keeps a hung session from hanging the run.
pub const SESSION_END: Duration = Duration::from_secs(30);

/// Each protocol target logs in as its own user, so one target's deletions and appends never
/// change what another target's answers look like.
pub const PASSWORD: &str = "fuzz-pass";
pub const IMAP_USER: &str = "imapfuzz";
pub const POP3_USER: &str = "popfuzz";
pub const LMTP_USER: &str = "lmtpfuzz";
pub const SUBMIT_USER: &str = "submitfuzz";
/// The user the API target's requests name (and may change or delete).
pub const API_USER: &str = "apifuzz";
pub const DOMAIN: &str = "fuzz.example";

/// The message every mailbox starts with: a little MIME, no line starting with `+OK`/`-ERR`
/// (the POP3 checker tells a status line from message text by that).
pub const SEED_MESSAGE: &[u8] = b"From: Ann <ann@fuzz.example>\r\nTo: imapfuzz@fuzz.example\r\n\
Subject: =?utf-8?q?caf=C3=A9?=\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n\
Message-ID: <seed@fuzz.example>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; \
charset=utf-8\r\n\r\nHello .\r\n.dot line\r\n--b1\r\nContent-Type: application/octet-stream; \
name*=utf-8''caf%C3%A9.bin\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--b1--\r\n";

pub struct Servers {
    pub imap: SocketAddr,
    pub pop3: SocketAddr,
    pub lmtp: SocketAddr,
    pub submission: SocketAddr,
    pub api: SocketAddr,
    /// The id of [`API_USER`], as the API shows it.
    pub api_user: String,
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
    _shutdown: watch::Sender<bool>,
}

/// The servers of this process, started on first use.
pub fn servers() -> Arc<Servers> {
    static SERVERS: OnceLock<Arc<Servers>> = OnceLock::new();
    SERVERS.get_or_init(|| Arc::new(Servers::start())).clone()
}

impl Servers {
    fn start() -> Servers {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let dir = tempfile::tempdir().expect("temporary folder");
        let (shutdown, stop) = watch::channel(false);
        let (store, api_user) = runtime.block_on(open_store(dir.path()));
        let listen = || {
            let listener = StdListener::bind("127.0.0.1:0").expect("loopback port");
            listener.set_nonblocking(true).expect("non-blocking");
            let address = listener.local_addr().expect("address");
            (listener, address)
        };
        let (imap, imap_address) = listen();
        let (pop3, pop3_address) = listen();
        let (lmtp, lmtp_address) = listen();
        let (submission, submission_address) = listen();
        let (api, api_address) = listen();
        runtime.block_on(async {
            let tokio_listener = |l: StdListener| TcpListener::from_std(l).expect("tokio listener");
            let imap_config = wildduck_imap::Config {
                allow_plaintext_login: PlaintextLogin::Always,
                ..Default::default()
            };
            tokio::spawn(wildduck_imap::serve(
                store.clone(),
                imap_config,
                tokio_listener(imap),
                None,
                stop.clone(),
            ));
            let pop3_config = wildduck_pop3::Config {
                allow_plaintext_login: PlaintextLogin::Always,
                ..Default::default()
            };
            tokio::spawn(wildduck_pop3::serve(
                store.clone(),
                pop3_config,
                tokio_listener(pop3),
                None,
                stop.clone(),
            ));
            tokio::spawn(wildduck_lmtp::serve(
                store.clone(),
                wildduck_lmtp::Config::default(),
                tokio_listener(lmtp),
                None,
                stop.clone(),
            ));
            let submission_config = wildduck_lmtp::submission::Config {
                allow_plaintext_login: PlaintextLogin::Always,
                ..Default::default()
            };
            tokio::spawn(wildduck_lmtp::submission::serve(
                store.clone(),
                submission_config,
                tokio_listener(submission),
                None,
                stop.clone(),
            ));
            tokio::spawn(wildduck_api::serve(
                store.clone(),
                wildduck_api::Config::default(),
                tokio_listener(api),
                stop.clone(),
            ));
        });
        Servers {
            imap: imap_address,
            pop3: pop3_address,
            lmtp: lmtp_address,
            submission: submission_address,
            api: api_address,
            api_user,
            _runtime: runtime,
            _dir: dir,
            _shutdown: shutdown,
        }
    }
}

/// The store with the targets' users, each with the seed message; and the API user's id.
async fn open_store(dir: &std::path::Path) -> (Store, String) {
    let store = Store::open_sqlite(dir, StoreConfig::default())
        .await
        .expect("open the store");
    // Wrong passwords are part of the input: no lockout and no pause, or the right password
    // in the next input would be refused and every failure would cost seconds.
    let limits = LimitsConfig {
        max_user_failures: u64::MAX,
        max_ip_failures: u64::MAX,
        failure_delay: Duration::ZERO,
        max_failure_delay: Duration::ZERO,
        ..LimitsConfig::default()
    };
    let store = store.with_limits(Box::new(MemoryCounters::default()), limits);
    let mut api_user = String::new();
    for name in [IMAP_USER, POP3_USER, LMTP_USER, SUBMIT_USER, API_USER] {
        let user = store
            .create_user(NewUser {
                username: name.into(),
                password: PASSWORD.into(),
                quota: None,
                address: Some(format!("{name}@{DOMAIN}")),
            })
            .await
            .expect("create a user");
        let inbox = store.get_mailbox(user.id, "INBOX").await.expect("INBOX");
        store
            .append(inbox.id, SEED_MESSAGE, &Flags::new(), None)
            .await
            .expect("seed message");
        if name == API_USER {
            api_user = user.id.to_string();
        }
    }
    (store, api_user)
}

/// Sends `input` on a new connection to `address`, half-closes, and returns everything the
/// server wrote until it closed. The writing runs on its own thread so a server that answers
/// while the client still writes can not deadlock the two.
pub fn converse(address: SocketAddr, input: &[u8]) -> Result<Vec<u8>, String> {
    converse_then_close(address, input, None)
}

/// [`converse`] for HTTP: hyper drops a response in progress when the client half-closes,
/// so the half-close waits until the server has been silent for `quiet` (a request with
/// `Connection: close` is answered and closed before that). A server slower than `quiet`
/// may then answer nothing, which the checks accept: it costs coverage, never a false alarm.
pub fn converse_then_close(
    address: SocketAddr,
    input: &[u8],
    quiet: Option<Duration>,
) -> Result<Vec<u8>, String> {
    let stream = TcpStream::connect(address).map_err(|e| format!("connect: {e}"))?;
    let mut writer = stream.try_clone().map_err(|e| format!("clone: {e}"))?;
    let sent = input.to_vec();
    let writing = std::thread::spawn(move || {
        // The server may close first (too many bad commands, a fatal error): not our failure.
        let _ = writer.write_all(&sent);
        if quiet.is_none() {
            let _ = writer.shutdown(Shutdown::Write);
        }
    });
    let answer = read_to_close(stream, quiet);
    let _ = writing.join();
    answer
}

fn read_to_close(mut stream: TcpStream, mut quiet: Option<Duration>) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + SESSION_END;
    let mut answer = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "the session did not end within {SESSION_END:?} of the client's half-close; \
                 it wrote {} bytes",
                answer.len()
            ));
        }
        stream
            .set_read_timeout(Some(quiet.unwrap_or(left).min(left)))
            .map_err(|e| format!("timeout: {e}"))?;
        match stream.read(&mut buffer) {
            Ok(0) => return Ok(answer),
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
            // A reset after the server closed with unread input is an ending too.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(answer),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if quiet.take().is_some() {
                    let _ = stream.shutdown(Shutdown::Write);
                }
            }
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Splits an answer into CRLF-terminated lines; `Err` on a bare LF or a cut-off last line.
pub fn crlf_lines(answer: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut lines = Vec::new();
    let mut rest = answer;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| format!("answer ends in a cut-off line: {:?}", shown(rest)))?;
        if end == 0 || rest[end - 1] != b'\r' {
            return Err(format!("bare LF in {:?}", shown(&rest[..=end])));
        }
        lines.push(&rest[..end - 1]);
        rest = &rest[end + 1..];
    }
    Ok(lines)
}

/// At most 200 bytes of `bytes`, for messages.
pub fn shown(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(200)];
    String::from_utf8_lossy(cut).into_owned()
}
