//! COMPRESS=DEFLATE (RFC 4978): the smoke flow through raw DEFLATE (Python's zlib) on plain
//! and TLS connections, and the command's error cases.

use std::path::PathBuf;
use std::process::Stdio;

use wildduck_imap::Config;

use crate::harness::*;

/// Runs `compress_smoke.py` (the shared smoke flow, every session compressed) against `port`.
async fn compressed_smoke(port: u16, tls: bool) {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let smoke = here.join("../tests/tools/imap_smoke.py");
    assert!(
        smoke.exists(),
        "smoke script missing at {}",
        smoke.display()
    );
    let mut command = tokio::process::Command::new("python3");
    command
        .arg(here.join("tests/imap/compress_smoke.py"))
        .arg(&smoke)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--user", USER, "--password", PASSWORD]);
    if tls {
        command.arg("--tls");
    }
    let output = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "compressed smoke failed:\n{stdout}"
    );
    assert!(!stdout.lines().any(|l| l.starts_with("FAIL ")), "{stdout}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    // The main session and IDLE's second session both ran compressed.
    assert!(stdout.contains("COMPRESS 2 connections"), "{stdout}");
}

#[tokio::test]
async fn smoke_flow_through_deflate_on_plain_tcp() {
    let server = TestServer::start().await;
    compressed_smoke(server.addr.port(), false).await;
    server.stop().await;
}

#[tokio::test]
async fn smoke_flow_through_deflate_over_tls() {
    let (acceptor, _) = crate::tls::tls_pair();
    let config = Config {
        implicit_tls: true,
        ..Config::default()
    };
    let server = TestServer::start_with_tls(config, Some(acceptor)).await;
    compressed_smoke(server.addr.port(), true).await;
    server.stop().await;
}

#[tokio::test]
async fn compress_errors() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    assert!(c.greeting.contains("COMPRESS=DEFLATE"), "{}", c.greeting);
    assert_eq!(
        c.exchange("z1 COMPRESS DEFLATE\r\n").await,
        "z1 BAD Log in first\r\n"
    );
    let mut c = server.login().await;
    assert!(
        c.exchange("z2 COMPRESS LZMA\r\n")
            .await
            .starts_with("z2 BAD"),
        "unknown algorithm"
    );
    assert_eq!(
        c.exchange("z3 COMPRESS DEFLATE\r\n").await,
        "z3 OK DEFLATE active\r\n"
    );
    server.stop().await;
}
