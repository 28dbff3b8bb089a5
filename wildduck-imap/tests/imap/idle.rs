//! IDLE: pushes from another connection and from another server instance on the same store.

use std::time::Duration;

use wildduck_imap::Config;

use crate::harness::*;

/// Reads lines until one starts with `prefix` (keepalives may come first).
async fn line_starting(client: &mut Client, prefix: &str) -> String {
    loop {
        let line = client.line().await;
        assert!(!line.is_empty(), "closed while waiting for {prefix}");
        if line.starts_with(prefix) {
            return line;
        }
    }
}

#[tokio::test]
async fn idle_gets_exists_expunge_and_flags_from_another_connection() {
    let server = TestServer::start().await;
    let mut idler = server.login().await;
    let mut other = server.login().await;
    append(&mut other, "a0", "INBOX", "", &message("first", "x")).await;
    idler.exchange("s1 SELECT INBOX\r\n").await;
    other.exchange("s2 SELECT INBOX\r\n").await;
    idler.send("i1 IDLE\r\n").await;
    assert_eq!(idler.line().await, "+ idling\r\n");

    append(&mut other, "a1", "INBOX", "", &message("second", "x")).await;
    assert_eq!(line_starting(&mut idler, "* 2").await, "* 2 EXISTS\r\n");
    other
        .exchange("t1 STORE 1 +FLAGS.SILENT (\\Flagged)\r\n")
        .await;
    assert_eq!(
        line_starting(&mut idler, "* 1 FETCH").await,
        "* 1 FETCH (UID 1 FLAGS (\\Recent \\Flagged))\r\n"
    );
    other
        .exchange("t2 STORE 2 +FLAGS.SILENT (\\Deleted)\r\n")
        .await;
    other.exchange("t3 EXPUNGE\r\n").await;
    assert_eq!(line_starting(&mut idler, "* 2 E").await, "* 2 EXPUNGE\r\n");
    idler.send("DONE\r\n").await;
    assert_eq!(idler.until_tagged("i1").await, "i1 OK IDLE terminated\r\n");
    assert_eq!(
        idler.exchange("n1 NOOP\r\n").await,
        "n1 OK NOOP completed\r\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn idle_keepalive() {
    let config = Config {
        idle_keepalive_secs: 1,
        ..Config::default()
    };
    let server = TestServer::start_with(config).await;
    let mut idler = server.login().await;
    idler.exchange("s1 SELECT INBOX\r\n").await;
    idler.send("i1 IDLE\r\n").await;
    assert_eq!(idler.line().await, "+ idling\r\n");
    assert_eq!(idler.line().await, "* OK Still here\r\n");
    idler.send("done\r\n").await;
    assert_eq!(idler.until_tagged("i1").await, "i1 OK IDLE terminated\r\n");
    server.stop().await;
}

#[tokio::test]
async fn idle_across_two_server_instances_on_one_store_directory() {
    let server = TestServer::start_with(Config {
        idle_poll_secs: 1,
        ..Config::default()
    })
    .await;
    let second = TestServer::second_instance(server.dir.path(), Config::default()).await;
    let (_second_store, second_addr, second_shutdown, second_task) = match second {
        Ok(parts) => parts,
        Err(why) => panic!("a second store over the same directory could not be opened: {why}"),
    };
    let mut idler = server.login().await;
    idler.exchange("s1 SELECT INBOX\r\n").await;
    idler.send("i1 IDLE\r\n").await;
    assert_eq!(idler.line().await, "+ idling\r\n");

    let mut writer = Client::connect(second_addr).await;
    let reply = writer
        .exchange(&format!("l1 LOGIN {USER} \"{PASSWORD}\"\r\n"))
        .await;
    assert!(reply.contains("l1 OK"), "{reply}");
    assert!(
        append(&mut writer, "a1", "INBOX", "", &message("cross", "x"))
            .await
            .contains("a1 OK")
    );
    // The store's notifier is per process: the idler learns of the change by polling the
    // journal every `idle_poll_secs`. Wait for EXISTS, bounded by a timeout.
    let line = tokio::time::timeout(
        Duration::from_secs(20),
        line_starting(&mut idler, "* 1 EXISTS"),
    )
    .await;
    assert!(line.is_ok(), "no EXISTS from the other instance");
    let _ = second_shutdown.send(true);
    let _ = second_task.await;
    server.stop().await;
}
