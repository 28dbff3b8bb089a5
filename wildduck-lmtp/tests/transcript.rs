//! Raw-bytes transcripts of LMTP sessions against the server on a loopback socket over a
//! real embedded store: pipelining, per-recipient replies, DATA dot-unstuffing, BDAT,
//! size limits, bad input, timeouts, connection limit and shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use wildduck_lmtp::Config;
use wildduck_store::{NewUser, Section, Store, StoreConfig, User};

/// Longest a test waits for one reply.
const WAIT: Duration = Duration::from_secs(30);

struct Server {
    _dir: tempfile::TempDir,
    store: Store,
    address: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(config: Config, max_message_size: u64) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let store_config = StoreConfig {
            max_message_size,
            ..StoreConfig::default()
        };
        let store = Store::open_sqlite(dir.path(), store_config).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (shutdown, receiver) = watch::channel(false);
        let task = tokio::spawn(wildduck_lmtp::serve(
            store.clone(),
            config,
            listener,
            None,
            receiver,
        ));
        Server {
            _dir: dir,
            store,
            address,
            shutdown,
            task,
        }
    }

    async fn default() -> Server {
        Server::start(Config::default(), 64 * 1024 * 1024).await
    }

    async fn user(&self, name: &str, address: &str) -> User {
        self.store
            .create_user(NewUser {
                username: name.into(),
                password: "secret".into(),
                quota: None,
                address: Some(address.into()),
            })
            .await
            .unwrap()
    }

    async fn inbox(&self, user: &User) -> Vec<Vec<u8>> {
        let inbox = self.store.get_mailbox(user.id, "INBOX").await.unwrap();
        let mut messages = Vec::new();
        for uid in self.store.snapshot(inbox.id).await.unwrap().uids {
            let body = self
                .store
                .read_section(inbox.id, uid, &Section::full(), None)
                .await
                .unwrap();
            messages.push(body.to_vec());
        }
        messages
    }

    async fn connect(&self) -> Client {
        let stream = TcpStream::connect(self.address).await.unwrap();
        let mut client = Client {
            stream: BufReader::new(stream),
        };
        let greeting = client.reply().await;
        assert_eq!(greeting, "220 localhost LMTP ready");
        client
    }
}

struct Client {
    stream: BufReader<TcpStream>,
}

impl Client {
    async fn send(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).await.unwrap();
    }

    /// One reply, its lines joined with `\n` (a multi-line reply is one).
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
        let mut replies = Vec::with_capacity(count);
        for _ in 0..count {
            replies.push(self.reply().await);
        }
        replies
    }

    /// The server closed the connection (nothing more to read).
    async fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        tokio::time::timeout(WAIT, self.stream.read_to_end(&mut rest))
            .await
            .expect("closed in time")
            .map(|_| rest.is_empty())
            .unwrap_or(true)
    }
}

/// The first three characters of each reply and its enhanced code: `250 2.1.5`.
fn codes(replies: &[String]) -> Vec<String> {
    replies
        .iter()
        .map(|r| r.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect()
}

fn traced(recipient: &str, sender: &str, body: &[u8]) -> Vec<u8> {
    let mut message =
        format!("Delivered-To: {recipient}\r\nReturn-Path: <{sender}>\r\n").into_bytes();
    message.extend_from_slice(body);
    message
}

#[tokio::test]
async fn a_pipelined_transaction_gets_one_reply_per_recipient_in_rcpt_order() {
    let server = Server::default().await;
    let ann = server.user("ann", "ann@example.com").await;
    let bob = server.user("bob", "bob@example.com").await;
    let off = server.user("off", "off@example.com").await;
    server.store.set_disabled(off.id, true).await.unwrap();
    let mut client = server.connect().await;
    client
        .send(
            b"LHLO mta.example\r\nMAIL FROM:<s@example.org> BODY=8BITMIME\r\n\
              RCPT TO:<ann@example.com>\r\nRCPT TO:<nobody@example.com>\r\n\
              RCPT TO:<off@example.com>\r\nRCPT TO:<Bob+x@example.com>\r\nDATA\r\n",
        )
        .await;
    let replies = client.replies(7).await;
    let lhlo = &replies[0];
    for capability in [
        "PIPELINING",
        "ENHANCEDSTATUSCODES",
        "8BITMIME",
        "SMTPUTF8",
        "CHUNKING",
        "SIZE 67108864",
    ] {
        assert!(
            lhlo.contains(&format!("250-{capability}"))
                || lhlo.ends_with(&format!("250 {capability}")),
            "{lhlo}"
        );
    }
    assert_eq!(
        codes(&replies[1..]),
        [
            "250 2.1.0",
            "250 2.1.5",
            "550 5.1.1",
            "550 5.2.1",
            "250 2.1.5",
            "354 2.0.0"
        ]
    );
    // The first line starts with a dot too: every stuffed dot is removed, 8-bit bytes stay.
    client
        .send(b"..first\r\nSubject: caf\xc3\xa9\r\n\r\n..second\r\n...\r\nend\r\n.\r\n")
        .await;
    assert_eq!(codes(&client.replies(2).await), ["250 2.0.0", "250 2.0.0"]);
    let body = b".first\r\nSubject: caf\xc3\xa9\r\n\r\n.second\r\n..\r\nend\r\n";
    assert_eq!(
        server.inbox(&ann).await,
        [traced("ann@example.com", "s@example.org", body)]
    );
    assert_eq!(
        server.inbox(&bob).await,
        [traced("Bob+x@example.com", "s@example.org", body)]
    );
    assert!(server.inbox(&off).await.is_empty());

    // The transaction is over: a new one may start, an empty message is one too.
    client
        .send(b"MAIL FROM:<>\r\nRCPT TO:<ann@example.com>\r\nDATA\r\n")
        .await;
    assert_eq!(
        codes(&client.replies(3).await),
        ["250 2.1.0", "250 2.1.5", "354 2.0.0"]
    );
    client.send(b".\r\n").await;
    assert_eq!(codes(&client.replies(1).await), ["250 2.0.0"]);
    assert_eq!(
        server.inbox(&ann).await[1],
        traced("ann@example.com", "", b"")
    );
    client.send(b"QUIT\r\n").await;
    assert_eq!(codes(&client.replies(1).await), ["221 2.0.0"]);
    assert!(client.closed().await);
}

#[tokio::test]
async fn bdat_chunks_are_stored_exactly_without_unstuffing() {
    let server = Server::default().await;
    let ann = server.user("ann", "ann@example.com").await;
    let mut client = server.connect().await;
    let first = b"Subject: chunks\r\n\r\n.dot stays\r\n.\r\n";
    let last = b"bare\nLF and no end";
    let mut pipelined = format!(
        "LHLO mta\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<ann@example.com>\r\nBDAT {}\r\n",
        first.len()
    )
    .into_bytes();
    pipelined.extend_from_slice(first);
    pipelined.extend_from_slice(format!("BDAT {} LAST\r\n", last.len()).as_bytes());
    pipelined.extend_from_slice(last);
    client.send(&pipelined).await;
    let replies = client.replies(5).await;
    assert_eq!(
        codes(&replies[1..]),
        ["250 2.1.0", "250 2.1.5", "250 2.0.0", "250 2.0.0"]
    );
    assert!(
        replies[3].ends_with(&format!("{} octets received", first.len())),
        "{}",
        replies[3]
    );
    let mut body = first.to_vec();
    body.extend_from_slice(last);
    assert_eq!(
        server.inbox(&ann).await,
        [traced("ann@example.com", "s@example.org", &body)]
    );

    // DATA can not follow BDAT in one transaction; its chunk is read past even when refused.
    client.send(b"MAIL FROM:<s@example.org>\r\nRCPT TO:<ann@example.com>\r\nBDAT 3\r\nabcDATA\r\nRSET\r\n").await;
    assert_eq!(
        codes(&client.replies(5).await),
        [
            "250 2.1.0",
            "250 2.1.5",
            "250 2.0.0",
            "503 5.5.1",
            "250 2.0.0"
        ]
    );
    client.send(b"BDAT 5 LAST\r\nhelloNOOP\r\n").await;
    assert_eq!(codes(&client.replies(2).await), ["503 5.5.1", "250 2.0.0"]);
    assert_eq!(server.inbox(&ann).await.len(), 1);
}

#[tokio::test]
async fn oversized_messages_get_552_for_each_recipient_and_the_session_goes_on() {
    let server = Server::start(Config::default(), 1000).await;
    let ann = server.user("ann", "ann@example.com").await;
    server.user("bob", "bob@example.com").await;
    let mut client = server.connect().await;
    client
        .send(b"LHLO mta\r\nMAIL FROM:<s@example.org> SIZE=1001\r\n")
        .await;
    let replies = client.replies(2).await;
    assert!(replies[0].ends_with("250 SIZE 1000"), "{}", replies[0]);
    assert_eq!(codes(&replies[1..]), ["552 5.3.4"]);

    let big = format!("Subject: big\r\n\r\n{}\r\n.\r\n", "x".repeat(5000));
    client
        .send(b"MAIL FROM:<s@example.org>\r\nRCPT TO:<ann@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n")
        .await;
    assert_eq!(codes(&client.replies(4).await)[3], "354 2.0.0");
    client.send(big.as_bytes()).await;
    client.send(b"NOOP\r\n").await;
    assert_eq!(
        codes(&client.replies(3).await),
        ["552 5.3.4", "552 5.3.4", "250 2.0.0"]
    );

    let mut chunks =
        b"MAIL FROM:<s@example.org>\r\nRCPT TO:<ann@example.com>\r\nBDAT 600\r\n".to_vec();
    chunks.extend_from_slice(&[b'y'; 600]);
    chunks.extend_from_slice(b"BDAT 600 LAST\r\n");
    chunks.extend_from_slice(&[b'z'; 600]);
    chunks.extend_from_slice(b"NOOP\r\n");
    client.send(&chunks).await;
    assert_eq!(
        codes(&client.replies(5).await),
        [
            "250 2.1.0",
            "250 2.1.5",
            "250 2.0.0",
            "552 5.3.4",
            "250 2.0.0"
        ]
    );
    assert!(server.inbox(&ann).await.is_empty());
}

#[tokio::test]
async fn commands_out_of_order_are_refused() {
    let server = Server::default().await;
    server.user("ann", "ann@example.com").await;
    let mut client = server.connect().await;
    client
        .send(
            b"MAIL FROM:<s@example.org>\r\nEHLO mta\r\nLHLO mta\r\nRCPT TO:<ann@example.com>\r\n\
              DATA\r\nMAIL FROM:<s@example.org>\r\nMAIL FROM:<t@example.org>\r\n\
              RCPT TO:<nobody@example.com>\r\nDATA\r\nVRFY ann\r\nRSET\r\nNOOP\r\nSTARTTLS\r\n",
        )
        .await;
    let replies = client.replies(13).await;
    assert_eq!(
        codes(&[&replies[..2], &replies[3..]].concat()),
        [
            "503 5.5.1",
            "500 5.5.1",
            "503 5.5.1",
            "503 5.5.1",
            "250 2.1.0",
            "503 5.5.1",
            "550 5.1.1",
            "554 5.5.1",
            "252 2.5.2",
            "250 2.0.0",
            "250 2.0.0",
            "502 5.5.1",
        ]
    );
}

#[tokio::test]
async fn too_many_bad_commands_close_one_session_and_harm_no_other() {
    let config = Config {
        max_bad_commands: 3,
        ..Config::default()
    };
    let server = Server::start(config, 64 * 1024 * 1024).await;
    let ann = server.user("ann", "ann@example.com").await;
    let mut good = server.connect().await;
    good.send(b"LHLO mta\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<ann@example.com>\r\n")
        .await;
    good.replies(3).await;

    let mut bad = server.connect().await;
    bad.send(b"FOO bar\r\nMAIL FROM:<not an address\r\n\x00\xff\xfe\r\nNOOP\r\n")
        .await;
    assert_eq!(
        codes(&bad.replies(4).await),
        ["500 5.5.2", "501 5.1.7", "500 5.5.2", "421 4.7.0"]
    );
    assert!(bad.closed().await);

    good.send(b"DATA\r\nSubject: fine\r\n\r\n.\r\n").await;
    assert_eq!(codes(&good.replies(2).await), ["354 2.0.0", "250 2.0.0"]);
    assert_eq!(server.inbox(&ann).await.len(), 1);
}

#[tokio::test]
async fn a_too_long_line_is_refused_and_the_session_goes_on() {
    let server = Server::default().await;
    let mut client = server.connect().await;
    let mut long = b"NOOP ".to_vec();
    long.extend_from_slice(&[b'a'; 10_000]);
    long.extend_from_slice(b"\r\nNOOP\r\n");
    client.send(&long).await;
    assert_eq!(codes(&client.replies(2).await), ["500 5.5.6", "250 2.0.0"]);
}

#[tokio::test]
async fn an_idle_client_is_told_and_closed() {
    let config = Config {
        idle_timeout_secs: 1,
        ..Config::default()
    };
    let server = Server::start(config, 1024).await;
    let mut client = server.connect().await;
    assert_eq!(codes(&client.replies(1).await), ["421 4.4.2"]);
    assert!(client.closed().await);
}

#[tokio::test]
async fn connections_past_the_limit_are_turned_away() {
    let config = Config {
        max_connections: 1,
        ..Config::default()
    };
    let server = Server::start(config, 1024).await;
    let mut first = server.connect().await;
    let stream = TcpStream::connect(server.address).await.unwrap();
    let mut second = Client {
        stream: BufReader::new(stream),
    };
    assert_eq!(codes(&second.replies(1).await), ["421 4.3.2"]);
    assert!(second.closed().await);
    first.send(b"NOOP\r\n").await;
    assert_eq!(codes(&first.replies(1).await), ["250 2.0.0"]);
}

#[tokio::test]
async fn shutdown_tells_waiting_sessions_and_stops_the_server() {
    let server = Server::default().await;
    let mut client = server.connect().await;
    client.send(b"NOOP\r\n").await;
    client.replies(1).await;
    server.shutdown.send(true).unwrap();
    assert_eq!(codes(&client.replies(1).await), ["421 4.3.2"]);
    assert!(client.closed().await);
    tokio::time::timeout(WAIT, server.task)
        .await
        .expect("server stopped in time")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn internationalized_addresses_need_smtputf8_and_resolve_like_ascii_ones() {
    let server = Server::default().await;
    let intl = server.user("intl", "ülo@bücher.de").await;
    let mut client = server.connect().await;
    client
        .send(
            "LHLO mta\r\nMAIL FROM:<s@example.org>\r\nRCPT TO:<ülo@bücher.de>\r\n\
             RCPT TO:<ULO@xn--bcher-kva.de>\r\nRSET\r\n\
             MAIL FROM:<sënder@example.org> SMTPUTF8\r\nRCPT TO:<Ülo@bücher.de>\r\n\
             RCPT TO:<ülo@xn--bcher-kva.de>\r\nDATA\r\n"
                .as_bytes(),
        )
        .await;
    let replies = client.replies(9).await;
    assert_eq!(
        codes(&replies[1..]),
        [
            "250 2.1.0",
            "553 5.6.7",
            "550 5.1.1",
            "250 2.0.0",
            "250 2.1.0",
            "250 2.1.5",
            "250 2.1.5",
            "354 2.0.0",
        ]
    );
    client
        .send("Subject: grüße\r\n\r\nhi\r\n.\r\n".as_bytes())
        .await;
    // One user reached twice: one copy, the same answer for both recipients.
    assert_eq!(codes(&client.replies(2).await), ["250 2.0.0", "250 2.0.0"]);
    assert_eq!(
        server.inbox(&intl).await,
        [traced(
            "Ülo@bücher.de",
            "sënder@example.org",
            "Subject: grüße\r\n\r\nhi\r\n".as_bytes()
        )]
    );
}
