//! \Recent as RFC 3501 §2.3.2 defines it: each new message is \Recent in exactly one session,
//! the first to learn of it with the mailbox selected read-write; EXAMINE shows what nobody
//! claimed without claiming it; STATUS counts what nobody claimed; SEARCH RECENT/NEW/OLD and
//! FETCH FLAGS follow the session's own \Recent messages.

use crate::harness::*;

/// The number before ` RECENT` in an untagged `* n RECENT` line, if the response has one.
fn recent_count(response: &str) -> Option<usize> {
    response
        .lines()
        .find_map(|l| l.strip_prefix("* ")?.strip_suffix(" RECENT")?.parse().ok())
}

#[tokio::test]
async fn select_claims_examine_peeks_status_counts_unclaimed() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    append(&mut c, "a1", "INBOX", "", &message("one", "x")).await;
    append(&mut c, "a2", "INBOX", "(\\Seen) ", &message("two", "x")).await;

    let status = c.exchange("s1 STATUS INBOX (MESSAGES RECENT)\r\n").await;
    assert!(status.contains("(MESSAGES 2 RECENT 2)"), "{status}");
    // EXAMINE shows them as \Recent but leaves them to a later SELECT.
    let examine = c.exchange("e1 EXAMINE INBOX\r\n").await;
    assert_eq!(recent_count(&examine), Some(2), "{examine}");
    let flags = c.exchange("e2 FETCH 1:2 (FLAGS)\r\n").await;
    assert!(
        flags.contains("* 1 FETCH (FLAGS (\\Recent))\r\n")
            && flags.contains("* 2 FETCH (FLAGS (\\Recent \\Seen))\r\n"),
        "{flags}"
    );
    c.exchange("e3 CLOSE\r\n").await;
    let status = c.exchange("s2 STATUS INBOX (RECENT)\r\n").await;
    assert!(status.contains("(RECENT 2)"), "{status}");

    let select = c.exchange("s3 SELECT INBOX\r\n").await;
    assert_eq!(recent_count(&select), Some(2), "{select}");
    let search = c.exchange("s4 SEARCH RECENT\r\n").await;
    assert!(search.starts_with("* SEARCH 1 2\r\n"), "{search}");
    let search = c.exchange("s5 SEARCH NEW\r\n").await;
    assert!(search.starts_with("* SEARCH 1\r\n"), "{search}");
    let search = c.exchange("s6 SEARCH OLD\r\n").await;
    assert!(search.starts_with("* SEARCH\r\n"), "{search}");
    c.exchange("s7 CLOSE\r\n").await;

    // Claimed: no other session, and no later SELECT, sees them as \Recent.
    let status = c.exchange("s8 STATUS INBOX (RECENT)\r\n").await;
    assert!(status.contains("(RECENT 0)"), "{status}");
    let mut other = server.login().await;
    let select = other.exchange("o1 SELECT INBOX\r\n").await;
    assert_eq!(recent_count(&select), Some(0), "{select}");
    let flags = other.exchange("o2 FETCH 1 (FLAGS)\r\n").await;
    assert!(flags.starts_with("* 1 FETCH (FLAGS ())\r\n"), "{flags}");
    let search = other.exchange("o3 SEARCH OLD\r\n").await;
    assert!(search.starts_with("* SEARCH 1 2\r\n"), "{search}");
    server.stop().await;
}

#[tokio::test]
async fn a_new_message_is_recent_in_exactly_one_of_two_selected_sessions() {
    let server = TestServer::start().await;
    let mut first = server.login().await;
    let mut second = server.login().await;
    let mut appender = server.login().await;
    first.exchange("f1 SELECT INBOX\r\n").await;
    second.exchange("s1 SELECT INBOX\r\n").await;
    for round in 1..=6 {
        append(
            &mut appender,
            &format!("a{round}"),
            "INBOX",
            "",
            &message(&format!("m{round}"), "x"),
        )
        .await;
        // Alternate which session hears of the message first.
        let (early, late) = if round % 2 == 0 {
            (&mut first, &mut second)
        } else {
            (&mut second, &mut first)
        };
        let early_noop = early.exchange("n1 NOOP\r\n").await;
        let late_noop = late.exchange("n2 NOOP\r\n").await;
        assert!(
            early_noop.contains(&format!("* {round} EXISTS\r\n")),
            "{early_noop}"
        );
        assert!(
            late_noop.contains(&format!("* {round} EXISTS\r\n")),
            "{late_noop}"
        );
        let early_flags = early
            .exchange(&format!("f2 FETCH {round} (FLAGS)\r\n"))
            .await;
        let late_flags = late
            .exchange(&format!("f3 FETCH {round} (FLAGS)\r\n"))
            .await;
        assert!(early_flags.contains("(\\Recent)"), "{early_flags}");
        assert!(!late_flags.contains("\\Recent"), "{late_flags}");
    }
    // Each session holds the three it heard of first; nobody else may get them.
    for session in [&mut first, &mut second] {
        let recent = session.exchange("r1 SEARCH RECENT\r\n").await;
        let found = recent.lines().next().unwrap_or("").split(' ').count() - 2;
        assert_eq!(found, 3, "{recent}");
    }
    let status = appender.exchange("r2 STATUS INBOX (RECENT)\r\n").await;
    assert!(status.contains("(RECENT 0)"), "{status}");
    server.stop().await;
}

#[tokio::test]
async fn copied_messages_are_recent_in_the_session_that_has_the_target_selected() {
    let server = TestServer::start().await;
    let mut source = server.login().await;
    let mut target = server.login().await;
    source.exchange("c1 CREATE Target\r\n").await;
    append(
        &mut source,
        "a1",
        "INBOX",
        "(\\Seen) ",
        &message("one", "x"),
    )
    .await;
    target.exchange("t1 SELECT Target\r\n").await;
    source.exchange("s1 SELECT INBOX\r\n").await;
    source.exchange("s2 COPY 1 Target\r\n").await;
    let noop = target.exchange("t2 NOOP\r\n").await;
    assert!(
        noop.contains("* 1 EXISTS\r\n* 1 RECENT\r\n"),
        "EXISTS and RECENT together: {noop}"
    );
    let flags = target.exchange("t3 FETCH 1 (FLAGS)\r\n").await;
    assert!(
        flags.starts_with("* 1 FETCH (FLAGS (\\Recent \\Seen))\r\n"),
        "{flags}"
    );
    // An expunged \Recent message leaves the session's count.
    target
        .exchange("t4 STORE 1 +FLAGS.SILENT (\\Deleted)\r\n")
        .await;
    target.exchange("t5 EXPUNGE\r\n").await;
    let search = target.exchange("t6 SEARCH RECENT\r\n").await;
    assert!(search.starts_with("* SEARCH\r\n"), "{search}");
    server.stop().await;
}
