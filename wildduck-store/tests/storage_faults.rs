//! Storage fault injection (issue 25): the model's operations run on an SQLite store whose
//! N-th SQL statement fails, for every N the sequence reaches. The failure is SQLite's own
//! (`testkit::sqlite_faults`): the statement interrupted (the store answers `Timeout`), the
//! database files taken away as it begins (real I/O errors: `Unavailable`), or the process
//! aborted there (the sequence runs in a child, this test binary run again). After it the
//! store is reopened: every operation acknowledged before is there as the model has it, the
//! one in flight is whole or absent, the bytes read back, and `verify` finds nothing.
//!
//! A short sequence by default; `WILDDUCK_FAULT_OPS=n` runs one of n operations.

#[path = "faults/mod.rs"]
mod faults;
mod model_harness;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use model_harness::{Harness, Model, Op, bodies, op};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use wildduck_store::testkit::sqlite_faults::{self, StatementFault};
use wildduck_store::*;

/// The fault plan is the process's: one test at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const SHORT_SEQUENCE: usize = 12;
/// The child's environment: the statement to abort at, and the store's directory.
const CHILD_ABORT_AT: &str = "WILDDUCK_FAULT_ABORT_AT";
const CHILD_DIR: &str = "WILDDUCK_FAULT_DIR";
/// What the child prints when an operation was answered as the model expects.
const ACKNOWLEDGED: &str = "acknowledged";

/// The faults injected in this process (an abort needs a child).
#[derive(Clone, Copy, Debug)]
enum InProcessFault {
    Interrupt,
    LostFiles,
}

fn sequence() -> (Vec<Vec<u8>>, Vec<Op>) {
    let len = std::env::var("WILDDUCK_FAULT_OPS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(SHORT_SEQUENCE);
    // The first seed whose sequence has every kind of operation, so the test is the same
    // on every run and still covers each.
    (0u8..)
        .map(|seed| {
            let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]);
            let mut runner = TestRunner::new_with_rng(Config::default(), rng);
            let ops = proptest::collection::vec(op(), len);
            (bodies(), ops).new_tree(&mut runner).unwrap().current()
        })
        .find(|(_, ops)| covers_every_kind(ops))
        .expect("some seed covers every kind")
}

fn covers_every_kind(ops: &[Op]) -> bool {
    let kind = |op: &Op| std::mem::discriminant(op);
    let all = [
        Op::Create(0),
        Op::Rename(0, 0),
        Op::Delete(0),
        Op::Append(0, 0, 0),
        Op::Copy(0, 0, (1, 1)),
        Op::Move(0, 0, (1, 1)),
        Op::Store(0, (1, 1), 0, 0, None),
        Op::Expunge(0, None),
    ];
    all.iter()
        .all(|wanted| ops.iter().any(|op| kind(op) == kind(wanted)))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn open(dir: &Path) -> Store {
    Store::open_sqlite(dir, StoreConfig::default())
        .await
        .expect("open the store")
}

/// Runs `ops` on a new store in `dir` with `fault` armed at statement `at`, up to the first
/// operation that fails; returns how many were acknowledged. `report` hears of each.
async fn run_until_failure(
    dir: &Path,
    bodies: Vec<Vec<u8>>,
    ops: &[Op],
    at: u64,
    fault: StatementFault,
    expected_kind: Option<StorageErrorKind>,
    report: impl Fn(usize),
) -> usize {
    let mut h = Harness::new(open(dir).await, bodies).await;
    sqlite_faults::arm(at, fault);
    for (done, op) in ops.iter().enumerate() {
        let got = h.call(op).await;
        let expected = h.model.apply(op);
        if got == expected {
            report(done + 1);
            if h.learn_ids().await.is_err() {
                return done + 1;
            }
            continue;
        }
        match got {
            Err(Error::Storage(failure)) => {
                if let Some(kind) = expected_kind {
                    assert_eq!(failure.kind(), kind, "{op:?} at statement {at}: {failure}");
                }
                return done;
            }
            other => panic!("{op:?} at statement {at}: {other:?}, the model says {expected:?}"),
        }
    }
    ops.len()
}

/// Reopens the store in `dir` after a failure: the `acknowledged` operations are all there,
/// the next one (if any) whole or not at all, the bodies read back, `verify` is clean.
async fn check_reopened(
    dir: &Path,
    bodies: Vec<Vec<u8>>,
    ops: &[Op],
    acknowledged: usize,
    at: u64,
) {
    let store = open(dir).await;
    let user = store.find_user("model").await.unwrap();
    let mut before = Model::new(bodies);
    for op in &ops[..acknowledged] {
        let _ = before.apply(op);
    }
    let mut h = Harness {
        store,
        user,
        model: before.clone(),
    };
    h.learn_ids().await.unwrap();
    let view = h.observe().await.unwrap();
    if view != h.model.view() {
        let in_flight = ops.get(acknowledged).unwrap_or_else(|| {
            panic!("statement {at}: every operation acknowledged, and the store differs")
        });
        h.model = before;
        let _ = h.model.apply(in_flight);
        h.learn_ids().await.unwrap();
        assert_eq!(
            view,
            h.model.view(),
            "statement {at}: {in_flight:?} failed and is neither absent nor whole"
        );
    }
    h.compare_bodies().await;
    let report = h.store.verify(false).await.unwrap();
    assert!(
        report.problems.is_empty(),
        "statement {at}: {:?}",
        report.problems
    );
}

/// Statements the sequence makes after the user is set up.
fn statements_of(bodies: &[Vec<u8>], ops: &[Op]) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let noop = StatementFault::Run(Box::new(|| {}));
        let done =
            run_until_failure(dir.path(), bodies.to_vec(), ops, u64::MAX, noop, None, drop).await;
        assert_eq!(done, ops.len(), "the sequence runs whole without a fault");
    });
    sqlite_faults::counted()
}

/// Fails each statement of the sequence in turn, in this process.
fn fail_every_statement(fault: InProcessFault, expected_kind: StorageErrorKind) {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    sqlite_faults::watch_connections();
    let (bodies, ops) = sequence();
    let total = statements_of(&bodies, &ops);
    let mut failed_operations = 0;
    for at in 1..=total {
        let dir = tempfile::tempdir().unwrap();
        let injected = match fault {
            InProcessFault::Interrupt => StatementFault::Interrupt,
            InProcessFault::LostFiles => {
                let store_dir = dir.path().to_path_buf();
                StatementFault::Run(Box::new(move || {
                    faults::sever_sqlite_files(&store_dir);
                }))
            }
        };
        let done = runtime().block_on(async {
            let done = run_until_failure(
                dir.path(),
                bodies.clone(),
                &ops,
                at,
                injected,
                Some(expected_kind),
                drop,
            )
            .await;
            assert!(
                sqlite_faults::fired(),
                "statement {at} of {total} was reached"
            );
            sqlite_faults::counted();
            check_reopened(dir.path(), bodies.clone(), &ops, done, at).await;
            done
        });
        failed_operations += usize::from(done < ops.len());
    }
    // The seam works: most faults reach an operation (some hit a statement whose failure
    // costs nothing, such as the end of a read).
    assert!(
        failed_operations > total as usize / 2,
        "{failed_operations} of {total}"
    );
}

#[test]
fn an_interrupted_statement_at_every_point_times_out_and_loses_nothing() {
    fail_every_statement(InProcessFault::Interrupt, StorageErrorKind::Timeout);
}

#[test]
fn lost_database_files_at_every_point_are_unavailable_and_lose_nothing() {
    fail_every_statement(InProcessFault::LostFiles, StorageErrorKind::Unavailable);
}

#[test]
fn a_process_abort_at_every_point_loses_nothing() {
    if std::env::var_os(CHILD_ABORT_AT).is_some() {
        return; // the child runs `abort_child` only
    }
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    sqlite_faults::watch_connections();
    let (bodies, ops) = sequence();
    let total = statements_of(&bodies, &ops);
    for at in 1..=total {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "abort_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ABORT_AT, at.to_string())
            .env(CHILD_DIR, dir.path())
            .output()
            .expect("run the child");
        let stdout = String::from_utf8_lossy(&child.stdout);
        let acknowledged = stdout
            .lines()
            .filter_map(|line| line.strip_prefix(ACKNOWLEDGED))
            .filter_map(|count| count.trim().parse().ok())
            .max()
            .unwrap_or(0);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            child.status.signal(),
            Some(libc::SIGABRT),
            "statement {at}: the child aborts\n{stdout}\n{}",
            String::from_utf8_lossy(&child.stderr)
        );
        runtime().block_on(check_reopened(
            dir.path(),
            bodies.clone(),
            &ops,
            acknowledged,
            at,
        ));
    }
}

/// The child of `a_process_abort_at_every_point_loses_nothing`: runs the sequence with an
/// abort at the statement it is given, printing each acknowledged operation.
#[test]
fn abort_child() {
    let (Some(at), Some(dir)) = (
        std::env::var_os(CHILD_ABORT_AT),
        std::env::var_os(CHILD_DIR),
    ) else {
        return; // not the child
    };
    let at: u64 = at
        .to_str()
        .and_then(|n| n.parse().ok())
        .expect("a statement number");
    sqlite_faults::watch_connections();
    let (bodies, ops) = sequence();
    let abort = StatementFault::Run(Box::new(|| std::process::abort()));
    runtime().block_on(async {
        let report = |done: usize| {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{ACKNOWLEDGED} {done}")
                .and_then(|()| out.flush())
                .unwrap();
        };
        run_until_failure(Path::new(&dir), bodies, &ops, at, abort, None, report).await;
    });
}

/// An interrupt rolls back SQLite's whole transaction, which a group commit shares among
/// the writes waiting together: the writes of that group before the failing one are undone
/// with it, those after it must not be. Each write must be told the truth: present if told
/// it succeeded, absent if told it failed.
#[test]
fn writes_sharing_a_failed_transaction_are_told_the_truth() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    sqlite_faults::watch_connections();
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let store = open(dir.path()).await;
        let user = store
            .create_user(NewUser {
                username: "group".into(),
                password: "pw".into(),
                ..NewUser::default()
            })
            .await
            .unwrap();
        let inbox = store.get_mailbox(user.id, "INBOX").await.unwrap().id;
        let mut failed = 0;
        for round in 0..40u64 {
            // Somewhere among the statements of the round's writes.
            sqlite_faults::arm(10 + round * 3, StatementFault::Interrupt);
            let writes: Vec<_> = (0..16)
                .map(|i| {
                    let store = store.clone();
                    let raw = format!("Subject: {round}.{i}\r\n\r\nround {round} write {i}\r\n");
                    tokio::spawn(async move {
                        let appended = store
                            .append(inbox, raw.as_bytes(), &Flags::new(), None)
                            .await;
                        (raw, appended)
                    })
                })
                .collect();
            let mut told = Vec::new();
            for write in writes {
                told.push(write.await.unwrap());
            }
            sqlite_faults::counted();
            let stored = stored_bodies(&store, inbox).await;
            for (raw, outcome) in told {
                match outcome {
                    Ok(_) => assert!(stored.contains(&raw), "acknowledged, missing: {raw:?}"),
                    Err(e) => {
                        assert!(e.is_temporary(), "{e}");
                        assert!(!stored.contains(&raw), "told {e}, yet stored: {raw:?}");
                        failed += 1;
                    }
                }
            }
        }
        assert!(failed > 0, "the interrupts reached the writes");
        let report = store.verify(false).await.unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    });
}

async fn stored_bodies(store: &Store, mailbox: MailboxId) -> Vec<String> {
    let mut bodies = Vec::new();
    for uid in store.snapshot(mailbox).await.unwrap().uids {
        let raw = store
            .read_section(mailbox, uid, &Section::full(), None)
            .await
            .unwrap();
        bodies.push(String::from_utf8(raw.to_vec()).unwrap());
    }
    bodies
}
