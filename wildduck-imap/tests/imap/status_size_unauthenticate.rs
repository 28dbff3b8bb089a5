//! STATUS=SIZE (RFC 8438): the mailbox's size is the sum of its messages' RFC822.SIZE; and
//! UNAUTHENTICATE (RFC 8437): back to the not-authenticated state on the same connection,
//! with the selection and enabled extensions forgotten, and a new login possible.

use crate::harness::*;

#[tokio::test]
async fn status_size_is_the_sum_of_message_sizes() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    let caps = c.exchange("c1 CAPABILITY\r\n").await;
    assert!(caps.contains(" STATUS=SIZE"), "{caps}");
    let empty = c.exchange("s1 STATUS INBOX (SIZE MESSAGES)\r\n").await;
    assert!(
        empty.starts_with("* STATUS INBOX (SIZE 0 MESSAGES 0)\r\n"),
        "{empty}"
    );
    let (first, second) = (
        message("one", "short"),
        message("two", &"long ".repeat(100)),
    );
    append(&mut c, "a1", "INBOX", "", &first).await;
    append(&mut c, "a2", "INBOX", "", &second).await;
    c.exchange("e1 EXAMINE INBOX\r\n").await;
    let sizes = c.exchange("f1 FETCH 1:2 (RFC822.SIZE)\r\n").await;
    let total: usize = sizes
        .lines()
        .filter_map(|l| l.split("RFC822.SIZE ").nth(1))
        .map(|n| n.trim_end_matches(')').parse::<usize>().expect("size"))
        .sum();
    assert_eq!(total, first.len() + second.len(), "{sizes}");
    let status = c.exchange("s2 STATUS INBOX (SIZE)\r\n").await;
    assert_eq!(
        status,
        format!("* STATUS INBOX (SIZE {total})\r\ns2 OK Status completed\r\n")
    );
    // LIST-STATUS takes the item too.
    let listed = c
        .exchange("l1 LIST \"\" INBOX RETURN (STATUS (SIZE))\r\n")
        .await;
    assert!(
        listed.contains(&format!("* STATUS INBOX (SIZE {total})")),
        "{listed}"
    );
    server.stop().await;
}

#[tokio::test]
async fn unauthenticate_returns_to_the_greeting_state() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    let early = c.exchange("u0 UNAUTHENTICATE\r\n").await;
    assert!(early.starts_with("u0 BAD "), "{early}");
    let login = c
        .exchange(&format!("l1 LOGIN {USER} \"{PASSWORD}\"\r\n"))
        .await;
    assert!(login.contains("l1 OK"), "{login}");
    let caps = c.exchange("c1 CAPABILITY\r\n").await;
    assert!(caps.contains(" UNAUTHENTICATE"), "{caps}");
    c.exchange("e1 ENABLE QRESYNC\r\n").await;
    c.exchange("s1 SELECT INBOX\r\n").await;

    let bad = c.exchange("u1 UNAUTHENTICATE now\r\n").await;
    assert!(bad.starts_with("u1 BAD "), "{bad}");
    let done = c.exchange("u2 UNAUTHENTICATE\r\n").await;
    assert_eq!(done, "u2 OK Unauthenticate completed\r\n");

    // Not authenticated: commands that need a login are refused, the login ones offered.
    let refused = c.exchange("s2 SELECT INBOX\r\n").await;
    assert!(refused.starts_with("s2 BAD "), "{refused}");
    let caps = c.exchange("c2 CAPABILITY\r\n").await;
    assert!(caps.contains("AUTH=PLAIN"), "{caps}");

    // A new login starts afresh: nothing selected, QRESYNC off again (SELECT with the
    // QRESYNC parameter needs a new ENABLE).
    let login = c
        .exchange(&format!("l2 LOGIN {USER} \"{PASSWORD}\"\r\n"))
        .await;
    assert!(login.contains("l2 OK"), "{login}");
    let fetch = c.exchange("f1 FETCH 1 (UID)\r\n").await;
    assert!(fetch.starts_with("f1 BAD "), "{fetch}");
    let qresync = c.exchange("s3 SELECT INBOX (QRESYNC (1 1))\r\n").await;
    assert!(qresync.starts_with("s3 BAD "), "{qresync}");
    let select = c.exchange("s4 SELECT INBOX\r\n").await;
    assert!(select.contains("s4 OK"), "{select}");
    server.stop().await;
}
