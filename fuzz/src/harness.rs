//! The runner every target shares: seeded generation from a proptest strategy, each input
//! checked under `catch_unwind`, panics of server tasks noticed through a panic hook, the
//! failing input shrunk and kept, and the time per input measured.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proptest::strategy::{BoxedStrategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// One parser (or listener) under attack.
pub trait Target: Send + Sync {
    /// Short name used on the command line and as the corpus folder.
    fn name(&self) -> &'static str;
    /// Inputs: mostly grammar-shaped, some mutated, some plain bytes.
    fn inputs(&self) -> BoxedStrategy<Vec<u8>>;
    /// Feeds one input and judges the answer: `Err` says what was wrong with it.
    fn check(&self, input: &[u8]) -> Result<(), String>;
}

/// Panics seen anywhere in the process (server tasks included) since the hook was set.
static PANICS: AtomicU64 = AtomicU64::new(0);
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

/// Counts every panic of the process: a server task that panics is caught by tokio and
/// would otherwise go unnoticed by the client side of a target.
pub fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut last) = LAST_PANIC.lock() {
                *last = info.to_string();
            }
        }));
    });
}

/// Longest one input may take before the run is called hung; far above any normal input
/// (session targets included), so only a loop or a deadlock reaches it.
pub const HANG: Duration = Duration::from_secs(60);

/// The input being judged and since when; the watchdog reads it.
static CURRENT: Mutex<Option<(&'static str, Vec<u8>, Instant)>> = Mutex::new(None);

/// A thread that ends the process when one input has run for [`HANG`]: a hung parser can not
/// be unwound, so the input is written to `corpus/<target>/hang` for the replay and the
/// process exits 3 after saying so.
fn start_watchdog() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::thread::spawn(|| {
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let current = CURRENT.lock().map(|c| c.clone()).unwrap_or(None);
                if let Some((target, input, since)) = current
                    && since.elapsed() > HANG
                {
                    let dir = crate::corpus_dir().join(target);
                    let path = dir.join("hang");
                    let _ = std::fs::create_dir_all(&dir);
                    let _ = std::fs::write(&path, &input);
                    eprintln!(
                        "{target}: one input ran for over {HANG:?}; kept in {}",
                        path.display()
                    );
                    std::process::exit(3);
                }
            }
        });
    });
}

/// What a run found.
#[derive(Debug)]
pub struct Report {
    pub target: &'static str,
    pub executions: u64,
    /// The first failure, shrunk: the input and why it failed.
    pub failure: Option<(Vec<u8>, String)>,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub elapsed: Duration,
}

/// Runs `target` on `cases` generated inputs (fewer if `budget` runs out first), seeded so a
/// run is reproducible. Stops at the first failure, which it shrinks.
pub fn run(target: &dyn Target, cases: u64, seed: u64, budget: Duration) -> Report {
    install_panic_hook();
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    seed_bytes[8..16].copy_from_slice(&fnv(target.name()).to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config {
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let strategy = target.inputs();
    let started = Instant::now();
    let mut times = Vec::with_capacity(cases.min(1 << 22) as usize);
    let mut failure = None;
    while (times.len() as u64) < cases && started.elapsed() < budget {
        let mut tree = match proptest::strategy::Strategy::new_tree(&strategy, &mut runner) {
            Ok(tree) => tree,
            Err(why) => panic!("{}: strategy gave no input: {why}", target.name()),
        };
        let input = tree.current();
        let begun = Instant::now();
        let verdict = judge(target, &input);
        times.push(begun.elapsed());
        if let Err(why) = verdict {
            failure = Some(shrink(target, &mut tree, input, why));
            break;
        }
    }
    times.sort();
    let at = |q: f64| {
        times
            .get(((times.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    Report {
        target: target.name(),
        executions: times.len() as u64,
        failure,
        p50: at(0.50),
        p99: at(0.99),
        max: times.last().copied().unwrap_or_default(),
        elapsed: started.elapsed(),
    }
}

/// Checks one input: its answer, and that nothing in the process panicked meanwhile.
pub fn judge(target: &dyn Target, input: &[u8]) -> Result<(), String> {
    install_panic_hook();
    start_watchdog();
    if let Ok(mut current) = CURRENT.lock() {
        *current = Some((target.name(), input.to_vec(), Instant::now()));
    }
    let before = PANICS.load(Ordering::SeqCst);
    let verdict = match catch_unwind(AssertUnwindSafe(|| target.check(input))) {
        Ok(verdict) => verdict,
        Err(_) => Err("the check panicked".to_string()),
    };
    if let Ok(mut current) = CURRENT.lock() {
        *current = None;
    }
    if PANICS.load(Ordering::SeqCst) != before {
        let last = LAST_PANIC.lock().map(|l| l.clone()).unwrap_or_default();
        return Err(format!("panic: {last}"));
    }
    verdict
}

/// Proptest's shrinking protocol: simplify while the input still fails, else complicate back.
/// Bounded, since a session target takes milliseconds per try.
fn shrink(
    target: &dyn Target,
    tree: &mut impl ValueTree<Value = Vec<u8>>,
    mut input: Vec<u8>,
    mut why: String,
) -> (Vec<u8>, String) {
    if !tree.simplify() {
        return (input, why);
    }
    for _ in 0..500 {
        let candidate = tree.current();
        let more = match judge(target, &candidate) {
            Err(reason) => {
                input = candidate;
                why = reason;
                tree.simplify()
            }
            Ok(()) => tree.complicate(),
        };
        if !more {
            break;
        }
    }
    (input, why)
}

/// A stable hash of the target's name, so each target draws its own inputs from one seed.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
