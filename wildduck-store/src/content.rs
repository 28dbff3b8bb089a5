//! The content seam: how a message's bytes become a layout plus blobs, and back.
//!
//! Today a message is one blob holding the whole raw message (layout [`Layout::Whole`]).
//! The content engine replaces this with "skeleton + deduplicated leaf blobs" by adding a
//! layout variant here; the backend only stores opaque layout bytes and a list of blob
//! references, so nothing below or above this module has to change.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::backend::{BlobData, ContentRead, ContentWrite};
use crate::error::{Error, Result};

/// Blob stored as given (it did not shrink under compression).
pub const CODEC_RAW: u8 = 0;
/// Blob stored zstd-compressed.
pub const CODEC_ZSTD: u8 = 1;

const ZSTD_LEVEL: i32 = 3;

/// How the blobs of a message make up its raw bytes.
#[derive(Debug, Serialize, Deserialize)]
enum Layout {
    /// The single blob is the whole message.
    Whole,
}

/// Splits a raw message into what the backend stores.
pub fn pack(raw: &[u8]) -> Result<ContentWrite> {
    let layout = serde_json::to_vec(&Layout::Whole)
        .map_err(|e| Error::Backend(format!("encoding layout: {e}")))?;
    Ok(ContentWrite {
        layout,
        blobs: vec![encode_blob(raw)?],
    })
}

/// Reassembles the exact raw bytes of a message.
pub fn unpack(content: ContentRead) -> Result<Bytes> {
    let layout: Layout = serde_json::from_slice(&content.layout)
        .map_err(|e| Error::Backend(format!("unknown content layout: {e}")))?;
    match layout {
        Layout::Whole => {
            let [(codec, data)] = <[_; 1]>::try_from(content.blobs).map_err(|blobs| {
                Error::Backend(format!(
                    "whole-message layout needs 1 blob, found {}",
                    blobs.len()
                ))
            })?;
            decode_blob(codec, data).map(Bytes::from)
        }
    }
}

/// Compresses a blob unless that does not make it smaller; keys it by blake3 of codec and
/// stored bytes.
fn encode_blob(raw: &[u8]) -> Result<BlobData> {
    let compressed =
        zstd::bulk::compress(raw, ZSTD_LEVEL).map_err(|e| Error::Backend(format!("zstd: {e}")))?;
    let (codec, data) = if compressed.len() < raw.len() {
        (CODEC_ZSTD, compressed)
    } else {
        (CODEC_RAW, raw.to_vec())
    };
    let mut hasher = blake3::Hasher::new();
    hasher.update(&[codec]);
    hasher.update(&data);
    Ok(BlobData {
        hash: *hasher.finalize().as_bytes(),
        raw_len: raw.len() as u64,
        codec,
        data,
    })
}

fn decode_blob(codec: u8, data: Vec<u8>) -> Result<Vec<u8>> {
    match codec {
        CODEC_RAW => Ok(data),
        CODEC_ZSTD => zstd::stream::decode_all(data.as_slice())
            .map_err(|e| Error::Backend(format!("corrupt zstd blob: {e}"))),
        other => Err(Error::Backend(format!("unknown blob codec {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(raw: &[u8]) -> (u8, Vec<u8>) {
        let written = pack(raw).unwrap();
        let blob = &written.blobs[0];
        let read = ContentRead {
            layout: written.layout.clone(),
            blobs: vec![(blob.codec, blob.data.clone())],
        };
        assert_eq!(unpack(read).unwrap().as_ref(), raw);
        (blob.codec, blob.data.clone())
    }

    #[test]
    fn text_is_compressed_and_comes_back_exact() {
        let raw = b"Subject: x\n\nbare LF\r\nCRLF\0NUL\n".repeat(50);
        let (codec, stored) = roundtrip(&raw);
        assert_eq!(codec, CODEC_ZSTD);
        assert!(stored.len() < raw.len());
    }

    #[test]
    fn incompressible_data_is_kept_raw() {
        let mut raw = vec![0u8; 4096];
        blake3::Hasher::new()
            .update(b"noise")
            .finalize_xof()
            .fill(&mut raw);
        let (codec, _) = roundtrip(&raw);
        assert_eq!(codec, CODEC_RAW);
        assert_eq!(roundtrip(b"").0, CODEC_RAW);
    }

    #[test]
    fn same_bytes_same_key() {
        let a = pack(b"hello hello hello hello").unwrap();
        let b = pack(b"hello hello hello hello").unwrap();
        let c = pack(b"hello hello hello hellO").unwrap();
        assert_eq!(a.blobs[0].hash, b.blobs[0].hash);
        assert_ne!(a.blobs[0].hash, c.blobs[0].hash);
    }

    #[test]
    fn corrupt_content_is_an_error_not_a_panic() {
        let bad_codec = ContentRead {
            layout: serde_json::to_vec(&Layout::Whole).unwrap(),
            blobs: vec![(9, vec![1, 2, 3])],
        };
        assert!(unpack(bad_codec).is_err());
        let no_blob = ContentRead {
            layout: serde_json::to_vec(&Layout::Whole).unwrap(),
            blobs: vec![],
        };
        assert!(unpack(no_blob).is_err());
        let bad_layout = ContentRead {
            layout: b"?".to_vec(),
            blobs: vec![],
        };
        assert!(unpack(bad_layout).is_err());
    }
}
