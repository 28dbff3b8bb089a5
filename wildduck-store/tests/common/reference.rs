//! An independent, deliberately simple reference for the MIME engine: a recursive parser over
//! the whole message and section extraction on its tree. It follows the same (Dovecot) rules
//! as the streaming splitter but shares no code with it.
//!
//! Rules: a line starting with `--` + an active boundary (longest wins) is a boundary line;
//! the line ending before it belongs to it unless the line is the first of a header, of a
//! body, or of an epilogue; a boundary right after a header's blank line, or inside a
//! header, takes that header's last line ending while the enclosing parts end at the boundary
//! line; nesting deeper than 100 is a leaf.

use std::ops::Range;

use wildduck_store::{Partial, Section, SectionText};

const MAX_DEPTH: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefKind {
    Leaf,
    Multipart(Vec<RefPart>),
    Message(Box<RefPart>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefPart {
    pub header: Range<usize>,
    pub body: Range<usize>,
    pub kind: RefKind,
    /// Lower-case "type/subtype" as the header gives it (empty when absent).
    pub content_type: String,
}

/// Why a scan stopped.
#[derive(Debug, Clone, Copy)]
enum Stop {
    Eof,
    /// A boundary line of the multipart at `level` of the boundary stack: where the part
    /// before it ends (`cut`), where the line ends, and whether it closes the multipart.
    Boundary {
        level: usize,
        cut: usize,
        line_end: usize,
        close: bool,
    },
}

pub fn parse(raw: &[u8]) -> RefPart {
    let mut stack = Vec::new();
    parse_entity(raw, 0, &mut stack, 0, false).0
}

/// Lines of `raw` from `pos`: (start, end including LF).
fn next_line(raw: &[u8], pos: usize) -> Option<(usize, usize)> {
    if pos >= raw.len() {
        return None;
    }
    let end = raw[pos..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(raw.len(), |i| pos + i + 1);
    Some((pos, end))
}

fn eol_before(raw: &[u8], line_start: usize) -> usize {
    if line_start >= 2 && &raw[line_start - 2..line_start] == b"\r\n" {
        2
    } else if line_start >= 1 && raw[line_start - 1] == b'\n' {
        1
    } else {
        0
    }
}

/// If the line is a boundary line of an active boundary: (level, closes).
fn boundary_of(line: &[u8], stack: &[Option<Vec<u8>>]) -> Option<(usize, bool)> {
    let rest = line.strip_prefix(b"--")?;
    let mut best: Option<(usize, usize)> = None;
    for (level, b) in stack.iter().enumerate() {
        if let Some(b) = b
            && rest.starts_with(b)
            && best.is_none_or(|(_, l)| l < b.len())
        {
            best = Some((level, b.len()));
        }
    }
    best.map(|(level, len)| (level, rest[len..].starts_with(b"--")))
}

/// Scans lines from `start` until a boundary line or EOF. `start` is a segment start: a
/// boundary on its very first line takes no line ending.
fn scan(raw: &[u8], start: usize, stack: &[Option<Vec<u8>>]) -> Stop {
    let mut pos = start;
    while let Some((ls, le)) = next_line(raw, pos) {
        if let Some((level, close)) = boundary_of(&raw[ls..le], stack) {
            let cut = if ls > start {
                ls - eol_before(raw, ls)
            } else {
                ls
            };
            return Stop::Boundary {
                level,
                cut,
                line_end: le,
                close,
            };
        }
        pos = le;
    }
    Stop::Eof
}

fn stop_pos(raw: &[u8], stop: Stop) -> usize {
    match stop {
        Stop::Eof => raw.len(),
        Stop::Boundary { cut, .. } => cut,
    }
}

/// Parses the entity (header + body) starting at `start`.
fn parse_entity(
    raw: &[u8],
    start: usize,
    stack: &mut Vec<Option<Vec<u8>>>,
    depth: usize,
    in_digest: bool,
) -> (RefPart, Stop) {
    // Header: up to the blank line, a boundary line, or EOF. A boundary line inside the
    // header takes the header's last line ending; the enclosing parts end at the line.
    let mut pos = start;
    let mut header_end = None;
    while let Some((ls, le)) = next_line(raw, pos) {
        if let Some((level, close)) = boundary_of(&raw[ls..le], stack) {
            let cut = if ls > start {
                ls - eol_before(raw, ls)
            } else {
                ls
            };
            let part = RefPart {
                header: start..cut,
                body: cut..cut,
                kind: RefKind::Leaf,
                content_type: String::new(),
            };
            let stop = Stop::Boundary {
                level,
                cut: ls,
                line_end: le,
                close,
            };
            return (part, stop);
        }
        let line = &raw[ls..le];
        if line == b"\n" || line == b"\r\n" {
            header_end = Some((ls, le));
            break;
        }
        pos = le;
    }
    let Some((blank_start, body_start)) = header_end else {
        let part = RefPart {
            header: start..raw.len(),
            body: raw.len()..raw.len(),
            kind: RefKind::Leaf,
            content_type: String::new(),
        };
        return (part, Stop::Eof);
    };
    let header = &raw[start..body_start];
    let (content_type, boundary) = content_type_of(header);
    let is_multipart = content_type.starts_with("multipart/");
    let is_message = content_type == "message/rfc822" || (content_type.is_empty() && in_digest);
    let nest = depth < MAX_DEPTH;
    // A boundary of an enclosing part right after the blank line: the header loses the blank
    // line, the body is empty there (a nested message too), enclosing parts end at the line.
    // (A multipart's own boundary counts here too: its first delimiter is no such boundary.)
    let own = (is_multipart && nest).then(|| boundary.clone()).flatten();
    let outer_levels = stack.len();
    stack.push(own);
    let next_boundary = next_line(raw, body_start)
        .and_then(|(ls, le)| Some((ls, le, boundary_of(&raw[ls..le], stack)?)));
    stack.pop();
    if let Some((ls, le, (level, close))) = next_boundary
        && level < outer_levels
    {
        let empty = blank_start..blank_start;
        let kind = if is_multipart {
            RefKind::Multipart(Vec::new())
        } else if is_message && nest {
            RefKind::Message(Box::new(RefPart {
                header: empty.clone(),
                body: empty.clone(),
                kind: RefKind::Leaf,
                content_type: String::new(),
            }))
        } else {
            RefKind::Leaf
        };
        let part = RefPart {
            header: start..blank_start,
            body: empty,
            kind,
            content_type,
        };
        let stop = Stop::Boundary {
            level,
            cut: ls,
            line_end: le,
            close,
        };
        return (part, stop);
    }
    let (kind, stop) = if is_multipart && nest && boundary.is_some() {
        stack.push(boundary);
        let level = stack.len() - 1;
        let (children, stop) = parse_multipart_body(
            raw,
            body_start,
            stack,
            level,
            depth,
            content_type == "multipart/digest",
        );
        stack.truncate(level);
        (RefKind::Multipart(children), stop)
    } else if is_multipart {
        (RefKind::Multipart(Vec::new()), scan(raw, body_start, stack))
    } else if is_message && nest {
        let (child, stop) = parse_entity(raw, body_start, stack, depth + 1, false);
        (RefKind::Message(Box::new(child)), stop)
    } else {
        (RefKind::Leaf, scan(raw, body_start, stack))
    };
    let end = stop_pos(raw, stop).max(body_start);
    let part = RefPart {
        header: start..body_start,
        body: body_start..end,
        kind,
        content_type,
    };
    (part, stop)
}

fn parse_multipart_body(
    raw: &[u8],
    body_start: usize,
    stack: &mut Vec<Option<Vec<u8>>>,
    level: usize,
    depth: usize,
    digest: bool,
) -> (Vec<RefPart>, Stop) {
    let mut children = Vec::new();
    let mut stop = scan(raw, body_start, stack);
    loop {
        match stop {
            Stop::Boundary {
                level: l,
                line_end,
                close: false,
                ..
            } if l == level => {
                let (child, child_stop) = parse_entity(raw, line_end, stack, depth + 1, digest);
                children.push(child);
                stop = child_stop;
            }
            Stop::Boundary {
                level: l,
                line_end,
                close: true,
                ..
            } if l == level => {
                // Epilogue: our boundary is forgotten.
                stack[level] = None;
                return (children, scan(raw, line_end, stack));
            }
            other => return (children, other),
        }
    }
}

/// The first Content-Type's lower-case "type/subtype" and its boundary parameter.
fn content_type_of(header: &[u8]) -> (String, Option<Vec<u8>>) {
    let text = String::from_utf8_lossy(header);
    let mut fields: Vec<String> = Vec::new();
    for line in text.split_inclusive('\n') {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.push_str(line);
            }
        } else {
            fields.push(line.to_string());
        }
    }
    let mut mime = false;
    let mut found: Option<(String, Option<Vec<u8>>)> = None;
    for field in &fields {
        let Some((name, value)) = field.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        if name == "mime-version" {
            mime = true;
        }
        if name != "content-type" {
            continue;
        }
        mime = true;
        if found.is_some() {
            continue;
        }
        let value: String = value.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        let mut pieces = value.split(';');
        let ty = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let ty: String = ty.chars().filter(|c| !c.is_whitespace()).collect();
        let boundary = pieces.find_map(|p| {
            let (k, v) = p.split_once('=')?;
            if !k.trim().eq_ignore_ascii_case("boundary") {
                return None;
            }
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .map(|q| q.split('"').next().unwrap_or(""))
                .unwrap_or(v);
            // Boundaries longer than 256 bytes are ignored (the engine's limit).
            (!v.is_empty() && v.len() <= 256).then(|| v.as_bytes().to_vec())
        });
        let valid = ty
            .split_once('/')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty());
        found = Some((if valid { ty } else { String::new() }, boundary));
    }
    match found {
        Some(f) if mime => f,
        _ => (String::new(), None),
    }
}

/// Every numeric path of the tree (`[]` excluded), as Dovecot numbers parts.
pub fn all_paths(root: &RefPart) -> Vec<Vec<u32>> {
    let mut out = Vec::new();
    // The message's own parts: a multipart's children, or "1" for anything else.
    fn message_parts(message: &RefPart, prefix: &[u32], out: &mut Vec<Vec<u32>>) {
        match &message.kind {
            RefKind::Multipart(children) => {
                for (i, child) in children.iter().enumerate() {
                    let mut path = prefix.to_vec();
                    path.push(i as u32 + 1);
                    part_and_below(child, &path, out);
                }
            }
            _ => {
                let mut path = prefix.to_vec();
                path.push(1);
                part_and_below(message, &path, out);
            }
        }
    }
    fn part_and_below(part: &RefPart, path: &[u32], out: &mut Vec<Vec<u32>>) {
        out.push(path.to_vec());
        match &part.kind {
            RefKind::Multipart(children) => {
                for (i, child) in children.iter().enumerate() {
                    let mut sub = path.to_vec();
                    sub.push(i as u32 + 1);
                    part_and_below(child, &sub, out);
                }
            }
            RefKind::Message(nested) => message_parts(nested, path, out),
            RefKind::Leaf => {}
        }
    }
    message_parts(root, &[], &mut out);
    out
}

/// Resolves a path like Dovecot; `None` for a part that does not exist.
fn resolve<'a>(root: &'a RefPart, path: &[u32]) -> Option<&'a RefPart> {
    let mut part = root;
    for (i, &n) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        part = match &part.kind {
            RefKind::Multipart(children) => children.get((n as usize).checked_sub(1)?)?,
            RefKind::Message(_) if n == 1 => part,
            RefKind::Leaf if n == 1 && last => part,
            _ => return None,
        };
        if !last && let RefKind::Message(nested) = &part.kind {
            part = nested;
        }
    }
    Some(part)
}

/// The bytes of a section computed from the reference tree.
pub fn section(raw: &[u8], root: &RefPart, section: &Section, partial: Option<Partial>) -> Vec<u8> {
    let full = section_full(raw, root, section);
    match partial {
        None => full,
        Some(p) => {
            let start = (p.offset as usize).min(full.len());
            let end = p
                .length
                .map_or(full.len(), |l| (start + l as usize).min(full.len()));
            full[start..end].to_vec()
        }
    }
}

fn section_full(raw: &[u8], root: &RefPart, section: &Section) -> Vec<u8> {
    let Some(part) = resolve(root, &section.part) else {
        return Vec::new();
    };
    let message = if section.part.is_empty() {
        Some(root)
    } else if let RefKind::Message(nested) = &part.kind {
        Some(&**nested)
    } else {
        None
    };
    match &section.text {
        SectionText::Full if section.part.is_empty() => raw.to_vec(),
        SectionText::Full => raw[part.body.clone()].to_vec(),
        SectionText::Mime => raw[part.header.clone()].to_vec(),
        SectionText::Header => message.map_or(Vec::new(), |m| raw[m.header.clone()].to_vec()),
        SectionText::Text => message.map_or(Vec::new(), |m| raw[m.body.clone()].to_vec()),
        SectionText::HeaderFields(names) => {
            message.map_or(Vec::new(), |m| fields(&raw[m.header.clone()], names, true))
        }
        SectionText::HeaderFieldsNot(names) => {
            message.map_or(Vec::new(), |m| fields(&raw[m.header.clone()], names, false))
        }
    }
}

fn fields(header: &[u8], names: &[String], wanted: bool) -> Vec<u8> {
    let mut lines: Vec<&[u8]> = header.split_inclusive(|&b| b == b'\n').collect();
    let blank = match lines.last() {
        Some(l) if *l == b"\n" || *l == b"\r\n" => lines.pop().map(<[u8]>::to_vec),
        _ => None,
    };
    let mut out = Vec::new();
    let mut keep = false;
    for line in lines {
        if !line.starts_with(b" ") && !line.starts_with(b"\t") {
            let name = match line.iter().position(|&b| b == b':') {
                Some(colon) => &line[..colon],
                None => line,
            };
            let name = String::from_utf8_lossy(name).trim().to_ascii_lowercase();
            keep = names.iter().any(|n| n.to_ascii_lowercase() == name) == wanted;
        }
        if keep {
            out.extend_from_slice(line);
            if !line.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out.extend_from_slice(&blank.unwrap_or_else(|| b"\r\n".to_vec()));
    out
}

/// A set of sections worth checking for a message: the whole, its header and text, header
/// fields, and for every part its body, MIME header, and (for message parts) header/text.
pub fn interesting_sections(root: &RefPart) -> Vec<Section> {
    let fields = vec![
        "From".to_string(),
        "subject".to_string(),
        "Content-Type".into(),
    ];
    let mut out = vec![
        Section::full(),
        Section {
            part: vec![],
            text: SectionText::Header,
        },
        Section {
            part: vec![],
            text: SectionText::Text,
        },
        Section {
            part: vec![],
            text: SectionText::HeaderFields(fields.clone()),
        },
        Section {
            part: vec![],
            text: SectionText::HeaderFieldsNot(fields.clone()),
        },
        Section {
            part: vec![9, 9],
            text: SectionText::Full,
        },
    ];
    for path in all_paths(root) {
        for text in [
            SectionText::Full,
            SectionText::Mime,
            SectionText::Header,
            SectionText::Text,
            SectionText::HeaderFields(fields.clone()),
        ] {
            out.push(Section {
                part: path.clone(),
                text,
            });
        }
        let mut deeper = path.clone();
        deeper.push(1);
        out.push(Section {
            part: deeper,
            text: SectionText::Full,
        });
    }
    out
}
