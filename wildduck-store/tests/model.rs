//! Model-based property test: random sequences of mailbox and message operations run against
//! the store and against a plain in-memory model of DESIGN §3.4; after every step the two
//! must agree on mailboxes, UIDs, MODSEQs, flags, journal, quota and bytes.

mod model_harness;

use std::collections::BTreeMap;

use model_harness::{Harness, Op, bodies, op};
use proptest::prelude::*;
use wildduck_store::*;

/// Runs one generated case on `store` and checks it against the model after every step.
fn run_case(
    open: impl std::future::Future<Output = (Store, Box<dyn std::any::Any + Send>)>,
    bodies: Vec<Vec<u8>>,
    ops: &[Op],
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // The backing (a temporary directory) outlives the store.
        let (store, _backing) = open.await;
        let mut h = Harness::new(store, bodies).await;
        let mut counters = h.compare(&BTreeMap::new()).await;
        for op in ops {
            h.step(op).await;
            counters = h.compare(&counters).await;
        }
        h.compare_bodies().await;
        let report = h.store.verify(false).await.unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    });
}

async fn open_sqlite() -> (Store, Box<dyn std::any::Any + Send>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(dir.path(), StoreConfig::default())
        .await
        .unwrap();
    (store, Box::new(dir))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_model(
        bodies in bodies(),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        run_case(open_sqlite(), bodies, &ops);
    }
}

#[cfg(all(feature = "mongodb", feature = "redis"))]
mod servers;

#[cfg(all(feature = "mongodb", feature = "redis"))]
proptest! {
    // Fewer cases: every step is several round trips to a server.
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn mongodb_store_matches_model(
        bodies in bodies(),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        run_case(
            async { (servers::fresh_store().await, Box::new(()) as Box<dyn std::any::Any + Send>) },
            bodies,
            &ops,
        );
    }
}
