//! Hostile and broken clients: garbage, huge lines, huge literals, vanishing mid-command.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use wildduck_imap::Config;

use crate::harness::*;

#[tokio::test]
async fn garbage_and_unknown_commands_get_bad_then_bye() {
    let config = Config {
        max_bad_commands: 4,
        ..Config::default()
    };
    let server = TestServer::start_with(config).await;
    let mut c = server.connect().await;
    c.send(b"\xff\xfe\x00garbage\r\n").await;
    assert_eq!(c.line().await, "* BAD Unknown command\r\n");
    assert_eq!(
        c.exchange("x1 FROBNICATE\r\n").await,
        "x1 BAD Unknown command\r\n"
    );
    assert_eq!(
        c.exchange("x2 SELECT\r\n").await,
        "x2 BAD Syntax error in arguments\r\n"
    );
    // A good command in between still works.
    assert_eq!(c.exchange("x3 NOOP\r\n").await, "x3 OK NOOP completed\r\n");
    c.send("x4 DONE\r\n").await;
    assert_eq!(
        c.until_closed().await,
        "x4 BAD Unknown command\r\n* BYE Too many bad commands\r\n"
    );
    // The server keeps serving others.
    let mut other = server.login().await;
    assert_eq!(
        other.exchange("o1 NOOP\r\n").await,
        "o1 OK NOOP completed\r\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_100_megabyte_line_is_refused_without_buffering_it() {
    let server = TestServer::start().await;
    let mut bystander = server.login().await;
    let mut c = server.connect().await;
    let chunk = vec![b'a'; 1024 * 1024];
    c.send(b"t1 NOOP ").await;
    let mut refused = false;
    for _ in 0..100 {
        // The server closes once the limit passes; writes then fail.
        if c.stream.get_mut().write_all(&chunk).await.is_err() {
            refused = true;
            break;
        }
    }
    let rest = c.until_closed().await;
    assert!(refused || rest.contains("BYE"), "{rest}");
    assert_eq!(
        rest,
        "t1 BAD Line too long\r\n* BYE Line too long, closing\r\n"
    );
    assert_eq!(
        bystander.exchange("b1 NOOP\r\n").await,
        "b1 OK NOOP completed\r\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn literals_over_the_limit() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    // Synchronizing: refused before the data, the session goes on.
    c.send("l1 LOGIN {1000000}\r\n").await;
    assert_eq!(
        c.line().await,
        "l1 BAD Literal too big (limit 65536 bytes)\r\n"
    );
    assert_eq!(c.exchange("l2 NOOP\r\n").await, "l2 OK NOOP completed\r\n");
    // Non-synchronizing: the data is on its way, so the session ends.
    c.send("l3 LOGIN {1000000+}\r\nxxxx").await;
    assert_eq!(
        c.until_closed().await,
        "l3 BAD [TOOBIG] Literal too big (limit 65536 bytes)\r\n* BYE Literal too big, closing\r\n"
    );
    // Before login an APPEND literal counts as a small one.
    let mut d = server.connect().await;
    d.send("a1 APPEND INBOX {100000}\r\n").await;
    assert_eq!(
        d.line().await,
        "a1 BAD Literal too big (limit 65536 bytes)\r\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn client_vanishing_mid_literal_stores_nothing() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    c.send("a1 APPEND INBOX {5000}\r\n").await;
    assert_eq!(c.line().await, "+ Ready for literal data\r\n");
    c.send(message("partial", "only part of it")).await;
    drop(c);
    let mut other = server.login().await;
    // Give the server a moment to notice the dead client; the result is checked, not timed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        other.exchange("s1 STATUS INBOX (MESSAGES)\r\n").await,
        "* STATUS INBOX (MESSAGES 0)\r\ns1 OK Status completed\r\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn client_vanishing_mid_idle_leaves_others_working() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    c.exchange("s1 SELECT INBOX\r\n").await;
    c.send("i1 IDLE\r\n").await;
    assert_eq!(c.line().await, "+ idling\r\n");
    drop(c);
    let mut other = server.login().await;
    assert!(
        append(&mut other, "a1", "INBOX", "", &message("after", "x"))
            .await
            .contains("a1 OK")
    );
    assert_eq!(
        other.exchange("n1 NOOP\r\n").await,
        "n1 OK NOOP completed\r\n"
    );
    // Something other than DONE during IDLE ends the IDLE with BAD.
    other.exchange("s2 SELECT INBOX\r\n").await;
    other.send("i2 IDLE\r\n").await;
    assert_eq!(other.line().await, "+ idling\r\n");
    other.send("i3 NOOP\r\n").await;
    assert_eq!(other.until_tagged("i2").await, "i2 BAD Expected DONE\r\n");
    server.stop().await;
}

#[tokio::test]
async fn deeply_nested_arguments_do_not_exhaust_the_stack() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    c.exchange("s0 SELECT INBOX\r\n").await;
    let deep = "(".repeat(200_000);
    let list = c.exchange(&format!("n1 LIST {deep}\r\n")).await;
    assert!(list.starts_with("n1 BAD "), "{list}");
    let search = c.exchange(&format!("n2 SEARCH {deep}ALL\r\n")).await;
    assert!(search.starts_with("n2 BAD "), "{search}");
    let nots = c
        .exchange(&format!("n3 SEARCH {}ALL\r\n", "NOT ".repeat(100_000)))
        .await;
    assert!(nots.starts_with("n3 BAD "), "{nots}");
    assert_eq!(c.exchange("n4 NOOP\r\n").await, "n4 OK NOOP completed\r\n");
    server.stop().await;
}

#[tokio::test]
async fn many_small_literals_can_not_add_up_past_the_line_limit() {
    let config = Config {
        max_line_length: 1000,
        ..Config::default()
    };
    let server = TestServer::start_with(config).await;
    let mut c = server.connect().await;
    let chunk = "x".repeat(400);
    c.send("m1 LOGIN {400}\r\n").await;
    assert_eq!(c.line().await, "+ Ready for literal data\r\n");
    c.send(format!("{chunk} {{400}}\r\n")).await;
    assert_eq!(c.line().await, "+ Ready for literal data\r\n");
    c.send(format!("{chunk} {{400}}\r\n")).await;
    assert_eq!(
        c.line().await,
        "m1 BAD Literal too big (limit 168 bytes)\r\n"
    );
    assert_eq!(c.exchange("m2 NOOP\r\n").await, "m2 OK NOOP completed\r\n");
    server.stop().await;
}
