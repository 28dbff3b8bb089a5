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
            change_at(r, 0)
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

/// A change from the columns `modseq, uid, kind, flags` starting at `first`.
fn change_at(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Change> {
    let kind = match r.get::<_, i64>(first + 2)? {
        KIND_EXISTS => ChangeKind::Exists,
        KIND_EXPUNGE => ChangeKind::Expunge,
        _ => ChangeKind::Flags(flags_from_text(
            &r.get::<_, Option<String>>(first + 3)?.unwrap_or_default(),
        )),
    };
    Ok(Change {
        modseq: r.get::<_, i64>(first)? as u64,
        uid: r.get(first + 1)?,
        kind,
    })
}

/// A user-wide journal id: the second a row was written, then its rowid, so ids grow with
/// the single writer's order and keep growing after a trim lets SQLite reuse low rowids.
fn journal_id(created: i64, rowid: i64) -> JournalId {
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&(created.clamp(0, u32::MAX as i64) as u32).to_be_bytes());
    bytes[4..].copy_from_slice(&(rowid.max(0) as u64).to_be_bytes());
    JournalId(RecordId::from_bytes(bytes))
}

fn journal_id_parts(id: JournalId) -> (i64, i64) {
    let bytes = id.0.bytes();
    let created = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes"));
    let rowid = u64::from_be_bytes(bytes[4..].try_into().expect("8 bytes"));
    (created as i64, rowid.min(i64::MAX as u64) as i64)
}

/// The journal of every mailbox of `user` after `after`, in id order, at most `limit` rows.
pub(super) fn user_changes_in_journal(
    tx: &Connection,
    user: UserId,
    after: Option<JournalId>,
    limit: usize,
) -> TxResult<Vec<UserChange>> {
    let (created, rowid) = after.map_or((-1, -1), journal_id_parts);
    let mut stmt = tx.prepare_cached(
        "SELECT j.created, j.rowid, j.mailbox, j.modseq, j.uid, j.kind, j.flags
         FROM journal j JOIN mailboxes m ON m.id = j.mailbox
         WHERE m.user = ?1 AND j.created >= ?2 AND (j.created > ?2 OR j.rowid > ?3)
         ORDER BY j.created, j.rowid LIMIT ?4",
    )?;
    let changes = stmt
        .query_map(
            params![
                id_bytes(user.0),
                created,
                rowid,
                limit.min(i64::MAX as usize) as i64
            ],
            |r| {
                Ok(UserChange {
                    id: journal_id(r.get(0)?, r.get(1)?),
                    mailbox: MailboxId(record_id(r, 2)?),
                    change: change_at(r, 3)?,
                })
            },
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(changes)
}

/// The id of the newest journal row of `user`'s mailboxes.
pub(super) fn user_journal_head(tx: &Connection, user: UserId) -> TxResult<Option<JournalId>> {
    Ok(tx
        .prepare_cached(
            "SELECT j.created, j.rowid FROM journal j JOIN mailboxes m ON m.id = j.mailbox
             WHERE m.user = ?1 ORDER BY j.created DESC, j.rowid DESC LIMIT 1",
        )?
        .query_row([id_bytes(user.0)], |r| Ok(journal_id(r.get(0)?, r.get(1)?)))
        .optional()?)
}
