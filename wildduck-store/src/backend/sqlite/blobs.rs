//! Blobs by hash with reference counts: a message's leaves are inserted or referenced when
//! it is stored and released when it is removed; `gc` deletes those unreferenced long enough.

use super::*;

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
