//! Route tests through a real HTTP client: each route group's Python script (urllib, in
//! `tests/http/`) runs against the API served over a fresh store on a loopback port, with a
//! root token configured, and fails on the first answer that is not WildDuck's.

use std::path::Path;
use std::process::Command;

use tokio::net::TcpListener;
use tokio::sync::watch;
use wildduck_store::{Store, StoreConfig};

const ROOT_TOKEN: &str = "route-test-root-token";

/// Serves the API over a new store, runs `script`, and stops the server.
fn run_group(script: &str) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (stop, stopped) = watch::channel(false);
    let (base, server) = runtime.block_on(async {
        let store = Store::open_sqlite(dir.path(), StoreConfig::default())
            .await
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let config = wildduck_api::Config {
            access_token: Some(ROOT_TOKEN.into()),
            ..wildduck_api::Config::default()
        };
        let server = tokio::spawn(wildduck_api::serve(store, config, listener, stopped));
        (base, server)
    });
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/http")
        .join(script);
    let output = Command::new("python3")
        .arg(&path)
        .arg(&base)
        .arg(ROOT_TOKEN)
        .output()
        .expect("python3");
    stop.send(true).unwrap();
    runtime.block_on(server).unwrap().unwrap();
    assert!(
        output.status.success(),
        "{script} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn users_and_tokens() {
    run_group("users.py");
}

#[test]
fn addresses() {
    run_group("addresses.py");
}

#[test]
fn mailboxes() {
    run_group("mailboxes.py");
}

#[test]
fn messages() {
    run_group("messages.py");
}

#[test]
fn application_passwords() {
    run_group("asps.py");
}

#[test]
fn storage() {
    run_group("storage.py");
}

#[test]
fn filters_and_autoreply() {
    run_group("filters.py");
}

#[test]
fn domain_aliases() {
    run_group("domainaliases.py");
}

#[test]
fn domain_access() {
    run_group("domainaccess.py");
}

#[test]
fn dkim_keys() {
    run_group("dkim.py");
}

#[test]
fn certificates() {
    run_group("certs.py");
}

#[test]
fn openapi_document_matches_the_routes() {
    run_group("openapi.py");
}

#[test]
fn address_register() {
    run_group("addressregister.py");
}

#[test]
fn preauth() {
    run_group("preauth.py");
}

#[test]
fn deferred_user_deletion_and_restore() {
    run_group("deleted_users.py");
}

#[test]
fn settings() {
    run_group("settings.py");
}
