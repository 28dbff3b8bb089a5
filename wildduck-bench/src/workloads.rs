//! The workloads: timed phases of one operation over K connections, IDLE wake-up latency,
//! mailbox-size scaling, idle connections held open, and one big APPEND.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{Barrier, Semaphore};

use crate::client::ClientStyle;
use crate::error::{BenchError, Result, bail};
use crate::imap::{Imap, quote};
use crate::pop3::Pop3;
use crate::stats::OpResult;

/// Where and as whom to connect.
#[derive(Clone, Debug)]
pub struct Accounts {
    pub imap: SocketAddr,
    pub pop3: Option<SocketAddr>,
    /// `%d` is replaced by the account number (0-based).
    pub user_pattern: String,
    pub users: usize,
    pub password: String,
    pub style: ClientStyle,
}

impl Accounts {
    /// The account connection `index` uses (connections spread over the accounts).
    pub fn user(&self, index: usize) -> String {
        self.user_pattern
            .replace("%d", &(index % self.users.max(1)).to_string())
    }
}

/// One operation of a load phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Append,
    Select,
    FetchFlags,
    FetchEnvelope,
    FetchBodystructure,
    FetchBody,
    FetchPartial,
    Store,
    SearchHeader,
    SearchBody,
    Pop3Retr,
}

impl Op {
    pub const ALL: [Op; 11] = [
        Op::Append,
        Op::Select,
        Op::FetchFlags,
        Op::FetchEnvelope,
        Op::FetchBodystructure,
        Op::FetchBody,
        Op::FetchPartial,
        Op::Store,
        Op::SearchHeader,
        Op::SearchBody,
        Op::Pop3Retr,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::Append => "append",
            Op::Select => "select",
            Op::FetchFlags => "fetch_flags",
            Op::FetchEnvelope => "fetch_envelope",
            Op::FetchBodystructure => "fetch_bodystructure",
            Op::FetchBody => "fetch_body",
            Op::FetchPartial => "fetch_partial",
            Op::Store => "store",
            Op::SearchHeader => "search_header",
            Op::SearchBody => "search_body",
            Op::Pop3Retr => "pop3_retr",
        }
    }

    pub fn parse(name: &str) -> Result<Op> {
        match Op::ALL.into_iter().find(|op| op.name() == name) {
            Some(op) => Ok(op),
            None => bail!("unknown operation {name:?}"),
        }
    }
}

/// Bounds of a phase: whichever of count and time runs out first ends it.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    pub count: u64,
    pub time: Duration,
}

/// Words to SEARCH for.
#[derive(Clone, Debug)]
pub struct SearchWords {
    pub header: String,
    pub body: String,
}

/// Shared budget of a phase: operations are handed out until count or deadline is reached.
struct Budget {
    next: AtomicU64,
    count: u64,
    /// Set by the phase once every connection is ready.
    deadline: OnceLock<Instant>,
}

impl Budget {
    /// The number of the next operation, or None when the phase is over.
    fn take(&self) -> Option<u64> {
        match self.deadline.get() {
            Some(deadline) if Instant::now() < *deadline => {}
            _ => return None,
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        (n < self.count).then_some(n)
    }
}

/// A small xorshift generator: each connection picks messages without a shared lock.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % u64::from(n.max(1))) as u32
    }
}

/// What one connection measured.
#[derive(Default)]
struct Samples {
    latencies: Vec<Duration>,
    bytes: u64,
    failures: u64,
}

/// A logged-in session ready for the phase's operation.
enum Session {
    Imap { imap: Imap, exists: u32 },
    Pop3 { pop: Pop3, count: u32 },
}

async fn open_session(accounts: &Accounts, index: usize, op: Op, mailbox: &str) -> Result<Session> {
    let user = accounts.user(index);
    if op == Op::Pop3Retr {
        let Some(addr) = accounts.pop3 else {
            bail!("pop3_retr needs --pop3-port");
        };
        let mut pop = Pop3::login(addr, accounts.style, &user, &accounts.password).await?;
        let count = pop.count().await?;
        if count == 0 {
            bail!("{user} has no messages for RETR");
        }
        return Ok(Session::Pop3 { pop, count });
    }
    let mut imap = Imap::login(accounts.imap, accounts.style, &user, &accounts.password).await?;
    let mut exists = 0;
    if op != Op::Append {
        let reply = imap.command(&format!("SELECT {}", quote(mailbox))).await?;
        if !reply.ok {
            bail!("SELECT {mailbox} as {user}: {}", reply.tagged);
        }
        exists = reply.exists.unwrap_or(0);
        if exists == 0 && op != Op::Select {
            bail!("{mailbox} of {user} is empty; run the append phase first");
        }
    }
    Ok(Session::Imap { imap, exists })
}

/// The IMAP command text of one operation on message `seq`.
fn imap_command(op: Op, seq: u32, round: u64, mailbox: &str, words: &SearchWords) -> String {
    match op {
        Op::Select => format!("SELECT {}", quote(mailbox)),
        Op::FetchFlags => format!("FETCH {seq} (FLAGS)"),
        Op::FetchEnvelope => format!("FETCH {seq} (ENVELOPE)"),
        Op::FetchBodystructure => format!("FETCH {seq} (BODYSTRUCTURE)"),
        Op::FetchBody => format!("FETCH {seq} (BODY.PEEK[])"),
        Op::FetchPartial => format!("FETCH {seq} (BODY.PEEK[TEXT]<100.2048>)"),
        // Alternate set and clear so every STORE really changes a flag.
        Op::Store if round.is_multiple_of(2) => format!("STORE {seq} +FLAGS (\\Flagged)"),
        Op::Store => format!("STORE {seq} -FLAGS (\\Flagged)"),
        Op::SearchHeader => format!("SEARCH SUBJECT {}", quote(&words.header)),
        Op::SearchBody => format!("SEARCH BODY {}", quote(&words.body)),
        Op::Append | Op::Pop3Retr => unreachable!("not a plain IMAP command"),
    }
}

struct PhaseSetup {
    accounts: Accounts,
    op: Op,
    mailbox: String,
    words: SearchWords,
    corpus: Arc<Vec<Vec<u8>>>,
}

async fn connection_loop(
    setup: Arc<PhaseSetup>,
    index: usize,
    budget: Arc<Budget>,
    gates: Arc<(Barrier, Barrier)>,
) -> Result<Samples> {
    let opened = open_session(&setup.accounts, index, setup.op, &setup.mailbox).await;
    // Everyone passes both gates, even a connection that failed, so none waits forever:
    // the first says "logged in", the second "the clock has started".
    gates.0.wait().await;
    gates.1.wait().await;
    let mut session = opened?;
    let mut samples = Samples::default();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ ((index as u64 + 1) * 0x9E37_79B9));
    while let Some(n) = budget.take() {
        let started = Instant::now();
        let (ok, bytes) = match &mut session {
            Session::Pop3 { pop, count } => {
                let bytes = pop.retr(rng.below(*count) + 1).await?;
                (true, bytes)
            }
            Session::Imap { imap, .. } if setup.op == Op::Append => {
                let message = &setup.corpus[(n as usize) % setup.corpus.len()];
                let reply = imap.append(&setup.mailbox, message).await?;
                (reply.ok, message.len() as u64)
            }
            Session::Imap { imap, exists } => {
                let seq = rng.below(*exists) + 1;
                let text = imap_command(setup.op, seq, n, &setup.mailbox, &setup.words);
                let reply = imap.command(&text).await?;
                (reply.ok, reply.literal_bytes)
            }
        };
        if ok {
            samples.latencies.push(started.elapsed());
            samples.bytes += bytes;
        } else {
            samples.failures += 1;
        }
    }
    match session {
        Session::Imap { imap, .. } => imap.logout().await,
        Session::Pop3 { pop, .. } => pop.quit().await,
    }
    Ok(samples)
}

/// Runs `op` on `connections` connections until `bounds` run out. The clock starts once
/// every connection is logged in (and has selected the mailbox).
pub async fn run_phase(
    accounts: &Accounts,
    op: Op,
    connections: usize,
    bounds: Bounds,
    mailbox: &str,
    words: &SearchWords,
    corpus: Arc<Vec<Vec<u8>>>,
) -> Result<OpResult> {
    let setup = Arc::new(PhaseSetup {
        accounts: accounts.clone(),
        op,
        mailbox: mailbox.to_string(),
        words: words.clone(),
        corpus,
    });
    let budget = Arc::new(Budget {
        next: AtomicU64::new(0),
        count: bounds.count,
        deadline: OnceLock::new(),
    });
    let gates = Arc::new((Barrier::new(connections + 1), Barrier::new(connections + 1)));
    let tasks: Vec<_> = (0..connections)
        .map(|index| {
            let (setup, budget, gates) = (setup.clone(), budget.clone(), gates.clone());
            tokio::spawn(async move { connection_loop(setup, index, budget, gates).await })
        })
        .collect();
    gates.0.wait().await;
    let started = Instant::now();
    let _ = budget.deadline.set(started + bounds.time);
    gates.1.wait().await;
    let mut result = OpResult {
        name: op.name().to_string(),
        wall: Duration::ZERO,
        latencies: Vec::new(),
        bytes: 0,
        failures: 0,
    };
    let mut first_error = None;
    for task in tasks {
        match task.await {
            Ok(Ok(samples)) => {
                result.latencies.extend(samples.latencies);
                result.bytes += samples.bytes;
                result.failures += samples.failures;
            }
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(BenchError(format!("connection task: {e}")));
            }
        }
    }
    result.wall = started.elapsed();
    match first_error {
        Some(e) => Err(BenchError(format!("{}: {e}", op.name()))),
        None => Ok(result),
    }
}

/// IDLE wake-up latency: one connection IDLEs on `mailbox`, another APPENDs to it; the
/// sample is the time from the APPEND's tagged OK to `* n EXISTS` on the idling
/// connection (zero when EXISTS came first).
pub async fn idle_latency(
    accounts: &Accounts,
    bounds: Bounds,
    mailbox: &str,
    corpus: &[Vec<u8>],
) -> Result<OpResult> {
    let user = accounts.user(0);
    let mut watcher = Imap::login(accounts.imap, accounts.style, &user, &accounts.password).await?;
    let mut writer = Imap::login(accounts.imap, accounts.style, &user, &accounts.password).await?;
    let reply = watcher
        .command(&format!("SELECT {}", quote(mailbox)))
        .await?;
    if !reply.ok {
        bail!("SELECT {mailbox}: {}", reply.tagged);
    }
    let mut known = reply.exists.unwrap_or(0);
    let mut result = OpResult {
        name: "idle_wakeup".to_string(),
        wall: Duration::ZERO,
        latencies: Vec::new(),
        bytes: 0,
        failures: 0,
    };
    let started = Instant::now();
    let mut round = 0;
    while round < bounds.count && started.elapsed() < bounds.time {
        let tag = watcher.idle_start().await?;
        let message = &corpus[round as usize % corpus.len()];
        let reply = writer.append(mailbox, message).await?;
        let appended = Instant::now();
        if !reply.ok {
            bail!("APPEND during IDLE: {}", reply.tagged);
        }
        known = watcher
            .idle_wait_exists(known, Duration::from_secs(60))
            .await?;
        result
            .latencies
            .push(Instant::now().saturating_duration_since(appended));
        result.bytes += message.len() as u64;
        watcher.idle_done(&tag).await?;
        round += 1;
    }
    result.wall = started.elapsed();
    watcher.logout().await;
    writer.logout().await;
    Ok(result)
}

/// The operations timed per mailbox by `scale`.
const SCALE_OPS: [&str; 5] = [
    "select",
    "uid_fetch_all_flags",
    "uid_search_header",
    "uid_search_body",
    "status_all",
];

/// Mailbox-size scaling: on one connection, for each mailbox, repeats SELECT,
/// `UID FETCH 1:* (FLAGS)`, `UID SEARCH` on a header and on body text, and a STATUS of
/// every folder of the account. Results are named `MAILBOX/op`.
pub async fn scale(
    accounts: &Accounts,
    mailboxes: &[String],
    repeat: u64,
    time_per_op: Duration,
    words: &SearchWords,
) -> Result<Vec<OpResult>> {
    let user = accounts.user(0);
    let mut imap = Imap::login(accounts.imap, accounts.style, &user, &accounts.password).await?;
    let listing = imap.command_collect("LIST \"\" \"*\"").await?;
    let folders: Vec<String> = listing
        .untagged
        .iter()
        .filter_map(|line| list_line_mailbox(line))
        .collect();
    let mut results = Vec::new();
    for mailbox in mailboxes {
        // One untimed SELECT first: servers that build indexes lazily do it now.
        let first = imap.command(&format!("SELECT {}", quote(mailbox))).await?;
        if !first.ok {
            bail!("SELECT {mailbox}: {}", first.tagged);
        }
        for op in SCALE_OPS {
            let mut result = OpResult {
                name: format!("{mailbox}/{op}"),
                wall: Duration::ZERO,
                latencies: Vec::new(),
                bytes: 0,
                failures: 0,
            };
            let started = Instant::now();
            while (result.latencies.len() as u64) < repeat && started.elapsed() < time_per_op {
                let op_started = Instant::now();
                let ok = match op {
                    "select" => {
                        imap.command(&format!("SELECT {}", quote(mailbox)))
                            .await?
                            .ok
                    }
                    "uid_fetch_all_flags" => imap.command("UID FETCH 1:* (FLAGS)").await?.ok,
                    "uid_search_header" => {
                        let text = format!("UID SEARCH SUBJECT {}", quote(&words.header));
                        imap.command(&text).await?.ok
                    }
                    "uid_search_body" => {
                        let text = format!("UID SEARCH BODY {}", quote(&words.body));
                        imap.command(&text).await?.ok
                    }
                    _ => {
                        let mut all_ok = true;
                        for folder in &folders {
                            let text =
                                format!("STATUS {} (MESSAGES UNSEEN UIDNEXT)", quote(folder));
                            all_ok &= imap.command(&text).await?.ok;
                        }
                        all_ok
                    }
                };
                if ok {
                    result.latencies.push(op_started.elapsed());
                } else {
                    result.failures += 1;
                }
            }
            result.wall = started.elapsed();
            results.push(result);
        }
    }
    imap.logout().await;
    Ok(results)
}

/// The mailbox name of an untagged LIST line: its last token, quoted or atom.
fn list_line_mailbox(line: &str) -> Option<String> {
    let line = line.trim_end();
    if !line.starts_with("* LIST ") {
        return None;
    }
    if let Some(inner) = line.strip_suffix('"') {
        let open = inner.rfind(" \"")?;
        return Some(
            inner[open + 2..]
                .replace("\\\"", "\"")
                .replace("\\\\", "\\"),
        );
    }
    line.rsplit(' ').next().map(str::to_string)
}

/// Opens `connections` authenticated IMAP connections (at most `parallel` logging in at
/// once), prints `READY n`, and keeps them open for `hold`.
pub async fn hold(
    accounts: &Accounts,
    connections: usize,
    parallel: usize,
    hold: Duration,
) -> Result<()> {
    let logins = Arc::new(Semaphore::new(parallel.max(1)));
    let tasks: Vec<_> = (0..connections)
        .map(|index| {
            let (accounts, logins) = (accounts.clone(), logins.clone());
            tokio::spawn(async move {
                let _permit = logins.acquire().await;
                Imap::login(
                    accounts.imap,
                    accounts.style,
                    &accounts.user(index),
                    &accounts.password,
                )
                .await
            })
        })
        .collect();
    let mut open = Vec::with_capacity(connections);
    for task in tasks {
        match task.await {
            Ok(Ok(imap)) => open.push(imap),
            Ok(Err(e)) => bail!("connection {} of {connections}: {e}", open.len() + 1),
            Err(e) => bail!("connection task: {e}"),
        }
    }
    println!("READY {}", open.len());
    tokio::time::sleep(hold).await;
    drop(open);
    Ok(())
}

/// APPENDs one message of `size` bytes, then keeps the connection open for `hold`
/// (so a sampler sees the server's memory before the session ends).
pub async fn big_append(
    accounts: &Accounts,
    mailbox: &str,
    size: usize,
    hold: Duration,
) -> Result<OpResult> {
    let message = crate::corpus::big_message(size);
    let mut imap = Imap::login(
        accounts.imap,
        accounts.style,
        &accounts.user(0),
        &accounts.password,
    )
    .await?;
    let started = Instant::now();
    let reply = imap.append(mailbox, &message).await?;
    let elapsed = started.elapsed();
    if !reply.ok {
        bail!("APPEND of {} bytes: {}", message.len(), reply.tagged);
    }
    tokio::time::sleep(hold).await;
    imap.logout().await;
    Ok(OpResult {
        name: "append_big".to_string(),
        wall: elapsed,
        latencies: vec![elapsed],
        bytes: message.len() as u64,
        failures: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_lines() {
        assert_eq!(
            list_line_mailbox(r#"* LIST (\HasNoChildren) "/" "Sent Mail""#).as_deref(),
            Some("Sent Mail")
        );
        assert_eq!(
            list_line_mailbox(r#"* LIST (\HasNoChildren) "." INBOX"#).as_deref(),
            Some("INBOX")
        );
        assert_eq!(list_line_mailbox("* OK x"), None);
    }

    #[test]
    fn operations_round_trip_their_names() {
        for op in Op::ALL {
            assert_eq!(Op::parse(op.name()).unwrap(), op);
        }
        assert!(Op::parse("nope").is_err());
    }

    #[test]
    fn budget_ends_at_count() {
        let budget = Budget {
            next: AtomicU64::new(0),
            count: 2,
            deadline: OnceLock::new(),
        };
        assert_eq!(budget.take(), None, "no operation before the clock starts");
        let _ = budget
            .deadline
            .set(Instant::now() + Duration::from_secs(60));
        assert_eq!(budget.take(), Some(0));
        assert_eq!(budget.take(), Some(1));
        assert_eq!(budget.take(), None);
    }
}
