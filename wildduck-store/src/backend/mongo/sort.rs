//! SORT and THREAD rows on MongoDB: the message documents' dates and size, with the envelope
//! and the header text projected only when the criteria read them.

use super::*;

/// Beyond this many UID ranges one scan of the mailbox is cheaper than a query per range.
const MAX_RANGE_QUERIES: usize = 32;

#[async_trait]
impl SortData for MongoBackend {
    async fn sort_rows(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        needs: SortNeeds,
    ) -> Result<Vec<SortRow>> {
        self.mailbox_doc(mailbox).await?;
        let mut projection = doc! {"uid": 1, "idate": 1, "hdate": 1, "size": 1};
        if needs.envelope {
            projection.insert("envelope", 1);
        }
        if needs.headers {
            projection.insert("search_headers", 1);
        }
        let docs: Vec<Document> = if uids.ranges().len() <= MAX_RANGE_QUERIES {
            find_in_set(&self.raw_messages(), mailbox, uids, Some(projection)).await?
        } else {
            self.raw_messages()
                .find(doc! {"mailbox": id_is(mailbox), "expunged": Bson::Null})
                .projection(projection)
                .sort(doc! {"uid": 1})
                .all()
                .await?
        };
        docs.into_iter()
            .filter(|m| int_field(m, "uid").is_ok_and(|uid| uids.contains(uid as Uid)))
            .map(|mut m| {
                let envelope = m
                    .remove("envelope")
                    .and_then(|e| e.as_document().cloned())
                    .map(from_document::<Envelope>)
                    .transpose()?;
                Ok(SortRow {
                    uid: int_field(&m, "uid")? as Uid,
                    internal_date: int_field(&m, "idate")?,
                    header_date: optional_int(&m, "hdate"),
                    size: int_field(&m, "size")?.max(0) as u64,
                    envelope,
                    headers: m.get_str("search_headers").ok().map(str::to_string),
                })
            })
            .collect()
    }
}
