//! Storage benchmark: delivers a `gen_mbox.py` corpus to a set of users the way mail arrives
//! (each message to 1–5 recipients, list mail to many, a `Delivered-To:` line per copy), then
//! prints what Maildir would keep (the raw size of every copy), what the store keeps, the
//! ratio, ingest MB/s and section-read MB/s.
//!
//! Run: `cargo bench -p wildduck-store --bench storage`
//! (env: `STORAGE_BENCH_MESSAGES`, default 2000; `STORAGE_BENCH_USERS`, default 100).
//! A plain program (harness = false), not criterion: it measures one large run, and its
//! main output is sizes, not times.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use wildduck_store::{
    Flags, MailboxId, NewUser, Section, SectionText, Store, StoreConfig, Uid, mime,
};

const GEN_MBOX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/tools/gen_mbox.py");
/// Deliveries, and readers, running at once.
const CONCURRENCY: usize = 16;
/// Recipients of a mailing-list message.
const LIST_MEMBERS: usize = 30;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The messages of `gen_mbox.py -n count --seed 1`, split at mbox "From " lines.
fn corpus(dir: &Path, count: usize) -> Vec<Vec<u8>> {
    let path = dir.join("corpus.mbox");
    let status = std::process::Command::new("python3")
        .arg(GEN_MBOX)
        .args(["-n", &count.to_string(), "--seed", "1", "-o"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python3 runs gen_mbox.py");
    assert!(status.success(), "gen_mbox.py failed");
    let data = std::fs::read(&path).expect("read mbox");
    let mut messages: Vec<Vec<u8>> = Vec::new();
    for line in data.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"From ") {
            messages.push(Vec::new());
        } else if let Some(message) = messages.last_mut() {
            message.extend_from_slice(line);
        }
    }
    for message in &mut messages {
        // mbox puts a blank line between messages.
        if message.ends_with(b"\n\n") {
            message.pop();
        }
    }
    messages
}

fn is_list_mail(raw: &[u8]) -> bool {
    let header = &raw[..mime::split(raw).root().header.end];
    header
        .split(|&b| b == b'\n')
        .any(|line| line.len() > 8 && line[..8].eq_ignore_ascii_case(b"list-id:"))
}

fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}

/// Size of the store's files after the WAL was folded into the database, and what the
/// biggest columns hold.
fn database_size(dir: &Path) -> (u64, String) {
    let file = dir.join("store.sqlite");
    let conn = rusqlite::Connection::open(&file).expect("open database");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    let columns = [
        ("blob data", "SELECT sum(length(data)) FROM blobs"),
        ("layouts", "SELECT sum(length(layout)) FROM messages"),
        (
            "search text",
            "SELECT sum(length(search_headers) + length(search_body)) FROM messages",
        ),
        (
            "envelope+structure",
            "SELECT sum(length(envelope) + length(bodystructure)) FROM messages",
        ),
    ];
    let breakdown = columns
        .iter()
        .map(|(name, sql)| {
            let bytes: i64 = conn.query_row(sql, [], |r| r.get(0)).expect("column sizes");
            format!("{name} {:.1} MB", megabytes(bytes as u64))
        })
        .collect::<Vec<_>>()
        .join(", ");
    drop(conn);
    let size = std::fs::read_dir(dir)
        .expect("store dir")
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    (size, breakdown)
}

/// Reads `section` of every delivered copy, CONCURRENCY readers at a time; returns the bytes
/// read.
async fn read_all(store: &Store, delivered: &Arc<Vec<Delivered>>, section: Section) -> u64 {
    let mut readers = tokio::task::JoinSet::new();
    for reader in 0..CONCURRENCY {
        let (store, delivered, section) = (store.clone(), delivered.clone(), section.clone());
        readers.spawn(async move {
            let mut bytes = 0;
            for d in delivered.iter().skip(reader).step_by(CONCURRENCY) {
                let body = store
                    .read_section(d.mailbox, d.uid, &section, None)
                    .await
                    .expect("read section");
                if section == Section::full() {
                    assert!(
                        body.len() == d.raw.len() as u64,
                        "BODY[] has the raw length"
                    );
                }
                bytes += body.len();
            }
            bytes
        });
    }
    readers.join_all().await.into_iter().sum()
}

struct Delivered {
    mailbox: MailboxId,
    uid: Uid,
    raw: Vec<u8>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let count = env_number("STORAGE_BENCH_MESSAGES", 2000);
    let users = env_number("STORAGE_BENCH_USERS", 100);
    let work = tempfile::tempdir().expect("tempdir");
    let messages = corpus(work.path(), count);
    let store_dir = work.path().join("store");
    std::fs::create_dir(&store_dir).expect("store dir");
    let store = Store::open_sqlite(&store_dir, StoreConfig::default())
        .await
        .expect("open store");
    let mut inboxes = Vec::with_capacity(users);
    for n in 0..users {
        let user = store
            .create_user(NewUser {
                username: format!("user{n}"),
                password: "pw".into(),
                ..NewUser::default()
            })
            .await
            .expect("create user");
        inboxes.push(store.get_mailbox(user.id, "INBOX").await.expect("INBOX").id);
    }

    // ---- ingest ----
    // Deliveries run CONCURRENCY at a time, as an MTA's parallel LMTP sessions would.
    let mut rng = StdRng::seed_from_u64(7);
    let mut delivered = Vec::new();
    let (mut raw_bytes, mut list_messages) = (0u64, 0);
    let mut in_flight = tokio::task::JoinSet::new();
    let started = Instant::now();
    for message in &messages {
        let recipients = if is_list_mail(message) {
            list_messages += 1;
            LIST_MEMBERS.min(users)
        } else {
            rng.random_range(1..=5usize).min(users)
        };
        for user in sample(&mut rng, users, recipients) {
            let mut raw = format!("Delivered-To: user{user}@example.com\r\n").into_bytes();
            raw.extend_from_slice(message);
            raw_bytes += raw.len() as u64;
            let (store, mailbox) = (store.clone(), inboxes[user]);
            in_flight.spawn(async move {
                let uid = store
                    .append(mailbox, &raw, &Flags::new(), None)
                    .await
                    .expect("append")
                    .uid;
                Delivered { mailbox, uid, raw }
            });
            if in_flight.len() >= CONCURRENCY {
                delivered.extend(in_flight.join_next().await.map(|r| r.expect("delivery")));
            }
        }
    }
    while let Some(done) = in_flight.join_next().await {
        delivered.push(done.expect("delivery"));
    }
    let ingest = started.elapsed().as_secs_f64();

    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.raw_bytes, raw_bytes);
    let (file_size, breakdown) = database_size(&store_dir);

    // ---- section reads ----
    let delivered = Arc::new(delivered);
    // BODY[] of every copy (the whole message rebuilt from skeleton and leaves).
    let started = Instant::now();
    let read_bytes = read_all(&store, &delivered, Section::full()).await;
    let full_read = started.elapsed().as_secs_f64();
    // What a mail client fetches for a message list: the header only.
    let header = Section {
        part: vec![],
        text: SectionText::Header,
    };
    let started = Instant::now();
    let header_bytes = read_all(&store, &delivered, header).await;
    let header_read = started.elapsed().as_secs_f64();
    // Exactness of a sample, outside the timings.
    for d in delivered.iter().step_by(97) {
        let body = store
            .read_section(d.mailbox, d.uid, &Section::full(), None)
            .await
            .expect("BODY[]");
        assert!(body.to_vec() == d.raw, "BODY[] is byte-exact");
    }
    let report = store.verify(false).await.expect("verify");
    assert!(report.problems.is_empty(), "{:?}", report.problems);

    println!(
        "corpus: {} messages ({} list mail to {} members), {} users, {} copies delivered, \
         {CONCURRENCY} deliveries/readers at a time",
        messages.len(),
        list_messages,
        LIST_MEMBERS.min(users),
        users,
        delivered.len()
    );
    println!(
        "raw (Maildir, every copy):  {:>10.1} MB",
        megabytes(raw_bytes)
    );
    println!(
        "stored (stats.stored_bytes): {:>9.1} MB  = {:.1}% of raw  ({} blobs, {} dedup hits)",
        megabytes(stats.stored_bytes),
        100.0 * stats.stored_bytes as f64 / raw_bytes as f64,
        stats.blobs,
        stats.dedup_hits
    );
    println!(
        "SQLite files after checkpoint: {:>7.1} MB  = {:.1}% of raw (with indexes, metadata, search text)",
        megabytes(file_size),
        100.0 * file_size as f64 / raw_bytes as f64
    );
    println!("  of which: {breakdown}");
    println!(
        "ingest: {:.1} MB/s raw ({:.0} messages/s)",
        megabytes(raw_bytes) / ingest,
        delivered.len() as f64 / ingest
    );
    println!(
        "read BODY[]: {:.1} MB/s ({:.0} messages/s)",
        megabytes(read_bytes) / full_read,
        delivered.len() as f64 / full_read
    );
    println!(
        "read BODY[HEADER]: {:.1} MB/s ({:.0} messages/s)",
        megabytes(header_bytes) / header_read,
        delivered.len() as f64 / header_read
    );
}
