//! Raw-bytes transcripts of every command, each state, and the error cases.

mod common;

use common::*;
use wildduck_pop3::{Config, PlaintextLogin};
use wildduck_store::{Flag, LimitsConfig, MemoryCounters, MetaFields, UidSet};

#[tokio::test]
async fn capa_differs_by_state() {
    let (_dir, _account, server) = setup(test_config()).await;
    let mut client = server.greeted().await;
    client
        .transcript(
            "CAPA\r\n",
            "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nUSER\r\nSASL PLAIN OAUTHBEARER XOAUTH2\r\nIMPLEMENTATION wildduck-rs\r\n.\r\n",
        )
        .await;
    client
        .transcript(
            &format!("USER {USER}\r\nPASS {PASSWORD}\r\nCAPA\r\n"),
            "+OK Send PASS\r\n+OK Logged in, 0 messages in the maildrop\r\n+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nIMPLEMENTATION wildduck-rs\r\n.\r\n",
        )
        .await;
    client
        .transcript("QUIT\r\n", "+OK Bye, 0 messages removed\r\n")
        .await;
    client.expect_closed().await;
    server.stop().await;
}

#[tokio::test]
async fn user_pass_failures_and_wrong_order() {
    let (_dir, _account, server) = setup(Config {
        max_auth_failures: 2,
        ..test_config()
    })
    .await;
    let mut client = server.greeted().await;
    client
        .transcript("PASS nothing\r\n", "-ERR Send USER first\r\n")
        .await;
    client
        .transcript(
            &format!("USER {USER}\r\nPASS wrong\r\n"),
            "+OK Send PASS\r\n-ERR [AUTH] Invalid username or password\r\n",
        )
        .await;
    // A failed PASS forgets the USER.
    client
        .transcript(&format!("PASS {PASSWORD}\r\n"), "-ERR Send USER first\r\n")
        .await;
    client
        .transcript(
            &format!("USER nobody\r\nPASS {PASSWORD}\r\n"),
            "+OK Send PASS\r\n-ERR [AUTH] Invalid username or password; too many failed logins, closing connection\r\n",
        )
        .await;
    client.expect_closed().await;
    server.stop().await;
}

#[tokio::test]
async fn password_with_spaces_and_case_insensitive_commands() {
    let (_dir, _account, server) = setup(test_config()).await;
    let mut client = server.greeted().await;
    client
        .transcript(
            &format!("user {USER}\r\npass {PASSWORD}\r\nstat\r\nquit\r\n"),
            "+OK Send PASS\r\n+OK Logged in, 0 messages in the maildrop\r\n+OK 0 0\r\n+OK Bye, 0 messages removed\r\n",
        )
        .await;
    client.expect_closed().await;
    server.stop().await;
}

#[tokio::test]
async fn auth_plain_initial_response_continuation_and_errors() {
    use base64::Engine;
    let encode = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let (_dir, _account, server) = setup(Config {
        max_auth_failures: 10,
        ..test_config()
    })
    .await;
    let mut client = server.greeted().await;
    client
        .transcript(
            "AUTH\r\n",
            "+OK\r\nPLAIN\r\nOAUTHBEARER\r\nXOAUTH2\r\n.\r\n",
        )
        .await;
    client
        .transcript(
            "AUTH CRAM-MD5\r\n",
            "-ERR Unsupported authentication mechanism\r\n",
        )
        .await;
    client.transcript("AUTH PLAIN\r\n", "+ \r\n").await;
    client
        .transcript("*\r\n", "-ERR Authentication cancelled\r\n")
        .await;
    client
        .transcript(
            "AUTH PLAIN !!!\r\n",
            "-ERR [AUTH] Invalid base64 in the SASL response\r\n",
        )
        .await;
    client
        .transcript(
            &format!(
                "AUTH PLAIN {}\r\n",
                encode(&format!("bob\0{USER}\0{PASSWORD}"))
            ),
            "-ERR [AUTH] Logging in as another user is not supported\r\n",
        )
        .await;
    client
        .transcript(
            &format!("AUTH PLAIN {}\r\n", encode(&format!("\0{USER}\0nope"))),
            "-ERR [AUTH] Invalid username or password\r\n",
        )
        .await;
    // Continuation form, then success.
    client.transcript("AUTH PLAIN\r\n", "+ \r\n").await;
    client
        .transcript(
            &format!("{}\r\n", encode(&format!("\0{USER}\0{PASSWORD}"))),
            "+OK Logged in, 0 messages in the maildrop\r\n",
        )
        .await;
    client
        .transcript(
            &format!(
                "AUTH PLAIN {}\r\n",
                encode(&format!("\0{USER}\0{PASSWORD}"))
            ),
            "-ERR Command not valid in this state\r\n",
        )
        .await;
    client
        .transcript("QUIT\r\n", "+OK Bye, 0 messages removed\r\n")
        .await;
    server.stop().await;

    // Initial response on a fresh connection.
    let (_dir, _account, server) = setup(test_config()).await;
    let mut client = server.greeted().await;
    client
        .transcript(
            &format!(
                "AUTH PLAIN {}\r\n",
                encode(&format!("{USER}\0{USER}\0{PASSWORD}"))
            ),
            "+OK Logged in, 0 messages in the maildrop\r\n",
        )
        .await;
    server.stop().await;
}

#[tokio::test]
async fn commands_in_the_wrong_state() {
    let (_dir, account, server) = setup(Config {
        max_bad_commands: 20,
        ..test_config()
    })
    .await;
    account.append(&message("one", 1)).await;
    let mut client = server.greeted().await;
    for command in [
        "STAT", "LIST", "UIDL", "RETR 1", "TOP 1 0", "DELE 1", "RSET",
    ] {
        client
            .transcript(
                &format!("{command}\r\n"),
                "-ERR Command not valid in this state\r\n",
            )
            .await;
    }
    client
        .transcript(
            &format!("USER {USER}\r\nPASS {PASSWORD}\r\n"),
            "+OK Send PASS\r\n+OK Logged in, 1 messages in the maildrop\r\n",
        )
        .await;
    for command in ["USER x", "PASS y", "AUTH PLAIN", "STLS"] {
        client
            .transcript(
                &format!("{command}\r\n"),
                "-ERR Command not valid in this state\r\n",
            )
            .await;
    }
    client.transcript("NOOP\r\n", "+OK\r\n").await;
    client
        .transcript("QUIT\r\n", "+OK Bye, 0 messages removed\r\n")
        .await;
    server.stop().await;
}

#[tokio::test]
async fn stat_list_uidl_show_every_message() {
    let (_dir, account, server) = setup(test_config()).await;
    let first = message("first", 3);
    let second = message("second", 10);
    let a = account.append(&first).await;
    let b = account.append(&second).await;
    let total = first.len() + second.len();
    let mut client = server.logged_in(2).await;
    client
        .transcript(
            "STAT\r\nLIST\r\nLIST 2\r\nUIDL\r\nUIDL 1\r\n",
            &format!(
                "+OK 2 {total}\r\n\
                 +OK 2 messages ({total} octets)\r\n1 {}\r\n2 {}\r\n.\r\n\
                 +OK 2 {}\r\n\
                 +OK Unique-ID listing follows\r\n1 {}\r\n2 {}\r\n.\r\n\
                 +OK 1 {}\r\n",
                first.len(),
                second.len(),
                second.len(),
                a.id,
                b.id,
                a.id
            ),
        )
        .await;
    assert_eq!(a.id.to_string().len(), 24);
    client
        .transcript("QUIT\r\n", "+OK Bye, 0 messages removed\r\n")
        .await;
    server.stop().await;
}

#[tokio::test]
async fn retr_is_dot_stuffed_and_sized_as_sent() {
    let (_dir, account, server) = setup(test_config()).await;
    let crlf = b"Subject: dots\r\n\r\n.starts with a dot\r\n..two\r\n.\r\nend\r\n".to_vec();
    // Bare LF line ends and no final line end: sent as CRLF lines, and counted so.
    let bare = b"Subject: bare\n\n.x\nlast".to_vec();
    account.append(&crlf).await;
    account.append(&bare).await;
    let bare_on_wire: &[u8] = b"Subject: bare\r\n\r\n.x\r\nlast\r\n";
    let mut client = server.logged_in(2).await;
    client
        .transcript(
            "LIST\r\n",
            &format!(
                "+OK 2 messages ({} octets)\r\n1 {}\r\n2 {}\r\n.\r\n",
                crlf.len() + bare_on_wire.len(),
                crlf.len(),
                bare_on_wire.len()
            ),
        )
        .await;
    client.send(b"RETR 1\r\n").await;
    client
        .expect(b"+OK 52 octets\r\nSubject: dots\r\n\r\n..starts with a dot\r\n...two\r\n..\r\nend\r\n.\r\n")
        .await;
    assert_eq!(crlf.len(), 52);
    client.send(b"RETR 2\r\n").await;
    client
        .expect(b"+OK 27 octets\r\nSubject: bare\r\n\r\n..x\r\nlast\r\n.\r\n")
        .await;
    assert_eq!(bare_on_wire.len(), 27);
    client
        .transcript("QUIT\r\n", "+OK Bye, 0 messages removed\r\n")
        .await;
    server.stop().await;
}

#[tokio::test]
async fn top_sends_header_and_some_lines() {
    let (_dir, account, server) = setup(test_config()).await;
    let raw = b"Subject: top\r\nX-A: b\r\n\r\none\r\n.two\r\nthree\r\n".to_vec();
    account.append(&raw).await;
    let mut client = server.logged_in(1).await;
    client
        .transcript(
            "TOP 1 0\r\nTOP 1 2\r\nTOP 1 100\r\n",
            "+OK Top of message follows\r\nSubject: top\r\nX-A: b\r\n\r\n.\r\n\
             +OK Top of message follows\r\nSubject: top\r\nX-A: b\r\n\r\none\r\n..two\r\n.\r\n\
             +OK Top of message follows\r\nSubject: top\r\nX-A: b\r\n\r\none\r\n..two\r\nthree\r\n.\r\n",
        )
        .await;
    client
        .transcript(
            "TOP 1 -5\r\nTOP 1\r\nTOP 2 1\r\nTOP 0 1\r\n",
            "-ERR Invalid line count\r\n-ERR TOP needs a message number and a line count\r\n-ERR No such message\r\n-ERR No such message\r\n",
        )
        .await;
    client
        .transcript("QUIT\r\n", "+OK Bye, 0 messages removed\r\n")
        .await;
    // TOP does not count as retrieval: the message stays unseen.
    let meta = account
        .store
        .fetch_meta(account.inbox, &UidSet::all(), MetaFields::default())
        .await
        .expect("meta");
    assert!(!meta[0].flags.contains(&Flag::Seen));
    server.stop().await;
}

#[tokio::test]
async fn dele_rset_and_numbering_stays_fixed() {
    let (_dir, account, server) = setup(test_config()).await;
    let raws = [message("a", 1), message("b", 2), message("c", 3)];
    for raw in &raws {
        account.append(raw).await;
    }
    let mut client = server.logged_in(3).await;
    client
        .transcript(
            "DELE 2\r\nDELE 2\r\nRETR 2\r\nLIST 2\r\nUIDL 2\r\nTOP 2 0\r\nSTAT\r\n",
            &format!(
                "+OK Message 2 deleted\r\n-ERR Message is marked as deleted\r\n-ERR Message is marked as deleted\r\n\
                 -ERR Message is marked as deleted\r\n-ERR Message is marked as deleted\r\n-ERR Message is marked as deleted\r\n\
                 +OK 2 {}\r\n",
                raws[0].len() + raws[2].len()
            ),
        )
        .await;
    // Message 3 is still number 3.
    client.send(b"RETR 3\r\n").await;
    client.expect(&retr_response(&raws[2])).await;
    client
        .transcript(
            "RSET\r\nSTAT\r\n",
            &format!(
                "+OK Maildrop has 3 messages\r\n+OK 3 {}\r\n",
                raws.iter().map(Vec::len).sum::<usize>()
            ),
        )
        .await;
    client
        .transcript(
            "DELE 1\r\nQUIT\r\n",
            "+OK Message 1 deleted\r\n+OK Bye, 1 messages removed\r\n",
        )
        .await;
    client.expect_closed().await;

    // Message 1 is gone for good; 3 was retrieved and is now \Seen; 2 was not.
    let meta = account
        .store
        .fetch_meta(account.inbox, &UidSet::all(), MetaFields::default())
        .await
        .expect("meta");
    assert_eq!(meta.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![2, 3]);
    assert!(!meta[0].flags.contains(&Flag::Seen));
    assert!(meta[1].flags.contains(&Flag::Seen));
    let mut client = server.logged_in(2).await;
    client.send(b"RETR 1\r\n").await;
    client.expect(&retr_response(&raws[1])).await;
    server.stop().await;
}

#[tokio::test]
async fn disconnect_without_quit_changes_nothing() {
    let (_dir, account, server) = setup(test_config()).await;
    let raw = message("keep", 2);
    account.append(&raw).await;
    let mut client = server.logged_in(1).await;
    client.send(b"RETR 1\r\n").await;
    client.expect(&retr_response(&raw)).await;
    client
        .transcript("DELE 1\r\n", "+OK Message 1 deleted\r\n")
        .await;
    drop(client);
    // A new session still sees it, unseen.
    let mut client = server.logged_in(1).await;
    client
        .transcript("QUIT\r\n", "+OK Bye, 0 messages removed\r\n")
        .await;
    let meta = account
        .store
        .fetch_meta(account.inbox, &UidSet::all(), MetaFields::default())
        .await
        .expect("meta");
    assert_eq!(meta.len(), 1);
    assert!(meta[0].flags.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn bad_input_gets_clear_errors_and_leaves_session_intact() {
    let (_dir, account, server) = setup(Config {
        max_bad_commands: 100,
        ..test_config()
    })
    .await;
    let raw = message("intact", 2);
    account.append(&raw).await;
    let mut client = server.logged_in(1).await;
    client
        .transcript(
            "RETR 0\r\nRETR 99999\r\nRETR 99999999999\r\nRETR abc\r\nDELE 0\r\nLIST 7\r\nUIDL 0\r\nSTAT now\r\n",
            "-ERR No such message\r\n-ERR No such message\r\n-ERR Invalid message number\r\n-ERR Invalid message number\r\n\
             -ERR No such message\r\n-ERR No such message\r\n-ERR No such message\r\n-ERR Too many arguments\r\n",
        )
        .await;
    client
        .send(b"HELO there\r\n\r\n\x00\x01\x02\r\n\xff\xfe\r\n")
        .await;
    client
        .expect(b"-ERR Unknown command HELO\r\n-ERR Empty command\r\n-ERR Unknown command\r\n-ERR Command is not valid UTF-8\r\n")
        .await;
    // A 1 MB line: one error once it ends, and memory stays bounded meanwhile.
    let mut long = vec![b'A'; 1024 * 1024];
    long.extend_from_slice(b"\r\nNOOP\r\n");
    client.send(&long).await;
    client.expect(b"-ERR Line too long\r\n+OK\r\n").await;
    // Pipelined garbage between good commands: answered in order.
    client
        .transcript(
            "NOOP\r\nGARBAGE 1 2 3\r\nSTAT\r\nRETR -1\r\nTOP 1 -5\r\nUIDL 1\r\n",
            &format!(
                "+OK\r\n-ERR Unknown command GARBAGE\r\n+OK 1 {}\r\n-ERR Invalid message number\r\n-ERR Invalid line count\r\n",
                raw.len()
            ),
        )
        .await;
    let uidl = client.line().await;
    assert!(uidl.starts_with("+OK 1 "), "{uidl}");
    client.send(b"RETR 1\r\n").await;
    client.expect(&retr_response(&raw)).await;
    client
        .transcript("QUIT\r\n", "+OK Bye, 0 messages removed\r\n")
        .await;
    let status = account
        .store
        .mailbox_status(account.inbox)
        .await
        .expect("status");
    assert_eq!(status.messages, 1);
    server.stop().await;
}

#[tokio::test]
async fn too_many_bad_commands_close_the_connection() {
    let (_dir, _account, server) = setup(Config {
        max_bad_commands: 2,
        ..test_config()
    })
    .await;
    let mut client = server.greeted().await;
    client
        .transcript(
            "ONE\r\nTWO\r\nTHREE\r\nNOOP\r\n",
            "-ERR Unknown command ONE\r\n-ERR Unknown command TWO\r\n-ERR Unknown command THREE; too many bad commands, closing connection\r\n",
        )
        .await;
    client.expect_closed().await;
    server.stop().await;
}

#[tokio::test]
async fn pipelined_session_in_one_packet() {
    let (_dir, account, server) = setup(test_config()).await;
    let raw = message("piped", 1);
    let appended = account.append(&raw).await;
    let mut client = server.greeted().await;
    client
        .send(format!("CAPA\r\nUSER {USER}\r\nPASS {PASSWORD}\r\nSTAT\r\nUIDL 1\r\nRETR 1\r\nDELE 1\r\nQUIT\r\n").as_bytes())
        .await;
    let mut expected = b"+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nUSER\r\nSASL PLAIN OAUTHBEARER XOAUTH2\r\nIMPLEMENTATION wildduck-rs\r\n.\r\n".to_vec();
    expected.extend_from_slice(
        format!(
            "+OK Send PASS\r\n+OK Logged in, 1 messages in the maildrop\r\n+OK 1 {}\r\n+OK 1 {}\r\n",
            raw.len(),
            appended.id
        )
        .as_bytes(),
    );
    expected.extend_from_slice(&retr_response(&raw));
    expected.extend_from_slice(b"+OK Message 1 deleted\r\n+OK Bye, 1 messages removed\r\n");
    client.expect(&expected).await;
    client.expect_closed().await;
    let status = account
        .store
        .mailbox_status(account.inbox)
        .await
        .expect("status");
    assert_eq!(status.messages, 0);
    server.stop().await;
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let (_dir, _account, server) = setup(Config {
        idle_timeout_secs: 1,
        ..test_config()
    })
    .await;
    let mut client = server.greeted().await;
    client
        .expect(b"-ERR Idle timeout, closing connection\r\n")
        .await;
    client.expect_closed().await;
    server.stop().await;
}

#[tokio::test]
async fn plaintext_login_can_be_refused() {
    let (_dir, _account, server) = setup(Config {
        allow_plaintext_login: PlaintextLogin::Never,
        ..test_config()
    })
    .await;
    let mut client = server.greeted().await;
    client
        .transcript(
            "CAPA\r\nUSER alice\r\nAUTH PLAIN AGFsaWNlAHB3\r\nAUTH\r\n",
            "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nIMPLEMENTATION wildduck-rs\r\n.\r\n\
             -ERR [AUTH] Plaintext login is not allowed here, use STLS first\r\n\
             -ERR [AUTH] Plaintext login is not allowed here, use STLS first\r\n+OK\r\n.\r\n",
        )
        .await;
    server.stop().await;
}

#[tokio::test]
async fn newest_messages_only_with_max_messages() {
    let (_dir, account, server) = setup(Config {
        max_messages: Some(2),
        ..test_config()
    })
    .await;
    let raws = [message("old", 1), message("mid", 1), message("new", 1)];
    let mut ids = Vec::new();
    for raw in &raws {
        ids.push(account.append(raw).await.id);
    }
    let mut client = server.logged_in(2).await;
    client
        .transcript(
            "UIDL\r\nQUIT\r\n",
            &format!("+OK Unique-ID listing follows\r\n1 {}\r\n2 {}\r\n.\r\n+OK Bye, 0 messages removed\r\n", ids[1], ids[2]),
        )
        .await;
    server.stop().await;
}

#[tokio::test]
async fn dele_can_move_to_trash() {
    let (_dir, account, server) = setup(Config {
        delete_moves_to_trash: true,
        ..test_config()
    })
    .await;
    let raw = message("trash me", 1);
    account.append(&raw).await;
    let mut client = server.logged_in(1).await;
    client
        .transcript(
            "DELE 1\r\nQUIT\r\n",
            "+OK Message 1 deleted\r\n+OK Bye, 1 messages removed\r\n",
        )
        .await;
    let trash = account
        .store
        .get_mailbox(account.user.id, "Trash")
        .await
        .expect("Trash");
    let status = account
        .store
        .mailbox_status(trash.id)
        .await
        .expect("status");
    assert_eq!(status.messages, 1);
    let inbox = account
        .store
        .mailbox_status(account.inbox)
        .await
        .expect("status");
    assert_eq!(inbox.messages, 0);
    server.stop().await;
}

#[tokio::test]
async fn quit_before_login_and_connection_limit() {
    let (_dir, _account, server) = setup(Config {
        max_connections: 1,
        ..test_config()
    })
    .await;
    let mut first = server.greeted().await;
    let mut second = server.connect().await;
    second
        .expect(b"-ERR [SYS/TEMP] Too many connections, try again later\r\n")
        .await;
    second.expect_closed().await;
    first.transcript("QUIT\r\n", "+OK Bye\r\n").await;
    first.expect_closed().await;
    server.stop().await;
}

#[tokio::test]
async fn shutdown_ends_open_sessions() {
    let (_dir, account, server) = setup(test_config()).await;
    account.append(&message("stay", 1)).await;
    let mut client = server.logged_in(1).await;
    client
        .transcript("DELE 1\r\n", "+OK Message 1 deleted\r\n")
        .await;
    server.stop().await;
    client
        .expect(b"-ERR [SYS/TEMP] Server shutting down\r\n")
        .await;
    client.expect_closed().await;
    // Shutdown is not QUIT: the deletion was not applied.
    let status = account
        .store
        .mailbox_status(account.inbox)
        .await
        .expect("status");
    assert_eq!(status.messages, 1);
}

#[tokio::test]
async fn concurrent_sessions_touch_only_their_own_uids() {
    let (_dir, account, server) = setup(test_config()).await;
    let raws = [message("x", 1), message("y", 1)];
    for raw in &raws {
        account.append(raw).await;
    }
    let mut first = server.logged_in(2).await;
    let mut second = server.logged_in(2).await;
    first
        .transcript(
            "DELE 1\r\nQUIT\r\n",
            "+OK Message 1 deleted\r\n+OK Bye, 1 messages removed\r\n",
        )
        .await;
    // A message arriving now is not in either session's maildrop and survives their QUITs.
    account.append(&message("z", 1)).await;
    second
        .transcript(
            "RETR 1\r\n",
            "-ERR Message was removed by another session\r\n",
        )
        .await;
    second.send(b"RETR 2\r\n").await;
    second.expect(&retr_response(&raws[1])).await;
    second
        .transcript(
            "DELE 1\r\nDELE 2\r\nQUIT\r\n",
            "+OK Message 1 deleted\r\n+OK Message 2 deleted\r\n+OK Bye, 1 messages removed\r\n",
        )
        .await;
    let meta = account
        .store
        .fetch_meta(account.inbox, &UidSet::all(), MetaFields::default())
        .await
        .expect("meta");
    assert_eq!(meta.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![3]);
    server.stop().await;
}

#[tokio::test]
async fn daily_download_limit_refuses_retr() {
    let raws = [message("first", 20), message("second", 20)];
    let dir = tempfile::tempdir().expect("tempdir");
    let mut account = open_account(dir.path()).await;
    // The allowance is the store's, so bytes counted elsewhere (an IMAP FETCH) count here.
    let fetched_by_imap = 7;
    let limits = LimitsConfig {
        daily_download: Some(fetched_by_imap + raws[0].len() as u64 + 10),
        ..LimitsConfig::default()
    };
    account.store = account
        .store
        .with_limits(Box::new(MemoryCounters::default()), limits);
    for raw in &raws {
        account.append(raw).await;
    }
    account
        .store
        .add_download(account.user.id, fetched_by_imap)
        .await
        .expect("count")
        .expect("under the limit");
    let server = Server::start(account.store.clone(), test_config(), None).await;
    let mut client = server.logged_in(2).await;
    client.send(b"RETR 1\r\n").await;
    client.expect(&retr_response(&raws[0])).await;
    client
        .transcript(
            "RETR 2\r\nTOP 2 1\r\n",
            "-ERR [SYS/TEMP] Daily download limit reached, try again tomorrow\r\n\
             +OK Top of message follows\r\nFrom: Bob <bob@example.com>\r\nTo: Alice <alice@example.org>\r\n\
             Subject: second\r\nMessage-ID: <second@example.com>\r\n\r\nline 1\r\n.\r\n",
        )
        .await;
    client
        .transcript("QUIT\r\n", "+OK Bye, 0 messages removed\r\n")
        .await;
    // RETR counted what it sent, and the refused RETR counted nothing.
    let total = account
        .store
        .add_download(account.user.id, 0)
        .await
        .expect("count")
        .expect("under the limit");
    assert_eq!(total, fetched_by_imap + raws[0].len() as u64);
    server.stop().await;
}
