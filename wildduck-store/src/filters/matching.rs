//! Whether a message matches a filter's query, by WildDuck's rules (`checkFilter`): header
//! values decoded and compared as lower-case substrings, Cc: and Delivered-To: counted as To:,
//! Sender: as From:; the text query over the decoded body text with runs of whitespace as one
//! space; attachments and size as the webmail counts them.

use super::FilterQuery;
use crate::mime::header::HeaderFields;
use crate::mime::parsed::parse_message;
use crate::mime::split;
use crate::mime::text::decode_header_value;

/// What the queries read of one message, computed once for all of a user's filters.
pub(crate) struct MessageFacts {
    /// `(lower-case name, lower-case decoded value)` of every header field, in order.
    headers: Vec<(String, String)>,
    size: u64,
    /// Only when some query reads the body.
    body: Option<BodyFacts>,
}

struct BodyFacts {
    /// Lower case, whitespace runs as one space.
    text: String,
    has_attachment: bool,
}

impl MessageFacts {
    /// Reads `raw`; the body (text, attachments) only when `with_body`.
    pub(crate) fn new(raw: &[u8], with_body: bool) -> MessageFacts {
        let headers = HeaderFields::new(raw)
            .map(|field| {
                (
                    String::from_utf8_lossy(field.name).to_lowercase(),
                    decode_header_value(field.value).to_lowercase(),
                )
            })
            .collect();
        let body = with_body.then(|| {
            let parsed = parse_message(raw, &split(raw));
            BodyFacts {
                text: normalized(&parsed.text),
                has_attachment: !parsed.attachments.is_empty(),
            }
        });
        MessageFacts {
            headers,
            size: raw.len() as u64,
            body,
        }
    }

    /// The first value of header `name` (lower-case), decoded and lower-cased.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub(crate) fn has_header_starting(&self, prefix: &str) -> bool {
        self.headers.iter().any(|(key, _)| key.starts_with(prefix))
    }
}

/// Whether any of `queries` reads the body, so [`MessageFacts`] must parse it.
pub(crate) fn needs_body<'a>(mut queries: impl Iterator<Item = &'a FilterQuery>) -> bool {
    queries.any(|query| query.text.is_some() || query.has_attachment.is_some())
}

/// Whether the message matches every part of `query`.
pub(crate) fn matches(query: &FilterQuery, facts: &MessageFacts) -> bool {
    headers_match(query, facts) && body_matches(query, facts) && size_matches(query, facts)
}

fn headers_match(query: &FilterQuery, facts: &MessageFacts) -> bool {
    let wanted = [
        ("from", query.from.as_deref()),
        ("to", query.to.as_deref()),
        ("subject", query.subject.as_deref()),
        ("list-id", query.list_id.as_deref().map(list_id_part)),
    ];
    wanted.iter().all(|&(key, needle)| {
        let Some(needle) = needle else {
            return true;
        };
        let needle = needle.to_lowercase();
        facts.headers.iter().any(|(name, value)| {
            let counts_as = match name.as_str() {
                "cc" | "delivered-to" => "to",
                "sender" => "from",
                other => other,
            };
            counts_as == key && value.contains(&needle)
        })
    })
}

/// For a List-ID given with its angle brackets, only the id between them (as WildDuck).
fn list_id_part(value: &str) -> &str {
    value
        .split_once('<')
        .map(|(_, rest)| rest.split('>').next().unwrap_or(rest).trim())
        .filter(|id| !id.is_empty())
        .unwrap_or(value)
}

fn body_matches(query: &FilterQuery, facts: &MessageFacts) -> bool {
    if query.text.is_none() && query.has_attachment.is_none() {
        return true;
    }
    let Some(body) = &facts.body else {
        // The caller did not read the body for a query that needs it: never a match.
        debug_assert!(false, "facts without a body for a body query");
        return false;
    };
    if query
        .has_attachment
        .is_some_and(|wanted| wanted != body.has_attachment)
    {
        return false;
    }
    query
        .text
        .as_deref()
        .is_none_or(|text| TextQuery::parse(text).matches(&body.text))
}

fn size_matches(query: &FilterQuery, facts: &MessageFacts) -> bool {
    match query.size {
        Some(size) if size > 0 => facts.size >= size.unsigned_abs(),
        Some(size) if size < 0 => facts.size <= size.unsigned_abs(),
        _ => true,
    }
}

fn normalized(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// WildDuck's filter text query (`parseFilterQueryText`): "quoted phrases" are matched as
/// they are; without ` OR ` every word must occur (spaces and commas separate words); with
/// ` OR ` (upper case) one of the alternatives must, an alternative of several words needing
/// all of them.
#[derive(Debug, PartialEq, Eq)]
struct TextQuery {
    all: Vec<Term>,
    any: Vec<Term>,
}

/// Lower-case words that must all occur.
#[derive(Debug, PartialEq, Eq)]
struct Term(Vec<String>);

impl TextQuery {
    fn parse(query: &str) -> TextQuery {
        let mut phrases = Vec::new();
        let mut words = String::new();
        for (index, piece) in query.trim().split('"').enumerate() {
            // Odd pieces sit between quotes (an unclosed quote is taken as closed at the end).
            if index % 2 == 1 && !piece.trim().is_empty() {
                words.push_str(&format!(" \u{0}{} ", phrases.len()));
                phrases.push(piece.trim().to_lowercase());
            } else if index % 2 == 0 {
                words.push_str(piece);
            }
        }
        let term = |text: &str| {
            Term(
                text.split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|word| !word.is_empty())
                    .map(|word| match word.strip_prefix('\u{0}') {
                        Some(index) => index
                            .parse::<usize>()
                            .ok()
                            .and_then(|index| phrases.get(index).cloned())
                            .unwrap_or_default(),
                        None => word.to_lowercase(),
                    })
                    .collect(),
            )
        };
        let alternatives: Vec<&str> = split_or(&words);
        if alternatives.len() > 1 {
            TextQuery {
                all: Vec::new(),
                any: alternatives
                    .into_iter()
                    .map(term)
                    .filter(|t| !t.0.is_empty())
                    .collect(),
            }
        } else {
            TextQuery {
                all: term(&words).0.into_iter().map(|w| Term(vec![w])).collect(),
                any: Vec::new(),
            }
        }
    }

    fn matches(&self, text: &str) -> bool {
        let found = |term: &Term| term.0.iter().all(|word| text.contains(word.as_str()));
        self.all.iter().all(found) && (self.any.is_empty() || self.any.iter().any(found))
    }
}

/// `text` cut at each `OR` that stands alone between whitespace.
fn split_or(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut search = 0;
    while let Some(at) = text[search..].find("OR").map(|i| i + search) {
        let before = text[..at].chars().next_back();
        let after = text[at + 2..].chars().next();
        if before.is_some_and(char::is_whitespace) && after.is_some_and(char::is_whitespace) {
            parts.push(&text[start..at]);
            start = at + 2;
        }
        search = at + 2;
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &[u8] = b"Delivered-To: ann+box@example.com\r\n\
From: =?utf-8?q?J=C3=BCri?= <juri@Sender.example>\r\n\
To: someone@example.org\r\n\
Cc: Team <team@lists.example>\r\n\
Subject: Weekly   REPORT\r\n\
List-ID: Weekly news <weekly.lists.example>\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain\r\n\
\r\n\
The deadline is near,\r\n  the meeting\tstandup is at noon.\r\n\
--b\r\n\
Content-Type: application/pdf\r\n\
Content-Disposition: attachment; filename=r.pdf\r\n\
\r\n\
%PDF\r\n\
--b--\r\n";

    fn query() -> FilterQuery {
        FilterQuery::default()
    }

    #[test]
    fn each_query_part_matches_as_wildduck_matches_it() {
        let facts = MessageFacts::new(MESSAGE, true);
        let size = MESSAGE.len() as i64;
        let rows: Vec<(&str, FilterQuery, bool)> = vec![
            ("empty query", query(), true),
            (
                "from, decoded, any case",
                FilterQuery {
                    from: Some("JÜRI".into()),
                    ..query()
                },
                true,
            ),
            (
                "from domain",
                FilterQuery {
                    from: Some("sender.example".into()),
                    ..query()
                },
                true,
            ),
            (
                "from elsewhere",
                FilterQuery {
                    from: Some("someone".into()),
                    ..query()
                },
                false,
            ),
            (
                "to",
                FilterQuery {
                    to: Some("someone@".into()),
                    ..query()
                },
                true,
            ),
            (
                "to via cc",
                FilterQuery {
                    to: Some("team@lists".into()),
                    ..query()
                },
                true,
            ),
            (
                "to via delivered-to",
                FilterQuery {
                    to: Some("ann+box".into()),
                    ..query()
                },
                true,
            ),
            (
                "subject",
                FilterQuery {
                    subject: Some("weekly".into()),
                    ..query()
                },
                true,
            ),
            (
                "subject absent",
                FilterQuery {
                    subject: Some("monthly".into()),
                    ..query()
                },
                false,
            ),
            (
                "list id",
                FilterQuery {
                    list_id: Some("weekly.lists".into()),
                    ..query()
                },
                true,
            ),
            (
                "list id in brackets",
                FilterQuery {
                    list_id: Some("Other <weekly.lists.example>".into()),
                    ..query()
                },
                true,
            ),
            (
                "all headers must match",
                FilterQuery {
                    from: Some("juri".into()),
                    subject: Some("monthly".into()),
                    ..query()
                },
                false,
            ),
            (
                "text words",
                FilterQuery {
                    text: Some("deadline noon".into()),
                    ..query()
                },
                true,
            ),
            (
                "text commas",
                FilterQuery {
                    text: Some("deadline,absent".into()),
                    ..query()
                },
                false,
            ),
            (
                "text OR",
                FilterQuery {
                    text: Some("urgent OR standup".into()),
                    ..query()
                },
                true,
            ),
            (
                "text OR none",
                FilterQuery {
                    text: Some("urgent OR later".into()),
                    ..query()
                },
                false,
            ),
            (
                "phrase across folded whitespace",
                FilterQuery {
                    text: Some("\"meeting standup\"".into()),
                    ..query()
                },
                true,
            ),
            (
                "phrase in order only",
                FilterQuery {
                    text: Some("\"standup meeting\"".into()),
                    ..query()
                },
                false,
            ),
            (
                "has attachment",
                FilterQuery {
                    has_attachment: Some(true),
                    ..query()
                },
                true,
            ),
            (
                "has none",
                FilterQuery {
                    has_attachment: Some(false),
                    ..query()
                },
                false,
            ),
            (
                "larger than",
                FilterQuery {
                    size: Some(size - 1),
                    ..query()
                },
                true,
            ),
            (
                "larger than itself",
                FilterQuery {
                    size: Some(size + 1),
                    ..query()
                },
                false,
            ),
            (
                "smaller than",
                FilterQuery {
                    size: Some(-(size + 1)),
                    ..query()
                },
                true,
            ),
            (
                "smaller than itself",
                FilterQuery {
                    size: Some(-(size - 1)),
                    ..query()
                },
                false,
            ),
        ];
        for (what, query, expected) in rows {
            assert_eq!(matches(&query, &facts), expected, "{what}");
        }
    }

    #[test]
    fn text_queries_parse_as_wildduck_parses_them() {
        let words = |w: &[&str]| Term(w.iter().map(|s| s.to_string()).collect());
        assert_eq!(
            TextQuery::parse("urgent,immediate OR deadline OR meeting standup"),
            TextQuery {
                all: vec![],
                any: vec![
                    words(&["urgent", "immediate"]),
                    words(&["deadline"]),
                    words(&["meeting", "standup"])
                ],
            }
        );
        assert_eq!(
            TextQuery::parse("Big \"Exact Phrase\" or"),
            TextQuery {
                all: vec![words(&["big"]), words(&["exact phrase"]), words(&["or"])],
                any: vec![],
            }
        );
        // `OR` inside a word is no operator.
        assert_eq!(split_or("ORDER FOR ORb"), vec!["ORDER FOR ORb"]);
    }

    #[test]
    fn a_message_without_attachments_matches_has_none() {
        let facts = MessageFacts::new(b"Subject: x\r\n\r\nplain\r\n", true);
        let wanted = |has| FilterQuery {
            has_attachment: Some(has),
            ..FilterQuery::default()
        };
        assert!(matches(&wanted(false), &facts));
        assert!(!matches(&wanted(true), &facts));
    }
}
