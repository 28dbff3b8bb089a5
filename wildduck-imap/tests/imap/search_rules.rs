//! SEARCH keys whose meaning RFC 3501 §6.4.4 fixes beyond a substring test: SENTBEFORE/
//! SENTON/SENTSINCE take the Date: field's own calendar day (time and zone disregarded), and
//! FROM/TO/CC/BCC the envelope's addresses, where comments inside an address are gone.

use crate::harness::*;

/// A message with a Date: field and nothing else of note.
fn dated(date: &str) -> String {
    format!("Date: {date}\r\nSubject: dated\r\n\r\nbody\r\n")
}

async fn search(c: &mut Client, tag: &str, criteria: &str) -> String {
    let response = c.exchange(&format!("{tag} SEARCH {criteria}\r\n")).await;
    assert!(response.contains(&format!("{tag} OK")), "{response}");
    response.lines().next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn sent_dates_are_the_date_fields_own_calendar_day() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    // 1: the 24th at 23:00 in +0200 is the 24th (21:00 UTC);
    // 2: the 25th at 00:30 in +0200 is the 25th (the 24th, 22:30 UTC);
    // 3: the 25th at 23:00 in -0500 is the 25th (the 26th, 04:00 UTC);
    // 4: no Date: at all, matched by no SENT* key nor by their NOT's opposite.
    let messages = [
        dated("Sat, 24 Mar 2007 23:00:00 +0200"),
        dated("Sun, 25 Mar 2007 00:30:00 +0200"),
        dated("Sun, 25 Mar 2007 23:00:00 -0500"),
        "Subject: undated\r\n\r\nbody\r\n".to_string(),
    ];
    for (n, raw) in messages.iter().enumerate() {
        append(&mut c, &format!("a{n}"), "INBOX", "", raw).await;
    }
    c.exchange("s0 SELECT INBOX\r\n").await;
    let cases = [
        ("SENTON 24-Mar-2007", "* SEARCH 1"),
        ("SENTON 25-Mar-2007", "* SEARCH 2 3"),
        ("SENTON 26-Mar-2007", "* SEARCH"),
        ("SENTBEFORE 25-Mar-2007", "* SEARCH 1"),
        ("SENTBEFORE 26-Mar-2007", "* SEARCH 1 2 3"),
        ("SENTSINCE 25-Mar-2007", "* SEARCH 2 3"),
        ("SENTSINCE 26-Mar-2007", "* SEARCH"),
        ("NOT SENTON 25-Mar-2007", "* SEARCH 1 4"),
        (
            "OR SENTON 24-Mar-2007 SENTSINCE 25-Mar-2007",
            "* SEARCH 1 2 3",
        ),
    ];
    for (n, (criteria, expected)) in cases.iter().enumerate() {
        let found = search(&mut c, &format!("s{}", n + 1), criteria).await;
        assert_eq!(found, *expected, "SEARCH {criteria}");
    }
    server.stop().await;
}

#[tokio::test]
async fn address_keys_search_the_envelope_addresses() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    let messages = [
        "From: <user-from (comment)@ (comment) domain.org>\r\nTo: RealTo <user-to@domain.org>\r\n\r\nb\r\n",
        "From: user-from@domain.org (RealFrom)\r\nCc: list: one@domain.org, two@domain.org;\r\n\r\nb\r\n",
        "From: someone@else.org\r\nBcc: user-from@domain.org\r\n\r\nb\r\n",
    ];
    for (n, raw) in messages.iter().enumerate() {
        append(&mut c, &format!("a{n}"), "INBOX", "", raw).await;
    }
    c.exchange("s0 SELECT INBOX\r\n").await;
    let cases = [
        ("FROM user-from@domain.org", "* SEARCH 1 2"),
        ("FROM ser-from@dom", "* SEARCH 1 2"),
        ("FROM realfrom", "* SEARCH 2"),
        ("TO \"realto <user-to@\"", "* SEARCH 1"),
        ("CC list", "* SEARCH 2"),
        ("CC two@domain.org", "* SEARCH 2"),
        ("BCC user-from@domain.org", "* SEARCH 3"),
        // HEADER stays a plain test of the field's text.
        ("HEADER From user-from@domain.org", "* SEARCH 2"),
        ("NOT FROM user-from@domain.org", "* SEARCH 3"),
    ];
    for (n, (criteria, expected)) in cases.iter().enumerate() {
        let found = search(&mut c, &format!("s{}", n + 1), criteria).await;
        assert_eq!(found, *expected, "SEARCH {criteria}");
    }
    server.stop().await;
}
