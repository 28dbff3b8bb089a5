//! Serialization of IMAP data values: strings, flag lists, dates, ENVELOPE and BODYSTRUCTURE
//! (RFC 3501 §7.4.2) from the store's records, whose header text is kept as written (RFC 2047
//! words still encoded), so it goes out unchanged as Dovecot sends it; 8-bit text is encoded
//! for clients without UTF8=ACCEPT.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use wildduck_store::{BodyStructure, Envelope, EnvelopeAddress, Flags, Timestamp, Uid};

/// Writes a string: quoted when it can be, else a (synchronizing) literal.
pub fn string(out: &mut Vec<u8>, bytes: &[u8]) {
    let quotable = bytes
        .iter()
        .all(|&b| (0x01..0x80).contains(&b) && b != b'\r' && b != b'\n');
    if quotable {
        out.push(b'"');
        for &b in bytes {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        let _ = write!(LenWriter(out), "{{{}}}\r\n", bytes.len());
        out.extend(bytes.iter().map(|&b| if b == 0 { 0x80 } else { b }));
    }
}

/// A UID set in the `1:3,7` form of inclusive ranges, in the order given.
pub fn uid_ranges(ranges: &[(Uid, Uid)]) -> String {
    let texts: Vec<String> = ranges
        .iter()
        .map(|&(start, end)| {
            if start == end {
                start.to_string()
            } else {
                format!("{start}:{end}")
            }
        })
        .collect();
    texts.join(",")
}

/// UIDs in the `1:3,7` form, runs of consecutive ones joined, in the order given (COPYUID
/// pairs two such lists element by element).
pub fn uid_list(uids: impl IntoIterator<Item = Uid>) -> String {
    let mut ranges: Vec<(Uid, Uid)> = Vec::new();
    for uid in uids {
        match ranges.last_mut() {
            Some((_, end)) if end.checked_add(1) == Some(uid) => *end = uid,
            _ => ranges.push((uid, uid)),
        }
    }
    uid_ranges(&ranges)
}

/// Writes an astring: an atom when the text is a plain atom, else a string.
pub fn astring(out: &mut Vec<u8>, text: &str) {
    let atom = !text.is_empty()
        && text.bytes().all(|b| {
            b.is_ascii_graphic() && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\')
        });
    if atom {
        out.extend_from_slice(text.as_bytes());
    } else {
        string(out, text.as_bytes());
    }
}

/// Writes an astring for a client that enabled UTF8=ACCEPT: non-ASCII text goes in a
/// quoted string (RFC 6855 §3), not as modified UTF-7 or a literal.
pub fn astring_utf8(out: &mut Vec<u8>, text: &str) {
    if text.is_ascii() {
        astring(out, text);
    } else {
        nstring_utf8(out, Some(text));
    }
}

/// `NIL` or a string; for UTF8=ACCEPT clients UTF-8 text is quoted where CR, LF and NUL
/// do not force a literal.
fn nstring_utf8(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) if !text.is_ascii() && !text.contains(['\r', '\n', '\0']) => {
            out.push(b'"');
            for &b in text.as_bytes() {
                if b == b'"' || b == b'\\' {
                    out.push(b'\\');
                }
                out.push(b);
            }
            out.push(b'"');
        }
        other => nstring(out, other),
    }
}

/// `NIL` or a string.
pub fn nstring(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => string(out, text.as_bytes()),
        None => out.extend_from_slice(b"NIL"),
    }
}

struct LenWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for LenWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// `(\Seen \Flagged keyword)`.
pub fn flag_list(flags: &Flags, recent: bool) -> String {
    FlagList { flags, recent }.to_string()
}

/// A flag list written in place (`write!`), without building a string per message.
/// `\Recent` belongs to the session, not to the stored flags, so it comes apart.
pub struct FlagList<'a> {
    pub flags: &'a Flags,
    pub recent: bool,
}

impl std::fmt::Display for FlagList<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(")?;
        let mut separator = "";
        if self.recent {
            f.write_str("\\Recent")?;
            separator = " ";
        }
        for flag in self.flags {
            f.write_str(separator)?;
            std::fmt::Display::fmt(flag, f)?;
            separator = " ";
        }
        f.write_str(")")
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// (year, month 1-12, day) of a count of days since 1970-01-01 (proleptic Gregorian).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// INTERNALDATE text in UTC: `"02-Jan-2023 10:00:00 +0000"` (with quotes).
pub fn internal_date(ts: Timestamp) -> String {
    let (year, month, day) = civil_from_days(ts.div_euclid(86_400));
    let secs = ts.rem_euclid(86_400);
    format!(
        "\"{:02}-{}-{:04} {:02}:{:02}:{:02} +0000\"",
        day,
        MONTHS[(month - 1) as usize],
        year,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// ENVELOPE text: as written; raw UTF-8 in quoted strings for UTF8=ACCEPT clients. Others
/// never get 8-bit text: it goes out as RFC 2047 encoded words, and an internationalized
/// domain as punycode (its ASCII form).
fn envelope_text(out: &mut Vec<u8>, text: Option<&str>, utf8: bool) {
    match text {
        _ if utf8 => nstring_utf8(out, text),
        Some(text) if !text.is_ascii() => string(out, encoded_words(text).as_bytes()),
        other => nstring(out, other),
    }
}

fn envelope_host(out: &mut Vec<u8>, host: Option<&str>, utf8: bool) {
    match host {
        Some(host) if !utf8 && !host.is_ascii() => match idna::domain_to_ascii(host) {
            Ok(ascii) => nstring(out, Some(&ascii)),
            Err(_) => envelope_text(out, Some(host), utf8),
        },
        other => envelope_text(out, other, utf8),
    }
}

/// Bytes of UTF-8 per encoded word: 60 base64 characters, 72 with the `=?utf-8?b?…?=`
/// frame, within RFC 2047's 75.
const ENCODED_WORD_BYTES: usize = 45;

/// `text` as RFC 2047 encoded words (`=?utf-8?b?…?=`), split between characters, joined
/// by spaces (which decoders drop between encoded words).
pub fn encoded_words(text: &str) -> String {
    let mut pieces = Vec::new();
    let mut start = 0;
    for (at, c) in text.char_indices() {
        if at + c.len_utf8() - start > ENCODED_WORD_BYTES {
            pieces.push(&text[start..at]);
            start = at;
        }
    }
    pieces.push(&text[start..]);
    pieces
        .iter()
        .map(|piece| format!("=?utf-8?b?{}?=", BASE64.encode(piece)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn address_list(out: &mut Vec<u8>, addresses: &[EnvelopeAddress], utf8: bool) {
    if addresses.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for address in addresses {
        out.push(b'(');
        envelope_text(out, address.name.as_deref(), utf8);
        out.push(b' ');
        envelope_text(out, address.adl.as_deref(), utf8);
        out.push(b' ');
        envelope_text(out, address.mailbox.as_deref(), utf8);
        out.push(b' ');
        envelope_host(out, address.host.as_deref(), utf8);
        out.push(b')');
    }
    out.push(b')');
}

/// ENVELOPE structure. Sender and Reply-To default to From (RFC 3501 §7.4.2).
pub fn envelope(out: &mut Vec<u8>, env: &Envelope, utf8: bool) {
    out.push(b'(');
    envelope_text(out, env.date.as_deref(), utf8);
    out.push(b' ');
    envelope_text(out, env.subject.as_deref(), utf8);
    out.push(b' ');
    address_list(out, &env.from, utf8);
    out.push(b' ');
    address_list(
        out,
        if env.sender.is_empty() {
            &env.from
        } else {
            &env.sender
        },
        utf8,
    );
    out.push(b' ');
    address_list(
        out,
        if env.reply_to.is_empty() {
            &env.from
        } else {
            &env.reply_to
        },
        utf8,
    );
    for list in [&env.to, &env.cc, &env.bcc] {
        out.push(b' ');
        address_list(out, list, utf8);
    }
    out.push(b' ');
    envelope_text(out, env.in_reply_to.as_deref(), utf8);
    out.push(b' ');
    envelope_text(out, env.message_id.as_deref(), utf8);
    out.push(b')');
}

fn params(out: &mut Vec<u8>, params: &[(String, String)]) {
    if params.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (name, value)) in params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        string(out, name.as_bytes());
        out.push(b' ');
        string(out, value.as_bytes());
    }
    out.push(b')');
}

fn extension_tail(out: &mut Vec<u8>, part: &BodyStructure) {
    out.push(b' ');
    match &part.disposition {
        Some((kind, disposition_params)) => {
            out.push(b'(');
            string(out, kind.as_bytes());
            out.push(b' ');
            params(out, disposition_params);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    match part.language.as_slice() {
        [] => out.extend_from_slice(b"NIL"),
        [one] => string(out, one.as_bytes()),
        many => {
            out.push(b'(');
            for (i, language) in many.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                string(out, language.as_bytes());
            }
            out.push(b')');
        }
    }
    out.push(b' ');
    nstring(out, part.location.as_deref());
}

/// BODYSTRUCTURE (`extended`) or BODY (not extended).
/// BODY/BODYSTRUCTURE; `utf8`: the envelopes of message/rfc822 parts are for a UTF8=ACCEPT
/// client.
pub fn body_structure(out: &mut Vec<u8>, part: &BodyStructure, extended: bool, utf8: bool) {
    out.push(b'(');
    if part.media_type.eq_ignore_ascii_case("multipart") {
        if part.parts.is_empty() {
            // A multipart without parts still needs one body: show an empty text part.
            out.extend_from_slice(b"(\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0)");
        }
        for child in &part.parts {
            body_structure(out, child, extended, utf8);
        }
        out.push(b' ');
        string(out, part.media_subtype.as_bytes());
        if extended {
            out.push(b' ');
            params(out, &part.params);
            extension_tail(out, part);
        }
    } else {
        string(out, part.media_type.as_bytes());
        out.push(b' ');
        string(out, part.media_subtype.as_bytes());
        out.push(b' ');
        params(out, &part.params);
        out.push(b' ');
        nstring(out, part.id.as_deref());
        out.push(b' ');
        nstring(out, part.description.as_deref());
        out.push(b' ');
        string(out, part.encoding.as_bytes());
        let _ = write!(LenWriter(out), " {}", part.size);
        let is_message = part.media_type.eq_ignore_ascii_case("message")
            && part.media_subtype.eq_ignore_ascii_case("rfc822");
        if is_message {
            out.push(b' ');
            envelope(
                out,
                part.envelope.as_deref().unwrap_or(&Envelope::default()),
                utf8,
            );
            out.push(b' ');
            match part.parts.first() {
                Some(inner) => body_structure(out, inner, extended, utf8),
                None => out.extend_from_slice(b"(\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0)"),
            }
        }
        if is_message || part.media_type.eq_ignore_ascii_case("text") {
            let _ = write!(LenWriter(out), " {}", part.lines.unwrap_or(0));
        }
        if extended {
            out.push(b' ');
            nstring(out, part.md5.as_deref());
            extension_tail(out, part);
        }
    }
    out.push(b')');
}

#[cfg(test)]
mod tests {
    use super::*;
    use wildduck_store::Flag;

    #[test]
    fn uid_lists_compact_into_ranges() {
        assert_eq!(uid_list([1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(uid_list([4]), "4");
        assert_eq!(uid_list([9, 3]), "9,3");
        assert_eq!(uid_list([]), "");
    }

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn strings_quote_or_turn_into_literals() {
        assert_eq!(text(|o| string(o, b"a \"b\" \\c")), r#""a \"b\" \\c""#);
        assert_eq!(text(|o| string(o, b"two\r\nlines")), "{10}\r\ntwo\r\nlines");
        assert_eq!(text(|o| astring(o, "INBOX")), "INBOX");
        assert_eq!(text(|o| astring(o, "Sent Mail")), "\"Sent Mail\"");
        assert_eq!(text(|o| nstring(o, None)), "NIL");
    }

    #[test]
    fn dates_in_internaldate_form() {
        assert_eq!(
            internal_date(1_672_653_600),
            "\"02-Jan-2023 10:00:00 +0000\""
        );
        assert_eq!(internal_date(0), "\"01-Jan-1970 00:00:00 +0000\"");
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn flags_print_in_order() {
        let flags: Flags = [Flag::Seen, Flag::Keyword("$Label1".into()), Flag::Answered]
            .into_iter()
            .collect();
        assert_eq!(flag_list(&flags, false), "(\\Seen \\Answered $Label1)");
        assert_eq!(
            flag_list(&flags, true),
            "(\\Recent \\Seen \\Answered $Label1)"
        );
        assert_eq!(flag_list(&Flags::new(), true), "(\\Recent)");
    }

    #[test]
    fn envelope_defaults_sender_and_encodes_8bit_text_for_legacy_clients() {
        let from = EnvelopeAddress {
            name: Some("Zoë".into()),
            adl: None,
            mailbox: Some("zoe".into()),
            host: Some("example.org".into()),
        };
        let env = Envelope {
            subject: Some("hi".into()),
            from: vec![from],
            ..Default::default()
        };
        // ASCII header text goes out as written; 8-bit text as an RFC 2047 encoded word.
        let zoe = "(\"=?utf-8?b?Wm/Dqw==?=\" NIL \"zoe\" \"example.org\")";
        assert_eq!(
            text(|o| envelope(o, &env, false)),
            format!("(NIL \"hi\" ({zoe}) ({zoe}) ({zoe}) NIL NIL NIL NIL NIL)")
        );
        let zoe = "(\"Zoë\" NIL \"zoe\" \"example.org\")";
        assert_eq!(
            text(|o| envelope(o, &env, true)),
            format!("(NIL \"hi\" ({zoe}) ({zoe}) ({zoe}) NIL NIL NIL NIL NIL)")
        );
    }

    #[test]
    fn long_text_splits_into_encoded_words_between_characters() {
        let long = "ü".repeat(40);
        let words = encoded_words(&long);
        let pieces: Vec<&str> = words.split(' ').collect();
        assert_eq!(pieces.len(), 2, "{words}");
        assert!(pieces.iter().all(|w| w.len() <= 75), "{words}");
        let decoded: Vec<u8> = pieces
            .iter()
            .flat_map(|w| {
                let inner = w
                    .strip_prefix("=?utf-8?b?")
                    .and_then(|w| w.strip_suffix("?="));
                BASE64.decode(inner.unwrap_or_default()).unwrap_or_default()
            })
            .collect();
        assert_eq!(String::from_utf8(decoded).as_deref(), Ok(long.as_str()));
        assert_eq!(encoded_words("Grüße"), "=?utf-8?b?R3LDvMOfZQ==?=");
    }

    #[test]
    fn bodystructure_of_multipart_with_extension_data() {
        let leaf = BodyStructure {
            media_type: "text".into(),
            media_subtype: "plain".into(),
            params: vec![("charset".into(), "utf-8".into())],
            encoding: "7bit".into(),
            size: 12,
            lines: Some(2),
            ..Default::default()
        };
        let attachment = BodyStructure {
            media_type: "application".into(),
            media_subtype: "octet-stream".into(),
            encoding: "base64".into(),
            size: 100,
            disposition: Some((
                "attachment".into(),
                vec![("filename".into(), "a.bin".into())],
            )),
            ..Default::default()
        };
        let root = BodyStructure {
            media_type: "multipart".into(),
            media_subtype: "mixed".into(),
            params: vec![("boundary".into(), "XX".into())],
            parts: vec![leaf, attachment],
            ..Default::default()
        };
        assert_eq!(
            text(|o| body_structure(o, &root, true, false)),
            "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 12 2 NIL NIL NIL NIL)\
             (\"application\" \"octet-stream\" NIL NIL NIL \"base64\" 100 NIL \
             (\"attachment\" (\"filename\" \"a.bin\")) NIL NIL) \"mixed\" (\"boundary\" \"XX\") NIL NIL NIL)"
        );
        assert_eq!(
            text(|o| body_structure(o, &root, false, false)),
            "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 12 2)\
             (\"application\" \"octet-stream\" NIL NIL NIL \"base64\" 100) \"mixed\")"
        );
    }
}
