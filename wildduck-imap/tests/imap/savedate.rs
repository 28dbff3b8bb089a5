//! SAVEDATE (RFC 8514): FETCH SAVEDATE (NIL for a message stored before save dates were kept)
//! and SEARCH SAVEDBEFORE/SAVEDON/SAVEDSINCE/SAVEDATESUPPORTED, told apart from the internal
//! date.

use crate::harness::*;

/// The quoted date-time after `name ` in a FETCH response.
fn date_after<'a>(text: &'a str, name: &str) -> &'a str {
    let start = text
        .find(&format!("{name} \""))
        .unwrap_or_else(|| panic!("{name} in {text}"))
        + name.len()
        + 2;
    &text[start..start + 26]
}

/// The untagged answer of `SEARCH key`.
async fn search(c: &mut Client, tag: &str, key: &str) -> String {
    let reply = c.exchange(&format!("{tag} SEARCH {key}\r\n")).await;
    reply.lines().next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn save_dates_fetched_and_searched() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    let caps = c.exchange("s0 CAPABILITY\r\n").await;
    assert!(caps.contains(" SAVEDATE "), "{caps}");

    // Internal dates far in the past: the save dates are today.
    for (tag, subject) in [("s1", "first"), ("s2", "second")] {
        let raw = message(subject, "body");
        let appended = append(
            &mut c,
            tag,
            "INBOX",
            "\"01-Jun-2020 12:00:00 +0000\" ",
            &raw,
        )
        .await;
        assert!(appended.contains(&format!("{tag} OK")), "{appended}");
    }
    c.exchange("s3 SELECT INBOX\r\n").await;
    let fetched = c.exchange("s4 FETCH 1 (SAVEDATE INTERNALDATE)\r\n").await;
    assert!(
        fetched.contains("INTERNALDATE \"01-Jun-2020 12:00:00 +0000\""),
        "{fetched}"
    );
    let saved = date_after(&fetched, "SAVEDATE");
    assert!(
        saved.ends_with(" +0000") && !saved.contains("2020"),
        "{fetched}"
    );
    let today = &saved[..11];
    let today = today.trim_start_matches('0');

    // Only the save date asked for: the UID placeholder stays ours.
    let alone = c.exchange("s5 UID FETCH 2 SAVEDATE\r\n").await;
    assert!(alone.starts_with("* 2 FETCH (UID 2 SAVEDATE \""), "{alone}");

    let mut ask = async |tag: &str, key: &str| search(&mut c, tag, key).await;
    assert_eq!(ask("q1", &format!("SAVEDON {today}")).await, "* SEARCH 1 2");
    assert_eq!(
        ask("q2", &format!("SAVEDSINCE {today}")).await,
        "* SEARCH 1 2"
    );
    assert_eq!(ask("q3", &format!("SAVEDBEFORE {today}")).await, "* SEARCH");
    assert_eq!(ask("q4", &format!("ON {today}")).await, "* SEARCH");
    assert_eq!(ask("q5", "SAVEDBEFORE 1-Jan-2021").await, "* SEARCH");
    assert_eq!(ask("q6", "BEFORE 1-Jan-2021").await, "* SEARCH 1 2");
    assert_eq!(ask("q7", "SAVEDATESUPPORTED").await, "* SEARCH 1 2");
    assert_eq!(
        ask("q8", &format!("OR NOT SAVEDON \"{today}\" UID 2")).await,
        "* SEARCH 2"
    );
    let bad = c.exchange("q9 SEARCH SAVEDBEFORE 31-Foo-2020\r\n").await;
    assert!(bad.starts_with("q9 BAD "), "{bad}");

    // A message stored before save dates were kept: NIL, and searched by its internal date.
    let db = rusqlite::Connection::open(server.dir.path().join("store.sqlite")).expect("db");
    db.execute("UPDATE messages SET saved = NULL WHERE uid = 2", [])
        .expect("age the row");
    drop(db);
    assert_eq!(
        c.exchange("s6 FETCH 2 (SAVEDATE)\r\n").await,
        "* 2 FETCH (SAVEDATE NIL)\r\ns6 OK Fetch completed\r\n"
    );
    let mut ask = async |tag: &str, key: &str| search(&mut c, tag, key).await;
    assert_eq!(ask("r1", "SAVEDBEFORE 1-Jan-2021").await, "* SEARCH 2");
    assert_eq!(ask("r2", &format!("SAVEDON {today}")).await, "* SEARCH 1");
    server.stop().await;
}
