//! Real clients against the server: the shared POP3 smoke script (Python's poplib),
//! fetchmail and getmail6 (installed by `.ci/setup`), and UIDL across a restart.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;
use wildduck_store::{Flags, UidSet};

fn shared_tool(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/tools")
        .join(name)
}

async fn run(command: &mut tokio::process::Command) -> Output {
    let output = command
        .output()
        .await
        .unwrap_or_else(|error| panic!("running {command:?}: {error}"));
    if !output.status.success() {
        panic!(
            "{command:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_smoke_script_passes() {
    let (_dir, account, server) = setup(test_config()).await;
    // The script runs with --no-seed (no IMAP here): it reads, checks and deletes the last
    // message, so give it a dot-stuffing case and a bare-LF message before it.
    account.append(&message("smoke one", 5)).await;
    account.append(b"Subject: bare\n\nline\n.dot\n").await;
    account
        .append(
            b"Subject: smoke last\r\n\r\n.leading dot\r\nline two\r\nline three\r\nline four\r\n",
        )
        .await;
    let output = run(tokio::process::Command::new("python3")
        .arg(shared_tool("pop3_smoke.py"))
        .args([
            "--port",
            &server.port.to_string(),
            "--user",
            USER,
            "--password",
            PASSWORD,
            "--no-seed",
        ]))
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(" 0 failed"), "{stdout}");
    let status = account
        .store
        .mailbox_status(account.inbox)
        .await
        .expect("status");
    assert_eq!(status.messages, 2, "the script deletes exactly one message");
    server.stop().await;
}

#[tokio::test]
async fn uidl_survives_restart_and_differs_between_copies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = message("copied", 3);
    let before = {
        let account = open_account(dir.path()).await;
        account.append(&raw).await;
        account.append(&raw).await;
        let drafts = account
            .store
            .get_mailbox(account.user.id, "Drafts")
            .await
            .expect("Drafts");
        let draft = account
            .store
            .append(drafts.id, &raw, &Flags::new(), None)
            .await
            .expect("append");
        account
            .store
            .copy(drafts.id, &UidSet::from_iter([draft.uid]), account.inbox)
            .await
            .expect("copy");
        let server = Server::start(account.store.clone(), test_config(), None).await;
        let listing = uidl_listing(&server, 3).await;
        server.stop().await;
        listing
    };
    let ids: std::collections::HashSet<&str> = before.iter().map(String::as_str).collect();
    assert_eq!(ids.len(), 3, "three copies, three unique ids: {before:?}");

    let account = open_account(dir.path()).await;
    let server = Server::start(account.store.clone(), test_config(), None).await;
    assert_eq!(uidl_listing(&server, 3).await, before);
    server.stop().await;
}

/// The unique ids of a UIDL listing, in message-number order.
async fn uidl_listing(server: &Server, messages: usize) -> Vec<String> {
    let mut client = server.logged_in(messages).await;
    client.send(b"UIDL\r\n").await;
    assert_eq!(client.line().await, "+OK Unique-ID listing follows\r\n");
    let mut ids = Vec::new();
    for number in 1..=messages {
        let line = client.line().await;
        let id = line
            .strip_prefix(&format!("{number} "))
            .and_then(|rest| rest.strip_suffix("\r\n"))
            .unwrap_or_else(|| panic!("unexpected UIDL line {line:?}"));
        ids.push(id.to_string());
    }
    assert_eq!(client.line().await, ".\r\n");
    client
        .transcript("QUIT\r\n", "+OK Bye, 0 messages removed\r\n")
        .await;
    ids
}

const FETCH_MESSAGES: usize = 1000;

/// The messages of a `gen_mbox.py` mbox, with CRLF line ends as `load_mbox.py` appends them.
async fn generated_messages(dir: &Path) -> Vec<Vec<u8>> {
    let mbox = dir.join("test.mbox");
    run(tokio::process::Command::new("python3")
        .arg(shared_tool("gen_mbox.py"))
        .args(["-n", &FETCH_MESSAGES.to_string(), "--seed", "1", "-o"])
        .arg(&mbox))
    .await;
    // Python's mailbox module splits the mbox exactly as load_mbox.py does; each message
    // comes out as `<length>\n<bytes>`.
    let script = "import mailbox, re, sys\n\
        box = mailbox.mbox(sys.argv[1], create=False)\n\
        for key in box.keys():\n\
        \x20   raw = re.sub(rb'\\r?\\n', b'\\r\\n', box.get_bytes(key))\n\
        \x20   sys.stdout.buffer.write(b'%d\\n' % len(raw) + raw)\n";
    let output = run(tokio::process::Command::new("python3")
        .args(["-c", script])
        .arg(&mbox))
    .await;
    let mut rest = &output.stdout[..];
    let mut messages = Vec::new();
    while let Some(newline) = rest.iter().position(|&b| b == b'\n') {
        let len: usize = std::str::from_utf8(&rest[..newline])
            .expect("length")
            .parse()
            .expect("length");
        messages.push(rest[newline + 1..newline + 1 + len].to_vec());
        rest = &rest[newline + 1 + len..];
    }
    assert_eq!(messages.len(), FETCH_MESSAGES);
    messages
}

/// Files in `dir` (recursively), read whole.
fn delivered(dir: &Path) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(std::fs::read(&path).expect("read message"));
            }
        }
    }
    found
}

/// Compares delivered messages with the appended ones as multisets, ignoring only the line
/// ending (fetchers deliver LF) — every other byte must match.
fn assert_same_messages(appended: &[Vec<u8>], delivered: Vec<Vec<u8>>) {
    let to_lf = |raw: &[u8]| -> Vec<u8> {
        let mut out = Vec::with_capacity(raw.len());
        for (i, &b) in raw.iter().enumerate() {
            if !(b == b'\r' && raw.get(i + 1) == Some(&b'\n')) {
                out.push(b);
            }
        }
        out
    };
    let mut want: Vec<Vec<u8>> = appended.iter().map(|m| to_lf(m)).collect();
    let mut got: Vec<Vec<u8>> = delivered.iter().map(|m| to_lf(m)).collect();
    want.sort();
    got.sort();
    assert_eq!(got.len(), want.len(), "number of delivered messages");
    for (got, want) in got.iter().zip(&want) {
        assert!(
            got == want,
            "a delivered message differs:\n--- got (first 400 bytes)\n{}\n--- want\n{}",
            String::from_utf8_lossy(&got[..got.len().min(400)]),
            String::from_utf8_lossy(&want[..want.len().min(400)])
        );
    }
}

async fn account_with_generated_messages() -> (tempfile::TempDir, Account, Vec<Vec<u8>>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let account = open_account(&dir.path().join("store")).await;
    let messages = generated_messages(dir.path()).await;
    for raw in &messages {
        account.append(raw).await;
    }
    (dir, account, messages)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetchmail_downloads_everything_once() {
    let (dir, account, messages) = account_with_generated_messages().await;
    let server = Server::start(account.store.clone(), test_config(), None).await;
    let out = dir.path().join("fetchmail-out");
    std::fs::create_dir(&out).expect("mkdir");
    let rc = dir.path().join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "poll 127.0.0.1 with proto POP3 port {port} auth password\n\
             \x20 user \"{USER}\" there with password \"{PASSWORD}\"\n\
             \x20 options nokeep fetchall no rewrite sslproto ''\n\
             \x20 mda \"/bin/sh -c 'cat > $(mktemp {out}/msg.XXXXXXXX)'\"\n",
            port = server.port,
            out = out.display()
        ),
    )
    .expect("write rc");
    set_private(&rc);
    let fetch = || {
        let mut command = tokio::process::Command::new("fetchmail");
        command
            .env("FETCHMAILHOME", dir.path())
            .args(["--nosyslog", "--invisible", "--nodetach", "-f"])
            .arg(&rc)
            .arg("--pidfile")
            .arg(dir.path().join("fetchmail.pid"));
        command
    };
    run(&mut fetch()).await;
    assert_same_messages(&messages, delivered(&out));
    let status = account
        .store
        .mailbox_status(account.inbox)
        .await
        .expect("status");
    assert_eq!(status.messages, 0, "fetchmail deleted what it fetched");

    // Second run: nothing to fetch (fetchmail exits 1 for "no mail").
    let second = fetch().output().await.expect("fetchmail");
    assert_eq!(
        second.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(delivered(&out).len(), FETCH_MESSAGES);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn getmail_downloads_everything_once() {
    let (dir, account, messages) = account_with_generated_messages().await;
    let server = Server::start(account.store.clone(), test_config(), None).await;
    // An external command delivers: getmail's Maildir destination refuses to run as root.
    let out = dir.path().join("getmail-out");
    std::fs::create_dir(&out).expect("mkdir");
    let config_dir = dir.path().join("getmail");
    std::fs::create_dir(&config_dir).expect("mkdir");
    std::fs::write(
        config_dir.join("getmailrc"),
        format!(
            "[retriever]\ntype = SimplePOP3Retriever\nserver = 127.0.0.1\nport = {port}\n\
             username = {USER}\npassword = {PASSWORD}\n\n\
             [destination]\ntype = MDA_external\npath = /bin/sh\n\
             arguments = (\"-c\", \"cat > $(mktemp {out}/msg.XXXXXXXX)\")\n\
             allow_root_commands = true\n\n\
             [options]\nread_all = true\ndelete = true\ndelivered_to = false\nreceived = false\n\
             message_log_syslog = false\nverbose = 0\n",
            port = server.port,
            out = out.display()
        ),
    )
    .expect("write getmailrc");
    let fetch = || {
        let mut command = tokio::process::Command::new("getmail");
        command
            .arg("--getmaildir")
            .arg(&config_dir)
            .arg("--rcfile")
            .arg("getmailrc");
        command
    };
    run(&mut fetch()).await;
    // getmail always writes its own `Return-Path:` line first (getmailcore/message.py
    // `flatten`); that line is all it adds.
    let without_return_path = delivered(&out)
        .into_iter()
        .map(|message| {
            assert!(
                message.starts_with(b"Return-Path: <"),
                "getmail's first line is Return-Path"
            );
            let first_line = message.iter().position(|&b| b == b'\n').expect("a line") + 1;
            message[first_line..].to_vec()
        })
        .collect();
    assert_same_messages(&messages, without_return_path);
    let status = account
        .store
        .mailbox_status(account.inbox)
        .await
        .expect("status");
    assert_eq!(status.messages, 0, "getmail deleted what it fetched");

    run(&mut fetch()).await;
    assert_eq!(
        delivered(&out).len(),
        FETCH_MESSAGES,
        "the second run found nothing"
    );
    server.stop().await;
}

fn set_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}
