//! IMAP: whole sessions against the listener (framing, literals, imap-codec's parser, every
//! command's own argument checks, AUTHENTICATE exchanges), and imap-codec's command decoder
//! alone, fast enough for many more inputs.

use std::sync::Arc;

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use proptest::prelude::*;

use crate::grammar::{join, number, text, with_mutations, word};
use crate::harness::Target;
use crate::servers::{self, IMAP_USER, PASSWORD, Servers, shown};

/// An argument of a command: the IMAP value forms, nested lists included.
fn argument() -> BoxedStrategy<Vec<u8>> {
    let leaf = prop_oneof![
        3 => word().prop_map(String::into_bytes),
        2 => number().prop_map(String::into_bytes),
        2 => sequence_set(),
        2 => text().prop_map(|t| quoted(&t)),
        2 => (text(), any::<bool>(), prop_oneof![3 => Just(None), 1 => number().prop_map(Some)])
            .prop_map(|(data, plus, lie)| literal(&data, plus, lie)),
        1 => Just(b"NIL".to_vec()),
        1 => prop::sample::select(FLAGS).prop_map(|f| f.as_bytes().to_vec()),
        1 => prop::sample::select(FETCH_ITEMS).prop_map(|f| f.as_bytes().to_vec()),
        1 => prop::sample::select(SEARCH_KEYS).prop_map(|f| f.as_bytes().to_vec()),
    ];
    leaf.prop_recursive(4, 24, 6, |inner| {
        prop::collection::vec(inner, 0..6).prop_map(|items| {
            let mut list = b"(".to_vec();
            list.extend(join(&items, b" "));
            list.push(b')');
            list
        })
    })
    .boxed()
}

const FLAGS: &[&str] = &[
    "\\Seen",
    "\\Deleted",
    "\\Flagged",
    "\\Answered",
    "\\Draft",
    "\\Recent",
    "$Forwarded",
    "\\*",
];
const FETCH_ITEMS: &[&str] = &[
    "FLAGS",
    "UID",
    "ENVELOPE",
    "BODYSTRUCTURE",
    "BODY",
    "RFC822.SIZE",
    "INTERNALDATE",
    "MODSEQ",
    "BODY[]",
    "BODY.PEEK[HEADER]",
    "BODY[1]",
    "BODY[1.MIME]",
    "BODY[2]<0.3>",
    "BODY[TEXT]<1.4294967295>",
    "BODY[HEADER.FIELDS (SUBJECT FROM)]",
    "BODY[HEADER.FIELDS.NOT (DATE)]",
    "BODY[1.2.3.4.5.6.7.8.9]",
    "BINARY[2]",
    "BINARY.SIZE[2]",
    "RFC822",
    "RFC822.HEADER",
    "ALL",
    "FULL",
    "FAST",
];
const SEARCH_KEYS: &[&str] = &[
    "ALL",
    "SEEN",
    "UNSEEN",
    "SUBJECT",
    "BODY",
    "TEXT",
    "FROM",
    "HEADER",
    "LARGER",
    "SMALLER",
    "SINCE",
    "BEFORE",
    "ON",
    "1-Jan-2026",
    "32-Foo-99999",
    "OR",
    "NOT",
    "UID",
    "MODSEQ",
    "CHARSET",
    "UTF-8",
    "KEYWORD",
];
const COMMANDS: &[&str] = &[
    "CAPABILITY",
    "NOOP",
    "LOGOUT",
    "LOGIN",
    "AUTHENTICATE",
    "SELECT",
    "EXAMINE",
    "CREATE",
    "DELETE",
    "RENAME",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "LIST",
    "LSUB",
    "STATUS",
    "APPEND",
    "CHECK",
    "CLOSE",
    "UNSELECT",
    "EXPUNGE",
    "SEARCH",
    "FETCH",
    "STORE",
    "COPY",
    "MOVE",
    "UID",
    "ID",
    "ENABLE",
    "NAMESPACE",
    "IDLE",
    "GETQUOTA",
    "GETQUOTAROOT",
    "COMPRESS",
    "STARTTLS",
    "XLIST",
];

fn quoted(text: &[u8]) -> Vec<u8> {
    let mut out = vec![b'"'];
    for &b in text {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
    out
}

/// `{n}` or `{n+}` and the data; `lie` announces another size than is sent.
fn literal(data: &[u8], plus: bool, lie: Option<String>) -> Vec<u8> {
    let size = lie.unwrap_or_else(|| data.len().to_string());
    let mut out = format!("{{{size}{}}}\r\n", if plus { "+" } else { "" }).into_bytes();
    out.extend_from_slice(data);
    out
}

fn sequence_set() -> BoxedStrategy<Vec<u8>> {
    let one = prop_oneof![number(), Just("*".to_string())];
    prop::collection::vec(
        (one.clone(), prop::option::of(one))
            .prop_map(|(a, b)| b.map_or(a.clone(), |b| format!("{a}:{b}"))),
        1..4,
    )
    .prop_map(|parts| parts.join(",").into_bytes())
    .boxed()
}

fn tag() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        8 => "[A-Za-z][0-9]{1,3}".prop_map(String::into_bytes),
        1 => Just(b"*".to_vec()),
        1 => Just(b"+".to_vec()),
        1 => text(),
    ]
    .boxed()
}

/// One command line (literals inline), of the shapes clients send and near them.
fn command() -> BoxedStrategy<Vec<u8>> {
    let generic = (
        tag(),
        prop::sample::select(COMMANDS),
        prop::collection::vec(argument(), 0..5),
    )
        .prop_map(|(tag, name, args)| {
            let mut line = tag;
            line.push(b' ');
            line.extend_from_slice(name.as_bytes());
            for arg in args {
                line.push(b' ');
                line.extend(arg);
            }
            line
        });
    let fetch =
        (tag(), any::<bool>(), sequence_set(), argument()).prop_map(|(tag, uid, set, items)| {
            let mut line = tag;
            line.extend_from_slice(if uid { b" UID FETCH " } else { b" FETCH " });
            line.extend(set);
            line.push(b' ');
            line.extend(items);
            line
        });
    let search = (tag(), prop::collection::vec(argument(), 1..6)).prop_map(|(tag, keys)| {
        let mut line = tag;
        line.extend_from_slice(b" UID SEARCH ");
        line.extend(join(&keys, b" "));
        line
    });
    let store = (
        tag(),
        sequence_set(),
        prop::sample::select(&["FLAGS", "+FLAGS.SILENT", "-FLAGS", "X"][..]),
        argument(),
    )
        .prop_map(|(tag, set, what, flags)| {
            let mut line = tag;
            line.extend_from_slice(b" STORE ");
            line.extend(set);
            line.push(b' ');
            line.extend_from_slice(what.as_bytes());
            line.push(b' ');
            line.extend(flags);
            line
        });
    let append = (tag(), text(), any::<bool>(), prop::option::of(number())).prop_map(
        |(tag, body, plus, lie)| {
            let mut line = tag;
            line.extend_from_slice(b" APPEND INBOX (\\Seen) ");
            let mut message = b"Subject: fuzz\r\n\r\n".to_vec();
            message.extend(body);
            line.extend(literal(&message, plus, lie));
            line
        },
    );
    let authenticate = (tag(), text(), text()).prop_map(|(tag, user, pass)| {
        let mut response = vec![0];
        response.extend(user);
        response.push(0);
        response.extend(pass);
        let mut line = tag;
        line.extend_from_slice(b" AUTHENTICATE PLAIN\r\n");
        line.extend_from_slice(BASE64_STANDARD.encode(response).as_bytes());
        line
    });
    prop_oneof![
        6 => generic,
        2 => fetch,
        2 => search,
        1 => store,
        1 => append,
        1 => authenticate,
    ]
    .boxed()
}

/// A session: usually logged in (and with INBOX selected) first, then a few commands.
fn session() -> BoxedStrategy<Vec<u8>> {
    let opening = prop_oneof![
        1 => Just(Vec::new()),
        1 => Just(format!("a LOGIN {IMAP_USER} {PASSWORD}\r\n").into_bytes()),
        3 => Just(format!("a LOGIN {IMAP_USER} {PASSWORD}\r\nb SELECT INBOX\r\n").into_bytes()),
    ];
    let commands = prop::collection::vec(with_mutations(command()), 1..6);
    (opening, commands)
        .prop_map(|(mut input, commands)| {
            for line in commands {
                input.extend(line);
                input.extend_from_slice(b"\r\n");
            }
            input
        })
        .boxed()
}

pub struct ImapSession(pub Arc<Servers>);

impl Target for ImapSession {
    fn name(&self) -> &'static str {
        "imap-session"
    }

    fn inputs(&self) -> BoxedStrategy<Vec<u8>> {
        session()
    }

    fn check(&self, input: &[u8]) -> Result<(), String> {
        let answer = servers::converse(self.0.imap, input)?;
        check_imap_answer(input, &answer)
    }
}

/// The answer is a greeting and then responses that are each untagged (`*`), a continuation
/// (`+`), or tagged OK/NO/BAD with a tag the client sent; literals are read by their size.
fn check_imap_answer(input: &[u8], answer: &[u8]) -> Result<(), String> {
    let responses = responses(answer)?;
    let greeting = responses.first().ok_or("no greeting")?;
    if !greeting.starts_with(b"* OK") {
        return Err(format!("greeting is {:?}", shown(greeting)));
    }
    let mut after_bye = 0;
    for response in &responses[1..] {
        if after_bye > 0 {
            after_bye += 1;
            if after_bye > 2 {
                return Err(format!(
                    "a response after BYE and its tagged reply: {:?}",
                    shown(response)
                ));
            }
        }
        if response.starts_with(b"* BYE") {
            after_bye = 1;
        }
        if response.starts_with(b"* ") || response.starts_with(b"+") {
            continue;
        }
        let (tag, rest) = split_word(response);
        let status = split_word(rest).0;
        if !matches!(status, b"OK" | b"NO" | b"BAD") {
            return Err(format!("not a tagged OK/NO/BAD: {:?}", shown(response)));
        }
        if tag.is_empty() || !contains(input, tag) {
            return Err(format!("tag the client never sent: {:?}", shown(response)));
        }
        if rest.ends_with(b"OK DEFLATE active") {
            // What follows is compressed: the framing check ends here.
            break;
        }
    }
    Ok(())
}

/// Cuts an answer into responses, each a line with its literals (`{n}\r\n` + n bytes).
/// Stops at `OK DEFLATE active`, after which the bytes are compressed.
fn responses(answer: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut responses = Vec::new();
    let mut start = 0;
    let mut at = 0;
    while at < answer.len() {
        let end = answer[at..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|p| at + p)
            .ok_or_else(|| format!("cut-off response: {:?}", shown(&answer[start..])))?;
        let line = &answer[at..end];
        if let Some(size) = literal_size(line) {
            at = end + 2 + size;
            if at > answer.len() {
                return Err(format!(
                    "literal of {size} cut off: {:?}",
                    shown(&answer[start..])
                ));
            }
            continue;
        }
        if line.iter().any(|&b| b == b'\n' || b == b'\r' || b == 0) {
            return Err(format!("bare CR, LF or NUL in {:?}", shown(line)));
        }
        let response = &answer[start..end];
        responses.push(response);
        at = end + 2;
        start = at;
        if response.ends_with(b"OK DEFLATE active") {
            break;
        }
    }
    Ok(responses)
}

fn literal_size(line: &[u8]) -> Option<usize> {
    let open = line.strip_suffix(b"}")?;
    let brace = open.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&open[brace + 1..]).ok()?.parse().ok()
}

fn split_word(text: &[u8]) -> (&[u8], &[u8]) {
    match text.iter().position(|&b| b == b' ') {
        Some(space) => (&text[..space], &text[space + 1..]),
        None => (text, &[]),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// imap-codec's command decoder on one command, as the session hands it a framed message.
pub struct ImapCodec;

impl Target for ImapCodec {
    fn name(&self) -> &'static str {
        "imap-codec"
    }

    fn inputs(&self) -> BoxedStrategy<Vec<u8>> {
        with_mutations(command())
            .prop_map(|mut line| {
                line.extend_from_slice(b"\r\n");
                line
            })
            .boxed()
    }

    fn check(&self, input: &[u8]) -> Result<(), String> {
        // Any outcome is fine but a panic; a decoded command must not claim more bytes
        // than it was given.
        if let Ok((rest, _)) = CommandCodec::default().decode(input)
            && rest.len() > input.len()
        {
            return Err("decoder returned more bytes than it was given".into());
        }
        Ok(())
    }
}

pub fn targets(servers: &Arc<Servers>) -> Vec<Box<dyn Target>> {
    vec![Box::new(ImapSession(servers.clone())), Box::new(ImapCodec)]
}
