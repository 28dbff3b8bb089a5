//! Store failures as POP3 answers with RFC 3206 response codes.

use wildduck_store::Error;

/// The `-ERR` text for a store failure while doing `what`: `[SYS/TEMP]` when the same
/// command may work later (storage unavailable or timed out), else `[SYS/PERM]`.
pub(crate) fn store_failure(error: &Error, what: &str) -> String {
    if error.is_temporary() {
        format!("[SYS/TEMP] {what}, try again later")
    } else {
        format!("[SYS/PERM] {what}")
    }
}
