//! SEARCH on SQLite. The metadata part of a key (UIDs, flags, dates, sizes, MODSEQ) becomes
//! an SQL condition, so SQLite skips the messages it rules out; a key made only of such parts
//! is answered by SQL alone from the `messages_meta` index. Text keys are decided by the
//! matcher on the rows SQL lets through, reading their text columns in place.

use rusqlite::params_from_iter;
use rusqlite::types::Value;

use super::*;
use crate::search::{MAX_ZONE_OFFSET, Matcher, reads_metadata, text_needed};

/// Most UID ranges a condition spells out in SQL; a longer set is left to the matcher.
const MAX_SQL_UID_RANGES: usize = 32;

/// A key as a condition on `messages` columns. `exact`: the condition decides the key by
/// itself. Otherwise it holds for every message the key matches (and maybe others).
struct Condition {
    sql: String,
    exact: bool,
}

impl Condition {
    fn exact(sql: String) -> Self {
        Self { sql, exact: true }
    }
}

/// The SQL condition for `key`, its values appended to `params` (numbered after those already
/// there); `None` when no condition narrows it (the matcher alone decides).
fn condition(key: &SearchKey, params: &mut Vec<Value>) -> Option<Condition> {
    let mut bind = |value: i64| {
        params.push(Value::Integer(value));
        format!("?{}", params.len())
    };
    // Values past i64::MAX compare as i64::MAX: no stored size or MODSEQ reaches it.
    let clamped = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let sql = match key {
        SearchKey::All => "1".to_string(),
        SearchKey::Uids(set) if set.ranges().len() <= MAX_SQL_UID_RANGES => {
            if set.is_empty() {
                "0".to_string()
            } else {
                let ranges: Vec<String> = set
                    .ranges()
                    .iter()
                    .map(|&(first, last)| {
                        let first = bind(i64::from(first));
                        format!("uid BETWEEN {first} AND {}", bind(i64::from(last)))
                    })
                    .collect();
                format!("({})", ranges.join(" OR "))
            }
        }
        SearchKey::Flag(flag, present) => {
            let token = flag_token(flag)?;
            params.push(Value::Text(format!(" {token} ")));
            let found = format!("instr(' ' || flags || ' ', ?{}) > 0", params.len());
            if *present {
                found
            } else {
                format!("NOT {found}")
            }
        }
        SearchKey::InternalBefore(t) => format!("idate < {}", bind(*t)),
        SearchKey::InternalSince(t) => format!("idate >= {}", bind(*t)),
        SearchKey::SavedBefore(t) => format!("coalesce(saved, idate) < {}", bind(*t)),
        SearchKey::SavedSince(t) => format!("coalesce(saved, idate) >= {}", bind(*t)),
        // The Date: field's own calendar day is read from its text by the matcher; the UTC
        // instant is within a zone offset of it, so SQL rules out what is further away.
        SearchKey::HeaderDateBefore(day) => {
            let bound = bind(day.saturating_add(MAX_ZONE_OFFSET));
            return Some(Condition {
                sql: format!("(hdate IS NOT NULL AND hdate < {bound})"),
                exact: false,
            });
        }
        SearchKey::HeaderDateSince(day) => {
            let bound = bind(day.saturating_sub(MAX_ZONE_OFFSET));
            return Some(Condition {
                sql: format!("(hdate IS NOT NULL AND hdate >= {bound})"),
                exact: false,
            });
        }
        SearchKey::Larger(n) => format!("size > {}", bind(clamped(*n))),
        SearchKey::Smaller(n) => format!("size < {}", bind(clamped(*n))),
        SearchKey::ModSeqAtLeast(m) => format!("modseq >= {}", bind(clamped(*m))),
        SearchKey::EmailId(id) => {
            params.push(Value::Blob(id_bytes(id.0).to_vec()));
            format!("coalesce(email_id, id) = ?{}", params.len())
        }
        SearchKey::Not(inner) => {
            let mark = params.len();
            match condition(inner, params) {
                Some(inner) if inner.exact => format!("NOT ({})", inner.sql),
                // The negation of a superset is no superset.
                _ => {
                    params.truncate(mark);
                    return None;
                }
            }
        }
        SearchKey::Or(a, b) => {
            let mark = params.len();
            match (condition(a, params), condition(b, params)) {
                (Some(a), Some(b)) => {
                    return Some(Condition {
                        sql: format!("({} OR {})", a.sql, b.sql),
                        exact: a.exact && b.exact,
                    });
                }
                // One side unconstrained: so is the OR.
                _ => {
                    params.truncate(mark);
                    return None;
                }
            }
        }
        SearchKey::And(keys) => {
            let parts: Vec<Option<Condition>> = keys.iter().map(|k| condition(k, params)).collect();
            let exact = parts.iter().all(|p| p.as_ref().is_some_and(|p| p.exact));
            let known: Vec<String> = parts.into_iter().flatten().map(|p| p.sql).collect();
            if known.is_empty() && !keys.is_empty() {
                return None;
            }
            let sql = if known.is_empty() {
                "1".to_string()
            } else {
                format!("({})", known.join(" AND "))
            };
            return Some(Condition { sql, exact });
        }
        SearchKey::Uids(_)
        | SearchKey::Header(..)
        | SearchKey::Address(..)
        | SearchKey::Body(_)
        | SearchKey::Text(_) => {
            return None;
        }
    };
    Some(Condition::exact(sql))
}

/// How `flag` is written in the `flags` column, when a token test there is exactly
/// `Flags::contains`: stored flags are written by `flags_to_text` and read back by
/// `Flag::parse`, so a flag that does not survive that round trip (a keyword spelled like a
/// system flag, an empty one, one with a space) is left to the matcher.
fn flag_token(flag: &Flag) -> Option<String> {
    let token = flag.to_string();
    (!token.is_empty() && !token.contains(' ') && Flag::parse(&token) == *flag).then_some(token)
}

/// The query answering `key` for the mailbox bound to `?1`, its further values appended to
/// `params`, and whether its rows are the answer (otherwise the matcher tests each row it
/// returns, with the columns the matcher reads).
pub(super) fn search_query(key: &SearchKey, params: &mut Vec<Value>) -> (String, bool) {
    let condition = condition(key, params);
    let exact = condition.as_ref().is_some_and(|c| c.exact);
    let columns = if exact {
        "uid".to_string()
    } else {
        let text = text_needed(key);
        format!(
            "uid, {}, {}, {}",
            if text.headers {
                "search_headers"
            } else {
                "NULL"
            },
            if text.body { "search_body" } else { "NULL" },
            // Without the metadata a header search is covered by `messages_search_headers`.
            if reads_metadata(key) {
                "modseq, flags, idate, hdate, size, coalesce(email_id, id), saved"
            } else {
                "0, '', 0, NULL, 0, zeroblob(12), NULL"
            }
        )
    };
    let filter = condition.map_or(String::new(), |c| format!(" AND {}", c.sql));
    let sql = format!("SELECT {columns} FROM messages WHERE mailbox = ?1{filter} ORDER BY uid");
    (sql, exact)
}

/// UIDs of the messages of `mailbox` matching `key`, ascending.
pub(super) fn search(tx: &Connection, mailbox: MailboxId, key: &SearchKey) -> TxResult<Vec<Uid>> {
    get_mailbox(tx, mailbox)?;
    let mut params = vec![Value::Blob(id_bytes(mailbox.0).to_vec())];
    let (sql, exact) = search_query(key, &mut params);
    let matcher = (!exact).then(|| Matcher::new(key));
    let mut stmt = tx.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(params))?;
    let mut found = Vec::new();
    while let Some(r) = rows.next()? {
        let uid: Uid = r.get(0)?;
        let Some(matcher) = &matcher else {
            found.push(uid);
            continue;
        };
        // A key that reads no metadata got placeholders for it (see `search_query`).
        let row = SearchRow {
            uid,
            search_headers: text_at(r, 1)?,
            search_body: text_at(r, 2)?,
            modseq: r.get::<_, i64>(3)? as u64,
            flags: flags_at(r, 4)?,
            internal_date: r.get(5)?,
            header_date: r.get(6)?,
            size: r.get::<_, i64>(7)? as u64,
            email_id: MessageId(record_id(r, 8)?),
            saved: r.get(9)?,
        };
        if matcher.matches(&row) {
            found.push(uid);
        }
    }
    Ok(found)
}

/// A text column borrowed from the row (NULL when the query left it out).
fn text_at<'r>(row: &'r Row, idx: usize) -> rusqlite::Result<Option<&'r str>> {
    Ok(row.get_ref(idx)?.as_str_or_null()?)
}
