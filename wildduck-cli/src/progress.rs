//! What long commands show on stderr meanwhile: a counter for those that walk many messages
//! (`import`, `export`), the time taken so far for whole-store steps with nothing to count
//! (`verify`, `gc`, `backup`). Shown only on a terminal and never with `--json`, so scripts
//! and pipes see nothing of it.

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Fewer messages than this finish before a counter would be read.
const SHOWN_FROM: usize = 100;

/// How often the line is redrawn, in messages.
const EVERY: usize = 50;

pub struct Progress {
    /// What is being done, e.g. `importing` or `exporting INBOX`.
    doing: String,
    total: usize,
    shown: bool,
}

impl Progress {
    /// A counter of `total` steps; `json` is the command's `--json`.
    pub fn new(doing: impl Into<String>, total: usize, json: bool) -> Self {
        Self {
            doing: doing.into(),
            total,
            shown: !json && total >= SHOWN_FROM && std::io::stderr().is_terminal(),
        }
    }

    /// `done` of the total are done.
    pub fn tick(&self, done: usize) {
        if self.shown && (done.is_multiple_of(EVERY) || done == self.total) {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{} {done}/{}", self.doing, self.total);
            let _ = err.flush();
        }
    }

    /// Ends the line, so what follows starts on its own.
    pub fn finish(&self) {
        if self.shown {
            eprintln!();
        }
    }
}

/// Runs `work`, showing on a terminal `doing` and the seconds it has taken, once it has
/// taken a second: a store-wide statement has no steps to count, but a silent prompt for
/// minutes looks hung.
pub async fn while_running<T>(doing: &str, json: bool, work: impl Future<Output = T>) -> T {
    if json || !std::io::stderr().is_terminal() {
        return work.await;
    }
    let started = Instant::now();
    let mut shown = false;
    let mut every = tokio::time::interval_at(
        tokio::time::Instant::now() + Duration::from_secs(1),
        Duration::from_secs(1),
    );
    tokio::pin!(work);
    let result = loop {
        tokio::select! {
            result = &mut work => break result,
            _ = every.tick() => {
                shown = true;
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r{doing}… {} s", started.elapsed().as_secs());
                let _ = err.flush();
            }
        }
    };
    if shown {
        eprintln!();
    }
    result
}
