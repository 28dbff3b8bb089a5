//! COMPRESS DEFLATE (RFC 4978): the tagged OK goes out uncompressed, everything after it in
//! both directions is raw DEFLATE.

use crate::state::{Outcome, Reply, Session};

pub async fn compress(session: &mut Session, tag: &str) -> Outcome {
    if session.conn.is_compressed() {
        return Ok(Reply::No(
            "[COMPRESSIONACTIVE] DEFLATE is already active".into(),
        ));
    }
    session.conn.tagged(tag, "OK DEFLATE active");
    session.conn.start_deflate().await?;
    Ok(Reply::AlreadySent)
}
