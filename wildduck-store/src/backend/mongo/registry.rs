//! Operator records on MongoDB (see [`Registry`]): the `registry` collection, one document
//! `{_id, kind, key, body}` per entry, unique by (kind, key).
//!
//! An upsert is an insert, and on a duplicate key an update of the body by (kind, key): two
//! single-document writes, each atomic; an entry deleted between them is inserted again.

use super::*;
use crate::events::RecordChange;

fn entry_from_doc(doc: &Document) -> Result<RegistryEntry> {
    let malformed = |detail: &str| -> Error {
        Defect::Malformed {
            what: "registry document",
            detail: detail.to_string(),
        }
        .into()
    };
    let id = doc
        .get_object_id("_id")
        .map_err(|_| malformed("no ObjectId _id"))?;
    Ok(RegistryEntry {
        id: RecordId::from_bytes(id.bytes()),
        key: doc
            .get_str("key")
            .map_err(|_| malformed("no key"))?
            .to_string(),
        body: doc
            .get_str("body")
            .map_err(|_| malformed("no body"))?
            .to_string(),
    })
}

fn entry_doc(kind: RegistryKind, entry: &RegistryEntry) -> Document {
    doc! {
        "_id": ObjectId::from_bytes(entry.id.bytes()),
        "kind": kind.name(),
        "key": &entry.key,
        "body": &entry.body,
    }
}

#[async_trait]
impl Registry for MongoBackend {
    async fn insert_entry(&self, kind: RegistryKind, entry: RegistryEntry) -> Result<bool> {
        match self.registry.insert_one(entry_doc(kind, &entry)).await {
            Ok(_) => {}
            Err(e) if is_duplicate_key(&e) => return Ok(false),
            Err(e) => return Err(db_error(e)),
        }
        self.log_record_change(kind, &entry, RecordChange::Created)
            .await?;
        Ok(true)
    }

    async fn upsert_entry(
        &self,
        kind: RegistryKind,
        entry: RegistryEntry,
    ) -> Result<(RecordId, bool)> {
        loop {
            if self.insert_entry(kind, entry.clone()).await? {
                return Ok((entry.id, true));
            }
            let updated = self
                .registry
                .find_one_and_update(
                    doc! {"kind": kind.name(), "key": &entry.key},
                    doc! {"$set": {"body": &entry.body}},
                )
                .return_document(ReturnDocument::After)
                .await
                .map_err(db_error)?;
            if let Some(doc) = updated {
                let stored = entry_from_doc(&doc)?;
                self.log_record_change(kind, &stored, RecordChange::Updated)
                    .await?;
                return Ok((stored.id, false));
            }
        }
    }

    async fn entry_by_key(&self, kind: RegistryKind, key: &str) -> Result<Option<RegistryEntry>> {
        self.registry
            .find_one(doc! {"kind": kind.name(), "key": key})
            .await
            .map_err(db_error)?
            .map(|doc| entry_from_doc(&doc))
            .transpose()
    }

    async fn entry_by_id(&self, kind: RegistryKind, id: RecordId) -> Result<Option<RegistryEntry>> {
        self.registry
            .find_one(doc! {"_id": ObjectId::from_bytes(id.bytes()), "kind": kind.name()})
            .await
            .map_err(db_error)?
            .map(|doc| entry_from_doc(&doc))
            .transpose()
    }

    async fn list_entries(&self, kind: RegistryKind) -> Result<Vec<RegistryEntry>> {
        let docs: Vec<Document> = self
            .registry
            .find(doc! {"kind": kind.name()})
            .sort(doc! {"key": 1})
            .all()
            .await?;
        docs.iter().map(entry_from_doc).collect()
    }

    async fn delete_entry(&self, kind: RegistryKind, id: RecordId) -> Result<bool> {
        let removed = self
            .registry
            .find_one_and_delete(
                doc! {"_id": ObjectId::from_bytes(id.bytes()), "kind": kind.name()},
            )
            .await
            .map_err(db_error)?;
        let Some(removed) = removed else {
            return Ok(false);
        };
        self.log_record_change(kind, &entry_from_doc(&removed)?, RecordChange::Deleted)
            .await?;
        Ok(true)
    }
}

impl MongoBackend {
    /// Logs the change's event (when its kind has one): the change's last step.
    async fn log_record_change(
        &self,
        kind: RegistryKind,
        entry: &RegistryEntry,
        change: RecordChange,
    ) -> Result<()> {
        match crate::events::record_changed(kind, entry, change) {
            Some(event) => self.log_event(&event).await,
            None => Ok(()),
        }
    }
}
