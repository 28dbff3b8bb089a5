//! Delivery status notifications (RFC 3464): the `multipart/report` a sender finds in their
//! INBOX when recipients of their message failed for good.

use crate::mime::header::HeaderFields;
use crate::model::{RecordId, Timestamp};

use super::{OutboundEntry, OutboundRecipient, RetryPolicy};

/// The report about `failed` (recipients of `entry`) written at `now`: a human part, the
/// machine-readable `message/delivery-status`, and the original header.
pub(super) fn failure_report(
    entry: &OutboundEntry,
    failed: &[OutboundRecipient],
    policy: &RetryPolicy,
    now: Timestamp,
) -> Vec<u8> {
    let host = &policy.reporting_host;
    let boundary = format!("report-{}", RecordId::new());
    let date = mail_parser::DateTime::from_timestamp(now).to_rfc822();
    let arrival = mail_parser::DateTime::from_timestamp(entry.created).to_rfc822();
    let mut text = String::new();
    text.push_str(&format!(
        "From: Mail Delivery System <MAILER-DAEMON@{host}>\r\n\
         To: <{sender}>\r\n\
         Subject: Undelivered Mail Returned to Sender\r\n\
         Date: {date}\r\n\
         Message-ID: <{id}@{host}>\r\n\
         In-Reply-To: {original}\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n \
         boundary=\"{boundary}\"\r\n\
         \r\n\
         --{boundary}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Your message {original} could not be delivered to:\r\n\r\n",
        sender = entry.sender,
        id = RecordId::new(),
        original = entry.message_id,
    ));
    for recipient in failed {
        let reply = recipient.last_reply.as_deref().unwrap_or("no reply");
        text.push_str(&format!("  <{}>: {reply}\r\n", recipient.address));
    }
    text.push_str(&format!(
        "\r\n--{boundary}\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; {host}\r\n\
         Arrival-Date: {arrival}\r\n"
    ));
    for recipient in failed {
        let reply = recipient.last_reply.as_deref().unwrap_or("");
        text.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {}\r\nAction: failed\r\nStatus: {}\r\n",
            recipient.address,
            status_code(reply)
        ));
        if !reply.is_empty() {
            text.push_str(&format!("Diagnostic-Code: smtp; {reply}\r\n"));
        }
    }
    text.push_str(&format!(
        "\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
    ));
    let mut report = text.into_bytes();
    report.extend_from_slice(original_header(&entry.raw));
    report.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    report
}

/// The enhanced status code of a reply (`550 5.1.1 …` → `5.1.1`), else the generic one of
/// its class: `5.0.0` for a refusal, `4.0.0` for what was given up still temporary.
fn status_code(reply: &str) -> String {
    let mut words = reply.split_whitespace();
    let code = words.next().unwrap_or("");
    let enhanced = words.next().filter(|word| {
        let parts: Vec<&str> = word.split('.').collect();
        parts.len() == 3
            && matches!(parts[0], "4" | "5")
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    });
    match enhanced {
        Some(enhanced) => enhanced.to_string(),
        None if code.starts_with('5') => "5.0.0".into(),
        None => "4.4.7".into(),
    }
}

/// The header block of a message, without the blank line that ends it.
fn original_header(raw: &[u8]) -> &[u8] {
    let end = HeaderFields::new(raw)
        .last()
        .map_or(0, |field| field.range.end);
    &raw[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_comes_from_the_enhanced_code_or_the_class() {
        assert_eq!(status_code("550 5.1.1 No such user"), "5.1.1");
        assert_eq!(status_code("554 Transaction failed"), "5.0.0");
        assert_eq!(status_code("451 4.3.0 Try later"), "4.3.0");
        assert_eq!(status_code("421 Connection refused"), "4.4.7");
    }
}
