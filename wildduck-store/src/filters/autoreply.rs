//! The vacation reply: whom it never answers (RFC 3834 §2, WildDuck's `lib/autoreply.js`) and
//! what it sends. How often one sender is answered is the store's per-sender record
//! (`DeliveryRules::claim_autoreply`), checked by the delivery hook.

use super::Autoreply;
use super::matching::MessageFacts;
use crate::mime::compose::{self, NewMessage};
use crate::mime::header::HeaderFields;
use crate::mime::parsed::MailAddress;
use crate::mime::text::decode_header_value;
use crate::model::{RecordId, Timestamp};

/// Whether a message from `sender` must get no automatic reply: a null sender (a bounce), a
/// daemon or no-reply address, a message that is automatic itself (`Auto-Submitted` other than
/// `no`), bulk or list mail (`Precedence: bulk|list|junk`, any `List-*` field), or one whose
/// sender asked for none (`X-Auto-Response-Suppress: OOF|AutoReply|All`).
pub(crate) fn suppressed(sender: &str, facts: &MessageFacts) -> bool {
    let sender = sender.to_lowercase();
    let local = sender.split('@').next().unwrap_or("");
    let daemon = local.contains("mailer-daemon")
        || local.contains("noreply")
        || local.contains("no-reply")
        || local == "postmaster";
    let automatic = facts
        .header("auto-submitted")
        .is_some_and(|value| value.trim() != "no");
    let bulk = facts
        .header("precedence")
        .is_some_and(|value| matches!(value.trim(), "bulk" | "list" | "junk"));
    let suppress = facts
        .header("x-auto-response-suppress")
        .is_some_and(|value| {
            ["oof", "autoreply", "all"]
                .iter()
                .any(|w| value.contains(w))
        });
    sender.is_empty()
        || daemon
        || automatic
        || bulk
        || suppress
        || facts.has_header_starting("list-")
}

/// The reply to `original` from `recipient` (the address the message came to) to `sender`:
/// `Auto-Submitted: auto-replied`, `In-Reply-To` and `References` pointing at the original.
/// Returns the message and its Message-ID.
pub(crate) fn compose_reply(
    autoreply: &Autoreply,
    recipient: &str,
    sender: &str,
    original: &[u8],
    now: Timestamp,
) -> (Vec<u8>, String) {
    let field = |name: &str| {
        HeaderFields::new(original)
            .find(|field| field.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|field| decode_header_value(field.value).trim().to_string())
            .filter(|value| !value.is_empty())
    };
    let subject = if autoreply.subject.is_empty() {
        format!("Auto: Re: {}", field("subject").unwrap_or_default())
    } else {
        format!("Auto: {}", autoreply.subject)
    };
    let mut headers = vec![("Auto-Submitted".to_string(), "auto-replied".to_string())];
    if let Some(message_id) = field("message-id") {
        let references = match field("references") {
            Some(earlier) => format!("{earlier} {message_id}"),
            None => message_id.clone(),
        };
        headers.push(("In-Reply-To".into(), message_id));
        headers.push(("References".into(), references));
    }
    let non_empty = |text: &str| (!text.is_empty()).then(|| text.to_string());
    let local_id = RecordId::new().to_string();
    let message = NewMessage {
        from: MailAddress {
            name: autoreply.name.clone(),
            address: recipient.to_string(),
        },
        to: vec![MailAddress {
            name: String::new(),
            address: sender.to_string(),
        }],
        subject: Some(subject),
        text: non_empty(&autoreply.text),
        html: non_empty(&autoreply.html),
        headers,
        date: now,
        message_id_local: local_id.clone(),
        ..NewMessage::default()
    };
    let domain = recipient.rsplit_once('@').map_or("localhost", |(_, d)| d);
    (compose::compose(&message), format!("<{local_id}@{domain}>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(headers: &str) -> MessageFacts {
        let raw = format!("{headers}From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n");
        MessageFacts::new(raw.as_bytes(), false)
    }

    #[test]
    fn automatic_bulk_and_daemon_mail_gets_no_reply() {
        let rows = [
            ("a@example.org", "", false),
            ("", "", true),
            ("MAILER-DAEMON@example.org", "", true),
            ("no-reply@example.org", "", true),
            ("noreply@example.org", "", true),
            ("postmaster@example.org", "", true),
            ("a@example.org", "Auto-Submitted: auto-replied\r\n", true),
            ("a@example.org", "Auto-Submitted: no\r\n", false),
            ("a@example.org", "Precedence: bulk\r\n", true),
            ("a@example.org", "Precedence: list\r\n", true),
            ("a@example.org", "Precedence: junk\r\n", true),
            ("a@example.org", "Precedence: first-class\r\n", false),
            ("a@example.org", "List-Id: <x.example>\r\n", true),
            ("a@example.org", "List-Unsubscribe: <mailto:u@x>\r\n", true),
            ("a@example.org", "X-Auto-Response-Suppress: OOF\r\n", true),
            (
                "a@example.org",
                "X-Auto-Response-Suppress: DR, RN\r\n",
                false,
            ),
        ];
        for (sender, headers, expected) in rows {
            assert_eq!(
                suppressed(sender, &facts(headers)),
                expected,
                "{sender} {headers:?}"
            );
        }
    }

    #[test]
    fn the_reply_refers_to_the_original() {
        let autoreply = Autoreply {
            id: RecordId::new(),
            user: crate::model::UserId::new(),
            status: true,
            name: "Ann Lee".into(),
            subject: String::new(),
            text: "Away until Monday.".into(),
            html: String::new(),
            start: None,
            end: None,
            created: 0,
        };
        let original = b"Message-ID: <m1@example.org>\r\nReferences: <m0@example.org>\r\n\
Subject: =?utf-8?q?Kohtumine?=\r\n\r\nbody\r\n";
        let (reply, message_id) = compose_reply(
            &autoreply,
            "ann@example.com",
            "bob@example.org",
            original,
            0,
        );
        let text = String::from_utf8(reply).unwrap();
        assert!(
            text.contains("From: Ann Lee <ann@example.com>\r\n"),
            "{text}"
        );
        assert!(text.contains("To: bob@example.org\r\n"), "{text}");
        assert!(text.contains("Subject: Auto: Re: Kohtumine\r\n"), "{text}");
        assert!(text.contains("Auto-Submitted: auto-replied\r\n"), "{text}");
        assert!(text.contains("In-Reply-To: <m1@example.org>\r\n"), "{text}");
        assert!(
            text.contains("References: <m0@example.org> <m1@example.org>\r\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!("Message-ID: {message_id}\r\n")),
            "{text}"
        );
        assert!(text.contains("\r\n\r\nAway until Monday."), "{text}");
    }
}
