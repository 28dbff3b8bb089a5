//! Not-authenticated and any-state commands, login, limits, shutdown.

use wildduck_imap::Config;

use crate::harness::*;

const CAPS_TAIL: &str = "ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN SPECIAL-USE LIST-EXTENDED LIST-STATUS XLIST CONDSTORE QRESYNC QUOTA QUOTA=RES-STORAGE STATUS=SIZE COMPRESS=DEFLATE UTF8=ACCEPT UNAUTHENTICATE ESEARCH SEARCHRES SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES OBJECTID MULTIAPPEND SAVEDATE LITERAL+ APPENDLIMIT=67108864";

#[tokio::test]
async fn greeting_and_capability_before_and_after_login() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    assert_eq!(
        c.greeting,
        format!(
            "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=OAUTHBEARER AUTH=XOAUTH2 SASL-IR {CAPS_TAIL}] WildDuck-rs ready\r\n"
        )
    );
    assert_eq!(
        c.exchange("c1 CAPABILITY\r\n").await,
        format!(
            "* CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=OAUTHBEARER AUTH=XOAUTH2 SASL-IR {CAPS_TAIL}\r\nc1 OK Capability completed\r\n"
        )
    );
    assert_eq!(
        c.exchange(&format!("c2 LOGIN {USER} \"{PASSWORD}\"\r\n"))
            .await,
        format!("c2 OK [CAPABILITY IMAP4rev1 {CAPS_TAIL}] Logged in\r\n")
    );
    assert_eq!(c.exchange("c3 NOOP\r\n").await, "c3 OK NOOP completed\r\n");
    assert_eq!(
        c.exchange("c4 CHECK\r\n").await,
        "c4 BAD Select a mailbox first\r\n"
    );
    assert_eq!(
        c.exchange("c5 LOGOUT\r\n").await,
        "* BYE Logging out\r\nc5 OK Logout completed\r\n"
    );
    assert_eq!(c.until_closed().await, "");
    server.stop().await;
}

#[tokio::test]
async fn login_failures_and_wrong_state() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    assert_eq!(
        c.exchange(&format!("a1 LOGIN {USER} wrong\r\n")).await,
        "a1 NO [AUTHENTICATIONFAILED] Authentication failed\r\n"
    );
    assert_eq!(
        c.exchange("a2 LOGIN nobody wrong\r\n").await,
        "a2 NO [AUTHENTICATIONFAILED] Authentication failed\r\n"
    );
    assert_eq!(
        c.exchange("a3 SELECT INBOX\r\n").await,
        "a3 BAD Log in first\r\n"
    );
    assert_eq!(
        c.exchange("a4 FETCH 1 FLAGS\r\n").await,
        "a4 BAD Log in first\r\n"
    );
    assert_eq!(c.exchange("a5 IDLE\r\n").await, "a5 BAD Log in first\r\n");
    assert_eq!(
        c.exchange("a6 LOGIN\r\n").await,
        "a6 BAD Syntax error in arguments\r\n"
    );
    // A literal password works as well.
    c.send(format!("a7 LOGIN {USER} {{{}}}\r\n", PASSWORD.len()))
        .await;
    assert_eq!(c.line().await, "+ Ready for literal data\r\n");
    c.send(format!("{PASSWORD}\r\n")).await;
    assert!(c.until_tagged("a7").await.starts_with("a7 OK [CAPABILITY"));
    assert_eq!(
        c.exchange(&format!("a8 LOGIN {USER} x\r\n")).await,
        "a8 BAD Already logged in\r\n"
    );
    assert_eq!(
        c.exchange("a9 STARTTLS\r\n").await,
        "a9 BAD Already logged in\r\n"
    );
    assert_eq!(
        c.exchange("a10 FETCH 1 FLAGS\r\n").await,
        "a10 BAD Select a mailbox first\r\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn authenticate_plain_with_and_without_initial_response() {
    let server = TestServer::start().await;
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut c = server.connect().await;
    let wrong = b64(&format!("\0{USER}\0nope"));
    assert_eq!(
        c.exchange(&format!("p1 AUTHENTICATE PLAIN {wrong}\r\n"))
            .await,
        "p1 NO [AUTHENTICATIONFAILED] Authentication failed\r\n"
    );
    c.send("p2 AUTHENTICATE PLAIN\r\n").await;
    assert_eq!(c.line().await, "+ \r\n");
    c.send("*\r\n").await;
    assert_eq!(
        c.until_tagged("p2").await,
        "p2 BAD Authentication cancelled\r\n"
    );
    c.send("p3 AUTHENTICATE PLAIN\r\n").await;
    assert_eq!(c.line().await, "+ \r\n");
    c.send("!!notbase64!!\r\n").await;
    assert_eq!(c.until_tagged("p3").await, "p3 BAD Invalid base64\r\n");
    assert_eq!(
        c.exchange("p4 AUTHENTICATE CRAM-MD5\r\n").await,
        "p4 NO Unsupported authentication mechanism\r\n"
    );
    c.send("p5 AUTHENTICATE PLAIN\r\n").await;
    assert_eq!(c.line().await, "+ \r\n");
    c.send(format!("{}\r\n", b64(&format!("\0{USER}\0{PASSWORD}"))))
        .await;
    assert!(
        c.until_tagged("p5")
            .await
            .starts_with("p5 OK [CAPABILITY IMAP4rev1 ID")
    );

    let mut d = server.connect().await;
    let good = b64(&format!("{USER}\0{USER}\0{PASSWORD}"));
    assert!(
        d.exchange(&format!("q1 AUTHENTICATE PLAIN {good}\r\n"))
            .await
            .starts_with("q1 OK")
    );
    server.stop().await;
}

#[tokio::test]
async fn logindisabled_without_tls_when_plaintext_is_not_allowed() {
    let config = Config {
        allow_plaintext_login: wildduck_imap::PlaintextLogin::Never,
        ..Config::default()
    };
    let server = TestServer::start_with(config).await;
    let mut c = server.connect().await;
    assert!(
        c.greeting
            .starts_with("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED ID"),
        "{}",
        c.greeting
    );
    let caps = c.exchange("c1 CAPABILITY\r\n").await;
    assert!(
        caps.starts_with("* CAPABILITY IMAP4rev1 LOGINDISABLED ID"),
        "{caps}"
    );
    assert!(!caps.contains("AUTH=PLAIN"));
    assert_eq!(
        c.exchange(&format!("c2 LOGIN {USER} \"{PASSWORD}\"\r\n"))
            .await,
        "c2 NO [PRIVACYREQUIRED] Use STARTTLS first\r\n"
    );
    assert_eq!(
        c.exchange("c3 STARTTLS\r\n").await,
        "c3 NO TLS is not available\r\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn id_namespace_enable() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    assert_eq!(
        c.exchange("i1 ID (\"name\" \"test\")\r\n").await,
        format!(
            "* ID (\"name\" \"wildduck-rs\" \"version\" \"{}\")\r\ni1 OK ID completed\r\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!(
        c.exchange("i2 ID NIL\r\n").await.lines().last(),
        Some("i2 OK ID completed")
    );
    assert_eq!(
        c.exchange("i3 NAMESPACE\r\n").await,
        "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\ni3 OK Namespace completed\r\n"
    );
    assert_eq!(
        c.exchange("i4 ENABLE CONDSTORE\r\n").await,
        "* ENABLED CONDSTORE\r\ni4 OK Enabled\r\n"
    );
    assert_eq!(
        c.exchange("i5 ENABLE CONDSTORE X-UNKNOWN\r\n").await,
        "* ENABLED\r\ni5 OK Enabled\r\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn per_user_and_total_connection_limits() {
    let config = Config {
        max_connections_per_user: 1,
        max_connections: 2,
        ..Config::default()
    };
    let server = TestServer::start_with(config).await;
    let mut first = server.login().await;
    let mut second = server.connect().await;
    assert_eq!(
        second
            .exchange(&format!("l1 LOGIN {USER} \"{PASSWORD}\"\r\n"))
            .await,
        "l1 NO [LIMIT] Too many simultaneous connections for this user\r\n"
    );
    let third = Client::connect(server.addr).await;
    assert_eq!(
        third.greeting,
        "* BYE Too many connections, try again later\r\n"
    );
    // Logging out frees the user's slot for the waiting session.
    first.exchange("l2 LOGOUT\r\n").await;
    first.until_closed().await;
    let mut retried = String::new();
    for attempt in 0..50 {
        retried = second
            .exchange(&format!("r{attempt} LOGIN {USER} \"{PASSWORD}\"\r\n"))
            .await;
        if retried.contains(" OK ") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(retried.contains(" OK [CAPABILITY"), "{retried}");
    server.stop().await;
}

#[tokio::test]
async fn shutdown_says_bye_to_open_sessions() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    let mut idle = server.login().await;
    idle.exchange("s1 SELECT INBOX\r\n").await;
    idle.send("s2 IDLE\r\n").await;
    assert_eq!(idle.line().await, "+ idling\r\n");
    server.stop().await;
    assert_eq!(c.until_closed().await, "* BYE Server shutting down\r\n");
    assert_eq!(idle.until_closed().await, "* BYE Server shutting down\r\n");
}

#[tokio::test]
async fn idle_timeout_closes_silent_sessions() {
    let config = Config {
        idle_timeout_secs: 1,
        ..Config::default()
    };
    let server = TestServer::start_with(config).await;
    let mut c = server.login().await;
    assert_eq!(
        c.until_closed().await,
        "* BYE Idle for too long, closing\r\n"
    );
    server.stop().await;
}
