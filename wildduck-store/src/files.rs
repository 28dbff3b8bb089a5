//! Users' stored files (WildDuck's storage API: attachments uploaded to be linked from a
//! draft). Each file's content is one blob of the store's deduplicated blob layer, so the
//! same file uploaded twice is kept once; the record holds the name, media type, size and
//! MD5 WildDuck lists. As in WildDuck, files are not counted in the user's quota.

use md5::{Digest, Md5};

use crate::backend::now;
use crate::content;
use crate::error::Result;
use crate::model::*;
use crate::store::Store;

/// A file to store; a missing name or media type is derived as WildDuck derives it.
#[derive(Clone, Debug)]
pub struct NewFile {
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub cid: Option<String>,
    pub content: Vec<u8>,
}

/// Media types WildDuck (libmime) guesses from common extensions, and the other way round.
const KNOWN_TYPES: [(&str, &str); 14] = [
    ("gif", "image/gif"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("svg", "image/svg+xml"),
    ("pdf", "application/pdf"),
    ("zip", "application/zip"),
    ("txt", "text/plain"),
    ("html", "text/html"),
    ("htm", "text/html"),
    ("csv", "text/csv"),
    ("ics", "text/calendar"),
    ("eml", "message/rfc822"),
    ("bin", "application/octet-stream"),
];

impl Store {
    /// Stores a file for `user`; `UserError::NotFound` for a missing user.
    pub async fn store_file(&self, user: UserId, new: NewFile) -> Result<StoredFile> {
        let (filename, content_type) = name_and_type(new.filename, new.content_type, now());
        let size = new.content.len() as u64;
        let md5: String = Md5::digest(&new.content)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let blob = content::pack_file(new.content)?;
        let file = StoredFile {
            id: FileId::new(),
            user,
            filename,
            content_type,
            cid: new.cid,
            size,
            md5,
            created: now(),
        };
        self.backend().insert_file(file.clone(), blob).await?;
        Ok(file)
    }

    /// The user's files by filename; `UserError::NotFound` for a missing user.
    pub async fn list_files(&self, user: UserId) -> Result<Vec<StoredFile>> {
        self.get_user(user).await?;
        self.backend().list_files(user).await
    }

    /// A file of `user` and its content; None when the user has no such file.
    pub async fn read_file(
        &self,
        user: UserId,
        file: FileId,
    ) -> Result<Option<(StoredFile, Vec<u8>)>> {
        match self.backend().load_file(user, file).await? {
            Some((record, codec, data)) => Ok(Some((record, content::unpack_file(codec, data)?))),
            None => Ok(None),
        }
    }

    /// Deletes a file of `user`; false when the user has no such file.
    pub async fn delete_file(&self, user: UserId, file: FileId) -> Result<bool> {
        self.backend().delete_file(user, file).await
    }

    /// Deletes every file of `user` (their account is going).
    pub(crate) async fn delete_files_of(&self, user: UserId) -> Result<()> {
        for file in self.backend().list_files(user).await? {
            self.backend().delete_file(user, file.id).await?;
        }
        Ok(())
    }
}

/// WildDuck's defaults: with neither, `upload-<date>.bin` as `application/octet-stream`;
/// a type from the name's extension, or a name from the type's extension.
fn name_and_type(
    filename: Option<String>,
    content_type: Option<String>,
    at: Timestamp,
) -> (String, String) {
    let base = format!(
        "upload-{}",
        crate::mime::parsed::iso_date(at).get(..10).unwrap_or("")
    );
    match (filename, content_type) {
        (Some(name), Some(kind)) => (name, kind),
        (Some(name), None) => {
            let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
            let kind = KNOWN_TYPES
                .iter()
                .find(|(ext, _)| Some(*ext) == extension.as_deref())
                .map_or("application/octet-stream", |(_, kind)| kind);
            (name, kind.to_string())
        }
        (None, Some(kind)) => {
            let lower = kind.to_ascii_lowercase();
            let extension = KNOWN_TYPES
                .iter()
                .find(|(_, known)| *known == lower)
                .map_or("bin", |(ext, _)| ext);
            (format!("{base}.{extension}"), kind)
        }
        (None, None) => (format!("{base}.bin"), "application/octet-stream".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_types_are_derived_as_wildduck_derives_them() {
        let at = 1_700_000_000; // 2023-11-14
        let derive = |name: Option<&str>, kind: Option<&str>| {
            name_and_type(name.map(Into::into), kind.map(Into::into), at)
        };
        assert_eq!(
            derive(None, None),
            (
                "upload-2023-11-14.bin".into(),
                "application/octet-stream".into()
            )
        );
        assert_eq!(
            derive(Some("image.GIF"), None),
            ("image.GIF".into(), "image/gif".into())
        );
        assert_eq!(
            derive(None, Some("image/jpeg")),
            ("upload-2023-11-14.jpg".into(), "image/jpeg".into())
        );
        assert_eq!(
            derive(Some("a"), Some("text/x-odd")),
            ("a".into(), "text/x-odd".into())
        );
    }
}
