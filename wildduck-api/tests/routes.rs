//! Route tests through a real HTTP client: each route group's Python script (urllib, in
//! `tests/http/`) runs against the API served over a fresh store on a loopback port, with a
//! root token configured, and fails on the first answer that is not WildDuck's.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wildduck_store::model::NewUser;
use wildduck_store::{Store, StoreConfig};

const ROOT_TOKEN: &str = "route-test-root-token";

/// Serves the API over a new store, runs `script`, and stops the server.
fn run_group(script: &str) {
    run_group_then(script, |_, _, _| {});
}

/// As [`run_group`], then hands the runtime, the store and the script's output to `check`.
fn run_group_then(script: &str, check: impl FnOnce(&tokio::runtime::Runtime, &Store, &str)) {
    run_script(script, false, check);
}

/// As [`run_group`] with an IMAP listener over the same store, whose port the script gets
/// as its third argument.
fn run_group_with_imap(script: &str) {
    run_script(script, true, |_, _, _| {});
}

/// Serves the API with the root token over `store` on a loopback port until `stopped`.
async fn serve_api(
    store: &Store,
    stopped: watch::Receiver<bool>,
) -> (SocketAddr, JoinHandle<std::io::Result<()>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let config = wildduck_api::Config {
        access_token: Some(ROOT_TOKEN.into()),
        ..wildduck_api::Config::default()
    };
    let server = tokio::spawn(wildduck_api::serve(
        store.clone(),
        config,
        listener,
        stopped,
    ));
    (address, server)
}

fn run_script(
    script: &str,
    with_imap: bool,
    check: impl FnOnce(&tokio::runtime::Runtime, &Store, &str),
) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (stop, stopped) = watch::channel(false);
    let (base, server, store, imap) = runtime.block_on(async {
        let store = Store::open_sqlite(dir.path(), StoreConfig::default())
            .await
            .unwrap();
        let (address, server) = serve_api(&store, stopped).await;
        let base = format!("http://{address}");
        let imap = if with_imap {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let task = tokio::spawn(wildduck_imap::serve(
                store.clone(),
                wildduck_imap::Config::default(),
                listener,
                None,
                stop.subscribe(),
            ));
            Some((port, task))
        } else {
            None
        };
        (base, server, store, imap)
    });
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/http")
        .join(script);
    let mut python = Command::new("python3");
    python.arg(&path).arg(&base).arg(ROOT_TOKEN);
    if let Some((port, _)) = &imap {
        python.arg(port.to_string());
    }
    let output = python.output().expect("python3");
    stop.send(true).unwrap();
    runtime.block_on(server).unwrap().unwrap();
    if let Some((_, task)) = imap {
        runtime.block_on(task).unwrap().unwrap();
    }
    assert!(
        output.status.success(),
        "{script} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    check(&runtime, &store, &String::from_utf8_lossy(&output.stdout));
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
fn webhooks() {
    run_group("webhooks.py");
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
fn auth_log() {
    run_group("authlog.py");
}

#[test]
fn deferred_user_deletion_and_restore() {
    run_group("deleted_users.py");
}

#[test]
fn settings() {
    run_group("settings.py");
}

#[test]
fn scheduled_submission_and_outbound_delete() {
    run_group_then("outbound.py", |runtime, store, output| {
        // The entry the script left waits for its sendTime, 2099-01-01T00:00:00Z.
        let queue_id = output
            .trim()
            .parse()
            .expect("the script prints the queue id");
        let entry = runtime
            .block_on(store.outbound_entry(queue_id))
            .unwrap()
            .expect("still queued");
        assert_eq!(entry.next_attempt, 4_070_908_800);
        assert_eq!(entry.attempts, 0);
        let queued = runtime.block_on(store.list_outbound()).unwrap();
        assert_eq!(queued.len(), 1, "the deleted entry is gone: {queued:?}");
    });
}

#[test]
fn clearing_a_mailbox() {
    run_group("mailbox_clear.py");
}

#[test]
fn search_and_apply() {
    run_group("search_apply.py");
}

#[test]
fn submit_composed_message() {
    run_group_then("submit.py", |runtime, store, output| {
        let ids: serde_json::Value = serde_json::from_str(output.trim()).expect("queue ids");
        let queued = runtime.block_on(store.list_outbound()).unwrap();
        let mut recipients: Vec<(String, Vec<String>)> = queued
            .iter()
            .map(|entry| {
                assert_eq!(entry.sender, "una@example.com");
                let to = entry.recipients.iter().map(|r| r.address.clone());
                (entry.domain.clone(), to.collect())
            })
            .collect();
        recipients.sort();
        // Bcc'd addresses are recipients (each once), the envelope's replace the headers'.
        let expected = [
            ("example.net", vec!["only@example.net"]),
            (
                "example.org",
                vec!["ann@example.org", "bob@example.org", "hidden@example.org"],
            ),
            ("other.test", vec!["cat@other.test"]),
        ];
        let expected: Vec<(String, Vec<String>)> = expected
            .iter()
            .map(|(domain, to)| {
                (
                    domain.to_string(),
                    to.iter().map(|a| a.to_string()).collect(),
                )
            })
            .collect();
        assert_eq!(recipients, expected);
        let later = ids["later"].as_str().unwrap().parse().unwrap();
        let entry = runtime
            .block_on(store.outbound_entry(later))
            .unwrap()
            .expect("queued");
        assert_eq!(entry.next_attempt, 4_070_908_800, "waits for its sendTime");
        let now = ids["now"].as_str().unwrap().parse().unwrap();
        let entry = runtime
            .block_on(store.outbound_entry(now))
            .unwrap()
            .expect("queued");
        assert!(entry.next_attempt < 4_070_908_800);
    });
}

#[test]
fn rename_domain() {
    run_group("rename_domain.py");
}

#[test]
fn forward_stored_message() {
    use base64::Engine;
    run_group_then("forward.py", |runtime, store, output| {
        let printed: serde_json::Value = serde_json::from_str(output.trim()).expect("JSON");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(printed["raw"].as_str().unwrap())
            .unwrap();
        let mut queued = runtime.block_on(store.list_outbound()).unwrap();
        queued.sort_by(|a, b| a.domain.cmp(&b.domain));
        let summary: Vec<(&str, &str, Vec<&str>)> = queued
            .iter()
            .map(|entry| {
                let to = entry.recipients.iter().map(|r| r.address.as_str());
                (entry.domain.as_str(), entry.sender.as_str(), to.collect())
            })
            .collect();
        // The sender the message arrived with; one entry per domain.
        assert_eq!(
            summary,
            vec![
                (
                    "far.test",
                    "origin@sender.test",
                    vec!["one@far.test", "two@far.test"]
                ),
                ("other.test", "origin@sender.test", vec!["three@other.test"]),
            ]
        );
        let first = printed["queueId"].as_str().unwrap().parse().unwrap();
        let entry = runtime
            .block_on(store.outbound_entry(first))
            .unwrap()
            .expect("queued");
        assert_eq!(entry.raw, raw, "the stored bytes, unchanged");
    });
}

#[test]
fn change_stream() {
    run_group_with_imap("updates.py");
}

/// An open change stream ends when the server stops, so the shutdown does not wait on it
/// (the timeouts only keep a hang from stalling the suite).
#[test]
fn an_open_change_stream_ends_at_shutdown() {
    const HANG: Duration = Duration::from_secs(30);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    runtime.block_on(async {
        let store = Store::open_sqlite(dir.path(), StoreConfig::default())
            .await
            .unwrap();
        let user = store
            .create_user(NewUser {
                username: "streamer".into(),
                password: "secret streamer".into(),
                ..NewUser::default()
            })
            .await
            .unwrap();
        let (stop, stopped) = watch::channel(false);
        let (address, server) = serve_api(&store, stopped).await;
        let mut stream = TcpStream::connect(address).await.unwrap();
        let request = format!(
            "GET /users/{}/updates HTTP/1.1\r\nHost: localhost\r\nX-Access-Token: {ROOT_TOKEN}\r\n\r\n",
            user.id
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut events = BufReader::new(stream);
        let mut line = String::new();
        while line.trim_end() != ": idling 1" {
            line.clear();
            assert!(events.read_line(&mut line).await.unwrap() > 0, "the stream ended");
        }
        stop.send(true).unwrap();
        tokio::time::timeout(HANG, server)
            .await
            .expect("the server stopped with a stream open")
            .unwrap()
            .unwrap();
        let mut rest = Vec::new();
        tokio::time::timeout(HANG, events.read_to_end(&mut rest))
            .await
            .expect("the stream ended")
            .unwrap();
    });
}
