//! SORT and THREAD rows on SQLite: dates and size from the `messages_meta` index, the
//! envelope and the header text only when the criteria read them.

use super::messages::for_each_in_set;
use super::*;

/// Beyond this many UID ranges one scan of the mailbox is cheaper than a query per range.
const MAX_RANGE_QUERIES: usize = 32;

#[async_trait]
impl SortData for SqliteBackend {
    async fn sort_rows(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        needs: SortNeeds,
    ) -> Result<Vec<SortRow>> {
        let uids = uids.clone();
        self.read(move |tx| {
            get_mailbox(tx, mailbox)?;
            let columns = format!(
                "uid, idate, hdate, size, {}, {}",
                if needs.envelope { "envelope" } else { "NULL" },
                if needs.headers {
                    "search_headers"
                } else {
                    "NULL"
                }
            );
            let mut out = Vec::new();
            let mut visit = |r: &Row| -> TxResult<()> {
                let uid: Uid = r.get(0)?;
                if !uids.contains(uid) {
                    return Ok(());
                }
                out.push(SortRow {
                    uid,
                    internal_date: r.get(1)?,
                    header_date: r.get(2)?,
                    size: r.get::<_, i64>(3)?.max(0) as u64,
                    envelope: r
                        .get::<_, Option<String>>(4)?
                        .map(|t| from_json::<Envelope>(&t))
                        .transpose()?,
                    headers: r.get(5)?,
                });
                Ok(())
            };
            if uids.ranges().len() <= MAX_RANGE_QUERIES {
                for_each_in_set(tx, &columns, mailbox, &uids, visit)?;
            } else {
                let mut stmt = tx.prepare_cached(&format!(
                    "SELECT {columns} FROM messages WHERE mailbox = ?1 ORDER BY uid"
                ))?;
                let mut rows = stmt.query([id_bytes(mailbox.0)])?;
                while let Some(row) = rows.next()? {
                    visit(row)?;
                }
            }
            Ok(out)
        })
        .await
    }
}
