//! Content-addressed blobs as our own chunk documents (no GridFS), with reference counts.
//!
//! `blobs` holds one small document per blob (`_id` = hex hash, `refcount`, lengths, codec,
//! chunk count, `unreferenced_since`, and `gc` while the collector deletes it);
//! `blob_chunks` holds the bytes in pieces of [`CHUNK_BYTES`] (`_id` = `<hash>:<n>`).
//!
//! Order makes it safe without transactions:
//! - a reference is raised (`$inc`, only on a blob the collector has not claimed) **before**
//!   the message that uses it is written; a new blob's chunks are written (idempotently,
//!   by id) before its document, so a blob document always has all its chunks;
//! - a reference is dropped only **after** the message document is gone;
//! - the collector first claims a blob (`gc` set, only while `refcount ≤ 0` and the grace
//!   period has passed), then deletes the chunks, then the document. A writer that finds a
//!   claimed blob waits for it to be gone and stores it anew.
//!
//! A crash between the steps leaks (refcount too high, or chunks without a document) but
//! never loses a byte in use; `verify` repairs the counts and `gc` collects the rest.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ReturnDocument;

use super::records::{binary, hex, int_field};
use super::{FindAll, MongoBackend, db_error, field_error, is_duplicate_key};
use crate::backend::{BlobData, now};
use crate::error::{Defect, Result};
use crate::telemetry::{self, Access, Engine};

/// Bytes per chunk document (well below MongoDB's 16 MiB document limit).
pub const CHUNK_BYTES: usize = 255 * 1024;
/// How long a writer waits for the collector to finish with a blob it wants.
const CLAIMED_WAIT: Duration = Duration::from_millis(50);
const CLAIMED_RETRIES: u32 = 200;
/// A collector claim older than this belongs to a collector that died; the next one redoes it.
const STALE_CLAIM_SECS: i64 = 600;

fn chunk_id(hash: &str, n: usize) -> String {
    format!("{hash}:{n}")
}

impl MongoBackend {
    /// Adds one reference to each blob of a new message (stored once, however often listed).
    /// On failure the references already taken are given back.
    pub(super) async fn reference_new_blobs(&self, blobs: &[BlobData]) -> Result<Vec<String>> {
        let mut taken: Vec<String> = Vec::with_capacity(blobs.len());
        for blob in blobs {
            match self.reference_new_blob(blob).await {
                Ok(hash) => taken.push(hash),
                Err(e) => {
                    self.release_blobs(&taken).await;
                    return Err(e);
                }
            }
        }
        Ok(taken)
    }

    async fn reference_new_blob(&self, blob: &BlobData) -> Result<String> {
        let hash = hex(&blob.hash);
        for _ in 0..CLAIMED_RETRIES {
            if self.add_reference(&hash).await? {
                telemetry::blob_writes(0, 1);
                self.bump_counter("dedup_hits", 1).await?;
                return Ok(hash);
            }
            if self.blob_exists(&hash).await? {
                // Claimed by the collector: wait until it is gone, then store it anew.
                telemetry::transaction_retry(Engine::Mongodb, Access::Write);
                tokio::time::sleep(CLAIMED_WAIT).await;
                continue;
            }
            self.write_chunks(&hash, &blob.data).await?;
            let created = self
                .blobs
                .update_one(
                    doc! {"_id": &hash, "gc": Bson::Null},
                    doc! {
                        "$inc": {"refcount": 1i64},
                        "$set": {"unreferenced_since": Bson::Null},
                        "$setOnInsert": {
                            "raw_len": blob.raw_len as i64,
                            "stored_len": blob.data.len() as i64,
                            "codec": blob.codec as i32,
                            "chunks": blob.data.len().div_ceil(CHUNK_BYTES) as i64,
                        },
                    },
                )
                .upsert(true)
                .await;
            match created {
                Ok(result) if result.upserted_id.is_none() => {
                    // Someone stored it between our check and our write: a dedup hit.
                    telemetry::blob_writes(0, 1);
                    self.bump_counter("dedup_hits", 1).await?;
                    return Ok(hash);
                }
                Ok(_) => {
                    telemetry::blob_writes(1, 0);
                    return Ok(hash);
                }
                Err(e) if is_duplicate_key(&e) => {
                    telemetry::transaction_retry(Engine::Mongodb, Access::Write);
                    continue;
                }
                Err(e) => return Err(db_error(e)),
            }
        }
        Err(Defect::Contended(format!("blob {hash} stays claimed by the collector")).into())
    }

    /// Raises the refcount of an existing, unclaimed blob. False when there is none.
    pub(super) async fn add_reference(&self, hash: &str) -> Result<bool> {
        let result = self
            .blobs
            .update_one(
                doc! {"_id": hash, "gc": Bson::Null},
                doc! {"$inc": {"refcount": 1i64}, "$set": {"unreferenced_since": Bson::Null}},
            )
            .await
            .map_err(db_error)?;
        Ok(result.matched_count == 1)
    }

    async fn blob_exists(&self, hash: &str) -> Result<bool> {
        Ok(self
            .blobs
            .find_one(doc! {"_id": hash})
            .await
            .map_err(db_error)?
            .is_some())
    }

    /// Writes every chunk by id; a chunk that exists already has the same bytes (the id
    /// is the content hash), so concurrent writers of one blob never disturb each other.
    pub(super) async fn write_chunks(&self, hash: &str, data: &[u8]) -> Result<()> {
        let pieces: Vec<&[u8]> = if data.is_empty() {
            Vec::new()
        } else {
            data.chunks(CHUNK_BYTES).collect()
        };
        for (n, piece) in pieces.into_iter().enumerate() {
            let id = chunk_id(hash, n);
            // Insert, not upsert: a chunk with this id already holds these very bytes.
            let written = self
                .chunks
                .insert_one(
                    doc! {"_id": &id, "h": hash, "n": n as i64, "data": binary(piece.to_vec())},
                )
                .await;
            match written {
                Ok(_) => {}
                Err(e) if is_duplicate_key(&e) => {}
                Err(e) => return Err(db_error(e)),
            }
        }
        Ok(())
    }

    /// Drops one reference per listed hash. Best effort: a failure leaves the count too high
    /// (a leak `verify` repairs), never too low.
    pub(super) async fn release_blobs(&self, hashes: &[String]) {
        for hash in hashes {
            if let Err(e) = self.release_blob(hash).await {
                tracing::warn!(blob = hash, error = %e, "could not release a blob reference");
            }
        }
    }

    async fn release_blob(&self, hash: &str) -> Result<()> {
        let after = self
            .blobs
            .find_one_and_update(doc! {"_id": hash}, doc! {"$inc": {"refcount": -1i64}})
            .return_document(ReturnDocument::After)
            .await
            .map_err(db_error)?;
        if let Some(after) = after
            && int_field(&after, "refcount")? <= 0
        {
            self.blobs
                .update_one(
                    doc! {"_id": hash, "refcount": {"$lte": 0i64}, "unreferenced_since": Bson::Null},
                    doc! {"$set": {"unreferenced_since": now()}},
                )
                .await
                .map_err(db_error)?;
        }
        Ok(())
    }

    /// The stored bytes of each listed blob, as `(codec, data)` in list order.
    pub(super) async fn read_blobs(&self, hashes: &[String]) -> Result<Vec<(u8, Vec<u8>)>> {
        let mut metas: HashMap<String, Document> = HashMap::new();
        let mut cursor = self
            .blobs
            .find(doc! {"_id": {"$in": hashes}})
            .await
            .map_err(db_error)?;
        while let Some(meta) = cursor.try_next().await.map_err(db_error)? {
            let id = meta.get_str("_id").map_err(field_error)?;
            metas.insert(id.to_string(), meta);
        }
        let mut ids = Vec::new();
        for hash in hashes {
            let meta = metas
                .get(hash)
                .ok_or_else(|| Defect::MissingBlob(hash.clone()))?;
            for n in 0..int_field(meta, "chunks")? as usize {
                ids.push(chunk_id(hash, n));
            }
        }
        let mut pieces: HashMap<String, Vec<u8>> = HashMap::new();
        let mut cursor = self
            .chunks
            .find(doc! {"_id": {"$in": &ids}})
            .await
            .map_err(db_error)?;
        while let Some(mut chunk) = cursor.try_next().await.map_err(db_error)? {
            let id = chunk.get_str("_id").map_err(field_error)?.to_string();
            let data = std::mem::take(chunk.get_binary_generic_mut("data").map_err(field_error)?);
            pieces.insert(id, data);
        }
        let mut out = Vec::with_capacity(hashes.len());
        for hash in hashes {
            let meta = &metas[hash];
            let mut data = Vec::with_capacity(int_field(meta, "stored_len")?.max(0) as usize);
            for n in 0..int_field(meta, "chunks")? as usize {
                let piece = pieces
                    .get(&chunk_id(hash, n))
                    .ok_or_else(|| Defect::Malformed {
                        what: "blob",
                        detail: format!("{hash} lacks chunk {n}"),
                    })?;
                data.extend_from_slice(piece);
            }
            if data.len() as i64 != int_field(meta, "stored_len")? {
                return Err(Defect::Malformed {
                    what: "blob",
                    detail: format!("{hash} has the wrong length"),
                }
                .into());
            }
            out.push((int_field(meta, "codec")? as u8, data));
        }
        Ok(out)
    }

    /// Deletes blobs unreferenced for `grace_secs`: claim, delete chunks, delete document.
    pub(super) async fn collect_blobs(&self, grace_secs: u64) -> Result<u64> {
        let cutoff = now() - grace_secs.min(i64::MAX as u64) as i64;
        let stale_claim = now() - STALE_CLAIM_SECS;
        let candidates: Vec<Document> = self
            .blobs
            .find(doc! {
                "refcount": {"$lte": 0i64},
                "unreferenced_since": {"$lte": cutoff},
            })
            .all()
            .await?;
        let mut removed = 0;
        for candidate in candidates {
            let hash = candidate.get_str("_id").map_err(field_error)?.to_string();
            let claim = now();
            let claimed = self
                .blobs
                .update_one(
                    doc! {
                        "_id": &hash,
                        "refcount": {"$lte": 0i64},
                        "unreferenced_since": {"$lte": cutoff},
                        "$or": [{"gc": Bson::Null}, {"gc": {"$lt": stale_claim}}],
                    },
                    doc! {"$set": {"gc": claim}},
                )
                .await
                .map_err(db_error)?;
            if claimed.matched_count == 0 {
                continue;
            }
            // A refcount that says 0 while a message or file still uses the blob is drift for
            // `verify`; never delete bytes in use.
            let in_use = self
                .messages
                .find_one(doc! {"blobs": &hash})
                .await
                .map_err(db_error)?
                .is_some()
                || self
                    .stored_files
                    .find_one(doc! {"blob": &hash})
                    .await
                    .map_err(db_error)?
                    .is_some();
            if in_use {
                self.blobs
                    .update_one(doc! {"_id": &hash}, doc! {"$set": {"gc": Bson::Null}})
                    .await
                    .map_err(db_error)?;
                continue;
            }
            self.chunks
                .delete_many(doc! {"h": &hash})
                .await
                .map_err(db_error)?;
            let deleted = self
                .blobs
                .delete_one(doc! {"_id": &hash, "gc": claim})
                .await
                .map_err(db_error)?;
            removed += deleted.deleted_count;
        }
        Ok(removed)
    }
}
