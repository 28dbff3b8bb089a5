//! The daily download and upload byte counters (`Store::add_download` / `add_upload`) as
//! IMAP charges them: body sections fetched count as downloads, APPENDed messages as uploads;
//! once a day's total is past its limit the command is refused with `NO [LIMIT]`.

use wildduck_imap::Config;
use wildduck_store::{LimitsConfig, MemoryCounters, NewUser, Store};

use crate::harness::*;

const DOWNLOAD_REFUSED: &str = "NO [LIMIT] Daily download limit reached, try again tomorrow\r\n";
const UPLOAD_REFUSED: &str = "NO [LIMIT] Daily upload limit reached, try again tomorrow\r\n";

/// A server over `base`'s store with these daily limits, and two sessions of the user.
struct Limited {
    store: Store,
    addr: std::net::SocketAddr,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Limited {
    async fn stop(self) {
        let _ = self.shutdown.send(true);
        assert!(matches!(self.task.await, Ok(Ok(()))));
    }
}

async fn limited_server(base: &TestServer, limits: LimitsConfig) -> (Limited, Client, Client) {
    let store = base
        .store
        .with_limits(Box::new(MemoryCounters::default()), limits);
    let (addr, shutdown, task) = spawn_server(store.clone(), Config::default(), None).await;
    let mut first = Client::connect(addr).await;
    let mut second = Client::connect(addr).await;
    for (client, tag) in [(&mut first, "L1"), (&mut second, "L2")] {
        let reply = client
            .exchange(&format!("{tag} LOGIN {USER} \"{PASSWORD}\"\r\n"))
            .await;
        assert!(reply.contains(&format!("{tag} OK")), "{reply}");
    }
    let server = Limited {
        store,
        addr,
        shutdown,
        task,
    };
    (server, first, second)
}

#[tokio::test]
async fn fetching_bodies_stops_at_the_daily_download_limit() {
    let base = TestServer::start().await;
    let raw: Vec<String> = (1..=4)
        .map(|n| message(&format!("m{n}"), &"x".repeat(150)))
        .collect();
    let size = raw[0].len() as u64;
    // Two messages fit; the third crosses the limit.
    let limits = LimitsConfig {
        daily_download: Some(2 * size + 10),
        ..LimitsConfig::default()
    };
    let (server, mut c, mut other) = limited_server(&base, limits).await;
    let store = &server.store;
    for (n, raw) in raw.iter().enumerate() {
        let appended = append(&mut c, &format!("a{n}"), "INBOX", "", raw).await;
        assert!(appended.contains("OK [APPENDUID"), "{appended}");
    }
    c.exchange("s1 SELECT INBOX\r\n").await;

    // Metadata is free.
    let meta = c
        .exchange("f1 FETCH 1:4 (UID FLAGS RFC822.SIZE ENVELOPE)\r\n")
        .await;
    assert!(meta.ends_with("f1 OK Fetch completed\r\n"), "{meta}");
    let one = c.exchange("f2 FETCH 1 BODY.PEEK[]\r\n").await;
    assert!(one.ends_with("f2 OK Fetch completed\r\n"), "{one}");

    // Message 2 brings the day to 2 sizes, message 3 past the limit: the FETCH stops there.
    let crossing = c.exchange("f3 FETCH 2:4 BODY[]\r\n").await;
    assert!(
        crossing.contains(&format!("* 2 FETCH (BODY[] {{{size}}}\r\n{}", raw[1])),
        "{crossing}"
    );
    assert!(
        crossing.contains(&format!("* 3 FETCH (BODY[] {{{size}}}\r\n{}", raw[2])),
        "{crossing}"
    );
    assert!(!crossing.contains("* 4 FETCH"), "{crossing}");
    assert!(
        crossing.ends_with(&format!("f3 {DOWNLOAD_REFUSED}")),
        "{crossing}"
    );
    // Message 4 was not sent, so it is not left \Seen; 3 was read.
    let flags = c.exchange("f4 FETCH 3:4 FLAGS\r\n").await;
    assert!(
        flags.contains("* 3 FETCH (FLAGS (\\Recent \\Seen))"),
        "{flags}"
    );
    assert!(flags.contains("* 4 FETCH (FLAGS (\\Recent))"), "{flags}");

    // Past the limit any body FETCH is refused before anything is sent, in every session of
    // the user; other users are not affected.
    assert_eq!(
        c.exchange("f5 FETCH 1 BODY.PEEK[HEADER]\r\n").await,
        format!("f5 {DOWNLOAD_REFUSED}")
    );
    other.exchange("o1 SELECT INBOX\r\n").await;
    assert_eq!(
        other.exchange("o2 UID FETCH 1 RFC822\r\n").await,
        format!("o2 {DOWNLOAD_REFUSED}")
    );
    store
        .create_user(NewUser {
            username: "bob".into(),
            password: "bob's password".into(),
            ..Default::default()
        })
        .await
        .expect("second user");
    let bob = store.find_user("bob").await.expect("bob");
    let inbox = store.get_mailbox(bob.id, "INBOX").await.expect("inbox");
    store
        .append(inbox.id, raw[0].as_bytes(), &Default::default(), None)
        .await
        .expect("append for bob");
    let mut b = Client::connect(server.addr).await;
    b.exchange("b1 LOGIN bob \"bob's password\"\r\n").await;
    b.exchange("b2 SELECT INBOX\r\n").await;
    let bobs = b.exchange("b3 FETCH 1 BODY.PEEK[]\r\n").await;
    assert!(bobs.ends_with("b3 OK Fetch completed\r\n"), "{bobs}");
    server.stop().await;
}

#[tokio::test]
async fn appends_stop_at_the_daily_upload_limit() {
    let base = TestServer::start().await;
    let raw = message("up", &"y".repeat(150));
    let size = raw.len() as u64;
    let limits = LimitsConfig {
        daily_upload: Some(2 * size + 10),
        ..LimitsConfig::default()
    };
    let (server, mut c, _) = limited_server(&base, limits).await;
    // Each APPEND is allowed while the day's total is within the limit: the third one takes
    // it past.
    for tag in ["a1", "a2", "a3"] {
        let appended = append(&mut c, tag, "INBOX", "", &raw).await;
        assert!(
            appended.contains(&format!("{tag} OK [APPENDUID")),
            "{appended}"
        );
    }
    // Synchronizing: refused before the message is sent.
    c.send(format!("a4 APPEND INBOX {{{size}}}\r\n")).await;
    assert_eq!(c.line().await, format!("a4 {UPLOAD_REFUSED}"));
    // Non-synchronizing: read, then refused.
    c.send(format!("a5 APPEND INBOX {{{size}+}}\r\n{raw}\r\n"))
        .await;
    assert_eq!(c.until_tagged("a5").await, format!("a5 {UPLOAD_REFUSED}"));
    let status = c.exchange("a6 STATUS INBOX (MESSAGES)\r\n").await;
    assert!(status.contains("(MESSAGES 3)"), "{status}");
    // Downloads have their own counter (no limit here).
    c.exchange("a7 SELECT INBOX\r\n").await;
    let fetched = c.exchange("a8 FETCH 1:3 BODY.PEEK[]\r\n").await;
    assert!(fetched.ends_with("a8 OK Fetch completed\r\n"), "{fetched}");
    server.stop().await;
}
