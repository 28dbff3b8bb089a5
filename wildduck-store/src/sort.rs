//! SORT and THREAD (RFC 5256, RFC 5957 DISPLAYFROM/DISPLAYTO) over what the store keeps of
//! each message beside its content: dates, size, the envelope and, for REFERENCES threading,
//! the decoded header text. Engine-neutral: the engines only read rows
//! ([`SortData::sort_rows`](crate::backend::SortData)); the orderings are decided here.

use std::cmp::Ordering;
use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;

use crate::backend::{SortNeeds, SortRow};
use crate::error::Result;
use crate::mime::text::decode_header_value;
use crate::model::{EnvelopeAddress, MailboxId, SearchKey, Timestamp, Uid, UidSet};
use crate::store::{Store, blocking};

/// A sort key of RFC 5256 §3 and RFC 5957.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    DisplayFrom,
    DisplayTo,
}

/// One sort criterion: a key, maybe reversed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SortCriterion {
    pub key: SortKey,
    pub reverse: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadAlgorithm {
    OrderedSubject,
    References,
}

/// One node of a thread tree: a message, or (`uid` None) a missing parent whose children
/// are siblings of one thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadNode {
    pub uid: Option<Uid>,
    pub children: Vec<ThreadNode>,
}

impl Store {
    /// UIDs of the messages matching `key`, ordered by `criteria`; ties in UID order (which
    /// is sequence order).
    pub async fn sort(
        &self,
        mailbox: MailboxId,
        key: &SearchKey,
        criteria: &[SortCriterion],
    ) -> Result<Vec<Uid>> {
        let needs = SortNeeds {
            envelope: criteria
                .iter()
                .any(|c| !matches!(c.key, SortKey::Arrival | SortKey::Date | SortKey::Size)),
            headers: false,
        };
        let rows = self.sort_input(mailbox, key, needs).await?;
        let criteria = criteria.to_vec();
        blocking(move || Ok(sort_rows(&rows, &criteria))).await
    }

    /// The threads of the messages matching `key`, in thread order.
    pub async fn thread(
        &self,
        mailbox: MailboxId,
        key: &SearchKey,
        algorithm: ThreadAlgorithm,
    ) -> Result<Vec<ThreadNode>> {
        let needs = SortNeeds {
            envelope: true,
            headers: algorithm == ThreadAlgorithm::References,
        };
        let rows = self.sort_input(mailbox, key, needs).await?;
        blocking(move || {
            Ok(match algorithm {
                ThreadAlgorithm::OrderedSubject => ordered_subject(&rows),
                ThreadAlgorithm::References => references(&rows),
            })
        })
        .await
    }

    async fn sort_input(
        &self,
        mailbox: MailboxId,
        key: &SearchKey,
        needs: SortNeeds,
    ) -> Result<Vec<SortRow>> {
        let found: UidSet = self
            .backend()
            .search(mailbox, key)
            .await?
            .into_iter()
            .collect();
        if found.is_empty() {
            return Ok(Vec::new());
        }
        self.backend().sort_rows(mailbox, &found, needs).await
    }
}

/// A value one criterion compares.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum SortValue {
    Number(i64),
    Text(String),
}

fn sort_rows(rows: &[SortRow], criteria: &[SortCriterion]) -> Vec<Uid> {
    let mut keyed: Vec<(Vec<SortValue>, Uid)> = rows
        .iter()
        .map(|row| {
            let values = criteria.iter().map(|c| sort_value(row, c.key)).collect();
            (values, row.uid)
        })
        .collect();
    keyed.sort_by(|(a, uid_a), (b, uid_b)| {
        criteria
            .iter()
            .zip(a.iter().zip(b))
            .map(|(c, (x, y))| if c.reverse { y.cmp(x) } else { x.cmp(y) })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
            .then(uid_a.cmp(uid_b))
    });
    keyed.into_iter().map(|(_, uid)| uid).collect()
}

fn sort_value(row: &SortRow, key: SortKey) -> SortValue {
    let envelope = row.envelope.as_ref();
    let first = |pick: fn(&crate::model::Envelope) -> &Vec<EnvelopeAddress>| {
        envelope.and_then(|e| pick(e).first())
    };
    match key {
        SortKey::Arrival => SortValue::Number(row.internal_date),
        SortKey::Date => SortValue::Number(sent_date(row)),
        SortKey::Size => SortValue::Number(i64::try_from(row.size).unwrap_or(i64::MAX)),
        SortKey::Subject => SortValue::Text(subject_key(row)),
        SortKey::From => SortValue::Text(address_mailbox(first(|e| &e.from))),
        SortKey::To => SortValue::Text(address_mailbox(first(|e| &e.to))),
        SortKey::Cc => SortValue::Text(address_mailbox(first(|e| &e.cc))),
        SortKey::DisplayFrom => SortValue::Text(display_name(first(|e| &e.from))),
        SortKey::DisplayTo => SortValue::Text(display_name(first(|e| &e.to))),
    }
}

/// The Date: field, else the internal date (RFC 5256 §2.2).
fn sent_date(row: &SortRow) -> Timestamp {
    row.header_date.unwrap_or(row.internal_date)
}

/// The base subject as SUBJECT compares it.
fn subject_key(row: &SortRow) -> String {
    unicode_casemap(&base_subject(&decoded_subject(row)).0)
}

/// RFC 5051's i;unicode-casemap key: each character's upper (title) case, then NFKD, so
/// `Ä` sorts as `A` and a diaeresis.
fn unicode_casemap(text: &str) -> String {
    text.to_uppercase().nfkd().collect()
}

fn decoded_subject(row: &SortRow) -> String {
    row.envelope
        .as_ref()
        .and_then(|e| e.subject.as_deref())
        .map(|s| decode_header_value(s.as_bytes()))
        .unwrap_or_default()
}

/// FROM/TO/CC: the first address's local part (a group's name), i;ascii-casemap.
fn address_mailbox(address: Option<&EnvelopeAddress>) -> String {
    address
        .and_then(|a| a.mailbox.as_deref())
        .unwrap_or("")
        .to_ascii_uppercase()
}

/// DISPLAYFROM/DISPLAYTO (RFC 5957 §2): the first address's decoded display name, else its
/// addr-spec (a group: its name), i;unicode-casemap.
fn display_name(address: Option<&EnvelopeAddress>) -> String {
    let Some(address) = address else {
        return String::new();
    };
    let name = address
        .name
        .as_deref()
        .map(|n| decode_header_value(n.as_bytes()))
        .filter(|n| !n.trim().is_empty());
    let host = address.host.as_deref().filter(|h| !h.is_empty());
    let shown = match (name, &address.mailbox, host) {
        (Some(name), _, _) => name,
        (None, Some(local), Some(host)) => format!("{local}@{host}"),
        (None, Some(local), None) => local.clone(),
        (None, None, _) => String::new(),
    };
    unicode_casemap(&shown)
}

/// RFC 5256 §2.1 base subject of a decoded subject, and whether anything marked it as a
/// reply or forward (a `Re:`/`Fwd:` leader, a `(fwd)` trailer, a `[fwd: …]` wrapper).
pub fn base_subject(subject: &str) -> (String, bool) {
    // (1) Runs of white space become one space.
    let mut s = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut reply = false;
    loop {
        // (2) Trailers: "(fwd)" and white space.
        loop {
            let trimmed = s.trim_end();
            if let Some(rest) = strip_suffix_ignore_case(trimmed, "(fwd)") {
                s = rest.to_string();
                reply = true;
            } else {
                s = trimmed.to_string();
                break;
            }
        }
        // (3) and (4) until neither removes anything: leaders, then one blob unless it is
        // all that is left.
        loop {
            let before = s.len();
            loop {
                let trimmed = s.trim_start();
                if let Some(rest) = strip_leader(trimmed) {
                    s = rest.to_string();
                    reply = true;
                } else {
                    s = trimmed.to_string();
                    break;
                }
            }
            if let Some(rest) = strip_blob(&s)
                && !rest.trim().is_empty()
            {
                s = rest.to_string();
            }
            if s.len() == before {
                break;
            }
        }
        // (5) "[fwd:" … "]" around everything: unwrap and start again.
        if s.len() >= 6 && s[..5].eq_ignore_ascii_case("[fwd:") && s.ends_with(']') {
            s = s[5..s.len() - 1].to_string();
            reply = true;
            continue;
        }
        return (s, reply);
    }
}

fn strip_suffix_ignore_case<'a>(text: &'a str, suffix: &str) -> Option<&'a str> {
    let start = text.len().checked_sub(suffix.len())?;
    (text.is_char_boundary(start) && text[start..].eq_ignore_ascii_case(suffix))
        .then(|| &text[..start])
}

/// `subj-blob = "[" *BLOBCHAR "]" *WSP`: what follows one at the start.
fn strip_blob(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('[')?;
    let end = rest.find(['[', ']'])?;
    rest[end..]
        .strip_prefix(']')
        .map(|after| after.trim_start_matches([' ', '\t']))
}

/// `subj-refwd` after any blobs: `*subj-blob ("re" / "fw" ["d"]) *WSP [subj-blob] ":"`.
fn strip_leader(text: &str) -> Option<&str> {
    let mut rest = text;
    while let Some(after) = strip_blob(rest) {
        rest = after;
    }
    let word = ["fwd", "fw", "re"]
        .iter()
        .find(|w| {
            rest.get(..w.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(w))
        })?
        .len();
    let mut rest = rest[word..].trim_start_matches([' ', '\t']);
    if let Some(after) = strip_blob(rest) {
        rest = after;
    }
    rest.strip_prefix(':')
}

/// A sibling order key: sent date, then sequence (UID) order.
fn date_key(row: &SortRow) -> (Timestamp, Uid) {
    (sent_date(row), row.uid)
}

/// ORDEREDSUBJECT (RFC 5256 §3): messages grouped by base subject; each thread is its
/// first message (by sent date) with the others as its children; threads by their first
/// message's sent date.
fn ordered_subject(rows: &[SortRow]) -> Vec<ThreadNode> {
    let mut keyed: Vec<(String, (Timestamp, Uid))> = rows
        .iter()
        .map(|row| (subject_key(row), date_key(row)))
        .collect();
    keyed.sort();
    let mut threads: Vec<((Timestamp, Uid), ThreadNode)> = Vec::new();
    let mut current: Option<&str> = None;
    for (subject, date) in &keyed {
        let leaf = ThreadNode {
            uid: Some(date.1),
            children: Vec::new(),
        };
        match (current, threads.last_mut()) {
            (Some(open), Some((_, thread))) if open == subject => thread.children.push(leaf),
            _ => {
                threads.push((*date, leaf));
                current = Some(subject);
            }
        }
    }
    threads.sort_by_key(|(date, _)| *date);
    threads.into_iter().map(|(_, node)| node).collect()
}

/// A container of the REFERENCES algorithm (RFC 5256 §3): a message (`row`) or a dummy.
struct Container {
    row: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

/// The message IDs (`<…>`) in a field value, without the brackets.
fn message_ids(value: &str) -> Vec<&str> {
    let mut ids = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('>') else { break };
        let id = after[..end].trim();
        if !id.is_empty() && id.contains('@') && !id.contains(char::is_whitespace) {
            ids.push(id);
        }
        rest = &after[end + 1..];
    }
    ids
}

/// The value of a header field in the decoded header text (`Name: value` per line).
fn header_value<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|line| {
        let (field, value) = line.split_once(':')?;
        field.trim().eq_ignore_ascii_case(name).then_some(value)
    })
}

/// REFERENCES (RFC 5256 §3): threads from Message-ID/References/In-Reply-To, then threads
/// of the same base subject gathered.
fn references(rows: &[SortRow]) -> Vec<ThreadNode> {
    let mut containers: Vec<Container> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    // (1) Containers and links.
    for (index, row) in rows.iter().enumerate() {
        let envelope = row.envelope.as_ref();
        let own_id = envelope
            .and_then(|e| e.message_id.as_deref())
            .and_then(|v| message_ids(v).first().map(|id| id.to_string()));
        // (A) A message without an ID, or with one already taken, is a container of its own.
        let this = match own_id.as_ref().and_then(|id| by_id.get(id).copied()) {
            Some(existing) if containers[existing].row.is_none() => {
                containers[existing].row = Some(index);
                existing
            }
            _ => {
                let created = new_container(&mut containers, Some(index));
                if let Some(id) = own_id.filter(|id| !by_id.contains_key(id)) {
                    by_id.insert(id, created);
                }
                created
            }
        };
        let headers = row.headers.as_deref().unwrap_or("");
        let mut refs: Vec<&str> = header_value(headers, "References")
            .map(message_ids)
            .unwrap_or_default();
        if refs.is_empty() {
            refs = envelope
                .and_then(|e| e.in_reply_to.as_deref())
                .map(message_ids)
                .unwrap_or_default();
            refs.truncate(1);
        }
        let mut chain = Vec::with_capacity(refs.len());
        for id in refs {
            let found = match by_id.get(id) {
                Some(&c) => c,
                None => {
                    let created = new_container(&mut containers, None);
                    by_id.insert(id.to_string(), created);
                    created
                }
            };
            chain.push(found);
        }
        // (B) Each reference the parent of the next, unless linked already or a loop.
        for pair in chain.windows(2) {
            let (parent, child) = (pair[0], pair[1]);
            if containers[child].parent.is_none()
                && parent != child
                && !is_descendant(&containers, parent, child)
            {
                link(&mut containers, parent, child);
            }
        }
        // (C) The last reference is this message's parent (any earlier guess is dropped).
        unlink(&mut containers, this);
        if let Some(&parent) = chain.last()
            && parent != this
            && !is_descendant(&containers, parent, this)
        {
            link(&mut containers, parent, this);
        }
    }
    // (2) The root set; (4) dummies pruned.
    let roots: Vec<usize> = (0..containers.len())
        .filter(|&c| containers[c].parent.is_none())
        .collect();
    let mut top: Vec<Tree> = Vec::new();
    for root in roots {
        top.extend(prune(&containers, root, true));
    }
    // (5) Top-level threads by sent date (a dummy by its first child's).
    for tree in &mut top {
        sort_children(tree, rows);
    }
    top.sort_by_key(|t| t.date_key(rows));
    // (6) Threads of the same base subject gathered.
    let mut top = gather_by_subject(top, rows);
    // (7) Every set of siblings by sent date.
    for tree in &mut top {
        sort_children(tree, rows);
    }
    top.sort_by_key(|t| t.date_key(rows));
    top.into_iter().map(|t| t.into_node(rows)).collect()
}

fn new_container(containers: &mut Vec<Container>, row: Option<usize>) -> usize {
    containers.push(Container {
        row,
        parent: None,
        children: Vec::new(),
    });
    containers.len() - 1
}

fn link(containers: &mut [Container], parent: usize, child: usize) {
    containers[child].parent = Some(parent);
    containers[parent].children.push(child);
}

fn unlink(containers: &mut [Container], child: usize) {
    if let Some(parent) = containers[child].parent.take() {
        containers[parent].children.retain(|&c| c != child);
    }
}

/// Whether `node` is `ancestor` or lies below it.
fn is_descendant(containers: &[Container], node: usize, ancestor: usize) -> bool {
    let mut current = Some(node);
    while let Some(c) = current {
        if c == ancestor {
            return true;
        }
        current = containers[c].parent;
    }
    false
}

/// A thread being built: a message row or a dummy, and its subtrees.
struct Tree {
    row: Option<usize>,
    children: Vec<Tree>,
}

impl Tree {
    /// Sent date and UID of the message, or of a dummy's first child.
    fn date_key(&self, rows: &[SortRow]) -> (Timestamp, Uid) {
        match self.row {
            Some(row) => date_key(&rows[row]),
            None => self
                .children
                .first()
                .map_or((Timestamp::MAX, Uid::MAX), |c| c.date_key(rows)),
        }
    }

    fn into_node(self, rows: &[SortRow]) -> ThreadNode {
        ThreadNode {
            uid: self.row.map(|r| rows[r].uid),
            children: self
                .children
                .into_iter()
                .map(|c| c.into_node(rows))
                .collect(),
        }
    }
}

/// Step 4: the subtree of `container` without dummies, as one or more trees (a dummy's
/// children take its place, except a dummy at the top with several children, which stays).
fn prune(containers: &[Container], container: usize, at_root: bool) -> Vec<Tree> {
    let children: Vec<Tree> = containers[container]
        .children
        .iter()
        .flat_map(|&c| prune(containers, c, false))
        .collect();
    match containers[container].row {
        Some(row) => vec![Tree {
            row: Some(row),
            children,
        }],
        None if children.is_empty() => Vec::new(),
        None if !at_root || children.len() == 1 => children,
        None => vec![Tree {
            row: None,
            children,
        }],
    }
}

fn sort_children(tree: &mut Tree, rows: &[SortRow]) {
    for child in &mut tree.children {
        sort_children(child, rows);
    }
    tree.children.sort_by_key(|c| c.date_key(rows));
}

/// Step 6: top-level threads whose subjects are the same base subject become one thread.
fn gather_by_subject(top: Vec<Tree>, rows: &[SortRow]) -> Vec<Tree> {
    // The thread's subject: its message's, or its first child's under a dummy.
    let subject_of = |tree: &Tree| -> (String, bool) {
        let row = tree
            .row
            .or_else(|| tree.children.first().and_then(|c| c.row));
        match row {
            Some(row) => {
                let (base, reply) = base_subject(&decoded_subject(&rows[row]));
                (unicode_casemap(&base), reply)
            }
            None => (String::new(), false),
        }
    };
    let subjects: Vec<(String, bool)> = top.iter().map(subject_of).collect();
    // (B) One thread per subject: a dummy wins, else one that is not a reply.
    let mut table: HashMap<&str, usize> = HashMap::new();
    for (i, (subject, reply)) in subjects.iter().enumerate() {
        if subject.is_empty() {
            continue;
        }
        match table.get(subject.as_str()).copied() {
            None => {
                table.insert(subject, i);
            }
            Some(held) => {
                let held_is_dummy = top[held].row.is_none();
                let current_is_dummy = top[i].row.is_none();
                if !held_is_dummy && (current_is_dummy || (subjects[held].1 && !reply)) {
                    table.insert(subject, i);
                }
            }
        }
    }
    // (C) Merge each other thread into the table's.
    let mut slots: Vec<Option<Tree>> = top.into_iter().map(Some).collect();
    for i in 0..slots.len() {
        let (subject, reply) = &subjects[i];
        if subject.is_empty() {
            continue;
        }
        let Some(&held) = table.get(subject.as_str()) else {
            continue;
        };
        if held == i {
            continue;
        }
        let (Some(current), Some(mut holder)) = (slots[i].take(), slots[held].take()) else {
            continue;
        };
        let holder_reply = subjects[held].1;
        let merged = match (holder.row.is_none(), current.row.is_none()) {
            (true, true) => {
                holder.children.extend(current.children);
                holder
            }
            (true, false) => {
                holder.children.push(current);
                holder
            }
            _ if *reply && !holder_reply => {
                holder.children.push(current);
                holder
            }
            _ => Tree {
                row: None,
                children: vec![holder, current],
            },
        };
        // The merged thread takes the table's place (a new dummy replaces its message).
        slots[held] = Some(merged);
    }
    slots.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_subjects_as_rfc_5256_extracts_them() {
        let cases = [
            ("[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)", "b", true),
            ("Re: [FWD: c]", "c", true),
            ("[xyz]", "[xyz]", false),
            ("b (a)", "b (a)", false),
            ("Ad: Re: Ad: Re: Ad: x", "Ad: Re: Ad: Re: Ad: x", false),
            ("re: [fwd: [fwd: re: [fwd: babylon]]]", "babylon", true),
            ("  spaced\t\tout  ", "spaced out", false),
            ("Re:", "", true),
            ("[list] topic", "topic", false),
            ("Fwd : Re[2]: x", "x", true),
        ];
        for (subject, base, reply) in cases {
            assert_eq!(
                base_subject(subject),
                (base.to_string(), reply),
                "base subject of {subject:?}"
            );
        }
    }

    #[test]
    fn message_ids_are_read_from_field_values() {
        assert_eq!(
            message_ids(" <a@b> junk <c@d>\t<no-at> <>"),
            vec!["a@b", "c@d"]
        );
        assert_eq!(message_ids("<x@y"), Vec::<&str>::new());
    }
}
