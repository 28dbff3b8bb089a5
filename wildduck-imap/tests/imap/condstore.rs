//! CONDSTORE basics (RFC 7162): HIGHESTMODSEQ, FETCH MODSEQ and CHANGEDSINCE, STORE
//! UNCHANGEDSINCE with MODIFIED, SEARCH MODSEQ, and a resync after another session's changes.

use crate::harness::*;

/// The number after `MODSEQ (` in a FETCH line.
fn modseq_of(text: &str) -> u64 {
    let start = text.find("MODSEQ (").expect("MODSEQ in response") + 8;
    text[start..]
        .split(')')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("MODSEQ number")
}

#[tokio::test]
async fn condstore_fetch_store_search_and_resync() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    let mut other = server.login().await;
    for i in 1..=3 {
        append(
            &mut c,
            &format!("a{i}"),
            "INBOX",
            "",
            &message(&format!("m{i}"), "x"),
        )
        .await;
    }
    let select = c.exchange("s1 SELECT INBOX (CONDSTORE)\r\n").await;
    assert!(select.contains("* OK [HIGHESTMODSEQ "), "{select}");
    let status = c.exchange("s2 STATUS INBOX (HIGHESTMODSEQ)\r\n").await;
    assert!(
        status.starts_with("* STATUS INBOX (HIGHESTMODSEQ "),
        "{status}"
    );

    let all = c.exchange("f1 FETCH 1:3 (FLAGS)\r\n").await;
    assert_eq!(all.matches("MODSEQ (").count(), 3, "{all}");
    let baseline: u64 = all
        .lines()
        .filter(|l| l.contains("MODSEQ"))
        .map(modseq_of)
        .max()
        .expect("modseqs");

    // Another session changes flags of message 2 and expunges message 3.
    other.exchange("o1 SELECT INBOX\r\n").await;
    other
        .exchange("o2 STORE 2 +FLAGS.SILENT (\\Flagged)\r\n")
        .await;
    other
        .exchange("o3 STORE 3 +FLAGS.SILENT (\\Deleted)\r\n")
        .await;
    other.exchange("o4 EXPUNGE\r\n").await;

    // Resync: NOOP reports the changes, CHANGEDSINCE lists only what changed.
    let noop = c.exchange("n1 NOOP\r\n").await;
    assert!(noop.contains("* 3 EXPUNGE\r\n"), "{noop}");
    assert!(
        noop.contains("* 2 FETCH (UID 2 FLAGS (\\Recent \\Flagged) MODSEQ ("),
        "{noop}"
    );
    let changed = c
        .exchange(&format!(
            "f2 UID FETCH 1:* (FLAGS) (CHANGEDSINCE {baseline})\r\n"
        ))
        .await;
    assert_eq!(changed.lines().count(), 2, "{changed}");
    assert!(
        changed.starts_with("* 2 FETCH (UID 2 FLAGS (\\Recent \\Flagged) MODSEQ ("),
        "{changed}"
    );
    let flagged_modseq = modseq_of(&changed);
    assert!(flagged_modseq > baseline);

    // The resynced state equals a fresh fetch.
    let fresh = c.exchange("f3 FETCH 1:* (UID FLAGS)\r\n").await;
    assert!(
        fresh.starts_with("* 1 FETCH (UID 1 FLAGS (\\Recent) MODSEQ ("),
        "{fresh}"
    );
    assert!(
        fresh.contains("* 2 FETCH (UID 2 FLAGS (\\Recent \\Flagged) MODSEQ ("),
        "{fresh}"
    );
    assert_eq!(fresh.lines().count(), 3, "{fresh}");

    // UNCHANGEDSINCE below the message's MODSEQ fails for it with MODIFIED.
    assert_eq!(
        c.exchange(&format!(
            "t1 STORE 2 (UNCHANGEDSINCE {baseline}) +FLAGS (\\Seen)\r\n"
        ))
        .await,
        "t1 OK [MODIFIED 2] Conditional store failed\r\n"
    );
    let stored = c
        .exchange(&format!(
            "t2 UID STORE 2 (UNCHANGEDSINCE {flagged_modseq}) +FLAGS (\\Seen)\r\n"
        ))
        .await;
    assert!(
        stored.starts_with("* 2 FETCH (UID 2 FLAGS (\\Recent \\Seen \\Flagged) MODSEQ ("),
        "{stored}"
    );
    assert!(stored.ends_with("t2 OK Store completed\r\n"), "{stored}");

    let search = c
        .exchange(&format!("q1 SEARCH MODSEQ {}\r\n", flagged_modseq + 1))
        .await;
    assert!(search.starts_with("* SEARCH 2 (MODSEQ "), "{search}");
    assert_eq!(
        c.exchange("q2 SEARCH MODSEQ 999999\r\n").await,
        "* SEARCH\r\nq2 OK Search completed\r\n"
    );
    server.stop().await;
}
