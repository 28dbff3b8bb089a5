//! A message as a webmail reads it (WildDuck's "parsed" message): decoded addresses and
//! subject, the text and HTML bodies, and the attachment list with WildDuck's `ATT00001` ids.
//!
//! The walk over the part tree follows WildDuck's indexer (`getMaildata`): a `text/plain` or
//! `text/html` leaf without an `attachment` disposition is body text (inside a
//! `multipart/alternative` each kind is kept as is; outside one, plain text also gives HTML
//! and HTML also gives text); every other leaf with a body is an attachment, numbered in tree
//! order. Bodies are decoded from their transfer encoding and charset by [`super::text`].

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::decoders::html::html_to_text;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::parsers::MessageStream;
use mail_parser::{Addr, Address, DateTime, HeaderValue};
use sha2::{Digest, Sha256};

use super::header::{
    ContentType, HeaderFields, Lexer, lossy, parse_content_type, parse_disposition, trim, unfold,
};
use super::split::{PartKind, PartTree};
use super::text::{decode_header_value, decode_text_part, header_date};
use crate::model::Timestamp;

/// WildDuck's intro: at most this many characters of the text, cut at a word.
const INTRO_CHARS: usize = 128;
/// WildDuck reads the intro from this much of the text.
const INTRO_SOURCE_CHARS: usize = 2 * 1024;

/// One address of an address header: the display name decoded, the domain in Unicode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailAddress {
    pub name: String,
    pub address: String,
}

/// One attachment as WildDuck lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// `ATT00001`, `ATT00002`, … in tree order.
    pub id: String,
    /// Hex SHA-256 of the body as stored (still transfer-encoded), WildDuck's attachment id.
    pub hash: String,
    /// Base64 SHA-256 of the decoded content (WildDuck's `fileContentHash`).
    pub file_content_hash: String,
    pub filename: String,
    /// Lower-case `type/subtype`.
    pub content_type: String,
    /// Lower-case disposition (`attachment`, `inline`), None when the part has none.
    pub disposition: Option<String>,
    /// Lower-case transfer encoding, `7bit` when the part names none.
    pub transfer_encoding: String,
    /// The Content-ID with its angle brackets, None when the part has none.
    pub cid: Option<String>,
    /// Inside a `multipart/related` (usually an embedded image).
    pub related: bool,
    /// Size of the body as stored (still transfer-encoded), in bytes, as WildDuck counts it.
    pub size: u64,
    /// Decoded size in bytes.
    pub decoded_size: u64,
    /// Index of the part in the message's [`PartTree`].
    pub part: usize,
}

impl Attachment {
    /// WildDuck's `sizeKb`: the decoded size in kilobytes, rounded up.
    pub fn size_kb(&self) -> u64 {
        self.decoded_size.div_ceil(1024)
    }
}

/// The top-level Content-Type: `type/subtype` and its parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageContentType {
    pub value: String,
    pub params: Vec<(String, String)>,
}

/// A message read for display.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedMessage {
    /// From: (Sender: when there is no From:).
    pub from: Vec<MailAddress>,
    pub reply_to: Vec<MailAddress>,
    pub to: Vec<MailAddress>,
    pub cc: Vec<MailAddress>,
    pub bcc: Vec<MailAddress>,
    pub subject: String,
    /// The Message-ID header as written (with its angle brackets), trimmed.
    pub message_id: String,
    pub date: Option<Timestamp>,
    /// Message ids of the References header.
    pub references: Vec<String>,
    pub content_type: MessageContentType,
    /// The List-ID and List-Unsubscribe headers, decoded.
    pub list_id: Option<String>,
    pub list_unsubscribe: Option<String>,
    /// One entry per HTML body (or plain text body turned into HTML).
    pub html: Vec<String>,
    /// The plain text bodies (or HTML bodies turned into text), joined by line feeds.
    pub text: String,
    pub attachments: Vec<Attachment>,
}

impl ParsedMessage {
    /// WildDuck's listing intro: from the HTML when there is some, else from the text.
    pub fn intro(&self) -> String {
        if self.html.is_empty() {
            intro(&self.text)
        } else {
            intro(&html_to_text(&self.html.concat()))
        }
    }
}

/// Reads a message for display from its bytes and part tree.
pub fn parse_message(raw: &[u8], tree: &PartTree) -> ParsedMessage {
    let header = &raw[tree.root().header.clone()];
    let field = |name: &str| header_field(header, name);
    let addresses = |name: &str| field(name).map(parse_addresses).unwrap_or_default();
    let mut from = addresses("from");
    if from.is_empty() {
        from = addresses("sender");
    }
    let content_type = field("content-type").map(parse_content_type);
    let mut bodies = Bodies::default();
    walk(raw, tree, 0, false, false, &mut bodies);
    let (html, text) = {
        let cid_links = bodies.cid_links();
        let html = bodies
            .html
            .iter()
            .filter(|html| !html.trim().is_empty())
            .map(|html| cid_links(html))
            .collect();
        let text = bodies
            .text
            .iter()
            .filter(|text| !text.trim().is_empty())
            .map(|text| cid_links(text))
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_string();
        (html, text)
    };
    ParsedMessage {
        reply_to: addresses("reply-to"),
        to: addresses("to"),
        cc: addresses("cc"),
        bcc: addresses("bcc"),
        from,
        subject: field("subject")
            .map(|v| decode_header_value(v).trim().to_string())
            .unwrap_or_default(),
        message_id: field("message-id")
            .map(|v| lossy(trim(&unfold(v))))
            .unwrap_or_default(),
        date: header_date(header),
        references: field("references")
            .map(|v| {
                lossy(&unfold(v))
                    .split_whitespace()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        content_type: MessageContentType {
            value: content_type.as_ref().map_or_else(
                || "text/plain".to_string(),
                |ct| format!("{}/{}", ct.media_type, ct.media_subtype).to_ascii_lowercase(),
            ),
            params: content_type.map(|ct| ct.params).unwrap_or_default(),
        },
        list_id: field("list-id").map(|v| decode_header_value(v).trim().to_string()),
        list_unsubscribe: field("list-unsubscribe")
            .map(|v| decode_header_value(v).trim().to_string()),
        html,
        text,
        attachments: bodies.attachments,
    }
}

/// The attachment `id` as listed and its decoded content (None when the message has no
/// such attachment).
pub fn attachment_content(raw: &[u8], tree: &PartTree, id: &str) -> Option<(Attachment, Vec<u8>)> {
    let parsed = parse_message(raw, tree);
    let attachment = parsed.attachments.into_iter().find(|a| a.id == id)?;
    let node = &tree.parts[attachment.part];
    let content = decode_transfer(&attachment.transfer_encoding, &raw[node.body.clone()]);
    Some((attachment, content))
}

/// What the walk collects.
#[derive(Default)]
struct Bodies {
    html: Vec<String>,
    text: Vec<String>,
    attachments: Vec<Attachment>,
}

impl Bodies {
    /// Rewrites `cid:…` links to attachments of this message as `attachment:ATT00001`
    /// (WildDuck's form; the API turns them into URLs on request).
    fn cid_links(&self) -> impl Fn(&str) -> String + '_ {
        move |body: &str| {
            let mut out = String::with_capacity(body.len());
            let mut rest = body;
            while let Some(at) = rest.find("cid:") {
                out.push_str(&rest[..at]);
                let after = &rest[at + 4..];
                let end = after
                    .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
                    .unwrap_or(after.len());
                let cid = &after[..end];
                let target = self
                    .attachments
                    .iter()
                    .find(|a| a.cid.as_deref().is_some_and(|c| c[1..c.len() - 1] == *cid));
                match target {
                    Some(attachment) if !cid.is_empty() => {
                        out.push_str("attachment:");
                        out.push_str(&attachment.id);
                    }
                    _ => out.push_str(&rest[at..at + 4 + end]),
                }
                rest = &after[end..];
            }
            out.push_str(rest);
            out
        }
    }
}

fn walk(
    raw: &[u8],
    tree: &PartTree,
    index: usize,
    alternative: bool,
    related: bool,
    out: &mut Bodies,
) {
    let node = &tree.parts[index];
    let alternative =
        alternative || (node.media_type == "multipart" && node.media_subtype == "alternative");
    let related = related || (node.media_type == "multipart" && node.media_subtype == "related");
    match &node.kind {
        PartKind::Multipart { children, .. } => {
            for &child in children {
                walk(raw, tree, child, alternative, related, out);
            }
            return;
        }
        PartKind::Message { child } => {
            walk(raw, tree, *child, alternative, related, out);
            return;
        }
        PartKind::Leaf => {}
    }
    let header = &raw[node.header.clone()];
    let body = &raw[node.body.clone()];
    let disposition = header_field(header, "content-disposition").map(parse_disposition);
    let disposition_name = disposition
        .as_ref()
        .map(|d| d.media_type.to_ascii_lowercase())
        .filter(|d| !d.is_empty());
    let content_type = format!("{}/{}", node.media_type, node.media_subtype);
    let inline_text = matches!(content_type.as_str(), "text/plain" | "text/html")
        && disposition_name.as_deref().is_none_or(|d| d == "inline");
    if body.is_empty() {
        return;
    }
    if inline_text {
        let content = decode_text_part(header, body);
        if node.media_subtype == "html" {
            if !alternative {
                out.text.push(html_to_text(&content).trim().to_string());
            }
            out.html.push(content.trim().to_string());
        } else {
            if !alternative {
                out.html.push(text_to_html(&content));
            }
            out.text.push(content.trim().to_string());
        }
        return;
    }
    let transfer_encoding = header_field(header, "content-transfer-encoding")
        .map(|v| {
            let mut lexer = Lexer::new(v);
            lexer.skip_cfws();
            lexer.token().to_ascii_lowercase()
        })
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "7bit".to_string());
    let content = decode_transfer(&transfer_encoding, body);
    let type_params = header_field(header, "content-type").map(parse_content_type);
    let id = format!("ATT{:05}", out.attachments.len() + 1);
    // The body as WildDuck measures and hashes it: without the line break that ends it,
    // which belongs to the next boundary (RFC 2046 §5.1.1).
    let stored = body
        .strip_suffix(b"\r\n")
        .or_else(|| body.strip_suffix(b"\n"))
        .unwrap_or(body);
    let filename = disposition
        .as_ref()
        .and_then(|d| param(d, "filename"))
        .or_else(|| type_params.as_ref().and_then(|ct| param(ct, "name")))
        .unwrap_or_else(|| format!("{}.{}", id.to_ascii_lowercase(), extension(&content_type)));
    let cid = header_field(header, "content-id")
        .map(|v| lossy(&unfold(v)).replace(['<', '>'], "").trim().to_string())
        .filter(|cid| !cid.is_empty())
        .map(|cid| format!("<{cid}>"));
    out.attachments.push(Attachment {
        id,
        hash: Sha256::digest(stored)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        file_content_hash: BASE64_STANDARD.encode(Sha256::digest(&content)),
        filename,
        content_type,
        disposition: disposition_name,
        transfer_encoding,
        cid,
        related,
        size: stored.len() as u64,
        decoded_size: content.len() as u64,
        part: index,
    });
}

/// The first field `name` of a header block (value with its folding).
fn header_field<'a>(header: &'a [u8], name: &str) -> Option<&'a [u8]> {
    HeaderFields::new(header)
        .find(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
        .map(|f| f.value)
}

/// A body decoded from its transfer encoding; undecodable bodies are given as stored.
fn decode_transfer(encoding: &str, body: &[u8]) -> Vec<u8> {
    let decoded = match encoding {
        "base64" => base64_decode(body),
        "quoted-printable" => quoted_printable_decode(body),
        _ => None,
    };
    decoded.unwrap_or_else(|| body.to_vec())
}

/// A parameter decoded: RFC 2231 (`name*=utf-8''caf%C3%A9`, the splitter already joined the
/// continuations) or RFC 2047 words in a plain value.
fn param(params: &ContentType, name: &str) -> Option<String> {
    let mut plain = None;
    for (key, value) in &params.params {
        if key
            .strip_suffix('*')
            .is_some_and(|k| k.eq_ignore_ascii_case(name))
        {
            return Some(decode_rfc2231(value));
        }
        if key.eq_ignore_ascii_case(name) && plain.is_none() {
            plain = Some(decode_header_value(value.as_bytes()).trim().to_string());
        }
    }
    plain.filter(|v| !v.is_empty())
}

/// `charset'language'percent-encoded` → text (UTF-8 when the charset is unknown).
fn decode_rfc2231(value: &str) -> String {
    let mut pieces = value.splitn(3, '\'');
    let (charset, encoded) = match (pieces.next(), pieces.next(), pieces.next()) {
        (Some(charset), Some(_language), Some(encoded)) => (charset, encoded),
        _ => ("", value),
    };
    let bytes = percent_decode(encoded.as_bytes());
    match charset_decoder(charset.as_bytes()).filter(|_| !charset.is_empty()) {
        Some(decode) => decode(&bytes),
        None => lossy(&bytes),
    }
}

/// `%XX` escapes as the bytes they stand for; a `%` not followed by two hex digits stays.
pub(super) fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// A file extension for an unnamed attachment, from its media type.
pub(crate) fn extension(content_type: &str) -> &str {
    match content_type {
        "text/plain" => "txt",
        "text/html" => "html",
        "message/rfc822" => "eml",
        "message/delivery-status" | "text/rfc822-headers" => "txt",
        "application/octet-stream" => "bin",
        "image/jpeg" => "jpg",
        "image/svg+xml" => "svg",
        "application/pgp-encrypted" | "application/pgp-signature" => "asc",
        other => match other.split_once('/') {
            Some((_, sub)) if !sub.is_empty() && sub.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                sub
            }
            _ => "bin",
        },
    }
}

/// An address header: groups flattened, names RFC 2047-decoded, punycode domains in Unicode.
fn parse_addresses(value: &[u8]) -> Vec<MailAddress> {
    let mut owned = value.to_vec();
    if !owned.ends_with(b"\n") {
        owned.push(b'\n');
    }
    let one = |addr: &Addr<'_>| MailAddress {
        name: addr.name.as_deref().unwrap_or_default().trim().to_string(),
        address: unicode_domain(addr.address.as_deref().unwrap_or_default().trim()),
    };
    match MessageStream::new(&owned).parse_address() {
        HeaderValue::Address(Address::List(list)) => list.iter().map(one).collect(),
        HeaderValue::Address(Address::Group(groups)) => groups
            .iter()
            .flat_map(|group| group.addresses.iter().map(one))
            .collect(),
        _ => Vec::new(),
    }
}

/// `user@xn--caf-dma.example` → `user@café.example`; other addresses unchanged.
fn unicode_domain(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) if domain.to_ascii_lowercase().contains("xn--") => {
            let (unicode, result) = idna::domain_to_unicode(domain);
            if result.is_ok() {
                format!("{local}@{unicode}")
            } else {
                address.to_string()
            }
        }
        _ => address.to_string(),
    }
}

/// A timestamp as JavaScript's `toISOString` writes it (`2024-05-01T12:00:00.000Z`).
pub fn iso_date(ts: Timestamp) -> String {
    let d = DateTime::from_timestamp(ts);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
        d.year, d.month, d.day, d.hour, d.minute, d.second
    )
}

/// A timestamp as a Date: header value (`Wed, 01 May 2024 12:00:00 +0000`).
pub fn rfc822_date(ts: Timestamp) -> String {
    DateTime::from_timestamp(ts).to_rfc822()
}

/// An RFC 3339 / ISO 8601 date-time (what JavaScript's `Date` reads) as a timestamp.
pub fn parse_iso_date(text: &str) -> Option<Timestamp> {
    let date = DateTime::parse_rfc3339(text.trim())?;
    date.is_valid().then(|| date.to_timestamp())
}

/// WildDuck's `textToHtml`: HTML-escaped, paragraphs at blank lines, `<br/>` at single line
/// breaks.
fn text_to_html(text: &str) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace("\r\n", "\n");
    let lines: Vec<&str> = escaped.trim().lines().map(str::trim_end).collect();
    let joined = lines.join("\n");
    let mut html = String::from("<p>");
    for (i, paragraph) in joined
        .split("\n\n")
        .map(|p| p.trim_matches('\n'))
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        if i > 0 {
            html.push_str("</p><p>");
        }
        html.push_str(&paragraph.replace('\n', "<br/>"));
    }
    html.push_str("</p>");
    html
}

/// WildDuck's `createIntro`: the first words of the text, without quoted lines, lines of one
/// repeated character and markdown link texts, cut at a word near 128 characters.
pub fn intro(text: &str) -> String {
    let source: String = text.chars().take(INTRO_SOURCE_CHARS).collect();
    let mut kept = String::with_capacity(source.len());
    for line in source.lines() {
        let trimmed = line.trim();
        let mut chars = trimmed.chars();
        let repeated = chars
            .next()
            .is_some_and(|first| trimmed.chars().count() > 1 && chars.all(|c| c == first));
        if line.starts_with('>') || repeated {
            continue;
        }
        kept.push_str(&strip_bracketed(line));
        kept.push(' ');
    }
    let words: Vec<&str> = kept.split_whitespace().collect();
    let joined = words.join(" ");
    if joined.chars().count() <= INTRO_CHARS {
        return joined;
    }
    let cut: String = joined.chars().take(INTRO_CHARS).collect();
    let cut = match cut.rfind(' ') {
        Some(space) if space > 0 => &cut[..space],
        _ => &cut,
    };
    format!("{cut}…")
}

/// Replaces every `[…]` with a space.
fn strip_bracketed(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(open) = rest.find('[') {
        match rest[open..].find(']') {
            Some(close) => {
                out.push_str(&rest[..open]);
                out.push(' ');
                rest = &rest[open + close + 1..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::split;

    fn parse(raw: &str) -> ParsedMessage {
        parse_message(raw.as_bytes(), &split(raw.as_bytes()))
    }

    #[test]
    fn addresses_and_subject_are_decoded() {
        let parsed = parse(
            "From: =?utf-8?q?J=C3=BCrgen?= <j@xn--caf-dma.example>\r\n\
             To: a@example.com, \"B, C\" <b@example.com>\r\n\
             Subject: =?utf-8?b?w6TDtsO8?=\r\n\
             Message-ID: <id@example>\r\n\
             References: <a@x>\r\n <b@x>\r\n\r\nbody\r\n",
        );
        assert_eq!(
            parsed.from,
            [MailAddress {
                name: "Jürgen".into(),
                address: "j@café.example".into()
            }]
        );
        assert_eq!(parsed.to.len(), 2);
        assert_eq!(parsed.to[1].name, "B, C");
        assert_eq!(parsed.subject, "äöü");
        assert_eq!(parsed.message_id, "<id@example>");
        assert_eq!(parsed.references, ["<a@x>", "<b@x>"]);
        assert_eq!(parsed.text, "body");
        assert_eq!(parsed.html, ["<p>body</p>"]);
        assert_eq!(parsed.content_type.value, "text/plain");
    }

    #[test]
    fn alternative_bodies_and_attachments() {
        let raw = "Content-Type: multipart/mixed; boundary=b\r\n\r\n\
            --b\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n\
            --c\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
            Content-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 <x>\r\n\
            --c\r\nContent-Type: text/html\r\n\r\n<p>Caf\u{e9} <img src=\"cid:img1\"></p>\r\n--c--\r\n\
            --b\r\nContent-Type: image/png\r\nContent-ID: <img1>\r\n\
            Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n\
            --b\r\nContent-Type: application/octet-stream\r\n\
            Content-Disposition: attachment; filename*=utf-8''caf%C3%A9.bin\r\n\r\nraw\r\n--b--\r\n";
        let parsed = parse(raw);
        assert_eq!(parsed.text, "Café <x>");
        assert_eq!(
            parsed.html,
            ["<p>Caf\u{e9} <img src=\"attachment:ATT00001\"></p>"]
        );
        let ids: Vec<&str> = parsed.attachments.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["ATT00001", "ATT00002"]);
        let image = &parsed.attachments[0];
        assert_eq!(image.cid.as_deref(), Some("<img1>"));
        assert_eq!(image.disposition, None);
        // As stored ("aGVsbG8=" before the boundary's line break), as WildDuck counts and
        // hashes it; decoded "hello".
        assert_eq!(image.size, 8);
        assert_eq!(image.decoded_size, 5);
        assert_eq!(image.size_kb(), 1);
        let stored_hash: String = Sha256::digest(b"aGVsbG8=")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(image.hash, stored_hash);
        assert_eq!(
            image.file_content_hash,
            BASE64_STANDARD.encode(Sha256::digest(b"hello"))
        );
        assert_eq!(parsed.attachments[1].filename, "café.bin");
        assert_eq!(
            parsed.attachments[1].disposition.as_deref(),
            Some("attachment")
        );
        let tree = split(raw.as_bytes());
        let (listed, content) = attachment_content(raw.as_bytes(), &tree, "ATT00001").unwrap();
        assert_eq!(
            (listed.id.as_str(), content.as_slice()),
            ("ATT00001", &b"hello"[..])
        );
        assert_eq!(attachment_content(raw.as_bytes(), &tree, "ATT00009"), None);
    }

    #[test]
    fn intro_cuts_at_a_word_and_skips_quotes() {
        assert_eq!(intro("> quoted\n-----\nHello [link] there"), "Hello there");
        let long = "word ".repeat(40);
        let cut = intro(&long);
        assert!(
            cut.ends_with('…') && cut.chars().count() <= INTRO_CHARS + 1,
            "{cut}"
        );
        assert!(!cut.contains("  "));
    }

    #[test]
    fn dates_round_trip_as_javascript_writes_them() {
        assert_eq!(iso_date(1_714_564_800), "2024-05-01T12:00:00.000Z");
        assert_eq!(
            parse_iso_date("2024-05-01T12:00:00.000Z"),
            Some(1_714_564_800)
        );
        assert_eq!(
            parse_iso_date("2024-05-01T14:00:00+02:00"),
            Some(1_714_564_800)
        );
        assert_eq!(parse_iso_date("yesterday"), None);
        assert_eq!(rfc822_date(1_714_564_800), "Wed, 1 May 2024 12:00:00 +0000");
    }

    #[test]
    fn text_to_html_escapes_and_makes_paragraphs() {
        assert_eq!(
            text_to_html("a <b>\nc\n\n\nd & e  \n"),
            "<p>a &lt;b&gt;<br/>c</p><p>d &amp; e</p>"
        );
    }
}
