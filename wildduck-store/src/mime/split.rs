//! The MIME splitter: finds every part of a message and records where its header and body
//! lie, without changing or copying the message.
//!
//! It follows Dovecot's message parser where RFC 2046 leaves room: a boundary line only has to
//! *start* with `--boundary` (the longest matching boundary wins), the line ending before a
//! boundary line belongs to the boundary, a boundary line of an enclosing multipart also ends
//! every part nested deeper, a boundary may end a header that had no blank line, and after the
//! closing `--boundary--` the boundary is forgotten (the rest is epilogue).
//!
//! The splitter is fed chunks ([`Splitter::feed`]) and keeps only the current header block and
//! a short prefix of the current line, so a message never has to sit in memory twice.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::header::{HeaderFields, parse_content_type};

/// Parts nested deeper than this are opaque leaves (protects the stack and the tree).
pub const MAX_DEPTH: usize = 100;
/// After this many parts, no further boundary is recognised: the rest of the message belongs
/// to the part being read. Bounds the tree's memory for hostile input.
pub const MAX_PARTS: usize = 50_000;
/// Header blocks longer than this are still located exactly but only this much is parsed.
const MAX_PARSED_HEADER: usize = 1 << 20;
/// Of a body line only this much is needed (to recognise a boundary).
const BODY_LINE_PREFIX: usize = 512;
/// Longer boundaries (RFC 2046 allows 70 characters) are ignored, so that a boundary always
/// fits the part of a line that is kept and chunking never changes the result.
const MAX_BOUNDARY: usize = 256;

/// What a part contains, as far as the splitter cares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartKind {
    /// A body that is not split further.
    Leaf,
    /// A multipart: its children, and its boundary lines (each with its own line ending).
    Multipart {
        children: Vec<usize>,
        delimiters: Vec<Range<usize>>,
    },
    /// A `message/rfc822` body: the nested message.
    Message { child: usize },
}

/// One node of the part tree. Offsets are absolute positions in the message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartNode {
    /// The header block, including the blank line that ends it when there is one.
    pub header: Range<usize>,
    /// The body (empty range at the header's end when there is none).
    pub body: Range<usize>,
    /// Number of line feeds inside `body`.
    pub body_lines: u64,
    /// Lower-case media type and subtype, after MIME defaults were applied.
    pub media_type: String,
    pub media_subtype: String,
    /// True when the header made this a MIME part (Content-Type or MIME-Version present).
    pub is_mime: bool,
    pub kind: PartKind,
    pub depth: usize,
}

/// The parts of one message; `parts[0]` is the message itself. Serializable, so a store can
/// keep it and serve sections from a [`Layout`](super::Layout) without splitting again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartTree {
    pub parts: Vec<PartNode>,
    /// Length of the whole message.
    pub len: usize,
}

impl PartTree {
    pub fn root(&self) -> &PartNode {
        &self.parts[0]
    }

    /// Children of a part in order: the parts of a multipart, or the nested message.
    pub fn children(&self, index: usize) -> &[usize] {
        match &self.parts[index].kind {
            PartKind::Leaf => &[],
            PartKind::Multipart { children, .. } => children,
            PartKind::Message { child } => std::slice::from_ref(child),
        }
    }
}

/// Splits a whole message held in memory.
pub fn split(raw: &[u8]) -> PartTree {
    let mut splitter = Splitter::new();
    splitter.feed(raw);
    splitter.finish()
}

enum FrameState {
    /// Reading the header block (what was read of it so far).
    Header { parsed: Vec<u8> },
    /// Reading the body.
    Body,
}

struct Frame {
    part: usize,
    state: FrameState,
    /// The boundary of this multipart while its closing delimiter has not been seen.
    boundary: Option<Vec<u8>>,
    /// Line-feed count at the start of the body.
    body_lf_start: u64,
}

/// Incremental splitter: feed the message in chunks of any size, then call `finish`.
pub struct Splitter {
    parts: Vec<PartNode>,
    stack: Vec<Frame>,
    /// Absolute offset of the next byte to be fed.
    offset: usize,
    /// Line feeds seen before `line_start`.
    lf_before_line: u64,
    /// The current incomplete line: where it starts, its length so far, and a prefix of it.
    line_start: usize,
    line_len: usize,
    line_prefix: Vec<u8>,
    /// Line ending size of the line before the current one (0 at the start).
    prev_eol: usize,
    /// Whether the previous line was a boundary line: its line ending then already belongs
    /// to it, so a boundary line right after takes no line ending from the part before.
    prev_line_was_boundary: bool,
    /// The part whose header the current line (a blank line) ended, and the same for the
    /// previous line.
    line_ended_header: Option<usize>,
    prev_line_ended_header: Option<usize>,
    /// The last byte fed so far (to know whether a line feed follows a carriage return).
    last_byte: Option<u8>,
    /// No more boundaries are recognised once the part limit is reached.
    parts_exhausted: bool,
}

impl Default for Splitter {
    fn default() -> Self {
        Self::new()
    }
}

impl Splitter {
    pub fn new() -> Self {
        let mut splitter = Splitter {
            parts: Vec::new(),
            stack: Vec::new(),
            offset: 0,
            lf_before_line: 0,
            line_start: 0,
            line_len: 0,
            line_prefix: Vec::new(),
            prev_eol: 0,
            last_byte: None,
            line_ended_header: None,
            prev_line_ended_header: None,
            prev_line_was_boundary: false,
            parts_exhausted: false,
        };
        splitter.open_part(0, 0, false);
        splitter
    }

    /// Feeds the next chunk of the message.
    pub fn feed(&mut self, chunk: &[u8]) {
        let mut rest = chunk;
        while let Some(pos) = memchr(b'\n', rest) {
            let line = &rest[..=pos];
            let cr_before_lf = if pos > 0 {
                rest[pos - 1] == b'\r'
            } else {
                self.last_byte == Some(b'\r')
            };
            if self.line_len == 0 {
                // The whole line is in this chunk: look at it where it is.
                self.line_len = line.len();
                self.offset += line.len();
                self.last_byte = Some(b'\n');
                self.end_line(line, Some(cr_before_lf));
            } else {
                self.extend_line(line);
                let carried = std::mem::take(&mut self.line_prefix);
                self.end_line(&carried, Some(cr_before_lf));
                self.line_prefix = carried;
                self.line_prefix.clear();
            }
            rest = &rest[pos + 1..];
        }
        if !rest.is_empty() {
            self.extend_line(rest);
        }
    }

    /// Ends the input and returns the part tree.
    pub fn finish(mut self) -> PartTree {
        if self.line_len > 0 {
            let carried = std::mem::take(&mut self.line_prefix);
            self.end_line(&carried, None);
        }
        let end = self.offset;
        let lf_total = self.lf_before_line;
        while let Some(frame) = self.stack.pop() {
            self.close_frame(frame, end, lf_total);
        }
        PartTree {
            parts: self.parts,
            len: end,
        }
    }

    fn extend_line(&mut self, bytes: &[u8]) {
        let keep = if matches!(self.top_state(), Some(FrameState::Header { .. })) {
            MAX_PARSED_HEADER
        } else {
            BODY_LINE_PREFIX
        };
        if self.line_prefix.len() < keep {
            let room = keep - self.line_prefix.len();
            self.line_prefix
                .extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
        self.line_len += bytes.len();
        self.offset += bytes.len();
        self.last_byte = bytes.last().copied().or(self.last_byte);
    }

    fn top_state(&self) -> Option<&FrameState> {
        self.stack.last().map(|f| &f.state)
    }

    /// Processes the completed current line. `lf` tells whether the line ends with a line
    /// feed preceded by a carriage return; `None` only for a last line without line feed.
    fn end_line(&mut self, line: &[u8], lf: Option<bool>) {
        let has_lf = lf.is_some();
        let eol = match lf {
            None => 0,
            Some(true) if self.line_len >= 2 => 2,
            Some(_) => 1,
        };
        self.prev_line_ended_header = self.line_ended_header.take();
        self.prev_line_was_boundary = self.process_line(line, eol);
        self.line_start += self.line_len;
        self.line_len = 0;
        if has_lf {
            self.lf_before_line += 1;
        }
        self.prev_eol = eol;
    }

    /// Processes one line; returns whether it was a boundary line.
    fn process_line(&mut self, line: &[u8], eol: usize) -> bool {
        if let Some((frame_index, closing)) = self.find_boundary(line) {
            self.boundary_line(frame_index, closing, eol);
            return true;
        }
        let Some(frame) = self.stack.last_mut() else {
            return false;
        };
        if let FrameState::Header { parsed } = &mut frame.state {
            let is_blank = line.len() == eol && eol > 0;
            if is_blank {
                self.header_ended();
            } else {
                if parsed.len() < MAX_PARSED_HEADER {
                    let room = MAX_PARSED_HEADER - parsed.len();
                    parsed.extend_from_slice(&line[..line.len().min(room)]);
                }
            }
        }
        false
    }

    /// The frame whose boundary starts this line (longest match wins), and whether the line
    /// is a closing delimiter.
    fn find_boundary(&self, line: &[u8]) -> Option<(usize, bool)> {
        if self.parts_exhausted || line.len() < 2 || &line[..2] != b"--" {
            return None;
        }
        let rest = &line[2..];
        let mut best: Option<(usize, usize)> = None;
        for (index, frame) in self.stack.iter().enumerate() {
            if let Some(boundary) = &frame.boundary
                && rest.starts_with(boundary)
                && best.is_none_or(|(_, len)| len < boundary.len())
            {
                best = Some((index, boundary.len()));
            }
        }
        best.map(|(index, len)| (index, rest[len..].starts_with(b"--")))
    }

    /// A boundary line of the multipart at `frame_index`: ends every part nested in it, then
    /// either opens the next part or starts the epilogue.
    fn boundary_line(&mut self, frame_index: usize, closing: bool, eol: usize) {
        let at_line = (self.line_start, self.lf_before_line);
        let before_eol = (
            self.line_start - self.prev_eol,
            self.lf_before_line.saturating_sub(1),
        );
        let top = self.stack.len() - 1;
        // Which parts end where, as Dovecot's parser has it: the line ending before a
        // boundary line belongs to the boundary. If the boundary comes right after a header's
        // blank line, that header loses the blank line and its (empty) body sits there; if
        // it interrupts a header, the header loses its last line ending; in either case the
        // enclosing parts end at the boundary line itself. Inside a body, every closed part
        // ends before the line ending, unless the boundary is the first line of the body or
        // follows another boundary line.
        let header_ended_at = self
            .prev_line_ended_header
            .and_then(|part| self.stack.iter().rposition(|f| f.part == part))
            .filter(|&index| index > frame_index && self.prev_eol > 0);
        let top_frame = &self.stack[top];
        let top_part = &self.parts[top_frame.part];
        let (collapse_from, inner_end, outer_end) = match (&top_frame.state, header_ended_at) {
            (_, Some(index)) => (Some(index), before_eol, at_line),
            (FrameState::Header { .. }, None)
                if self.line_start > top_part.header.start && self.prev_eol > 0 =>
            {
                (None, before_eol, at_line)
            }
            (FrameState::Body, None)
                if self.line_start > top_part.body.start
                    && self.prev_eol > 0
                    && !self.prev_line_was_boundary =>
            {
                (None, before_eol, before_eol)
            }
            _ => (None, at_line, at_line),
        };
        while self.stack.len() > frame_index + 1 {
            let index = self.stack.len() - 1;
            let Some(frame) = self.stack.pop() else {
                break;
            };
            match collapse_from {
                Some(from) if index >= from => self.collapse(frame, inner_end.0, index == from),
                Some(_) => self.close_frame(frame, outer_end.0, outer_end.1),
                None if index == top => self.close_frame(frame, inner_end.0, inner_end.1),
                None => self.close_frame(frame, outer_end.0, outer_end.1),
            }
        }
        let line_end = self.line_start + self.line_len;
        let parent = self.stack[frame_index].part;
        if let PartKind::Multipart { delimiters, .. } = &mut self.parts[parent].kind {
            delimiters.push(self.line_start..line_end);
        }
        if closing {
            self.stack[frame_index].boundary = None;
        } else {
            let lf_after = self.lf_before_line + u64::from(eol > 0);
            let depth = self.parts[parent].depth + 1;
            // A part of a multipart is MIME by position (as in Dovecot).
            let child = self.open_part(line_end, depth, true);
            if let PartKind::Multipart { children, .. } = &mut self.parts[parent].kind {
                children.push(child);
            }
            self.stack_top_lf(lf_after);
        }
    }

    /// Ends a part whose header just ended (or a part nested in it) with nothing after: its
    /// header ends at `at` (losing the blank line's line ending when `header_owner`), and
    /// its body is empty there.
    fn collapse(&mut self, frame: Frame, at: usize, header_owner: bool) {
        let part = &mut self.parts[frame.part];
        let start = if header_owner { part.header.start } else { at };
        part.header = start..at.max(start);
        part.body = part.header.end..part.header.end;
        part.body_lines = 0;
    }

    fn stack_top_lf(&mut self, lf: u64) {
        if let Some(top) = self.stack.last_mut() {
            top.body_lf_start = lf;
        }
    }

    /// Starts a new part whose header begins at `start`.
    fn open_part(&mut self, start: usize, depth: usize, is_mime: bool) -> usize {
        let index = self.parts.len();
        self.parts.push(PartNode {
            header: start..start,
            body: start..start,
            body_lines: 0,
            media_type: "text".into(),
            media_subtype: "plain".into(),
            is_mime,
            kind: PartKind::Leaf,
            depth,
        });
        self.stack.push(Frame {
            part: index,
            state: FrameState::Header { parsed: Vec::new() },
            boundary: None,
            body_lf_start: self.lf_before_line,
        });
        if self.parts.len() >= MAX_PARTS {
            self.parts_exhausted = true;
        }
        index
    }

    /// The blank line ending the current header was read: decide what the body is.
    fn header_ended(&mut self) {
        let body_start = self.line_start + self.line_len;
        let lf_after = self.lf_before_line + 1;
        let parent_is_digest = self.stack.len() >= 2 && {
            let parent = &self.parts[self.stack[self.stack.len() - 2].part];
            parent.media_type == "multipart" && parent.media_subtype == "digest"
        };
        let Some(frame) = self.stack.last_mut() else {
            return;
        };
        let FrameState::Header { parsed, .. } =
            std::mem::replace(&mut frame.state, FrameState::Body)
        else {
            return;
        };
        frame.body_lf_start = lf_after;
        let part_index = frame.part;
        self.line_ended_header = Some(part_index);
        let info = classify(&parsed, parent_is_digest, self.parts[part_index].is_mime);
        let part = &mut self.parts[part_index];
        part.header.end = body_start;
        part.body = body_start..body_start;
        part.media_type = info.media_type;
        part.media_subtype = info.media_subtype;
        part.is_mime = info.is_mime;
        let nest = part.depth < MAX_DEPTH && !self.parts_exhausted;
        if part.media_type == "multipart" {
            part.kind = PartKind::Multipart {
                children: Vec::new(),
                delimiters: Vec::new(),
            };
            if nest && let Some(boundary) = info.boundary {
                frame.boundary = Some(boundary);
            }
        } else if part.media_type == "message" && part.media_subtype == "rfc822" && nest {
            let depth = part.depth + 1;
            let child = self.open_part(body_start, depth, false);
            self.parts[part_index].kind = PartKind::Message { child };
            self.stack_top_lf(lf_after);
        }
    }

    /// Ends a part at `end` (`lf_at_end` line feeds before it).
    fn close_frame(&mut self, frame: Frame, end: usize, lf_at_end: u64) {
        let part = &mut self.parts[frame.part];
        match frame.state {
            FrameState::Header { .. } => {
                // No blank line: everything up to `end` is header, the body is empty.
                let end = end.max(part.header.start);
                part.header.end = end;
                part.body = end..end;
                part.body_lines = 0;
            }
            FrameState::Body => {
                let end = end.max(part.body.start);
                part.body.end = end;
                part.body_lines = lf_at_end.saturating_sub(frame.body_lf_start);
            }
        }
    }
}

/// What a header block says about the body that follows.
struct PartInfo {
    media_type: String,
    media_subtype: String,
    is_mime: bool,
    boundary: Option<Vec<u8>>,
}

/// Applies Dovecot's rules: a part of a multipart is MIME, other parts when they have a
/// Content-Type or MIME-Version; without a Content-Type the default is text/plain, or
/// message/rfc822 inside multipart/digest.
fn classify(header: &[u8], parent_is_digest: bool, mime_by_position: bool) -> PartInfo {
    let mut content_type = None;
    let mut is_mime = mime_by_position;
    for field in HeaderFields::new(header) {
        if field.name.eq_ignore_ascii_case(b"content-type") {
            is_mime = true;
            if content_type.is_none() {
                content_type = Some(parse_content_type(field.value));
            }
        } else if field.name.eq_ignore_ascii_case(b"mime-version") {
            is_mime = true;
        }
    }
    match content_type {
        Some(ct) if is_mime && !ct.media_type.is_empty() && !ct.media_subtype.is_empty() => {
            let boundary = ct
                .params
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("boundary"))
                .map(|(_, value)| value.as_bytes().to_vec())
                .filter(|b| !b.is_empty() && b.len() <= MAX_BOUNDARY);
            PartInfo {
                media_type: ct.media_type.to_ascii_lowercase(),
                media_subtype: ct.media_subtype.to_ascii_lowercase(),
                is_mime,
                boundary,
            }
        }
        _ if parent_is_digest => PartInfo {
            media_type: "message".into(),
            media_subtype: "rfc822".into(),
            is_mime,
            boundary: None,
        },
        _ => PartInfo {
            media_type: "text".into(),
            media_subtype: "plain".into(),
            is_mime,
            boundary: None,
        },
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}
