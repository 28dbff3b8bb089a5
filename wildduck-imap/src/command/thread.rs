//! THREAD and UID THREAD (RFC 5256: ORDEREDSUBJECT, REFERENCES): the store builds the
//! threads of the messages the key finds, among those the session was told of.

use wildduck_store::{SearchKey, ThreadAlgorithm, ThreadNode, UidSet};

use crate::state::{Outcome, Reply, Session};

pub async fn thread(
    session: &mut Session,
    uid_mode: bool,
    algorithm: ThreadAlgorithm,
    key: &SearchKey,
) -> Outcome {
    let store = session.shared.store.clone();
    let Some(selected) = session.selected.as_ref() else {
        return Ok(Reply::Bad("Select a mailbox first".into()));
    };
    let known: UidSet = selected.uids.iter().copied().collect();
    let key = SearchKey::And(vec![SearchKey::Uids(known), key.clone()]);
    let threads = store.thread(selected.mailbox.id, &key, algorithm).await?;
    let mut line = String::from("THREAD");
    if !threads.is_empty() {
        line.push(' ');
    }
    let number = |uid| {
        if uid_mode {
            Some(uid)
        } else {
            selected.sequence_of(uid).map(|seq| seq as u32)
        }
    };
    for node in &threads {
        line.push('(');
        write_thread(&mut line, node, &number);
        line.push(')');
    }
    session.conn.untagged(&line);
    Ok(Reply::Ok("Thread completed".into()))
}

/// One thread's members as RFC 5256 writes them: a message, then its only child's thread
/// in the same list, or each of several children's threads in its own parentheses.
fn write_thread(out: &mut String, node: &ThreadNode, number: &impl Fn(u32) -> Option<u32>) {
    let shown = node.uid.and_then(number);
    if let Some(n) = shown {
        out.push_str(&n.to_string());
    }
    match node.children.as_slice() {
        [] => {}
        [only] if shown.is_some() => {
            out.push(' ');
            write_thread(out, only, number);
        }
        children => {
            if shown.is_some() {
                out.push(' ');
            }
            for child in children {
                out.push('(');
                write_thread(out, child, number);
                out.push(')');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(uid: Option<u32>, children: Vec<ThreadNode>) -> ThreadNode {
        ThreadNode { uid, children }
    }

    #[test]
    fn threads_are_written_as_rfc_5256_shows_them() {
        // RFC 5256 §4's example: (3 6 (4 23)(44 7 96))
        let tree = node(
            Some(3),
            vec![node(
                Some(6),
                vec![
                    node(Some(4), vec![node(Some(23), vec![])]),
                    node(Some(44), vec![node(Some(7), vec![node(Some(96), vec![])])]),
                ],
            )],
        );
        let mut out = String::new();
        write_thread(&mut out, &tree, &Some);
        assert_eq!(out, "3 6 (4 23)(44 7 96)");
        let dummy = node(None, vec![node(Some(2), vec![]), node(Some(3), vec![])]);
        let mut out = String::new();
        write_thread(&mut out, &dummy, &Some);
        assert_eq!(out, "(2)(3)");
    }
}
