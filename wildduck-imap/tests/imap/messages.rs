//! Message commands: APPEND, FETCH, STORE, SEARCH, COPY, MOVE, EXPUNGE, and the §7.4.1 rules
//! for untagged updates between sessions.

use wildduck_store::{MailboxStatus, Store};

use crate::harness::*;

async fn inbox_status(store: &Store) -> MailboxStatus {
    let user = store.find_user(USER).await.expect("user");
    let inbox = store.get_mailbox(user.id, "INBOX").await.expect("INBOX");
    store.mailbox_status(inbox.id).await.expect("status")
}

#[tokio::test]
async fn append_checks_before_the_literal() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    let status = inbox_status(&server.store).await;
    let raw = message("hello", "world");
    assert_eq!(
        append(
            &mut c,
            "a1",
            "INBOX",
            "(\\Seen $Work) \"02-Jan-2023 10:00:00 +0000\" ",
            &raw
        )
        .await,
        format!(
            "a1 OK [APPENDUID {} 1] Append completed\r\n",
            status.uidvalidity
        )
    );
    // No continuation for a missing mailbox or a message over the size limit.
    c.send("a2 APPEND Nope {10}\r\n").await;
    assert_eq!(c.line().await, "a2 NO [TRYCREATE] No such mailbox\r\n");
    c.send("a3 APPEND INBOX {100000000}\r\n").await;
    assert_eq!(
        c.line().await,
        "a3 NO [TOOBIG] Message too big (limit 67108864 bytes)\r\n"
    );
    let user = server.store.find_user(USER).await.expect("user");
    server
        .store
        .set_quota(user.id, Some(100))
        .await
        .expect("quota");
    c.send("a4 APPEND INBOX {200}\r\n").await;
    assert_eq!(c.line().await, "a4 NO [OVERQUOTA] Quota exceeded\r\n");
    // LITERAL+ over quota: the literal comes anyway; the append is refused after reading it.
    let big = "x".repeat(200);
    c.send(format!("a5 APPEND INBOX {{200+}}\r\n{big}\r\n"))
        .await;
    assert_eq!(
        c.until_tagged("a5").await,
        "a5 NO [OVERQUOTA] Quota exceeded\r\n"
    );
    server.store.set_quota(user.id, None).await.expect("quota");
    // LITERAL+ within limits.
    let raw2 = message("second", "text");
    c.send(format!("a6 APPEND INBOX {{{}+}}\r\n{raw2}\r\n", raw2.len()))
        .await;
    assert_eq!(
        c.until_tagged("a6").await,
        format!(
            "a6 OK [APPENDUID {} 2] Append completed\r\n",
            status.uidvalidity
        )
    );
    assert_eq!(inbox_status(&server.store).await.messages, 2);
    let fetched = c.exchange("a7 SELECT INBOX\r\n").await;
    assert!(fetched.contains("* 2 EXISTS"), "{fetched}");
    assert_eq!(
        c.exchange("a8 FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE)\r\n")
            .await,
        format!(
            "* 1 FETCH (FLAGS (\\Recent \\Seen $Work) INTERNALDATE \"02-Jan-2023 10:00:00 +0000\" RFC822.SIZE {})\r\na8 OK Fetch completed\r\n",
            raw.len()
        )
    );
    server.stop().await;
}

#[tokio::test]
async fn fetch_sections_partials_and_seen() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    let raw = message("hello", "Body line.");
    append(&mut c, "a1", "INBOX", "", &raw).await;
    c.exchange("s1 SELECT INBOX\r\n").await;
    let (header, text) = raw.split_once("\r\n\r\n").expect("header/body");
    let header = format!("{header}\r\n\r\n");
    assert_eq!(
        c.exchange("f1 FETCH 1 (UID BODY.PEEK[HEADER])\r\n").await,
        format!(
            "* 1 FETCH (UID 1 BODY[HEADER] {{{}}}\r\n{header})\r\nf1 OK Fetch completed\r\n",
            header.len()
        )
    );
    assert_eq!(
        c.exchange("f2 FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)])\r\n")
            .await,
        "* 1 FETCH (BODY[HEADER.FIELDS (Subject)] {18}\r\nSubject: hello\r\n\r\n)\r\nf2 OK Fetch completed\r\n"
    );
    assert_eq!(
        c.exchange("f3 FETCH 1 (BODY.PEEK[]<0.4>)\r\n").await,
        "* 1 FETCH (BODY[]<0> {4}\r\nFrom)\r\nf3 OK Fetch completed\r\n"
    );
    assert_eq!(
        c.exchange("f4 FETCH 1 (FLAGS)\r\n").await,
        "* 1 FETCH (FLAGS (\\Recent))\r\nf4 OK Fetch completed\r\n"
    );
    // A non-PEEK fetch sets \Seen and says so.
    assert_eq!(
        c.exchange("f5 FETCH 1 BODY[TEXT]\r\n").await,
        format!(
            "* 1 FETCH (BODY[TEXT] {{{}}}\r\n{text} FLAGS (\\Recent \\Seen))\r\nf5 OK Fetch completed\r\n",
            text.len()
        )
    );
    assert_eq!(
        c.exchange("f6 UID FETCH 1 (RFC822.SIZE)\r\n").await,
        format!(
            "* 1 FETCH (UID 1 RFC822.SIZE {})\r\nf6 OK Fetch completed\r\n",
            raw.len()
        )
    );
    assert_eq!(
        c.exchange("f7 FETCH 1 RFC822\r\n").await,
        format!(
            "* 1 FETCH (RFC822 {{{}}}\r\n{raw})\r\nf7 OK Fetch completed\r\n",
            raw.len()
        )
    );
    let env = c.exchange("f8 FETCH 1 (ENVELOPE BODYSTRUCTURE)\r\n").await;
    assert!(
        env.starts_with("* 1 FETCH (ENVELOPE (\"Mon, 02 Jan 2023 10:00:00 +0000\" \"hello\" ((\"Alice\" NIL \"alice\" \"example.com\"))"),
        "{env}"
    );
    assert!(env.contains("<hello@example.com>"), "{env}");
    assert!(env.contains("BODYSTRUCTURE (\"text\" \"plain\""), "{env}");
    assert_eq!(
        c.exchange("f9 FETCH 2 FLAGS\r\n").await,
        "f9 BAD Invalid message sequence number\r\n"
    );
    assert_eq!(
        c.exchange("f10 UID FETCH 99 FLAGS\r\n").await,
        "f10 OK Fetch completed\r\n"
    );
    assert_eq!(
        c.exchange("f11 FETCH 1 (BINARY[])\r\n").await,
        "f11 BAD BINARY is not supported\r\n"
    );
    assert_eq!(
        c.exchange("f12 FETCH 1 (NONSENSE)\r\n").await,
        "f12 BAD Syntax error in arguments\r\n"
    );
    let fast = c.exchange("f13 FETCH 1:* FAST\r\n").await;
    assert!(
        fast.starts_with("* 1 FETCH (FLAGS (\\Recent \\Seen) INTERNALDATE \""),
        "{fast}"
    );
    server.stop().await;
}

#[tokio::test]
async fn nul_bytes_go_out_as_0x80() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    let raw = "Subject: nul\r\n\r\na\0b\r\n";
    assert!(
        append(&mut c, "a1", "INBOX", "", raw)
            .await
            .contains("a1 OK [APPENDUID")
    );
    c.exchange("s1 SELECT INBOX\r\n").await;
    c.send("f1 FETCH 1 BODY.PEEK[]\r\n").await;
    assert_eq!(
        c.line().await,
        format!("* 1 FETCH (BODY[] {{{}}}\r\n", raw.len())
    );
    assert_eq!(c.bytes(raw.len()).await, b"Subject: nul\r\n\r\na\x80b\r\n");
    assert_eq!(c.until_tagged("f1").await, ")\r\nf1 OK Fetch completed\r\n");
    // The store keeps the NUL.
    let user = server.store.find_user(USER).await.expect("user");
    let inbox = server
        .store
        .get_mailbox(user.id, "INBOX")
        .await
        .expect("INBOX");
    let body = server
        .store
        .read_section(inbox.id, 1, &wildduck_store::Section::full(), None)
        .await
        .expect("read");
    assert_eq!(body.to_vec(), raw.as_bytes());
    server.stop().await;
}

#[tokio::test]
async fn store_flags_and_keywords() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    for i in 0..3 {
        append(
            &mut c,
            &format!("a{i}"),
            "INBOX",
            "",
            &message(&format!("m{i}"), "x"),
        )
        .await;
    }
    c.exchange("s1 SELECT INBOX\r\n").await;
    assert_eq!(
        c.exchange("t1 STORE 1:2 +FLAGS (\\Flagged)\r\n").await,
        "* 1 FETCH (FLAGS (\\Recent \\Flagged))\r\n* 2 FETCH (FLAGS (\\Recent \\Flagged))\r\nt1 OK Store completed\r\n"
    );
    assert_eq!(
        c.exchange("t2 STORE 1 -FLAGS.SILENT (\\Flagged)\r\n").await,
        "t2 OK Store completed\r\n"
    );
    assert_eq!(
        c.exchange("t3 UID STORE 3 FLAGS ($Todo \\Seen)\r\n").await,
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Todo)\r\n\
         * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Todo \\*)] Flags permitted\r\n\
         * 3 FETCH (UID 3 FLAGS (\\Recent \\Seen $Todo))\r\nt3 OK Store completed\r\n"
    );
    assert_eq!(
        c.exchange("t4 FETCH 1:3 FLAGS\r\n").await,
        "* 1 FETCH (FLAGS (\\Recent))\r\n* 2 FETCH (FLAGS (\\Recent \\Flagged))\r\n* 3 FETCH (FLAGS (\\Recent \\Seen $Todo))\r\nt4 OK Fetch completed\r\n"
    );
    assert_eq!(
        c.exchange("t5 STORE 1 +FLAGS (\\Recent)\r\n").await,
        "t5 BAD Flag \\Recent can not be set\r\n"
    );
    assert_eq!(
        c.exchange("t6 STORE 9 +FLAGS (\\Seen)\r\n").await,
        "t6 BAD Invalid message sequence number\r\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn search_keys() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    append(
        &mut c,
        "a1",
        "INBOX",
        "(\\Seen) ",
        &message("apples", "red fruit"),
    )
    .await;
    append(
        &mut c,
        "a2",
        "INBOX",
        "",
        &message("bananas", "yellow fruit"),
    )
    .await;
    append(
        &mut c,
        "a3",
        "INBOX",
        "(\\Flagged) ",
        &message("cherries", "red too"),
    )
    .await;
    c.exchange("s1 SELECT INBOX\r\n").await;
    for (query, expected) in [
        ("ALL", "* SEARCH 1 2 3"),
        ("UNSEEN", "* SEARCH 2 3"),
        ("SUBJECT bananas", "* SEARCH 2"),
        ("BODY red", "* SEARCH 1 3"),
        ("OR FLAGGED SEEN", "* SEARCH 1 3"),
        ("NOT SEEN NOT FLAGGED", "* SEARCH 2"),
        ("2:3 UNFLAGGED", "* SEARCH 2"),
        ("FROM alice TEXT cherries", "* SEARCH 3"),
        ("HEADER Message-ID <apples@example.com>", "* SEARCH 1"),
        ("SENTON 2-Jan-2023", "* SEARCH 1 2 3"),
        ("SENTBEFORE 2-Jan-2023", "* SEARCH"),
        ("LARGER 1", "* SEARCH 1 2 3"),
        ("NEW", "* SEARCH 2 3"),
        ("CHARSET UTF-8 SUBJECT apples", "* SEARCH 1"),
    ] {
        assert_eq!(
            c.exchange(&format!("q SEARCH {query}\r\n")).await,
            format!("{expected}\r\nq OK Search completed\r\n"),
            "SEARCH {query}"
        );
    }
    assert_eq!(
        c.exchange("u1 UID SEARCH UID 2:*\r\n").await,
        "* SEARCH 2 3\r\nu1 OK Search completed\r\n"
    );
    assert_eq!(
        c.exchange("u2 SEARCH CHARSET KOI8-R ALL\r\n").await,
        "u2 NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset\r\n"
    );
    assert_eq!(
        c.exchange("u3 SEARCH BOGUS\r\n").await,
        "u3 BAD Syntax error in arguments\r\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn copy_move_expunge() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    for i in 1..=4 {
        append(
            &mut c,
            &format!("a{i}"),
            "INBOX",
            "",
            &message(&format!("m{i}"), "x"),
        )
        .await;
    }
    c.exchange("c0 CREATE Dest\r\n").await;
    let user = server.store.find_user(USER).await.expect("user");
    let dest = server
        .store
        .get_mailbox(user.id, "Dest")
        .await
        .expect("Dest");
    c.exchange("s1 SELECT INBOX\r\n").await;
    assert_eq!(
        c.exchange("c1 COPY 1:2 Dest\r\n").await,
        format!(
            "c1 OK [COPYUID {} 1:2 1:2] Copy completed\r\n",
            dest.uidvalidity
        )
    );
    assert_eq!(
        c.exchange("c2 COPY 1 Nope\r\n").await,
        "c2 NO [TRYCREATE] No such mailbox\r\n"
    );
    assert_eq!(
        c.exchange("c3 UID MOVE 3 Dest\r\n").await,
        format!(
            "* OK [COPYUID {} 3 3] Moved\r\n* 3 EXPUNGE\r\nc3 OK Move completed\r\n",
            dest.uidvalidity
        )
    );
    assert_eq!(
        c.exchange("c4 MOVE 1 Dest\r\n").await,
        format!(
            "* OK [COPYUID {} 1 4] Moved\r\n* 1 EXPUNGE\r\nc4 OK Move completed\r\n",
            dest.uidvalidity
        )
    );
    // Now INBOX holds UIDs 2 and 4 as sequence numbers 1 and 2.
    assert_eq!(
        c.exchange("e1 STORE 1:2 +FLAGS.SILENT (\\Deleted)\r\n")
            .await,
        "e1 OK Store completed\r\n"
    );
    assert_eq!(
        c.exchange("e2 UID EXPUNGE 4\r\n").await,
        "* 2 EXPUNGE\r\ne2 OK Expunge completed\r\n"
    );
    assert_eq!(
        c.exchange("e3 EXPUNGE\r\n").await,
        "* 1 EXPUNGE\r\ne3 OK Expunge completed\r\n"
    );
    assert_eq!(
        c.exchange("e4 EXPUNGE\r\n").await,
        "e4 OK Expunge completed\r\n"
    );
    assert_eq!(
        c.exchange("e5 FETCH 1:* FLAGS\r\n").await,
        "e5 OK Fetch completed\r\n"
    );
    assert_eq!(
        c.exchange("e6 STATUS Dest (MESSAGES)\r\n").await,
        "* STATUS Dest (MESSAGES 4)\r\ne6 OK Status completed\r\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn updates_from_other_sessions_follow_rfc3501_7_4_1() {
    let server = TestServer::start().await;
    let mut a = server.login().await;
    let mut b = server.login().await;
    append(&mut a, "p1", "INBOX", "", &message("one", "x")).await;
    append(&mut a, "p2", "INBOX", "", &message("two", "x")).await;
    a.exchange("s1 SELECT INBOX\r\n").await;
    b.exchange("s2 SELECT INBOX\r\n").await;

    // New mail: EXISTS before the tagged OK of the next command.
    append(&mut b, "b1", "INBOX", "", &message("three", "x")).await;
    assert_eq!(
        a.exchange("n1 NOOP\r\n").await,
        "* 3 EXISTS\r\n* 2 RECENT\r\nn1 OK NOOP completed\r\n"
    );

    // Flags changed elsewhere arrive as FETCH.
    b.exchange("b2 STORE 2 +FLAGS.SILENT (\\Answered)\r\n")
        .await;
    assert_eq!(
        a.exchange("n2 NOOP\r\n").await,
        "* 2 FETCH (UID 2 FLAGS (\\Recent \\Answered))\r\nn2 OK NOOP completed\r\n"
    );

    // An expunge elsewhere is held back during FETCH, STORE and SEARCH...
    b.exchange("b3 STORE 1 +FLAGS.SILENT (\\Deleted)\r\n").await;
    b.exchange("b4 EXPUNGE\r\n").await;
    let fetch = a.exchange("f1 FETCH 1:3 UID\r\n").await;
    assert!(!fetch.contains("EXPUNGE"), "{fetch}");
    assert!(
        fetch.contains("* 2 FETCH (UID 2)") && fetch.contains("* 3 FETCH (UID 3)"),
        "{fetch}"
    );
    assert_eq!(
        a.exchange("f2 SEARCH ALL\r\n").await,
        "* SEARCH 2 3\r\nf2 OK Search completed\r\n"
    );
    // ...and reported by NOOP, without a stray EXISTS.
    assert_eq!(
        a.exchange("n3 NOOP\r\n").await,
        "* 1 EXPUNGE\r\nn3 OK NOOP completed\r\n"
    );
    assert_eq!(a.exchange("n4 NOOP\r\n").await, "n4 OK NOOP completed\r\n");
    // Our own EXPUNGE does not echo EXISTS or EXPUNGE twice.
    a.exchange("x1 STORE 1 +FLAGS.SILENT (\\Deleted)\r\n").await;
    assert_eq!(
        a.exchange("x2 EXPUNGE\r\n").await,
        "* 1 EXPUNGE\r\nx2 OK Expunge completed\r\n"
    );
    assert_eq!(a.exchange("x3 NOOP\r\n").await, "x3 OK NOOP completed\r\n");
    assert_eq!(
        b.exchange("x4 NOOP\r\n").await,
        "* 1 EXPUNGE\r\nx4 OK NOOP completed\r\n"
    );
    server.stop().await;
}
