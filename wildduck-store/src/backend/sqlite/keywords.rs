//! The keywords a mailbox has had on SQLite (see [`MailboxKeywords`]): the
//! `mailbox_keywords` table, keyed by (mailbox, keyword), gone with its mailbox.

use super::*;

#[async_trait]
impl MailboxKeywords for SqliteBackend {
    async fn mailbox_keywords(&self, mailbox: MailboxId) -> Result<BTreeSet<String>> {
        self.read_small(move |tx| {
            let mut stmt =
                tx.prepare_cached("SELECT keyword FROM mailbox_keywords WHERE mailbox = ?1")?;
            let keywords = stmt
                .query_map([id_bytes(mailbox.0)], |r| r.get(0))?
                .collect::<rusqlite::Result<BTreeSet<String>>>()?;
            Ok(keywords)
        })
        .await
    }

    async fn remember_keywords(
        &self,
        mailbox: MailboxId,
        keywords: &BTreeSet<String>,
    ) -> Result<()> {
        let keywords = keywords.clone();
        self.write(move |tx| {
            // Only for a mailbox that exists: the trigger that forgets a deleted mailbox's
            // keywords has already run.
            let mut stmt = tx.prepare_cached(
                "INSERT OR IGNORE INTO mailbox_keywords (mailbox, keyword)
                 SELECT id, ?2 FROM mailboxes WHERE id = ?1",
            )?;
            for keyword in &keywords {
                stmt.execute(params![id_bytes(mailbox.0), keyword])?;
            }
            Ok(())
        })
        .await
    }
}
