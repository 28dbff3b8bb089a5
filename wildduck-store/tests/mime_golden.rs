//! Compares our MIME analysis with Dovecot's, recorded by `tests/golden/record-dovecot.sh`
//! into `tests/golden/dovecot/` for every fixture of `tests/fixtures/mime`.
//!
//! Dovecot stores and sends messages with CRLF line endings, so each fixture is compared in
//! its CRLF form (bare LF turned into CRLF); for CRLF fixtures that is the file itself.

mod common;

use bytes::Bytes;
use common::{crlf, fixtures, parse_section_spec};
use wildduck_store::mime::{analyze, read_section};
use wildduck_store::{BodyStructure, Envelope, EnvelopeAddress};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/dovecot");
const EXTRA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/extra");

/// The shared fixtures and our own edge cases (`extra-NAME`), as (stem, bytes).
fn messages() -> Vec<(String, Vec<u8>)> {
    let mut all = fixtures();
    let mut extra: Vec<_> = std::fs::read_dir(EXTRA)
        .expect("extra dir")
        .map(|e| {
            let path = e.expect("entry").path();
            let stem = path
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .into_owned();
            (
                format!("extra-{stem}"),
                std::fs::read(&path).expect("extra message"),
            )
        })
        .collect();
    extra.sort();
    all.extend(extra);
    all
}

fn golden(stem: &str, ext: &str) -> Vec<u8> {
    let path = format!("{GOLDEN}/{stem}.{ext}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e} (run record-dovecot.sh)"))
}

/// Every message has golden files.
#[test]
fn goldens_cover_every_fixture() {
    let messages = messages();
    assert!(messages.len() > 8);
    for (stem, _) in &messages {
        golden(stem, "fetch");
        golden(stem, "sections");
    }
}

#[test]
fn sections_equal_dovecot() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for (stem, raw) in messages() {
        let raw = Bytes::from(crlf(&raw));
        let recorded = golden(&stem, "sections");
        for (spec, expected) in parse_sections_file(&recorded) {
            let (section, partial) = parse_section_spec(&spec);
            let ours = read_section(&raw, &section, partial)
                .unwrap_or_else(|e| panic!("{stem} {spec}: {e}"))
                .to_vec();
            if ours != expected {
                failures.push(format!(
                    "{stem} {spec}: ours {} bytes {:?}..., dovecot {} bytes {:?}...",
                    ours.len(),
                    String::from_utf8_lossy(&ours[..ours.len().min(60)]),
                    expected.len(),
                    String::from_utf8_lossy(&expected[..expected.len().min(60)]),
                ));
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} sections differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 1000, "only {checked} sections compared");
}

#[test]
fn envelope_and_bodystructure_equal_dovecot() {
    let mut failures = Vec::new();
    for (stem, raw) in messages() {
        let analysis = analyze(&crlf(&raw));
        let fetch = golden(&stem, "fetch");
        let items = fetch_items(&fetch);
        let envelope = to_envelope(item(&items, "ENVELOPE"));
        let structure = to_body_structure(item(&items, "BODYSTRUCTURE"));
        compare_envelope(&stem, &analysis.envelope, &envelope, &mut failures);
        compare_structure(
            &stem,
            "",
            &analysis.body_structure,
            &structure,
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn compare_envelope(stem: &str, ours: &Envelope, theirs: &Envelope, failures: &mut Vec<String>) {
    macro_rules! same {
        ($($field:ident),*) => {$(
            if ours.$field != theirs.$field {
                failures.push(format!(
                    "{stem} ENVELOPE {}: ours {:?}, dovecot {:?}",
                    stringify!($field), ours.$field, theirs.$field
                ));
            }
        )*};
    }
    same!(
        date,
        subject,
        from,
        sender,
        reply_to,
        to,
        cc,
        bcc,
        in_reply_to,
        message_id
    );
}

/// Field-by-field comparison so a failure names the part and field that differ.
fn compare_structure(
    stem: &str,
    path: &str,
    ours: &BodyStructure,
    theirs: &BodyStructure,
    failures: &mut Vec<String>,
) {
    let mut check = |field: &str, same: bool, a: String, b: String| {
        if !same {
            failures.push(format!(
                "{stem} part [{path}] {field}: ours {a}, dovecot {b}"
            ));
        }
    };
    macro_rules! same {
        ($field:ident) => {
            check(
                stringify!($field),
                ours.$field == theirs.$field,
                format!("{:?}", ours.$field),
                format!("{:?}", theirs.$field),
            )
        };
    }
    // Types keep the case they were written in, as Dovecot sends them; the test parser
    // names multiparts "multipart" whatever the header says.
    let same_type = if theirs.media_type == "multipart" {
        ours.media_type.eq_ignore_ascii_case("multipart")
    } else {
        ours.media_type == theirs.media_type
    };
    check(
        "type",
        same_type && ours.media_subtype == theirs.media_subtype,
        format!("{}/{}", ours.media_type, ours.media_subtype),
        format!("{}/{}", theirs.media_type, theirs.media_subtype),
    );
    same!(params);
    same!(id);
    same!(description);
    // A multipart's encoding and size are not in Dovecot's BODYSTRUCTURE.
    if theirs.media_type != "multipart" {
        same!(encoding);
        same!(size);
    }
    same!(lines);
    same!(md5);
    same!(disposition);
    same!(language);
    same!(location);
    same!(envelope);
    check(
        "part count",
        ours.parts.len() == theirs.parts.len(),
        ours.parts.len().to_string(),
        theirs.parts.len().to_string(),
    );
    for (i, (a, b)) in ours.parts.iter().zip(&theirs.parts).enumerate() {
        let sub = if path.is_empty() {
            format!("{}", i + 1)
        } else {
            format!("{path}.{}", i + 1)
        };
        compare_structure(stem, &sub, a, b, failures);
    }
}

fn parse_sections_file(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let nl = rest.iter().position(|&b| b == b'\n').expect("header line");
        let header = std::str::from_utf8(&rest[..nl]).expect("ascii header");
        let header = header.strip_prefix("SECTION ").expect("SECTION line");
        let (spec, len) = header.rsplit_once(' ').expect("length");
        let len: usize = len.parse().expect("length number");
        let body = &rest[nl + 1..nl + 1 + len];
        out.push((spec.to_string(), body.to_vec()));
        rest = &rest[nl + 1 + len + 1..];
    }
    out
}

/// An IMAP value as Dovecot writes it.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Nil,
    Str(String),
    Atom(String),
    List(Vec<Value>),
}

fn parse_values(data: &[u8], pos: &mut usize) -> Vec<Value> {
    let mut out = Vec::new();
    while *pos < data.len() {
        match data[*pos] {
            b' ' | b'\r' | b'\n' => *pos += 1,
            b')' => {
                *pos += 1;
                return out;
            }
            b'(' => {
                *pos += 1;
                out.push(Value::List(parse_values(data, pos)));
            }
            b'"' => {
                *pos += 1;
                let mut s = Vec::new();
                while data[*pos] != b'"' {
                    if data[*pos] == b'\\' {
                        *pos += 1;
                    }
                    s.push(data[*pos]);
                    *pos += 1;
                }
                *pos += 1;
                out.push(Value::Str(String::from_utf8_lossy(&s).into_owned()));
            }
            b'{' => {
                let close = *pos + data[*pos..].iter().position(|&b| b == b'}').unwrap();
                let n: usize = std::str::from_utf8(&data[*pos + 1..close])
                    .unwrap()
                    .parse()
                    .unwrap();
                let start = close + 3;
                out.push(Value::Str(
                    String::from_utf8_lossy(&data[start..start + n]).into_owned(),
                ));
                *pos = start + n;
            }
            _ => {
                let start = *pos;
                while *pos < data.len() && !b" ()\r\n".contains(&data[*pos]) {
                    *pos += 1;
                }
                let atom = String::from_utf8_lossy(&data[start..*pos]).into_owned();
                out.push(if atom == "NIL" {
                    Value::Nil
                } else {
                    Value::Atom(atom)
                });
            }
        }
    }
    out
}

/// The `name value` pairs inside `* 1 FETCH (...)`.
fn fetch_items(fetch: &[u8]) -> Vec<(String, Value)> {
    let open = fetch.iter().position(|&b| b == b'(').expect("FETCH list");
    let mut pos = open + 1;
    let values = parse_values(fetch, &mut pos);
    values
        .chunks(2)
        .map(|pair| match &pair[0] {
            Value::Atom(name) => (name.clone(), pair[1].clone()),
            other => panic!("item name expected, got {other:?}"),
        })
        .collect()
}

fn item<'a>(items: &'a [(String, Value)], name: &str) -> &'a Value {
    &items.iter().find(|(n, _)| n == name).expect(name).1
}

fn nstring(v: &Value) -> Option<String> {
    match v {
        Value::Nil => None,
        Value::Str(s) | Value::Atom(s) => Some(s.clone()),
        Value::List(_) => panic!("string expected, got list"),
    }
}

fn list(v: &Value) -> &[Value] {
    match v {
        Value::List(l) => l,
        Value::Nil => &[],
        other => panic!("list expected, got {other:?}"),
    }
}

fn to_addresses(v: &Value) -> Vec<EnvelopeAddress> {
    list(v)
        .iter()
        .map(|a| {
            let f = list(a);
            EnvelopeAddress {
                name: nstring(&f[0]),
                adl: nstring(&f[1]),
                mailbox: nstring(&f[2]),
                host: nstring(&f[3]),
            }
        })
        .collect()
}

fn to_envelope(v: &Value) -> Envelope {
    let f = list(v);
    Envelope {
        date: nstring(&f[0]),
        subject: nstring(&f[1]),
        from: to_addresses(&f[2]),
        sender: to_addresses(&f[3]),
        reply_to: to_addresses(&f[4]),
        to: to_addresses(&f[5]),
        cc: to_addresses(&f[6]),
        bcc: to_addresses(&f[7]),
        in_reply_to: nstring(&f[8]),
        message_id: nstring(&f[9]),
    }
}

fn to_params(v: &Value) -> Vec<(String, String)> {
    list(v)
        .chunks(2)
        .map(|p| (nstring(&p[0]).unwrap(), nstring(&p[1]).unwrap()))
        .collect()
}

fn to_disposition(v: &Value) -> Option<(String, Vec<(String, String)>)> {
    match v {
        Value::Nil => None,
        Value::List(l) => Some((nstring(&l[0]).unwrap(), to_params(&l[1]))),
        other => panic!("disposition expected, got {other:?}"),
    }
}

fn to_language(v: &Value) -> Vec<String> {
    match v {
        Value::Nil => Vec::new(),
        Value::List(l) => l.iter().filter_map(nstring).collect(),
        other => vec![nstring(other).unwrap()],
    }
}

fn to_body_structure(v: &Value) -> BodyStructure {
    let f = list(v);
    if matches!(f[0], Value::List(_)) {
        let children: Vec<BodyStructure> = f
            .iter()
            .take_while(|x| matches!(x, Value::List(_)))
            .map(to_body_structure)
            .collect();
        let ext = &f[children.len()..];
        return BodyStructure {
            media_type: "multipart".into(),
            media_subtype: nstring(&ext[0]).unwrap(),
            params: to_params(&ext[1]),
            disposition: to_disposition(&ext[2]),
            language: to_language(&ext[3]),
            location: nstring(&ext[4]),
            encoding: "7bit".into(),
            parts: children,
            ..BodyStructure::default()
        };
    }
    let media_type = nstring(&f[0]).unwrap();
    let media_subtype = nstring(&f[1]).unwrap();
    let mut structure = BodyStructure {
        params: to_params(&f[2]),
        id: nstring(&f[3]),
        description: nstring(&f[4]),
        encoding: nstring(&f[5]).unwrap(),
        size: nstring(&f[6]).unwrap().parse().unwrap(),
        ..BodyStructure::default()
    };
    let mut rest = &f[7..];
    if media_type.eq_ignore_ascii_case("text") {
        structure.lines = Some(nstring(&rest[0]).unwrap().parse().unwrap());
        rest = &rest[1..];
    } else if media_type.eq_ignore_ascii_case("message")
        && media_subtype.eq_ignore_ascii_case("rfc822")
    {
        structure.envelope = Some(Box::new(to_envelope(&rest[0])));
        structure.parts = vec![to_body_structure(&rest[1])];
        structure.lines = Some(nstring(&rest[2]).unwrap().parse().unwrap());
        rest = &rest[3..];
    }
    structure.media_type = media_type;
    structure.media_subtype = media_subtype;
    structure.md5 = nstring(&rest[0]);
    structure.disposition = to_disposition(&rest[1]);
    structure.language = to_language(&rest[2]);
    structure.location = nstring(&rest[3]);
    structure
}
