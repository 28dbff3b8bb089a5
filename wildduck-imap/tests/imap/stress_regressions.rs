//! What imaptest's stress run caught, one session's view at a time: a keyword another session
//! added is announced in FLAGS/PERMANENTFLAGS before any response shows it, a FETCH item
//! asked twice is answered once, and a keyword of a message that came and went is still
//! announced.

use crate::harness::*;

/// Index of the first line of `response` that starts with `prefix`.
fn line_index(response: &str, prefix: &str) -> Option<usize> {
    response.lines().position(|line| line.starts_with(prefix))
}

/// The FETCH line for sequence 1 shows `$Urgent`; the FLAGS and PERMANENTFLAGS lines naming it
/// come before it.
fn assert_announced_before_shown(response: &str) {
    let fetch = response
        .lines()
        .position(|line| line.starts_with("* 1 FETCH") && line.contains("$Urgent"))
        .unwrap_or_else(|| panic!("no FETCH showing $Urgent:\n{response}"));
    let flags = line_index(response, "* FLAGS (")
        .filter(|&i| response.lines().nth(i).unwrap().contains("$Urgent"))
        .unwrap_or_else(|| panic!("$Urgent never announced in FLAGS:\n{response}"));
    let permanent = line_index(response, "* OK [PERMANENTFLAGS (")
        .filter(|&i| response.lines().nth(i).unwrap().contains("$Urgent \\*)"))
        .unwrap_or_else(|| panic!("$Urgent not in PERMANENTFLAGS:\n{response}"));
    assert!(
        flags < fetch && permanent < fetch,
        "FETCH showed $Urgent before it was announced:\n{response}"
    );
}

/// Two sessions on an INBOX of one message; the second adds a keyword the first has not seen.
async fn keyword_added_elsewhere() -> (TestServer, Client) {
    let server = TestServer::start().await;
    let mut first = server.login().await;
    let appended = append(&mut first, "A1", "INBOX", "", &message("one", "body")).await;
    assert!(appended.contains("A1 OK"), "{appended}");
    let selected = first.exchange("S1 SELECT INBOX\r\n").await;
    assert!(!selected.contains("$Urgent"), "{selected}");
    let mut second = server.login().await;
    second.exchange("S2 SELECT INBOX\r\n").await;
    let stored = second.exchange("T2 STORE 1 +FLAGS ($Urgent)\r\n").await;
    assert!(stored.contains("T2 OK"), "{stored}");
    (server, first)
}

#[tokio::test]
async fn fetch_announces_a_keyword_another_session_added() {
    let (server, mut client) = keyword_added_elsewhere().await;
    let response = client.exchange("F1 FETCH 1 (FLAGS)\r\n").await;
    assert_announced_before_shown(&response);
    server.stop().await;
}

#[tokio::test]
async fn store_announces_a_keyword_another_session_added() {
    let (server, mut client) = keyword_added_elsewhere().await;
    let response = client.exchange("T1 STORE 1 +FLAGS (\\Seen)\r\n").await;
    assert_announced_before_shown(&response);
    server.stop().await;
}

#[tokio::test]
async fn own_store_announces_its_new_keyword() {
    let server = TestServer::start().await;
    let mut client = server.login().await;
    append(&mut client, "A1", "INBOX", "", &message("one", "body")).await;
    client.exchange("S1 SELECT INBOX\r\n").await;
    let response = client.exchange("T1 STORE 1 +FLAGS ($Urgent)\r\n").await;
    assert_announced_before_shown(&response);
    // Announced once: the next command has nothing new to say about flags.
    let again = client.exchange("N1 NOOP\r\n").await;
    assert_eq!(again, "N1 OK NOOP completed\r\n");
    server.stop().await;
}

#[tokio::test]
async fn a_fetch_item_asked_twice_is_answered_once() {
    let server = TestServer::start().await;
    let mut client = server.login().await;
    append(&mut client, "A1", "INBOX", "", &message("one", "body")).await;
    client.exchange("S1 SELECT INBOX\r\n").await;
    let uid = client
        .exchange("U1 UID FETCH 1:* (UID FLAGS UID RFC822.SIZE FLAGS)\r\n")
        .await;
    let line = uid.lines().next().unwrap();
    assert!(line.starts_with("* 1 FETCH ("), "{uid}");
    assert_eq!(line.matches("UID ").count(), 1, "{uid}");
    assert_eq!(line.matches("FLAGS ").count(), 1, "{uid}");
    assert!(line.contains("RFC822.SIZE "), "{uid}");
    let by_seq = client.exchange("F1 FETCH 1 (UID FLAGS UID)\r\n").await;
    let line = by_seq.lines().next().unwrap();
    assert_eq!(line.matches("UID ").count(), 1, "{by_seq}");
    server.stop().await;
}

#[tokio::test]
async fn a_message_added_and_expunged_between_syncs_is_never_shown() {
    let server = TestServer::start().await;
    let mut watcher = server.login().await;
    append(&mut watcher, "A1", "INBOX", "", &message("one", "body")).await;
    watcher.exchange("S1 SELECT INBOX\r\n").await;
    let mut other = server.login().await;
    let appended = append(
        &mut other,
        "A2",
        "INBOX",
        "(\\Deleted) ",
        &message("two", "body"),
    )
    .await;
    assert!(appended.contains("A2 OK"), "{appended}");
    other.exchange("S2 SELECT INBOX\r\n").await;
    let expunged = other.exchange("E2 EXPUNGE\r\n").await;
    assert!(expunged.contains("* 2 EXPUNGE"), "{expunged}");

    let synced = watcher.exchange("N1 NOOP\r\n").await;
    assert!(!synced.contains("EXISTS"), "{synced}");
    assert!(!synced.contains("EXPUNGE"), "{synced}");
    let listed = watcher.exchange("F1 FETCH 1:* (UID)\r\n").await;
    assert_eq!(listed, "* 1 FETCH (UID 1)\r\nF1 OK Fetch completed\r\n");
    server.stop().await;
}

#[tokio::test]
async fn a_keyword_added_and_removed_elsewhere_is_announced() {
    let server = TestServer::start().await;
    let mut watcher = server.login().await;
    append(&mut watcher, "A1", "INBOX", "", &message("one", "body")).await;
    watcher.exchange("S1 SELECT INBOX\r\n").await;
    let mut other = server.login().await;
    other.exchange("S2 SELECT INBOX\r\n").await;
    other
        .exchange("T2 STORE 1 +FLAGS.SILENT ($Passing)\r\n")
        .await;
    other
        .exchange("T3 STORE 1 -FLAGS.SILENT ($Passing)\r\n")
        .await;

    // The other session knows $Passing from its own STORE; this one learns it too, although
    // its FETCH shows the newer flags (without $Passing) before the journal is read.
    let synced = watcher.exchange("F1 FETCH 1 (FLAGS MODSEQ)\r\n").await;
    let flags = synced
        .lines()
        .find(|line| line.starts_with("* FLAGS ("))
        .unwrap_or_else(|| panic!("no FLAGS:\n{synced}"));
    assert!(flags.contains("$Passing"), "{synced}");
    assert!(
        synced.contains("$Passing \\*)] Flags permitted"),
        "{synced}"
    );
    server.stop().await;
}

/// imaptest stress, "Checkpoint: Missing keyword $Label5": a message appended with a keyword
/// and expunged before a session fetched it left that session without the keyword, while the
/// session that fetched it had it. No flag change names it, so the sync lists the mailbox's
/// remembered keywords whenever messages arrived.
#[tokio::test]
async fn a_keyword_of_a_message_that_came_and_went_is_announced() {
    let server = TestServer::start().await;
    let mut watcher = server.login().await;
    let selected = watcher.exchange("S1 SELECT INBOX\r\n").await;
    assert!(!selected.contains("$Label5"), "{selected}");
    let mut other = server.login().await;
    let appended = append(
        &mut other,
        "A2",
        "INBOX",
        "(\\Deleted $Label5) ",
        &message("gone", "soon"),
    )
    .await;
    assert!(appended.contains("A2 OK"), "{appended}");
    other.exchange("S2 SELECT INBOX\r\n").await;
    let fetched = other.exchange("F2 FETCH 1 (FLAGS)\r\n").await;
    assert!(fetched.contains("$Label5"), "{fetched}");
    let expunged = other.exchange("X2 EXPUNGE\r\n").await;
    assert!(expunged.contains("X2 OK"), "{expunged}");

    let noop = watcher.exchange("N1 NOOP\r\n").await;
    assert!(
        noop.lines()
            .any(|l| l.starts_with("* FLAGS (") && l.contains("$Label5")),
        "{noop}"
    );
    assert!(
        !noop.contains("EXISTS") && !noop.contains("EXPUNGE"),
        "{noop}"
    );
    server.stop().await;
}
