//! Raw-bytes transcripts of SMTP submission sessions against the server on a loopback socket
//! over a real embedded store: AUTH before MAIL, PLAIN and LOGIN, the lockout, sender checks,
//! a pipelined submission that lands in \Sent and the queue, BDAT, the recipient limit and
//! plaintext AUTH refused where the config says so, and clients past the connection limit.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use wildduck_lmtp::submission::{self, Config};
use wildduck_store::{
    Flag, LimitsConfig, MemoryCounters, MetaFields, NewUser, PlaintextLogin, Section, SpecialUse,
    Store, StoreConfig, UidSet, User,
};

/// Longest a test waits for one reply.
const WAIT: Duration = Duration::from_secs(30);

struct Server {
    _dir: tempfile::TempDir,
    store: Store,
    user: User,
    address: SocketAddr,
    _shutdown: watch::Sender<bool>,
}

impl Server {
    async fn start(config: Config) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(dir.path(), StoreConfig::default())
            .await
            .unwrap();
        // Lockout after three failures, answered at once (no delay to wait out).
        let limits = LimitsConfig {
            max_user_failures: 3,
            failure_delay: Duration::ZERO,
            max_failure_delay: Duration::ZERO,
            ..LimitsConfig::default()
        };
        let store = store.with_limits(Box::new(MemoryCounters::default()), limits);
        let user = store
            .create_user(NewUser {
                username: "ann".into(),
                password: "secret".into(),
                quota: None,
                address: Some("ann@example.org".into()),
            })
            .await
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (shutdown, receiver) = watch::channel(false);
        tokio::spawn(submission::serve(
            store.clone(),
            config,
            listener,
            None,
            receiver,
        ));
        Server {
            _dir: dir,
            store,
            user,
            address,
            _shutdown: shutdown,
        }
    }

    async fn connect(&self) -> Client {
        let stream = TcpStream::connect(self.address).await.unwrap();
        let mut client = Client {
            stream: BufReader::new(stream),
        };
        assert_eq!(client.reply().await, "220 localhost ESMTP submission ready");
        client
    }

    /// Connected, greeted and logged in as ann.
    async fn logged_in(&self) -> Client {
        let mut client = self.connect().await;
        client.send(b"EHLO client.test\r\n").await;
        client.reply().await;
        client
            .send(format!("AUTH PLAIN {}\r\n", plain("ann", "secret")).as_bytes())
            .await;
        assert_eq!(client.reply().await, "235 2.7.0 Authentication successful");
        client
    }

    /// The messages of ann's \Sent mailbox with their flags.
    async fn sent(&self) -> Vec<(Vec<u8>, Vec<Flag>)> {
        let sent = self
            .store
            .list_mailboxes(self.user.id)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.special_use == Some(SpecialUse::Sent))
            .unwrap();
        let mut messages = Vec::new();
        for uid in self.store.snapshot(sent.id).await.unwrap().uids {
            let body = self
                .store
                .read_section(sent.id, uid, &Section::full(), None)
                .await
                .unwrap();
            let meta = self
                .store
                .fetch_meta(
                    sent.id,
                    &UidSet::from_ranges([(uid, uid)]),
                    MetaFields::default(),
                )
                .await
                .unwrap();
            messages.push((body.to_vec(), meta[0].flags.iter().cloned().collect()));
        }
        messages
    }
}

fn plain(user: &str, password: &str) -> String {
    BASE64.encode(format!("\0{user}\0{password}"))
}

struct Client {
    stream: BufReader<TcpStream>,
}

impl Client {
    async fn send(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).await.unwrap();
    }

    /// One reply, its lines joined with `\n`.
    async fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let read = tokio::time::timeout(WAIT, self.stream.read_line(&mut line))
                .await
                .expect("a reply in time")
                .unwrap();
            assert!(read > 0, "connection closed; replies so far: {lines:?}");
            let line = line.strip_suffix("\r\n").expect("CRLF").to_string();
            let last = line.as_bytes().get(3) == Some(&b' ');
            lines.push(line);
            if last {
                return lines.join("\n");
            }
        }
    }

    async fn replies(&mut self, count: usize) -> Vec<String> {
        let mut replies = Vec::new();
        for _ in 0..count {
            replies.push(self.reply().await);
        }
        replies
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

const MESSAGE: &str = "From: Ann <ann@example.org>\r\n\
To: bob@example.com\r\n\
Bcc: carl@example.net\r\n\
Subject: pipelined\r\n\
\r\n\
..stuffed line\r\n";

#[tokio::test]
async fn ehlo_offers_auth_on_loopback_and_mail_needs_it() {
    let server = Server::start(Config::default()).await;
    let mut client = server.connect().await;
    client
        .send(b"MAIL FROM:<ann@example.org>\r\nEHLO client.test\r\nMAIL FROM:<ann@example.org>\r\n")
        .await;
    let replies = client.replies(3).await;
    assert_eq!(replies[0], "503 5.5.1 Say EHLO first");
    assert_eq!(
        replies[1],
        "250-localhost\n250-PIPELINING\n250-ENHANCEDSTATUSCODES\n250-8BITMIME\n250-SMTPUTF8\n\
         250-CHUNKING\n250-SIZE 67108864\n250 AUTH PLAIN LOGIN OAUTHBEARER XOAUTH2"
    );
    assert_eq!(replies[2], "530 5.7.0 Authentication required");
}

#[tokio::test]
async fn a_pipelined_submission_is_filed_in_sent_and_queued_without_bcc() {
    let server = Server::start(Config::default()).await;
    let mut client = server.logged_in().await;
    client
        .send(
            format!(
                "MAIL FROM:<ann@example.org> BODY=8BITMIME\r\n\
                 RCPT TO:<bob@example.com>\r\n\
                 RCPT TO:<carl@example.net>\r\n\
                 DATA\r\n{MESSAGE}.\r\nQUIT\r\n"
            )
            .as_bytes(),
        )
        .await;
    let replies = client.replies(6).await;
    assert_eq!(
        replies[..4],
        [
            "250 2.1.0 Sender ok",
            "250 2.1.5 Recipient ok",
            "250 2.1.5 Recipient ok",
            "354 2.0.0 End data with <CR><LF>.<CR><LF>",
        ]
    );
    let queued = replies[4]
        .strip_prefix("250 2.0.0 Ok: queued as <")
        .unwrap_or_else(|| panic!("{}", replies[4]));
    assert_eq!(replies[5], "221 2.0.0 Bye");

    let sent = server.sent().await;
    assert_eq!(sent.len(), 1);
    let (raw, flags) = &sent[0];
    assert!(flags.contains(&Flag::Seen));
    let unstuffed = MESSAGE.replace("..stuffed", ".stuffed");
    assert!(
        raw.ends_with(unstuffed.as_bytes()),
        "{}",
        String::from_utf8_lossy(raw)
    );
    assert!(contains(
        raw,
        format!("Message-ID: <{queued}\r\n").as_bytes()
    ));

    let queue = server.store.list_outbound().await.unwrap();
    assert_eq!(queue.len(), 2, "one entry per recipient domain");
    for entry in queue {
        assert!(!contains(&entry.raw, b"Bcc:"));
        assert!(
            entry
                .raw
                .ends_with(b"Subject: pipelined\r\n\r\n.stuffed line\r\n")
        );
    }
}

#[tokio::test]
async fn bdat_submits_the_chunks_exactly() {
    let server = Server::start(Config::default()).await;
    let mut client = server.logged_in().await;
    let body = b"From: ann@example.org\r\nSubject: chunks\r\n\r\n.no unstuffing\r\n";
    let (first, last) = body.split_at(20);
    let mut input = b"MAIL FROM:<ann@example.org>\r\nRCPT TO:<bob@example.com>\r\n".to_vec();
    input.extend_from_slice(format!("BDAT {}\r\n", first.len()).as_bytes());
    input.extend_from_slice(first);
    input.extend_from_slice(format!("BDAT {} LAST\r\n", last.len()).as_bytes());
    input.extend_from_slice(last);
    client.send(&input).await;
    let replies = client.replies(4).await;
    assert_eq!(replies[2], "250 2.0.0 20 octets received");
    assert!(
        replies[3].starts_with("250 2.0.0 Ok: queued as <"),
        "{}",
        replies[3]
    );
    let sent = server.sent().await;
    assert!(sent[0].0.ends_with(body));
}

#[tokio::test]
async fn foreign_senders_get_553_and_nothing_is_stored() {
    let server = Server::start(Config::default()).await;
    let mut client = server.logged_in().await;
    client
        .send(b"MAIL FROM:<eve@example.org>\r\nMAIL FROM:<ann@example.org>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
        .await;
    let replies = client.replies(4).await;
    assert_eq!(replies[0], "553 5.7.1 Sender address is not yours");
    assert_eq!(replies[1], "250 2.1.0 Sender ok");
    client
        .send(b"From: eve@example.org\r\nSubject: forged\r\n\r\nhi\r\n.\r\n")
        .await;
    assert_eq!(
        client.reply().await,
        "553 5.7.1 Sender address is not yours"
    );
    assert!(server.sent().await.is_empty());
    assert!(server.store.list_outbound().await.unwrap().is_empty());
}

#[tokio::test]
async fn auth_login_and_the_failed_login_lockout() {
    let server = Server::start(Config::default()).await;
    let mut client = server.connect().await;
    client.send(b"EHLO client.test\r\n").await;
    client.reply().await;
    for _ in 0..3 {
        client.send(b"AUTH LOGIN\r\n").await;
        assert_eq!(client.reply().await, "334 VXNlcm5hbWU6");
        client
            .send(format!("{}\r\n", BASE64.encode("ann")).as_bytes())
            .await;
        assert_eq!(client.reply().await, "334 UGFzc3dvcmQ6");
        client
            .send(format!("{}\r\n", BASE64.encode("wrong")).as_bytes())
            .await;
        assert_eq!(
            client.reply().await,
            "535 5.7.8 Authentication credentials invalid"
        );
    }
    // Locked now: even the right password is refused, as a temporary failure.
    let mut other = server.connect().await;
    other.send(b"EHLO client.test\r\n").await;
    other.reply().await;
    other
        .send(format!("AUTH PLAIN {}\r\n", plain("ann", "secret")).as_bytes())
        .await;
    let locked = other.reply().await;
    assert!(
        locked.starts_with("454 4.7.0 Too many failed logins"),
        "{locked}"
    );
    // A cancelled exchange is no login attempt.
    client.send(b"AUTH PLAIN\r\n*\r\n").await;
    assert_eq!(
        client.replies(2).await,
        ["334 ", "501 5.0.0 Authentication cancelled"]
    );
}

#[tokio::test]
async fn recipients_past_the_limit_get_452() {
    let config = Config {
        max_recipients: 2,
        ..Config::default()
    };
    let server = Server::start(config).await;
    let mut client = server.logged_in().await;
    client
        .send(b"MAIL FROM:<ann@example.org>\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nRCPT TO:<bad address>\r\n")
        .await;
    let replies = client.replies(5).await;
    assert_eq!(replies[3], "452 4.5.3 Too many recipients");
    assert!(replies[4].starts_with("501 5.1.3"), "{}", replies[4]);
}

#[tokio::test]
async fn plaintext_auth_is_refused_where_the_config_says_never() {
    let config = Config {
        allow_plaintext_login: PlaintextLogin::Never,
        ..Config::default()
    };
    let server = Server::start(config).await;
    let mut client = server.connect().await;
    client
        .send(
            format!(
                "EHLO client.test\r\nSTARTTLS\r\nAUTH PLAIN {}\r\n",
                plain("ann", "secret")
            )
            .as_bytes(),
        )
        .await;
    let replies = client.replies(3).await;
    assert!(!replies[0].contains("AUTH"), "{}", replies[0]);
    assert_eq!(replies[1], "502 5.5.1 STARTTLS is not available");
    assert_eq!(
        replies[2],
        "538 5.7.11 Encryption required for requested authentication mechanism"
    );
}

#[tokio::test]
async fn connections_past_the_limit_are_turned_away() {
    let config = Config {
        max_connections: 1,
        ..Config::default()
    };
    let server = Server::start(config).await;
    let mut first = server.logged_in().await;
    let stream = TcpStream::connect(server.address).await.unwrap();
    let mut second = Client {
        stream: BufReader::new(stream),
    };
    assert_eq!(
        second.reply().await,
        "421 4.3.2 Too many connections, try again later"
    );
    let mut rest = String::new();
    let read = tokio::time::timeout(WAIT, second.stream.read_line(&mut rest))
        .await
        .expect("closed in time")
        .unwrap();
    assert_eq!(read, 0, "closed after the refusal, got {rest:?}");
    first.send(b"NOOP\r\n").await;
    assert!(first.reply().await.starts_with("250"));
}
