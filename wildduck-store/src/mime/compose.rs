//! Builds an RFC 5322 message from structured fields (WildDuck's "upload from JSON"): address
//! and subject headers with RFC 2047 words where needed, a text and/or HTML body
//! (`multipart/alternative` when both), images embedded in the HTML as `data:` URLs as
//! inline parts beside it (`multipart/related`, see [`super::data_urls`]), and attachments
//! (`multipart/mixed` around it all).
//!
//! Header values never carry a line break from the input: CR and LF become spaces, so a
//! field can not smuggle in another header.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::data_urls::{self, EmbeddedImage};
use super::parsed::{MailAddress, extension, rfc822_date};
use crate::model::Timestamp;

/// Encoded body lines are this long (RFC 2045 allows 76).
const LINE: usize = 76;

/// One attachment to put into the message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewAttachment {
    pub filename: Option<String>,
    pub content_type: String,
    /// `attachment` or `inline`.
    pub disposition: String,
    /// Content-ID without angle brackets.
    pub cid: Option<String>,
    pub content: Vec<u8>,
}

/// The fields of a message to build.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewMessage {
    pub from: MailAddress,
    pub reply_to: Option<MailAddress>,
    pub to: Vec<MailAddress>,
    pub cc: Vec<MailAddress>,
    pub bcc: Vec<MailAddress>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    /// Extra header fields, in order (names are checked by the caller).
    pub headers: Vec<(String, String)>,
    pub attachments: Vec<NewAttachment>,
    pub date: Timestamp,
    /// The left part of the Message-ID (random, chosen by the caller).
    pub message_id_local: String,
}

/// The message as bytes, CRLF line endings.
pub fn compose(message: &NewMessage) -> Vec<u8> {
    let mut out = String::new();
    let domain = message
        .from
        .address
        .rsplit_once('@')
        .map_or("localhost", |(_, domain)| domain);
    let mut field = |name: &str, value: &str| {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    };
    field("From", &address_list(std::slice::from_ref(&message.from)));
    if let Some(reply_to) = &message.reply_to {
        field("Reply-To", &address_list(std::slice::from_ref(reply_to)));
    }
    for (name, list) in [
        ("To", &message.to),
        ("Cc", &message.cc),
        ("Bcc", &message.bcc),
    ] {
        if !list.is_empty() {
            field(name, &address_list(list));
        }
    }
    if let Some(subject) = &message.subject {
        field("Subject", &encode_word(&single_line(subject)));
    }
    for (name, value) in &message.headers {
        field(name, &encode_word(&single_line(value)));
    }
    field(
        "Message-ID",
        &format!("<{}@{}>", message.message_id_local, single_line(domain)),
    );
    field("Date", &rfc822_date(message.date));
    field("MIME-Version", "1.0");
    let (html, embedded) = match &message.html {
        Some(html) => {
            let cid = |n: usize| {
                format!(
                    "{}.{}@{}",
                    message.message_id_local,
                    n + 1,
                    single_line(domain)
                )
            };
            let (html, images) = data_urls::extract(html, cid);
            (Some(html), images)
        }
        None => (None, Vec::new()),
    };
    let body = body_part(message, html.as_deref(), &embedded);
    let part = if message.attachments.is_empty() {
        body
    } else {
        let mut parts = vec![body];
        parts.extend(message.attachments.iter().map(attachment_part));
        multipart("mixed", &parts, &message.message_id_local)
    };
    out.push_str(&part);
    out.into_bytes()
}

/// The text, the HTML (with its embedded images), or both as alternatives (an empty text
/// part when there is neither).
fn body_part(message: &NewMessage, html: Option<&str>, embedded: &[EmbeddedImage]) -> String {
    let text = message.text.as_deref().map(|t| text_part("plain", t));
    let html = html.map(|h| {
        let html = text_part("html", h);
        if embedded.is_empty() {
            return html;
        }
        // Named after their place among all attachments, as nodemailer names unnamed ones.
        let mut parts = vec![html];
        parts.extend(embedded.iter().enumerate().map(|(n, image)| {
            let number = message.attachments.len() + n + 1;
            attachment_part(&NewAttachment {
                filename: Some(image.filename.clone().unwrap_or_else(|| {
                    format!("attachment-{number}.{}", extension(&image.content_type))
                })),
                content_type: image.content_type.clone(),
                disposition: "inline".into(),
                cid: Some(image.cid.clone()),
                content: image.content.clone(),
            })
        }));
        multipart(
            "related",
            &parts,
            &format!("rel-{}", message.message_id_local),
        )
    });
    match (text, html) {
        (Some(text), Some(html)) => multipart(
            "alternative",
            &[text, html],
            &format!("alt-{}", message.message_id_local),
        ),
        (Some(part), None) | (None, Some(part)) => part,
        (None, None) => text_part("plain", ""),
    }
}

/// A text part: as it is when it is short-lined ASCII, base64 otherwise.
fn text_part(subtype: &str, content: &str) -> String {
    let content = content.replace("\r\n", "\n");
    let plain = content.is_ascii() && content.lines().all(|line| line.len() <= 998);
    let (encoding, body) = if plain {
        ("7bit", content.replace('\n', "\r\n"))
    } else {
        ("base64", wrap_base64(content.as_bytes()))
    };
    format!(
        "Content-Type: text/{subtype}; charset=utf-8\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n{body}"
    )
}

fn attachment_part(attachment: &NewAttachment) -> String {
    let mut header = format!("Content-Type: {}", single_line(&attachment.content_type));
    let mut disposition = single_line(&attachment.disposition);
    if let Some(filename) = &attachment.filename {
        let name = quoted(&encode_word(&single_line(filename)));
        header.push_str(&format!("; name={name}"));
        disposition.push_str(&format!("; filename={name}"));
    }
    header.push_str("\r\nContent-Transfer-Encoding: base64\r\n");
    header.push_str(&format!("Content-Disposition: {disposition}\r\n"));
    if let Some(cid) = &attachment.cid {
        header.push_str(&format!("Content-ID: <{}>\r\n", single_line(cid)));
    }
    format!("{header}\r\n{}", wrap_base64(&attachment.content))
}

fn multipart(subtype: &str, parts: &[String], seed: &str) -> String {
    let boundary = format!("--_wildduck_{subtype}_{seed}");
    let mut out = format!("Content-Type: multipart/{subtype}; boundary=\"{boundary}\"\r\n\r\n");
    for part in parts {
        out.push_str(&format!("--{boundary}\r\n{part}\r\n"));
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out
}

fn wrap_base64(bytes: &[u8]) -> String {
    let encoded = STANDARD.encode(bytes);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / LINE * 2 + 2);
    for line in encoded.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

fn address_list(list: &[MailAddress]) -> String {
    list.iter()
        .map(|a| {
            let address = single_line(&a.address);
            if a.name.trim().is_empty() {
                address
            } else {
                format!(
                    "{} <{address}>",
                    quoted(&encode_word(&single_line(&a.name)))
                )
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Line breaks (CRLF, CR or LF) as one space each, so a value stays one header line.
fn single_line(text: &str) -> String {
    text.replace("\r\n", " ").replace(['\r', '\n'], " ")
}

/// One RFC 2047 B-word when the text is not plain ASCII; the text otherwise.
fn encode_word(text: &str) -> String {
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        text.to_string()
    } else {
        format!("=?UTF-8?B?{}?=", STANDARD.encode(text))
    }
}

/// A display name or parameter quoted when it has characters an atom can not hold.
fn quoted(text: &str) -> String {
    let atom = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~ ".contains(c);
    if text.starts_with("=?") || text.chars().all(atom) {
        text.to_string()
    } else {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::parsed::parse_message;
    use crate::mime::split;

    fn address(name: &str, address: &str) -> MailAddress {
        MailAddress {
            name: name.into(),
            address: address.into(),
        }
    }

    #[test]
    fn data_images_in_html_become_related_inline_parts() {
        let message = NewMessage {
            from: address("", "j@example.com"),
            text: Some("Hi".into()),
            html: Some(
                "<p>Hi <img src=\"data:image/gif;base64,R0lGODlhAQABAAAAACw=\" /></p>".into(),
            ),
            message_id_local: "abc".into(),
            ..NewMessage::default()
        };
        let raw = compose(&message);
        let parsed = parse_message(&raw, &split(&raw));
        assert_eq!(parsed.html, ["<p>Hi <img src=\"attachment:ATT00001\"></p>"]);
        let image = &parsed.attachments[0];
        assert_eq!(parsed.attachments.len(), 1);
        assert_eq!(image.filename, "attachment-1.gif");
        assert_eq!(image.content_type, "image/gif");
        assert_eq!(image.disposition.as_deref(), Some("inline"));
        assert_eq!(image.cid.as_deref(), Some("<abc.1@example.com>"));
        assert!(image.related);
    }

    #[test]
    fn a_composed_message_parses_back_to_its_fields() {
        let message = NewMessage {
            from: address("Jürgen", "j@example.com"),
            to: vec![
                address("", "a@example.com"),
                address("B \"C\"", "b@example.com"),
            ],
            subject: Some("Grüße\r\nBcc: evil@example.com".into()),
            text: Some("Hallo\nWelt".into()),
            html: Some("<p>Hallo</p>".into()),
            headers: vec![("List-Id".into(), "7".into())],
            attachments: vec![NewAttachment {
                filename: Some("a.bin".into()),
                content_type: "application/octet-stream".into(),
                disposition: "attachment".into(),
                cid: None,
                content: vec![0, 1, 2, 255],
            }],
            date: 1_714_564_800,
            message_id_local: "abc".into(),
            ..NewMessage::default()
        };
        let raw = compose(&message);
        let parsed = parse_message(&raw, &split(&raw));
        assert_eq!(parsed.from, [address("Jürgen", "j@example.com")]);
        assert_eq!(parsed.to[1], address("B \"C\"", "b@example.com"));
        assert_eq!(parsed.subject, "Grüße Bcc: evil@example.com");
        assert!(parsed.bcc.is_empty());
        assert_eq!(parsed.text, "Hallo\r\nWelt");
        assert_eq!(parsed.html, ["<p>Hallo</p>"]);
        assert_eq!(parsed.message_id, "<abc@example.com>");
        assert_eq!(parsed.list_id.as_deref(), Some("7"));
        assert_eq!(parsed.attachments.len(), 1);
        assert_eq!(parsed.attachments[0].filename, "a.bin");
        assert_eq!(parsed.attachments[0].decoded_size, 4);
        assert_eq!(parsed.date, Some(1_714_564_800));
    }
}
