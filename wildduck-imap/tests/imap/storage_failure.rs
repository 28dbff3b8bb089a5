//! The storage engine failing under a running listener: commands that need it are answered
//! `NO [UNAVAILABLE]` (RFC 5530), so clients retry later, and the session itself goes on.

#[path = "../../../wildduck-store/tests/faults/mod.rs"]
mod faults;

use crate::harness::*;

#[tokio::test]
async fn commands_on_a_failed_disk_are_answered_unavailable() {
    let server = TestServer::start().await;
    let mut client = server.login().await;
    let stored = append(&mut client, "A1", "INBOX", "", &message("kept", "body")).await;
    assert!(stored.contains("A1 OK"), "{stored}");
    let selected = client.exchange("S1 SELECT INBOX\r\n").await;
    assert!(selected.contains("S1 OK"), "{selected}");

    assert!(faults::sever_sqlite_files(server.dir.path()) > 0);

    for (tag, command) in [
        ("F1", "STORE 1 +FLAGS (\\Flagged)"),
        ("C1", "CREATE Projects"),
        ("R1", "RENAME Junk Spam"),
    ] {
        let reply = client.exchange(&format!("{tag} {command}\r\n")).await;
        assert!(
            reply.contains(&format!("{tag} NO [UNAVAILABLE] ")),
            "{command}: {reply}"
        );
    }
    let appended = append(&mut client, "A2", "INBOX", "", &message("lost", "body")).await;
    assert!(appended.contains("A2 NO [UNAVAILABLE] "), "{appended}");

    // The session outlives the failures: what needs no storage still works.
    let capability = client.exchange("K1 CAPABILITY\r\n").await;
    assert!(capability.contains("K1 OK"), "{capability}");
}
