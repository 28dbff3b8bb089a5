//! ESEARCH (RFC 4731), SEARCHRES (RFC 5182), SORT with DISPLAY keys (RFC 5256, 5957), ESORT
//! (RFC 5267) and THREAD (RFC 5256): raw commands, raw answers.

use crate::harness::*;

/// A message with the header fields SORT and THREAD read.
fn mail(from: &str, subject: &str, date: &str, ids: &str) -> String {
    format!(
        "From: {from}\r\nTo: list@example.org\r\nSubject: {subject}\r\nDate: {date}\r\n{ids}\r\nbody of {subject}\r\n"
    )
}

/// Five messages: a thread of three (1 ← 2 ← 3, with 3's References), and two on their own.
async fn fill(c: &mut Client) {
    let messages = [
        mail(
            "Zoe <zoe@example.com>",
            "Plans",
            "Mon, 02 Jan 2023 10:00:00 +0000",
            "Message-ID: <p1@x>\r\n",
        ),
        mail(
            "adam@example.com",
            "Re: Plans",
            "Mon, 02 Jan 2023 12:00:00 +0000",
            "Message-ID: <p2@x>\r\nIn-Reply-To: <p1@x>\r\n",
        ),
        mail(
            "=?utf-8?q?B=C3=A9a?= <bea@example.com>",
            "Re: Re: plans",
            "Mon, 02 Jan 2023 13:00:00 +0000",
            "Message-ID: <p3@x>\r\nReferences: <p1@x> <p2@x>\r\n",
        ),
        mail(
            "carl@example.com",
            "[team] Budget",
            "Mon, 02 Jan 2023 09:00:00 +0000",
            "Message-ID: <b1@x>\r\n",
        ),
        mail(
            "dora@example.com",
            "Agenda",
            "Mon, 02 Jan 2023 11:00:00 +0000",
            "Message-ID: <a1@x>\r\n",
        ),
    ];
    for (i, raw) in messages.iter().enumerate() {
        let reply = append(c, &format!("ap{i}"), "INBOX", "", raw).await;
        assert!(reply.contains(" OK "), "{reply}");
    }
    let select = c.exchange("sel SELECT INBOX\r\n").await;
    assert!(select.contains("* 5 EXISTS"), "{select}");
}

#[tokio::test]
async fn capabilities_name_the_extensions() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    let caps = c.exchange("c1 CAPABILITY\r\n").await;
    for cap in [
        " ESEARCH",
        " SEARCHRES",
        " SORT ",
        " SORT=DISPLAY",
        " ESORT",
        " THREAD=ORDEREDSUBJECT",
        " THREAD=REFERENCES",
    ] {
        assert!(caps.contains(cap), "{cap} missing: {caps}");
    }
}

#[tokio::test]
async fn esearch_answers_min_max_all_count() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    fill(&mut c).await;
    c.exchange("st STORE 2,4:5 +FLAGS (\\Seen)\r\n").await;
    assert_eq!(
        c.exchange("e1 SEARCH RETURN (MIN MAX COUNT ALL) SEEN\r\n")
            .await,
        "* ESEARCH (TAG \"e1\") MIN 2 MAX 5 ALL 2,4:5 COUNT 3\r\ne1 OK Search completed\r\n"
    );
    assert_eq!(
        c.exchange("e2 UID SEARCH RETURN () UNSEEN\r\n").await,
        "* ESEARCH (TAG \"e2\") UID ALL 1,3\r\ne2 OK Search completed\r\n"
    );
    // Nothing found: only COUNT has something to say.
    assert_eq!(
        c.exchange("e3 SEARCH RETURN (MIN COUNT) DRAFT\r\n").await,
        "* ESEARCH (TAG \"e3\") COUNT 0\r\ne3 OK Search completed\r\n"
    );
    let bad = c.exchange("e4 SEARCH RETURN (PARTIAL 1:2) ALL\r\n").await;
    assert!(bad.starts_with("e4 BAD "), "{bad}");
    // Plain SEARCH is unchanged.
    assert_eq!(
        c.exchange("e5 SEARCH SEEN\r\n").await,
        "* SEARCH 2 4 5\r\ne5 OK Search completed\r\n"
    );
}

#[tokio::test]
async fn searchres_saves_a_result_for_later_commands() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    fill(&mut c).await;
    // SAVE alone answers nothing but the tagged OK.
    assert_eq!(
        c.exchange("s1 SEARCH RETURN (SAVE) OR FROM adam OR FROM carl FROM dora\r\n")
            .await,
        "s1 OK Search completed\r\n"
    );
    assert_eq!(
        c.exchange("s2 FETCH $ (UID)\r\n").await,
        "* 2 FETCH (UID 2)\r\n* 4 FETCH (UID 4)\r\n* 5 FETCH (UID 5)\r\ns2 OK Fetch completed\r\n"
    );
    let stored = c
        .exchange("s3 UID STORE $ +FLAGS.SILENT (\\Flagged)\r\n")
        .await;
    assert!(stored.ends_with("s3 OK Store completed\r\n"), "{stored}");
    assert_eq!(
        c.exchange("s4 SEARCH FLAGGED NOT $\r\n").await,
        "* SEARCH\r\ns4 OK Search completed\r\n"
    );
    assert_eq!(
        c.exchange("s5 SEARCH OR $ 1\r\n").await,
        "* SEARCH 1 2 4 5\r\ns5 OK Search completed\r\n"
    );
    // MIN and MAX alone save only those two.
    assert_eq!(
        c.exchange("s6 UID SEARCH RETURN (SAVE MIN MAX) FLAGGED\r\n")
            .await,
        "* ESEARCH (TAG \"s6\") UID MIN 2 MAX 5\r\ns6 OK Search completed\r\n"
    );
    assert_eq!(
        c.exchange("s7 UID SEARCH $\r\n").await,
        "* SEARCH 2 5\r\ns7 OK Search completed\r\n"
    );
    // An expunged message leaves the saved result.
    c.exchange("s8 STORE 1:2 +FLAGS.SILENT (\\Deleted)\r\n")
        .await;
    let expunged = c.exchange("s9 EXPUNGE\r\n").await;
    assert_eq!(expunged.matches(" EXPUNGE\r\n").count(), 2, "{expunged}");
    assert_eq!(
        c.exchange("s10 UID SEARCH $\r\n").await,
        "* SEARCH 5\r\ns10 OK Search completed\r\n"
    );
    let copied = c.exchange("s11 UID COPY $ Trash\r\n").await;
    assert!(copied.contains("[COPYUID "), "{copied}");
    // A new SELECT starts with an empty result: `$` acts on nothing.
    c.exchange("s12 SELECT INBOX\r\n").await;
    assert_eq!(
        c.exchange("s13 FETCH $ (UID)\r\n").await,
        "s13 OK Done (no saved message is left)\r\n"
    );
    assert_eq!(
        c.exchange("s14 SEARCH $\r\n").await,
        "* SEARCH\r\ns14 OK Search completed\r\n"
    );
}

#[tokio::test]
async fn sort_orders_by_each_key() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    fill(&mut c).await;
    let sort = |answer: &str, tag: &str| format!("* SORT {answer}\r\n{tag} OK Sort completed\r\n");
    assert_eq!(
        c.exchange("o1 SORT (DATE) UTF-8 ALL\r\n").await,
        sort("4 1 5 2 3", "o1")
    );
    assert_eq!(
        c.exchange("o2 SORT (REVERSE DATE) UTF-8 ALL\r\n").await,
        sort("3 2 5 1 4", "o2")
    );
    assert_eq!(
        c.exchange("o3 SORT (ARRIVAL) US-ASCII ALL\r\n").await,
        sort("1 2 3 4 5", "o3")
    );
    // Base subjects: Agenda, Budget, Plans ×3 (then arrival order).
    assert_eq!(
        c.exchange("o4 SORT (SUBJECT) UTF-8 ALL\r\n").await,
        sort("5 4 1 2 3", "o4")
    );
    assert_eq!(
        c.exchange("o5 SORT (FROM) UTF-8 ALL\r\n").await,
        sort("2 3 4 5 1", "o5")
    );
    // DISPLAYFROM: adam@…, Béa, carl@…, dora@…, Zoe.
    assert_eq!(
        c.exchange("o6 SORT (DISPLAYFROM) UTF-8 ALL\r\n").await,
        sort("2 3 4 5 1", "o6")
    );
    assert_eq!(
        c.exchange("o7 UID SORT (SUBJECT REVERSE DATE) UTF-8 NOT FROM dora\r\n")
            .await,
        sort("4 3 2 1", "o7")
    );
    assert_eq!(
        c.exchange("o8 SORT RETURN (MIN MAX COUNT ALL) (REVERSE DATE) UTF-8 ALL\r\n")
            .await,
        "* ESEARCH (TAG \"o8\") MIN 3 MAX 4 ALL 3,2,5,1,4 COUNT 5\r\no8 OK Sort completed\r\n"
    );
    let charset = c.exchange("o9 SORT (DATE) KOI8-R ALL\r\n").await;
    assert!(charset.starts_with("o9 NO [BADCHARSET"), "{charset}");
}

#[tokio::test]
async fn thread_by_references_and_by_subject() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    fill(&mut c).await;
    assert_eq!(
        c.exchange("t1 THREAD REFERENCES UTF-8 ALL\r\n").await,
        "* THREAD (4)(1 2 3)(5)\r\nt1 OK Thread completed\r\n"
    );
    assert_eq!(
        c.exchange("t2 THREAD ORDEREDSUBJECT UTF-8 ALL\r\n").await,
        "* THREAD (4)(1 (2)(3))(5)\r\nt2 OK Thread completed\r\n"
    );
    assert_eq!(
        c.exchange("t3 UID THREAD REFERENCES UTF-8 NOT 2\r\n").await,
        "* THREAD (4)(1 3)(5)\r\nt3 OK Thread completed\r\n"
    );
    assert_eq!(
        c.exchange("t4 THREAD REFERENCES UTF-8 DRAFT\r\n").await,
        "* THREAD\r\nt4 OK Thread completed\r\n"
    );
    let unknown = c.exchange("t5 THREAD SPAGHETTI UTF-8 ALL\r\n").await;
    assert!(unknown.starts_with("t5 BAD "), "{unknown}");
}
