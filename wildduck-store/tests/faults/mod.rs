//! Takes a running SQLite store's files away from it, so the engine fails as on a lost disk.
//! Shared by the store's and the shells' tests (`#[path]`-included).
//!
//! Permissions can not do this: the tests may run as root, and a file deleted, moved or made
//! read-only stays fully usable through the descriptors the store already holds. So the
//! descriptors themselves are redirected: every descriptor of this process that is open on
//! the store's database file or its WAL is made to refer to the store directory, opened
//! read-only. From then on SQLite's reads of those files fail with EISDIR and its writes with
//! EBADF, real I/O errors from the kernel, as when the disk under a database goes away.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Redirects the store's database and WAL descriptors (see the module docs); returns how
/// many there were.
pub fn sever_sqlite_files(store_dir: &Path) -> usize {
    let dir = std::fs::canonicalize(store_dir).expect("store dir");
    let files = [dir.join("store.sqlite"), dir.join("store.sqlite-wal")];
    let replacement = File::open(&dir).expect("open the store dir");
    let mut severed = 0;
    for entry in std::fs::read_dir("/proc/self/fd").expect("list /proc/self/fd") {
        let entry = entry.expect("descriptor entry");
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue; // the listing's own descriptor, closed by now
        };
        if !files.contains(&target) {
            continue;
        }
        let fd: i32 = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse().ok())
            .expect("descriptor number");
        // SAFETY: `fd` stays open while the store that holds it lives (the caller keeps it),
        // and dup2 only makes it refer to another open file; no memory is involved.
        let result = unsafe { libc::dup2(replacement.as_raw_fd(), fd) };
        assert_eq!(result, fd, "dup2: {}", std::io::Error::last_os_error());
        severed += 1;
    }
    severed
}
