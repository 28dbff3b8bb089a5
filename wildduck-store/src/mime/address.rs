//! Address lists (From, To, …) parsed into RFC 3501 envelope addresses, the way Dovecot does:
//! display names kept as written (RFC 2047 words are not decoded, quotes removed), groups
//! as a start marker and an end marker, missing parts filled with `MISSING_MAILBOX` /
//! `MISSING_DOMAIN`.

use super::header::{Lexer, for_humans, lossy};
use crate::model::EnvelopeAddress;

const MISSING_MAILBOX: &str = "MISSING_MAILBOX";
const MISSING_DOMAIN: &str = "MISSING_DOMAIN";

#[derive(Debug)]
enum Word {
    Atom(Vec<u8>),
    Quoted(Vec<u8>),
    Dot,
}

/// `mailbox@host` of every complete address in the header fields called `field` (ASCII,
/// any case) of the message `raw`, in order.
pub fn header_addresses(raw: &[u8], field: &str) -> Vec<String> {
    super::header::HeaderFields::new(raw)
        .filter(|header| header.name.eq_ignore_ascii_case(field.as_bytes()))
        .flat_map(|header| parse_address_list(header.value))
        .filter_map(|address| match (address.mailbox, address.host) {
            (Some(mailbox), Some(host)) => Some(format!("{mailbox}@{host}")),
            _ => None,
        })
        .collect()
}

/// Parses an address-list header value.
pub fn parse_address_list(value: &[u8]) -> Vec<EnvelopeAddress> {
    let mut lexer = Lexer::new(value);
    let mut out = Vec::new();
    parse_list(&mut lexer, &mut out, false);
    out
}

fn parse_list(lexer: &mut Lexer<'_>, out: &mut Vec<EnvelopeAddress>, in_group: bool) {
    loop {
        skip_separators(lexer);
        match lexer.peek() {
            None => return,
            Some(b';') if in_group => {
                lexer.eat(b';');
                return;
            }
            Some(b';') => {
                lexer.eat(b';');
                continue;
            }
            _ => {}
        }
        let before = lexer.position();
        let (words, comment) = read_words(lexer);
        match lexer.peek() {
            Some(b':') if !in_group => {
                lexer.eat(b':');
                out.push(EnvelopeAddress {
                    name: None,
                    adl: None,
                    mailbox: Some(phrase(&words)),
                    host: None,
                });
                parse_list(lexer, out, true);
                out.push(EnvelopeAddress::default());
            }
            Some(b'<') => {
                lexer.eat(b'<');
                let mut address = angle_address(lexer);
                let name = for_humans(&phrase(&words));
                address.name = (!name.is_empty()).then_some(name);
                out.push(address);
            }
            Some(b'@') => {
                lexer.eat(b'@');
                let local = local_part(&words);
                let domain = domain(lexer);
                let trailing_comment = skip_cfws_keep_comment(lexer);
                let name = trailing_comment
                    .or(comment)
                    .map(|c| for_humans(&c))
                    .filter(|c| !c.is_empty());
                out.push(EnvelopeAddress {
                    name,
                    adl: None,
                    mailbox: Some(non_empty_or(local, MISSING_MAILBOX)),
                    host: Some(non_empty_or(domain, MISSING_DOMAIN)),
                });
            }
            _ => {
                if !words.is_empty() {
                    out.push(EnvelopeAddress {
                        name: comment.map(|c| for_humans(&c)).filter(|c| !c.is_empty()),
                        adl: None,
                        mailbox: Some(local_part(&words)),
                        host: Some(MISSING_DOMAIN.to_string()),
                    });
                }
                // Skip whatever could not be understood up to the next separator.
                if lexer.position() == before || !matches!(lexer.peek(), Some(b',') | None) {
                    skip_junk(lexer, in_group);
                }
            }
        }
    }
}

fn skip_separators(lexer: &mut Lexer<'_>) {
    loop {
        lexer.skip_cfws();
        if !lexer.eat(b',') {
            return;
        }
    }
}

fn skip_junk(lexer: &mut Lexer<'_>, in_group: bool) {
    while let Some(b) = lexer.peek() {
        match b {
            b',' => return,
            b';' if in_group => return,
            b'"' => {
                lexer.quoted_bytes();
            }
            b'(' => {
                lexer.comment();
            }
            _ => lexer.set_position(lexer.position() + 1),
        }
    }
}

/// Skips white space and comments, returning the text of the last comment.
fn skip_cfws_keep_comment(lexer: &mut Lexer<'_>) -> Option<String> {
    let mut last = None;
    loop {
        match lexer.peek() {
            Some(b' ' | b'\t' | b'\r' | b'\n') => lexer.set_position(lexer.position() + 1),
            Some(b'(') => last = Some(lossy(&lexer.comment())),
            _ => return last,
        }
    }
}

/// Reads atoms, quoted strings and dots up to a special character.
fn read_words(lexer: &mut Lexer<'_>) -> (Vec<Word>, Option<String>) {
    let mut words = Vec::new();
    let mut comment = None;
    loop {
        if let Some(c) = skip_cfws_keep_comment(lexer) {
            comment = Some(c);
        }
        match lexer.peek() {
            None => break,
            Some(b'"') => words.push(Word::Quoted(lexer.quoted_bytes())),
            Some(b'.') => {
                lexer.eat(b'.');
                words.push(Word::Dot);
            }
            Some(b) if is_special(b) => break,
            Some(_) => words.push(Word::Atom(atom(lexer))),
        }
    }
    (words, comment)
}

fn is_special(b: u8) -> bool {
    b"()<>[]:;@\\,\"".contains(&b)
}

fn atom(lexer: &mut Lexer<'_>) -> Vec<u8> {
    let rest = lexer.rest();
    let len = rest
        .iter()
        // Control bytes other than white space belong to the atom: `read_words` calls this
        // on any byte that is not white space, a dot or special, so the atom must take it or
        // the caller would loop forever (a NUL in a From: field hung the analysis).
        .position(|&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n') || b == b'.' || is_special(b))
        .unwrap_or(rest.len());
    let atom = rest[..len].to_vec();
    lexer.set_position(lexer.position() + len);
    atom
}

/// A display name: words joined by single spaces, dots attached.
fn phrase(words: &[Word]) -> String {
    let mut out = Vec::new();
    let mut after_dot = true;
    for word in words {
        match word {
            Word::Dot => {
                out.push(b'.');
                after_dot = true;
            }
            Word::Atom(text) | Word::Quoted(text) => {
                if !after_dot {
                    out.push(b' ');
                }
                out.extend_from_slice(text);
                after_dot = false;
            }
        }
    }
    lossy(&out)
}

/// A local part: the words concatenated as written.
fn local_part(words: &[Word]) -> String {
    let mut out = Vec::new();
    for word in words {
        match word {
            Word::Dot => out.push(b'.'),
            Word::Atom(text) | Word::Quoted(text) => out.extend_from_slice(text),
        }
    }
    lossy(&out)
}

/// A domain: atoms, dots and domain literals concatenated. Stops before a comment, which
/// may be the display name.
fn domain(lexer: &mut Lexer<'_>) -> String {
    let mut out = Vec::new();
    loop {
        match lexer.peek() {
            Some(b' ' | b'\t' | b'\r' | b'\n') => lexer.set_position(lexer.position() + 1),
            // A comment where the domain has yet to come (`@ (c) domain.org`, `a.(c)b`) is
            // skipped, as Dovecot does; one after it is the display name's (`a@b.c (Name)`).
            Some(b'(') if out.is_empty() || out.ends_with(b".") => {
                lexer.comment();
            }
            Some(b'.') => {
                lexer.eat(b'.');
                out.push(b'.');
            }
            Some(b'[') => {
                let rest = lexer.rest();
                let len = rest
                    .iter()
                    .position(|&b| b == b']')
                    .map_or(rest.len(), |p| p + 1);
                out.extend(rest[..len].iter().filter(|&&b| b != b'\r' && b != b'\n'));
                lexer.set_position(lexer.position() + len);
            }
            Some(b) if !is_special(b) && b > b' ' => out.extend_from_slice(&atom(lexer)),
            _ => break,
        }
    }
    lossy(&out)
}

/// After `<`: an optional route, the address, then `>`.
fn angle_address(lexer: &mut Lexer<'_>) -> EnvelopeAddress {
    lexer.skip_cfws();
    let mut adl = None;
    if lexer.peek() == Some(b'@') {
        let mut route = Vec::new();
        while lexer.eat(b'@') {
            route.push(format!("@{}", domain(lexer)));
            lexer.skip_cfws();
            if !lexer.eat(b',') {
                break;
            }
            lexer.skip_cfws();
        }
        lexer.skip_cfws();
        lexer.eat(b':');
        adl = Some(route.join(","));
    }
    let (words, _) = read_words(lexer);
    let local = local_part(&words);
    let host = if lexer.eat(b'@') {
        domain(lexer)
    } else {
        String::new()
    };
    lexer.skip_cfws();
    // Anything up to the closing bracket is ignored.
    while let Some(b) = lexer.peek() {
        lexer.set_position(lexer.position() + 1);
        if b == b'>' {
            break;
        }
    }
    EnvelopeAddress {
        name: None,
        adl,
        mailbox: Some(non_empty_or(local, MISSING_MAILBOX)),
        host: Some(non_empty_or(host, MISSING_DOMAIN)),
    }
}

fn non_empty_or(value: String, missing: &str) -> String {
    if value.is_empty() {
        missing.to_string()
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(name: Option<&str>, mailbox: Option<&str>, host: Option<&str>) -> EnvelopeAddress {
        EnvelopeAddress {
            name: name.map(str::to_string),
            adl: None,
            mailbox: mailbox.map(str::to_string),
            host: host.map(str::to_string),
        }
    }

    /// Found by `wildduck-fuzz` (corpus `mime/address-control-byte`): a control byte
    /// outside quotes made the parser loop forever, growing a list of empty atoms.
    #[test]
    fn control_bytes_in_an_address_end_the_parse() {
        let list = parse_address_list(b" a\x01b@c.d, \x00 <e@f.g>, \x0b\r\n");
        assert_eq!(list[0], addr(None, Some("a\u{1}b"), Some("c.d")));
        assert_eq!(list[1].mailbox.as_deref(), Some("e"));
    }

    #[test]
    fn names_stay_encoded_and_quotes_go() {
        let list = parse_address_list(
            b" =?UTF-8?Q?A_B?= <a@b.c>, \"Doe, John\" <j@d.e>, x@y (Comment)\r\n",
        );
        assert_eq!(
            list,
            vec![
                addr(Some("=?UTF-8?Q?A_B?="), Some("a"), Some("b.c")),
                addr(Some("Doe, John"), Some("j"), Some("d.e")),
                addr(Some("Comment"), Some("x"), Some("y")),
            ]
        );
    }

    #[test]
    fn groups_have_start_and_end_markers() {
        let list = parse_address_list(b" friends: a@b, c@d; undisclosed-recipients:;");
        assert_eq!(
            list,
            vec![
                addr(None, Some("friends"), None),
                addr(None, Some("a"), Some("b")),
                addr(None, Some("c"), Some("d")),
                EnvelopeAddress::default(),
                addr(None, Some("undisclosed-recipients"), None),
                EnvelopeAddress::default(),
            ]
        );
    }

    #[test]
    fn missing_domain_is_filled() {
        assert_eq!(
            parse_address_list(b"root"),
            vec![addr(None, Some("root"), Some("MISSING_DOMAIN"))]
        );
    }
}
