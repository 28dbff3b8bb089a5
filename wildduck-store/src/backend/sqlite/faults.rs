//! Storage fault injection for tests (`testkit` only; absent from every other build).
//!
//! Counts the SQL statements the SQLite connections of this process run, and makes the N-th
//! one fail. The failure is SQLite's own: the statement is interrupted (SQLite's progress
//! handler says stop, SQLite aborts it and undoes what its transaction requires), or a
//! caller-given action runs as the statement begins (a test severs the database files there,
//! so SQLite meets real I/O errors, or aborts the process). Everything after that point is
//! the engine's real error path.
//!
//! Off until [`watch_connections`] is called: connections opened afterwards are counted, so
//! a test turns it on before it opens the store. The state is per process; a test binary
//! that injects faults must not run two stores at once.

use std::cell::Cell;
use std::ffi::{c_int, c_uint, c_void};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::{Connection, ffi};

/// What happens at the statement the plan names.
pub enum StatementFault {
    /// SQLite interrupts the statement: it fails with `SQLITE_INTERRUPT`.
    Interrupt,
    /// The action runs as the statement begins (on the thread running it).
    Run(Box<dyn FnOnce() + Send>),
}

struct Plan {
    /// Statements run since the last [`arm`] or [`counted`].
    counted: u64,
    /// The statement (1-based, counted from [`arm`]) that fails, and how.
    fault: Option<(u64, StatementFault)>,
}

static WATCHING: AtomicBool = AtomicBool::new(false);
static PLAN: Mutex<Plan> = Mutex::new(Plan {
    counted: 0,
    fault: None,
});

thread_local! {
    /// The statement this thread is running is to be interrupted.
    static INTERRUPT_PENDING: Cell<bool> = const { Cell::new(false) };
}

fn plan() -> std::sync::MutexGuard<'static, Plan> {
    PLAN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Counts the statements of connections opened from now on.
pub fn watch_connections() {
    WATCHING.store(true, Ordering::SeqCst);
}

/// Starts counting from zero; the `at`-th statement from now fails with `fault`.
pub fn arm(at: u64, fault: StatementFault) {
    let mut plan = plan();
    plan.counted = 0;
    plan.fault = Some((at, fault));
}

/// Statements counted since the last [`arm`] or call of this, and starts again from zero;
/// drops a fault that has not fired.
pub fn counted() -> u64 {
    let mut plan = plan();
    plan.fault = None;
    std::mem::take(&mut plan.counted)
}

/// Whether the armed fault has fired (or none was armed).
pub fn fired() -> bool {
    plan().fault.is_none()
}

/// Hooks a new connection into the count, when [`watch_connections`] was called.
pub(super) fn watch(conn: &Connection) {
    if !WATCHING.load(Ordering::SeqCst) {
        return;
    }
    // SAFETY: the handle is the open connection's; both callbacks are plain functions that
    // touch no SQLite state, and the null context is never read.
    unsafe {
        let db = conn.handle();
        ffi::sqlite3_trace_v2(
            db,
            ffi::SQLITE_TRACE_STMT,
            Some(on_statement),
            std::ptr::null_mut(),
        );
        // Every VM step, so even a one-step statement reaches the handler before it returns.
        ffi::sqlite3_progress_handler(db, 1, Some(on_progress), std::ptr::null_mut());
    }
}

/// SQLite's statement-start trace: counts the statement and fires the fault on its turn.
unsafe extern "C" fn on_statement(
    _: c_uint,
    _: *mut c_void,
    _: *mut c_void,
    _: *mut c_void,
) -> c_int {
    let due = {
        let mut plan = plan();
        plan.counted += 1;
        match plan.fault {
            Some((at, _)) if at == plan.counted => plan.fault.take().map(|(_, fault)| fault),
            _ => None,
        }
    };
    match due {
        Some(StatementFault::Interrupt) => INTERRUPT_PENDING.with(|pending| pending.set(true)),
        Some(StatementFault::Run(action)) => action(),
        None => {}
    }
    0
}

/// SQLite's progress handler: non-zero interrupts the running statement.
unsafe extern "C" fn on_progress(_: *mut c_void) -> c_int {
    INTERRUPT_PENDING.with(|pending| pending.replace(false)) as c_int
}
