//! Decoded text for SEARCH: header fields with RFC 2047 words decoded, and the text parts'
//! bodies decoded from their transfer encoding and charset to UTF-8.

use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::decoders::html::html_to_text;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::parsers::MessageStream;
use mail_parser::{DateTime, HeaderValue};

use super::header::{HeaderFields, Lexer, lossy, parse_content_type, unfold};
use super::split::{PartKind, PartTree};
use crate::model::Timestamp;

/// Decodes an unstructured header value (RFC 2047 words, folding) to UTF-8.
pub fn decode_header_value(value: &[u8]) -> String {
    let mut owned = value.to_vec();
    if !owned.ends_with(b"\n") {
        owned.push(b'\n');
    }
    match MessageStream::new(&owned).parse_unstructured() {
        HeaderValue::Text(text) => text.into_owned(),
        _ => lossy(&unfold(value)).trim().to_string(),
    }
}

/// Every header field of a header block, decoded, one `Name: value` per line.
pub fn search_headers(header: &[u8]) -> String {
    let mut out = String::new();
    for field in HeaderFields::new(header) {
        out.push_str(&lossy(field.name));
        out.push_str(": ");
        out.push_str(&decode_header_value(field.value));
        out.push('\n');
    }
    out
}

/// The Date: header of a header block as a Unix timestamp.
pub fn header_date(header: &[u8]) -> Option<Timestamp> {
    let field = HeaderFields::new(header).find(|f| f.name.eq_ignore_ascii_case(b"date"))?;
    let text = lossy(&unfold(field.value));
    let date = DateTime::parse_rfc822(text.trim())?;
    date.is_valid().then(|| date.to_timestamp())
}

/// The decoded text of every text/* leaf of the message (HTML reduced to its text).
pub fn search_body(raw: &[u8], tree: &PartTree) -> String {
    let mut out = String::new();
    for node in &tree.parts {
        if node.kind != PartKind::Leaf || node.media_type != "text" {
            continue;
        }
        let text = decode_text_part(&raw[node.header.clone()], &raw[node.body.clone()]);
        let text = if node.media_subtype == "html" {
            html_to_text(&text)
        } else {
            text
        };
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&text);
    }
    out
}

/// Decodes a text body: transfer encoding first, then the charset (UTF-8 when unknown).
pub fn decode_text_part(header: &[u8], body: &[u8]) -> String {
    let mut encoding = String::new();
    let mut charset = None;
    for field in HeaderFields::new(header) {
        if field
            .name
            .eq_ignore_ascii_case(b"content-transfer-encoding")
            && encoding.is_empty()
        {
            let mut lexer = Lexer::new(field.value);
            lexer.skip_cfws();
            encoding = lexer.token().to_ascii_lowercase();
        } else if field.name.eq_ignore_ascii_case(b"content-type") && charset.is_none() {
            charset = parse_content_type(field.value)
                .params
                .into_iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("charset"))
                .map(|(_, value)| value);
        }
    }
    let decoded = match encoding.as_str() {
        "base64" => base64_decode(body),
        "quoted-printable" => quoted_printable_decode(body),
        _ => None,
    };
    let bytes = decoded.as_deref().unwrap_or(body);
    match charset
        .as_deref()
        .and_then(|c| charset_decoder(c.as_bytes()))
    {
        Some(decode) => decode(bytes),
        None => lossy(bytes),
    }
}
