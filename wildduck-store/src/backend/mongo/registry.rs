//! Operator records on MongoDB (see [`Registry`]): the `registry` collection, one document
//! `{_id, kind, key, body}` per entry, unique by (kind, key).
//!
//! An upsert is an insert, and on a duplicate key an update of the body by (kind, key): two
//! single-document writes, each atomic; an entry deleted between them is inserted again.

use super::*;

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
            Ok(_) => Ok(true),
            Err(e) if is_duplicate_key(&e) => Ok(false),
            Err(e) => Err(db_error(e)),
        }
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
                return Ok((entry_from_doc(&doc)?.id, false));
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
        let result = self
            .registry
            .delete_one(doc! {"_id": ObjectId::from_bytes(id.bytes()), "kind": kind.name()})
            .await
            .map_err(db_error)?;
        Ok(result.deleted_count == 1)
    }
}
