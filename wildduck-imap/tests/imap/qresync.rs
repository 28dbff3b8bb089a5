//! QRESYNC (RFC 7162 §3.2): a client that cached a mailbox resyncs after another session
//! flagged and expunged messages — SELECT with known UIDs answers VANISHED (EARLIER) and the
//! changed FETCHes, UID FETCH (CHANGEDSINCE … VANISHED) likewise, live expunges come as
//! VANISHED, re-SELECT says CLOSED, and a trimmed journal still yields a correct answer.

use std::time::Duration;

use crate::harness::*;

/// The number in `[NAME n]` of a response.
fn code_value(text: &str, name: &str) -> u64 {
    let start = text.find(&format!("[{name} ")).expect(name) + name.len() + 2;
    text[start..]
        .split(']')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("number")
}

/// Lines of `text` that start with `prefix`.
fn lines_with<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

#[tokio::test]
async fn resync_after_expunges_in_another_session() {
    let server = TestServer::start().await;
    let mut other = server.login().await;
    for i in 1..=6 {
        append(
            &mut other,
            &format!("a{i}"),
            "INBOX",
            "",
            &message(&format!("m{i}"), "x"),
        )
        .await;
    }

    // The client's cache: UIDs 1:6 at this UIDVALIDITY and HIGHESTMODSEQ.
    let mut cached = server.login().await;
    let select = cached.exchange("c1 SELECT INBOX (CONDSTORE)\r\n").await;
    let uidvalidity = code_value(&select, "UIDVALIDITY");
    let modseq = code_value(&select, "HIGHESTMODSEQ");
    cached.exchange("c2 LOGOUT\r\n").await;

    other.exchange("o1 SELECT INBOX\r\n").await;
    other
        .exchange("o2 STORE 2 +FLAGS.SILENT (\\Flagged)\r\n")
        .await;
    other
        .exchange("o3 STORE 3:4 +FLAGS.SILENT (\\Deleted)\r\n")
        .await;
    other.exchange("o4 EXPUNGE\r\n").await;
    // A message the client can not have cached: EXISTS tells of it, no FETCH at SELECT.
    append(
        &mut other,
        "a7",
        "INBOX",
        "(\\Seen) ",
        &message("m7", "new"),
    )
    .await;

    let mut c = server.login().await;
    let refused = c
        .exchange(&format!(
            "r1 SELECT INBOX (QRESYNC ({uidvalidity} {modseq} 1:6))\r\n"
        ))
        .await;
    assert!(refused.starts_with("r1 BAD "), "{refused}");
    let enabled = c.exchange("e1 ENABLE QRESYNC\r\n").await;
    assert_eq!(enabled, "* ENABLED QRESYNC\r\ne1 OK Enabled\r\n");

    let resync = c
        .exchange(&format!(
            "s1 SELECT INBOX (QRESYNC ({uidvalidity} {modseq} 1:6))\r\n"
        ))
        .await;
    assert!(resync.contains("* 5 EXISTS\r\n"), "{resync}");
    assert!(
        !resync.contains("[CLOSED]"),
        "nothing was selected: {resync}"
    );
    assert_eq!(
        lines_with(&resync, "* VANISHED"),
        ["* VANISHED (EARLIER) 3:4"],
        "{resync}"
    );
    let fetches = lines_with(&resync, "* 2 FETCH");
    assert_eq!(fetches.len(), 1, "{resync}");
    assert!(
        fetches[0].starts_with("* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ ("),
        "{resync}"
    );
    assert_eq!(
        resync.matches(" FETCH ").count(),
        1,
        "only UID 2 changed: {resync}"
    );
    // VANISHED and FETCH come after HIGHESTMODSEQ, before the tagged OK.
    let highest_at = resync.find("[HIGHESTMODSEQ").expect("HIGHESTMODSEQ");
    assert!(resync.find("* VANISHED").unwrap() > highest_at, "{resync}");
    assert!(resync.contains("s1 OK [READ-WRITE]"), "{resync}");

    // Known UIDs narrow the answer: the client only knew 1:2, so nothing vanished for it.
    let narrowed = c
        .exchange(&format!(
            "s2 EXAMINE INBOX (QRESYNC ({uidvalidity} {modseq} 1:2))\r\n"
        ))
        .await;
    assert!(
        narrowed.starts_with("* OK [CLOSED] Previous mailbox closed\r\n"),
        "{narrowed}"
    );
    assert!(!narrowed.contains("VANISHED"), "{narrowed}");
    assert_eq!(narrowed.matches(" FETCH ").count(), 1, "{narrowed}");

    // A stale UIDVALIDITY voids the cache: a plain SELECT answer.
    let stale = c
        .exchange(&format!(
            "s3 SELECT INBOX (QRESYNC ({} {modseq}))\r\n",
            uidvalidity + 1
        ))
        .await;
    assert!(
        !stale.contains("VANISHED") && !stale.contains("FETCH"),
        "{stale}"
    );

    // Live expunges by another session come as VANISHED, not EXPUNGE.
    other
        .exchange("o5 UID STORE 6 +FLAGS.SILENT (\\Deleted)\r\n")
        .await;
    other.exchange("o6 EXPUNGE\r\n").await;
    let noop = c.exchange("n1 NOOP\r\n").await;
    assert_eq!(noop, "* VANISHED 6\r\nn1 OK NOOP completed\r\n");

    // And our own EXPUNGE.
    c.exchange("t1 UID STORE 5 +FLAGS.SILENT (\\Deleted)\r\n")
        .await;
    let expunge = c.exchange("x1 EXPUNGE\r\n").await;
    assert_eq!(expunge, "* VANISHED 5\r\nx1 OK Expunge completed\r\n");

    // UID FETCH with VANISHED: what went since the cached MODSEQ among the asked UIDs, then
    // the changed messages still present.
    let fetched = c
        .exchange(&format!(
            "f1 UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq} VANISHED)\r\n"
        ))
        .await;
    let mut lines = fetched.lines();
    assert_eq!(lines.next(), Some("* VANISHED (EARLIER) 3:6"), "{fetched}");
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with("* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (")),
        "{fetched}"
    );
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with("* 3 FETCH (UID 7 FLAGS (\\Seen) MODSEQ (")),
        "{fetched}"
    );
    assert_eq!(lines.next(), Some("f1 OK Fetch completed"), "{fetched}");
    let narrowed = c
        .exchange(&format!(
            "f2 UID FETCH 1:4 (FLAGS) (CHANGEDSINCE {modseq} VANISHED)\r\n"
        ))
        .await;
    assert!(
        narrowed.starts_with("* VANISHED (EARLIER) 3:4\r\n"),
        "{narrowed}"
    );

    // VANISHED only goes with UID FETCH and CHANGEDSINCE.
    let bad = c.exchange("f3 UID FETCH 1:* (FLAGS) (VANISHED)\r\n").await;
    assert!(bad.starts_with("f3 BAD "), "{bad}");
    let bad = c
        .exchange(&format!(
            "f4 FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq} VANISHED)\r\n"
        ))
        .await;
    assert!(bad.starts_with("f4 BAD "), "{bad}");
    server.stop().await;
}

#[tokio::test]
async fn resync_past_a_trimmed_journal_reports_every_known_uid_gone() {
    let server = TestServer::start().await;
    let mut other = server.login().await;
    for i in 1..=5 {
        append(
            &mut other,
            &format!("a{i}"),
            "INBOX",
            "",
            &message(&format!("m{i}"), "x"),
        )
        .await;
    }
    let mut c = server.login().await;
    c.exchange("e1 ENABLE QRESYNC\r\n").await;
    let select = c.exchange("s1 SELECT INBOX\r\n").await;
    let uidvalidity = code_value(&select, "UIDVALIDITY");
    let modseq = code_value(&select, "HIGHESTMODSEQ");
    c.exchange("u1 UNSELECT\r\n").await;

    other.exchange("o1 SELECT INBOX\r\n").await;
    other
        .exchange("o2 UID STORE 2,4 +FLAGS.SILENT (\\Deleted)\r\n")
        .await;
    other.exchange("o3 EXPUNGE\r\n").await;
    // The journal keeps whole seconds: a second later everything so far is older than "now".
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(server.store.trim_journal(0).await.expect("trim") > 0);

    let resync = c
        .exchange(&format!(
            "s2 SELECT INBOX (QRESYNC ({uidvalidity} {modseq} 1:5,9))\r\n"
        ))
        .await;
    // Without the journal, every known UID that is not present is reported, 9 included
    // (RFC 7162 §3.2.5.2 allows UIDs that never existed).
    assert_eq!(
        lines_with(&resync, "* VANISHED"),
        ["* VANISHED (EARLIER) 2,4,9"],
        "{resync}"
    );
    assert!(resync.contains("* 3 EXISTS\r\n"), "{resync}");
    server.stop().await;
}

/// The MODSEQ a client caches for the mailbox after a command, kept as RFC 7162 clients
/// (and imaptest) keep it: a FETCH's MODSEQ raises it, a HIGHESTMODSEQ response code sets it.
fn cached_modseq(mut cached: u64, response: &str) -> u64 {
    for line in response.lines() {
        if line.contains("[HIGHESTMODSEQ ") {
            cached = code_value(line, "HIGHESTMODSEQ");
        } else if let Some(at) = line.find(" MODSEQ (")
            && line.starts_with("* ")
            && line.contains(" FETCH (")
        {
            let digits = &line[at + " MODSEQ (".len()..];
            let modseq: u64 = digits[..digits.find(')').expect(")")]
                .parse()
                .expect("MODSEQ");
            cached = cached.max(modseq);
        }
    }
    cached
}

/// A FETCH or STORE by sequence number may not report an expunge (RFC 3501 §7.4.1) but does
/// report newer MODSEQs; the client must not be left with a MODSEQ that covers the expunge it
/// was not told of, or its next `SELECT … (QRESYNC …)` would keep the expunged message (what
/// imaptest's QRESYNC stress run found as `Message count dropped 5 -> 4`).
#[tokio::test]
async fn a_modseq_shown_while_an_expunge_is_held_back_does_not_hide_it() {
    let server = TestServer::start().await;
    let mut other = server.login().await;
    for i in 1..=3 {
        append(
            &mut other,
            &format!("a{i}"),
            "INBOX",
            "",
            &message(&format!("m{i}"), "x"),
        )
        .await;
    }
    let mut c = server.login().await;
    c.exchange("e1 ENABLE QRESYNC\r\n").await;
    let select = c.exchange("s1 SELECT INBOX\r\n").await;
    let uidvalidity = code_value(&select, "UIDVALIDITY");
    let mut cached = cached_modseq(0, &select);

    // Another session expunges UID 1, then flags UID 2 (a MODSEQ above the expunge's).
    other.exchange("o1 SELECT INBOX\r\n").await;
    other
        .exchange("o2 UID STORE 1 +FLAGS.SILENT (\\Deleted)\r\n")
        .await;
    other.exchange("o3 EXPUNGE\r\n").await;
    other
        .exchange("o4 UID STORE 2 +FLAGS.SILENT (\\Flagged)\r\n")
        .await;

    let fetched = c.exchange("f1 FETCH 1:* (FLAGS)\r\n").await;
    assert!(!fetched.contains("VANISHED"), "held back: {fetched}");
    assert!(
        fetched.contains("\\Flagged) MODSEQ ("),
        "the newer change is shown: {fetched}"
    );
    cached = cached_modseq(cached, &fetched);
    let stored = c.exchange("t1 STORE 3 +FLAGS (\\Seen)\r\n").await;
    assert!(!stored.contains("VANISHED"), "held back: {stored}");
    assert!(stored.contains(" MODSEQ ("), "{stored}");
    cached = cached_modseq(cached, &stored);
    c.exchange("l1 LOGOUT\r\n").await;

    // The client comes back with what it cached: UIDs 1:3 and that MODSEQ.
    let mut again = server.login().await;
    again.exchange("e2 ENABLE QRESYNC\r\n").await;
    let resync = again
        .exchange(&format!(
            "s2 SELECT INBOX (QRESYNC ({uidvalidity} {cached} 1:3))\r\n"
        ))
        .await;
    assert_eq!(
        lines_with(&resync, "* VANISHED"),
        ["* VANISHED (EARLIER) 1"],
        "{resync}"
    );
    assert!(resync.contains("* 2 EXISTS\r\n"), "{resync}");
    server.stop().await;
}
