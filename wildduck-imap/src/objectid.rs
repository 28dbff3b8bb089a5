//! The syntax of OBJECTID (RFC 8474) and SAVEDATE (RFC 8514) that imap-codec does not parse,
//! rewritten away before it reads the command (as `esearch` does for its own): the FETCH items
//! EMAILID, THREADID and SAVEDATE are taken out of the item list and kept here; the SEARCH key
//! `EMAILID id` becomes a HEADER key on [`EMAILID_FIELD`], `SAVEDBEFORE date` (SAVEDON,
//! SAVEDSINCE) the list `(HEADER SAVEDATE: "" BEFORE date)` (ON, SINCE) and
//! SAVEDATESUPPORTED `ALL` (every mailbox keeps save dates), which `search::to_store_key`
//! turns into the store's keys.

use std::ops::Range;

use crate::command::FetchItem;
use crate::esearch::literal_end;

/// The header field name an `EMAILID id` search key is written as. A field name can not hold a
/// colon (RFC 5322), so no client's HEADER search on this name could match anything anyway.
pub const EMAILID_FIELD: &str = "EMAILID:";

/// The header field name that marks a `(HEADER SAVEDATE: "" BEFORE date)` list as a
/// SAVEDBEFORE key (SAVEDON, SAVEDSINCE alike); no real field can have it either.
pub const SAVEDATE_FIELD: &str = "SAVEDATE:";

/// The SAVEDATE search keys and the internal-date key each is written as.
const SAVED_KEYS: [(&str, &str); 3] = [
    ("SAVEDBEFORE", "BEFORE"),
    ("SAVEDON", "ON"),
    ("SAVEDSINCE", "SINCE"),
];

/// A command after [`rewrite`].
#[derive(Debug, PartialEq)]
pub struct Rewritten {
    pub bytes: Vec<u8>,
    /// FETCH items taken out, in the order asked.
    pub items: Vec<FetchItem>,
    /// Nothing else was asked, so `UID` stands in for the list imap-codec needs: that item
    /// is the rewrite's, not the client's.
    pub placeholder: bool,
}

/// One piece of a command's arguments.
#[derive(Debug, PartialEq)]
enum Piece {
    Open,
    Close,
    /// An atom (with any `[…]` section and `<…>` partial in it), a quoted string or a
    /// literal with its data.
    Token(Range<usize>),
}

/// The pieces of `bytes` from `at` to the end of the command.
fn pieces(bytes: &[u8], mut at: usize) -> Vec<Piece> {
    let mut out = Vec::new();
    while at < bytes.len() {
        match bytes[at] {
            b' ' | b'\r' | b'\n' => at += 1,
            b'(' => {
                out.push(Piece::Open);
                at += 1;
            }
            b')' => {
                out.push(Piece::Close);
                at += 1;
            }
            _ => {
                let end = token_end(bytes, at);
                out.push(Piece::Token(at..end));
                at = end;
            }
        }
    }
    out
}

/// Where the token starting at `at` ends.
fn token_end(bytes: &[u8], at: usize) -> usize {
    match bytes[at] {
        b'"' => quoted_end(bytes, at),
        b'{' => literal_end(bytes, at).unwrap_or(bytes.len()),
        _ => {
            let mut i = at;
            while i < bytes.len() {
                match bytes[i] {
                    b' ' | b'(' | b')' | b'\r' | b'\n' => break,
                    // A section holds spaces, lists, strings and literals of its own.
                    b'[' => {
                        i += 1;
                        while i < bytes.len() && bytes[i] != b']' {
                            i = match bytes[i] {
                                b'"' | b'{' => token_end(bytes, i),
                                _ => i + 1,
                            };
                        }
                        i += 1;
                    }
                    _ => i += 1,
                }
            }
            i.min(bytes.len())
        }
    }
}

fn quoted_end(bytes: &[u8], at: usize) -> usize {
    let mut i = at + 1;
    while i < bytes.len() && bytes[i] != b'"' {
        i += if bytes[i] == b'\\' { 2 } else { 1 };
    }
    (i + 1).min(bytes.len())
}

/// The command without the OBJECTID syntax, or `None` when it has none. An `EMAILID` that
/// is not followed by an object id, or a THREADID search (no threads are kept), is an error.
pub fn rewrite(bytes: &[u8]) -> Result<Option<Rewritten>, String> {
    // Only these commands are read further (an APPEND's message is never looked at).
    let line_end = bytes.iter().position(|&b| b == b'\r' || b == b'\n');
    let mut words = bytes[..line_end.unwrap_or(bytes.len())].split(|&b| b == b' ');
    let tag_end = words.next().map_or(0, <[u8]>::len);
    let mut command = words.next().unwrap_or_default();
    if command.eq_ignore_ascii_case(b"UID") {
        command = words.next().unwrap_or_default();
    }
    if !["FETCH", "SEARCH", "SORT", "THREAD"]
        .iter()
        .any(|name| command.eq_ignore_ascii_case(name.as_bytes()))
    {
        return Ok(None);
    }
    // Most FETCHes name neither: they are not taken apart at all.
    let mentions = |word: &[u8]| {
        bytes
            .windows(word.len())
            .any(|w| w.eq_ignore_ascii_case(word))
    };
    if !mentions(b"EMAILID") && !mentions(b"THREADID") && !mentions(b"SAVED") {
        return Ok(None);
    }
    let pieces = pieces(bytes, tag_end + 1);
    let word = |piece: Option<&Piece>| match piece {
        Some(Piece::Token(range)) => Some(&bytes[range.clone()]),
        _ => None,
    };
    let mut next = 0;
    if word(pieces.first()).is_some_and(|w| w.eq_ignore_ascii_case(b"UID")) {
        next = 1;
    }
    let Some(command) = word(pieces.get(next)) else {
        return Ok(None);
    };
    let args = &pieces[next + 1..];
    if command.eq_ignore_ascii_case(b"FETCH") {
        return Ok(rewrite_fetch(bytes, args));
    }
    let skip = if command.eq_ignore_ascii_case(b"SEARCH") {
        // `CHARSET name` may come first.
        if word(args.first()).is_some_and(|w| w.eq_ignore_ascii_case(b"CHARSET")) {
            2
        } else {
            0
        }
    } else if command.eq_ignore_ascii_case(b"SORT") {
        // The sort criteria list, then the charset.
        let close = args.iter().position(|p| *p == Piece::Close);
        close.map_or(args.len(), |close| close + 2)
    } else if command.eq_ignore_ascii_case(b"THREAD") {
        // The algorithm and the charset.
        2
    } else {
        return Ok(None);
    };
    rewrite_search(bytes, args.get(skip..).unwrap_or_default())
}

/// The object id FETCH items among `items`: what they ask for.
fn object_item(token: &[u8]) -> Option<FetchItem> {
    if token.eq_ignore_ascii_case(b"EMAILID") {
        Some(FetchItem::EmailId)
    } else if token.eq_ignore_ascii_case(b"THREADID") {
        Some(FetchItem::ThreadId)
    } else if token.eq_ignore_ascii_case(b"SAVEDATE") {
        Some(FetchItem::SaveDate)
    } else {
        None
    }
}

/// `FETCH set items [modifiers]`: `args` start at the set.
fn rewrite_fetch(bytes: &[u8], args: &[Piece]) -> Option<Rewritten> {
    let (list, replaced): (Vec<&Range<usize>>, Range<usize>) = match args.get(1)? {
        Piece::Token(single) => (vec![single], single.clone()),
        Piece::Open => {
            let tokens: Vec<&Range<usize>> = args[2..]
                .iter()
                .map_while(|p| match p {
                    Piece::Token(range) => Some(range),
                    _ => None,
                })
                .collect();
            let first = tokens.first()?.start;
            (tokens.clone(), first..tokens.last()?.end)
        }
        Piece::Close => return None,
    };
    let mut items = Vec::new();
    let mut kept: Vec<&[u8]> = Vec::new();
    for range in list {
        let token = &bytes[range.clone()];
        match object_item(token) {
            Some(item) => items.push(item),
            None => kept.push(token),
        }
    }
    if items.is_empty() {
        return None;
    }
    let placeholder = kept.is_empty();
    if placeholder {
        kept.push(b"UID");
    }
    let mut out = bytes[..replaced.start].to_vec();
    out.extend_from_slice(&kept.join(&b' '));
    out.extend_from_slice(&bytes[replaced.end..]);
    Some(Rewritten {
        bytes: out,
        items,
        placeholder,
    })
}

/// How many arguments that are not keys themselves follow a search key (`following` is the
/// first of them). Keys not known here get none; imap-codec judges them.
fn key_arguments(key: &[u8], following: Option<&[u8]>) -> usize {
    const ONE: [&str; 23] = [
        "SAVEDBEFORE",
        "SAVEDON",
        "SAVEDSINCE",
        "BCC",
        "BODY",
        "CC",
        "FROM",
        "KEYWORD",
        "UNKEYWORD",
        "SUBJECT",
        "TEXT",
        "TO",
        "BEFORE",
        "ON",
        "SINCE",
        "SENTBEFORE",
        "SENTON",
        "SENTSINCE",
        "LARGER",
        "SMALLER",
        "UID",
        "OLDER",
        "YOUNGER",
    ];
    let is = |name: &str| key.eq_ignore_ascii_case(name.as_bytes());
    if is("HEADER") {
        2
    } else if is("MODSEQ") {
        // `MODSEQ "entry" type value` or `MODSEQ value` (RFC 7162).
        if following.is_some_and(|f| f.starts_with(b"\"")) {
            3
        } else {
            1
        }
    } else if ONE.iter().any(|name| is(name)) {
        1
    } else {
        0
    }
}

/// Search keys from `args` on: each `EMAILID id` becomes `HEADER EMAILID: id`, each
/// `SAVEDBEFORE date` `(HEADER SAVEDATE: "" BEFORE date)`, SAVEDATESUPPORTED `ALL`.
fn rewrite_search(bytes: &[u8], args: &[Piece]) -> Result<Option<Rewritten>, String> {
    let token = |i: usize| match args.get(i) {
        Some(Piece::Token(range)) => Some(range.clone()),
        _ => None,
    };
    let mut replacements: Vec<(Range<usize>, Vec<u8>)> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let Some(range) = token(i) else {
            i += 1;
            continue;
        };
        let key = &bytes[range.clone()];
        if key.eq_ignore_ascii_case(b"THREADID") {
            return Err("THREADID can not be searched: this server keeps no threads".into());
        }
        if key.eq_ignore_ascii_case(b"EMAILID") {
            let id = token(i + 1)
                .filter(|id| is_object_id(&bytes[id.clone()]))
                .ok_or("EMAILID takes an object id")?;
            let mut written = format!("HEADER {EMAILID_FIELD} ").into_bytes();
            written.extend_from_slice(&bytes[id.clone()]);
            replacements.push((range.start..id.end, written));
            i += 2;
            continue;
        }
        if key.eq_ignore_ascii_case(b"SAVEDATESUPPORTED") {
            replacements.push((range, b"ALL".to_vec()));
            i += 1;
            continue;
        }
        if let Some((_, internal)) = SAVED_KEYS
            .iter()
            .find(|(name, _)| key.eq_ignore_ascii_case(name.as_bytes()))
        {
            let date = token(i + 1).ok_or("A SAVEDATE search key takes a date")?;
            let mut written = format!("(HEADER {SAVEDATE_FIELD} \"\" {internal} ").into_bytes();
            written.extend_from_slice(&bytes[date.clone()]);
            written.push(b')');
            replacements.push((range.start..date.end, written));
            i += 2;
            continue;
        }
        let following = token(i + 1).map(|r| &bytes[r]);
        i += 1 + key_arguments(key, following);
    }
    if replacements.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut copied = 0;
    for (range, written) in replacements {
        out.extend_from_slice(&bytes[copied..range.start]);
        out.extend_from_slice(&written);
        copied = range.end;
    }
    out.extend_from_slice(&bytes[copied..]);
    Ok(Some(Rewritten {
        bytes: out,
        items: Vec::new(),
        placeholder: false,
    }))
}

/// RFC 8474's `objectid`: 1 to 255 of letters, digits, `_` and `-`.
fn is_object_id(text: &[u8]) -> bool {
    (1..=255).contains(&text.len())
        && text
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(command: &str) -> Option<(String, Vec<FetchItem>, bool)> {
        rewrite(command.as_bytes()).expect("no error").map(|r| {
            (
                String::from_utf8(r.bytes).expect("utf-8"),
                r.items,
                r.placeholder,
            )
        })
    }

    #[test]
    fn fetch_items_are_taken_out() {
        assert_eq!(
            rewritten("a FETCH 1:* (FLAGS EMAILID THREADID UID)\r\n"),
            Some((
                "a FETCH 1:* (FLAGS UID)\r\n".into(),
                vec![FetchItem::EmailId, FetchItem::ThreadId],
                false
            ))
        );
        assert_eq!(
            rewritten("a UID FETCH 2 emailid\r\n"),
            Some((
                "a UID FETCH 2 UID\r\n".into(),
                vec![FetchItem::EmailId],
                true
            ))
        );
        assert_eq!(
            rewritten("a FETCH 1 (EMAILID) (CHANGEDSINCE 4)\r\n"),
            Some((
                "a FETCH 1 (UID) (CHANGEDSINCE 4)\r\n".into(),
                vec![FetchItem::EmailId],
                true
            ))
        );
        // A header field called EMAILID is a section's business, not an item.
        assert_eq!(
            rewritten("a FETCH 1 (BODY.PEEK[HEADER.FIELDS (EMAILID \"x)\")] FLAGS)\r\n"),
            None
        );
        assert_eq!(rewritten("a FETCH 1 (FLAGS)\r\n"), None);
    }

    #[test]
    fn search_keys_become_header_keys() {
        let id = "0123456789abcdef01234567";
        assert_eq!(
            rewritten(&format!("a UID SEARCH NOT EMAILID {id} SEEN\r\n")).map(|r| r.0),
            Some(format!("a UID SEARCH NOT HEADER EMAILID: {id} SEEN\r\n"))
        );
        // EMAILID as the text another key searches for stays text.
        assert_eq!(rewritten("a SEARCH SUBJECT EMAILID\r\n"), None);
        assert_eq!(rewritten("a SEARCH HEADER EMAILID EMAILID\r\n"), None);
        assert_eq!(
            rewritten(&format!(
                "a SORT (DATE) UTF-8 OR EMAILID {id} (EMAILID x-1)\r\n"
            ))
            .map(|r| r.0),
            Some(format!(
                "a SORT (DATE) UTF-8 OR HEADER EMAILID: {id} (HEADER EMAILID: x-1)\r\n"
            ))
        );
        assert_eq!(
            rewritten("a SEARCH MODSEQ \"/flags/x\" all 5 EMAILID m1\r\n").map(|r| r.0),
            Some("a SEARCH MODSEQ \"/flags/x\" all 5 HEADER EMAILID: m1\r\n".into())
        );
        assert!(rewrite(b"a SEARCH EMAILID\r\n").is_err());
        assert!(rewrite(b"a SEARCH EMAILID \"quoted\"\r\n").is_err());
        assert!(rewrite(b"a SEARCH EMAILID a.b\r\n").is_err());
        assert!(rewrite(b"a SEARCH THREADID T1\r\n").is_err());
        assert_eq!(rewritten("a LIST \"\" EMAILID\r\n"), None);
    }

    #[test]
    fn savedate_items_and_keys() {
        assert_eq!(
            rewritten("a FETCH 1:* (SAVEDATE FLAGS)\r\n"),
            Some((
                "a FETCH 1:* (FLAGS)\r\n".into(),
                vec![FetchItem::SaveDate],
                false
            ))
        );
        assert_eq!(
            rewritten("a UID SEARCH SAVEDSINCE 1-Feb-2024 NOT SAVEDON \"2-Feb-2024\" SAVEDATESUPPORTED\r\n")
                .map(|r| r.0),
            Some(
                "a UID SEARCH (HEADER SAVEDATE: \"\" SINCE 1-Feb-2024) NOT (HEADER SAVEDATE: \"\" ON \"2-Feb-2024\") ALL\r\n"
                    .into()
            )
        );
        // As the text another key searches for, it stays text.
        assert_eq!(rewritten("a SEARCH SUBJECT SAVEDON\r\n"), None);
        assert!(rewrite(b"a SEARCH SAVEDBEFORE\r\n").is_err());
    }
}
