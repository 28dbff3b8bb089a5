//! The change journal: one row per change (EXISTS, EXPUNGE, FLAGS) keyed by MODSEQ, the
//! mailbox counters (UIDNEXT, HIGHESTMODSEQ) written in the same unit, and reading it back.

use super::*;

pub(super) fn journal(
    tx: &Connection,
    mailbox: MailboxId,
    modseq: ModSeq,
    uid: Uid,
    kind: i64,
    flags: Option<&Flags>,
) -> TxResult<()> {
    tx.prepare_cached(
        "INSERT INTO journal (mailbox, modseq, uid, kind, flags, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        id_bytes(mailbox.0),
        modseq as i64,
        uid,
        kind,
        flags.map(flags_to_text),
        now()
    ])?;
    Ok(())
}

pub(super) fn set_mailbox_counters(
    tx: &Connection,
    mailbox: MailboxId,
    uidnext: Uid,
    highest_modseq: ModSeq,
) -> TxResult<()> {
    tx.prepare_cached("UPDATE mailboxes SET uidnext = ?2, highest_modseq = ?3 WHERE id = ?1")?
        .execute(params![id_bytes(mailbox.0), uidnext, highest_modseq as i64])?;
    Ok(())
}

/// The journal of `mailbox` after `modseq`; None when `limit` is given and there are more
/// changes than that.
pub(super) fn changes_in_journal(
    tx: &Connection,
    mailbox: MailboxId,
    modseq: ModSeq,
    limit: Option<usize>,
) -> TxResult<Option<Changes>> {
    let (highest_modseq, floor): (i64, i64) = tx
        .prepare_cached("SELECT highest_modseq, journal_floor FROM mailboxes WHERE id = ?1")?
        .query_row([id_bytes(mailbox.0)], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or(MailboxError::NotFound)?;
    let mut stmt = tx.prepare_cached(
        "SELECT modseq, uid, kind, flags FROM journal WHERE mailbox = ?1 AND modseq > ?2
         ORDER BY modseq, uid LIMIT ?3",
    )?;
    // One row past the limit tells that there are more; -1 is SQLite's "no limit".
    let rows = limit.map_or(-1, |n| n as i64 + 1);
    let changes = stmt
        .query_map(params![id_bytes(mailbox.0), modseq as i64, rows], |r| {
            let kind = match r.get::<_, i64>(2)? {
                KIND_EXISTS => ChangeKind::Exists,
                KIND_EXPUNGE => ChangeKind::Expunge,
                _ => ChangeKind::Flags(flags_from_text(
                    &r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                )),
            };
            Ok(Change {
                modseq: r.get::<_, i64>(0)? as u64,
                uid: r.get(1)?,
                kind,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if limit.is_some_and(|n| changes.len() > n) {
        return Ok(None);
    }
    Ok(Some(Changes {
        changes,
        highest_modseq: highest_modseq as u64,
        truncated: (modseq as i64) < floor,
    }))
}
