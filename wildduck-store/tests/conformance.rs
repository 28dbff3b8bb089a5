//! Runs the backend conformance suite (`wildduck_store::testkit`) on the SQLite backend, each
//! check on a fresh store in its own temporary directory.

use wildduck_store::testkit::CHECKS;
use wildduck_store::{Store, StoreConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backend_conforms() {
    for check in CHECKS {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open_sqlite(dir.path(), StoreConfig::default())
            .await
            .expect("open store");
        eprintln!("conformance: {}", check.name);
        (check.run)(store).await;
    }
}
