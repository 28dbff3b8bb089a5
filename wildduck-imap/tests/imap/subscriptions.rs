//! Subscriptions outlive their mailbox (RFC 3501 §6.3.6): LSUB shows a deleted subscribed
//! mailbox as `\Noselect`, LIST (SUBSCRIBED) as `\NonExistent` (RFC 5258 §3), plain LIST not
//! at all; CREATE under the name makes it a subscribed mailbox again.

use crate::harness::*;

fn lines_naming<'a>(response: &'a str, name: &str) -> Vec<&'a str> {
    response
        .lines()
        .filter(|l| l.starts_with("* ") && l.ends_with(&format!(" {name}")))
        .collect()
}

#[tokio::test]
async fn a_deleted_mailbox_stays_subscribed() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    for (n, name) in ["box/kept", "box/gone"].iter().enumerate() {
        let created = c.exchange(&format!("c{n} CREATE {name}\r\n")).await;
        assert!(created.contains("OK"), "{created}");
        let subscribed = c.exchange(&format!("s{n} SUBSCRIBE {name}\r\n")).await;
        assert!(subscribed.contains("OK"), "{subscribed}");
    }
    let deleted = c.exchange("d1 DELETE box/gone\r\n").await;
    assert!(deleted.contains("d1 OK"), "{deleted}");

    // Another session (the subscription is stored, not the session's).
    let mut other = server.login().await;
    let lsub = other.exchange("l1 LSUB \"\" box/*\r\n").await;
    assert_eq!(
        lines_naming(&lsub, "box/gone"),
        ["* LSUB (\\Noselect) \"/\" box/gone"]
    );
    assert_eq!(lines_naming(&lsub, "box/kept").len(), 1, "{lsub}");
    let list = other.exchange("l2 LIST (SUBSCRIBED) \"\" box/*\r\n").await;
    assert_eq!(
        lines_naming(&list, "box/gone"),
        ["* LIST (\\Subscribed \\NonExistent) \"/\" box/gone"]
    );
    let list = other.exchange("l3 LIST \"\" box/*\r\n").await;
    assert!(lines_naming(&list, "box/gone").is_empty(), "{list}");
    let lsub = other.exchange("l4 LSUB \"\" box/%\r\n").await;
    assert_eq!(lines_naming(&lsub, "box/gone").len(), 1, "{lsub}");

    // Made again, it is a subscribed mailbox, listed once.
    let created = c.exchange("c3 CREATE box/gone\r\n").await;
    assert!(created.contains("c3 OK"), "{created}");
    let list = other.exchange("l5 LIST (SUBSCRIBED) \"\" box/*\r\n").await;
    assert_eq!(
        lines_naming(&list, "box/gone"),
        ["* LIST (\\HasNoChildren \\Subscribed) \"/\" box/gone"]
    );

    // Deleted again and unsubscribed, the name is gone; a second UNSUBSCRIBE finds nothing.
    c.exchange("d2 DELETE box/gone\r\n").await;
    let unsubscribed = c.exchange("u1 UNSUBSCRIBE box/gone\r\n").await;
    assert!(unsubscribed.contains("u1 OK"), "{unsubscribed}");
    let lsub = other.exchange("l6 LSUB \"\" box/*\r\n").await;
    assert!(lines_naming(&lsub, "box/gone").is_empty(), "{lsub}");
    let unsubscribed = c.exchange("u2 UNSUBSCRIBE box/gone\r\n").await;
    assert!(unsubscribed.contains("u2 NO"), "{unsubscribed}");
    server.stop().await;
}
