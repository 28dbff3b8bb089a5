//! Blobs by hash with reference counts: a message's leaves are inserted or referenced when
//! it is stored and released when it is removed; `gc` deletes those unreferenced long enough.

use std::cell::Cell;

use super::*;

thread_local! {
    /// Blob writes (new, found) of the write job running on this thread, the writer: they
    /// are counted once the job's transaction has committed, since a rolled-back job wrote
    /// nothing (see `write_with`).
    static BLOB_WRITES: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// A blob of a new message or file: inserted with one reference, or, when its content is
/// stored already (dedup), given one more. True when it was found.
pub(super) fn store_blob_reference(tx: &Connection, blob: &BlobData) -> TxResult<bool> {
    let found = !insert_blob(tx, blob, 1)?;
    if found {
        reference_blob(tx, &blob.hash, 1)?;
    }
    BLOB_WRITES.with(|tally| {
        let (stored, deduplicated) = tally.get();
        tally.set(if found {
            (stored, deduplicated + 1)
        } else {
            (stored + 1, deduplicated)
        })
    });
    Ok(found)
}

/// The blob writes tallied so far in this job; [`rewind_blob_writes`] returns to it when a
/// savepoint inside the job rolls back.
pub(super) fn blob_writes_mark() -> (u64, u64) {
    BLOB_WRITES.with(Cell::get)
}

pub(super) fn rewind_blob_writes(mark: (u64, u64)) {
    BLOB_WRITES.with(|tally| tally.set(mark));
}

/// The blob writes of the job that just ran, leaving the tally empty for the next one.
pub(super) fn take_blob_writes() -> (u64, u64) {
    BLOB_WRITES.with(|tally| tally.replace((0, 0)))
}

/// Stores a blob not stored yet, with `refcount` references; false when its hash is there.
pub(super) fn insert_blob(tx: &Connection, blob: &BlobData, refcount: i64) -> TxResult<bool> {
    let inserted = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO blobs (hash, refcount, raw_len, stored_len, codec, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            blob.hash,
            refcount,
            blob.raw_len as i64,
            blob.data.len() as i64,
            blob.codec,
            blob.data
        ])?;
    Ok(inserted > 0)
}

/// Adds `by` references to a blob that exists (a copy of a message sharing it).
pub(super) fn reference_blob(tx: &Connection, hash: &[u8], by: i64) -> TxResult<()> {
    tx.prepare_cached(
        "UPDATE blobs SET refcount = refcount + ?2,
             unreferenced_since = CASE WHEN refcount + ?2 > 0 THEN NULL ELSE unreferenced_since END
         WHERE hash = ?1",
    )?
    .execute(params![hash, by])?;
    Ok(())
}

/// Drops the blob references of messages that go away; blobs reaching 0 start their grace
/// period.
pub(super) fn release_message_blobs(tx: &Connection, message: &[u8]) -> TxResult<()> {
    let mut refs = tx.prepare_cached("SELECT hash FROM message_blobs WHERE message = ?1")?;
    let hashes = refs
        .query_map([message], |r| r.get::<_, Vec<u8>>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut release = tx.prepare_cached(
        "UPDATE blobs SET refcount = refcount - 1,
             unreferenced_since = CASE WHEN refcount - 1 <= 0 THEN ?2 ELSE NULL END
         WHERE hash = ?1",
    )?;
    for hash in hashes {
        release.execute(params![hash, now()])?;
    }
    tx.prepare_cached("DELETE FROM message_blobs WHERE message = ?1")?
        .execute([message])?;
    Ok(())
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
