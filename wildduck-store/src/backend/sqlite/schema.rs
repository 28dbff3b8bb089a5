//! The schema: the tables of a new store (`SCHEMA`) and the versioned steps (`MIGRATIONS`,
//! counted by `PRAGMA user_version`) an older store is brought up with on open.

use super::*;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    id BLOB PRIMARY KEY,
    username TEXT NOT NULL,
    unameview TEXT NOT NULL UNIQUE,
    password TEXT NOT NULL,
    quota INTEGER,
    storage_used INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS addresses (
    id BLOB PRIMARY KEY,
    user BLOB NOT NULL,
    address TEXT NOT NULL,
    addrview TEXT NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS addresses_user ON addresses(user);
CREATE TABLE IF NOT EXISTS mailboxes (
    id BLOB PRIMARY KEY,
    user BLOB NOT NULL,
    path TEXT NOT NULL,
    special_use TEXT,
    uidvalidity INTEGER NOT NULL,
    uidnext INTEGER NOT NULL,
    highest_modseq INTEGER NOT NULL,
    journal_floor INTEGER NOT NULL DEFAULT 0,
    subscribed INTEGER NOT NULL,
    UNIQUE(user, path)
);
CREATE TABLE IF NOT EXISTS messages (
    id BLOB PRIMARY KEY,
    mailbox BLOB NOT NULL,
    user BLOB NOT NULL,
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    flags TEXT NOT NULL,
    seen INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    idate INTEGER NOT NULL,
    hdate INTEGER,
    size INTEGER NOT NULL,
    msgid TEXT,
    subject TEXT,
    envelope TEXT NOT NULL,
    bodystructure TEXT NOT NULL,
    layout BLOB NOT NULL,
    search_headers TEXT NOT NULL,
    search_body TEXT NOT NULL,
    UNIQUE(mailbox, uid)
);
CREATE INDEX IF NOT EXISTS messages_user ON messages(user);
-- Covers mailbox_status (count, unseen, size) without reading message rows.
CREATE INDEX IF NOT EXISTS messages_status ON messages(mailbox, seen, size);
CREATE TABLE IF NOT EXISTS message_blobs (
    message BLOB NOT NULL,
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL,
    PRIMARY KEY(message, seq)
);
CREATE INDEX IF NOT EXISTS message_blobs_hash ON message_blobs(hash);
CREATE TABLE IF NOT EXISTS blobs (
    hash BLOB PRIMARY KEY,
    refcount INTEGER NOT NULL,
    raw_len INTEGER NOT NULL,
    stored_len INTEGER NOT NULL,
    codec INTEGER NOT NULL,
    data BLOB NOT NULL,
    unreferenced_since INTEGER
);
CREATE INDEX IF NOT EXISTS blobs_unreferenced ON blobs(unreferenced_since)
    WHERE unreferenced_since IS NOT NULL;
CREATE TABLE IF NOT EXISTS journal (
    mailbox BLOB NOT NULL,
    modseq INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    flags TEXT,
    created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_mailbox ON journal(mailbox, modseq);
CREATE INDEX IF NOT EXISTS journal_created ON journal(created);
CREATE TABLE IF NOT EXISTS outbound (
    id BLOB PRIMARY KEY,
    next_attempt INTEGER NOT NULL,
    claimed_until INTEGER NOT NULL,
    lease BLOB,
    entry TEXT NOT NULL,
    raw BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbound_due ON outbound(next_attempt);
"#;

/// Steps that bring a store made by an older version up to date, in order. `PRAGMA
/// user_version` counts the steps applied; a new store runs them all after `SCHEMA`.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the per-message columns SELECT and FETCH FLAGS read, in one narrow index, so a scan of
    // a mailbox reads only this index and never the wide rows (envelope, body structure,
    // layout, search text).
    "CREATE INDEX IF NOT EXISTS messages_meta
         ON messages(mailbox, uid, modseq, flags, idate, hdate, size, id);",
    // 2: the decoded header text in UID order, so SEARCH on headers (SUBJECT, FROM, HEADER)
    // reads this index and not the wide rows, whose header text often sits on an overflow
    // page behind envelope and body structure.
    "CREATE INDEX IF NOT EXISTS messages_search_headers
         ON messages(mailbox, uid, search_headers);",
    // 3: per-mailbox counts for STATUS, kept by triggers on every write of a message row
    // (no code path can forget them), so STATUS no longer counts rows (216 ms for a 1M-message
    // account before). An update that leaves mailbox, \Seen and size alone (most flag
    // changes) fires nothing.
    "ALTER TABLE mailboxes ADD COLUMN message_count INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE mailboxes ADD COLUMN unseen_count INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE mailboxes ADD COLUMN message_bytes INTEGER NOT NULL DEFAULT 0;
     UPDATE mailboxes SET
         message_count = (SELECT count(*) FROM messages m WHERE m.mailbox = mailboxes.id),
         unseen_count = (SELECT coalesce(sum(1 - seen), 0) FROM messages m
                         WHERE m.mailbox = mailboxes.id),
         message_bytes = (SELECT coalesce(sum(size), 0) FROM messages m
                          WHERE m.mailbox = mailboxes.id);
     CREATE TRIGGER messages_counted_in AFTER INSERT ON messages BEGIN
         UPDATE mailboxes SET message_count = message_count + 1,
             unseen_count = unseen_count + 1 - NEW.seen, message_bytes = message_bytes + NEW.size
         WHERE id = NEW.mailbox;
     END;
     CREATE TRIGGER messages_counted_out AFTER DELETE ON messages BEGIN
         UPDATE mailboxes SET message_count = message_count - 1,
             unseen_count = unseen_count - 1 + OLD.seen, message_bytes = message_bytes - OLD.size
         WHERE id = OLD.mailbox;
     END;
     CREATE TRIGGER messages_counted_again AFTER UPDATE OF mailbox, seen, size ON messages
     WHEN OLD.mailbox != NEW.mailbox OR OLD.seen != NEW.seen OR OLD.size != NEW.size BEGIN
         UPDATE mailboxes SET message_count = message_count - 1,
             unseen_count = unseen_count - 1 + OLD.seen, message_bytes = message_bytes - OLD.size
         WHERE id = OLD.mailbox;
         UPDATE mailboxes SET message_count = message_count + 1,
             unseen_count = unseen_count + 1 - NEW.seen, message_bytes = message_bytes + NEW.size
         WHERE id = NEW.mailbox;
     END;",
    // 4: account states and protocol scopes (issue 22), and application-specific passwords,
    // found at login by (user, selector) so only a few hashes are verified.
    "ALTER TABLE users ADD COLUMN suspended INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE users ADD COLUMN disabled_scopes TEXT NOT NULL DEFAULT '';
     CREATE TABLE asps (
         id BLOB PRIMARY KEY,
         user BLOB NOT NULL,
         selector TEXT NOT NULL,
         password TEXT NOT NULL,
         description TEXT NOT NULL,
         scopes TEXT NOT NULL,
         ttl INTEGER,
         expires INTEGER,
         created INTEGER NOT NULL,
         used INTEGER,
         used_scope TEXT,
         used_ip TEXT
     );
     CREATE INDEX asps_user ON asps(user, selector);",
    // 5: the recent marker, the highest UID a session has taken as \Recent (RFC 3501 §2.3.2).
    "ALTER TABLE mailboxes ADD COLUMN recent_uid INTEGER NOT NULL DEFAULT 0;",
    // 6: mailbox `hidden` and `retention` (ms), a message's expiry (seconds; set on arrival
    // in a mailbox with retention, or by the API), and the users' stored files (one blob each).
    "ALTER TABLE mailboxes ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE mailboxes ADD COLUMN retention INTEGER;
     ALTER TABLE messages ADD COLUMN expires INTEGER;
     CREATE INDEX messages_expires ON messages(expires) WHERE expires IS NOT NULL;
     CREATE TABLE stored_files (
         id BLOB PRIMARY KEY,
         user BLOB NOT NULL,
         filename TEXT NOT NULL,
         content_type TEXT NOT NULL,
         cid TEXT,
         size INTEGER NOT NULL,
         md5 TEXT NOT NULL,
         created INTEGER NOT NULL,
         hash BLOB NOT NULL
     );
     CREATE INDEX stored_files_user ON stored_files(user, filename);
     CREATE INDEX stored_files_hash ON stored_files(hash);",
    // 7: users' delivery filters and autoreplies, each record as JSON, and the
    // per-sender record of autoreplies sent.
    "CREATE TABLE filters (
         id BLOB PRIMARY KEY,
         user BLOB NOT NULL,
         filter TEXT NOT NULL
     );
     CREATE INDEX filters_user ON filters(user, id);
     CREATE TABLE autoreplies (
         user BLOB PRIMARY KEY,
         autoreply TEXT NOT NULL
     );
     CREATE TABLE autoreplies_sent (
         user BLOB NOT NULL,
         sender TEXT NOT NULL,
         sent INTEGER NOT NULL,
         PRIMARY KEY (user, sender)
     );",
    // 8: subscriptions that outlived their mailbox (`Subscriptions`), gone with their user.
    "CREATE TABLE dangling_subscriptions (
         user BLOB NOT NULL,
         path TEXT NOT NULL,
         PRIMARY KEY (user, path)
     ) WITHOUT ROWID;
     CREATE TRIGGER dangling_subscriptions_of_deleted_user AFTER DELETE ON users
     BEGIN DELETE FROM dangling_subscriptions WHERE user = OLD.id; END;",
    // 9: operator records (domain aliases, domain access, DKIM keys, certificates), unique
    // by (kind, key); see `Registry`.
    "CREATE TABLE registry (
         id BLOB PRIMARY KEY,
         kind TEXT NOT NULL,
         key TEXT NOT NULL,
         body TEXT NOT NULL,
         UNIQUE (kind, key)
     );",
    // 10: what an account keeps beside login and mail (`crate::profiles`): the user's profile
    // and temporary password, the details of an address (both go with their row, by
    // trigger), and forwarded addresses, whose addrview no user's address may also have.
    "CREATE TABLE user_profiles (
         user BLOB PRIMARY KEY,
         profile TEXT NOT NULL DEFAULT '{}',
         temp_password TEXT
     );
     CREATE TABLE address_details (
         address BLOB PRIMARY KEY,
         details TEXT NOT NULL
     );
     CREATE TABLE forwarded_addresses (
         id BLOB PRIMARY KEY,
         addrview TEXT NOT NULL UNIQUE,
         record TEXT NOT NULL
     );
     CREATE TRIGGER users_profile_gone AFTER DELETE ON users BEGIN
         DELETE FROM user_profiles WHERE user = OLD.id;
     END;
     CREATE TRIGGER addresses_details_gone AFTER DELETE ON addresses BEGIN
         DELETE FROM address_details WHERE address = OLD.id;
     END;",
    // 11: the address register (`crate::addressregister`), one entry per (user, addrview),
    // gone with its user.
    "CREATE TABLE address_register (
         id BLOB PRIMARY KEY,
         user BLOB NOT NULL,
         addrview TEXT NOT NULL,
         address TEXT NOT NULL,
         name TEXT,
         disabled INTEGER NOT NULL DEFAULT 0,
         updated INTEGER NOT NULL,
         UNIQUE (user, addrview)
     );
     CREATE TRIGGER address_register_of_deleted_user AFTER DELETE ON users
     BEGIN DELETE FROM address_register WHERE user = OLD.id; END;",
    // 12: mailboxes that keep what arrives encrypted (`crate::encryption`).
    "ALTER TABLE mailboxes ADD COLUMN encrypt_messages INTEGER NOT NULL DEFAULT 0;",
    // 13: TOTP two-factor state (`TwoFactor`): the sealed seed, enabled, the last step used;
    // gone with its user.
    "CREATE TABLE totp (
         user BLOB PRIMARY KEY,
         sealed_seed BLOB NOT NULL,
         enabled INTEGER NOT NULL,
         last_step INTEGER
     );
     CREATE TRIGGER users_totp_gone AFTER DELETE ON users BEGIN
         DELETE FROM totp WHERE user = OLD.id;
     END;",
    // 14: the keywords a mailbox has had (`MailboxKeywords`), gone with their mailbox.
    "CREATE TABLE mailbox_keywords (
         mailbox BLOB NOT NULL,
         keyword TEXT NOT NULL,
         PRIMARY KEY (mailbox, keyword)
     ) WITHOUT ROWID;
     CREATE TRIGGER mailboxes_keywords_gone AFTER DELETE ON mailboxes BEGIN
         DELETE FROM mailbox_keywords WHERE mailbox = OLD.id;
     END;",
    // 15: the auth log (`AuthLog`): each event whole as JSON, found by user and id, swept
    // by expiry.
    "CREATE TABLE authlog (
         id BLOB PRIMARY KEY,
         user BLOB,
         expires INTEGER NOT NULL,
         event TEXT NOT NULL
     );
     CREATE INDEX authlog_user ON authlog(user, id);
     CREATE INDEX authlog_expires ON authlog(expires);",
    // 16: the API's user access tokens (`AccessTokens`), by the SHA-256 of the token; gone
    // with their user.
    "CREATE TABLE access_tokens (
         digest TEXT PRIMARY KEY,
         user BLOB NOT NULL,
         ttl INTEGER NOT NULL,
         expires INTEGER NOT NULL
     );
     CREATE INDEX access_tokens_user ON access_tokens(user);
     CREATE INDEX access_tokens_expires ON access_tokens(expires);
     CREATE TRIGGER users_access_tokens_gone AFTER DELETE ON users BEGIN
         DELETE FROM access_tokens WHERE user = OLD.id;
     END;",
    // 17: the id a message had when first stored, kept by its copies (IMAP EMAILID, RFC
    // 8474); NULL means the message's own id, so existing rows need no rewrite. The narrow
    // index covers it, so FETCH EMAILID still reads no wide row.
    "ALTER TABLE messages ADD COLUMN email_id BLOB;
     DROP INDEX IF EXISTS messages_meta;
     CREATE INDEX messages_meta
         ON messages(mailbox, uid, modseq, flags, idate, hdate, size, id, email_id);",
    // 18: when a message was saved into its mailbox (IMAP SAVEDATE, RFC 8514); NULL for
    // rows stored before, which FETCH answers NIL. In the narrow index, as email_id.
    "ALTER TABLE messages ADD COLUMN saved INTEGER;
     DROP INDEX IF EXISTS messages_meta;
     CREATE INDEX messages_meta
         ON messages(mailbox, uid, modseq, flags, idate, hdate, size, id, email_id, saved);",
    // 19: the event log (`EventLog`): `seq` is the order of commits (one writer), `pending`
    // marks events not yet handed out to webhooks; a delivery per (event, webhook) with its
    // attempts, next attempt and lease, gone with its event.
    "CREATE TABLE events (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         id BLOB NOT NULL UNIQUE,
         kind TEXT NOT NULL,
         user BLOB,
         created INTEGER NOT NULL,
         data TEXT NOT NULL,
         pending INTEGER NOT NULL DEFAULT 1
     );
     CREATE INDEX events_pending ON events(seq) WHERE pending = 1;
     CREATE INDEX events_created ON events(created);
     CREATE TABLE event_deliveries (
         event BLOB NOT NULL,
         webhook BLOB NOT NULL,
         attempts INTEGER NOT NULL DEFAULT 0,
         next_attempt INTEGER NOT NULL,
         lease BLOB,
         lease_until INTEGER NOT NULL DEFAULT 0,
         PRIMARY KEY (event, webhook)
     );
     CREATE INDEX event_deliveries_due ON event_deliveries(next_attempt);
     CREATE TRIGGER events_deliveries_gone AFTER DELETE ON events BEGIN
         DELETE FROM event_deliveries WHERE event = OLD.id;
     END;",
];

/// Creates the tables of a new store and applies the migrations an existing one lacks, in one
/// transaction (a concurrent opener waits, then finds them applied).
pub(super) fn prepare_schema(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(SCHEMA)?;
    let applied: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let applied = usize::try_from(applied).unwrap_or(0);
    for step in MIGRATIONS.iter().skip(applied) {
        tx.execute_batch(step)?;
    }
    if applied < MIGRATIONS.len() {
        tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
    }
    tx.commit()
}
