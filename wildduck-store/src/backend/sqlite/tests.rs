use rusqlite::types::Value;

use crate::model::*;
use crate::store::{Store, StoreConfig};

/// Opens the same database file behind the store's back, to age or corrupt records.
fn raw(dir: &std::path::Path) -> rusqlite::Connection {
    super::open_connection(&dir.join("store.sqlite"), crate::telemetry::Access::Write).unwrap()
}

async fn store_with_mail(dir: &std::path::Path) -> (Store, User, Mailbox) {
    let store = Store::open_sqlite(dir, StoreConfig::default())
        .await
        .unwrap();
    let user = store
        .create_user(NewUser {
            username: "drift".into(),
            password: "pw".into(),
            ..NewUser::default()
        })
        .await
        .unwrap();
    let inbox = store.get_mailbox(user.id, "INBOX").await.unwrap();
    for n in 0..3 {
        // Bodies big enough to become one leaf blob each.
        let raw = format!(
            "Subject: {n}\r\n\r\n{}\r\n",
            format!("body {n} ").repeat(200)
        );
        store
            .append(inbox.id, raw.as_bytes(), &Flags::new(), None)
            .await
            .unwrap();
    }
    (store, user, inbox)
}

/// The plan SQLite picks for `sql` (the detail column of EXPLAIN QUERY PLAN).
fn plan(db: &rusqlite::Connection, sql: &str) -> String {
    let mut stmt = db.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    // ?1 is a mailbox id, any further ones a UID range.
    stmt.raw_bind_parameter(1, [0u8; 12]).unwrap();
    for index in 2..=stmt.parameter_count() {
        stmt.raw_bind_parameter(index, 1).unwrap();
    }
    let mut rows = stmt.raw_query();
    let mut details = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        details.push(row.get::<_, String>(3).unwrap());
    }
    details.join("; ")
}

#[tokio::test]
async fn flag_scans_read_only_the_meta_index() {
    let dir = tempfile::tempdir().unwrap();
    store_with_mail(dir.path()).await;
    let db = raw(dir.path());
    let covering = "USING COVERING INDEX messages_meta";
    let flags_only = super::in_set_sql(&super::meta_columns(MetaFields::default()));
    assert!(
        plan(&db, &flags_only).contains(covering),
        "{}",
        plan(&db, &flags_only)
    );
    let with_envelope = super::in_set_sql(&super::meta_columns(MetaFields {
        envelope: true,
        body_structure: false,
    }));
    assert!(!plan(&db, &with_envelope).contains(covering));
}

/// A search on flags, dates and sizes is answered by SQL from the meta index; one with a
/// text key reads the rows SQL lets through and leaves the decision to the matcher.
#[tokio::test]
async fn metadata_searches_are_answered_from_the_meta_index() {
    let dir = tempfile::tempdir().unwrap();
    store_with_mail(dir.path()).await;
    let db = raw(dir.path());
    let unseen_and_big = SearchKey::And(vec![
        SearchKey::Flag(Flag::Seen, false),
        SearchKey::Not(Box::new(SearchKey::Smaller(100))),
        SearchKey::Or(
            Box::new(SearchKey::InternalSince(5)),
            Box::new(SearchKey::Uids(UidSet::from_ranges([(1, 2), (7, 9)]))),
        ),
    ]);
    let (sql, exact) = super::search::search_query(&unseen_and_big, &mut vec![Value::Null]);
    assert!(exact, "{sql}");
    assert!(
        plan(&db, &sql).contains("USING COVERING INDEX messages_meta"),
        "{}",
        plan(&db, &sql)
    );
    let subject = SearchKey::And(vec![
        SearchKey::Flag(Flag::Seen, false),
        SearchKey::Header("subject".into(), "x".into()),
    ]);
    let (sql, exact) = super::search::search_query(&subject, &mut vec![Value::Null]);
    assert!(
        !exact && sql.contains("search_headers") && sql.contains("instr"),
        "{sql}"
    ); // A key of header tests alone reads the header index, not the rows.
    let headers_only = SearchKey::Or(
        Box::new(SearchKey::Header("subject".into(), "x".into())),
        Box::new(SearchKey::Not(Box::new(SearchKey::Header(
            "from".into(),
            "".into(),
        )))),
    );
    let (sql, exact) = super::search::search_query(&headers_only, &mut vec![Value::Null]);
    assert!(!exact);
    assert!(
        plan(&db, &sql).contains("USING COVERING INDEX messages_search_headers"),
        "{}",
        plan(&db, &sql)
    );
}

#[tokio::test]
async fn cached_statements_are_not_planned_again_on_reuse() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, _, inbox) = store_with_mail(dir.path()).await;
    let db = raw(dir.path());
    let sql = super::in_set_sql(&super::meta_columns(MetaFields::default()));
    for (first, last) in [(1u32, 1u32), (2, 3), (1, u32::MAX)] {
        let mut stmt = db.prepare_cached(&sql).unwrap();
        let mut rows = stmt
            .query(rusqlite::params![super::id_bytes(inbox.id.0), first, last])
            .unwrap();
        while rows.next().unwrap().is_some() {}
    }
    let stmt = db.prepare_cached(&sql).unwrap();
    assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn small_reads_wait_for_a_reader_when_all_are_busy() {
    use crate::backend::Messages;
    let dir = tempfile::tempdir().unwrap();
    let (store, _, inbox) = store_with_mail(dir.path()).await;
    drop(store);
    let backend = std::sync::Arc::new(super::SqliteBackend::open(dir.path()).await.unwrap());
    let busy: Vec<_> = backend.readers.iter().map(super::lock).collect();
    let one = UidSet::from_ranges([(1, 1)]);
    let (inline, pooled) = {
        let (a, b) = (backend.clone(), backend.clone());
        let one = one.clone();
        (
            tokio::spawn(async move { a.fetch_meta(inbox.id, &one, MetaFields::default()).await }),
            tokio::spawn(async move { b.load_content(inbox.id, 2).await }),
        )
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!inline.is_finished() && !pooled.is_finished());
    drop(busy);
    let metas = inline.await.unwrap().unwrap();
    assert_eq!(metas.iter().map(|m| m.uid).collect::<Vec<_>>(), [1]);
    assert!(!pooled.await.unwrap().unwrap().blobs.is_empty());
    // With the readers free again a small read is answered at once.
    let metas = backend
        .fetch_meta(inbox.id, &one, MetaFields::default())
        .await
        .unwrap();
    assert_eq!(metas.len(), 1);
}

#[tokio::test]
async fn long_journals_are_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, inbox) = store_with_mail(dir.path()).await;
    let start = store.mailbox_status(inbox.id).await.unwrap().highest_modseq;
    let flagged: Flags = [Flag::Flagged].into_iter().collect();
    let one = UidSet::from_ranges([(1, 1)]);
    let toggles = super::INLINE_CHANGES + 6;
    for n in 0..toggles {
        let op = if n % 2 == 0 {
            FlagOp::Add
        } else {
            FlagOp::Remove
        };
        store
            .store_flags(inbox.id, &one, op, &flagged, None)
            .await
            .unwrap();
    }
    let changes = store.changes_since(inbox.id, start).await.unwrap();
    let modseqs: Vec<u64> = changes.changes.iter().map(|c| c.modseq).collect();
    assert_eq!(
        modseqs,
        (start + 1..=start + toggles as u64).collect::<Vec<_>>()
    );
    assert_eq!(changes.highest_modseq, start + toggles as u64);
    // The last few fit the inline read.
    let recent = store.changes_since(inbox.id, start + 6).await.unwrap();
    assert_eq!(recent.changes.len(), super::INLINE_CHANGES);
}

#[tokio::test]
async fn older_store_gains_the_scan_indexes_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, inbox) = store_with_mail(dir.path()).await;
    drop(store);
    let index_count = |db: &rusqlite::Connection| -> i64 {
        db.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index'
             AND name IN ('messages_meta', 'messages_search_headers')",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    // Back to a store as the version before schema versioning left it, then as each
    // step left it: every rollback undoes the newest step first.
    let before_rules = "DROP TABLE filters; DROP TABLE autoreplies; DROP TABLE autoreplies_sent;";
    let before_settings = "DROP INDEX messages_expires; ALTER TABLE messages DROP COLUMN expires;
        ALTER TABLE mailboxes DROP COLUMN hidden; ALTER TABLE mailboxes DROP COLUMN retention;
        DROP TABLE stored_files;";
    let before_subscriptions = "DROP TRIGGER dangling_subscriptions_of_deleted_user;
        DROP TABLE dangling_subscriptions;";
    let before_profiles = "DROP TRIGGER users_profile_gone; DROP TRIGGER addresses_details_gone;
        DROP TABLE user_profiles; DROP TABLE address_details; DROP TABLE forwarded_addresses;";
    let before_recent = "ALTER TABLE mailboxes DROP COLUMN recent_uid;";
    let before_register = "DROP TRIGGER address_register_of_deleted_user;
        DROP TABLE address_register;";
    let before_encryption = "ALTER TABLE mailboxes DROP COLUMN encrypt_messages;";
    let before_totp = "DROP TRIGGER users_totp_gone; DROP TABLE totp;";
    let before_keywords = "DROP TRIGGER mailboxes_keywords_gone; DROP TABLE mailbox_keywords;";
    let before_auth = "DROP TABLE asps; ALTER TABLE users DROP COLUMN suspended;
        ALTER TABLE users DROP COLUMN disabled_scopes;";
    let before_counts = "DROP TRIGGER messages_counted_in; DROP TRIGGER messages_counted_out;
        DROP TRIGGER messages_counted_again; ALTER TABLE mailboxes DROP COLUMN message_count;
        ALTER TABLE mailboxes DROP COLUMN unseen_count;
        ALTER TABLE mailboxes DROP COLUMN message_bytes;";
    for older in [
        format!(
            "{before_counts} DROP INDEX messages_meta; DROP INDEX messages_search_headers; PRAGMA user_version = 0;"
        ),
        format!("{before_counts} DROP INDEX messages_search_headers; PRAGMA user_version = 1;"),
        format!("{before_counts} PRAGMA user_version = 2;"),
        "PRAGMA user_version = 3;".to_string(),
    ]
    .into_iter()
    .map(|older| format!("{before_auth} {older}"))
    .chain(["PRAGMA user_version = 4;".to_string()])
    .map(|older| format!("{before_recent} {older}"))
    .chain(["PRAGMA user_version = 5;".to_string()])
    .map(|older| format!("{before_settings} {older}"))
    .chain(["PRAGMA user_version = 6;".to_string()])
    .map(|older| format!("{before_rules} {older}"))
    .chain(["PRAGMA user_version = 7;".to_string()])
    .map(|older| format!("{before_subscriptions} {older}"))
    .chain(["PRAGMA user_version = 8;".to_string()])
    .map(|older| format!("DROP TABLE registry; {older}"))
    .chain(["PRAGMA user_version = 9;".to_string()])
    .map(|older| format!("{before_profiles} {older}"))
    .chain(["PRAGMA user_version = 10;".to_string()])
    .map(|older| format!("{before_register} {older}"))
    .chain(["PRAGMA user_version = 11;".to_string()])
    .map(|older| format!("{before_encryption} {older}"))
    .chain(["PRAGMA user_version = 12;".to_string()])
    .map(|older| format!("{before_totp} {older}"))
    .chain(["PRAGMA user_version = 13;".to_string()])
    .map(|older| format!("{before_keywords} {older}"))
    .chain(["PRAGMA user_version = 14;".to_string()])
    .map(|older| format!("DROP TABLE authlog; {older}"))
    .chain(["PRAGMA user_version = 15;".to_string()])
    .map(|older| {
        format!("DROP TRIGGER users_access_tokens_gone; DROP TABLE access_tokens; {older}")
    })
    .chain(["PRAGMA user_version = 16;".to_string()])
    .map(|older| {
        format!(
            "DROP INDEX messages_meta; ALTER TABLE messages DROP COLUMN email_id;
             CREATE INDEX messages_meta
                 ON messages(mailbox, uid, modseq, flags, idate, hdate, size, id);
             {older}"
        )
    })
    .chain(["PRAGMA user_version = 17;".to_string()])
    .map(|older| {
        format!(
            "DROP INDEX messages_meta; ALTER TABLE messages DROP COLUMN saved;
             CREATE INDEX messages_meta
                 ON messages(mailbox, uid, modseq, flags, idate, hdate, size, id, email_id);
             {older}"
        )
    })
    .chain(["PRAGMA user_version = 18;".to_string()])
    {
        // Step 19's tables (their indexes and trigger go with them).
        let older = format!("DROP TABLE event_deliveries; DROP TABLE events; {older}");
        let db = raw(dir.path());
        db.execute_batch(&older).unwrap();
        drop(db);
        let store = Store::open_sqlite(dir.path(), StoreConfig::default())
            .await
            .unwrap();
        let db = raw(dir.path());
        let version: i64 = db
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, super::MIGRATIONS.len() as i64);
        assert_eq!(index_count(&db), 2);
        let metas = store
            .fetch_meta(inbox.id, &UidSet::all(), MetaFields::default())
            .await
            .unwrap();
        assert_eq!(metas.iter().map(|m| m.uid).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(metas.iter().all(|m| m.email_id == m.id), "older rows: their own id");
        assert!(metas.iter().all(|m| m.saved.is_none()), "older rows: no save date");
        let subject = SearchKey::Header("subject".into(), "2".into());
        assert_eq!(store.search(inbox.id, &subject).await.unwrap(), [3]);
        let status = store.mailbox_status(inbox.id).await.unwrap();
        assert_eq!((status.messages, status.unseen), (3, 3));
    }
}

#[tokio::test]
async fn mailbox_counts_follow_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let (store, user, inbox) = store_with_mail(dir.path()).await;
    let other = store.get_mailbox(user.id, "Trash").await.unwrap();
    let seen: Flags = [Flag::Seen].into_iter().collect();
    let all = UidSet::all();
    let counted = |db: &rusqlite::Connection, mailbox: MailboxId| -> (u32, u32, u64) {
        db.query_row(
            "SELECT count(*), coalesce(sum(1 - seen), 0), coalesce(sum(size), 0)
             FROM messages WHERE mailbox = ?1",
            [super::id_bytes(mailbox.0)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64)),
        )
        .unwrap()
    };
    let check = |step: &str| {
        let store = store.clone();
        let db = raw(dir.path());
        let step = step.to_string();
        async move {
            for mailbox in [inbox.id, other.id] {
                let status = store.mailbox_status(mailbox).await.unwrap();
                assert_eq!(
                    (status.messages, status.unseen, status.size),
                    counted(&db, mailbox),
                    "after {step}"
                );
            }
        }
    };
    check("append").await;
    store
        .store_flags(
            inbox.id,
            &UidSet::from_ranges([(1, 2)]),
            FlagOp::Add,
            &seen,
            None,
        )
        .await
        .unwrap();
    check("seen").await;
    store.copy(inbox.id, &all, other.id).await.unwrap();
    check("copy").await;
    store
        .move_messages(inbox.id, &UidSet::from_ranges([(2, 2)]), other.id)
        .await
        .unwrap();
    check("move").await;
    store
        .store_flags(other.id, &all, FlagOp::Replace, &Flags::new(), None)
        .await
        .unwrap();
    check("unseen again").await;
    store
        .expunge(other.id, Some(&UidSet::from_ranges([(1, 2)])))
        .await
        .unwrap();
    check("expunge").await;
    assert!(store.mailbox_status(other.id).await.unwrap().messages > 0);
}

#[tokio::test]
async fn verify_reports_and_repairs_drift() {
    let dir = tempfile::tempdir().unwrap();
    let (store, user, inbox) = store_with_mail(dir.path()).await;
    let used = store.get_user(user.id).await.unwrap().storage_used;
    let db = raw(dir.path());
    db.execute_batch(
        "UPDATE users SET storage_used = 5;
         UPDATE blobs SET refcount = refcount + 7;
         UPDATE mailboxes SET uidnext = 2, highest_modseq = 1 WHERE path = 'INBOX';
         UPDATE mailboxes SET unseen_count = 0 WHERE path = 'INBOX';",
    )
    .unwrap();
    let found = store.verify(false).await.unwrap();
    assert!(!found.repaired);
    assert_eq!(found.problems.len(), 1 + 1 + 3 + 2, "{:?}", found.problems);
    assert_eq!(
        store.verify(false).await.unwrap(),
        found,
        "report only changes nothing"
    );

    let fixed = store.verify(true).await.unwrap();
    assert!(fixed.repaired);
    assert_eq!(fixed.problems, found.problems);
    assert!(store.verify(false).await.unwrap().problems.is_empty());
    assert_eq!(store.get_user(user.id).await.unwrap().storage_used, used);
    let snap = store.snapshot(inbox.id).await.unwrap();
    assert_eq!((snap.uidnext, snap.highest_modseq), (4, 3));
    assert_eq!(store.mailbox_status(inbox.id).await.unwrap().unseen, 3);
    let next = store
        .append(inbox.id, b"x", &Flags::new(), None)
        .await
        .unwrap();
    assert_eq!((next.uid, next.modseq), (4, 4));
}

#[tokio::test]
async fn trimmed_journal_reports_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, inbox) = store_with_mail(dir.path()).await;
    assert_eq!(store.trim_journal(3600).await.unwrap(), 0);
    raw(dir.path())
        .execute("UPDATE journal SET created = created - 7200", [])
        .unwrap();
    store
        .store_flags(
            inbox.id,
            &UidSet::all(),
            FlagOp::Add,
            &[Flag::Seen].into(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(store.trim_journal(3600).await.unwrap(), 3);
    let old = store.changes_since(inbox.id, 1).await.unwrap();
    assert!(old.truncated);
    let recent = store.changes_since(inbox.id, 3).await.unwrap();
    assert!(!recent.truncated);
    assert_eq!(recent.changes.len(), 3);
    assert!(recent.changes.iter().all(|c| c.modseq == 4));
}

#[tokio::test]
async fn deferred_flag_commits_are_kept_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _, inbox) = store_with_mail(dir.path()).await;
    let flagged: Flags = [Flag::Flagged].into_iter().collect();
    // Deferred flag commits between synced appends, and last of all.
    store
        .store_flags(
            inbox.id,
            &UidSet::from_ranges([(1, 1)]),
            FlagOp::Add,
            &flagged,
            None,
        )
        .await
        .unwrap();
    store
        .append(
            inbox.id,
            b"Subject: later\r\n\r\nx\r\n",
            &Flags::new(),
            None,
        )
        .await
        .unwrap();
    store
        .store_flags(
            inbox.id,
            &UidSet::from_ranges([(4, 4)]),
            FlagOp::Add,
            &flagged,
            None,
        )
        .await
        .unwrap();
    drop(store);
    // Closing checkpointed the WAL into the database file.
    assert_eq!(
        std::fs::metadata(dir.path().join("store.sqlite-wal"))
            .map(|m| m.len())
            .unwrap_or(0),
        0
    );
    let store = Store::open_sqlite(dir.path(), StoreConfig::default())
        .await
        .unwrap();
    let metas = store
        .fetch_meta(inbox.id, &UidSet::all(), MetaFields::default())
        .await
        .unwrap();
    let flagged_uids: Vec<u32> = metas
        .iter()
        .filter(|m| m.flags.contains(&Flag::Flagged))
        .map(|m| m.uid)
        .collect();
    assert_eq!(flagged_uids, vec![1, 4]);
}

#[test]
fn a_deferred_commit_owes_one_fsync_until_a_synced_one_or_the_sync() {
    use super::{Durability, WalSync};
    let dir = tempfile::tempdir().unwrap();
    let mut sync = WalSync::new(dir.path().join("store.sqlite-wal"));
    assert!(sync.due().is_none());
    sync.committed(Durability::Deferred);
    let due = sync.due().expect("owed");
    // Later deferred commits do not push the deadline back.
    sync.committed(Durability::Deferred);
    assert_eq!(sync.due(), Some(due));
    // A synced commit fsynced the WAL: nothing owed.
    sync.committed(Durability::Synced);
    assert!(sync.due().is_none());
    // The sync itself pays what is owed (no WAL file here: nothing to write).
    sync.committed(Durability::Deferred);
    sync.now();
    assert!(sync.due().is_none());
}

#[test]
fn a_busy_connection_tries_again_until_it_has_waited_its_budget() {
    use super::{BUSY_WAIT, wait_while_busy};
    use crate::telemetry::Access;
    assert!(
        wait_while_busy(Access::Write, 0),
        "the first wait tries again"
    );
    // Sleeps of 1, 2, 4 … then 100 ms: about 300 tries fill the 30 s.
    let budget = BUSY_WAIT.as_millis() as i32 / 100 + 8;
    assert!(
        !wait_while_busy(Access::Write, budget),
        "past the budget it gives up"
    );
    assert!(
        wait_while_busy(Access::Read, budget - 10),
        "just below it waits on"
    );
}
