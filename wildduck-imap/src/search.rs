//! Sequence sets → UIDs via the session's sequence map, and IMAP SEARCH keys → the store's
//! [`SearchKey`]. Dates are whole UTC days, as RFC 3501 compares them.

use std::collections::BTreeSet;

use chrono::Datelike;
use imap_codec::imap_types::datetime::NaiveDate;
use imap_codec::imap_types::search::SearchKey as ImapKey;
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use wildduck_store::{Flag, SearchKey, Timestamp, Uid, UidSet};

use crate::objectid::{EMAILID_FIELD, SAVEDATE_FIELD};

const SECONDS_PER_DAY: i64 = 86_400;
/// `NaiveDate::num_days_from_ce` of 1970-01-01.
const EPOCH_DAYS_FROM_CE: i64 = 719_163;

/// The UIDs (ascending) of `map` that a sequence set names. In sequence mode a number past the
/// end is an error when `strict`; in UID mode only UIDs present in the map count.
pub fn resolve(
    set: &SequenceSet,
    map: &[Uid],
    uid_mode: bool,
    strict: bool,
) -> Result<Vec<Uid>, String> {
    let mut picked: Vec<Uid> = Vec::new();
    let last_value = |value: &SeqOrUid| -> u32 {
        match value {
            SeqOrUid::Value(n) => n.get(),
            SeqOrUid::Asterisk if uid_mode => map.last().copied().unwrap_or(0),
            SeqOrUid::Asterisk => map.len() as u32,
        }
    };
    for sequence in set.0.as_ref() {
        let (a, b) = match sequence {
            Sequence::Single(v) => (last_value(v), last_value(v)),
            Sequence::Range(x, y) => (last_value(x), last_value(y)),
        };
        let (low, high) = (a.min(b), a.max(b));
        if uid_mode {
            let start = map.partition_point(|&uid| uid < low);
            let end = map.partition_point(|&uid| uid <= high);
            picked.extend_from_slice(&map[start..end]);
        } else {
            // An empty mailbox answers `1:*` with nothing rather than an error.
            if strict && !map.is_empty() && high as usize > map.len() {
                return Err("Invalid message sequence number".to_string());
            }
            let low = (low.max(1) as usize).min(map.len() + 1);
            let high = (high as usize).min(map.len());
            if low <= high {
                picked.extend_from_slice(&map[low - 1..high]);
            }
        }
    }
    picked.sort_unstable();
    picked.dedup();
    Ok(picked)
}

fn day_start(date: &NaiveDate) -> Timestamp {
    (i64::from(date.as_ref().num_days_from_ce()) - EPOCH_DAYS_FROM_CE) * SECONDS_PER_DAY
}

/// SAVEDBEFORE/SAVEDON/SAVEDSINCE, as `objectid` wrote them: the internal-date key of the
/// same date after the SAVEDATE marker.
fn saved_date_key(date: &ImapKey<'_>) -> Result<SearchKey, String> {
    Ok(match date {
        ImapKey::Before(date) => SearchKey::SavedBefore(day_start(date)),
        ImapKey::Since(date) => SearchKey::SavedSince(day_start(date)),
        ImapKey::On(date) => on_day(SearchKey::SavedSince, SearchKey::SavedBefore, date),
        _ => return Err("A SAVEDATE search key takes a date".into()),
    })
}

fn text(value: &impl AsRef<[u8]>) -> String {
    String::from_utf8_lossy(value.as_ref()).into_owned()
}

fn header(name: &str, value: &impl AsRef<[u8]>) -> SearchKey {
    SearchKey::Header(name.to_string(), text(value))
}

/// FROM/TO/CC/BCC search the envelope's addresses (RFC 3501 §6.4.4), not just the field text.
fn address(name: &str, value: &impl AsRef<[u8]>) -> SearchKey {
    SearchKey::Address(name.to_string(), text(value))
}

fn on_day(
    since: fn(Timestamp) -> SearchKey,
    before: fn(Timestamp) -> SearchKey,
    date: &NaiveDate,
) -> SearchKey {
    let start = day_start(date);
    SearchKey::And(vec![since(start), before(start + SECONDS_PER_DAY)])
}

/// What SEARCH keys about the session mean: its sequence map (UIDs in sequence order), its
/// \Recent messages and its saved search result (`$`, RFC 5182); the last two only with a
/// mailbox selected.
#[derive(Clone, Copy, Default)]
pub struct SessionView<'a> {
    pub uids: &'a [Uid],
    pub recent: Option<&'a BTreeSet<Uid>>,
    pub saved: Option<&'a [Uid]>,
}

impl SessionView<'_> {
    fn recent(&self) -> SearchKey {
        SearchKey::Uids(self.recent.into_iter().flatten().copied().collect())
    }
}

/// Converts one SEARCH key; sequence sets and \Recent are resolved against `view` now.
pub fn to_store_key(key: &ImapKey<'_>, view: SessionView<'_>) -> Result<SearchKey, String> {
    let map = view.uids;
    Ok(match key {
        ImapKey::And(keys) => match keys.as_ref() {
            [ImapKey::Header(name, _), date] if name.as_ref() == SAVEDATE_FIELD.as_bytes() => {
                saved_date_key(date)?
            }
            keys => SearchKey::And(
                keys.iter()
                    .map(|k| to_store_key(k, view))
                    .collect::<Result<_, _>>()?,
            ),
        },
        ImapKey::SequenceSet(set) => {
            SearchKey::Uids(resolve(set, map, false, false)?.into_iter().collect())
        }
        ImapKey::Uid(set) => SearchKey::Uids(
            resolve(set, map, true, false)?
                .into_iter()
                .collect::<UidSet>(),
        ),
        ImapKey::All => SearchKey::All,
        ImapKey::Recent => view.recent(),
        ImapKey::Old => SearchKey::Not(Box::new(view.recent())),
        ImapKey::New => SearchKey::And(vec![view.recent(), SearchKey::Flag(Flag::Seen, false)]),
        ImapKey::Answered => SearchKey::Flag(Flag::Answered, true),
        ImapKey::Deleted => SearchKey::Flag(Flag::Deleted, true),
        ImapKey::Draft => SearchKey::Flag(Flag::Draft, true),
        ImapKey::Flagged => SearchKey::Flag(Flag::Flagged, true),
        ImapKey::Seen => SearchKey::Flag(Flag::Seen, true),
        ImapKey::Unanswered => SearchKey::Flag(Flag::Answered, false),
        ImapKey::Undeleted => SearchKey::Flag(Flag::Deleted, false),
        ImapKey::Undraft => SearchKey::Flag(Flag::Draft, false),
        ImapKey::Unflagged => SearchKey::Flag(Flag::Flagged, false),
        ImapKey::Unseen => SearchKey::Flag(Flag::Seen, false),
        ImapKey::Keyword(atom) => SearchKey::Flag(Flag::Keyword(atom.inner().to_string()), true),
        ImapKey::Unkeyword(atom) => SearchKey::Flag(Flag::Keyword(atom.inner().to_string()), false),
        ImapKey::Before(date) => SearchKey::InternalBefore(day_start(date)),
        ImapKey::Since(date) => SearchKey::InternalSince(day_start(date)),
        ImapKey::On(date) => on_day(SearchKey::InternalSince, SearchKey::InternalBefore, date),
        ImapKey::SentBefore(date) => SearchKey::HeaderDateBefore(day_start(date)),
        ImapKey::SentSince(date) => SearchKey::HeaderDateSince(day_start(date)),
        ImapKey::SentOn(date) => on_day(
            SearchKey::HeaderDateSince,
            SearchKey::HeaderDateBefore,
            date,
        ),
        ImapKey::Bcc(v) => address("Bcc", v),
        ImapKey::Cc(v) => address("Cc", v),
        ImapKey::From(v) => address("From", v),
        ImapKey::To(v) => address("To", v),
        ImapKey::Subject(v) => header("Subject", v),
        ImapKey::Header(name, v) if name.as_ref() == EMAILID_FIELD.as_bytes() => {
            // An id that is not one of ours names no message.
            match text(v).parse() {
                Ok(id) => SearchKey::EmailId(id),
                Err(_) => SearchKey::Not(Box::new(SearchKey::All)),
            }
        }
        ImapKey::Header(name, v) => SearchKey::Header(text(name), text(v)),
        ImapKey::Body(v) => SearchKey::Body(text(v)),
        ImapKey::Text(v) => SearchKey::Text(text(v)),
        ImapKey::Larger(n) => SearchKey::Larger(u64::from(*n)),
        ImapKey::Smaller(n) => SearchKey::Smaller(u64::from(*n)),
        ImapKey::Not(inner) => SearchKey::Not(Box::new(to_store_key(inner, view)?)),
        ImapKey::Or(a, b) => SearchKey::Or(
            Box::new(to_store_key(a, view)?),
            Box::new(to_store_key(b, view)?),
        ),
        ImapKey::ModSequence { modseq, .. } => SearchKey::ModSeqAtLeast(*modseq),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use imap_codec::CommandCodec;
    use imap_codec::decode::Decoder;
    use imap_codec::imap_types::command::CommandBody;

    fn set(text: &str) -> SequenceSet {
        SequenceSet::try_from(text).expect("valid sequence set in test")
    }

    #[test]
    fn sequence_numbers_map_to_uids() {
        let map = [3, 7, 9, 20];
        assert_eq!(
            resolve(&set("1:*"), &map, false, true),
            Ok(vec![3, 7, 9, 20])
        );
        assert_eq!(resolve(&set("2,4"), &map, false, true), Ok(vec![7, 20]));
        assert_eq!(resolve(&set("*:3"), &map, false, true), Ok(vec![9, 20]));
        assert!(resolve(&set("5"), &map, false, true).is_err());
        assert_eq!(resolve(&set("5"), &map, false, false), Ok(vec![]));
        assert_eq!(resolve(&set("1:*"), &[], false, true), Ok(vec![]));
    }

    #[test]
    fn uid_sets_keep_only_known_uids() {
        let map = [3, 7, 9, 20];
        assert_eq!(resolve(&set("4:9"), &map, true, true), Ok(vec![7, 9]));
        assert_eq!(resolve(&set("21:*"), &map, true, true), Ok(vec![20]));
        assert_eq!(resolve(&set("100"), &map, true, true), Ok(vec![]));
    }

    fn search_of(line: &[u8]) -> SearchKey {
        let recent: BTreeSet<Uid> = [11, 12].into_iter().collect();
        let (_, command) = CommandCodec::default()
            .decode(line)
            .expect("test command parses");
        match command.body {
            CommandBody::Search { criteria, .. } => {
                let keys: Vec<SearchKey> = criteria
                    .as_ref()
                    .iter()
                    .map(|k| {
                        to_store_key(
                            k,
                            SessionView {
                                uids: &[10, 11, 12],
                                recent: Some(&recent),
                                saved: None,
                            },
                        )
                    })
                    .collect::<Result<_, _>>()
                    .expect("converts");
                SearchKey::And(keys)
            }
            other => panic!("not a search: {other:?}"),
        }
    }

    #[test]
    fn search_keys_convert_with_dates_as_days() {
        assert_eq!(
            search_of(b"a SEARCH ON 2-Jan-2023 NOT OR SEEN KEYWORD $x 2:3\r\n"),
            SearchKey::And(vec![
                SearchKey::And(vec![
                    SearchKey::InternalSince(1_672_617_600),
                    SearchKey::InternalBefore(1_672_704_000)
                ]),
                SearchKey::Not(Box::new(SearchKey::Or(
                    Box::new(SearchKey::Flag(Flag::Seen, true)),
                    Box::new(SearchKey::Flag(Flag::Keyword("$x".into()), true))
                ))),
                SearchKey::Uids(UidSet::from_ranges([(11, 12)])),
            ])
        );
        assert_eq!(
            search_of(b"a SEARCH NEW OLD\r\n"),
            SearchKey::And(vec![
                SearchKey::And(vec![
                    SearchKey::Uids(UidSet::from_ranges([(11, 12)])),
                    SearchKey::Flag(Flag::Seen, false)
                ]),
                SearchKey::Not(Box::new(SearchKey::Uids(UidSet::from_ranges([(11, 12)])))),
            ])
        );
        assert_eq!(
            search_of(b"a SEARCH FROM alice HEADER X-Spam yes\r\n"),
            SearchKey::And(vec![
                SearchKey::Address("From".into(), "alice".into()),
                SearchKey::Header("X-Spam".into(), "yes".into()),
            ])
        );
    }
}
