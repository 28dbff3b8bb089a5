//! Wire parity with Dovecot: every MIME fixture is APPENDed over IMAP and FETCHed back; the
//! ENVELOPE/BODYSTRUCTURE/BODY response line and every section must equal what Dovecot
//! answered (recorded by `wildduck-store/tests/golden/record-dovecot.sh`).

use std::path::PathBuf;

use crate::harness::*;

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Bare LF → CRLF, as Dovecot stores the messages the goldens were recorded from.
fn crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 20);
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// Writes every literal `{n}\r\n<n bytes>` as a quoted string: Dovecot sends subjects it
/// "humanized" (collapsed whitespace) as literals, a form choice that carries no meaning.
fn literals_as_quoted(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'{'
            && let Some(close) = data[i..].iter().position(|&b| b == b'}').map(|p| p + i)
            && let Ok(n) = std::str::from_utf8(&data[i + 1..close])
                .unwrap_or("x")
                .parse::<usize>()
            && data.get(close + 1..close + 3) == Some(b"\r\n")
            && close + 3 + n <= data.len()
        {
            out.push(b'"');
            for &b in &data[close + 3..close + 3 + n] {
                if b == b'"' || b == b'\\' {
                    out.push(b'\\');
                }
                out.push(b);
            }
            out.push(b'"');
            i = close + 3 + n;
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

/// `SECTION <item> <length>\n<bytes>\n` records.
fn sections(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let nl = rest.iter().position(|&b| b == b'\n').expect("header line");
        let header = std::str::from_utf8(&rest[..nl]).expect("ascii header");
        let (spec, len) = header
            .strip_prefix("SECTION ")
            .and_then(|h| h.rsplit_once(' '))
            .expect("SECTION line");
        let len: usize = len.parse().expect("length");
        out.push((spec.to_string(), rest[nl + 1..nl + 1 + len].to_vec()));
        rest = &rest[nl + 2 + len..];
    }
    out
}

#[tokio::test]
async fn fetch_responses_equal_dovecot_for_every_fixture() {
    let fixtures = manifest().join("../tests/fixtures/mime");
    let golden = manifest().join("../wildduck-store/tests/golden/dovecot");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&fixtures)
        .expect("fixtures dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    assert!(!names.is_empty());
    let server = TestServer::start().await;
    let mut c = server.login().await;
    let mut failures = Vec::new();
    let mut compared = 0;
    for (i, path) in names.iter().enumerate() {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("stem")
            .to_string();
        let raw = crlf(&std::fs::read(path).expect("fixture"));
        let mailbox = format!("fixture{i}");
        c.exchange(&format!("c{i} CREATE {mailbox}\r\n")).await;
        c.send(format!("a{i} APPEND {mailbox} {{{}+}}\r\n", raw.len()))
            .await;
        c.send(&raw).await;
        c.send("\r\n").await;
        let appended = c.until_tagged(&format!("a{i}")).await;
        assert!(appended.contains(" OK [APPENDUID"), "{stem}: {appended}");
        c.exchange(&format!("s{i} SELECT {mailbox}\r\n")).await;

        let expected = std::fs::read(golden.join(format!("{stem}.fetch"))).expect("golden fetch");
        let ours = c
            .exchange("f1 FETCH 1 (ENVELOPE BODYSTRUCTURE BODY)\r\n")
            .await;
        let ours = ours
            .strip_suffix("f1 OK Fetch completed\r\n")
            .unwrap_or(&ours);
        if literals_as_quoted(ours.as_bytes()) != literals_as_quoted(&expected) {
            failures.push(format!(
                "{stem} FETCH:\n ours    {ours}\n dovecot {}",
                String::from_utf8_lossy(&expected)
            ));
        }
        compared += 1;

        let recorded =
            std::fs::read(golden.join(format!("{stem}.sections"))).expect("golden sections");
        for (spec, expected) in sections(&recorded) {
            let peek = spec.replacen("BODY[", "BODY.PEEK[", 1);
            c.send(format!("p1 FETCH 1 ({peek})\r\n")).await;
            let head = c.line().await;
            let Some(len) = literal_length(&head) else {
                failures.push(format!("{stem} {spec}: no literal in {head:?}"));
                c.until_tagged("p1").await;
                continue;
            };
            let body = c.bytes(len).await;
            c.until_tagged("p1").await;
            let label = spec
                .split_once('<')
                .map_or(spec.clone(), |(item, _)| item.to_string());
            if !head.starts_with(&format!("* 1 FETCH ({label}")) {
                failures.push(format!("{stem} {spec}: label {head:?}"));
            }
            if body != expected {
                failures.push(format!(
                    "{stem} {spec}: ours {} bytes, dovecot {} bytes",
                    body.len(),
                    expected.len()
                ));
            }
            compared += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(compared > 100, "only {compared} compared");
    server.stop().await;
}
