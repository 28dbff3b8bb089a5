//! The outbound queue on MongoDB: one `outbound` document per entry (its state as a
//! sub-document, the relayed bytes beside it), leased by `findOneAndUpdate`, which hands a
//! due entry to exactly one caller even with several processes asking at once.
//!
//! Without multi-document transactions the pairs the trait asks to be one unit are written
//! in the order that never loses mail: the \Sent copy before the entries (a failure between
//! leaves an extra \Sent copy, the client is not told `250` and sends again), and a failure
//! notice before the entry's update (a failure between may repeat the notice, never lose it).

use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ReturnDocument;

use async_trait::async_trait;

use super::records::*;
use super::{FindAll, MongoBackend, db_error, field_error};
use crate::backend::{NewMessage, OutboundQueue, QueueAdmin, Wake};
use crate::error::Result;
use crate::model::*;
use crate::outbound::{ClaimScope, OutboundEntry};

/// The lease token as stored: its hex text.
fn lease_id(lease: RecordId) -> String {
    lease.to_string()
}

fn entry_doc(entry: &OutboundEntry) -> Result<Document> {
    Ok(doc! {
        "_id": ObjectId::from(entry.id),
        "next_attempt": entry.next_attempt,
        "claimed_until": 0i64,
        "lease": Bson::Null,
        "entry": to_document(entry)?,
        "raw": binary(entry.raw.clone()),
    })
}

fn entry_from_doc(mut doc: Document) -> Result<OutboundEntry> {
    let raw = doc.get_binary_generic("raw").map_err(field_error)?.clone();
    let state = doc.remove("entry").and_then(|state| match state {
        Bson::Document(state) => Some(state),
        _ => None,
    });
    let mut entry: OutboundEntry = from_document(state.unwrap_or_default())?;
    entry.raw = raw;
    Ok(entry)
}

impl MongoBackend {
    pub(super) async fn enqueue_entries(
        &self,
        sent: Option<(MailboxId, NewMessage)>,
        entries: Vec<OutboundEntry>,
    ) -> Result<(Option<AppendOutcome>, Vec<Wake>)> {
        use crate::backend::Messages;
        let (outcome, wakes) = match sent {
            Some((mailbox, message)) => {
                let (outcome, wakes) = self.append(mailbox, message).await?;
                (Some(outcome), wakes)
            }
            None => (None, Vec::new()),
        };
        if !entries.is_empty() {
            let docs = entries.iter().map(entry_doc).collect::<Result<Vec<_>>>()?;
            self.outbound.insert_many(docs).await.map_err(db_error)?;
        }
        Ok((outcome, wakes))
    }

    pub(super) async fn claim_entries(
        &self,
        now: Timestamp,
        until: Timestamp,
        lease: RecordId,
        limit: usize,
        scope: ClaimScope,
    ) -> Result<Vec<OutboundEntry>> {
        let mut due = doc! {"next_attempt": {"$lte": now}, "claimed_until": {"$lte": now}};
        if scope == ClaimScope::OwnHopOnly {
            // An entry's own hop is `next_hop` in its state (absent for the smarthost).
            due.insert("entry.next_hop", doc! {"$exists": true});
        }
        let mut claimed = Vec::new();
        while claimed.len() < limit {
            let taken = self
                .outbound
                .find_one_and_update(
                    due.clone(),
                    doc! {"$set": {"claimed_until": until, "lease": lease_id(lease)}},
                )
                .sort(doc! {"next_attempt": 1, "_id": 1})
                .return_document(ReturnDocument::After)
                .await
                .map_err(db_error)?;
            match taken {
                Some(doc) => claimed.push(entry_from_doc(doc)?),
                None => break,
            }
        }
        Ok(claimed)
    }

    pub(super) async fn finish_entry(
        &self,
        id: OutboundId,
        lease: RecordId,
        next: Option<OutboundEntry>,
        dsn: Option<(MailboxId, NewMessage)>,
    ) -> Result<(bool, Vec<Wake>)> {
        use crate::backend::Messages;
        let held = doc! {"_id": ObjectId::from(id), "lease": lease_id(lease)};
        if self
            .outbound
            .find_one(held.clone())
            .await
            .map_err(db_error)?
            .is_none()
        {
            return Ok((false, Vec::new()));
        }
        let wakes = match dsn {
            Some((mailbox, message)) => self.append(mailbox, message).await?.1,
            None => Vec::new(),
        };
        let matched = match next {
            Some(entry) => {
                let update = doc! {"$set": {
                    "next_attempt": entry.next_attempt,
                    "claimed_until": 0i64,
                    "lease": Bson::Null,
                    "entry": to_document(&entry)?,
                }};
                self.outbound
                    .update_one(held, update)
                    .await
                    .map_err(db_error)?
                    .matched_count
            }
            None => {
                self.outbound
                    .delete_one(held)
                    .await
                    .map_err(db_error)?
                    .deleted_count
            }
        };
        Ok((matched == 1, wakes))
    }

    pub(super) async fn list_entries(&self) -> Result<Vec<OutboundEntry>> {
        let docs: Vec<Document> = self
            .outbound
            .find(doc! {})
            .sort(doc! {"_id": 1})
            .all()
            .await?;
        docs.into_iter().map(entry_from_doc).collect()
    }
}

#[async_trait]
impl QueueAdmin for MongoBackend {
    async fn get_outbound(&self, id: OutboundId) -> Result<Option<OutboundEntry>> {
        self.outbound
            .find_one(doc! {"_id": ObjectId::from(id)})
            .await
            .map_err(db_error)?
            .map(entry_from_doc)
            .transpose()
    }

    async fn reschedule_outbound(&self, id: OutboundId, at: Timestamp) -> Result<bool> {
        let update = doc! {"$set": {"next_attempt": at, "entry.next_attempt": at}};
        let matched = self
            .outbound
            .update_one(doc! {"_id": ObjectId::from(id)}, update)
            .await
            .map_err(db_error)?
            .matched_count;
        Ok(matched == 1)
    }

    async fn delete_outbound(&self, id: OutboundId) -> Result<bool> {
        let deleted = self
            .outbound
            .delete_one(doc! {"_id": ObjectId::from(id)})
            .await
            .map_err(db_error)?
            .deleted_count;
        Ok(deleted == 1)
    }
}

#[async_trait]
impl OutboundQueue for MongoBackend {
    async fn enqueue(
        &self,
        sent: Option<(MailboxId, NewMessage)>,
        entries: Vec<OutboundEntry>,
    ) -> Result<(Option<AppendOutcome>, Vec<Wake>)> {
        self.enqueue_entries(sent, entries).await
    }

    async fn claim_outbound(
        &self,
        now: Timestamp,
        until: Timestamp,
        lease: RecordId,
        limit: usize,
        scope: ClaimScope,
    ) -> Result<Vec<OutboundEntry>> {
        self.claim_entries(now, until, lease, limit, scope).await
    }

    async fn finish_outbound(
        &self,
        id: OutboundId,
        lease: RecordId,
        next: Option<OutboundEntry>,
        dsn: Option<(MailboxId, NewMessage)>,
    ) -> Result<(bool, Vec<Wake>)> {
        self.finish_entry(id, lease, next, dsn).await
    }

    async fn list_outbound(&self) -> Result<Vec<OutboundEntry>> {
        self.list_entries().await
    }

    async fn count_outbound(&self) -> Result<u64> {
        self.outbound
            .count_documents(doc! {})
            .await
            .map_err(db_error)
    }
}
