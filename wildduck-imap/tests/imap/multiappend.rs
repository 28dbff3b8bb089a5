//! MULTIAPPEND (RFC 3502): several messages in one APPEND, stored as one unit with one
//! APPENDUID set, or none of them when any is refused.

use crate::harness::*;

/// `STATUS INBOX (MESSAGES UIDNEXT)`'s untagged line.
async fn inbox_status(c: &mut Client, tag: &str) -> String {
    let reply = c
        .exchange(&format!("{tag} STATUS INBOX (MESSAGES UIDNEXT)\r\n"))
        .await;
    reply.lines().next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn several_messages_in_one_append_get_consecutive_uids() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    let caps = c.exchange("m0 CAPABILITY\r\n").await;
    assert!(caps.contains(" MULTIAPPEND "), "{caps}");

    let first = message("first", "one");
    let second = message("second", "two");
    let third = message("third", "three");
    // Non-synchronizing literals: the whole command in one go, each message with its own
    // flags and date (or none).
    c.send(format!(
        "m1 APPEND INBOX (\\Seen) {{{}+}}\r\n{first} (\\Flagged $Work) \"05-Feb-2024 08:30:00 +0100\" {{{}+}}\r\n{second} {{{}+}}\r\n{third}\r\n",
        first.len(),
        second.len(),
        third.len()
    ))
    .await;
    let appended = c.until_tagged("m1").await;
    assert!(
        appended.starts_with("m1 OK [APPENDUID ") && appended.contains(" 1:3] "),
        "{appended}"
    );

    // Synchronizing literals: a continuation for each message.
    c.send(format!("m2 APPEND INBOX {{{}}}\r\n", first.len()))
        .await;
    assert!(c.line().await.starts_with("+ "));
    c.send(format!("{first} (\\Draft) {{{}}}\r\n", second.len()))
        .await;
    assert!(c.line().await.starts_with("+ "));
    c.send(format!("{second}\r\n")).await;
    let appended = c.until_tagged("m2").await;
    assert!(appended.contains(" 4:5] Append completed"), "{appended}");

    c.exchange("m3 SELECT INBOX\r\n").await;
    let fetched = c
        .exchange("m4 FETCH 1:5 (UID FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n")
        .await;
    let subjects: Vec<&str> = fetched
        .lines()
        .filter_map(|line| line.strip_prefix("Subject: "))
        .collect();
    assert_eq!(
        subjects,
        ["first", "second", "third", "first", "second"],
        "{fetched}"
    );
    assert!(
        fetched.contains("* 1 FETCH (UID 1 FLAGS (\\Recent \\Seen) INTERNALDATE"),
        "{fetched}"
    );
    assert!(
        fetched.contains(
            "* 2 FETCH (UID 2 FLAGS (\\Recent \\Flagged $Work) INTERNALDATE \"05-Feb-2024 07:30:00 +0000\""
        ),
        "{fetched}"
    );
    assert!(
        fetched.contains("* 5 FETCH (UID 5 FLAGS (\\Recent \\Draft) INTERNALDATE"),
        "{fetched}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_failure_in_the_second_message_stores_none() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    let raw = message("kept", "before");
    assert!(
        append(&mut c, "f0", "INBOX", "", &raw)
            .await
            .contains("f0 OK")
    );
    let before = inbox_status(&mut c, "f1").await;
    assert_eq!(before, "* STATUS INBOX (MESSAGES 1 UIDNEXT 2)");

    // Over quota only with the second message: the first, which would fit, is not kept.
    let user = server.store.find_user(USER).await.expect("user");
    let used = server
        .store
        .get_user(user.id)
        .await
        .expect("user")
        .storage_used;
    let small = message("small", "fits");
    let large = message("large", &"z".repeat(4000));
    server
        .store
        .set_quota(user.id, Some(used + small.len() as u64 + 100))
        .await
        .expect("set quota");
    c.send(format!(
        "f2 APPEND INBOX {{{}+}}\r\n{small} {{{}+}}\r\n{large}\r\n",
        small.len(),
        large.len()
    ))
    .await;
    let refused = c.until_tagged("f2").await;
    assert!(refused.starts_with("f2 NO [OVERQUOTA]"), "{refused}");
    assert_eq!(inbox_status(&mut c, "f3").await, before);

    // The same with synchronizing literals: the second is refused before it is sent.
    c.send(format!("f4 APPEND INBOX {{{}}}\r\n", small.len()))
        .await;
    assert!(c.line().await.starts_with("+ "));
    c.send(format!("{small} {{{}}}\r\n", large.len())).await;
    let refused = c.line().await;
    assert!(refused.starts_with("f4 NO [OVERQUOTA]"), "{refused}");
    assert_eq!(inbox_status(&mut c, "f5").await, before);
    server.store.set_quota(user.id, None).await.expect("quota");

    // An empty second message.
    c.send(format!(
        "f6 APPEND INBOX {{{}+}}\r\n{small} {{0+}}\r\n\r\n",
        small.len()
    ))
    .await;
    assert_eq!(c.until_tagged("f6").await, "f6 NO Empty message\r\n");
    // A bad flag list on the second message.
    c.send(format!(
        "f7 APPEND INBOX {{{}+}}\r\n{small} (\\Bogus) {{{}+}}\r\n{small}\r\n",
        small.len(),
        small.len()
    ))
    .await;
    assert!(c.until_tagged("f7").await.starts_with("f7 BAD "));
    // A second message in the UTF8 form from a client that did not enable UTF8=ACCEPT.
    c.send(format!(
        "f8 APPEND INBOX {{{}+}}\r\n{small} UTF8 (~{{{}+}}\r\n{small})\r\n",
        small.len(),
        small.len()
    ))
    .await;
    assert!(c.until_tagged("f8").await.starts_with("f8 BAD "));
    assert_eq!(inbox_status(&mut c, "f9").await, before);

    // And the session is still in step: a MULTIAPPEND after them works.
    c.send(format!(
        "g1 APPEND INBOX {{{}+}}\r\n{small} {{{}+}}\r\n{small}\r\n",
        small.len(),
        small.len()
    ))
    .await;
    assert!(c.until_tagged("g1").await.contains(" 2:3] "));
    assert_eq!(
        inbox_status(&mut c, "g2").await,
        "* STATUS INBOX (MESSAGES 3 UIDNEXT 4)"
    );
    server.stop().await;
}
