//! Two `wildduck serve` processes over one MongoDB(-wire server) and one Redis: IDLE on one
//! hears APPEND/STORE/EXPUNGE made through the other, parallel APPENDs through both get
//! distinct increasing UIDs, quota stays exact, a Redis outage loses nothing (IDLE catches up
//! when it returns, also on changes whose wake-ups were never sent), after a kill -9 of
//! one server its clients find every acknowledged message on the other, a logout or a
//! suspension made through one server (or the CLI) ends the user's sessions on the other,
//! a change stream on one server reports an APPEND made on the other, both relay workers
//! take from one outbound queue without sending anything twice, and both webhook workers
//! post each event once.
//!
//! The servers come from the store's test fixture (`nx-27017 --data-dir memory`, or
//! `WILDDUCK_TEST_MONGODB_URI`); Redis is always our own, since the test stops and restarts it.
#![cfg(feature = "distributed")]

mod common;
#[path = "../../wildduck-store/tests/servers/mod.rs"]
mod servers;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::smtp::{Sink, unused_port};
use common::{Env, metric};
use servers::RedisServer;

const WAIT: Duration = Duration::from_secs(30);
const USER: &str = "alice";
const PASSWORD: &str = "correct horse";

/// The CLI environment for one MongoDB database and one Redis.
struct Cluster {
    env: Env,
    mongodb_uri: String,
    redis_url: String,
}

impl Cluster {
    /// A fresh database of the shared MongoDB and its own data dirs, sharing `redis`.
    fn new(redis: &RedisServer) -> Self {
        Self::on(&servers::servers().mongodb_uri, redis)
    }

    /// Like [`Cluster::new`], on the MongoDB server at `mongodb_uri`.
    fn on(mongodb_uri: &str, redis: &RedisServer) -> Self {
        Cluster {
            env: Env::new(),
            mongodb_uri: servers::fresh_database_uri(mongodb_uri),
            redis_url: redis.url(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = self.env.command(args);
        command
            .env("WILDDUCK_STORE_BACKEND", "mongodb")
            .env("WILDDUCK_MONGODB_URI", &self.mongodb_uri)
            .env("WILDDUCK_REDIS_URL", &self.redis_url);
        command
    }

    fn ok(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let output = common::run_command(self.command(&all), b"");
        let doc = common::parse_json(&output);
        assert_eq!(common::code(&output), 0, "wildduck {args:?}: {doc}");
        doc
    }

    /// Starts `wildduck serve` with IMAP and POP3 on free loopback ports. IDLE's own polling
    /// is turned off, so whatever an IDLE client hears came through Redis.
    fn serve(&self, name: &str) -> Server {
        self.serve_with(name, "")
    }

    /// Like [`Cluster::serve`], with `imap_settings` (TOML lines) added to `[imap]`.
    fn serve_with(&self, name: &str, imap_settings: &str) -> Server {
        self.serve_configured(name, imap_settings, "")
    }

    /// Like [`Cluster::serve_with`], with `sections` (whole TOML sections) at the end.
    fn serve_configured(&self, name: &str, imap_settings: &str, sections: &str) -> Server {
        let config = self.env.path(&format!("{name}.toml"));
        std::fs::write(
            &config,
            format!(
                "[imap]\nlisten = \"127.0.0.1:0\"\nidle_poll_secs = 3600\n{imap_settings}\
                 [pop3]\nlisten = \"127.0.0.1:0\"\n[lmtp]\nenabled = false\n[submission]\nenabled = false\n[api]\nlisten = \"127.0.0.1:0\"\n[initial_account]\ncreate = false\n{sections}"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(self.env.path(&format!("{name}.log"))).unwrap();
        let mut child = self
            .command(&["--config", config.to_str().unwrap(), "serve"])
            .env("WILDDUCK_LOG_LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start wildduck serve");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let (mut imap, mut pop3, mut api) = (None, None, None);
        let mut line = String::new();
        while imap.is_none() || pop3.is_none() || api.is_none() {
            line.clear();
            let read = stdout.read_line(&mut line).expect("serve output");
            assert!(read > 0, "{name} exited before listening");
            if let Some((protocol, at)) = line.trim_end().split_once(" listening on ") {
                let at: SocketAddr = at.parse().expect("an address");
                if protocol.starts_with("IMAP") {
                    imap = Some(at);
                } else if protocol.starts_with("POP3") {
                    pop3 = Some(at);
                } else if protocol.starts_with("API") {
                    api = Some(at);
                }
            }
        }
        Server {
            child,
            _stdout: stdout,
            imap: imap.expect("an IMAP address"),
            pop3: pop3.expect("a POP3 address"),
            api: api.expect("an API address"),
        }
    }
}

struct Server {
    child: Child,
    /// Kept open: serve writes its events here until it stops.
    _stdout: BufReader<ChildStdout>,
    imap: SocketAddr,
    pop3: SocketAddr,
    api: SocketAddr,
}

impl Server {
    fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill_9();
    }
}

/// A raw IMAP client: tagged commands, untagged lines collected, no literals read.
struct Imap {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_tag: u32,
}

impl Imap {
    /// Connects and reads the greeting.
    fn connect(at: SocketAddr) -> Imap {
        let stream = TcpStream::connect(at).expect("connect");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut imap = Imap {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            next_tag: 1,
        };
        assert!(imap.line().starts_with("* OK"));
        imap
    }

    fn login(at: SocketAddr) -> Imap {
        let mut imap = Imap::connect(at);
        imap.ok(&format!("LOGIN {USER} \"{PASSWORD}\""));
        imap.ok("SELECT INBOX");
        imap
    }

    /// Sends `command`; returns its tagged completion without the tag, whatever the status.
    fn status(&mut self, command: &str) -> String {
        let tag = self.tag();
        self.send(format!("{tag} {command}\r\n").as_bytes());
        loop {
            if let Some(status) = self.line().strip_prefix(&format!("{tag} ")) {
                return status.to_string();
            }
        }
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        let read = self
            .reader
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("no line from the server within {WAIT:?}: {e}"));
        assert!(read > 0, "server closed the connection");
        line.trim_end().to_string()
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write");
    }

    fn tag(&mut self) -> String {
        self.next_tag += 1;
        format!("a{}", self.next_tag)
    }

    /// Reads until the tagged completion of `tag`; returns every line, insisting on OK.
    fn finish(&mut self, tag: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line();
            if let Some(status) = line.strip_prefix(&format!("{tag} ")) {
                assert!(status.starts_with("OK"), "{line} after {lines:?}");
                lines.push(line);
                return lines;
            }
            lines.push(line);
        }
    }

    fn ok(&mut self, command: &str) -> Vec<String> {
        let tag = self.tag();
        self.send(format!("{tag} {command}\r\n").as_bytes());
        self.finish(&tag)
    }

    /// APPENDs `raw` to INBOX; returns the UID from APPENDUID.
    fn append(&mut self, raw: &[u8]) -> u32 {
        let tag = self.tag();
        self.send(format!("{tag} APPEND INBOX {{{}}}\r\n", raw.len()).as_bytes());
        let go_ahead = self.line();
        assert!(go_ahead.starts_with('+'), "{go_ahead}");
        self.send(raw);
        self.send(b"\r\n");
        let lines = self.finish(&tag);
        let done = lines.last().unwrap();
        let (_, after) = done.split_once("APPENDUID ").expect("APPENDUID");
        after
            .split([' ', ']'])
            .nth(1)
            .and_then(|uid| uid.parse().ok())
            .unwrap_or_else(|| panic!("UID in {done}"))
    }

    /// Every UID in the mailbox, after a NOOP has brought the session up to date (a search
    /// covers only the messages the session has announced).
    fn uids(&mut self) -> Vec<u32> {
        self.ok("NOOP");
        let lines = self.ok("UID SEARCH ALL");
        let search = lines.iter().find(|l| l.starts_with("* SEARCH")).unwrap();
        search
            .split(' ')
            .skip(2)
            .map(|n| n.parse().unwrap())
            .collect()
    }

    fn idle(&mut self) -> String {
        let tag = self.tag();
        self.send(format!("{tag} IDLE\r\n").as_bytes());
        let go_ahead = self.line();
        assert!(go_ahead.starts_with('+'), "{go_ahead}");
        tag
    }

    /// Reads IDLE updates until `wanted` matches one (within the read timeout).
    fn await_update(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline, "no awaited update in time");
            let line = self.line();
            if wanted(&line) {
                return line;
            }
        }
    }

    /// Whether the server has closed the connection (NOOP gets no answer).
    fn closed(&mut self) -> bool {
        let _ = self.writer.write_all(b"z NOOP\r\n");
        let mut line = String::new();
        matches!(self.reader.read_line(&mut line), Ok(0) | Err(_))
    }

    fn done(&mut self, tag: &str) {
        self.send(b"DONE\r\n");
        self.finish(tag);
    }
}

fn message(n: usize) -> Vec<u8> {
    common::message(
        &format!("distributed-{n}"),
        &format!("body {n} {}", "x".repeat(n)),
    )
}

fn storage_used(cluster: &Cluster) -> u64 {
    let doc = cluster.ok(&["user", "show", USER]);
    doc["user"]["storage_used"]
        .as_u64()
        .unwrap_or_else(|| panic!("storage_used in {doc}"))
}

#[test]
fn two_servers_share_one_store_through_idle_outages_and_a_crash() {
    let mut redis = RedisServer::start();
    let cluster = Cluster::new(&redis);
    cluster.ok(&["user", "add", USER, "--password", PASSWORD]);
    let first = cluster.serve("first");
    let mut second = cluster.serve("second");

    // IDLE on the first hears what the second does.
    let mut watcher = Imap::login(first.imap);
    let mut writer = Imap::login(second.imap);
    let idle = watcher.idle();
    let doomed = message(0);
    let doomed_uid = writer.append(&doomed);
    watcher.await_update(|l| l == "* 1 EXISTS");
    writer.ok("NOOP");
    writer.ok(&format!("UID STORE {doomed_uid} +FLAGS (\\Flagged)"));
    let fetch = watcher.await_update(|l| l.starts_with("* 1 FETCH"));
    assert!(fetch.contains("\\Flagged"), "{fetch}");
    writer.ok(&format!("UID STORE {doomed_uid} +FLAGS (\\Deleted)"));
    writer.ok("EXPUNGE");
    watcher.await_update(|l| l == "* 1 EXPUNGE");
    watcher.done(&idle);
    drop(watcher);

    // Parallel APPENDs through both servers.
    let per_server = 15;
    let appenders: Vec<_> = [first.imap, second.imap]
        .into_iter()
        .enumerate()
        .map(|(server, at)| {
            std::thread::spawn(move || {
                let mut client = Imap::login(at);
                (0..per_server)
                    .map(|i| {
                        let n = 1 + server * per_server + i;
                        (client.append(&message(n)), n)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut acknowledged: Vec<(u32, usize)> = Vec::new();
    for appender in appenders {
        let appended = appender.join().expect("appender thread");
        let uids: Vec<u32> = appended.iter().map(|(uid, _)| *uid).collect();
        assert!(uids.windows(2).all(|w| w[0] < w[1]), "{uids:?}");
        acknowledged.extend(appended);
    }
    let mut uids: Vec<u32> = acknowledged.iter().map(|(uid, _)| *uid).collect();
    uids.sort_unstable();
    uids.dedup();
    assert_eq!(uids.len(), 2 * per_server, "UIDs are distinct");
    assert!(uids[0] > doomed_uid);
    assert_eq!(writer.uids(), uids);
    let bytes = |acknowledged: &[(u32, usize)]| -> u64 {
        acknowledged
            .iter()
            .map(|(_, n)| message(*n).len() as u64)
            .sum()
    };
    assert_eq!(storage_used(&cluster), bytes(&acknowledged));

    // Redis goes away for 10 s: writes still succeed, and the IDLE client catches up once it
    // is back (the writing server re-sends the wake-ups it could not send).
    let mut watcher = Imap::login(first.imap);
    let idle = watcher.idle();
    redis.stop();
    let outage = Instant::now();
    for i in 0..3 {
        let n = 100 + i;
        acknowledged.push((writer.append(&message(n)), n));
    }
    std::thread::sleep(Duration::from_secs(10).saturating_sub(outage.elapsed()));
    redis.restart();
    let total = acknowledged.len();
    watcher.await_update(|l| l == format!("* {total} EXISTS"));

    // Again, but the only change comes from a process without Redis (an MTA's `deliver`),
    // which sends no wake-up at all: the IDLE client hears of it only because its server
    // wakes its sessions to resync from the journal when its Redis subscription returns.
    redis.stop();
    let mut deliver = cluster.command(&["--json", "deliver", "--user", USER]);
    deliver.env_remove("WILDDUCK_REDIS_URL");
    let output = common::run_command(deliver, &message(150));
    let delivered = common::parse_json(&output);
    assert_eq!(common::code(&output), 0, "deliver: {delivered}");
    let uid = delivered["uid"]
        .as_u64()
        .and_then(|uid| u32::try_from(uid).ok());
    acknowledged.push((uid.expect("a UID"), 150));
    std::thread::sleep(Duration::from_secs(3));
    redis.restart();
    let total = acknowledged.len();
    watcher.await_update(|l| l == format!("* {total} EXISTS"));
    watcher.done(&idle);
    assert_eq!(storage_used(&cluster), bytes(&acknowledged));

    // The second server dies mid-session; its client moves to the first and finds everything.
    acknowledged.push((writer.append(&message(200)), 200));
    second.kill_9();
    assert!(writer.closed(), "the killed server's connection is gone");
    let mut moved = Imap::login(first.imap);
    let mut expected: Vec<u32> = acknowledged.iter().map(|(uid, _)| *uid).collect();
    expected.sort_unstable();
    assert_eq!(moved.uids(), expected);
    assert_eq!(storage_used(&cluster), bytes(&acknowledged));
    let verify = cluster.ok(&["verify"]);
    assert_eq!(
        verify["problems"].as_array().map(Vec::len),
        Some(0),
        "{verify}"
    );
}

/// `max_connections_per_user` counted in Redis: a user at the limit on one server is refused
/// on the other, and logging out there frees the slot for it.
#[test]
fn a_user_at_the_session_limit_on_one_server_is_refused_on_the_other() {
    let redis = RedisServer::start();
    let cluster = Cluster::new(&redis);
    cluster.ok(&["user", "add", USER, "--password", PASSWORD]);
    let one_each = "max_connections_per_user = 1\n";
    let servers = [
        cluster.serve_with("first", one_each),
        cluster.serve_with("second", one_each),
    ];
    let mut holder = Imap::login(servers[0].imap);
    let mut waiting = Imap::connect(servers[1].imap);
    let login = format!("LOGIN {USER} \"{PASSWORD}\"");
    assert_eq!(
        waiting.status(&login),
        "NO [LIMIT] Too many simultaneous connections for this user"
    );
    holder.ok("LOGOUT");
    // The slot is removed from Redis right after the session ends.
    let deadline = Instant::now() + WAIT;
    loop {
        let status = waiting.status(&login);
        if status.starts_with("OK") {
            break;
        }
        assert!(Instant::now() < deadline, "slot never freed: {status}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The default lockout (10 failures of one username) counted in Redis: failures through
/// both servers add up, and the lock holds on both, even for the right password.
#[test]
fn a_lockout_reached_through_both_servers_holds_on_each() {
    let redis = RedisServer::start();
    let cluster = Cluster::new(&redis);
    cluster.ok(&["user", "add", USER, "--password", PASSWORD]);
    let servers = [cluster.serve("first"), cluster.serve("second")];
    // In parallel, since each failure is answered after a growing pause.
    let failures: Vec<_> = (0..10)
        .map(|i| {
            let at = servers[i % 2].imap;
            std::thread::spawn(move || Imap::connect(at).status(&format!("LOGIN {USER} wrong")))
        })
        .collect();
    for failure in failures {
        let status = failure.join().expect("login thread");
        assert!(status.starts_with("NO"), "{status}");
    }
    for server in &servers {
        let status = Imap::connect(server.imap).status(&format!("LOGIN {USER} \"{PASSWORD}\""));
        assert!(status.starts_with("NO [LIMIT]"), "{status}");
    }
}

/// The API's `PUT /users/:user/logout` on one server and a suspension with the CLI (a
/// process of its own) end the user's IMAP sessions on the other server, in IDLE or not.
#[test]
fn a_logout_through_one_node_ends_sessions_on_the_other() {
    let redis = RedisServer::start();
    let cluster = Cluster::new(&redis);
    let user = cluster.ok(&["user", "add", USER, "--password", PASSWORD])["user"]["id"]
        .as_str()
        .expect("an id")
        .to_string();
    let servers = [cluster.serve("first"), cluster.serve("second")];
    let mut idling = Imap::login(servers[0].imap);
    idling.idle();
    let mut waiting = Imap::login(servers[0].imap);
    let (status, doc) = common::api_request(
        servers[1].api,
        "PUT",
        &format!("/users/{user}/logout"),
        None,
        &serde_json::json!({"reason": "Just because"}),
    );
    assert_eq!(status, 200, "{doc}");
    assert_eq!(idling.line(), "* BYE Just because");
    assert!(idling.closed());
    assert_eq!(waiting.line(), "* BYE Just because");
    assert!(waiting.closed());

    let mut idling = Imap::login(servers[1].imap);
    idling.idle();
    cluster.ok(&["user", "set", USER, "--suspended", "true"]);
    assert_eq!(idling.line(), "* BYE Account suspended");
    assert!(idling.closed());
}

/// A change stream (`GET /users/:user/updates`) opened on one node reports an APPEND made
/// over IMAP through the other: the journal is the shared store's, the wake-up comes
/// through Redis.
#[test]
fn a_change_stream_on_one_node_reports_an_append_made_on_the_other() {
    let redis = RedisServer::start();
    let cluster = Cluster::new(&redis);
    let user = cluster.ok(&["user", "add", USER, "--password", PASSWORD])["user"]["id"]
        .as_str()
        .expect("an id")
        .to_string();
    let servers = [cluster.serve("first"), cluster.serve("second")];
    let mut stream = TcpStream::connect(servers[1].api).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        stream,
        "GET /users/{user}/updates HTTP/1.1\r\nHost: localhost\r\n\r\n"
    )
    .unwrap();
    let mut events = BufReader::new(stream);
    let mut next_line = || {
        let mut line = String::new();
        let read = events
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("no line on the stream within {WAIT:?}: {e}"));
        assert!(read > 0, "the stream ended");
        line.trim_end().to_string()
    };
    let status = next_line();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    // The first idle comment: the stream is listening from here on.
    while next_line() != ": idling 1" {}

    let uid = Imap::login(servers[0].imap).append(&message(1));
    let mut block = Vec::new();
    loop {
        let line = next_line();
        if line.starts_with("id: ") {
            if block
                .iter()
                .any(|l: &String| l.contains("\"command\": \"EXISTS\""))
            {
                break;
            }
            block.clear();
        } else if line.starts_with("data: ") {
            block.push(line);
        }
    }
    assert!(
        block.iter().any(|l| l.contains(&format!("\"uid\": {uid}"))),
        "{block:?}"
    );
}

#[test]
fn two_nodes_share_one_outbound_queue_and_each_message_goes_out_once() {
    let redis = RedisServer::start();
    let cluster = Cluster::new(&redis);
    let user = cluster.ok(&["user", "add", USER, "--password", PASSWORD])["user"]["id"]
        .as_str()
        .expect("an id")
        .to_string();
    cluster.ok(&["address", "add", USER, "alice@example.org"]);
    let port = unused_port();
    let sink = Sink::start(port, "accept");
    let outbound = format!(
        "[outbound]\nrelay = \"smtp://127.0.0.1:{port}\"\npoll_interval_ms = 50\nbackoff_base_secs = 1\n"
    );
    let servers = [
        cluster.serve_configured("first", "", &outbound),
        cluster.serve_configured("second", "", &outbound),
    ];
    let (status, mailboxes) = common::api_request(
        servers[0].api,
        "GET",
        &format!("/users/{user}/mailboxes"),
        None,
        &serde_json::json!(null),
    );
    assert_eq!(status, 200, "{mailboxes}");
    let drafts = mailboxes["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["specialUse"] == "\\Drafts")
        .and_then(|m| m["id"].as_str())
        .expect("a Drafts mailbox")
        .to_string();
    // Ten drafts sent, half through each node; both relay workers take from one queue.
    let mut subjects = std::collections::BTreeSet::new();
    for n in 0..10 {
        let api = servers[n % 2].api;
        let subject = format!("queued {n}");
        let (status, draft) = common::api_request(
            api,
            "POST",
            &format!("/users/{user}/mailboxes/{drafts}/messages"),
            None,
            &serde_json::json!({
                "draft": true,
                "from": {"address": "alice@example.org"},
                "to": [{"address": format!("rcpt{n}@remote.test")}],
                "subject": subject,
                "text": "through the shared queue",
            }),
        );
        assert_eq!(status, 200, "{draft}");
        let id = draft["message"]["id"].as_u64().expect("a message id");
        let (status, sent) = common::api_request(
            api,
            "POST",
            &format!("/users/{user}/mailboxes/{drafts}/messages/{id}/submit"),
            None,
            &serde_json::json!({}),
        );
        assert_eq!(status, 200, "{sent}");
        subjects.insert(subject);
    }
    let mut relayed = std::collections::BTreeSet::new();
    for _ in 0..10 {
        let message = sink.received();
        let data = message["data"].as_str().unwrap();
        let subject = data
            .lines()
            .find_map(|line| line.strip_prefix("Subject: "))
            .unwrap_or_else(|| panic!("no Subject in {data}"))
            .to_string();
        assert!(relayed.insert(subject.clone()), "{subject} relayed twice");
    }
    assert_eq!(relayed, subjects);
    let waited = Instant::now();
    while !cluster.ok(&["queue", "list"])["entries"]
        .as_array()
        .unwrap()
        .is_empty()
    {
        assert!(waited.elapsed() < WAIT, "the queue never emptied");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        sink.lines.try_recv().is_err(),
        "a message reached the relay twice"
    );
}

/// A POP3 client reading one line per answer (no multi-line answers are read).
struct Pop3 {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Pop3 {
    /// Connects, reads the greeting and logs in with USER/PASS.
    fn login(at: SocketAddr) -> Pop3 {
        let stream = TcpStream::connect(at).expect("connect");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut pop3 = Pop3 {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        let greeting = pop3.line();
        assert!(greeting.starts_with("+OK"), "{greeting}");
        for command in [format!("USER {USER}"), format!("PASS {PASSWORD}")] {
            let answer = pop3.answer(&command);
            assert!(answer.starts_with("+OK"), "{command}: {answer}");
        }
        pop3
    }

    /// Sends `command`; returns the first line of the answer.
    fn answer(&mut self, command: &str) -> String {
        self.writer
            .write_all(format!("{command}\r\n").as_bytes())
            .expect("write");
        self.line()
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        let read = self.reader.read_line(&mut line).expect("a POP3 line");
        assert!(read > 0, "server closed the connection");
        line.trim_end().to_string()
    }
}

/// MongoDB stopped under a running server: IMAP answers `NO [UNAVAILABLE]` (RFC 5530), POP3
/// `-ERR [SYS/TEMP]` (RFC 3206) and the CLI exits with EX_TEMPFAIL (75), so clients and MTAs
/// try again later instead of giving up. Started again, it is found again by itself: the
/// same IMAP session carries on and the mail acknowledged before the outage is all there.
#[test]
fn with_mongodb_stopped_every_shell_says_try_again_later_and_recovers() {
    let redis = RedisServer::start();
    let mut mongodb = servers::MongoServer::start_on_disk();
    // Server selection gives up after a second instead of the driver's default 30.
    let cluster = Cluster::on(
        &format!("{}&serverSelectionTimeoutMS=1000", mongodb.uri()),
        &redis,
    );
    cluster.ok(&["user", "add", USER, "--password", PASSWORD]);
    let server = cluster.serve("outage");
    let mut imap = Imap::login(server.imap);
    let before = imap.append(&message(1));
    imap.ok("NOOP");
    let mut pop3 = Pop3::login(server.pop3);
    let unavailable = |text: &str| {
        metric(
            text,
            "wildduck_mongodb_errors_total",
            &[("class", "unavailable")],
        )
    };
    let scraped = scrape(server.api);
    // The APPEND's allocation and commit: one MongoDB write unit.
    assert!(
        metric(
            &scraped,
            "wildduck_store_transaction_seconds_count",
            &[("engine", "mongodb"), ("kind", "write")]
        ) >= 1.0,
        "{scraped}"
    );
    let unavailable_before = unavailable(&scraped);

    mongodb.stop();

    for command in ["STORE 1 +FLAGS (\\Flagged)", "STATUS INBOX (MESSAGES)"] {
        let status = imap.status(command);
        assert!(
            status.starts_with("NO [UNAVAILABLE] "),
            "{command}: {status}"
        );
    }
    let login = Imap::connect(server.imap).status(&format!("LOGIN {USER} \"{PASSWORD}\""));
    assert!(login.starts_with("NO [UNAVAILABLE] "), "{login}");
    let retr = pop3.answer("RETR 1");
    assert!(retr.starts_with("-ERR [SYS/TEMP] "), "{retr}");
    // Each refusal above is a driver error turned into a store error, counted once or more.
    let during = scrape(server.api);
    assert!(unavailable(&during) >= unavailable_before + 4.0, "{during}");

    let output = common::run_command(cluster.command(&["--json", "user", "show", USER]), b"");
    let doc = common::parse_json(&output);
    assert_eq!(common::code(&output), 75, "{doc}");
    assert_eq!(doc["error"]["kind"], "temp_fail", "{doc}");

    mongodb.restart();
    // The driver looks for the server again on its own schedule (heartbeats): the session
    // sees `NO [UNAVAILABLE]` until then, and nothing else.
    let deadline = Instant::now() + WAIT;
    loop {
        let status = imap.status("STORE 1 +FLAGS (\\Flagged)");
        if status.starts_with("OK") {
            break;
        }
        assert!(status.starts_with("NO [UNAVAILABLE] "), "{status}");
        assert!(
            Instant::now() < deadline,
            "MongoDB not found again within {WAIT:?}: {status}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let after = imap.append(&message(2));
    assert_eq!(imap.uids(), [before, after]);
    assert_eq!(Imap::login(server.imap).uids(), [before, after]);
    let stat = Pop3::login(server.pop3).answer("STAT");
    assert!(stat.starts_with("+OK 2 "), "{stat}");
}

/// `GET path` of the API at `at`, from loopback (root without a token): status and body.
fn http_get(at: SocketAddr, path: &str) -> (u16, String) {
    use std::io::Read;
    let mut stream = TcpStream::connect(at).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().expect("a status code");
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

/// `GET /health` as a load balancer sees it: status and body.
fn health(at: SocketAddr) -> (u16, serde_json::Value) {
    let (status, body) = http_get(at, "/health");
    (status, serde_json::from_str(&body).expect("a JSON body"))
}

/// `GET /metrics` (Prometheus text).
fn scrape(at: SocketAddr) -> String {
    let (status, body) = http_get(at, "/metrics");
    assert_eq!(status, 200, "{body}");
    body
}

/// `/health` answers 500 "Redis is down" while Redis is stopped (the limits fall back to
/// memory, so nothing else would tell), and 200 again once it is back, by itself; the
/// metrics count the Redis errors of the outage.
#[test]
fn health_reports_a_redis_outage_and_the_recovery() {
    let mut redis = RedisServer::start();
    let cluster = Cluster::new(&redis);
    cluster.ok(&["user", "add", USER, "--password", PASSWORD]);
    let server = cluster.serve("health");
    assert_eq!(
        health(server.api),
        (200, serde_json::json!({"success": true}))
    );
    let counter_errors = |text: &str| {
        metric(
            text,
            "wildduck_redis_errors_total",
            &[("operation", "counters")],
        )
    };
    let before = counter_errors(&scrape(server.api));
    redis.stop();
    assert_eq!(
        health(server.api),
        (
            500,
            serde_json::json!({"success": false, "message": "Redis is down"})
        )
    );
    // Mail is served meanwhile: a login works on the local counters.
    Imap::login(server.imap).ok("LOGOUT");
    // At least the health check and the login's lockout counter failed at Redis.
    let during = scrape(server.api);
    assert!(counter_errors(&during) >= before + 2.0, "{during}");
    redis.restart();
    let deadline = Instant::now() + WAIT;
    while health(server.api).0 != 200 {
        assert!(
            Instant::now() < deadline,
            "/health did not recover after Redis came back"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Both nodes' webhook workers take from one event log: users made through either node are
/// each posted once to a webhook, by one of the two.
#[test]
fn two_nodes_post_each_event_to_a_webhook_once() {
    let redis = RedisServer::start();
    let cluster = Cluster::new(&redis);
    let port = unused_port();
    let sink = common::http::HttpSink::start(port, &[200]);
    let outbound = "[outbound]\npoll_interval_ms = 50\n";
    let servers = [
        cluster.serve_configured("first", "", outbound),
        cluster.serve_configured("second", "", outbound),
    ];
    let request = |n: usize, method: &str, path: &str, body: serde_json::Value| {
        let (status, answer) = common::api_request(servers[n % 2].api, method, path, None, &body);
        assert_eq!(status, 200, "{answer}");
        answer
    };
    let url = format!("http://127.0.0.1:{port}/events");
    request(
        0,
        "POST",
        "/webhooks",
        serde_json::json!({"type": ["user.created"], "url": url}),
    );
    let mut made = Vec::new();
    for n in 0..10 {
        let body = serde_json::json!({"username": format!("user{n}"), "password": PASSWORD});
        let answer = request(n, "POST", "/users", body);
        made.push(answer["id"].as_str().unwrap().to_string());
    }
    // A last user after the ten: once its event is in, a repeat of theirs would have been too.
    let last = request(
        0,
        "POST",
        "/users",
        serde_json::json!({"username": "last", "password": PASSWORD}),
    );
    let last = last["id"].as_str().unwrap().to_string();
    let mut posted = std::collections::BTreeSet::new();
    while posted.len() < made.len() + 1 {
        let body: serde_json::Value = serde_json::from_slice(&sink.posted().body).unwrap();
        assert_eq!(body["ev"], "user.created");
        let user = body["user"].as_str().unwrap().to_string();
        assert!(posted.insert(user.clone()), "{user} posted twice");
    }
    made.push(last);
    assert_eq!(posted, made.into_iter().collect());
    std::thread::sleep(Duration::from_secs(1));
    assert!(!sink.has_more(), "an event was posted twice");
}
