//! The syntax of ESEARCH (RFC 4731), ESORT (RFC 5267) and SEARCHRES (RFC 5182) that
//! imap-codec does not parse: the `RETURN (…)` options of SEARCH and SORT, and `$`, the
//! saved search result. Both are rewritten away before imap-codec reads the command: the
//! options are taken out, and `$` becomes the saved messages that still exist, written as a
//! UID search key or as the command's sequence set.

use wildduck_store::Uid;

/// `RETURN (…)` of SEARCH or SORT. `RETURN ()` means ALL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReturnOptions {
    pub min: bool,
    pub max: bool,
    pub all: bool,
    pub count: bool,
    pub save: bool,
}

impl ReturnOptions {
    /// Whether an ESEARCH response is due (SAVE alone answers with none, RFC 5182 §2.4).
    pub fn answers(&self) -> bool {
        self.min || self.max || self.all || self.count
    }

    /// The messages SAVE keeps: only MIN and/or MAX when those are all that was asked
    /// (RFC 5182 §2.4), else every one found.
    pub fn saved(&self, found: &[Uid], first: Option<Uid>, last: Option<Uid>) -> Vec<Uid> {
        if (self.min || self.max) && !self.all && !self.count {
            let mut kept: Vec<Uid> = [self.min.then_some(first), self.max.then_some(last)]
                .into_iter()
                .flatten()
                .flatten()
                .collect();
            kept.sort_unstable();
            kept.dedup();
            kept
        } else {
            let mut kept = found.to_vec();
            kept.sort_unstable();
            kept
        }
    }
}

/// A command after [`rewrite`].
#[derive(Debug, PartialEq, Eq)]
pub enum Rewritten {
    /// Parse these bytes instead; `returns` were taken out of them.
    Command {
        bytes: Vec<u8>,
        returns: Option<ReturnOptions>,
    },
    /// `$` is the command's sequence set, and none of the saved messages is left: the
    /// command acts on nothing.
    NoSavedMessages,
}

/// The saved result and the sequence map of the selected mailbox.
#[derive(Clone, Copy)]
pub struct SavedResult<'a> {
    pub saved: &'a [Uid],
    pub map: &'a [Uid],
}

/// Commands whose first argument is a sequence set that may be `$`.
const SET_COMMANDS: [&str; 5] = ["FETCH", "STORE", "COPY", "MOVE", "EXPUNGE"];
/// Commands with search keys, where `$` is a key.
const SEARCH_COMMANDS: [&str; 3] = ["SEARCH", "SORT", "THREAD"];

/// The command without what imap-codec can not read, or `None` when it has none of it.
/// `saved` is `None` outside the selected state (a `$` is then left to fail parsing).
pub fn rewrite(bytes: &[u8], saved: Option<SavedResult<'_>>) -> Result<Option<Rewritten>, String> {
    let Some(mut words) = Words::after_tag(bytes) else {
        return Ok(None);
    };
    let Some(mut command) = words.next() else {
        return Ok(None);
    };
    let uid = command.eq_ignore_ascii_case(b"UID");
    if uid {
        let Some(next) = words.next() else {
            return Ok(None);
        };
        command = next;
    }
    let is = |names: &[&str]| {
        names
            .iter()
            .any(|n| command.eq_ignore_ascii_case(n.as_bytes()))
    };
    // Anything else (an APPEND with its message, above all) is not copied.
    if !is(&SEARCH_COMMANDS) && !is(&SET_COMMANDS) {
        return Ok(None);
    }
    let mut out = bytes.to_vec();
    let mut returns = None;
    if is(&["SEARCH", "SORT"])
        && let Some(word_start) = words.position_of_next()
        && words
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case(b"RETURN"))
    {
        let (options, end) = return_options(bytes, words.position())?;
        returns = Some(options);
        out.drain(word_start..end);
    }
    if let Some(saved) = saved {
        let args = command.as_ptr() as usize - bytes.as_ptr() as usize + command.len();
        if is(&SET_COMMANDS) && (uid || !command.eq_ignore_ascii_case(b"EXPUNGE")) {
            let first = out.get(args..args + 3);
            if first.is_some_and(|w| w[0] == b' ' && w[1] == b'$' && ends_token(w[2])) {
                let numbers = saved.present(uid);
                if numbers.is_empty() {
                    return Ok(Some(Rewritten::NoSavedMessages));
                }
                out.splice(args + 1..args + 2, set_text(&numbers).into_bytes());
                return Ok(Some(Rewritten::Command {
                    bytes: out,
                    returns,
                }));
            }
        } else if is(&SEARCH_COMMANDS) {
            let key = {
                let uids = saved.present(true);
                if uids.is_empty() {
                    "NOT ALL".to_string()
                } else {
                    format!("UID {}", set_text(&uids))
                }
            };
            let replaced = replace_dollar_tokens(&out[args..], key.as_bytes());
            if let Some(replaced) = replaced {
                out.truncate(args);
                out.extend_from_slice(&replaced);
                return Ok(Some(Rewritten::Command {
                    bytes: out,
                    returns,
                }));
            }
        }
    }
    Ok(returns.map(|returns| Rewritten::Command {
        bytes: out,
        returns: Some(returns),
    }))
}

impl SavedResult<'_> {
    /// The saved messages still in the map, as UIDs or as sequence numbers, ascending.
    fn present(&self, uid: bool) -> Vec<u32> {
        let mut found: Vec<u32> = self
            .saved
            .iter()
            .filter_map(|saved| {
                let index = self.map.binary_search(saved).ok()?;
                Some(if uid { *saved } else { index as u32 + 1 })
            })
            .collect();
        found.sort_unstable();
        found
    }
}

fn ends_token(byte: u8) -> bool {
    matches!(byte, b' ' | b')' | b'\r' | b'\n')
}

/// `(` options `)` starting at `at` (after `RETURN`), and where the space after it ends.
fn return_options(bytes: &[u8], at: usize) -> Result<(ReturnOptions, usize), String> {
    let rest = &bytes[at..];
    let rest_start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    let open = at + rest_start;
    if bytes.get(open) != Some(&b'(') {
        return Err("RETURN needs a list of options".into());
    }
    let close = bytes[open..]
        .iter()
        .position(|&b| b == b')')
        .map(|i| open + i)
        .ok_or("RETURN options are not closed")?;
    let mut options = ReturnOptions::default();
    for word in bytes[open + 1..close]
        .split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
    {
        let flag = match word.to_ascii_uppercase().as_slice() {
            b"MIN" => &mut options.min,
            b"MAX" => &mut options.max,
            b"ALL" => &mut options.all,
            b"COUNT" => &mut options.count,
            b"SAVE" => &mut options.save,
            _ => {
                return Err(format!(
                    "Unknown RETURN option {}",
                    String::from_utf8_lossy(word)
                ));
            }
        };
        *flag = true;
    }
    if !options.answers() && !options.save {
        options.all = true;
    }
    let end = if bytes.get(close + 1) == Some(&b' ') {
        close + 2
    } else {
        close + 1
    };
    Ok((options, end))
}

/// `args` with every `$` token (outside quoted strings and literals) replaced by `with`;
/// `None` when there is none.
fn replace_dollar_tokens(args: &[u8], with: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(args.len() + with.len());
    let mut found = false;
    let mut i = 0;
    while i < args.len() {
        let byte = args[i];
        match byte {
            b'"' => {
                let start = i;
                i += 1;
                while i < args.len() && args[i] != b'"' {
                    i += if args[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(args.len());
                out.extend_from_slice(&args[start..i]);
                continue;
            }
            b'{' => {
                if let Some(end) = literal_end(args, i) {
                    out.extend_from_slice(&args[i..end]);
                    i = end;
                    continue;
                }
            }
            b'$' if i > 0
                && matches!(args[i - 1], b' ' | b'(')
                && args.get(i + 1).is_none_or(|&b| ends_token(b)) =>
            {
                out.extend_from_slice(with);
                found = true;
                i += 1;
                continue;
            }
            _ => {}
        }
        out.push(byte);
        i += 1;
    }
    found.then_some(out)
}

/// Where a literal `{n}`/`{n+}`/`{n-}` CRLF and its n bytes that start at `at` end.
pub fn literal_end(bytes: &[u8], at: usize) -> Option<usize> {
    let close = at + bytes[at..].iter().position(|&b| b == b'}')?;
    let digits = std::str::from_utf8(&bytes[at + 1..close]).ok()?;
    let length: usize = digits.trim_end_matches(['+', '-']).parse().ok()?;
    let data = close
        + 1
        + if bytes.get(close + 1) == Some(&b'\r') {
            2
        } else {
            1
        };
    Some(data.saturating_add(length).min(bytes.len()))
}

/// Numbers as a sequence set, in the given order: runs of ascending neighbours as `a:b`.
pub fn set_text(numbers: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < numbers.len() {
        let start = numbers[i];
        let mut end = start;
        while i + 1 < numbers.len() && numbers[i + 1] == end.wrapping_add(1) {
            end = numbers[i + 1];
            i += 1;
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// Space-separated words of the first line after the tag, with their positions.
struct Words<'a> {
    bytes: &'a [u8],
    line_end: usize,
    at: usize,
}

impl<'a> Words<'a> {
    fn after_tag(bytes: &'a [u8]) -> Option<Self> {
        let line_end = bytes
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
            .unwrap_or(bytes.len());
        let tag_end = bytes[..line_end].iter().position(|&b| b == b' ')?;
        Some(Self {
            bytes,
            line_end,
            at: tag_end + 1,
        })
    }

    fn position(&self) -> usize {
        self.at
    }

    /// Where the next word starts, if there is one.
    fn position_of_next(&self) -> Option<usize> {
        (self.at < self.line_end).then_some(self.at)
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.at >= self.line_end {
            return None;
        }
        let start = self.at;
        let end = self.bytes[start..self.line_end]
            .iter()
            .position(|&b| b == b' ')
            .map_or(self.line_end, |i| start + i);
        self.at = (end + 1).min(self.line_end);
        (end > start).then(|| &self.bytes[start..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(line: &str, saved: &[Uid], map: &[Uid]) -> Option<Rewritten> {
        rewrite(line.as_bytes(), Some(SavedResult { saved, map })).expect("rewrites")
    }

    fn command(bytes: &str, returns: Option<ReturnOptions>) -> Option<Rewritten> {
        Some(Rewritten::Command {
            bytes: bytes.as_bytes().to_vec(),
            returns,
        })
    }

    #[test]
    fn return_options_are_taken_out() {
        let all = ReturnOptions {
            all: true,
            ..Default::default()
        };
        assert_eq!(
            rewritten("a SEARCH RETURN () ALL\r\n", &[], &[]),
            command("a SEARCH ALL\r\n", Some(all))
        );
        assert_eq!(
            rewritten("a uid search return (min COUNT save) 1:3\r\n", &[], &[]),
            command(
                "a uid search 1:3\r\n",
                Some(ReturnOptions {
                    min: true,
                    count: true,
                    save: true,
                    ..Default::default()
                })
            )
        );
        assert_eq!(
            rewritten("a SORT RETURN (ALL) (ARRIVAL) UTF-8 ALL\r\n", &[], &[]),
            command("a SORT (ARRIVAL) UTF-8 ALL\r\n", Some(all))
        );
        assert!(rewrite(b"a SEARCH RETURN (PARTIAL 1:2) ALL\r\n", None).is_err());
        assert_eq!(rewritten("a SEARCH ALL\r\n", &[], &[]), None);
    }

    #[test]
    fn dollar_becomes_the_saved_messages_that_remain() {
        let map = [3, 4, 7, 9, 10];
        assert_eq!(
            rewritten("a FETCH $ (FLAGS)\r\n", &[4, 7, 8, 10], &map),
            command("a FETCH 2:3,5 (FLAGS)\r\n", None)
        );
        assert_eq!(
            rewritten("a UID STORE $ +FLAGS ($Seen)\r\n", &[4, 7, 8], &map),
            command("a UID STORE 4,7 +FLAGS ($Seen)\r\n", None)
        );
        assert_eq!(
            rewritten("a COPY $ x\r\n", &[8], &map),
            Some(Rewritten::NoSavedMessages)
        );
        assert_eq!(
            rewritten("a SEARCH OR $ (SEEN) SUBJECT \"$\"\r\n", &[9, 10], &map),
            command("a SEARCH OR UID 9:10 (SEEN) SUBJECT \"$\"\r\n", None)
        );
        assert_eq!(
            rewritten("a UID SEARCH NOT $\r\n", &[], &map),
            command("a UID SEARCH NOT NOT ALL\r\n", None)
        );
        assert_eq!(
            rewritten("a SEARCH KEYWORD $Forwarded\r\n", &[3], &map),
            None
        );
        // A literal's bytes are not searched for `$`.
        assert_eq!(
            rewritten("a SEARCH BODY {3}\r\n $ $\r\n", &[3], &map),
            command("a SEARCH BODY {3}\r\n $ UID 3\r\n", None)
        );
        // Plain EXPUNGE takes no set.
        assert_eq!(rewritten("a EXPUNGE $\r\n", &[3], &map), None);
    }

    #[test]
    fn sets_join_ascending_runs_in_their_order() {
        assert_eq!(set_text(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(set_text(&[5, 3, 4, 2, 1]), "5,3:4,2,1");
        assert_eq!(set_text(&[]), "");
    }

    #[test]
    fn save_keeps_min_and_max_alone_when_only_they_are_asked() {
        let only_min = ReturnOptions {
            min: true,
            save: true,
            ..Default::default()
        };
        assert_eq!(only_min.saved(&[5, 2, 9], Some(2), Some(9)), vec![2]);
        let min_and_count = ReturnOptions {
            count: true,
            ..only_min
        };
        assert_eq!(
            min_and_count.saved(&[5, 2, 9], Some(2), Some(9)),
            vec![2, 5, 9]
        );
    }
}
