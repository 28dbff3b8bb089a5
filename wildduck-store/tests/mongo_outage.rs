//! MongoDB going away under an open store: operations fail with a temporary storage error,
//! which every shell answers as "try again later", with the driver's error as its source.
#![cfg(feature = "mongodb")]

mod servers;

use wildduck_store::*;

#[tokio::test]
async fn a_stopped_server_gives_temporary_storage_errors() {
    let mut server = servers::MongoServer::start();
    // Server selection gives up after a second instead of the driver's default 30.
    let uri = format!(
        "{}&serverSelectionTimeoutMS=1000",
        servers::fresh_database_uri(&server.uri())
    );
    let store = Store::open_mongodb(&uri, None, StoreConfig::default())
        .await
        .expect("open MongoDB store");
    store
        .create_user(NewUser {
            username: "alice".into(),
            password: "correct horse".into(),
            ..NewUser::default()
        })
        .await
        .expect("create user");

    server.stop();

    let error = store
        .find_user("alice")
        .await
        .expect_err("no server to ask");
    assert!(error.is_temporary(), "{error:?}");
    let Error::Storage(failure) = &error else {
        panic!("not a storage error: {error:?}")
    };
    let source = std::error::Error::source(failure).expect("a source");
    assert!(
        source.downcast_ref::<mongodb::error::Error>().is_some(),
        "the driver's error is kept: {source:?}"
    );
}
