//! Rows and records: the conversions between SQLite rows and the model's records, and the
//! small keyed reads and writes of users and mailboxes that many operations share.

use super::*;

pub(super) fn id_bytes(id: RecordId) -> [u8; 12] {
    id.bytes()
}

pub(super) fn record_id(row: &Row, idx: usize) -> rusqlite::Result<RecordId> {
    // Borrowed from the row: no allocation per message on the metadata scans.
    let bytes = row.get_ref(idx)?.as_blob()?;
    let arr: [u8; 12] = bytes.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Blob,
            "record id is not 12 bytes".into(),
        )
    })?;
    Ok(RecordId::from_bytes(arr))
}

/// Flags as one space-separated string (keywords are atoms, so never contain a space).
pub(super) fn flags_to_text(flags: &Flags) -> String {
    flags
        .iter()
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn flags_from_text(text: &str) -> Flags {
    text.split(' ')
        .filter(|s| !s.is_empty())
        .map(Flag::parse)
        .collect()
}

/// The flags column of a row, parsed where it lies (no string copied per message).
pub(super) fn flags_at(row: &Row, idx: usize) -> rusqlite::Result<Flags> {
    Ok(flags_from_text(row.get_ref(idx)?.as_str()?))
}

pub(super) fn special_use_to_text(u: Option<SpecialUse>) -> Option<&'static str> {
    u.map(SpecialUse::attribute)
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> TxResult<String> {
    serde_json::to_string(value)
        .map_err(|e| Fail::Store(StorageError::new(StorageErrorKind::Internal, e).into()))
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> TxResult<T> {
    serde_json::from_str(text)
        .map_err(|e| Fail::Store(StorageError::new(StorageErrorKind::Corrupt, e).into()))
}

pub(super) const USER_COLUMNS: &str = "id, username, unameview, password, quota, storage_used, disabled, \
     created, suspended, disabled_scopes";

pub(super) fn user_from_row(row: &Row) -> rusqlite::Result<UserRecord> {
    let quota: Option<i64> = row.get(4)?;
    Ok(UserRecord {
        user: User {
            id: UserId(record_id(row, 0)?),
            username: row.get(1)?,
            quota: quota.map(|q| q as u64),
            storage_used: row.get::<_, i64>(5)? as u64,
            disabled: row.get(6)?,
            created: row.get(7)?,
            suspended: row.get(8)?,
            disabled_scopes: scopes_from_text(&row.get::<_, String>(9)?).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(9, rusqlite::types::Type::Text, e.into())
            })?,
        },
        unameview: row.get(2)?,
        password_hash: row.get(3)?,
    })
}

pub(super) const MAILBOX_COLUMNS: &str = "id, user, path, special_use, uidvalidity, uidnext, highest_modseq, \
     subscribed, hidden, retention";

pub(super) fn mailbox_from_row(row: &Row) -> rusqlite::Result<Mailbox> {
    let special_use: Option<String> = row.get(3)?;
    Ok(Mailbox {
        id: MailboxId(record_id(row, 0)?),
        user: UserId(record_id(row, 1)?),
        path: row.get(2)?,
        special_use: special_use.as_deref().and_then(SpecialUse::from_attribute),
        uidvalidity: row.get::<_, i64>(4)? as u32,
        uidnext: row.get::<_, i64>(5)? as u32,
        highest_modseq: row.get::<_, i64>(6)? as u64,
        subscribed: row.get(7)?,
        hidden: row.get(8)?,
        retention: row.get::<_, Option<i64>>(9)?.map(|ms| ms as u64),
    })
}

pub(super) fn address_from_row(row: &Row) -> rusqlite::Result<Address> {
    Ok(Address {
        id: AddressId(record_id(row, 0)?),
        user: UserId(record_id(row, 1)?),
        address: row.get(2)?,
        addrview: row.get(3)?,
    })
}

// ---- helpers used inside transactions ----

pub(super) fn get_mailbox(tx: &Connection, mailbox: MailboxId) -> TxResult<Mailbox> {
    tx.prepare_cached(&format!(
        "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE id = ?1"
    ))?
    .query_row([id_bytes(mailbox.0)], mailbox_from_row)
    .optional()?
    .ok_or_else(|| MailboxError::NotFound.into())
}

pub(super) fn read_recent_marker(tx: &Connection, mailbox: MailboxId) -> TxResult<Uid> {
    tx.prepare_cached("SELECT recent_uid FROM mailboxes WHERE id = ?1")?
        .query_row([id_bytes(mailbox.0)], |r| r.get(0))
        .optional()?
        .ok_or_else(|| MailboxError::NotFound.into())
}

pub(super) fn get_user(tx: &Connection, user: UserId) -> TxResult<UserRecord> {
    tx.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?
        .query_row([id_bytes(user.0)], user_from_row)
        .optional()?
        .ok_or_else(|| UserError::NotFound.into())
}

/// Next UIDVALIDITY: seconds-based, but always above every value handed out before, so a
/// path never gets a UIDVALIDITY it had already.
fn next_uidvalidity(tx: &Connection) -> TxResult<u32> {
    let last: i64 = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'uidvalidity'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let next = (last + 1).max(now()).clamp(1, u32::MAX as i64);
    if next <= last {
        return Err(Error::from(Defect::Exhausted("UIDVALIDITY space")).into());
    }
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('uidvalidity', ?1)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [next],
    )?;
    Ok(next as u32)
}

pub(super) fn bump_counter(tx: &Connection, key: &str, by: i64) -> TxResult<()> {
    tx.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
    )?
    .execute(params![key, by])?;
    Ok(())
}

pub(super) fn insert_mailbox(tx: &Connection, user: UserId, new: &NewMailbox) -> TxResult<Mailbox> {
    let mailbox = Mailbox {
        id: MailboxId::new(),
        user,
        path: new.path.clone(),
        special_use: new.special_use,
        uidvalidity: next_uidvalidity(tx)?,
        uidnext: 1,
        highest_modseq: 0,
        subscribed: new.subscribed,
        hidden: new.settings.hidden,
        retention: new.settings.retention,
    };
    tx.execute(
        "INSERT INTO mailboxes (id, user, path, special_use, uidvalidity, uidnext,
             highest_modseq, subscribed, hidden, retention)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            id_bytes(mailbox.id.0),
            id_bytes(user.0),
            mailbox.path,
            special_use_to_text(mailbox.special_use),
            mailbox.uidvalidity,
            mailbox.uidnext,
            mailbox.highest_modseq as i64,
            mailbox.subscribed,
            mailbox.hidden,
            mailbox.retention.map(|ms| ms as i64)
        ],
    )?;
    Ok(mailbox)
}

pub(super) fn path_exists(tx: &Connection, user: UserId, path: &str) -> TxResult<bool> {
    Ok(tx
        .query_row(
            "SELECT 1 FROM mailboxes WHERE user = ?1 AND path = ?2",
            params![id_bytes(user.0), path],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

pub(super) fn create_missing(
    tx: &Connection,
    user: UserId,
    paths: &[String],
    subscribed: bool,
) -> TxResult<()> {
    for path in paths {
        if !path_exists(tx, user, path)? {
            insert_mailbox(
                tx,
                user,
                &NewMailbox {
                    path: path.clone(),
                    special_use: None,
                    subscribed,
                    settings: MailboxSettings::default(),
                },
            )?;
        }
    }
    Ok(())
}
