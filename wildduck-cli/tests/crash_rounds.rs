//! Kill -9 at random moments under mixed load, round after round. Three clients work on
//! `wildduck serve` at once: an IMAP client appends, flags, moves and expunges; an MTA delivers
//! over LMTP to two recipients per message; a webmail uploads through the HTTP API. Each
//! round the server is killed (SIGKILL) after a random number of acknowledged operations,
//! `wildduck verify` checks the store offline (counters, quota, blob references), and the
//! next start must show every acknowledged operation exactly once, byte for byte, and every
//! operation in flight at the kill either wholly done or not at all.
//!
//! The model is a map from (user, message id) to the places the message may be in: one place
//! once an operation was acknowledged, two (before, after) while one is in flight. Reading the
//! store back after a restart picks the place it really is in, which must be one of them.

mod common;
#[cfg(feature = "distributed")]
#[path = "../../wildduck-store/tests/servers/mod.rs"]
mod servers;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand08::rngs::StdRng;
use rand08::{Rng, SeedableRng};

use common::Env;

const ROUNDS: usize = 20;
/// A bound against hangs only; nothing here is timed.
const WAIT: Duration = Duration::from_secs(60);
const PASSWORD: &str = "crash-rounds-password";
const API_TOKEN: &str = "crash-rounds-root-token";
const IMAP_USER: &str = "imap@crash.test";
const LMTP_USERS: [&str; 2] = ["lmtp1@crash.test", "lmtp2@crash.test"];
const API_USER: &str = "api@crash.test";
/// The IMAP client's second folder, where its MOVEs go.
const KEPT: &str = "Kept";

/// Where a message is, as far as the checks care (`\Seen` and others are not modelled).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Absent,
    Inbox { flagged: bool, deleted: bool },
    Kept { flagged: bool },
}

const NEW_IN_INBOX: Place = Place::Inbox {
    flagged: false,
    deleted: false,
};

struct Entry {
    raw: Arc<Vec<u8>>,
    /// The places the message may be in: one when settled, more while an operation on it is
    /// in flight (or was when the server died).
    may_be: Vec<Place>,
}

type Key = (&'static str, String);

/// What the clients were told, shared by the client threads and the checks.
#[derive(Default)]
struct Model {
    entries: BTreeMap<Key, Entry>,
    /// Acknowledged operations in the current round.
    acknowledged: AtomicUsize,
}

type Shared = Arc<Mutex<Model>>;

impl Model {
    /// Records that an operation moving `key` to `after` is about to be sent.
    fn begin(shared: &Shared, key: &Key, raw: Option<Arc<Vec<u8>>>, after: &[Place]) {
        let mut model = shared.lock().unwrap();
        let entry = model.entries.entry(key.clone()).or_insert_with(|| Entry {
            raw: raw.expect("a new message comes with its bytes"),
            may_be: vec![Place::Absent],
        });
        entry.may_be.extend_from_slice(after);
    }

    /// Records the acknowledgement: the message is now at `place`.
    fn acknowledge(shared: &Shared, key: &Key, place: Place) {
        let mut model = shared.lock().unwrap();
        model.entries.get_mut(key).expect("begun").may_be = vec![place];
        model.acknowledged.fetch_add(1, Ordering::SeqCst);
    }

    fn settled(shared: &Shared, key: &Key) -> Place {
        let model = shared.lock().unwrap();
        let may_be = &model.entries[key].may_be;
        assert_eq!(may_be.len(), 1, "{key:?} is settled between operations");
        may_be[0]
    }
}

/// The storage engine the server runs on: the embedded one, or MongoDB + Redis.
struct Engine {
    variables: Vec<(&'static str, String)>,
    /// MongoDB has no multi-document transactions here: an operation killed between its
    /// steps leaves a counter or a blob reference too high (never too low, never a message
    /// lost), documented in `backend/mongo/mod.rs` and repaired by `verify --repair`.
    leaks_on_crash: bool,
    /// Whether the IMAP client MOVEs. A MOVE on MongoDB writes the copies, then removes
    /// the originals: killed in between, the message is in both mailboxes (and the quota
    /// counts it once). Documented in `backend/mongo/mod.rs`; not yet made atomic.
    moves: bool,
}

struct Harness {
    env: Env,
    engine: Engine,
    config: std::path::PathBuf,
}

impl Harness {
    fn new(engine: Engine) -> Harness {
        let env = Env::new();
        let config = env.path("wildduck.toml");
        // With Redis, the sessions of a killed process stay counted for one TTL (30 s, see
        // docs/ARCHITECTURE.md); twenty kills a minute would reach the per-user session
        // limit (15), which is not what this test is about.
        std::fs::write(
            &config,
            format!(
                "[api]\nlisten = \"127.0.0.1:0\"\naccess_token = \"{API_TOKEN}\"\n\
                 [imap]\nlisten = \"127.0.0.1:0\"\nmax_connections_per_user = 1000\n\
                 [pop3]\nenabled = false\n\
                 [lmtp]\nlisten = \"127.0.0.1:0\"\n\
                 [submission]\nenabled = false\n"
            ),
        )
        .unwrap();
        let harness = Harness {
            env,
            engine,
            config,
        };
        for user in [IMAP_USER, API_USER].iter().chain(&LMTP_USERS) {
            harness.cli(&[
                "user",
                "add",
                user,
                "--password",
                PASSWORD,
                "--address",
                user,
            ]);
        }
        harness
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = self
            .env
            .command(&[&["--config", self.config.to_str().unwrap()], args].concat());
        for (name, value) in &self.engine.variables {
            command.env(name, value);
        }
        command
    }

    /// Runs an admin command with `--json`; insists on exit 0 and returns the document.
    fn cli(&self, args: &[&str]) -> serde_json::Value {
        let output = common::run_command(self.command(&[&["--json"], args].concat()), b"");
        assert_eq!(
            common::code(&output),
            0,
            "wildduck {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        common::parse_json(&output)
    }

    fn verify_is_clean(&self, when: &str) {
        let report = self.cli(&["verify"]);
        assert!(
            report["problems"].as_array().is_some_and(|p| p.is_empty()),
            "verify {when}: {report}"
        );
    }

    /// After a kill: the store verifies clean, or (on an engine that leaks on a crash) shows
    /// only counts too high, which `verify --repair` makes clean.
    fn verify_after_kill(&self, when: &str) {
        if !self.engine.leaks_on_crash {
            return self.verify_is_clean(when);
        }
        let output = common::run_command(self.command(&["--json", "verify"]), b"");
        if common::code(&output) != 0 {
            let report = common::parse_json(&output);
            let message = report["error"]["message"].as_str().unwrap_or_default();
            for problem in message.lines().skip(1) {
                assert!(is_a_leak(problem), "verify {when}: not a leak: {problem}");
            }
            self.cli(&["verify", "--repair"]);
        }
        self.verify_is_clean(when);
    }

    fn start(&self) -> Serve {
        let mut child = self
            .command(&["serve"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start wildduck serve");
        let lines = common::line_channel(child.stdout.take().unwrap());
        let mut listening = Vec::new();
        while listening.len() < 3 {
            let line = lines
                .recv_timeout(WAIT)
                .expect("serve printed its listeners");
            if let Some((what, address)) = line.split_once(" listening on ") {
                let protocol = what.split(' ').next().unwrap().to_string();
                listening.push((protocol, address.parse().expect("an address")));
            }
        }
        Serve { child, listening }
    }
}

struct Serve {
    child: Child,
    listening: Vec<(String, SocketAddr)>,
}

impl Serve {
    fn address(&self, protocol: &str) -> SocketAddr {
        self.listening
            .iter()
            .find(|(p, _)| p == protocol)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no {protocol} listener in {:?}", self.listening))
    }

    fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL");
        let status = self.child.wait().unwrap();
        assert!(status.code().is_none(), "died of the signal: {status}");
    }

    fn stop(mut self) {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        assert_eq!(
            unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) },
            0
        );
        let status = self.child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "a clean stop");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One IMAP response line with its literals' bytes kept apart.
struct Item {
    text: String,
    literals: Vec<Vec<u8>>,
}

/// A small IMAP client that fails (instead of panicking) when the server goes away.
struct Imap {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_tag: u32,
}

type Answer = (Vec<Item>, String);

impl Imap {
    fn login(address: SocketAddr, user: &str) -> std::io::Result<Imap> {
        let stream = TcpStream::connect(address)?;
        stream.set_read_timeout(Some(WAIT))?;
        let mut imap = Imap {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            next_tag: 0,
        };
        imap.item()?; // greeting
        let (_, status) = imap.command(&format!("LOGIN \"{user}\" \"{PASSWORD}\""))?;
        assert!(status.starts_with("OK"), "LOGIN {user}: {status}");
        Ok(imap)
    }

    fn item(&mut self) -> std::io::Result<Item> {
        let mut item = Item {
            text: String::new(),
            literals: Vec::new(),
        };
        loop {
            let mut line = Vec::new();
            self.reader.read_until(b'\n', &mut line)?;
            if !line.ends_with(b"\r\n") {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let line = String::from_utf8_lossy(&line[..line.len() - 2]).into_owned();
            let literal = line
                .strip_suffix('}')
                .and_then(|l| l.rsplit_once('{'))
                .and_then(|(_, n)| n.parse::<usize>().ok());
            item.text.push_str(&line);
            let Some(length) = literal else {
                return Ok(item);
            };
            let mut bytes = vec![0; length];
            self.reader.read_exact(&mut bytes)?;
            item.literals.push(bytes);
        }
    }

    /// Sends one command; its untagged items and the tagged status (`OK …`, `NO …`).
    fn command(&mut self, command: &str) -> std::io::Result<Answer> {
        self.next_tag += 1;
        let tag = format!("t{}", self.next_tag);
        self.writer
            .write_all(format!("{tag} {command}\r\n").as_bytes())?;
        self.finish(&tag)
    }

    fn finish(&mut self, tag: &str) -> std::io::Result<Answer> {
        let mut untagged = Vec::new();
        loop {
            let item = self.item()?;
            if let Some(status) = item.text.strip_prefix(&format!("{tag} ")) {
                return Ok((untagged, status.to_string()));
            }
            untagged.push(item);
        }
    }

    /// A command that must succeed while the server lives.
    fn ok(&mut self, command: &str) -> std::io::Result<Vec<Item>> {
        let (items, status) = self.command(command)?;
        assert!(status.starts_with("OK"), "{command}: {status}");
        Ok(items)
    }

    fn append(&mut self, mailbox: &str, raw: &[u8]) -> std::io::Result<()> {
        self.next_tag += 1;
        let tag = format!("t{}", self.next_tag);
        self.writer
            .write_all(format!("{tag} APPEND {mailbox} {{{}}}\r\n", raw.len()).as_bytes())?;
        let go_ahead = self.item()?;
        assert!(go_ahead.text.starts_with('+'), "APPEND: {}", go_ahead.text);
        self.writer.write_all(raw)?;
        self.writer.write_all(b"\r\n")?;
        let (_, status) = self.finish(&tag)?;
        assert!(status.starts_with("OK"), "APPEND: {status}");
        Ok(())
    }

    /// The UID of the message with `X-Id: id` in the selected mailbox.
    fn uid_of(&mut self, id: &str) -> std::io::Result<u32> {
        let items = self.ok(&format!("UID SEARCH HEADER X-Id \"{id}\""))?;
        let uids: Vec<u32> = items
            .iter()
            .filter_map(|i| i.text.strip_prefix("* SEARCH"))
            .flat_map(|rest| rest.split_whitespace().map(|u| u.parse().unwrap()))
            .collect();
        assert_eq!(uids.len(), 1, "exactly one message has X-Id {id}: {uids:?}");
        Ok(uids[0])
    }

    /// Every message of `mailbox`: its raw bytes and flags.
    fn messages(&mut self, mailbox: &str) -> std::io::Result<Vec<(Vec<u8>, String)>> {
        self.ok(&format!("SELECT {mailbox}"))?;
        let items = self.ok("UID FETCH 1:* (FLAGS BODY.PEEK[])")?;
        Ok(items
            .into_iter()
            .filter(|i| i.text.contains(" FETCH "))
            .map(|mut i| {
                let flags = i.text.split_once("FLAGS (").expect("FLAGS").1;
                let flags = flags.split_once(')').unwrap().0.to_string();
                (i.literals.pop().expect("the message's bytes"), flags)
            })
            .collect())
    }
}

/// Whether a problem `verify` reports is a count above what it counts: `storage_used A,
/// messages sum to B` or `refcount A, referenced B times`, with A > B.
fn is_a_leak(problem: &str) -> bool {
    let number_after = |marker: &str| -> Option<u64> {
        let rest = &problem[problem.find(marker)? + marker.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    let counts = [("storage_used ", "sum to "), ("refcount ", "referenced ")]
        .into_iter()
        .find_map(|(stored, actual)| Some((number_after(stored)?, number_after(actual)?)));
    counts.is_some_and(|(stored, actual)| stored > actual)
}

/// The `X-Id` header every message of this test carries.
fn id_of(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let header = text.split("\r\n\r\n").next().unwrap_or("");
    header
        .lines()
        .find_map(|line| line.strip_prefix("X-Id: "))
        .unwrap_or_else(|| panic!("a message that is not this test's: {header:?}"))
        .to_string()
}

/// Whether `stored` is the message that was `sent`: the same bytes, after the trace header
/// lines (`Delivered-To:`, `Received:`…) that an LMTP delivery puts in front.
fn is_stored_as_sent(stored: &[u8], sent: &[u8], user: &str) -> bool {
    if !LMTP_USERS.contains(&user) {
        return stored == sent;
    }
    let Some(trace) = stored.strip_suffix(sent) else {
        return false;
    };
    trace.is_empty() || (trace.ends_with(b"\r\n") && !trace.windows(4).any(|w| w == b"\r\n\r\n"))
}

fn new_message(id: &str, rng: &mut StdRng) -> Arc<Vec<u8>> {
    // Varied sizes and an attachment-like block shared by many messages, so blobs are
    // deduplicated and their reference counts matter.
    let shared = "c2hhcmVkIGF0dGFjaG1lbnQgbGluZQ==\r\n".repeat(rng.gen_range(0..3) * 200);
    let words = "crash round text ".repeat(rng.gen_range(1..60));
    Arc::new(
        format!(
            "X-Id: {id}\r\nFrom: <sender@remote.test>\r\nSubject: {id}\r\n\
             Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
             Content-Type: text/plain\r\n\r\n{words}\r\n--b\r\n\
             Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n\
             {shared}--b--\r\n"
        )
        .into_bytes(),
    )
}

/// The IMAP client's work: append, flag, move, expunge, at random, until the server dies.
fn imap_client(
    address: SocketAddr,
    model: Shared,
    round: usize,
    seed: u64,
    moves: bool,
) -> std::io::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut imap = Imap::login(address, IMAP_USER)?;
    imap.ok("SELECT INBOX")?;
    for n in 0.. {
        let in_inbox: Vec<Key> = {
            let model = model.lock().unwrap();
            model
                .entries
                .iter()
                .filter(|((user, _), e)| {
                    *user == IMAP_USER
                        && matches!(e.may_be[..], [Place::Inbox { deleted: false, .. }])
                })
                .map(|(key, _)| key.clone())
                .collect()
        };
        if in_inbox.len() < 4 || rng.gen_bool(0.4) {
            let key = (IMAP_USER, format!("<imap-{round}-{n}>"));
            let raw = new_message(&key.1, &mut rng);
            Model::begin(&model, &key, Some(raw.clone()), &[NEW_IN_INBOX]);
            imap.append("INBOX", &raw)?;
            Model::acknowledge(&model, &key, NEW_IN_INBOX);
            continue;
        }
        let key = &in_inbox[rng.gen_range(0..in_inbox.len())];
        let Place::Inbox { flagged, .. } = Model::settled(&model, key) else {
            unreachable!("picked from the inbox");
        };
        let uid = imap.uid_of(&key.1)?;
        let operations = if moves { [0, 1, 2] } else { [0, 0, 2] };
        match operations[rng.gen_range(0..3)] {
            0 => {
                let after = Place::Inbox {
                    flagged: !flagged,
                    deleted: false,
                };
                Model::begin(&model, key, None, &[after]);
                let sign = if flagged { '-' } else { '+' };
                imap.ok(&format!("UID STORE {uid} {sign}FLAGS (\\Flagged)"))?;
                Model::acknowledge(&model, key, after);
            }
            1 => {
                let after = Place::Kept { flagged };
                Model::begin(&model, key, None, &[after]);
                imap.ok(&format!("UID MOVE {uid} {KEPT}"))?;
                Model::acknowledge(&model, key, after);
            }
            _ => {
                let marked = Place::Inbox {
                    flagged,
                    deleted: true,
                };
                Model::begin(&model, key, None, &[marked, Place::Absent]);
                imap.ok(&format!("UID STORE {uid} +FLAGS (\\Deleted)"))?;
                imap.ok(&format!("UID EXPUNGE {uid}"))?;
                Model::acknowledge(&model, key, Place::Absent);
            }
        }
    }
    unreachable!("the loop ends when the server dies")
}

/// The MTA's work: one message to both LMTP users per transaction, until the server dies.
fn lmtp_client(address: SocketAddr, model: Shared, round: usize, seed: u64) -> std::io::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(WAIT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut reply = |writer: &mut TcpStream, send: &[u8]| -> std::io::Result<String> {
        writer.write_all(send)?;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(line);
            }
        }
    };
    reply(&mut writer, b"")?; // greeting
    reply(&mut writer, b"LHLO mta.crash.test\r\n")?;
    for n in 0.. {
        let id = format!("<lmtp-{round}-{n}>");
        let raw = new_message(&id, &mut rng);
        let keys: Vec<Key> = LMTP_USERS.iter().map(|u| (*u, id.clone())).collect();
        for key in &keys {
            Model::begin(&model, key, Some(raw.clone()), &[NEW_IN_INBOX]);
        }
        let mut envelope = "MAIL FROM:<sender@remote.test>\r\n".to_string();
        for user in LMTP_USERS {
            envelope.push_str(&format!("RCPT TO:<{user}>\r\n"));
        }
        // Not pipelined (the server may not offer it): one command, one reply.
        for command in envelope.split_inclusive("\r\n") {
            let answer = reply(&mut writer, command.as_bytes())?;
            assert!(answer.starts_with('2'), "{command:?}: {answer}");
        }
        let answer = reply(&mut writer, b"DATA\r\n")?;
        assert!(answer.starts_with("354"), "DATA: {answer}");
        writer.write_all(&raw)?;
        // One reply per recipient, each acknowledging that recipient's copy.
        let mut data_end = b".\r\n".as_slice();
        for key in &keys {
            let answer = reply(&mut writer, data_end)?;
            data_end = b"";
            assert!(answer.starts_with("250"), "delivery to {}: {answer}", key.0);
            Model::acknowledge(&model, key, NEW_IN_INBOX);
        }
    }
    unreachable!("the loop ends when the server dies")
}

/// One HTTP/1.1 request that fails (instead of panicking) when the server goes away: status
/// and body.
fn http(
    address: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(WAIT))?;
    stream.write_all(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nX-Access-Token: {API_TOKEN}\r\n\
             Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response);
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or(std::io::ErrorKind::UnexpectedEof)?;
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((status, body.to_string()))
}

fn json_get(address: SocketAddr, path: &str) -> serde_json::Value {
    let (status, body) = http(address, "GET", path, "application/json", b"").expect("GET");
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

/// The webmail's work: uploads into the API user's INBOX until the server dies.
fn api_client(
    address: SocketAddr,
    upload_path: &str,
    model: Shared,
    round: usize,
    seed: u64,
) -> std::io::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    for n in 0.. {
        let key = (API_USER, format!("<api-{round}-{n}>"));
        let raw = new_message(&key.1, &mut rng);
        Model::begin(&model, &key, Some(raw.clone()), &[NEW_IN_INBOX]);
        let (status, body) = http(address, "POST", upload_path, "message/rfc822", &raw)?;
        assert_eq!(status, 200, "upload: {body}");
        Model::acknowledge(&model, &key, NEW_IN_INBOX);
    }
    unreachable!("the loop ends when the server dies")
}

/// Reads every message of every user back and holds it against the model: each message once,
/// byte for byte, at one of the places it may be in (which becomes its settled place).
fn check_against_model(serve: &Serve, model: &Shared, when: &str) {
    let imap = serve.address("IMAP");
    let mut found: BTreeMap<Key, (Vec<u8>, Place)> = BTreeMap::new();
    for user in [IMAP_USER, API_USER].into_iter().chain(LMTP_USERS) {
        let mut client = Imap::login(imap, user).expect("login after the restart");
        for mailbox in ["INBOX", KEPT]
            .into_iter()
            .filter(|m| user == IMAP_USER || *m == "INBOX")
        {
            for (raw, flags) in client.messages(mailbox).expect("read back") {
                let flagged = flags.contains("\\Flagged");
                let place = if mailbox == KEPT {
                    Place::Kept { flagged }
                } else {
                    Place::Inbox {
                        flagged,
                        deleted: flags.contains("\\Deleted"),
                    }
                };
                let key = (user, id_of(&raw));
                if let Some((_, first)) = found.insert(key.clone(), (raw, place)) {
                    panic!("{when}: {key:?} is stored twice ({first:?} and {place:?})");
                }
            }
        }
    }
    let mut model = model.lock().unwrap();
    for (key, (raw, _)) in &found {
        let entry = model
            .entries
            .get(key)
            .unwrap_or_else(|| panic!("{when}: {key:?} was never sent"));
        assert!(
            is_stored_as_sent(raw, &entry.raw, key.0),
            "{when}: {key:?} changed its bytes"
        );
    }
    for (key, entry) in model.entries.iter_mut() {
        let place = found.get(key).map_or(Place::Absent, |(_, place)| *place);
        assert!(
            entry.may_be.contains(&place),
            "{when}: {key:?} is {place:?}, but may only be {:?}",
            entry.may_be
        );
        entry.may_be = vec![place];
    }
    model.acknowledged.store(0, Ordering::SeqCst);
}

fn run_rounds(engine: Engine, seed: u64) {
    println!("seed {seed} (set CRASH_ROUNDS_SEED to repeat a run)");
    let mut rng = StdRng::seed_from_u64(seed);
    let harness = Harness::new(engine);
    let model: Shared = Arc::default();

    let serve = harness.start();
    let api = serve.address("API");
    let user_id = json_get(api, &format!("/users/resolve/{API_USER}"))["id"]
        .as_str()
        .expect("the API user's id")
        .to_string();
    let mailboxes = json_get(api, &format!("/users/{user_id}/mailboxes"));
    let inbox = mailboxes["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == "INBOX")
        .expect("an INBOX")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let upload_path = format!("/users/{user_id}/mailboxes/{inbox}/messages");
    Imap::login(serve.address("IMAP"), IMAP_USER)
        .and_then(|mut imap| imap.ok(&format!("CREATE {KEPT}")))
        .expect("CREATE");
    let mut serve = Some(serve);

    for round in 0..ROUNDS {
        let running = serve.take().unwrap_or_else(|| harness.start());
        check_against_model(&running, &model, &format!("before round {round}"));
        let kill_after = rng.gen_range(3..40);
        let clients = [
            {
                let (at, model, seed) = (running.address("IMAP"), model.clone(), rng.r#gen());
                let moves = harness.engine.moves;
                std::thread::spawn(move || imap_client(at, model, round, seed, moves))
            },
            {
                let (at, model, seed) = (running.address("LMTP"), model.clone(), rng.r#gen());
                std::thread::spawn(move || lmtp_client(at, model, round, seed))
            },
            {
                let (at, model, seed) = (running.address("API"), model.clone(), rng.r#gen());
                let path = upload_path.clone();
                std::thread::spawn(move || api_client(at, &path, model, round, seed))
            },
        ];
        while model.lock().unwrap().acknowledged.load(Ordering::SeqCst) < kill_after {
            assert!(
                clients.iter().all(|c| !c.is_finished()),
                "a client stopped while the server ran"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        running.kill_9();
        for client in clients {
            // Each client ends with the error of the connection the kill closed; a panic
            // (a NO, a wrong answer) fails the test here.
            assert!(client.join().expect("client thread").is_err());
        }
        harness.verify_after_kill(&format!("after the kill of round {round}"));
    }

    let last = harness.start();
    check_against_model(&last, &model, "after the last round");
    last.stop();
    harness.verify_is_clean("after the last clean stop");
    let model = model.lock().unwrap();
    let stored = model
        .entries
        .values()
        .filter(|e| e.may_be != [Place::Absent])
        .count();
    println!(
        "{ROUNDS} rounds: {} messages sent, {stored} stored at the end",
        model.entries.len()
    );
}

fn seed() -> u64 {
    std::env::var("CRASH_ROUNDS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand08::thread_rng().r#gen())
}

#[test]
fn kill_9_at_random_moments_loses_nothing_acknowledged_on_the_embedded_store() {
    let engine = Engine {
        variables: vec![],
        leaks_on_crash: false,
        moves: true,
    };
    run_rounds(engine, seed());
}

#[cfg(feature = "distributed")]
#[test]
fn kill_9_at_random_moments_loses_nothing_acknowledged_on_mongodb() {
    let redis = servers::RedisServer::start();
    let engine = Engine {
        variables: vec![
            ("WILDDUCK_STORE_BACKEND", "mongodb".to_string()),
            (
                "WILDDUCK_MONGODB_URI",
                servers::fresh_database_uri(&servers::servers().mongodb_uri),
            ),
            ("WILDDUCK_REDIS_URL", redis.url()),
        ],
        leaks_on_crash: true,
        moves: false,
    };
    run_rounds(engine, seed());
}
