//! Users' stored files on SQLite (see [`FileStorage`]): the `stored_files` table, each row
//! one reference to a blob of the shared `blobs` table.

use super::*;

const FILE_COLUMNS: &str = "id, user, filename, content_type, cid, size, md5, created";

fn file_from_row(row: &Row) -> rusqlite::Result<StoredFile> {
    Ok(StoredFile {
        id: FileId(record_id(row, 0)?),
        user: UserId(record_id(row, 1)?),
        filename: row.get(2)?,
        content_type: row.get(3)?,
        cid: row.get(4)?,
        size: row.get::<_, i64>(5)? as u64,
        md5: row.get(6)?,
        created: row.get(7)?,
    })
}

#[async_trait]
impl FileStorage for SqliteBackend {
    async fn insert_file(&self, file: StoredFile, blob: BlobData) -> Result<()> {
        self.write(move |tx| {
            get_user(tx, file.user)?;
            store_blob_reference(tx, &blob)?;
            tx.execute(
                &format!(
                    "INSERT INTO stored_files ({FILE_COLUMNS}, hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ),
                params![
                    id_bytes(file.id.0),
                    id_bytes(file.user.0),
                    file.filename,
                    file.content_type,
                    file.cid,
                    file.size as i64,
                    file.md5,
                    file.created,
                    blob.hash
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn list_files(&self, user: UserId) -> Result<Vec<StoredFile>> {
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {FILE_COLUMNS} FROM stored_files WHERE user = ?1 ORDER BY filename, id"
            ))?;
            let files = stmt
                .query_map([id_bytes(user.0)], file_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(files)
        })
        .await
    }

    async fn load_file(
        &self,
        user: UserId,
        file: FileId,
    ) -> Result<Option<(StoredFile, u8, Vec<u8>)>> {
        self.read(move |tx| {
            let found = tx
                .prepare_cached(&format!(
                    "SELECT {FILE_COLUMNS}, hash FROM stored_files WHERE id = ?1 AND user = ?2"
                ))?
                .query_row(params![id_bytes(file.0), id_bytes(user.0)], |r| {
                    Ok((file_from_row(r)?, r.get::<_, Vec<u8>>(8)?))
                })
                .optional()?;
            let Some((record, hash)) = found else {
                return Ok(None);
            };
            let (codec, data) = tx
                .prepare_cached("SELECT codec, data FROM blobs WHERE hash = ?1")?
                .query_row([&hash], |r| {
                    Ok((r.get::<_, u8>(0)?, r.get::<_, Vec<u8>>(1)?))
                })
                .optional()?
                .ok_or_else(|| Error::from(Defect::MissingBlob(hex(&hash))))?;
            Ok(Some((record, codec, data)))
        })
        .await
    }

    async fn delete_file(&self, user: UserId, file: FileId) -> Result<bool> {
        self.write(move |tx| {
            let hash: Option<Vec<u8>> = tx
                .query_row(
                    "DELETE FROM stored_files WHERE id = ?1 AND user = ?2 RETURNING hash",
                    params![id_bytes(file.0), id_bytes(user.0)],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(hash) = hash else {
                return Ok(false);
            };
            tx.execute(
                "UPDATE blobs SET refcount = refcount - 1,
                     unreferenced_since = CASE WHEN refcount - 1 <= 0 THEN ?2 ELSE NULL END
                 WHERE hash = ?1",
                params![hash, now()],
            )?;
            Ok(true)
        })
        .await
    }
}
