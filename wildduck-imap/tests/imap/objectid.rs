//! OBJECTID (RFC 8474): MAILBOXID on CREATE, SELECT/EXAMINE, STATUS and LIST-STATUS, kept by
//! RENAME and new after DELETE + CREATE; EMAILID kept by COPY and MOVE and searchable;
//! THREADID NIL (no thread ids are kept).

use crate::harness::*;

/// The object id inside `KEYWORD (` … `)` of the first line naming it.
fn id_after(text: &str, keyword: &str) -> String {
    let open = format!("{keyword} (");
    let start = text
        .find(&open)
        .unwrap_or_else(|| panic!("{keyword} in {text}"))
        + open.len();
    let id = text[start..]
        .split(')')
        .next()
        .expect("closing parenthesis");
    assert!(
        (1..=255).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "not an objectid: {id:?}"
    );
    id.to_string()
}

#[tokio::test]
async fn mailbox_ids_on_create_select_status_list_and_rename() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    let caps = c.exchange("a1 CAPABILITY\r\n").await;
    assert!(caps.contains(" OBJECTID"), "{caps}");

    let created = c.exchange("c1 CREATE Projects\r\n").await;
    assert!(created.starts_with("c1 OK [MAILBOXID ("), "{created}");
    let id = id_after(&created, "MAILBOXID");

    let status = c
        .exchange("s1 STATUS Projects (MESSAGES MAILBOXID)\r\n")
        .await;
    assert_eq!(
        status,
        format!("* STATUS Projects (MESSAGES 0 MAILBOXID ({id}))\r\ns1 OK Status completed\r\n")
    );
    let renamed = c.exchange("r1 RENAME Projects Plans\r\n").await;
    assert!(renamed.starts_with("r1 OK"), "{renamed}");
    let status = c.exchange("s2 STATUS Plans (MAILBOXID)\r\n").await;
    assert!(
        status.starts_with(&format!("* STATUS Plans (MAILBOXID ({id}))\r\n")),
        "rename keeps the id: {status}"
    );
    let examined = c.exchange("e1 EXAMINE Plans\r\n").await;
    assert!(
        examined.contains(&format!("* OK [MAILBOXID ({id})]")),
        "{examined}"
    );
    let selected = c.exchange("e2 SELECT INBOX\r\n").await;
    let inbox_id = id_after(&selected, "OK [MAILBOXID");
    assert_ne!(inbox_id, id);

    c.exchange("d1 DELETE Plans\r\n").await;
    let again = c.exchange("c2 CREATE Plans\r\n").await;
    let new_id = id_after(&again, "MAILBOXID");
    assert_ne!(new_id, id, "a new mailbox by an old name is a new mailbox");
    let listed = c
        .exchange("l1 LIST \"\" Plans RETURN (STATUS (MAILBOXID UIDNEXT))\r\n")
        .await;
    assert!(
        listed.contains(&format!(
            "* STATUS Plans (MAILBOXID ({new_id}) UIDNEXT 1)\r\n"
        )),
        "{listed}"
    );
    // Unknown items are still refused, next to MAILBOXID or not.
    let bad = c.exchange("s3 STATUS Plans (MAILBOXID BOGUS)\r\n").await;
    assert_eq!(bad, "s3 BAD Unknown STATUS item\r\n");
    let missing = c.exchange("s4 STATUS Nowhere (MAILBOXID)\r\n").await;
    assert!(missing.starts_with("s4 NO [NONEXISTENT]"), "{missing}");
}

#[tokio::test]
async fn email_ids_survive_copy_and_move_and_are_searchable() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    append(&mut c, "a1", "INBOX", "", &message("first", "one")).await;
    append(&mut c, "a2", "INBOX", "", &message("second", "two")).await;
    c.exchange("s1 SELECT INBOX\r\n").await;

    let both = c.exchange("f1 FETCH 1:2 (EMAILID THREADID)\r\n").await;
    let lines: Vec<&str> = both.lines().collect();
    assert!(lines[0].starts_with("* 1 FETCH (EMAILID ("), "{both}");
    assert!(lines[0].ends_with(") THREADID NIL)"), "{both}");
    let first = id_after(lines[0], "EMAILID");
    let second = id_after(lines[1], "EMAILID");
    assert_ne!(first, second, "two messages, two ids");
    // Alone, the item is answered alone; UID FETCH adds only its UID.
    assert_eq!(
        c.exchange("f2 FETCH 1 EMAILID\r\n").await,
        format!("* 1 FETCH (EMAILID ({first}))\r\nf2 OK Fetch completed\r\n")
    );
    assert_eq!(
        c.exchange("f3 UID FETCH 2 (emailid)\r\n").await,
        format!("* 2 FETCH (UID 2 EMAILID ({second}))\r\nf3 OK Fetch completed\r\n")
    );
    // A header field named EMAILID is a section, not the item.
    let section = c
        .exchange("f4 FETCH 1 (BODY.PEEK[HEADER.FIELDS (EMAILID)])\r\n")
        .await;
    assert!(
        section.starts_with("* 1 FETCH (BODY[HEADER.FIELDS (EMAILID)] {2}"),
        "{section}"
    );

    assert!(c.exchange("c1 COPY 1 Trash\r\n").await.contains("c1 OK"));
    assert!(c.exchange("m1 MOVE 2 Trash\r\n").await.contains("m1 OK"));
    assert_eq!(
        c.exchange(&format!("q1 SEARCH EMAILID {second}\r\n")).await,
        "* SEARCH\r\nq1 OK Search completed\r\n",
        "moved away"
    );
    c.exchange("s2 SELECT Trash\r\n").await;
    assert_eq!(
        c.exchange("f5 FETCH 1:2 (UID EMAILID)\r\n").await,
        format!(
            "* 1 FETCH (UID 1 EMAILID ({first}))\r\n* 2 FETCH (UID 2 EMAILID ({second}))\r\n\
             f5 OK Fetch completed\r\n"
        ),
        "the copy and the moved message keep their ids"
    );
    assert_eq!(
        c.exchange(&format!("q2 UID SEARCH EMAILID {second}\r\n"))
            .await,
        "* SEARCH 2\r\nq2 OK Search completed\r\n"
    );
    assert_eq!(
        c.exchange(&format!("q3 SEARCH NOT EMAILID {second}\r\n"))
            .await,
        "* SEARCH 1\r\nq3 OK Search completed\r\n"
    );
    assert_eq!(
        c.exchange(&format!(
            "q4 UID SEARCH RETURN (COUNT) OR EMAILID {first} EMAILID {second}\r\n"
        ))
        .await,
        "* ESEARCH (TAG \"q4\") UID COUNT 2\r\nq4 OK Search completed\r\n"
    );
    assert_eq!(
        c.exchange("q5 SEARCH EMAILID not-one-of-ours\r\n").await,
        "* SEARCH\r\nq5 OK Search completed\r\n"
    );
    // EMAILID as text another key looks for is text.
    assert_eq!(
        c.exchange("q6 SEARCH SUBJECT EMAILID\r\n").await,
        "* SEARCH\r\nq6 OK Search completed\r\n"
    );
    let no_id = c.exchange("q7 SEARCH EMAILID\r\n").await;
    assert!(
        no_id.starts_with("q7 BAD EMAILID takes an object id"),
        "{no_id}"
    );
    let threads = c.exchange("q8 SEARCH THREADID T1\r\n").await;
    assert!(threads.starts_with("q8 BAD THREADID"), "{threads}");
}
