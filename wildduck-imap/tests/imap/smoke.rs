//! The shared smoke script (Python imaplib) against our server.

use std::path::PathBuf;
use std::process::Stdio;

use crate::harness::*;

#[tokio::test]
async fn imap_smoke_script_passes() {
    let server = TestServer::start().await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/tools/imap_smoke.py");
    assert!(
        script.exists(),
        "smoke script missing at {}",
        script.display()
    );
    let output = tokio::process::Command::new("python3")
        .arg(&script)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &server.addr.port().to_string(),
        ])
        .args(["--user", USER, "--password", PASSWORD])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "smoke script failed:\n{stdout}");
    assert!(!stdout.lines().any(|l| l.starts_with("FAIL ")), "{stdout}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    server.stop().await;
}
