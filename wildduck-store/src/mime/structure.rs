//! ENVELOPE and BODYSTRUCTURE as Dovecot computes them: raw header text (RFC 2047 words left
//! encoded, folding removed), Content-Type parameters with RFC 2231 continuations joined,
//! a default `charset=us-ascii` for text parts, the first occurrence of each Content-* field,
//! and Content-* fields ignored in parts that are not MIME.

use super::address::parse_address_list;
use super::header::{
    HeaderFields, Lexer, for_humans, lossy, parse_content_type, parse_disposition, unfold,
};
use super::split::{PartKind, PartTree};
use crate::model::{BodyStructure, Envelope};

/// Builds the envelope from a message header block.
pub fn envelope(header: &[u8]) -> Envelope {
    let mut envelope = Envelope::default();
    let mut seen = [false; 10];
    for field in HeaderFields::new(header) {
        let name = field.name.to_ascii_lowercase();
        let slot = match name.as_slice() {
            b"date" => 0,
            b"subject" => 1,
            b"from" => 2,
            b"sender" => 3,
            b"reply-to" => 4,
            b"to" => 5,
            b"cc" => 6,
            b"bcc" => 7,
            b"in-reply-to" => 8,
            b"message-id" => 9,
            _ => continue,
        };
        if std::mem::replace(&mut seen[slot], true) {
            continue;
        }
        let text = || Some(lossy(&unfold(field.value)));
        match slot {
            0 => envelope.date = text(),
            1 => envelope.subject = Some(for_humans(&lossy(field.value))),
            2 => envelope.from = parse_address_list(field.value),
            3 => envelope.sender = parse_address_list(field.value),
            4 => envelope.reply_to = parse_address_list(field.value),
            5 => envelope.to = parse_address_list(field.value),
            6 => envelope.cc = parse_address_list(field.value),
            7 => envelope.bcc = parse_address_list(field.value),
            8 => envelope.in_reply_to = text(),
            _ => envelope.message_id = text(),
        }
    }
    // RFC 3501: Sender and Reply-To default to From.
    if envelope.sender.is_empty() {
        envelope.sender = envelope.from.clone();
    }
    if envelope.reply_to.is_empty() {
        envelope.reply_to = envelope.from.clone();
    }
    envelope
}

/// The Content-* fields of one part.
#[derive(Default)]
struct ContentFields {
    content_type: Option<super::header::ContentType>,
    id: Option<String>,
    description: Option<String>,
    encoding: Option<String>,
    md5: Option<String>,
    disposition: Option<super::header::ContentType>,
    language: Option<Vec<String>>,
    location: Option<String>,
}

fn content_fields(header: &[u8]) -> ContentFields {
    let mut fields = ContentFields::default();
    for field in HeaderFields::new(header) {
        if field.name.len() < 8 || !field.name[..8].eq_ignore_ascii_case(b"content-") {
            continue;
        }
        let name = field.name[8..].to_ascii_lowercase();
        let value = field.value;
        let text = || lossy(&unfold(value));
        match name.as_slice() {
            b"type" if fields.content_type.is_none() => {
                let ct = parse_content_type(value);
                // Dovecot ignores a Content-Type it can not parse as type/subtype.
                if !ct.media_type.is_empty() && !ct.media_subtype.is_empty() {
                    fields.content_type = Some(ct);
                }
            }
            b"id" if fields.id.is_none() => fields.id = Some(text()),
            b"description" if fields.description.is_none() => fields.description = Some(text()),
            b"transfer-encoding" if fields.encoding.is_none() => {
                let mut lexer = Lexer::new(value);
                lexer.skip_cfws();
                let token = lexer.token();
                if !token.is_empty() {
                    fields.encoding = Some(token);
                }
            }
            b"md5" if fields.md5.is_none() => fields.md5 = Some(text()),
            b"disposition" if fields.disposition.is_none() => {
                let disposition = parse_disposition(value);
                if !disposition.media_type.is_empty() {
                    fields.disposition = Some(disposition);
                }
            }
            b"language" if fields.language.is_none() => {
                fields.language = Some(parse_language(value));
            }
            b"location" if fields.location.is_none() => fields.location = Some(text()),
            _ => {}
        }
    }
    fields
}

/// `Content-Language: en, de-CH` → ["en", "de-CH"].
fn parse_language(value: &[u8]) -> Vec<String> {
    let mut lexer = Lexer::new(value);
    let mut tags = Vec::new();
    loop {
        lexer.skip_cfws();
        let tag = lexer.token();
        if tag.is_empty() {
            break;
        }
        tags.push(tag);
        lexer.skip_cfws();
        if !lexer.eat(b',') {
            break;
        }
    }
    tags
}

/// The structure of part `index` of `tree` (0 = the whole message).
pub fn body_structure(raw: &[u8], tree: &PartTree, index: usize) -> BodyStructure {
    let node = &tree.parts[index];
    let fields = if node.is_mime {
        content_fields(&raw[node.header.clone()])
    } else {
        ContentFields::default()
    };
    let (media_type, media_subtype, mut params) = match (&node.kind, fields.content_type) {
        (PartKind::Message { .. }, ct) => (
            "message".to_string(),
            "rfc822".to_string(),
            ct.map(|c| c.params).unwrap_or_default(),
        ),
        // A message/rfc822 nested too deep to be parsed is an opaque leaf.
        (PartKind::Leaf, Some(ct))
            if ct.media_type.eq_ignore_ascii_case("message")
                && ct.media_subtype.eq_ignore_ascii_case("rfc822") =>
        {
            ("application".into(), "octet-stream".into(), ct.params)
        }
        (_, Some(ct)) => (ct.media_type, ct.media_subtype, ct.params),
        (_, None) => (
            node.media_type.clone(),
            node.media_subtype.clone(),
            Vec::new(),
        ),
    };
    let is_multipart = matches!(node.kind, PartKind::Multipart { .. });
    let is_text = !is_multipart && media_type.eq_ignore_ascii_case("text");
    if is_text
        && !params
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("charset"))
    {
        params.push(("charset".into(), "us-ascii".into()));
    }
    let disposition = fields.disposition.map(|d| (d.media_type, d.params));
    let mut structure = BodyStructure {
        media_type,
        media_subtype,
        params,
        id: fields.id,
        description: fields.description,
        encoding: fields.encoding.unwrap_or_else(|| "7bit".into()),
        size: (node.body.end - node.body.start) as u64,
        lines: None,
        md5: fields.md5,
        disposition,
        language: fields.language.unwrap_or_default(),
        location: fields.location,
        envelope: None,
        parts: Vec::new(),
    };
    match &node.kind {
        PartKind::Multipart { children, .. } => {
            structure.parts = if children.is_empty() {
                vec![empty_text_part()]
            } else {
                children
                    .iter()
                    .map(|&child| body_structure(raw, tree, child))
                    .collect()
            };
        }
        PartKind::Message { child } => {
            let nested = &tree.parts[*child];
            structure.envelope = Some(Box::new(envelope(&raw[nested.header.clone()])));
            structure.parts = vec![body_structure(raw, tree, *child)];
            structure.lines = Some(node.body_lines);
        }
        PartKind::Leaf => {
            if is_text {
                structure.lines = Some(node.body_lines);
            }
        }
    }
    structure
}

/// What Dovecot reports for a multipart without parts: one empty text/plain part.
fn empty_text_part() -> BodyStructure {
    BodyStructure {
        media_type: "text".into(),
        media_subtype: "plain".into(),
        params: vec![("charset".into(), "us-ascii".into())],
        encoding: "7bit".into(),
        lines: Some(0),
        ..BodyStructure::default()
    }
}
