//! A one-line counter on stderr for commands that walk many messages (`import`, `export`):
//! shown only on a terminal and never with `--json`, so scripts and pipes see nothing of it,
//! and only for runs long enough to want one.

use std::io::{IsTerminal, Write};

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
