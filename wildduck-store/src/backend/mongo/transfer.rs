//! Record-level export and import on MongoDB (see [`RecordCopy`]).
//!
//! An import batch runs in the engine's usual order without transactions: blobs and their
//! references and the owner's `storage_used` go up first, the message documents are
//! inserted last (ordered, in UID order). An interruption therefore leaves a prefix of the
//! batch stored and at worst counters too high, which `verify --repair` (run by a resumed
//! migration) brings back; it never leaves a message without its blobs.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};

use super::blobs::CHUNK_BYTES;
use super::records::*;
use super::{FindAll, MongoBackend, db_error, is_duplicate_key};
use crate::backend::{BlobData, BlobHash, LiveContent, MessageExport, RecordCopy, UserExport};
use crate::error::{AddressError, Defect, Error, MailboxError, Result, UserError};
use crate::model::*;

fn hash_from_hex(text: &str) -> Result<BlobHash> {
    let bad = || {
        Error::from(Defect::Malformed {
            what: "blob id",
            detail: format!("{text:?} is not a 64-digit hex hash"),
        })
    };
    if text.len() != 64 || !text.is_ascii() {
        return Err(bad());
    }
    let mut hash = [0u8; 32];
    for (byte, pair) in hash.iter_mut().zip(text.as_bytes().chunks(2)) {
        let digits = std::str::from_utf8(pair).map_err(|_| bad())?;
        *byte = u8::from_str_radix(digits, 16).map_err(|_| bad())?;
    }
    Ok(hash)
}

fn export_from_doc(m: MessageDoc) -> Result<MessageExport> {
    Ok(MessageExport {
        id: MessageId::from(m.id),
        email_id: MessageId::from(m.email_id()),
        uid: m.uid as Uid,
        modseq: m.modseq as ModSeq,
        flags: flags_from_strings(&m.flags),
        internal_date: m.idate,
        saved: m.saved,
        header_date: m.hdate,
        size: m.size.max(0) as u64,
        message_id: m.msgid,
        subject: m.subject,
        envelope: from_document(m.envelope)?,
        body_structure: from_document(m.bodystructure)?,
        search_headers: m.search_headers,
        search_body: m.search_body,
        layout: m.layout.bytes,
        blobs: m
            .blobs
            .iter()
            .map(|h| hash_from_hex(h))
            .collect::<Result<_>>()?,
    })
}

fn doc_from_export(mailbox: &MailboxDoc, m: MessageExport) -> Result<MessageDoc> {
    Ok(MessageDoc {
        id: ObjectId::from(m.id),
        mailbox: mailbox.id,
        user: mailbox.user,
        uid: m.uid as i64,
        modseq: m.modseq as i64,
        added: m.modseq as i64,
        expunged: None,
        flags: flags_to_strings(&m.flags),
        seen: m.flags.contains(&Flag::Seen),
        deleted: m.flags.contains(&Flag::Deleted),
        idate: m.internal_date,
        hdate: m.header_date,
        size: m.size.min(i64::MAX as u64) as i64,
        msgid: m.message_id,
        subject: m.subject,
        envelope: to_document(&m.envelope)?,
        bodystructure: to_document(&m.body_structure)?,
        layout_len: m.layout.len() as i64,
        layout: binary(m.layout),
        blobs: m.blobs.iter().map(|h| hex(h)).collect(),
        search_headers: m.search_headers,
        search_body: m.search_body,
        // Expiry is not part of the export (`RecordCopy`): a migrated message keeps none.
        expires: None,
        email_id: (m.email_id != m.id).then(|| ObjectId::from(m.email_id)),
        saved: m.saved,
    })
}

impl MongoBackend {
    /// Inserts `document`; a duplicate key is fine when a record with `id` exists (an
    /// earlier run of the same import), and `clash` when something else holds the key.
    async fn insert_once<T>(
        &self,
        collection: &mongodb::Collection<T>,
        id: ObjectId,
        document: &T,
        clash: Error,
    ) -> Result<()>
    where
        T: serde::Serialize + Send + Sync,
    {
        match collection.insert_one(document).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => {
                let same = collection
                    .clone_with_type::<Document>()
                    .find_one(doc! {"_id": id})
                    .await
                    .map_err(db_error)?
                    .is_some();
                if same { Ok(()) } else { Err(clash) }
            }
            Err(e) => Err(db_error(e)),
        }
    }

    /// Adds `count` references to blob `hash`, storing it first when `data` brings it.
    async fn import_blob_references(
        &self,
        hash: &str,
        count: i64,
        data: Option<&BlobData>,
    ) -> Result<()> {
        let Some(blob) = data else {
            let found = self
                .blobs
                .update_one(
                    doc! {"_id": hash, "gc": Bson::Null},
                    doc! {"$inc": {"refcount": count}, "$set": {"unreferenced_since": Bson::Null}},
                )
                .await
                .map_err(db_error)?;
            if found.matched_count == 1 {
                return Ok(());
            }
            return Err(Defect::MissingBlob(hash.to_string()).into());
        };
        self.write_chunks(hash, &blob.data).await?;
        self.blobs
            .update_one(
                doc! {"_id": hash},
                doc! {
                    "$inc": {"refcount": count},
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
            .await
            .map_err(db_error)?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl RecordCopy for MongoBackend {
    async fn export_users(&self) -> Result<Vec<UserExport>> {
        let users: Vec<UserDoc> = self.users.find(doc! {}).sort(doc! {"_id": 1}).all().await?;
        let mut out = Vec::with_capacity(users.len());
        for user in users {
            let addresses: Vec<AddressDoc> = self
                .addresses
                .find(doc! {"user": id_is(user.id)})
                .all()
                .await?;
            let mailboxes: Vec<MailboxDoc> = self
                .mailboxes
                .find(doc! {"user": id_is(user.id)})
                .all()
                .await?;
            out.push(UserExport {
                record: user.into_record(),
                addresses: addresses.into_iter().map(Address::from).collect(),
                mailboxes: mailboxes.iter().map(MailboxDoc::to_model).collect(),
            });
        }
        Ok(out)
    }

    async fn import_user(&self, export: UserExport) -> Result<()> {
        for address in &export.addresses {
            self.insert_once(
                &self.addresses,
                ObjectId::from(address.id),
                &AddressDoc::from(address),
                AddressError::AlreadyExists.into(),
            )
            .await?;
        }
        for mailbox in &export.mailboxes {
            let highest = mailbox.highest_modseq as i64;
            let document = MailboxDoc {
                id: ObjectId::from(mailbox.id),
                user: ObjectId::from(mailbox.user),
                path: mailbox.path.clone(),
                special_use: mailbox.special_use.map(|u| u.attribute().to_string()),
                uidvalidity: mailbox.uidvalidity as i64,
                uidnext: mailbox.uidnext as i64,
                modseq: highest,
                pending: Document::new(),
                journal_floor: highest,
                subscribed: mailbox.subscribed,
                hidden: mailbox.hidden,
                retention: mailbox.retention.map(|ms| ms as i64),
            };
            self.insert_once(
                &self.mailboxes,
                ObjectId::from(mailbox.id),
                &document,
                MailboxError::AlreadyExists.into(),
            )
            .await?;
            // Mailboxes created here later must get a UIDVALIDITY above every copied one.
            self.counters
                .update_one(
                    doc! {"_id": "uidvalidity"},
                    doc! {"$max": {"value": mailbox.uidvalidity as i64}},
                )
                .upsert(true)
                .await
                .map_err(db_error)?;
        }
        // The user document last, as `create_user` does: the account appears complete.
        let mut user = UserDoc::from_record(&export.record);
        user.storage_used = 0;
        self.insert_once(&self.users, user.id, &user, UserError::AlreadyExists.into())
            .await
    }

    async fn export_messages(
        &self,
        mailbox: MailboxId,
        after: Uid,
        limit: usize,
    ) -> Result<Vec<MessageExport>> {
        let docs: Vec<MessageDoc> = self
            .messages
            .find(doc! {
                "mailbox": id_is(mailbox),
                "uid": {"$gt": after as i64},
                "expunged": Bson::Null,
            })
            .sort(doc! {"uid": 1})
            .limit(limit.min(i64::MAX as usize) as i64)
            .all()
            .await?;
        docs.into_iter().map(export_from_doc).collect()
    }

    async fn last_uid(&self, mailbox: MailboxId) -> Result<Uid> {
        let last = self
            .raw_messages()
            .find_one(doc! {"mailbox": id_is(mailbox)})
            .sort(doc! {"uid": -1})
            .projection(doc! {"uid": 1})
            .await
            .map_err(db_error)?;
        Ok(match last {
            Some(m) => int_field(&m, "uid")? as Uid,
            None => 0,
        })
    }

    async fn missing_blobs(&self, hashes: Vec<BlobHash>) -> Result<Vec<BlobHash>> {
        let ids: Vec<String> = hashes.iter().map(|h| hex(h)).collect();
        let present: HashSet<String> = self
            .blobs
            .find(doc! {"_id": {"$in": &ids}})
            .projection(doc! {"_id": 1})
            .all()
            .await?
            .iter()
            .filter_map(|d| d.get_str("_id").ok().map(str::to_string))
            .collect();
        Ok(hashes
            .into_iter()
            .zip(ids)
            .filter(|(_, id)| !present.contains(id))
            .map(|(hash, _)| hash)
            .collect())
    }

    async fn export_blobs(&self, hashes: Vec<BlobHash>) -> Result<Vec<BlobData>> {
        let ids: Vec<String> = hashes.iter().map(|h| hex(h)).collect();
        let raw_lens: HashMap<String, i64> = self
            .blobs
            .find(doc! {"_id": {"$in": &ids}})
            .projection(doc! {"raw_len": 1})
            .all()
            .await?
            .iter()
            .filter_map(|d| {
                Some((
                    d.get_str("_id").ok()?.to_string(),
                    int_field(d, "raw_len").ok()?,
                ))
            })
            .collect();
        let contents = self.read_blobs(&ids).await?;
        hashes
            .into_iter()
            .zip(ids)
            .zip(contents)
            .map(|((hash, id), (codec, data))| {
                let raw_len = raw_lens.get(&id).ok_or_else(|| Defect::Malformed {
                    what: "blob",
                    detail: format!("{id} has no raw length"),
                })?;
                Ok(BlobData {
                    hash,
                    raw_len: (*raw_len).max(0) as u64,
                    codec,
                    data,
                })
            })
            .collect()
    }

    async fn import_messages(
        &self,
        mailbox: MailboxId,
        messages: Vec<MessageExport>,
        blobs: Vec<BlobData>,
    ) -> Result<u64> {
        let target = self.mailbox_doc(mailbox).await?;
        let uids: Vec<i64> = messages.iter().map(|m| m.uid as i64).collect();
        let stored: HashSet<i64> = self
            .raw_messages()
            .find(doc! {"mailbox": id_is(mailbox), "uid": {"$in": uids}})
            .projection(doc! {"uid": 1})
            .all()
            .await?
            .iter()
            .filter_map(|d| int_field(d, "uid").ok())
            .collect();
        let new: Vec<MessageExport> = messages
            .into_iter()
            .filter(|m| !stored.contains(&(m.uid as i64)))
            .collect();
        if new.is_empty() {
            return Ok(0);
        }
        let mut references: BTreeMap<String, i64> = BTreeMap::new();
        for hash in new.iter().flat_map(|m| &m.blobs) {
            *references.entry(hex(hash)).or_default() += 1;
        }
        let arrived: HashMap<String, &BlobData> =
            blobs.iter().map(|blob| (hex(&blob.hash), blob)).collect();
        for (hash, count) in &references {
            self.import_blob_references(hash, *count, arrived.get(hash).copied())
                .await?;
        }
        let bytes: i64 = new.iter().map(|m| m.size.min(i64::MAX as u64) as i64).sum();
        self.users
            .update_one(
                doc! {"_id": target.user},
                doc! {"$inc": {"storage_used": bytes}},
            )
            .await
            .map_err(db_error)?;
        let count = new.len() as u64;
        let documents = new
            .into_iter()
            .map(|m| doc_from_export(&target, m))
            .collect::<Result<Vec<_>>>()?;
        self.messages
            .insert_many(documents)
            .await
            .map_err(db_error)?;
        Ok(count)
    }

    /// Streams message and blob documents (only their small fields) and sums client-side,
    /// which any MongoDB-wire server can serve; memory grows with the number of blobs.
    async fn live_content(&self) -> Result<LiveContent> {
        let mut referenced: HashSet<String> = HashSet::new();
        let mut layouts = 0i64;
        let mut messages = self
            .raw_messages()
            .find(doc! {})
            .projection(doc! {"blobs": 1, "layout_len": 1})
            .await
            .map_err(db_error)?;
        while let Some(message) = messages.try_next().await.map_err(db_error)? {
            layouts += int_field(&message, "layout_len")?;
            referenced.extend(string_list(&message, "blobs"));
        }
        let mut live = LiveContent::default();
        let mut blobs = self
            .blobs
            .find(doc! {})
            .projection(doc! {"stored_len": 1})
            .await
            .map_err(db_error)?;
        while let Some(blob) = blobs.try_next().await.map_err(db_error)? {
            if blob.get_str("_id").is_ok_and(|id| referenced.contains(id)) {
                live.blobs += 1;
                live.stored_bytes += int_field(&blob, "stored_len")?.max(0) as u64;
            }
        }
        live.stored_bytes += layouts.max(0) as u64;
        Ok(live)
    }
}
