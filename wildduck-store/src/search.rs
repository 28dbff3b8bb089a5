//! SEARCH evaluation over stored message metadata and search text (never message content).

use crate::backend::{SearchRow, TextNeeded};
use crate::model::SearchKey;

/// Which decoded text (headers, body) evaluating `key` reads.
pub fn text_needed(key: &SearchKey) -> TextNeeded {
    let either = |a: TextNeeded, b: TextNeeded| TextNeeded {
        headers: a.headers || b.headers,
        body: a.body || b.body,
    };
    match key {
        SearchKey::Header(..) => TextNeeded {
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

/// Whether one message matches `key`.
pub fn matches_row(key: &SearchKey, row: &SearchRow) -> bool {
    matches(key, row, &mut TextCache::default())
}

/// Lower-cased message text, computed on first use.
#[derive(Default)]
struct TextCache {
    headers: Option<String>,
    body: Option<String>,
}

impl TextCache {
    fn headers(&mut self, row: &SearchRow) -> &str {
        self.headers
            .get_or_insert_with(|| row.search_headers.as_deref().unwrap_or("").to_lowercase())
    }

    fn body(&mut self, row: &SearchRow) -> &str {
        self.body
            .get_or_insert_with(|| row.search_body.as_deref().unwrap_or("").to_lowercase())
    }
}

fn matches(key: &SearchKey, row: &SearchRow, text: &mut TextCache) -> bool {
    match key {
        SearchKey::All => true,
        SearchKey::Uids(set) => set.contains(row.uid),
        SearchKey::Flag(flag, present) => row.flags.contains(flag) == *present,
        SearchKey::InternalBefore(t) => row.internal_date < *t,
        SearchKey::InternalSince(t) => row.internal_date >= *t,
        SearchKey::HeaderDateBefore(t) => row.header_date.is_some_and(|d| d < *t),
        SearchKey::HeaderDateSince(t) => row.header_date.is_some_and(|d| d >= *t),
        SearchKey::Larger(n) => row.size > *n,
        SearchKey::Smaller(n) => row.size < *n,
        SearchKey::Header(name, value) => header_matches(text.headers(row), name, value),
        SearchKey::Body(needle) => text.body(row).contains(&needle.to_lowercase()),
        SearchKey::Text(needle) => {
            let needle = needle.to_lowercase();
            text.headers(row).contains(&needle) || text.body(row).contains(&needle)
        }
        SearchKey::ModSeqAtLeast(m) => row.modseq >= *m,
        SearchKey::Not(inner) => !matches(inner, row, text),
        SearchKey::Or(a, b) => matches(a, row, text) || matches(b, row, text),
        SearchKey::And(keys) => keys.iter().all(|k| matches(k, row, text)),
    }
}

/// `headers` is lower-cased `name: value` lines; an empty value asks whether the field exists.
fn header_matches(headers: &str, name: &str, value: &str) -> bool {
    let name = name.to_lowercase();
    let value = value.to_lowercase();
    headers.lines().any(|line| {
        line.split_once(':').is_some_and(|(field, content)| {
            field.trim() == name && content.contains(value.as_str())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Flag, Flags, UidSet};

    fn row(uid: u32, flags: &[Flag], headers: &str, body: &str) -> SearchRow {
        SearchRow {
            uid,
            modseq: uid as u64 * 10,
            flags: flags.iter().cloned().collect::<Flags>(),
            internal_date: 1000 + uid as i64,
            header_date: Some(500),
            size: uid as u64 * 100,
            search_headers: Some(headers.into()),
            search_body: Some(body.into()),
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
            [&a, &b]
                .into_iter()
                .filter(|r| matches_row(&key, r))
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
}
