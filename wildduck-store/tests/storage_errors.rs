//! What the SQLite engine's failures become: a storage error whose kind tells the caller
//! whether to retry, with SQLite's own error kept as its source.

#[path = "faults/mod.rs"]
mod faults;

use wildduck_store::*;

async fn store_with_user(dir: &std::path::Path) -> (Store, User) {
    let store = Store::open_sqlite(dir, StoreConfig::default())
        .await
        .expect("open store");
    let user = store
        .create_user(NewUser {
            username: "alice".into(),
            password: "correct horse".into(),
            ..NewUser::default()
        })
        .await
        .expect("create user");
    (store, user)
}

fn storage_failure(error: &Error) -> &StorageError {
    match error {
        Error::Storage(failure) => failure,
        other => panic!("not a storage error: {other:?}"),
    }
}

#[tokio::test]
async fn writes_to_a_lost_database_file_are_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let (store, user) = store_with_user(dir.path()).await;
    assert!(faults::sever_sqlite_files(dir.path()) > 0);

    let error = store
        .create_mailbox(user.id, "Projects", None)
        .await
        .expect_err("the database files are gone");
    let failure = storage_failure(&error);
    assert_eq!(failure.kind(), StorageErrorKind::Unavailable, "{failure}");
    assert!(error.is_temporary());
    let source = std::error::Error::source(failure).expect("a source");
    let sqlite = source
        .downcast_ref::<rusqlite::Error>()
        .expect("SQLite's error is kept");
    assert_eq!(
        sqlite.sqlite_error_code(),
        Some(rusqlite::ErrorCode::SystemIoFailure),
        "{sqlite}"
    );
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("store.sqlite"), vec![0x5a; 8192]).unwrap();
    let error = Store::open_sqlite(dir.path(), StoreConfig::default())
        .await
        .err()
        .expect("garbage is no store");
    assert_eq!(storage_failure(&error).kind(), StorageErrorKind::Corrupt);
    assert!(!error.is_temporary());
}
