//! Decoded fields of the analysis: header date, search text of headers and bodies.

mod common;

use common::fixtures;
use wildduck_store::mime::analyze;

fn fixture(stem: &str) -> Vec<u8> {
    fixtures()
        .into_iter()
        .find(|(s, _)| s == stem)
        .map(|(_, raw)| raw)
        .expect("fixture")
}

#[test]
fn header_date_is_parsed() {
    // Date: Wed, 23 Dec 2015 09:21:57 +0000
    assert_eq!(analyze(&fixture("simple")).header_date, Some(1_450_862_517));
    // Date: 23 Oct 2003 23:28:34 -0700 (no day name)
    let torture = analyze(&fixture("mime-torture-ryan-finnie"));
    assert_eq!(torture.header_date, Some(1_066_976_914));
    assert_eq!(analyze(b"Subject: no date\r\n\r\n").header_date, None);
    assert_eq!(analyze(b"Date: not a date\r\n\r\n").header_date, None);
}

#[test]
fn search_headers_are_decoded() {
    let analysis = analyze(&fixture("simple"));
    let headers = &analysis.search_headers;
    assert!(
        headers.contains("Subject: Nodemailer is unicode friendly ✔"),
        "{headers}"
    );
    assert!(headers.contains("Sender Name 👻"), "{headers}");
    assert!(headers.contains("Message-Id: <1450862517911-"), "{headers}");
    // Every field is there, one per line.
    assert_eq!(headers.lines().count(), 7, "{headers}");
}

#[test]
fn search_body_decodes_transfer_encodings_and_charsets() {
    let analysis = analyze(&fixture("simple"));
    let body = &analysis.search_body;
    assert!(body.contains("Some notes about this e-mail 🐱"), "{body}"); // quoted-printable UTF-8
    assert!(body.contains("hello"), "{body}");
    assert!(!body.contains("<p>"), "HTML is reduced to text: {body}");
    assert!(!body.contains("iVBORw0KGgo"), "images are not text: {body}");

    let latin1 = b"Content-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: base64\r\n\r\nR3L832Ug4CB0b3Vz\r\n";
    assert!(analyze(latin1).search_body.contains("Grüße à tous"));
}
