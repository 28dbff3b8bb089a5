//! LIST-EXTENDED (RFC 5258): RECURSIVEMATCH with CHILDINFO, checked against what Dovecot
//! 2.3.19 answers for the same tree (Dovecot's separator is `.`, ours `/`).

use crate::harness::*;

#[tokio::test]
async fn recursivematch_shows_parents_of_subscribed_mailboxes_with_childinfo() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    for name in ["Foo/Bar/Deep", "Baz/Sub", "Qux/Sub"] {
        let created = c.exchange(&format!("c CREATE {name}\r\n")).await;
        assert!(created.starts_with("c OK"), "{created}");
    }
    // The account's default mailboxes start subscribed: keep only the four below.
    let lsub = c.exchange("l0 LSUB \"\" *\r\n").await;
    for line in lsub.lines().filter(|l| l.starts_with("* LSUB")) {
        let name = line.rsplit("\"/\" ").next().unwrap_or_default();
        c.exchange(&format!("u UNSUBSCRIBE {name}\r\n")).await;
    }
    for name in ["Foo", "Foo/Bar", "Baz/Sub", "Qux/Sub"] {
        let subscribed = c.exchange(&format!("s SUBSCRIBE {name}\r\n")).await;
        assert!(subscribed.starts_with("s OK"), "{subscribed}");
    }
    let caps = c.exchange("k CAPABILITY\r\n").await;
    assert!(caps.contains(" LIST-EXTENDED "), "{caps}");

    // Top level: Baz and Qux are not subscribed, but have subscribed children `%` hides.
    assert_eq!(
        c.exchange("l1 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\"\r\n")
            .await,
        "* LIST (\\HasChildren) \"/\" Baz (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n\
         * LIST (\\HasChildren \\Subscribed) \"/\" Foo (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n\
         * LIST (\\HasChildren) \"/\" Qux (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n\
         l1 OK LIST completed\r\n"
    );
    // With `*` the subscribed children are shown themselves, so their parents are not.
    assert_eq!(
        c.exchange("l2 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"*\"\r\n")
            .await,
        "* LIST (\\HasNoChildren \\Subscribed) \"/\" Baz/Sub\r\n\
         * LIST (\\HasChildren \\Subscribed) \"/\" Foo (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n\
         * LIST (\\HasChildren \\Subscribed) \"/\" Foo/Bar\r\n\
         * LIST (\\HasNoChildren \\Subscribed) \"/\" Qux/Sub\r\n\
         l2 OK LIST completed\r\n"
    );
    // Without RECURSIVEMATCH: no parents, no CHILDINFO.
    assert_eq!(
        c.exchange("l3 LIST (SUBSCRIBED) \"\" \"%\"\r\n").await,
        "* LIST (\\HasChildren \\Subscribed) \"/\" Foo\r\nl3 OK LIST completed\r\n"
    );
    // Several patterns: Qux/Sub is shown by the second, so Qux is not needed.
    assert_eq!(
        c.exchange("l4 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"%\" \"Qux/%\")\r\n")
            .await,
        "* LIST (\\HasChildren) \"/\" Baz (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n\
         * LIST (\\HasChildren \\Subscribed) \"/\" Foo (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n\
         * LIST (\\HasNoChildren \\Subscribed) \"/\" Qux/Sub\r\n\
         l4 OK LIST completed\r\n"
    );
    // Foo/Bar's only child is not subscribed: no CHILDINFO for it.
    assert_eq!(
        c.exchange("l5 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" Foo/%\r\n")
            .await,
        "* LIST (\\HasChildren \\Subscribed) \"/\" Foo/Bar\r\nl5 OK LIST completed\r\n"
    );
    // RECURSIVEMATCH alone (or with REMOTE only) is refused.
    assert_eq!(
        c.exchange("l6 LIST (RECURSIVEMATCH) \"\" \"%\"\r\n").await,
        "l6 BAD RECURSIVEMATCH needs another selection option\r\n"
    );
    assert_eq!(
        c.exchange("l7 LIST (REMOTE RECURSIVEMATCH) \"\" \"%\"\r\n")
            .await,
        "l7 BAD RECURSIVEMATCH needs another selection option\r\n"
    );
    // In the extended syntax an empty pattern asks for nothing (no delimiter reply).
    assert_eq!(
        c.exchange("l8 LIST () \"\" \"\"\r\n").await,
        "l8 OK LIST completed\r\n"
    );
    assert_eq!(
        c.exchange("l9 LIST \"\" (\"\" Baz)\r\n").await,
        "* LIST (\\HasChildren) \"/\" Baz\r\nl9 OK LIST completed\r\n"
    );
    // The plain syntax still answers the delimiter question.
    assert_eq!(
        c.exchange("l10 LIST \"\" \"\"\r\n").await,
        "* LIST (\\Noselect) \"/\" \"\"\r\nl10 OK LIST completed\r\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn recursivematch_with_special_use() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    let created = c
        .exchange("c1 CREATE Projects/Archive (USE (\\Archive))\r\n")
        .await;
    assert!(created.starts_with("c1 OK"), "{created}");
    let listed = c
        .exchange("l1 LIST (SPECIAL-USE RECURSIVEMATCH) \"\" Projects\r\n")
        .await;
    assert_eq!(
        listed,
        "* LIST (\\HasChildren) \"/\" Projects (\"CHILDINFO\" (\"SPECIAL-USE\"))\r\nl1 OK LIST completed\r\n"
    );
    server.stop().await;
}
