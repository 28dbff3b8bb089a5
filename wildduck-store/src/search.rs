//! SEARCH evaluation over stored message metadata and search text (never message content).
//!
//! Text keys are case-insensitive substring tests: both sides folded as `str::to_lowercase`
//! folds them. The needles are folded once per search ([`Matcher::new`]); message text that
//! is all ASCII is compared where it lies, ignoring ASCII case (the same fold for ASCII), and
//! only text with other characters is copied to be folded.

use std::borrow::Cow;

use mail_parser::DateTime;

use crate::backend::{SearchRow, TextNeeded};
use crate::mime::address::parse_address_list;
use crate::model::{SearchKey, Timestamp};

const SECONDS_PER_DAY: i64 = 86_400;

/// The furthest a Date: header's zone (`±hhmm`, RFC 5322) moves its own calendar day from
/// the UTC instant: 99 hours 59 minutes.
pub const MAX_ZONE_OFFSET: i64 = 99 * 3600 + 59 * 60;

/// Which decoded text (headers, body) evaluating `key` reads.
pub fn text_needed(key: &SearchKey) -> TextNeeded {
    let either = |a: TextNeeded, b: TextNeeded| TextNeeded {
        headers: a.headers || b.headers,
        body: a.body || b.body,
    };
    match key {
        // SENT* read the Date: field's own calendar day from the header text.
        SearchKey::Header(..)
        | SearchKey::Address(..)
        | SearchKey::HeaderDateBefore(_)
        | SearchKey::HeaderDateSince(_) => TextNeeded {
            headers: true,
            body: false,
        },
        SearchKey::Body(_) => TextNeeded {
            headers: false,
            body: true,
        },
        SearchKey::Text(_) => TextNeeded {
            headers: true,
            body: true,
        },
        SearchKey::Not(inner) => text_needed(inner),
        SearchKey::Or(a, b) => either(text_needed(a), text_needed(b)),
        SearchKey::And(keys) => keys
            .iter()
            .map(text_needed)
            .fold(TextNeeded::default(), either),
        _ => TextNeeded::default(),
    }
}

/// Whether evaluating `key` reads anything besides the decoded text (UIDs, flags, dates,
/// sizes, MODSEQ). A key that does not can be tested on rows holding the text alone.
pub fn reads_metadata(key: &SearchKey) -> bool {
    match key {
        SearchKey::All
        | SearchKey::Header(..)
        | SearchKey::Address(..)
        | SearchKey::Body(_)
        | SearchKey::Text(_) => false,
        SearchKey::Not(inner) => reads_metadata(inner),
        SearchKey::Or(a, b) => reads_metadata(a) || reads_metadata(b),
        SearchKey::And(keys) => keys.iter().any(reads_metadata),
        _ => true,
    }
}

/// A key ready to test many messages: its header names and text needles already folded.
pub struct Matcher {
    key: SearchKey,
}

impl Matcher {
    pub fn new(key: &SearchKey) -> Self {
        Self {
            key: fold_needles(key),
        }
    }

    /// Whether one message matches.
    pub fn matches(&self, row: &SearchRow<'_>) -> bool {
        matches(&self.key, row, &mut FoldedText::default())
    }
}

fn fold_needles(key: &SearchKey) -> SearchKey {
    match key {
        SearchKey::Header(name, value) => {
            SearchKey::Header(name.to_lowercase(), value.to_lowercase())
        }
        SearchKey::Address(name, value) => {
            SearchKey::Address(name.to_lowercase(), value.to_lowercase())
        }
        SearchKey::Body(needle) => SearchKey::Body(needle.to_lowercase()),
        SearchKey::Text(needle) => SearchKey::Text(needle.to_lowercase()),
        SearchKey::Not(inner) => SearchKey::Not(Box::new(fold_needles(inner))),
        SearchKey::Or(a, b) => SearchKey::Or(Box::new(fold_needles(a)), Box::new(fold_needles(b))),
        SearchKey::And(keys) => SearchKey::And(keys.iter().map(fold_needles).collect()),
        other => other.clone(),
    }
}

/// A message's whole header and body text folded, each on first use (TEXT reads both).
#[derive(Default)]
struct FoldedText<'a> {
    headers: Option<Cow<'a, str>>,
    body: Option<Cow<'a, str>>,
}

impl<'a> FoldedText<'a> {
    fn headers(&mut self, row: &SearchRow<'a>) -> &str {
        self.headers
            .get_or_insert_with(|| fold(row.search_headers.unwrap_or("")))
    }

    fn body(&mut self, row: &SearchRow<'a>) -> &str {
        self.body
            .get_or_insert_with(|| fold(row.search_body.unwrap_or("")))
    }
}

fn matches<'a>(key: &SearchKey, row: &SearchRow<'a>, text: &mut FoldedText<'a>) -> bool {
    match key {
        SearchKey::All => true,
        SearchKey::Uids(set) => set.contains(row.uid),
        SearchKey::Flag(flag, present) => row.flags.contains(flag) == *present,
        SearchKey::InternalBefore(t) => row.internal_date < *t,
        SearchKey::InternalSince(t) => row.internal_date >= *t,
        SearchKey::SavedBefore(t) => row.saved.unwrap_or(row.internal_date) < *t,
        SearchKey::SavedSince(t) => row.saved.unwrap_or(row.internal_date) >= *t,
        SearchKey::HeaderDateBefore(day) => sent_day(row).is_some_and(|d| d < *day),
        SearchKey::HeaderDateSince(day) => sent_day(row).is_some_and(|d| d >= *day),
        SearchKey::Larger(n) => row.size > *n,
        SearchKey::Smaller(n) => row.size < *n,
        SearchKey::Header(name, value) => {
            header_matches(row.search_headers.unwrap_or(""), name, value)
        }
        SearchKey::Address(name, value) => {
            let headers = row.search_headers.unwrap_or("");
            header_matches(headers, name, value) || address_matches(headers, name, value)
        }
        SearchKey::Body(needle) => contains_folded(text.body(row), needle),
        SearchKey::Text(needle) => {
            contains_folded(text.headers(row), needle) || contains_folded(text.body(row), needle)
        }
        SearchKey::ModSeqAtLeast(m) => row.modseq >= *m,
        SearchKey::EmailId(id) => row.email_id == *id,
        SearchKey::Not(inner) => !matches(inner, row, text),
        SearchKey::Or(a, b) => matches(a, row, text) || matches(b, row, text),
        SearchKey::And(keys) => keys.iter().all(|k| matches(k, row, text)),
    }
}

/// The calendar day (its midnight as a UTC timestamp) that a message's Date: field names in
/// its own zone: SENTBEFORE/SENTON/SENTSINCE disregard time and timezone (RFC 3501 §6.4.4),
/// so `Sat, 24 Mar 2007 23:00:00 +0200` was sent on the 24th although it is the 24th at 21:00
/// UTC. `None` for a message without a valid Date: (whose `header_date` is `None` too).
fn sent_day(row: &SearchRow<'_>) -> Option<Timestamp> {
    row.header_date?;
    let value = row.search_headers?.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim().eq_ignore_ascii_case("date").then_some(value)
    })?;
    let date = DateTime::parse_rfc822(value.trim())?;
    date.is_valid()
        .then(|| date.to_timestamp_local().div_euclid(SECONDS_PER_DAY) * SECONDS_PER_DAY)
}

/// `headers` is `name: value` lines; `name` and `value` are folded; an empty value asks
/// whether the field exists. Only lines of the asked field are folded: a line's fold does not
/// depend on its neighbours (final sigma, the one context rule, stops at a line break).
fn header_matches(headers: &str, name: &str, value: &str) -> bool {
    let name_start = name.as_bytes().first().copied();
    let mut start = 0;
    // Lines as `str::lines` cuts them: at `\n`, without the `\r` of a `\r\n`.
    let ends = memchr::memchr_iter(b'\n', headers.as_bytes()).map(|end| (end, true));
    for (end, broken) in ends.chain([(headers.len(), false)]) {
        let line = &headers[start..end];
        start = end + 1;
        let line = if broken {
            line.strip_suffix('\r').unwrap_or(line)
        } else {
            line
        };
        if may_name(line, name_start) && field_matches(line, name, value) {
            return true;
        }
    }
    false
}

/// Whether an address of field `name` (folded), written `name <local@domain>` (or
/// `local@domain` without a name) as the envelope has it, contains `value` (folded). This
/// finds `user@domain.org` in `<user (comment)@ (comment) domain.org>`.
fn address_matches(headers: &str, name: &str, value: &str) -> bool {
    headers
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(field, _)| field.trim().eq_ignore_ascii_case(name))
        .flat_map(|(_, content)| parse_address_list(content.as_bytes()))
        .any(|address| {
            let (Some(mailbox), Some(host)) = (&address.mailbox, &address.host) else {
                return false;
            };
            let written = match &address.name {
                Some(display) => format!("{display} <{mailbox}@{host}>"),
                None => format!("{mailbox}@{host}"),
            };
            contains_folded(&fold(&written), value)
        })
}

/// False when the first byte of `line` rules out field `name` (folded; `name_start` its first
/// byte): an ASCII byte that is not white space starts the trimmed field name, so it has to
/// fold to the name's first byte. Most lines of a header end here.
fn may_name(line: &str, name_start: Option<u8>) -> bool {
    match (line.as_bytes().first(), name_start) {
        (None, _) => false,
        (Some(&first), Some(name_start))
            if first.is_ascii() && !char::from(first).is_whitespace() =>
        {
            first.to_ascii_lowercase() == name_start
        }
        _ => true,
    }
}

/// Whether one header line is field `name` and contains `value` (both folded).
fn field_matches(line: &str, name: &str, value: &str) -> bool {
    let Some((field, _)) = line.split_once(':') else {
        return false;
    };
    // An ASCII field name folds to its ASCII lower case: no need to fold the line to reject it.
    if field.is_ascii() && !field.trim().eq_ignore_ascii_case(name) {
        return false;
    }
    fold(line).split_once(':').is_some_and(|(field, content)| {
        field.trim().eq_ignore_ascii_case(name) && contains_folded(content, value)
    })
}

/// `text` as `to_lowercase` folds it, or unchanged when it is ASCII (see [`contains_folded`]).
fn fold(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.to_lowercase())
    }
}

/// Whether `text` contains the folded `needle`, where `text` is either folded or ASCII. Bytes
/// compare ignoring ASCII case: for ASCII text that is the fold; folded text and a folded
/// needle have no ASCII capitals, so there it is plain equality.
fn contains_folded(text: &str, needle: &str) -> bool {
    let (text, needle) = (text.as_bytes(), needle.as_bytes());
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let mut from = 0;
    while let Some(found) = memchr::memchr2(first, first.to_ascii_uppercase(), &text[from..]) {
        let start = from + found + 1;
        let Some(candidate) = text.get(start..start + rest.len()) else {
            return false;
        };
        if candidate.eq_ignore_ascii_case(rest) {
            return true;
        }
        from = start;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Flag, Flags, MessageId, UidSet};

    fn row<'a>(uid: u32, flags: &[Flag], headers: &'a str, body: &'a str) -> SearchRow<'a> {
        SearchRow {
            uid,
            email_id: MessageId::new(),
            saved: None,
            modseq: uid as u64 * 10,
            flags: flags.iter().cloned().collect::<Flags>(),
            internal_date: 1000 + uid as i64,
            header_date: Some(500),
            size: uid as u64 * 100,
            search_headers: Some(headers),
            search_body: Some(body),
        }
    }

    #[test]
    fn evaluates_combinations() {
        let a = row(
            1,
            &[Flag::Seen],
            "Subject: Hello World\nFrom: Ann <ann@x.org>",
            "Body ÄÖ",
        );
        let b = row(2, &[], "Subject: other", "nothing");
        let q = |key: SearchKey| {
            let matcher = Matcher::new(&key);
            [&a, &b]
                .into_iter()
                .filter(|r| matcher.matches(r))
                .map(|r| r.uid)
                .collect::<Vec<_>>()
        };
        assert_eq!(q(SearchKey::All), vec![1, 2]);
        assert_eq!(q(SearchKey::Flag(Flag::Seen, false)), vec![2]);
        assert_eq!(
            q(SearchKey::Header("SUBJECT".into(), "hello".into())),
            vec![1]
        );
        assert_eq!(q(SearchKey::Header("from".into(), "".into())), vec![1]);
        assert_eq!(
            q(SearchKey::Header("subject".into(), "ann".into())),
            Vec::<u32>::new()
        );
        assert_eq!(q(SearchKey::Body("äö".into())), vec![1]);
        assert_eq!(q(SearchKey::Text("OTHER".into())), vec![2]);
        assert_eq!(q(SearchKey::Larger(100)), vec![2]);
        assert_eq!(q(SearchKey::Smaller(200)), vec![1]);
        assert_eq!(q(SearchKey::InternalSince(1002)), vec![2]);
        assert_eq!(q(SearchKey::ModSeqAtLeast(20)), vec![2]);
        assert_eq!(
            q(SearchKey::Or(
                Box::new(SearchKey::Uids(UidSet::from_ranges([(2, 2)]))),
                Box::new(SearchKey::Not(Box::new(SearchKey::All)))
            )),
            vec![2]
        );
        assert_eq!(
            q(SearchKey::And(vec![
                SearchKey::All,
                SearchKey::Flag(Flag::Seen, true)
            ])),
            vec![1]
        );
        let body_only = TextNeeded {
            headers: false,
            body: true,
        };
        assert_eq!(
            text_needed(&SearchKey::Not(Box::new(SearchKey::Body("x".into())))),
            body_only
        );
        assert_eq!(
            text_needed(&SearchKey::Or(
                Box::new(SearchKey::Header("subject".into(), "x".into())),
                Box::new(SearchKey::Body("y".into()))
            )),
            TextNeeded {
                headers: true,
                body: true
            }
        );
        assert_eq!(
            text_needed(&SearchKey::And(vec![
                SearchKey::Larger(1),
                SearchKey::Header("from".into(), "".into())
            ])),
            TextNeeded {
                headers: true,
                body: false
            }
        );
        assert_eq!(
            text_needed(&SearchKey::And(vec![SearchKey::Larger(1)])),
            TextNeeded::default()
        );
    }

    #[test]
    fn address_keys_read_the_envelope_form() {
        let headers = "From: <user-from (comment)@ (comment) domain.org>\nTo: a@b.c (Real)\n";
        let found = |name: &str, value: &str| {
            Matcher::new(&SearchKey::Address(name.into(), value.into())).matches(&row(
                1,
                &[],
                headers,
                "",
            ))
        };
        assert!(found("from", "user-from@domain.org"));
        assert!(found("FROM", "USER-FROM@"));
        assert!(found("to", "real"));
        assert!(!found("to", "user-from"));
        assert!(!found("cc", ""));
        assert!(found("to", ""));
    }

    /// The in-place comparisons give what folding the whole text with `to_lowercase` gives,
    /// including the characters whose fold is not one-to-one or depends on context.
    #[test]
    fn text_tests_agree_with_folding_everything() {
        let texts = [
            "",
            "Subject: Hello World\nFrom: Ann <ann@x.org>\n",
            "Subject: ΟΔΟΣ\nsubject: second\n",
            "Subject:ΟΔΟΣ\nX-Temp: 300 \u{212A}elvin\n",
            "To: İstanbul <i@x.tr>\r\nSUBJECT : Straße\r\n",
            "no colon line\nSubject: ascii only\n",
            "Subject: ΑΣ ΑΣx\nFrom: Σ\n",
            "Ünïcode-Field: Second\n",
            "\tsubject : tabbed\n:empty name\r\nSubject: cr at the end\r",
            "\u{b}subject: vertical tab\r\n\r\n",
        ];
        let names = [
            "subject",
            "SUBJECT",
            "from",
            "x-temp",
            "to",
            "Σ",
            "no colon line",
            "ÜNÏCODE-field",
            "",
            ":",
        ];
        let needles = [
            "",
            "hello",
            "WORLD",
            "οδος",
            "οδοσ",
            "ος",
            "ς",
            "σ",
            "kelvin",
            "K",
            "i̇stanbul",
            "istanbul",
            "straße",
            "STRASSE",
            "ασ",
            "ας",
            "second",
            "ann@",
            "o",
            "\n",
            ": s",
            "\r",
            "tab",
        ];
        for text in texts {
            let lowered = text.to_lowercase();
            for needle in needles {
                let folded = needle.to_lowercase();
                assert_eq!(
                    contains_folded(&fold(text), &folded),
                    lowered.contains(&folded),
                    "{text:?} contains {needle:?}"
                );
                for name in names {
                    let expected = lowered.lines().any(|line| {
                        line.split_once(':').is_some_and(|(field, content)| {
                            field.trim() == name.to_lowercase() && content.contains(&folded)
                        })
                    });
                    assert_eq!(
                        header_matches(text, &name.to_lowercase(), &folded),
                        expected,
                        "{text:?} has {name:?} containing {needle:?}"
                    );
                }
            }
        }
    }
}
