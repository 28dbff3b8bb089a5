//! Record-level export and import on SQLite (see [`RecordCopy`]). Each import call is one
//! transaction, so an interrupted copy leaves whole batches or nothing.

use std::collections::HashMap;

use super::*;

fn hash_from_row(row: &Row, idx: usize) -> rusqlite::Result<BlobHash> {
    let bytes: Vec<u8> = row.get(idx)?;
    bytes.as_slice().try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Blob,
            "blob hash is not 32 bytes".into(),
        )
    })
}

const EXPORT_COLUMNS: &str = "id, uid, modseq, flags, idate, hdate, size, msgid, subject, \
     envelope, bodystructure, search_headers, search_body, layout, coalesce(email_id, id), saved";

fn message_from_row(tx: &Connection, row: &Row) -> TxResult<MessageExport> {
    let id: Vec<u8> = row.get(0)?;
    let mut refs =
        tx.prepare_cached("SELECT hash FROM message_blobs WHERE message = ?1 ORDER BY seq")?;
    let blobs = refs
        .query_map([&id], |r| hash_from_row(r, 0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(MessageExport {
        id: MessageId(record_id(row, 0)?),
        email_id: MessageId(record_id(row, 14)?),
        saved: row.get(15)?,
        uid: row.get(1)?,
        modseq: row.get::<_, i64>(2)? as u64,
        flags: flags_from_text(&row.get::<_, String>(3)?),
        internal_date: row.get(4)?,
        header_date: row.get(5)?,
        size: row.get::<_, i64>(6)? as u64,
        message_id: row.get(7)?,
        subject: row.get(8)?,
        envelope: from_json(&row.get::<_, String>(9)?)?,
        body_structure: from_json(&row.get::<_, String>(10)?)?,
        search_headers: row.get(11)?,
        search_body: row.get(12)?,
        layout: row.get(13)?,
        blobs,
    })
}

/// Inserts one imported message with its blob references; false when its UID is taken.
fn insert_message(
    tx: &Connection,
    mailbox: &Mailbox,
    message: &MessageExport,
    arrived: &HashMap<BlobHash, &BlobData>,
) -> TxResult<bool> {
    let flags = &message.flags;
    let inserted = tx
        .prepare_cached(
            "INSERT INTO messages (id, mailbox, user, uid, modseq, flags, seen, deleted,
                 idate, hdate, size, msgid, subject, envelope, bodystructure, layout,
                 search_headers, search_body, email_id, saved)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                 ?16, ?17, ?18, ?19, ?20)
             ON CONFLICT(mailbox, uid) DO NOTHING",
        )?
        .execute(params![
            id_bytes(message.id.0),
            id_bytes(mailbox.id.0),
            id_bytes(mailbox.user.0),
            message.uid,
            message.modseq as i64,
            flags_to_text(flags),
            flags.contains(&Flag::Seen),
            flags.contains(&Flag::Deleted),
            message.internal_date,
            message.header_date,
            message.size as i64,
            message.message_id,
            message.subject,
            to_json(&message.envelope)?,
            to_json(&message.body_structure)?,
            message.layout,
            message.search_headers,
            message.search_body,
            (message.email_id != message.id).then(|| id_bytes(message.email_id.0)),
            message.saved
        ])?;
    if inserted == 0 {
        return Ok(false);
    }
    for (seq, hash) in message.blobs.iter().enumerate() {
        if let Some(blob) = arrived.get(hash) {
            insert_blob(tx, blob, 0)?;
        }
        let referenced = tx
            .prepare_cached(
                "UPDATE blobs SET refcount = refcount + 1, unreferenced_since = NULL
                 WHERE hash = ?1",
            )?
            .execute([hash])?;
        if referenced == 0 {
            return Err(Error::from(Defect::MissingBlob(hex(hash))).into());
        }
        tx.prepare_cached("INSERT INTO message_blobs (message, seq, hash) VALUES (?1, ?2, ?3)")?
            .execute(params![id_bytes(message.id.0), seq as i64, hash])?;
    }
    add_storage(tx, mailbox.user, message.size as i64)?;
    Ok(true)
}

#[async_trait]
impl RecordCopy for SqliteBackend {
    async fn export_users(&self) -> Result<Vec<UserExport>> {
        self.read(|tx| {
            let mut users = tx.prepare(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"))?;
            let records = users
                .query_map([], user_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut addresses = tx.prepare(
                "SELECT id, user, address, addrview FROM addresses WHERE user = ?1 ORDER BY id",
            )?;
            let mut mailboxes = tx.prepare(&format!(
                "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE user = ?1 ORDER BY path"
            ))?;
            let mut out = Vec::with_capacity(records.len());
            for record in records {
                let key = id_bytes(record.user.id.0);
                out.push(UserExport {
                    addresses: addresses
                        .query_map([key], address_from_row)?
                        .collect::<rusqlite::Result<_>>()?,
                    mailboxes: mailboxes
                        .query_map([key], mailbox_from_row)?
                        .collect::<rusqlite::Result<_>>()?,
                    record,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn import_user(&self, export: UserExport) -> Result<()> {
        self.write(move |tx| {
            let user = &export.record.user;
            tx.execute(
                "INSERT INTO users (id, username, unameview, password, quota, storage_used,
                     disabled, created, suspended, disabled_scopes)
                 VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?8, ?9)
                 ON CONFLICT(id) DO NOTHING",
                params![
                    id_bytes(user.id.0),
                    user.username,
                    export.record.unameview,
                    export.record.password_hash,
                    user.quota.map(|q| q.min(i64::MAX as u64) as i64),
                    user.disabled,
                    user.created,
                    user.suspended,
                    scopes_to_text(&user.disabled_scopes)
                ],
            )
            .map_err(|e| taken(e, UserError::AlreadyExists))?;
            for address in &export.addresses {
                tx.execute(
                    "INSERT INTO addresses (id, user, address, addrview) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(id) DO NOTHING",
                    params![
                        id_bytes(address.id.0),
                        id_bytes(address.user.0),
                        address.address,
                        address.addrview
                    ],
                )
                .map_err(|e| taken(e, AddressError::AlreadyExists))?;
            }
            for mailbox in &export.mailboxes {
                tx.execute(
                    "INSERT INTO mailboxes (id, user, path, special_use, uidvalidity, uidnext,
                         highest_modseq, journal_floor, subscribed, hidden, retention)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9, ?10)
                     ON CONFLICT(id) DO NOTHING",
                    params![
                        id_bytes(mailbox.id.0),
                        id_bytes(mailbox.user.0),
                        mailbox.path,
                        special_use_to_text(mailbox.special_use),
                        mailbox.uidvalidity,
                        mailbox.uidnext,
                        mailbox.highest_modseq as i64,
                        mailbox.subscribed,
                        mailbox.hidden,
                        mailbox.retention.map(|ms| ms as i64)
                    ],
                )
                .map_err(|e| taken(e, MailboxError::AlreadyExists))?;
                // Mailboxes created here later must get a UIDVALIDITY above every copied one.
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('uidvalidity', ?1)
                     ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
                    [mailbox.uidvalidity],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn export_messages(
        &self,
        mailbox: MailboxId,
        after: Uid,
        limit: usize,
    ) -> Result<Vec<MessageExport>> {
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {EXPORT_COLUMNS} FROM messages WHERE mailbox = ?1 AND uid > ?2
                 ORDER BY uid LIMIT ?3"
            ))?;
            let mut rows = stmt.query(params![
                id_bytes(mailbox.0),
                after,
                limit.min(i64::MAX as usize) as i64
            ])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(message_from_row(tx, row)?);
            }
            Ok(out)
        })
        .await
    }

    async fn last_uid(&self, mailbox: MailboxId) -> Result<Uid> {
        self.read(move |tx| {
            Ok(tx.query_row(
                "SELECT coalesce(max(uid), 0) FROM messages WHERE mailbox = ?1",
                [id_bytes(mailbox.0)],
                |r| r.get(0),
            )?)
        })
        .await
    }

    async fn missing_blobs(&self, hashes: Vec<BlobHash>) -> Result<Vec<BlobHash>> {
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached("SELECT 1 FROM blobs WHERE hash = ?1")?;
            let mut missing = Vec::new();
            for hash in hashes {
                if !stmt.exists([hash])? {
                    missing.push(hash);
                }
            }
            Ok(missing)
        })
        .await
    }

    async fn export_blobs(&self, hashes: Vec<BlobHash>) -> Result<Vec<BlobData>> {
        self.read(move |tx| {
            let mut stmt =
                tx.prepare_cached("SELECT raw_len, codec, data FROM blobs WHERE hash = ?1")?;
            hashes
                .into_iter()
                .map(|hash| {
                    stmt.query_row([hash], |r| {
                        Ok(BlobData {
                            hash,
                            raw_len: r.get::<_, i64>(0)? as u64,
                            codec: r.get(1)?,
                            data: r.get(2)?,
                        })
                    })
                    .optional()?
                    .ok_or_else(|| Error::from(Defect::MissingBlob(hex(&hash))).into())
                })
                .collect()
        })
        .await
    }

    async fn import_messages(
        &self,
        mailbox: MailboxId,
        messages: Vec<MessageExport>,
        blobs: Vec<BlobData>,
    ) -> Result<u64> {
        self.write(move |tx| {
            let target = get_mailbox(tx, mailbox)?;
            let arrived: HashMap<BlobHash, &BlobData> =
                blobs.iter().map(|blob| (blob.hash, blob)).collect();
            let mut stored = 0;
            for message in &messages {
                if insert_message(tx, &target, message, &arrived)? {
                    stored += 1;
                }
            }
            Ok(stored)
        })
        .await
    }

    async fn live_content(&self) -> Result<LiveContent> {
        self.read(|tx| {
            let (blobs, blob_bytes): (i64, i64) = tx.query_row(
                "SELECT count(*), coalesce(sum(stored_len), 0) FROM blobs b
                 WHERE EXISTS (SELECT 1 FROM message_blobs m WHERE m.hash = b.hash)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let layouts: i64 = tx.query_row(
                "SELECT coalesce(sum(length(layout)), 0) FROM messages",
                [],
                |r| r.get(0),
            )?;
            Ok(LiveContent {
                blobs: blobs as u64,
                stored_bytes: (blob_bytes + layouts) as u64,
            })
        })
        .await
    }
}

/// A unique-key clash on import as the domain error, other SQLite errors as they are.
fn taken(e: rusqlite::Error, clash: impl Into<Error>) -> Fail {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Fail::Store(clash.into())
        }
        other => Fail::Db(other),
    }
}
