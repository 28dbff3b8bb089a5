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
    // The modern client names the mailbox in UTF-8. (The `UTF8 (~{n})` APPEND form of
    // RFC 6855 §4 is not parsed yet: see docs/protocols.md.)
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
    // The domain in its ASCII (punycode) form; 8-bit text as a literal, never quoted.
    assert!(envelope.contains("\"xn--bcher-kva.example\""), "{envelope}");
    assert!(envelope.contains("{6}\r\njösé"), "{envelope}");
    assert!(!envelope.contains("\"Grüße\""), "{envelope}");
    server.stop().await;
}
