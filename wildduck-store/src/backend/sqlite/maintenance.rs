//! Whole-store upkeep (see [`Maintenance`]): stats, verify (and repair), blob collection,
//! online backup, journal trimming.

use super::*;
use crate::message_rules::verify::{self, Sequence};

#[async_trait]
impl Maintenance for SqliteBackend {
    async fn stats(&self) -> Result<StoreStats> {
        self.read(|tx| {
            let count = |sql: &str| -> TxResult<u64> {
                Ok(tx.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
            };
            Ok(StoreStats {
                users: count("SELECT count(*) FROM users")?,
                mailboxes: count("SELECT count(*) FROM mailboxes")?,
                messages: count("SELECT count(*) FROM messages")?,
                raw_bytes: count("SELECT coalesce(sum(size), 0) FROM messages")?,
                stored_bytes: count(
                    "SELECT coalesce((SELECT sum(length(layout)) FROM messages), 0)
                          + coalesce((SELECT sum(stored_len) FROM blobs), 0)",
                )?,
                blobs: count("SELECT count(*) FROM blobs")?,
                dedup_hits: count(
                    "SELECT coalesce((SELECT value FROM meta WHERE key = 'dedup_hits'), 0)",
                )?,
            })
        })
        .await
    }

    async fn verify(&self, repair: bool) -> Result<VerifyReport> {
        self.write(move |tx| {
            let mut problems = Vec::new();
            // Quota: storage_used = Σ sizes of the user's messages.
            let mut stmt = tx.prepare(
                "SELECT u.id, u.username, u.storage_used,
                     coalesce((SELECT sum(size) FROM messages m WHERE m.user = u.id), 0)
                 FROM users u",
            )?;
            let drift = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for (id, name, stored, actual) in drift {
                if let Some(drift) = verify::storage_drift(&name, stored, actual) {
                    problems.extend(drift.problems);
                    if repair {
                        tx.execute(
                            "UPDATE users SET storage_used = ?2 WHERE id = ?1",
                            params![id, drift.repair],
                        )?;
                    }
                }
            }
            // STATUS counts = the mailbox's messages (kept by triggers; checked all the same).
            let mut stmt = tx.prepare(
                "SELECT path, message_count, unseen_count, message_bytes, counted.* FROM mailboxes
                 JOIN (SELECT mb.id AS mailbox, count(m.id) AS n,
                           coalesce(sum(1 - m.seen), 0) AS unseen, coalesce(sum(m.size), 0) AS bytes
                       FROM mailboxes mb LEFT JOIN messages m ON m.mailbox = mb.id
                       GROUP BY mb.id) counted ON counted.mailbox = mailboxes.id",
            )?;
            let counts = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        [r.get::<_, i64>(1)?, r.get(2)?, r.get(3)?],
                        r.get::<_, Vec<u8>>(4)?,
                        [r.get::<_, i64>(5)?, r.get(6)?, r.get(7)?],
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for (path, stored, mailbox, actual) in counts {
                let Some(drift) = verify::counts_drift(&path, stored, actual) else {
                    continue;
                };
                problems.extend(drift.problems);
                if repair {
                    let [messages, unseen, bytes] = drift.repair;
                    tx.execute(
                        "UPDATE mailboxes SET message_count = ?2, unseen_count = ?3,
                             message_bytes = ?4 WHERE id = ?1",
                        params![mailbox, messages, unseen, bytes],
                    )?;
                }
            }
            // Blob refcounts = number of references.
            let mut stmt = tx.prepare(
                "SELECT b.hash, b.refcount,
                     (SELECT count(*) FROM message_blobs m WHERE m.hash = b.hash)
                     + (SELECT count(*) FROM stored_files f WHERE f.hash = b.hash)
                 FROM blobs b",
            )?;
            let refs = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for (hash, stored, actual) in refs {
                if let Some(drift) = verify::refcount_drift(&hex(&hash), stored, actual) {
                    problems.extend(drift.problems);
                    if repair {
                        tx.execute(
                            "UPDATE blobs SET refcount = ?2, unreferenced_since =
                                 CASE WHEN ?2 = 0 THEN coalesce(unreferenced_since, ?3) ELSE NULL END
                             WHERE hash = ?1",
                            params![hash, drift.repair, now()],
                        )?;
                    }
                }
            }
            let missing: i64 = tx.query_row(
                "SELECT count(*) FROM message_blobs m WHERE NOT EXISTS
                     (SELECT 1 FROM blobs b WHERE b.hash = m.hash)",
                [],
                |r| r.get(0),
            )?;
            problems.extend(verify::missing_blobs(missing));
            // UID/MODSEQ order: every UID below uidnext, every MODSEQ at most highest_modseq.
            let mut stmt = tx.prepare(
                "SELECT b.id, b.path, b.uidnext, b.highest_modseq,
                     (SELECT max(uid) FROM messages m WHERE m.mailbox = b.id),
                     (SELECT max(modseq) FROM messages m WHERE m.mailbox = b.id),
                     (SELECT max(modseq) FROM journal j WHERE j.mailbox = b.id)
                 FROM mailboxes b",
            )?;
            let counters = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                        r.get::<_, Option<i64>>(5)?,
                        r.get::<_, Option<i64>>(6)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for (id, path, uidnext, highest_modseq, max_uid, max_modseq, max_journal) in counters {
                let kept = Sequence {
                    uidnext,
                    highest_modseq,
                };
                let max_modseq = max_modseq.max(max_journal);
                let Some(drift) = verify::sequence_drift(&path, kept, max_uid, max_modseq) else {
                    continue;
                };
                problems.extend(drift.problems);
                if repair {
                    tx.execute(
                        "UPDATE mailboxes SET uidnext = ?2, highest_modseq = ?3 WHERE id = ?1",
                        params![id, drift.repair.uidnext, drift.repair.highest_modseq],
                    )?;
                }
            }
            Ok(verify::report(problems, repair))
        })
        .await
    }

    async fn gc(&self, grace_secs: u64) -> Result<u64> {
        self.write(move |tx| {
            let cutoff = now() - grace_secs as i64;
            let removed = tx.execute(
                "DELETE FROM blobs WHERE refcount <= 0 AND unreferenced_since IS NOT NULL
                     AND unreferenced_since <= ?1
                     AND NOT EXISTS (SELECT 1 FROM message_blobs m WHERE m.hash = blobs.hash)
                     AND NOT EXISTS (SELECT 1 FROM stored_files f WHERE f.hash = blobs.hash)",
                [cutoff],
            )?;
            Ok(removed as u64)
        })
        .await
    }

    async fn backup(&self, target: &Path) -> Result<()> {
        let target = target.to_path_buf();
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || -> TxResult<()> {
            std::fs::create_dir_all(&target).map_err(StorageError::from)?;
            let file = target.join("store.sqlite");
            // VACUUM INTO copies one read snapshot (writers go on meanwhile) and writes it
            // compacted; the backup API would restart its copy whenever a writer commits.
            // It refuses a target file that exists and is not empty.
            let conn = idle_reader(&readers, 0).unwrap_or_else(|| lock(&readers[0]));
            let path = file.to_str().ok_or_else(|| {
                StorageError::from(Defect::Unsupported("a backup path that is not UTF-8"))
            })?;
            conn.execute("VACUUM INTO ?1", [path])?;
            drop(conn);
            // The copy is written without fsync; make it durable before saying it is done.
            std::fs::File::open(&file)
                .and_then(|f| f.sync_all())
                .and_then(|()| std::fs::File::open(&target)?.sync_all())
                .map_err(StorageError::from)?;
            Ok(())
        })
        .await?
        .map_err(Error::from)
    }

    async fn trim_journal(&self, max_age_secs: u64) -> Result<u64> {
        self.write(move |tx| {
            let cutoff = now() - max_age_secs as i64;
            tx.execute(
                "UPDATE mailboxes SET journal_floor = max(journal_floor, coalesce(
                     (SELECT max(modseq) FROM journal j WHERE j.mailbox = mailboxes.id
                          AND j.created < ?1), 0))",
                [cutoff],
            )?;
            let removed = tx.execute("DELETE FROM journal WHERE created < ?1", [cutoff])?;
            Ok(removed as u64)
        })
        .await
    }
}
