//! Runs the backend conformance suite (`wildduck_store::testkit`) on the MongoDB backend with
//! the Redis notifier, each check on a fresh database (see `servers` for where they run).
#![cfg(all(feature = "mongodb", feature = "redis"))]

mod servers;

use wildduck_store::testkit::CHECKS;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_backend_conforms() {
    for check in CHECKS {
        let store = servers::fresh_store().await;
        eprintln!("conformance on MongoDB: {}", check.name);
        (check.run)(store).await;
    }
}
