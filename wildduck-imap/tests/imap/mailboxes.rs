//! Mailbox commands: LIST/LSUB/XLIST, CREATE/DELETE/RENAME, (UN)SUBSCRIBE, STATUS, SELECT.

use crate::harness::*;

/// CREATE's tagged OK, naming the id the store gave the mailbox (RFC 8474 MAILBOXID).
async fn created(server: &TestServer, tag: &str, path: &str) -> String {
    let user = server.store.find_user(USER).await.expect("user");
    let mailbox = server.store.get_mailbox(user.id, path).await;
    let id = mailbox.expect("created mailbox").id;
    format!("{tag} OK [MAILBOXID ({id})] Create completed\r\n")
}

#[tokio::test]
async fn list_default_mailboxes_with_special_use_and_children() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    let list = c.exchange("l1 LIST \"\" \"*\"\r\n").await;
    for line in [
        "* LIST (\\HasNoChildren) \"/\" INBOX\r\n",
        "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts\r\n",
        "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Mail\"\r\n",
        "* LIST (\\HasNoChildren \\Junk) \"/\" Junk\r\n",
        "* LIST (\\HasNoChildren \\Trash) \"/\" Trash\r\n",
    ] {
        assert!(list.contains(line), "missing {line:?} in {list}");
    }
    assert_eq!(list.lines().count(), 6);
    assert!(list.ends_with("l1 OK LIST completed\r\n"));
    assert_eq!(
        c.exchange("l2 LIST \"\" \"\"\r\n").await,
        "* LIST (\\Noselect) \"/\" \"\"\r\nl2 OK LIST completed\r\n"
    );
    assert_eq!(
        c.exchange("l3 LIST \"\" inbox\r\n").await,
        "* LIST (\\HasNoChildren) \"/\" INBOX\r\nl3 OK LIST completed\r\n"
    );
    let special = c.exchange("l4 LIST (SPECIAL-USE) \"\" \"*\"\r\n").await;
    assert_eq!(special.lines().count(), 5, "{special}");
    assert!(!special.contains("INBOX"));
    let xlist = c.exchange("l5 XLIST \"\" \"*\"\r\n").await;
    assert!(
        xlist.contains("* XLIST (\\HasNoChildren \\Inbox) \"/\" INBOX\r\n"),
        "{xlist}"
    );
    assert!(
        xlist.contains("* XLIST (\\HasNoChildren \\Spam) \"/\" Junk\r\n"),
        "{xlist}"
    );
    assert_eq!(
        c.exchange(
            "l6 LIST \"\" (INBOX Junk) RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES UIDNEXT))\r\n"
        )
        .await,
        "* LIST (\\HasNoChildren) \"/\" INBOX\r\n* STATUS INBOX (MESSAGES 0 UIDNEXT 1)\r\n\
         * LIST (\\HasNoChildren \\Junk) \"/\" Junk\r\n* STATUS Junk (MESSAGES 0 UIDNEXT 1)\r\nl6 OK LIST completed\r\n"
    );
    assert_eq!(
        c.exchange("l7 LIST (BOGUS) \"\" *\r\n").await,
        "l7 BAD Unknown LIST selection option\r\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn create_rename_delete_and_hierarchy() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    assert_eq!(
        c.exchange("c1 CREATE Projects/2024\r\n").await,
        created(&server, "c1", "Projects/2024").await
    );
    assert_eq!(
        c.exchange("c2 LIST \"\" Projects*\r\n").await,
        "* LIST (\\HasChildren) \"/\" Projects\r\n* LIST (\\HasNoChildren) \"/\" Projects/2024\r\nc2 OK LIST completed\r\n"
    );
    assert_eq!(
        c.exchange("c3 LIST Projects/ %\r\n").await,
        "* LIST (\\HasNoChildren) \"/\" Projects/2024\r\nc3 OK LIST completed\r\n"
    );
    assert_eq!(
        c.exchange("c4 CREATE Projects/2024\r\n").await,
        "c4 NO [ALREADYEXISTS] Mailbox already exists\r\n"
    );
    assert_eq!(
        c.exchange("c5 CREATE inbox\r\n").await,
        "c5 NO [ALREADYEXISTS] INBOX always exists\r\n"
    );
    assert_eq!(
        c.exchange("c6 RENAME Projects Archive/Old\r\n").await,
        "c6 OK Rename completed\r\n"
    );
    assert_eq!(
        c.exchange("c7 LIST \"\" *Old*\r\n").await,
        "* LIST (\\HasChildren) \"/\" Archive/Old\r\n* LIST (\\HasNoChildren) \"/\" Archive/Old/2024\r\nc7 OK LIST completed\r\n"
    );
    assert_eq!(
        c.exchange("c8 RENAME Nothing Else\r\n").await,
        "c8 NO [NONEXISTENT] No such mailbox\r\n"
    );
    assert_eq!(
        c.exchange("c9 DELETE Archive/Old/2024\r\n").await,
        "c9 OK Delete completed\r\n"
    );
    assert_eq!(
        c.exchange("c10 DELETE Archive/Old/2024\r\n").await,
        "c10 NO [NONEXISTENT] No such mailbox\r\n"
    );
    assert_eq!(
        c.exchange("c11 DELETE INBOX\r\n").await,
        "c11 NO [CANNOT] INBOX can not be deleted\r\n"
    );
    assert!(
        c.exchange("c12 DELETE Trash\r\n")
            .await
            .starts_with("c12 NO [CANNOT]")
    );
    assert_eq!(
        c.exchange("c13 CREATE\r\n").await,
        "c13 BAD CREATE takes a mailbox and optional parameters\r\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn utf7_names_and_create_special_use() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    assert_eq!(
        c.exchange("u1 CREATE Entw&APw-rfe/&ZeVnLA-\r\n").await,
        created(&server, "u1", "Entwürfe/日本").await
    );
    let user = server.store.find_user(USER).await.expect("user");
    assert!(
        server
            .store
            .get_mailbox(user.id, "Entwürfe/日本")
            .await
            .is_ok()
    );
    assert_eq!(
        c.exchange("u2 LIST \"\" Entw*\r\n").await,
        "* LIST (\\HasChildren) \"/\" Entw&APw-rfe\r\n* LIST (\\HasNoChildren) \"/\" Entw&APw-rfe/&ZeVnLA-\r\nu2 OK LIST completed\r\n"
    );
    assert_eq!(
        c.exchange("u3 CREATE bad&-name&Zz\r\n").await,
        "u3 NO [CANNOT] Mailbox name is not valid modified UTF-7\r\n"
    );
    assert_eq!(
        c.exchange("u4 CREATE Everything (USE (\\All))\r\n").await,
        created(&server, "u4", "Everything").await
    );
    assert_eq!(
        c.exchange("u5 LIST \"\" Everything\r\n").await,
        "* LIST (\\HasNoChildren \\All) \"/\" Everything\r\nu5 OK LIST completed\r\n"
    );
    assert_eq!(
        c.exchange("u6 CREATE Other (USE (\\Bogus))\r\n").await,
        "u6 NO [USEATTR] Unknown special-use attribute\r\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn subscribe_lsub_and_status() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    assert_eq!(
        c.exchange("s1 CREATE News\r\n").await,
        created(&server, "s1", "News").await
    );
    assert_eq!(
        c.exchange("s2 UNSUBSCRIBE News\r\n").await,
        "s2 OK Unsubscribe completed\r\n"
    );
    assert_eq!(
        c.exchange("s3 LSUB \"\" News\r\n").await,
        "s3 OK LSUB completed\r\n"
    );
    assert_eq!(
        c.exchange("s4 SUBSCRIBE News\r\n").await,
        "s4 OK Subscribe completed\r\n"
    );
    assert_eq!(
        c.exchange("s5 LSUB \"\" News\r\n").await,
        "* LSUB (\\HasNoChildren) \"/\" News\r\ns5 OK LSUB completed\r\n"
    );
    assert_eq!(
        c.exchange("s6 LIST \"\" News RETURN (SUBSCRIBED)\r\n")
            .await,
        "* LIST (\\HasNoChildren \\Subscribed) \"/\" News\r\ns6 OK LIST completed\r\n"
    );
    assert_eq!(
        c.exchange("s7 SUBSCRIBE Nope\r\n").await,
        "s7 NO [NONEXISTENT] No such mailbox\r\n"
    );
    append(&mut c, "s8", "News", "(\\Seen) ", &message("one", "body")).await;
    append(&mut c, "s9", "News", "", &message("two", "body")).await;
    let user = server.store.find_user(USER).await.expect("user");
    let news = server
        .store
        .get_mailbox(user.id, "News")
        .await
        .expect("News");
    assert_eq!(
        c.exchange("s10 STATUS News (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)\r\n")
            .await,
        format!(
            "* STATUS News (MESSAGES 2 RECENT 2 UIDNEXT 3 UIDVALIDITY {} UNSEEN 1)\r\ns10 OK Status completed\r\n",
            news.uidvalidity
        )
    );
    assert_eq!(
        c.exchange("s11 STATUS Nope (MESSAGES)\r\n").await,
        "s11 NO [NONEXISTENT] No such mailbox\r\n"
    );
    assert_eq!(
        c.exchange("s12 STATUS News (BOGUS)\r\n").await,
        "s12 BAD Unknown STATUS item\r\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn select_examine_unselect_close() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    append(&mut c, "a1", "INBOX", "(\\Seen) ", &message("one", "first")).await;
    append(
        &mut c,
        "a2",
        "INBOX",
        "($Important) ",
        &message("two", "second"),
    )
    .await;
    let user = server.store.find_user(USER).await.expect("user");
    let inbox = server
        .store
        .get_mailbox(user.id, "INBOX")
        .await
        .expect("INBOX");
    let select = c.exchange("s1 SELECT INBOX\r\n").await;
    assert_eq!(
        select,
        format!(
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Important)\r\n\
             * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Important \\*)] Flags permitted\r\n\
             * 2 EXISTS\r\n* 2 RECENT\r\n* OK [UNSEEN 2] First unseen\r\n\
             * OK [UIDVALIDITY {}] UIDs valid\r\n* OK [UIDNEXT 3] Predicted next UID\r\n\
             * OK [HIGHESTMODSEQ {}] Highest\r\n* OK [MAILBOXID ({})] Ok\r\n\
             s1 OK [READ-WRITE] SELECT completed\r\n",
            inbox.uidvalidity, inbox.highest_modseq, inbox.id
        )
    );
    let examine = c.exchange("s2 EXAMINE INBOX\r\n").await;
    assert!(
        examine.contains("* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n"),
        "{examine}"
    );
    assert!(examine.ends_with("s2 OK [READ-ONLY] EXAMINE completed\r\n"));
    assert_eq!(
        c.exchange("s3 STORE 1 +FLAGS (\\Deleted)\r\n").await,
        "s3 NO [READ-ONLY] Mailbox is read-only\r\n"
    );
    assert_eq!(
        c.exchange("s4 EXPUNGE\r\n").await,
        "s4 NO [READ-ONLY] Mailbox is read-only\r\n"
    );
    assert_eq!(
        c.exchange("s5 UNSELECT\r\n").await,
        "s5 OK Unselect completed\r\n"
    );
    assert_eq!(
        c.exchange("s6 FETCH 1 FLAGS\r\n").await,
        "s6 BAD Select a mailbox first\r\n"
    );
    assert_eq!(
        c.exchange("s7 SELECT Nope\r\n").await,
        "s7 NO [NONEXISTENT] No such mailbox\r\n"
    );
    assert_eq!(
        c.exchange("s8 CHECK\r\n").await,
        "s8 BAD Select a mailbox first\r\n"
    );
    c.exchange("s9 SELECT INBOX\r\n").await;
    assert_eq!(
        c.exchange("s9b CHECK\r\n").await,
        "s9b OK CHECK completed\r\n"
    );
    assert_eq!(
        c.exchange("s10 STORE 1 +FLAGS.SILENT (\\Deleted)\r\n")
            .await,
        "s10 OK Store completed\r\n"
    );
    assert_eq!(
        c.exchange("s11 CLOSE\r\n").await,
        "s11 OK Close completed\r\n"
    );
    assert_eq!(
        c.exchange("s12 STATUS INBOX (MESSAGES)\r\n").await,
        "* STATUS INBOX (MESSAGES 1)\r\ns12 OK Status completed\r\n"
    );
    server.stop().await;
}

#[tokio::test]
async fn selected_mailbox_deleted_elsewhere_ends_the_session() {
    let server = TestServer::start().await;
    let mut a = server.login().await;
    let mut b = server.login().await;
    a.exchange("c1 CREATE Doomed\r\n").await;
    a.exchange("s1 SELECT Doomed\r\n").await;
    assert_eq!(
        b.exchange("d1 DELETE Doomed\r\n").await,
        "d1 OK Delete completed\r\n"
    );
    a.send("n1 NOOP\r\n").await;
    assert_eq!(
        a.until_closed().await,
        "* BYE Selected mailbox was deleted, have to disconnect\r\n"
    );
    assert_eq!(b.exchange("n2 NOOP\r\n").await, "n2 OK NOOP completed\r\n");
    server.stop().await;
}

/// CREATE does not subscribe (RFC 3501 §6.3.3), and LSUB with `%` shows a subscribed
/// mailbox's unsubscribed or missing parent as `\Noselect` (§6.3.9), as imaptest's
/// `subscribe` script checks.
#[tokio::test]
async fn lsub_shows_unsubscribed_parents_as_noselect() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    for name in ["box/test", "box/test2/test", "box/test3/test3"] {
        let created = c.exchange(&format!("c CREATE {name}\r\n")).await;
        assert!(created.starts_with("c OK"), "{created}");
    }
    assert_eq!(
        c.exchange("l1 LSUB \"\" box/*\r\n").await,
        "l1 OK LSUB completed\r\n"
    );
    for name in ["box/test", "box/test2/test", "box/test3/test3"] {
        c.exchange(&format!("s SUBSCRIBE {name}\r\n")).await;
    }
    assert_eq!(
        c.exchange("l2 LSUB \"\" box/%\r\n").await,
        "* LSUB (\\HasNoChildren) \"/\" box/test\r\n\
         * LSUB (\\Noselect) \"/\" box/test2\r\n\
         * LSUB (\\Noselect) \"/\" box/test3\r\n\
         l2 OK LSUB completed\r\n"
    );
    let top = c.exchange("l3 LSUB \"\" %\r\n").await;
    assert!(top.contains("* LSUB (\\Noselect) \"/\" box\r\n"), "{top}");
    assert!(!top.contains("box/"), "{top}");
    server.stop().await;
}

/// A mailbox hidden through the API (WildDuck's `hidden`) is left out of LIST and LSUB and
/// can not be opened, as in WildDuck; showing it again brings it back.
#[tokio::test]
async fn hidden_mailboxes_are_not_listed_or_opened() {
    let server = TestServer::start().await;
    let user = server.store.find_user(USER).await.unwrap();
    let hidden = wildduck_store::MailboxSettings {
        hidden: true,
        retention: None,
    };
    let mailbox = server
        .store
        .create_mailbox_with_settings(user.id, "Quiet", hidden)
        .await
        .unwrap();
    let mut c = server.login().await;
    let list = c.exchange("h1 LIST \"\" \"*\"\r\n").await;
    assert!(!list.contains("Quiet"), "{list}");
    assert_eq!(list.lines().count(), 6, "{list}");
    let lsub = c.exchange("h2 LSUB \"\" \"*\"\r\n").await;
    assert!(!lsub.contains("Quiet"), "{lsub}");
    assert_eq!(
        c.exchange("h3 SELECT Quiet\r\n").await,
        "h3 NO [CANNOT] This mailbox is hidden\r\n"
    );
    assert_eq!(
        c.exchange("h4 EXAMINE Quiet\r\n").await,
        "h4 NO [CANNOT] This mailbox is hidden\r\n"
    );
    let shown = wildduck_store::MailboxSettingsUpdate {
        hidden: Some(false),
        retention: None,
    };
    server
        .store
        .update_mailbox_settings(mailbox.id, shown)
        .await
        .unwrap();
    let list = c.exchange("h5 LIST \"\" Quiet\r\n").await;
    assert_eq!(
        list,
        "* LIST (\\HasNoChildren) \"/\" Quiet\r\nh5 OK LIST completed\r\n"
    );
    assert!(c.exchange("h6 SELECT Quiet\r\n").await.contains("h6 OK"));
    server.stop().await;
}
