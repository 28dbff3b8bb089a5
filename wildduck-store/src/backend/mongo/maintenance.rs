//! Store-wide reads and repairs: statistics and `verify` (quota, refcounts, counters).
//!
//! `verify` reads every message, blob and journal entry, so it is an operator's tool for a
//! quiet moment: on a live cluster an operation in flight shows as transient drift.

use std::collections::HashMap;
use std::path::Path;

use async_trait::async_trait;

use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};

use super::records::{ObjectId, bson_int, int_field, string_list};
use super::sequence::{PENDING_TIMEOUT_SECS, token_started};
use super::{FindAll, MongoBackend, db_error, field_error};
use crate::backend::{Maintenance, now};
use crate::error::{Defect, Result, StorageError};
use crate::message_rules::verify::{self, Sequence};
use crate::model::*;

/// Per-mailbox maxima found in messages and journal (`None` when it has neither).
#[derive(Default)]
struct Seen {
    max_uid: Option<i64>,
    max_modseq: Option<i64>,
}

impl Seen {
    fn uid(&mut self, uid: i64) {
        self.max_uid = self.max_uid.max(Some(uid));
    }

    fn modseq(&mut self, modseq: i64) {
        self.max_modseq = self.max_modseq.max(Some(modseq));
    }
}

fn object_id(doc: &Document, key: &str) -> Result<ObjectId> {
    doc.get_object_id(key).map_err(field_error)
}

impl MongoBackend {
    /// Sums of one numeric field per collection, through the server's `$group`.
    async fn sum_field(
        &self,
        collection: &mongodb::Collection<Document>,
        field: &str,
    ) -> Result<u64> {
        let rows: Vec<Document> = collection
            .aggregate([
                doc! {"$group": {"_id": Bson::Null, "total": {"$sum": format!("${field}")}}},
            ])
            .all()
            .await?;
        Ok(rows
            .first()
            .and_then(|row| row.get("total").and_then(bson_int))
            .unwrap_or(0)
            .max(0) as u64)
    }

    pub(super) async fn collect_stats(&self) -> Result<StoreStats> {
        let messages = self.raw_messages();
        let raw_bytes = self.sum_field(&messages, "size").await?;
        let layouts = self.sum_field(&messages, "layout_len").await?;
        let blob_bytes = self.sum_field(&self.blobs, "stored_len").await?;
        let dedup_hits = self
            .counters
            .find_one(doc! {"_id": "dedup_hits"})
            .await
            .map_err(db_error)?
            .and_then(|d| d.get("value").and_then(bson_int))
            .unwrap_or(0)
            .max(0) as u64;
        Ok(StoreStats {
            users: self
                .users
                .count_documents(doc! {})
                .await
                .map_err(db_error)?,
            mailboxes: self
                .mailboxes
                .count_documents(doc! {})
                .await
                .map_err(db_error)?,
            messages: messages.count_documents(doc! {}).await.map_err(db_error)?,
            raw_bytes,
            stored_bytes: layouts + blob_bytes,
            blobs: self
                .blobs
                .count_documents(doc! {})
                .await
                .map_err(db_error)?,
            dedup_hits,
        })
    }

    pub(super) async fn check_consistency(&self, repair: bool) -> Result<VerifyReport> {
        let mut problems = Vec::new();
        let mut used: HashMap<ObjectId, i64> = HashMap::new();
        let mut references: HashMap<String, i64> = HashMap::new();
        let mut seen: HashMap<ObjectId, Seen> = HashMap::new();
        let mut cursor = self
            .raw_messages()
            .find(doc! {})
            .projection(
                doc! {"user": 1, "mailbox": 1, "uid": 1, "modseq": 1, "size": 1, "blobs": 1},
            )
            .await
            .map_err(db_error)?;
        while let Some(m) = cursor.try_next().await.map_err(db_error)? {
            *used.entry(object_id(&m, "user")?).or_default() += int_field(&m, "size")?;
            for hash in string_list(&m, "blobs") {
                *references.entry(hash).or_default() += 1;
            }
            let s = seen.entry(object_id(&m, "mailbox")?).or_default();
            s.uid(int_field(&m, "uid")?);
            s.modseq(int_field(&m, "modseq")?);
        }
        let mut cursor = self
            .journal
            .find(doc! {})
            .projection(doc! {"mailbox": 1, "modseq": 1})
            .await
            .map_err(db_error)?;
        while let Some(entry) = cursor.try_next().await.map_err(db_error)? {
            seen.entry(object_id(&entry, "mailbox")?)
                .or_default()
                .modseq(int_field(&entry, "modseq")?);
        }

        // Quota: storage_used = Σ sizes of the user's messages.
        let users: Vec<_> = self.users.find(doc! {}).all().await?;
        for user in users {
            let actual = used.get(&user.id).copied().unwrap_or(0);
            if let Some(drift) = verify::storage_drift(&user.username, user.storage_used, actual) {
                problems.extend(drift.problems);
                if repair {
                    self.users
                        .update_one(
                            doc! {"_id": user.id},
                            doc! {"$set": {"storage_used": drift.repair}},
                        )
                        .await
                        .map_err(db_error)?;
                }
            }
        }

        // Stored files hold one reference each.
        let files: Vec<Document> = self
            .stored_files
            .find(doc! {})
            .projection(doc! {"blob": 1})
            .all()
            .await?;
        for file in &files {
            let hash = file.get_str("blob").map_err(field_error)?;
            *references.entry(hash.to_string()).or_default() += 1;
        }
        // Blob refcounts = number of references.
        let blobs: Vec<Document> = self
            .blobs
            .find(doc! {})
            .projection(doc! {"refcount": 1})
            .all()
            .await?;
        for blob in &blobs {
            let hash = blob.get_str("_id").map_err(field_error)?;
            let stored = int_field(blob, "refcount")?;
            let actual = references.remove(hash).unwrap_or(0);
            if let Some(drift) = verify::refcount_drift(hash, stored, actual) {
                problems.extend(drift.problems);
                if repair {
                    let unreferenced = if drift.repair == 0 {
                        Bson::Int64(now())
                    } else {
                        Bson::Null
                    };
                    self.blobs
                        .update_one(
                            doc! {"_id": hash},
                            doc! {"$set": {"refcount": drift.repair, "unreferenced_since": unreferenced}},
                        )
                        .await
                        .map_err(db_error)?;
                }
            }
        }
        problems.extend(verify::missing_blobs(references.values().sum()));

        // UID/MODSEQ order, and allocations whose writer never finished.
        let mailboxes: Vec<_> = self.mailboxes.find(doc! {}).all().await?;
        let stale = now() - PENDING_TIMEOUT_SECS;
        for mailbox in mailboxes {
            let s = seen.remove(&mailbox.id).unwrap_or_default();
            let kept = Sequence {
                uidnext: mailbox.uidnext,
                highest_modseq: mailbox.modseq,
            };
            if let Some(drift) =
                verify::sequence_drift(&mailbox.path, kept, s.max_uid, s.max_modseq)
            {
                problems.extend(drift.problems);
                if repair {
                    // `$max`: an allocation meanwhile may only have raised them further.
                    let Sequence {
                        uidnext,
                        highest_modseq,
                    } = drift.repair;
                    self.mailboxes
                        .update_one(
                            doc! {"_id": mailbox.id},
                            doc! {"$max": {"uidnext": uidnext, "modseq": highest_modseq}},
                        )
                        .await
                        .map_err(db_error)?;
                }
            }
            for (token, _) in &mailbox.pending {
                if token_started(token).is_none_or(|started| started < stale) {
                    problems.push(format!(
                        "mailbox {}: allocation {token} never committed",
                        mailbox.path
                    ));
                    if repair {
                        self.mailboxes
                            .update_one(
                                doc! {"_id": mailbox.id},
                                doc! {"$unset": {format!("pending.{token}"): ""}},
                            )
                            .await
                            .map_err(db_error)?;
                    }
                }
            }
        }
        Ok(verify::report(problems, repair))
    }
}

#[async_trait]
impl Maintenance for MongoBackend {
    async fn stats(&self) -> Result<StoreStats> {
        self.collect_stats().await
    }

    async fn verify(&self, repair: bool) -> Result<VerifyReport> {
        self.check_consistency(repair).await
    }

    async fn gc(&self, grace_secs: u64) -> Result<u64> {
        self.collect_blobs(grace_secs).await
    }

    async fn backup(&self, _target: &Path) -> Result<()> {
        Err(StorageError::from(Defect::Unsupported(
            "backup of a MongoDB store: use mongodump, which copies a replica set consistently",
        ))
        .into())
    }

    async fn trim_journal(&self, max_age_secs: u64) -> Result<u64> {
        let cutoff = now() - max_age_secs.min(i64::MAX as u64) as i64;
        let old: Vec<Document> = self
            .journal
            .find(doc! {"created": {"$lt": cutoff}})
            .projection(doc! {"mailbox": 1, "modseq": 1})
            .all()
            .await?;
        let mut floors: HashMap<ObjectId, i64> = HashMap::new();
        for entry in &old {
            let mailbox = entry.get_object_id("mailbox").map_err(field_error)?;
            let modseq = int_field(entry, "modseq")?;
            let floor = floors.entry(mailbox).or_insert(modseq);
            *floor = (*floor).max(modseq);
        }
        // Raise the floors before deleting, so no reader takes a gap for "nothing changed".
        for (mailbox, floor) in floors {
            self.mailboxes
                .update_one(
                    doc! {"_id": mailbox},
                    doc! {"$max": {"journal_floor": floor}},
                )
                .await
                .map_err(db_error)?;
        }
        let removed = self
            .journal
            .delete_many(doc! {"created": {"$lt": cutoff}})
            .await
            .map_err(db_error)?;
        Ok(removed.deleted_count)
    }
}
