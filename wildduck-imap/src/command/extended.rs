//! Our own small parser for the commands imap-codec cannot parse: LIST with LIST-EXTENDED
//! selection and RETURN options (RFC 5258, 6154, 5819), XLIST, CREATE … (USE (…))
//! (RFC 6154), APPEND … UTF8 (~{n}) (RFC 6855) and MULTIAPPEND (RFC 3502), UNAUTHENTICATE
//! (RFC 8437) and STATUS with MAILBOXID (RFC 8474). Works on a whole command message (lines
//! with their literals).

use std::ops::Range;

use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::status::StatusDataItemName;
use wildduck_store::SpecialUse;

use super::{Kind, ListRequest, Refusal, Request, StatusItem, from_codec, mailbox_name};
use crate::search::SessionView;

#[derive(Debug, PartialEq)]
enum Token {
    Atom(String),
    Str(Vec<u8>),
    List(Vec<Token>),
    /// A `~{n}` literal (RFC 3516 literal8): where its data sits, not a copy (it is a message).
    Literal8(Range<usize>),
}

/// Deepest parenthesis nesting accepted; LIST and CREATE need two levels.
const MAX_NESTING: usize = 4;

struct Tokenizer<'a> {
    input: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Tokenizer<'_> {
    fn skip_spaces(&mut self) {
        while self.input.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
    }

    fn at_line_end(&mut self) -> bool {
        self.skip_spaces();
        matches!(self.input.get(self.pos), None | Some(b'\r') | Some(b'\n'))
    }

    fn token(&mut self) -> Option<Token> {
        self.skip_spaces();
        match *self.input.get(self.pos)? {
            b'(' => {
                // Bounded so a line of nested parentheses can not exhaust the stack.
                if self.depth >= MAX_NESTING {
                    return None;
                }
                self.pos += 1;
                self.depth += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_spaces();
                    if self.input.get(self.pos) == Some(&b')') {
                        self.pos += 1;
                        self.depth -= 1;
                        return Some(Token::List(items));
                    }
                    items.push(self.token()?);
                }
            }
            b'"' => {
                self.pos += 1;
                let mut text = Vec::new();
                loop {
                    match *self.input.get(self.pos)? {
                        b'"' => {
                            self.pos += 1;
                            return Some(Token::Str(text));
                        }
                        b'\\' => {
                            text.push(*self.input.get(self.pos + 1)?);
                            self.pos += 2;
                        }
                        b'\r' | b'\n' => return None,
                        other => {
                            text.push(other);
                            self.pos += 1;
                        }
                    }
                }
            }
            b'{' => {
                let data = self.literal()?;
                Some(Token::Str(self.input[data].to_vec()))
            }
            b'~' if self.input.get(self.pos + 1) == Some(&b'{') => {
                self.pos += 1;
                self.literal().map(Token::Literal8)
            }
            b')' => None,
            _ => {
                let start = self.pos;
                while let Some(&b) = self.input.get(self.pos) {
                    if matches!(b, b' ' | b'(' | b')' | b'\r' | b'\n') {
                        break;
                    }
                    self.pos += 1;
                }
                // A line end inside a list (`(~{5}` waiting for its literal) is no token:
                // stop instead of yielding empty atoms forever.
                if self.pos == start {
                    return None;
                }
                // `\Sent` style attributes may follow a `(` directly; they are atoms here.
                Some(Token::Atom(
                    String::from_utf8_lossy(&self.input[start..self.pos]).into_owned(),
                ))
            }
        }
    }
}

impl Tokenizer<'_> {
    /// A literal `{n}` or `{n+}` at `pos`, announcement and data: the data's range.
    fn literal(&mut self) -> Option<Range<usize>> {
        let close = self.input[self.pos..].iter().position(|&b| b == b'}')? + self.pos;
        let digits = std::str::from_utf8(&self.input[self.pos + 1..close]).ok()?;
        let length: usize = digits.trim_end_matches('+').parse().ok()?;
        let mut start = close + 1;
        if self.input.get(start) == Some(&b'\r') {
            start += 1;
        }
        if self.input.get(start) != Some(&b'\n') {
            return None;
        }
        start += 1;
        let end = start.checked_add(length)?;
        if end > self.input.len() {
            return None;
        }
        self.pos = end;
        Some(start..end)
    }
}

fn word(token: &Token) -> Option<&str> {
    match token {
        Token::Atom(a) => Some(a),
        _ => None,
    }
}

fn name_bytes(token: &Token) -> Option<&[u8]> {
    match token {
        Token::Atom(a) => Some(a.as_bytes()),
        Token::Str(s) => Some(s),
        Token::List(_) | Token::Literal8(_) => None,
    }
}

fn name(token: &Token) -> Result<String, Refusal> {
    let bytes = name_bytes(token).ok_or_else(|| Refusal {
        text: "Expected a mailbox name".into(),
        declined: false,
    })?;
    mailbox_name(bytes)
}

fn bad<T>(text: &str) -> Result<T, Refusal> {
    Err(Refusal {
        text: text.to_string(),
        declined: false,
    })
}

fn status_items(list: &[Token]) -> Result<Vec<StatusItem>, Refusal> {
    list.iter()
        .map(|t| {
            let item = match word(t).map(str::to_ascii_uppercase).as_deref() {
                Some("MESSAGES") => StatusDataItemName::Messages,
                Some("RECENT") => StatusDataItemName::Recent,
                Some("UIDNEXT") => StatusDataItemName::UidNext,
                Some("UIDVALIDITY") => StatusDataItemName::UidValidity,
                Some("UNSEEN") => StatusDataItemName::Unseen,
                Some("DELETED") => StatusDataItemName::Deleted,
                Some("DELETED-STORAGE") => StatusDataItemName::DeletedStorage,
                Some("HIGHESTMODSEQ") => StatusDataItemName::HighestModSeq,
                Some("SIZE") => StatusDataItemName::Size,
                Some("MAILBOXID") => return Ok(StatusItem::MailboxId),
                _ => return bad("Unknown STATUS item"),
            };
            Ok(StatusItem::Codec(item))
        })
        .collect()
}

/// `STATUS mailbox (items)`, here when an item is one imap-codec does not know (MAILBOXID).
fn parse_status(tokens: &[Token]) -> Result<Kind, Refusal> {
    let [mailbox, Token::List(items)] = tokens else {
        return bad("STATUS takes a mailbox and a list of items");
    };
    if items.is_empty() {
        return bad("STATUS needs at least one item");
    }
    Ok(Kind::Status {
        mailbox: name(mailbox)?,
        items: status_items(items)?,
    })
}

fn parse_list(tokens: &[Token], xlist: bool) -> Result<ListRequest, Refusal> {
    let mut request = ListRequest {
        xlist,
        ..Default::default()
    };
    let mut rest = tokens;
    if let [Token::List(selection), tail @ ..] = rest {
        request.extended = true;
        for option in selection {
            match word(option).map(str::to_ascii_uppercase).as_deref() {
                Some("SUBSCRIBED") => request.select_subscribed = true,
                Some("SPECIAL-USE") => request.select_special_use = true,
                Some("RECURSIVEMATCH") => request.recursive_match = true,
                // No remote mailboxes exist here.
                Some("REMOTE") => {}
                _ => return bad("Unknown LIST selection option"),
            }
        }
        if request.recursive_match && !request.select_subscribed && !request.select_special_use {
            return bad("RECURSIVEMATCH needs another selection option");
        }
        rest = tail;
    }
    let [reference, patterns, tail @ ..] = rest else {
        return bad("LIST needs a reference and a pattern");
    };
    request.reference = name(reference)?;
    request.patterns = match patterns {
        Token::List(many) => {
            request.extended = true;
            many.iter().map(name).collect::<Result<_, _>>()?
        }
        one => vec![name(one)?],
    };
    request.extended |= !tail.is_empty();
    match tail {
        [] => {}
        [keyword, Token::List(options)]
            if word(keyword).is_some_and(|w| w.eq_ignore_ascii_case("RETURN")) =>
        {
            let mut options = options.iter();
            while let Some(option) = options.next() {
                match word(option).map(str::to_ascii_uppercase).as_deref() {
                    Some("SUBSCRIBED") => request.return_subscribed = true,
                    Some("CHILDREN") => request.return_children = true,
                    Some("SPECIAL-USE") => request.return_special_use = true,
                    Some("STATUS") => match options.next() {
                        Some(Token::List(items)) => {
                            request.return_status = Some(status_items(items)?)
                        }
                        _ => return bad("RETURN STATUS needs a list of items"),
                    },
                    _ => return bad("Unknown LIST return option"),
                }
            }
        }
        _ => return bad("Unexpected LIST arguments"),
    }
    Ok(request)
}

fn parse_create_use(tokens: &[Token]) -> Result<Kind, Refusal> {
    let [mailbox, Token::List(params)] = tokens else {
        return bad("CREATE takes a mailbox and optional parameters");
    };
    let [keyword, Token::List(uses)] = params.as_slice() else {
        return bad("Unknown CREATE parameter");
    };
    if !word(keyword).is_some_and(|w| w.eq_ignore_ascii_case("USE")) {
        return bad("Unknown CREATE parameter");
    }
    let special_use = match uses.as_slice() {
        [] => None,
        [one] => match word(one).and_then(SpecialUse::from_attribute) {
            Some(role) => Some(role),
            None => {
                return Err(Refusal {
                    text: "[USEATTR] Unknown special-use attribute".into(),
                    declined: true,
                });
            }
        },
        _ => {
            return Err(Refusal {
                text: "[USEATTR] Only one special-use attribute per mailbox".into(),
                declined: true,
            });
        }
    };
    Ok(Kind::Create {
        mailbox: name(mailbox)?,
        special_use,
    })
}

/// `APPEND mailbox` with its messages in the forms imap-codec lacks: more than one
/// (MULTIAPPEND, RFC 3502), or `UTF8 (~{n})` (RFC 6855). Each message is `[flags] [date]
/// {n}` or `[flags] [date] UTF8 (~{n})`; the flags and date of each are parsed by imap-codec
/// as a plain APPEND of an empty literal, and the messages stay in the framer (the command's
/// last literals, in order). `None` for one plain message (imap-codec's verdict stands).
fn parse_append(
    message: &[u8],
    mut tokenizer: Tokenizer<'_>,
    tag: String,
) -> Option<Result<Request, Refusal>> {
    // The mailbox, which may well be called UTF8, or be a literal.
    tokenizer.token()?;
    let head = &message[..tokenizer.pos];
    let mut arguments: Vec<(Range<usize>, bool)> = Vec::new();
    while !tokenizer.at_line_end() {
        let start = tokenizer.pos;
        let (end, utf8) = loop {
            if tokenizer.at_line_end() {
                return Some(bad("APPEND needs a message literal"));
            }
            let at = tokenizer.pos;
            match tokenizer.input[at] {
                b'{' => {
                    tokenizer.literal()?;
                    break (at, false);
                }
                b'~' => {
                    return Some(bad(
                        "A bare ~{n} message needs BINARY, which is not supported",
                    ));
                }
                _ => {}
            }
            let token = tokenizer.token()?;
            if word(&token).is_some_and(|w| w.eq_ignore_ascii_case("UTF8")) {
                let one_literal8 = matches!(
                    tokenizer.token(),
                    Some(Token::List(items)) if matches!(items.as_slice(), [Token::Literal8(_)])
                );
                if !one_literal8 {
                    return Some(bad("APPEND with UTF8 takes one message as (~{n})"));
                }
                break (at, true);
            }
        };
        arguments.push((start..end, utf8));
    }
    if matches!(arguments.as_slice(), [] | [(_, false)]) {
        return None;
    }
    let mut messages = Vec::with_capacity(arguments.len());
    for (range, utf8) in arguments {
        let mut plain = Vec::with_capacity(head.len() + range.len() + 8);
        plain.extend_from_slice(head);
        for part in [message[range].trim_ascii(), b"{0}\r\n\r\n"] {
            if !part.is_empty() {
                plain.push(b' ');
                plain.extend_from_slice(part);
            }
        }
        let kind = match CommandCodec::default().decode(&plain) {
            Ok(([], command)) => from_codec(&command.body, SessionView::default()),
            _ => bad("Syntax error in APPEND"),
        };
        match kind {
            Ok(Kind::Append {
                mailbox,
                messages: mut parsed,
            }) => {
                let Some(mut one) = parsed.pop() else {
                    return Some(bad("Syntax error in APPEND"));
                };
                one.utf8 = utf8;
                messages.push((mailbox, one));
            }
            Ok(_) => return Some(bad("Syntax error in APPEND")),
            Err(refusal) => return Some(Err(refusal)),
        }
    }
    let mailbox = messages.first()?.0.clone();
    Some(Ok(Request {
        tag,
        kind: Kind::Append {
            mailbox,
            messages: messages.into_iter().map(|(_, one)| one).collect(),
        },
    }))
}

/// The first `count` words of a command read so far, fewer when a token is not complete yet
/// (an announced literal whose data has not arrived).
pub fn leading_words(message: &[u8], count: usize) -> Vec<Option<Vec<u8>>> {
    let mut tokenizer = Tokenizer {
        input: message,
        pos: 0,
        depth: 0,
    };
    let mut words = Vec::new();
    while words.len() < count && (!tokenizer.at_line_end() || tokenizer.pos < message.len()) {
        let start = tokenizer.pos;
        match tokenizer.token() {
            Some(token) => words.push(name_bytes(&token).map(<[u8]>::to_vec)),
            None => break,
        }
        if tokenizer.pos == start {
            break;
        }
        // Skip the line break after a literal announcement's data.
        while matches!(
            tokenizer.input.get(tokenizer.pos),
            Some(b'\r') | Some(b'\n')
        ) {
            tokenizer.pos += 1;
        }
    }
    words
}

/// Parses `message` if it is one of the commands this module handles. `None`: not ours (the
/// caller answers BAD with imap-codec's verdict).
pub fn parse(message: &[u8]) -> Option<Result<Request, Refusal>> {
    let mut tokenizer = Tokenizer {
        input: message,
        pos: 0,
        depth: 0,
    };
    // A tag that is not one (8-bit bytes, read lossily above) is left to the caller's
    // untagged BAD: echoing it would send the client a tag it never sent.
    let tag = match tokenizer.token()? {
        Token::Atom(tag) if super::is_tag(&tag) => tag,
        _ => return None,
    };
    let command = match tokenizer.token()? {
        Token::Atom(command) => command.to_ascii_uppercase(),
        _ => return None,
    };
    if command == "APPEND" {
        return parse_append(message, tokenizer, tag);
    }
    if command == "UNAUTHENTICATE" {
        return Some(if tokenizer.at_line_end() {
            Ok(Request {
                tag,
                kind: Kind::Unauthenticate,
            })
        } else {
            bad("UNAUTHENTICATE takes no arguments")
        });
    }
    if !matches!(command.as_str(), "LIST" | "XLIST" | "CREATE" | "STATUS") {
        return None;
    }
    let mut tokens = Vec::new();
    while !tokenizer.at_line_end() {
        match tokenizer.token() {
            Some(token) => tokens.push(token),
            None => {
                return Some(Err(Refusal {
                    text: format!("Syntax error in {command}"),
                    declined: false,
                }));
            }
        }
    }
    let kind = match command.as_str() {
        "LIST" => parse_list(&tokens, false).map(Kind::List),
        "XLIST" => parse_list(&tokens, true).map(Kind::List),
        "STATUS" => parse_status(&tokens),
        _ => parse_create_use(&tokens),
    };
    Some(kind.map(|kind| Request { tag, kind }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `wildduck-fuzz` (corpus `imap-session/8bit-tag-on-list`): the reply echoed
    /// the 8-bit tag as U+FFFD, a tag the client never sent.
    #[test]
    fn a_tag_with_8bit_bytes_is_not_ours_to_answer() {
        assert!(parse(b"\xffa0 XLIST \xff()\r\n").is_none());
        assert!(parse(b"a0 XLIST \"\" *\r\n").is_some());
    }

    fn list(message: &[u8]) -> ListRequest {
        match parse(message) {
            Some(Ok(Request {
                kind: Kind::List(list),
                ..
            })) => list,
            other => panic!("not a LIST: {other:?}"),
        }
    }

    #[test]
    fn list_extended_selection_and_return_options() {
        let l = list(b"a1 LIST (SPECIAL-USE) \"\" \"*\"\r\n");
        assert!(l.select_special_use);
        assert_eq!(l.patterns, vec!["*"]);
        let l = list(b"a2 LIST \"\" (\"INBOX\" \"Sent Mail\") RETURN (SPECIAL-USE CHILDREN SUBSCRIBED STATUS (MESSAGES UNSEEN))\r\n");
        assert!(l.return_special_use && l.return_children && l.return_subscribed);
        assert_eq!(l.patterns, vec!["INBOX", "Sent Mail"]);
        assert_eq!(
            l.return_status,
            Some(vec![
                StatusItem::Codec(StatusDataItemName::Messages),
                StatusItem::Codec(StatusDataItemName::Unseen)
            ])
        );
        assert!(l.extended && !l.recursive_match);
        let l = list(b"a3 XLIST \"\" %\r\n");
        assert!(l.xlist && !l.extended);
        let l = list(b"a5 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %\r\n");
        assert!(l.extended && l.recursive_match && l.select_subscribed);
        assert!(list(b"a6 LIST () \"\" \"\"\r\n").extended);
        let l = list(b"a4 LIST {0}\r\n {1}\r\n*\r\n");
        assert_eq!(
            (l.reference.as_str(), l.patterns),
            ("", vec!["*".to_string()])
        );
    }

    #[test]
    fn create_with_use() {
        match parse(b"c CREATE Archive2 (USE (\\Archive))\r\n") {
            Some(Ok(Request {
                kind:
                    Kind::Create {
                        mailbox,
                        special_use,
                    },
                ..
            })) => {
                assert_eq!(mailbox, "Archive2");
                assert_eq!(special_use, Some(SpecialUse::Archive));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            parse(b"c CREATE X (USE (\\Bogus))\r\n"),
            Some(Err(_))
        ));
    }

    #[test]
    fn append_utf8_form() {
        match parse(b"a APPEND {4}\r\nUTF8 (\\Draft) UTF8 (~{3+}\r\nabc)\r\n") {
            Some(Ok(Request {
                kind: Kind::Append { mailbox, messages },
                ..
            })) => {
                assert_eq!(mailbox, "UTF8");
                let [message] = messages.as_slice() else {
                    panic!("one message expected: {messages:?}");
                };
                assert!(message.utf8 && message.date.is_none());
                assert!(message.flags.contains(&wildduck_store::Flag::Draft));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(parse(b"a APPEND INBOX {3}\r\nabc\r\n").is_none());
        assert!(matches!(
            parse(b"a APPEND INBOX UTF8 (~{1}\r\nx ~{1}\r\ny)\r\n"),
            Some(Err(_))
        ));
        assert!(matches!(
            parse(b"a APPEND INBOX UTF8 ({1}\r\nx)\r\n"),
            Some(Err(_))
        ));
    }

    #[test]
    fn multiappend_reads_each_message_arguments() {
        let command = b"a APPEND Drafts (\\Seen) {3}\r\nabc \"02-Jan-2023 10:00:00 +0000\" {2+}\r\nde {1}\r\nf UTF8 (~{1}\r\ng)\r\n";
        match parse(command) {
            Some(Ok(Request {
                kind: Kind::Append { mailbox, messages },
                ..
            })) => {
                assert_eq!(mailbox, "Drafts");
                assert_eq!(messages.len(), 4, "{messages:?}");
                assert!(messages[0].flags.contains(&wildduck_store::Flag::Seen));
                assert!(messages[0].date.is_none());
                assert!(messages[1].flags.is_empty() && messages[1].date.is_some());
                assert!(messages[2].flags.is_empty() && messages[2].date.is_none());
                assert!(
                    messages
                        .iter()
                        .map(|m| m.utf8)
                        .eq([false, false, false, true])
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        // A bad argument of a later message refuses the whole command.
        assert!(matches!(
            parse(b"a APPEND INBOX {1}\r\nx (\\Bogus) {1}\r\ny\r\n"),
            Some(Err(_))
        ));
        assert!(matches!(
            parse(b"a APPEND INBOX {1}\r\nx (\\Seen)\r\n"),
            Some(Err(_))
        ));
    }

    #[test]
    fn a_list_open_at_the_line_end_ends_the_words() {
        let words = leading_words(b"a APPEND INBOX UTF8 (~{5}\r\n", usize::MAX);
        assert_eq!(words.len(), 4, "{words:?}");
    }

    #[test]
    fn garbage_is_refused_or_not_ours() {
        assert!(matches!(parse(b"a LIST (BOGUS) \"\" *\r\n"), Some(Err(_))));
        assert!(matches!(
            parse(b"a LIST (REMOTE RECURSIVEMATCH) \"\" *\r\n"),
            Some(Err(_))
        ));
        assert!(matches!(parse(b"a LIST \"unterminated\r\n"), Some(Err(_))));
        assert!(parse(b"a FETCH 1 FLAGS\r\n").is_none());
        assert!(parse(b"\r\n").is_none());
        let deep = format!("a LIST {}\r\n", "(".repeat(100_000));
        assert!(matches!(parse(deep.as_bytes()), Some(Err(_))));
        assert!(matches!(
            parse(b"a LIST {18446744073709551615}\r\nx\r\n"),
            Some(Err(_))
        ));
    }
}
