//! Conformance checks of SEARCH: the metadata keys, and every engine against a plain whole-text
//! evaluation of generated keys over generated messages.

use super::*;

/// SEARCH over flags, sizes, dates, UIDs and MODSEQ.
pub async fn search_metadata(store: Store) {
    let u = user(&store, "searcher").await;
    let inbox = inbox(&store, &u).await;
    let small = b"Subject: a\r\n\r\nx".to_vec();
    let big = [sample_message(1), vec![b'y'; 500]].concat();
    store
        .append(inbox.id, &small, &flags(&[Flag::Seen]), Some(1000))
        .await
        .unwrap();
    let second = store
        .append(inbox.id, &big, &Flags::new(), Some(5000))
        .await
        .unwrap();
    let q = |key: SearchKey| {
        let store = store.clone();
        async move { store.search(inbox.id, &key).await.unwrap() }
    };
    assert_eq!(q(SearchKey::All).await, vec![1, 2]);
    assert_eq!(q(SearchKey::Flag(Flag::Seen, true)).await, vec![1]);
    assert_eq!(q(SearchKey::Flag(Flag::Seen, false)).await, vec![2]);
    assert_eq!(q(SearchKey::Larger(small.len() as u64)).await, vec![2]);
    assert_eq!(q(SearchKey::Smaller(small.len() as u64 + 1)).await, vec![1]);
    assert_eq!(q(SearchKey::InternalBefore(5000)).await, vec![1]);
    assert_eq!(q(SearchKey::InternalSince(5000)).await, vec![2]);
    assert_eq!(q(SearchKey::ModSeqAtLeast(second.modseq)).await, vec![2]);
    assert_eq!(
        q(SearchKey::Not(Box::new(SearchKey::Uids(
            UidSet::from_ranges([(1, 1)])
        ))))
        .await,
        vec![2]
    );
    assert_eq!(
        store
            .search(MailboxId::new(), &SearchKey::All)
            .await
            .unwrap_err(),
        Error::Mailbox(MailboxError::NotFound)
    );
}

/// SEARCH gives what a plain evaluation of the key gives (whole text lower-cased with
/// `to_lowercase`, every message tested), for many generated keys over a varied mailbox:
/// whatever an engine decides in its own query language has to agree with it.
pub async fn search_agrees_with_plain_evaluation(store: Store) {
    let u = user(&store, "model").await;
    let inbox = inbox(&store, &u).await;
    let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
    let mut messages = Vec::new();
    for n in 0..40u64 {
        let raw = varied_message(&mut rng, n);
        let chosen: Vec<Flag> = stored_flags()
            .into_iter()
            .filter(|_| rng.below(3) == 0)
            .collect();
        let internal_date = 1_000_000 + rng.below(40) as i64 * 86_400;
        let appended = store
            .append(inbox.id, &raw, &flags(&chosen), Some(internal_date))
            .await
            .expect("append");
        let analysis = crate::mime::analyze(&raw);
        let just_stored = UidSet::from_ranges([(appended.uid, appended.uid)]);
        let metas = store
            .fetch_meta(inbox.id, &just_stored, MetaFields::default())
            .await
            .expect("meta");
        messages.push(PlainMessage {
            saved: metas[0].saved,
            uid: appended.uid,
            email_id: appended.id,
            modseq: appended.modseq,
            flags: flags(&chosen),
            internal_date,
            header_date: analysis.header_date,
            size: appended.size,
            headers: analysis.search_headers,
            body: analysis.search_body,
        });
    }
    let ids: Vec<MessageId> = messages.iter().map(|m| m.email_id).collect();
    for _ in 0..400 {
        let key = random_key(&mut rng, 3, &ids);
        let expected: Vec<Uid> = messages
            .iter()
            .filter(|m| m.matches(&key))
            .map(|m| m.uid)
            .collect();
        let found = store.search(inbox.id, &key).await.expect("search");
        assert_eq!(found, expected, "{key:?}");
    }
}

/// Deterministic pseudo-random numbers, so a failing key is the same on every run.
pub(super) struct Xorshift(pub(super) u64);

impl Xorshift {
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    pub(super) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Flags the messages get, each with chance 1/3.
pub(super) fn stored_flags() -> [Flag; 6] {
    [
        Flag::Seen,
        Flag::Answered,
        Flag::Flagged,
        Flag::Deleted,
        Flag::Draft,
        Flag::Keyword("$Work".into()),
    ]
}

/// Flags the keys ask for: keywords differ from stored ones by case alone or are spelled like
/// a system flag (a keyword no message can have).
fn asked_flags() -> Vec<Flag> {
    let mut asked = stored_flags().to_vec();
    asked.extend(["$work", "\\Seen", "later"].map(|k| Flag::Keyword(k.into())));
    asked
}

/// Subjects and bodies with the folds that are not one-to-one: final sigma, the Kelvin sign,
/// dotted capital I, sharp s; encoded words; lines of other fields.
const SUBJECTS: &[&str] = &[
    "Quarterly report",
    "RE: REPORT due",
    "=?utf-8?q?Stra=C3=9Fe_und_Gr=C3=BC=C3=9Fe?=",
    "=?utf-8?b?zp/OlM6fzqMgzqPOkc6j?=",
    "300 =?utf-8?q?=E2=84=AAelvin?=",
    "=?utf-8?q?=C4=B0stanbul?= trip",
    "plain words: with colon",
    "",
];

const FROMS: &[&str] = &[
    "Ann <ann@example.org>",
    "=?utf-8?q?=C5=81ukasz?= <lukasz@example.org>",
    "\"Report Bot\" <bot@reports.example>",
    "<ann (at work)@ (home) example.org>",
];

const BODIES: &[&str] = &[
    "Lorem ipsum report dolor",
    "Grüße aus der Straße, ΟΔΟΣ ΣΑΣ",
    "nothing to see",
    "KELVIN 300\u{212A} and İ",
];

const NEEDLES: &[&str] = &[
    "",
    "report",
    "REPORT",
    "straße",
    "STRASSE",
    "οδος",
    "οδοσ",
    "σας",
    "ς",
    "kelvin",
    "k",
    "i̇stanbul",
    "istanbul",
    "łukasz",
    "ann@",
    "ann@example.org",
    "colon",
    ": with",
    "example",
    "zzz",
];

pub(super) fn varied_message(rng: &mut Xorshift, n: u64) -> Vec<u8> {
    let mut raw = format!("From: {}\r\n", rng.pick(FROMS));
    if rng.below(4) != 0 {
        // Late and early hours in far zones: the day in the zone differs from the UTC day.
        raw.push_str(&format!(
            "Date: {:02} Jan 2024 {} {}\r\n",
            1 + rng.below(28),
            rng.pick(&["00:30:00", "10:00:00", "23:30:00"]),
            rng.pick(&["+0000", "+1400", "-1100", "+0530"])
        ));
    }
    raw.push_str(&format!("Subject: {}\r\n", rng.pick(SUBJECTS)));
    if rng.below(3) == 0 {
        raw.push_str(&format!("X-Tag: {}\r\n", rng.pick(NEEDLES)));
    }
    if rng.below(5) == 0 {
        raw.push_str(&format!("Subject: {}\r\n", rng.pick(SUBJECTS)));
    }
    raw.push_str("Content-Type: text/plain; charset=utf-8\r\n\r\n");
    let body = *rng.pick(BODIES);
    raw.push_str(body);
    raw.push_str(&format!("\r\nmessage {n}\r\n"));
    raw.push_str(&"filler line\r\n".repeat(rng.below(20) as usize));
    raw.into_bytes()
}

/// `ids`: the stored messages' email ids, for EMAILID keys (one in a few names none).
fn random_key(rng: &mut Xorshift, depth: u32, ids: &[MessageId]) -> SearchKey {
    let leaf_only = depth == 0;
    match rng.below(if leaf_only { 15 } else { 19 }) {
        0 => SearchKey::All,
        1 => SearchKey::Uids(UidSet::from_ranges((0..rng.below(4)).map(|_| {
            let first = 1 + rng.below(45) as Uid;
            (first, first + rng.below(8) as Uid)
        }))),
        2 => SearchKey::Flag(rng.pick(&asked_flags()).clone(), rng.below(2) == 0),
        3 => SearchKey::InternalBefore(1_000_000 + rng.below(40) as i64 * 86_400),
        4 => SearchKey::InternalSince(1_000_000 + rng.below(40) as i64 * 86_400),
        5 => SearchKey::HeaderDateBefore(1_704_067_200 + rng.below(30) as i64 * 86_400),
        6 => SearchKey::HeaderDateSince(1_704_067_200 + rng.below(30) as i64 * 86_400),
        7 => SearchKey::Larger(200 + rng.below(300)),
        8 => SearchKey::Smaller(200 + rng.below(300)),
        9 => SearchKey::ModSeqAtLeast(rng.below(45)),
        10 => SearchKey::Header(rng.pick(FIELDS).to_string(), rng.pick(NEEDLES).to_string()),
        11 => SearchKey::Address(rng.pick(FIELDS).to_string(), rng.pick(NEEDLES).to_string()),
        12 => SearchKey::Body(rng.pick(NEEDLES).to_string()),
        13 => SearchKey::Text(rng.pick(NEEDLES).to_string()),
        14 => SearchKey::EmailId(match rng.below(5) {
            0 => MessageId::new(),
            _ => *rng.pick(ids),
        }),
        15 => SearchKey::Not(Box::new(random_key(rng, depth - 1, ids))),
        16 => SearchKey::Or(
            Box::new(random_key(rng, depth - 1, ids)),
            Box::new(random_key(rng, depth - 1, ids)),
        ),
        _ => SearchKey::And(
            (0..rng.below(4))
                .map(|_| random_key(rng, depth - 1, ids))
                .collect(),
        ),
    }
}

/// A message as the plain evaluation sees it: its stored metadata and decoded search text.
struct PlainMessage {
    uid: Uid,
    email_id: MessageId,
    modseq: ModSeq,
    flags: Flags,
    internal_date: Timestamp,
    saved: Option<Timestamp>,
    header_date: Option<Timestamp>,
    size: u64,
    headers: String,
    body: String,
}

impl PlainMessage {
    /// The day written in the Date: line (`varied_message` writes `DD Jan 2024 …`), as the
    /// timestamp of its midnight UTC.
    fn sent_day(&self) -> Option<Timestamp> {
        self.header_date?;
        let line = self.headers.lines().find(|l| l.starts_with("Date: "))?;
        let day: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(1_704_067_200 + (day - 1) * 86_400)
    }

    fn matches(&self, key: &SearchKey) -> bool {
        match key {
            SearchKey::All => true,
            SearchKey::Uids(set) => set.contains(self.uid),
            SearchKey::Flag(flag, present) => self.flags.contains(flag) == *present,
            SearchKey::InternalBefore(t) => self.internal_date < *t,
            SearchKey::InternalSince(t) => self.internal_date >= *t,
            SearchKey::SavedBefore(t) => self.saved.unwrap_or(self.internal_date) < *t,
            SearchKey::SavedSince(t) => self.saved.unwrap_or(self.internal_date) >= *t,
            SearchKey::HeaderDateBefore(t) => self.sent_day().is_some_and(|d| d < *t),
            SearchKey::HeaderDateSince(t) => self.sent_day().is_some_and(|d| d >= *t),
            SearchKey::Larger(n) => self.size > *n,
            SearchKey::Smaller(n) => self.size < *n,
            SearchKey::Header(name, value) => {
                let (name, value) = (name.to_lowercase(), value.to_lowercase());
                self.headers.to_lowercase().lines().any(|line| {
                    line.split_once(':').is_some_and(|(field, content)| {
                        field.trim() == name && content.contains(&value)
                    })
                })
            }
            // The field's text, or the text with comments and the spaces around `@` taken out
            // (the generated addresses have no other difference from their envelope form).
            SearchKey::Address(name, value) => {
                let (name, value) = (name.to_lowercase(), value.to_lowercase());
                self.headers.to_lowercase().lines().any(|line| {
                    line.split_once(':').is_some_and(|(field, content)| {
                        field.trim() == name
                            && (content.contains(&value)
                                || without_comments(content).contains(&value))
                    })
                })
            }
            SearchKey::Body(needle) => self.body.to_lowercase().contains(&needle.to_lowercase()),
            SearchKey::Text(needle) => {
                let needle = needle.to_lowercase();
                self.headers.to_lowercase().contains(&needle)
                    || self.body.to_lowercase().contains(&needle)
            }
            SearchKey::ModSeqAtLeast(m) => self.modseq >= *m,
            SearchKey::EmailId(id) => self.email_id == *id,
            SearchKey::Not(inner) => !self.matches(inner),
            SearchKey::Or(a, b) => self.matches(a) || self.matches(b),
            SearchKey::And(keys) => keys.iter().all(|k| self.matches(k)),
        }
    }
}

/// `text` without its `(comments)` and with no spaces next to an `@`.
fn without_comments(text: &str) -> String {
    let mut depth = 0;
    let bare: String = text
        .chars()
        .filter(|&c| {
            match c {
                '(' => depth += 1,
                ')' if depth > 0 => {
                    depth -= 1;
                    return false;
                }
                _ => {}
            }
            depth == 0
        })
        .collect();
    let parts: Vec<&str> = bare.split('@').map(str::trim).collect();
    parts.join("@").trim().to_string()
}
