//! Non-synchronizing literals (RFC 7888) in the three configured modes: LITERAL+ (the
//! default, covered with APPEND in `messages.rs`), LITERAL- (at most 4096 bytes) and none.

use wildduck_imap::{Config, Literals};

use crate::harness::*;

fn capability_line(reply: &str) -> &str {
    reply.lines().next().unwrap_or_default()
}

#[tokio::test]
async fn literal_minus_takes_up_to_4096_bytes_and_refuses_more() {
    let config = Config {
        literal: Literals::Minus,
        ..Config::default()
    };
    let server = TestServer::start_with(config).await;
    let mut c = server.connect().await;
    let caps = c.exchange("m0 CAPABILITY\r\n").await;
    assert!(capability_line(&caps).contains(" LITERAL- "), "{caps}");
    assert!(!caps.contains("LITERAL+"), "{caps}");

    // Small non-synchronizing literals work anywhere, here in LOGIN.
    c.send(format!(
        "m1 LOGIN {{{}+}}\r\n{USER} {{{}+}}\r\n{PASSWORD}\r\n",
        USER.len(),
        PASSWORD.len()
    ))
    .await;
    let login = c.until_tagged("m1").await;
    assert!(login.starts_with("m1 OK"), "{login}");

    // Exactly 4096 bytes: accepted without a continuation.
    let head = "Subject: limit\r\n\r\n";
    let exact = format!("{head}{}", "x".repeat(4096 - head.len()));
    c.send(format!("m2 APPEND INBOX {{4096+}}\r\n{exact}\r\n"))
        .await;
    let appended = c.until_tagged("m2").await;
    assert!(appended.starts_with("m2 OK [APPENDUID"), "{appended}");

    // One byte more: BAD [TOOBIG]; the literal is read and dropped, so the command hidden in
    // it is not run and the session stays in step.
    let hidden = "x\r\nm9 CREATE Smuggled\r\n";
    let smuggled = format!("{hidden}{}", "y".repeat(4097 - hidden.len()));
    c.send(format!("m3 APPEND INBOX {{4097+}}\r\n{smuggled}\r\n"))
        .await;
    assert_eq!(
        c.line().await,
        "m3 BAD [TOOBIG] Non-synchronizing literals may have at most 4096 bytes\r\n"
    );
    assert_eq!(c.exchange("m4 NOOP\r\n").await, "m4 OK NOOP completed\r\n");
    let status = c.exchange("m5 STATUS INBOX (MESSAGES)\r\n").await;
    assert!(status.contains("(MESSAGES 1)"), "{status}");
    let listed = c.exchange("m6 LIST \"\" Smuggled\r\n").await;
    assert_eq!(listed, "m6 OK LIST completed\r\n");

    // A refused command that goes on with a synchronizing literal ends there: no
    // continuation request, and the next line is a new command.
    c.send(format!(
        "m7 LOGIN {{4100+}}\r\n{} {{3}}\r\n",
        "z".repeat(4100)
    ))
    .await;
    assert_eq!(
        c.line().await,
        "m7 BAD [TOOBIG] Non-synchronizing literals may have at most 4096 bytes\r\n"
    );
    assert_eq!(c.exchange("m8 NOOP\r\n").await, "m8 OK NOOP completed\r\n");
    server.stop().await;
}

#[tokio::test]
async fn sync_only_via_the_older_switch_refuses_non_synchronizing_literals() {
    let config = Config {
        literal_plus: false,
        ..Config::default()
    };
    assert_eq!(config.literals(), Literals::SyncOnly);
    let server = TestServer::start_with(config).await;
    let mut c = server.connect().await;
    let caps = c.exchange("s0 CAPABILITY\r\n").await;
    assert!(!caps.contains("LITERAL"), "{caps}");
    // Synchronizing literals still work.
    c.send(format!("s1 LOGIN {{{}}}\r\n", USER.len())).await;
    assert_eq!(c.line().await, "+ Ready for literal data\r\n");
    c.send(format!("{USER} \"{PASSWORD}\"\r\n")).await;
    assert!(c.until_tagged("s1").await.starts_with("s1 OK"));
    c.send("s2 APPEND INBOX {3+}\r\nabc\r\n").await;
    assert_eq!(
        c.until_closed().await,
        "s2 BAD Non-synchronizing literals are not supported\r\n* BYE Protocol error\r\n"
    );
    server.stop().await;
}

#[test]
fn the_older_switch_never_overrides_literal_minus() {
    let minus = Config {
        literal: Literals::Minus,
        literal_plus: false,
        ..Config::default()
    };
    assert_eq!(minus.literals(), Literals::Minus);
    assert_eq!(Config::default().literals(), Literals::Plus);
}
