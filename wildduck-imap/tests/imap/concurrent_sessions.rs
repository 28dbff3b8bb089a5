//! Several sessions changing one mailbox at once, as imaptest's stress run does: every
//! response stays well-formed (balanced parentheses, literals whole) and a session never shows
//! a message's MODSEQ going back (RFC 7162 §3.2), however its own FETCH and STORE answers and
//! the journal of others' changes interleave.

use std::collections::HashMap;

use crate::harness::*;

/// One response line with its literals inlined (their bytes are not parsed).
struct Response {
    text: String,
    literals: Vec<Vec<u8>>,
}

async fn response(client: &mut Client) -> Response {
    let mut text = String::new();
    let mut literals = Vec::new();
    loop {
        let line = client.line().await;
        assert!(!line.is_empty(), "connection closed mid-response: {text}");
        text.push_str(&line);
        match literal_length(&line) {
            Some(n) => literals.push(client.bytes(n).await),
            None => return Response { text, literals },
        }
    }
}

/// Parentheses and quotes of a response outside its literals balance.
fn assert_well_formed(response: &Response) {
    let mut depth = 0i32;
    let mut quoted = false;
    let mut escaped = false;
    for c in response.text.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                assert!(depth >= 0, "unbalanced: {}", response.text);
            }
            _ => {}
        }
    }
    assert!(
        depth == 0 && !quoted,
        "not well-formed: {} ({} literals)",
        response.text,
        response.literals.len()
    );
}

/// `n` after `name ` (or `name (`) in a FETCH response.
fn number_after(text: &str, name: &str) -> Option<u64> {
    let at = text.find(name)? + name.len();
    let digits: String = text[at..]
        .trim_start_matches([' ', '('])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// A session that checks every response it reads and remembers the MODSEQ shown per UID.
struct Checked {
    client: Client,
    shown: HashMap<u64, u64>,
    seq_to_uid: Vec<u64>,
}

impl Checked {
    async fn exchange(&mut self, tag: &str, command: &str) -> String {
        self.client.send(format!("{tag} {command}\r\n")).await;
        let mut all = String::new();
        loop {
            let r = response(&mut self.client).await;
            assert_well_formed(&r);
            self.track(&r.text);
            all.push_str(&r.text);
            if r.text.starts_with(&format!("{tag} ")) {
                return all;
            }
        }
    }

    /// Follows EXISTS/EXPUNGE for the sequence map and checks MODSEQs in FETCH lines.
    fn track(&mut self, text: &str) {
        let Some(rest) = text.strip_prefix("* ") else {
            return;
        };
        let mut words = rest.split(' ');
        let (Some(n), Some(kind)) = (words.next(), words.next()) else {
            return;
        };
        let Ok(n) = n.parse::<usize>() else {
            return;
        };
        match kind.trim_end() {
            "EXPUNGE" if n <= self.seq_to_uid.len() => {
                self.seq_to_uid.remove(n - 1);
            }
            "FETCH" => {
                let uid = number_after(text, "UID ")
                    .or_else(|| self.seq_to_uid.get(n - 1).copied())
                    .expect("a FETCH of a known message or with its UID");
                if let Some(modseq) = number_after(text, "MODSEQ ") {
                    let before = self.shown.insert(uid, modseq).unwrap_or(0);
                    assert!(
                        modseq >= before,
                        "UID {uid} MODSEQ went back {before} -> {modseq}: {text}"
                    );
                }
            }
            _ => {}
        }
    }

    async fn select(client: Client) -> Checked {
        let mut checked = Checked {
            client,
            shown: HashMap::new(),
            seq_to_uid: Vec::new(),
        };
        checked.exchange("s1", "SELECT INBOX (CONDSTORE)").await;
        let uids = checked.exchange("s2", "UID SEARCH ALL").await;
        checked.seq_to_uid = uids
            .lines()
            .next()
            .unwrap_or("")
            .split(' ')
            .skip(2)
            .filter_map(|u| u.parse().ok())
            .collect();
        checked
    }
}

#[tokio::test]
async fn a_session_never_shows_an_older_modseq_after_a_newer_one() {
    let server = TestServer::start().await;
    let mut setup = server.login().await;
    append(&mut setup, "a1", "INBOX", "", &message("one", "x")).await;
    let mut ours = Checked::select(server.login().await).await;
    let mut other = server.login().await;
    other.exchange("o1 SELECT INBOX\r\n").await;

    // Two changes by another session; ours then reads the newer state before the journal
    // tells it about either.
    other.exchange("o2 STORE 1 +FLAGS (\\Flagged)\r\n").await;
    other.exchange("o3 STORE 1 +FLAGS (\\Answered)\r\n").await;
    let fetched = ours.exchange("f1", "FETCH 1 (FLAGS MODSEQ)").await;
    assert_eq!(
        fetched.matches(" FETCH ").count(),
        1,
        "the older journal entries are not reported after the newer state: {fetched}"
    );

    // Another change, then our own STORE on top of it: its answer is the newest state.
    other.exchange("o4 STORE 1 +FLAGS (\\Draft)\r\n").await;
    let stored = ours.exchange("t1", "STORE 1 +FLAGS (\\Seen)").await;
    assert!(
        stored.contains("\\Seen \\Answered \\Flagged \\Draft) MODSEQ"),
        "{stored}"
    );
    assert_eq!(stored.matches(" FETCH ").count(), 1, "{stored}");

    // Later changes by others are still reported.
    other.exchange("o5 STORE 1 -FLAGS (\\Draft)\r\n").await;
    let noop = ours.exchange("n1", "NOOP").await;
    assert!(
        noop.contains("\\Seen \\Answered \\Flagged) MODSEQ"),
        "{noop}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_changing_one_mailbox_at_once_get_well_formed_monotonic_responses() {
    const SESSIONS: usize = 6;
    const ROUNDS: usize = 40;
    let server = TestServer::start().await;
    let mut setup = server.login().await;
    for i in 0..20 {
        append(
            &mut setup,
            "a",
            "INBOX",
            "",
            &message(&format!("m{i}"), "x"),
        )
        .await;
    }
    let mut tasks = Vec::new();
    for session in 0..SESSIONS {
        let client = server.login().await;
        tasks.push(tokio::spawn(async move {
            let mut checked = Checked::select(client).await;
            for round in 0..ROUNDS {
                let flag = ["\\Seen", "\\Flagged", "\\Answered", "$Label1"][round % 4];
                let sign = if (round + session) % 2 == 0 { '+' } else { '-' };
                let target = (round * 7 + session * 3) % 20 + 1;
                checked
                    .exchange("t", &format!("UID STORE {target} {sign}FLAGS ({flag})"))
                    .await;
                checked
                    .exchange("f", "FETCH 1:* (UID FLAGS MODSEQ BODY.PEEK[HEADER])")
                    .await;
                match (session, round % 10) {
                    // One session keeps adding and expunging messages under the others' FETCHes.
                    (0, 3) => {
                        append(&mut checked.client, "a", "INBOX", "", &message("new", "x")).await;
                    }
                    (0, 7) => {
                        checked
                            .exchange("d", "UID STORE 21:* +FLAGS.SILENT (\\Deleted)")
                            .await;
                        checked.exchange("e", "EXPUNGE").await;
                    }
                    _ => {
                        checked.exchange("n", "NOOP").await;
                    }
                }
            }
            checked.exchange("l", "LOGOUT").await;
        }));
    }
    for task in tasks {
        task.await.expect("session checks hold");
    }
    server.stop().await;
}
