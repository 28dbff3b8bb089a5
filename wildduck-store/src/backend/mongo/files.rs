//! Users' stored files on MongoDB (see [`FileStorage`]): the `stored_files` collection, each
//! document one reference (`blob`, hex hash) to the shared blobs. Without transactions the
//! blob is referenced before the document is written, and the document removed before the
//! reference is given back: a failure in between leaks a reference (`verify` repairs it),
//! never a file whose bytes are gone.

use super::*;

fn file_doc(file: &StoredFile, blob: &str) -> Document {
    doc! {
        "_id": ObjectId::from(file.id),
        "user": ObjectId::from(file.user),
        "filename": &file.filename,
        "content_type": &file.content_type,
        "cid": file.cid.as_deref().map_or(Bson::Null, |cid| Bson::String(cid.to_string())),
        "size": file.size.min(i64::MAX as u64) as i64,
        "md5": &file.md5,
        "created": file.created,
        "blob": blob,
    }
}

fn file_from_doc(doc: &Document) -> Result<StoredFile> {
    let text = |key: &str| doc.get_str(key).map(str::to_string).map_err(field_error);
    Ok(StoredFile {
        id: FileId::from(doc.get_object_id("_id").map_err(field_error)?),
        user: UserId::from(doc.get_object_id("user").map_err(field_error)?),
        filename: text("filename")?,
        content_type: text("content_type")?,
        cid: doc.get_str("cid").ok().map(str::to_string),
        size: int_field(doc, "size")?.max(0) as u64,
        md5: text("md5")?,
        created: int_field(doc, "created")?,
    })
}

#[async_trait]
impl FileStorage for MongoBackend {
    async fn insert_file(&self, file: StoredFile, blob: BlobData) -> Result<()> {
        self.user_doc(file.user).await?;
        let hashes = self
            .reference_new_blobs(std::slice::from_ref(&blob))
            .await?;
        let inserted = self
            .stored_files
            .insert_one(file_doc(&file, &hashes[0]))
            .await
            .map_err(db_error);
        if let Err(e) = inserted {
            self.release_blobs(&hashes).await;
            return Err(e);
        }
        Ok(())
    }

    async fn list_files(&self, user: UserId) -> Result<Vec<StoredFile>> {
        let docs: Vec<Document> = self
            .stored_files
            .find(doc! {"user": id_is(user)})
            .sort(doc! {"filename": 1, "_id": 1})
            .all()
            .await?;
        docs.iter().map(file_from_doc).collect()
    }

    async fn load_file(
        &self,
        user: UserId,
        file: FileId,
    ) -> Result<Option<(StoredFile, u8, Vec<u8>)>> {
        let found = self
            .stored_files
            .find_one(doc! {"_id": ObjectId::from(file), "user": id_is(user)})
            .await
            .map_err(db_error)?;
        let Some(found) = found else {
            return Ok(None);
        };
        let blob = found.get_str("blob").map_err(field_error)?.to_string();
        let (codec, data) = self
            .read_blobs(&[blob])
            .await?
            .pop()
            .ok_or(Defect::Bug("a blob read returned nothing"))?;
        Ok(Some((file_from_doc(&found)?, codec, data)))
    }

    async fn delete_file(&self, user: UserId, file: FileId) -> Result<bool> {
        let removed = self
            .stored_files
            .find_one_and_delete(doc! {"_id": ObjectId::from(file), "user": id_is(user)})
            .await
            .map_err(db_error)?;
        let Some(removed) = removed else {
            return Ok(false);
        };
        let blob = removed.get_str("blob").map_err(field_error)?.to_string();
        self.release_blobs(&[blob]).await;
        Ok(true)
    }
}
