//! MIME: the splitter, ENVELOPE/BODYSTRUCTURE analysis, the webmail parse, section reads,
//! the storage layout, and the header decoders (addresses, RFC 2047 words, RFC 2231
//! parameters, dates) on generated messages with hostile headers and deep nesting.

use bytes::Bytes;
use proptest::prelude::*;
use wildduck_store::mime::{self, address, header, parsed, text};
use wildduck_store::{Section, SectionText};

use crate::grammar::{text as hostile_text, with_mutations, word};
use crate::harness::Target;

/// Header values where the decoders work hardest.
fn header_value() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        2 => hostile_text(),
        1 => (word(), prop::sample::select(&["q", "b", "Q", "x"][..]), hostile_text())
            .prop_map(|(charset, encoding, data)| {
                let mut v = format!("=?{charset}?{encoding}?").into_bytes();
                v.extend(data);
                v.extend_from_slice(b"?= =?utf-8?b?Y2Fmw6k=?=");
                v
            }),
        1 => Just(b"=?utf-8?q?=C3?= =?iso-8859-1?q?=E9?= =?unknown?b?####?=".to_vec()),
        1 => (word(), word()).prop_map(|(a, b)| format!("\"{a}, {b}\" <{a}@{b}>, group: x@y, (c) z@w;, <@route:r@s>").into_bytes()),
        1 => Just(b"attachment; filename*0*=utf-8''caf%C3; filename*1*=%A9%ZZ; filename*2=\"x\"".to_vec()),
        1 => Just(b"text/plain; charset=\"utf\\-8\"; format=flowed; (comment (nested (deep))) x=".to_vec()),
        1 => Just(b"Mon, 32 Foo 99999 25:61:61 +9999".to_vec()),
        1 => "\\({0,64}".prop_map(String::into_bytes),
    ]
    .boxed()
}

const NAMES: &[&str] = &[
    "From",
    "To",
    "Cc",
    "Bcc",
    "Reply-To",
    "Sender",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "Content-Type",
    "Content-Disposition",
    "Content-Transfer-Encoding",
    "Content-ID",
    "Content-Language",
    "X-Any",
];

fn headers() -> BoxedStrategy<Vec<u8>> {
    prop::collection::vec(
        (prop::sample::select(NAMES), header_value(), any::<bool>()),
        0..8,
    )
    .prop_map(|fields| {
        let mut out = Vec::new();
        for (name, value, folded) in fields {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend(value);
            if folded {
                out.extend_from_slice(b"\r\n\t folded");
            }
            out.extend_from_slice(b"\r\n");
        }
        out
    })
    .boxed()
}

fn body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        hostile_text(),
        Just(b"SGVsbG8g\r\nd29ybGQ=\r\n".to_vec()),
        Just(b"caf=C3=A9=\r\n=ZZ=\r\n".to_vec()),
    ]
    .boxed()
}

/// A message: a leaf, or a multipart / message/rfc822 around messages, nested deep.
fn message() -> BoxedStrategy<Vec<u8>> {
    let leaf = (headers(), body()).prop_map(|(mut h, b)| {
        h.extend_from_slice(b"\r\n");
        h.extend(b);
        h
    });
    leaf.prop_recursive(8, 48, 4, |inner| {
        prop_oneof![
            (word(), headers(), prop::collection::vec(inner.clone(), 0..4), any::<bool>()).prop_map(
                |(boundary, mut h, parts, closed)| {
                    h.extend_from_slice(
                        format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\npreamble\r\n")
                            .as_bytes(),
                    );
                    for part in parts {
                        h.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                        h.extend(part);
                        h.extend_from_slice(b"\r\n");
                    }
                    if closed {
                        h.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
                    }
                    h
                }
            ),
            (headers(), inner).prop_map(|(mut h, m)| {
                h.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
                h.extend(m);
                h
            }),
        ]
    })
    .boxed()
}

/// Deeply nested multiparts, past the splitter's depth limit.
fn deep() -> BoxedStrategy<Vec<u8>> {
    (1usize..400)
        .prop_map(|depth| {
            let mut out = Vec::new();
            for level in 0..depth {
                out.extend_from_slice(
                    format!(
                        "Content-Type: multipart/mixed; boundary=b{level}\r\n\r\n--b{level}\r\n"
                    )
                    .as_bytes(),
                );
            }
            out.extend_from_slice(b"\r\nleaf\r\n");
            out
        })
        .boxed()
}

pub struct Mime;

impl Target for Mime {
    fn name(&self) -> &'static str {
        "mime"
    }

    fn inputs(&self) -> BoxedStrategy<Vec<u8>> {
        prop_oneof![9 => with_mutations(message()), 1 => deep()].boxed()
    }

    fn check(&self, input: &[u8]) -> Result<(), String> {
        let raw = Bytes::copy_from_slice(input);
        let tree = mime::split(&raw);
        mime::analyze_tree(&raw, &tree);
        parsed::parse_message(&raw, &tree);
        // The storage layout must give back every byte.
        let stored = mime::split_for_storage(&raw);
        let again = mime::reassemble(&stored.layout, &stored.leaf_bodies)
            .map_err(|e| format!("reassemble failed: {e}"))?;
        if again != input {
            return Err("the storage layout changed the message's bytes".into());
        }
        for part in [vec![], vec![1], vec![1, 1], vec![2, 1, 3], vec![u32::MAX]] {
            for text in [
                SectionText::Full,
                SectionText::Header,
                SectionText::Text,
                SectionText::HeaderFields(vec!["subject".into(), "".into()]),
            ] {
                let section = Section {
                    part: part.clone(),
                    text,
                };
                let _ = mime::read_section_in(&raw, &tree, &section, None);
            }
        }
        for field in header::HeaderFields::new(&raw[tree.root().header.clone()]) {
            address::parse_address_list(field.value);
            text::decode_header_value(field.value);
            header::parse_content_type(field.value);
            header::parse_disposition(field.value);
        }
        Ok(())
    }
}
