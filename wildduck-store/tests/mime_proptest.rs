//! Property test over generated MIME messages: random nesting (multiparts, message/rfc822),
//! encodings (7bit, quoted-printable, base64 with any line length), CRLF, LF or mixed line
//! endings, junk preambles and epilogues, boundaries that are prefixes of each other, missing
//! closing delimiters and headers without a blank line. Every message must pass the same
//! checks as the real corpus (sections equal the reference, exact storage round trip, same
//! tree for any chunking).

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Node {
    Leaf {
        media: &'static str,
        encoding: &'static str,
        data: Vec<u8>,
        line_len: usize,
        blank_after_header: bool,
    },
    Multipart {
        subtype: &'static str,
        preamble: Vec<String>,
        children: Vec<Node>,
        epilogue: Vec<String>,
        closed: bool,
    },
    Message(Box<Node>),
}

fn junk_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,30}",
        Just(String::new()),
        Just("--".to_string()),
        Just("--b".to_string()),
        "--[a-z0-9]{0,6}(--)?",
    ]
}

fn leaf() -> impl Strategy<Value = Node> {
    (
        prop_oneof![
            Just("text/plain"),
            Just("text/html"),
            Just("application/octet-stream"),
            Just("image/png")
        ],
        prop_oneof![Just("7bit"), Just("quoted-printable"), Just("base64")],
        proptest::collection::vec(any::<u8>(), 0..400),
        1usize..90,
        prop::bool::weighted(0.9),
    )
        .prop_map(
            |(media, encoding, data, line_len, blank_after_header)| Node::Leaf {
                media,
                encoding,
                data,
                line_len,
                blank_after_header,
            },
        )
}

fn node() -> impl Strategy<Value = Node> {
    leaf().prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            (
                prop_oneof![Just("mixed"), Just("alternative"), Just("digest")],
                proptest::collection::vec(junk_line(), 0..3),
                proptest::collection::vec(inner.clone(), 0..5),
                proptest::collection::vec(junk_line(), 0..3),
                prop::bool::weighted(0.8),
            )
                .prop_map(|(subtype, preamble, children, epilogue, closed)| {
                    Node::Multipart {
                        subtype,
                        preamble,
                        children,
                        epilogue,
                        closed,
                    }
                }),
            inner.prop_map(|n| Node::Message(Box::new(n))),
        ]
    })
}

/// Writes lines with the chosen line endings: 0 CRLF, 1 LF, otherwise mixed.
struct Writer {
    out: Vec<u8>,
    eol_mode: u8,
    state: u32,
}

impl Writer {
    fn eol(&mut self) {
        let crlf = match self.eol_mode {
            0 => true,
            1 => false,
            _ => {
                self.state = self.state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                self.state & 0x100 != 0
            }
        };
        self.out
            .extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
    }

    fn line(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
        self.eol();
    }
}

/// Renders a node; `boundary` names its boundary (children extend it, so boundaries are
/// prefixes of each other, as the MIME rules must cope with).
fn render(node: &Node, w: &mut Writer, boundary: &str, top: bool) {
    if top {
        w.line("From: Someone <someone@example.com>");
        w.line("Subject: generated =?UTF-8?Q?caf=C3=A9?=");
        w.line("MIME-Version: 1.0");
    }
    match node {
        Node::Leaf {
            media,
            encoding,
            data,
            line_len,
            blank_after_header,
        } => {
            w.line(&format!("Content-Type: {media}; charset=utf-8"));
            w.line(&format!("Content-Transfer-Encoding: {encoding}"));
            if *blank_after_header {
                w.eol();
            }
            match *encoding {
                "base64" => {
                    let chars = STANDARD.encode(data);
                    for chunk in chars.as_bytes().chunks(*line_len) {
                        w.line(std::str::from_utf8(chunk).unwrap_or(""));
                    }
                }
                _ => {
                    let text: String = data
                        .iter()
                        .map(|&b| {
                            if b.is_ascii_graphic() || b == b' ' {
                                b as char
                            } else {
                                '.'
                            }
                        })
                        .collect();
                    for chunk in text.as_bytes().chunks(*line_len) {
                        w.line(std::str::from_utf8(chunk).unwrap_or(""));
                    }
                }
            }
        }
        Node::Multipart {
            subtype,
            preamble,
            children,
            epilogue,
            closed,
        } => {
            w.line(&format!("Content-Type: multipart/{subtype};"));
            w.line(&format!(" boundary=\"{boundary}\""));
            w.eol();
            for line in preamble {
                w.line(line);
            }
            for (i, child) in children.iter().enumerate() {
                w.line(&format!("--{boundary}"));
                render(child, w, &format!("{boundary}{i}"), false);
            }
            if *closed {
                w.line(&format!("--{boundary}--"));
            }
            for line in epilogue {
                w.line(line);
            }
        }
        Node::Message(inner) => {
            w.line("Content-Type: message/rfc822");
            w.eol();
            w.line("Subject: nested");
            w.line("MIME-Version: 1.0");
            render(inner, w, &format!("{boundary}m"), false);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn generated_messages_are_byte_exact(node in node(), eol_mode in 0u8..3, seed: u32) {
        let mut writer = Writer { out: Vec::new(), eol_mode, state: seed };
        render(&node, &mut writer, "b", true);
        common::check_message("generated", &writer.out);
    }
}
