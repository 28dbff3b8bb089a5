//! UTF8=ACCEPT (RFC 6855): one client with it and one without see the same mailbox and the
//! same internationalized message, each in its own form.

use crate::harness::*;

#[tokio::test]
async fn utf8_and_legacy_clients_see_their_own_forms() {
    let server = TestServer::start().await;
    let mut legacy = server.login().await;
    let mut modern = server.login().await;
    assert_eq!(
        modern.exchange("u1 ENABLE UTF8=ACCEPT\r\n").await,
        "* ENABLED UTF8=ACCEPT\r\nu1 OK Enabled\r\n"
    );

    // Created by the legacy client in modified UTF-7.
    assert!(
        legacy
            .exchange("l1 CREATE Entw&APw-rfe/&ZeVnLA-\r\n")
            .await
            .contains("l1 OK")
    );
    let raw = "From: =?UTF-8?Q?J=C3=B6s=C3=A9?= <jösé@bücher.example>\r\nTo: bob@example.org\r\nSubject: Grüße\r\nMessage-ID: <m1@bücher.example>\r\n\r\nHallo\r\n";
    // The modern client names the mailbox in UTF-8.
    let appended = append(&mut modern, "u2", "\"Entwürfe/日本\"", "", raw).await;
    assert!(appended.contains("u2 OK [APPENDUID"), "{appended}");

    let listed = legacy.exchange("l2 LIST \"\" Entw*\r\n").await;
    assert!(
        listed.contains("\"/\" Entw&APw-rfe/&ZeVnLA-\r\n"),
        "{listed}"
    );
    assert!(!listed.contains("ü"), "{listed}");
    let listed = modern.exchange("u3 LIST \"\" Entw*\r\n").await;
    assert!(listed.contains("\"/\" \"Entwürfe/日本\"\r\n"), "{listed}");
    assert!(!listed.contains("&APw-"), "{listed}");
    let status = modern
        .exchange("u4 STATUS \"Entwürfe/日本\" (MESSAGES)\r\n")
        .await;
    assert!(
        status.contains("* STATUS \"Entwürfe/日本\" (MESSAGES 1)"),
        "{status}"
    );

    assert!(
        modern
            .exchange("u5 SELECT \"Entwürfe/日本\"\r\n")
            .await
            .contains("u5 OK")
    );
    let envelope = modern.exchange("u6 FETCH 1 ENVELOPE\r\n").await;
    assert!(
        envelope.contains("\"=?UTF-8?Q?J=C3=B6s=C3=A9?=\" NIL \"jösé\" \"bücher.example\""),
        "{envelope}"
    );
    assert!(envelope.contains("\"Grüße\""), "{envelope}");

    assert!(
        legacy
            .exchange("l3 SELECT Entw&APw-rfe/&ZeVnLA-\r\n")
            .await
            .contains("l3 OK")
    );
    let envelope = legacy.exchange("l4 FETCH 1 ENVELOPE\r\n").await;
    // No 8-bit at all: the domain in its ASCII (punycode) form, other text as RFC 2047
    // encoded words; ASCII text (the encoded display name) as written.
    assert!(envelope.is_ascii(), "{envelope}");
    assert!(
        envelope.contains(
            "(\"=?UTF-8?Q?J=C3=B6s=C3=A9?=\" NIL \"=?utf-8?b?asO2c8Op?=\" \"xn--bcher-kva.example\")"
        ),
        "{envelope}"
    );
    assert!(
        envelope.contains(" \"=?utf-8?b?R3LDvMOfZQ==?=\" "),
        "{envelope}"
    );
    // Even a Message-ID with an 8-bit domain is only ever shown encoded.
    assert!(
        envelope.contains(" \"=?utf-8?b?PG0xQGLDvGNoZXIuZXhhbXBsZT4=?=\")"),
        "{envelope}"
    );
    server.stop().await;
}

#[tokio::test]
async fn append_utf8_form_needs_enable() {
    let server = TestServer::start().await;
    let raw = "From: Jösé <jösé@bücher.example>\r\nTo: bob@example.org\r\nSubject: Grüße aus Köln\r\n\r\nHallo\r\n";
    let refused = "BAD APPEND with UTF8 (~{n}) needs ENABLE UTF8=ACCEPT first\r\n";

    let mut legacy = server.login().await;
    // Synchronizing: refused before the message is sent.
    legacy
        .send(format!("l1 APPEND INBOX UTF8 (~{{{}}}\r\n", raw.len()))
        .await;
    assert_eq!(legacy.line().await, format!("l1 {refused}"));
    // Non-synchronizing: the message is read, then refused.
    legacy
        .send(format!(
            "l2 APPEND INBOX UTF8 (~{{{}+}}\r\n{raw})\r\n",
            raw.len()
        ))
        .await;
    assert_eq!(legacy.until_tagged("l2").await, format!("l2 {refused}"));
    // A bare ~{n} message is BINARY's form, which we do not offer.
    legacy.send("l3 APPEND INBOX ~{5+}\r\nHallo\r\n").await;
    assert_eq!(
        legacy.until_tagged("l3").await,
        "l3 BAD A bare ~{n} message needs BINARY, which is not supported\r\n"
    );
    let status = legacy.exchange("l4 STATUS INBOX (MESSAGES)\r\n").await;
    assert!(status.contains("(MESSAGES 0)"), "{status}");

    let mut modern = server.login().await;
    modern.exchange("u1 ENABLE UTF8=ACCEPT\r\n").await;
    modern
        .send(format!(
            "u2 APPEND INBOX (\\Seen) \"02-Jan-2023 10:00:00 +0000\" UTF8 (~{{{}}}\r\n",
            raw.len()
        ))
        .await;
    assert_eq!(modern.line().await, "+ Ready for literal data\r\n");
    modern.send(format!("{raw})\r\n")).await;
    let appended = modern.until_tagged("u2").await;
    assert!(appended.starts_with("u2 OK [APPENDUID "), "{appended}");
    // The literal8 form without its parentheses is a syntax error.
    modern.send("u3 APPEND INBOX UTF8 ~{5+}\r\nHallo\r\n").await;
    assert!(
        modern.until_tagged("u3").await.starts_with("u3 BAD"),
        "a bare UTF8 ~{{n}} was accepted"
    );

    modern.exchange("u4 SELECT INBOX\r\n").await;
    let fetched = modern
        .exchange("u5 FETCH 1 (FLAGS INTERNALDATE BODY.PEEK[] ENVELOPE)\r\n")
        .await;
    // Byte for byte as sent, with the flags and date of the command.
    assert!(
        fetched.contains(&format!("BODY[] {{{}}}\r\n{raw}", raw.len())),
        "{fetched}"
    );
    assert!(fetched.contains("FLAGS (\\Recent \\Seen)"), "{fetched}");
    assert!(
        fetched.contains("INTERNALDATE \"02-Jan-2023 10:00:00 +0000\""),
        "{fetched}"
    );
    assert!(
        fetched.contains("\"Grüße aus Köln\" ((\"Jösé\" NIL \"jösé\" \"bücher.example\"))"),
        "{fetched}"
    );
    assert!(fetched.ends_with("u5 OK Fetch completed\r\n"), "{fetched}");

    // The legacy client gets the same 8-bit headers RFC 2047 encoded.
    legacy.exchange("l5 SELECT INBOX\r\n").await;
    let envelope = legacy.exchange("l6 FETCH 1 ENVELOPE\r\n").await;
    assert!(envelope.is_ascii(), "{envelope}");
    assert!(
        envelope.contains(&format!(
            "\"{}\" ((\"=?utf-8?b?SsO2c8Op?=\" NIL \"=?utf-8?b?asO2c8Op?=\" \"xn--bcher-kva.example\"))",
            "=?utf-8?b?R3LDvMOfZSBhdXMgS8O2bG4=?="
        )),
        "{envelope}"
    );
    server.stop().await;
}
