//! A real client: mbsync (isync) pulls 1,000 generated messages into a Maildir and pushes
//! them back into a new mailbox; every message survives byte for byte.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use wildduck_store::{Section, Store, UidSet};

use crate::harness::*;

const MESSAGES: usize = 1000;

fn tools() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/tools")
}

async fn run(program: &str, args: &[&str]) -> String {
    let output = tokio::process::Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap_or_else(|e| panic!("{program} could not start: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{text}"
    );
    text
}

/// Every message of a mailbox, raw, counted by content.
async fn mailbox_contents(store: &Store, path: &str) -> HashMap<Vec<u8>, usize> {
    let user = store.find_user(USER).await.expect("user");
    let mailbox = store.get_mailbox(user.id, path).await.expect("mailbox");
    let metas = store
        .fetch_meta(mailbox.id, &UidSet::all(), Default::default())
        .await
        .expect("metas");
    let mut contents = HashMap::new();
    for meta in metas {
        let body = store
            .read_section(mailbox.id, meta.uid, &Section::full(), None)
            .await
            .expect("read");
        *contents.entry(body.to_vec()).or_insert(0) += 1;
    }
    contents
}

/// Server contents with mbsync's `X-TUID:` lines taken out.
fn strip_tuids(contents: HashMap<Vec<u8>, usize>) -> HashMap<Vec<u8>, usize> {
    let mut out = HashMap::new();
    for (data, n) in contents {
        *out.entry(without_tuid(data)).or_insert(0) += n;
    }
    out
}

/// mbsync marks each message it propagates with an `X-TUID:` header line (to find it again);
/// that line is the client's, so it is taken out before comparing.
fn without_tuid(data: Vec<u8>) -> Vec<u8> {
    let mut start = 0;
    while start < data.len() {
        let end = data[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |p| start + p + 1);
        let line = &data[start..end];
        if line == b"\n" || line == b"\r\n" {
            break; // end of the header block
        }
        if line.starts_with(b"X-TUID: ") {
            let mut out = data[..start].to_vec();
            out.extend_from_slice(&data[end..]);
            return out;
        }
        start = end;
    }
    data
}

/// The message files of a Maildir folder, counted by content.
fn maildir_contents(folder: &Path) -> HashMap<Vec<u8>, usize> {
    let mut contents = HashMap::new();
    for sub in ["cur", "new"] {
        let Ok(entries) = std::fs::read_dir(folder.join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let data = std::fs::read(entry.path()).expect("maildir file");
            *contents.entry(without_tuid(data)).or_insert(0) += 1;
        }
    }
    contents
}

fn crlf_to_lf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for (i, &b) in data.iter().enumerate() {
        if !(b == b'\r' && data.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}

#[tokio::test]
async fn mbsync_round_trip_of_1000_messages() {
    let server = TestServer::start().await;
    let work = tempfile::tempdir().expect("work dir");
    let mbox = work.path().join("test.mbox");
    let mbox_arg = mbox.to_str().expect("utf-8 path");
    let port = server.addr.port().to_string();
    let gen_mbox = tools().join("gen_mbox.py");
    let load_mbox = tools().join("load_mbox.py");
    run(
        "python3",
        &[
            gen_mbox.to_str().expect("path"),
            "-n",
            &MESSAGES.to_string(),
            "--seed",
            "1",
            "-o",
            mbox_arg,
        ],
    )
    .await;
    run(
        "python3",
        &[
            load_mbox.to_str().expect("path"),
            "--mbox",
            mbox_arg,
            "--port",
            &port,
            "--user",
            USER,
            "--password",
            PASSWORD,
        ],
    )
    .await;
    let original = mailbox_contents(&server.store, "INBOX").await;
    assert_eq!(original.values().sum::<usize>(), MESSAGES);

    let maildir = work.path().join("mail");
    std::fs::create_dir_all(&maildir).expect("maildir root");
    let config = work.path().join("mbsyncrc");
    std::fs::write(
        &config,
        format!(
            "IMAPAccount test\nHost 127.0.0.1\nPort {port}\nUser {USER}\nPass \"{PASSWORD}\"\nSSLType None\nAuthMechs LOGIN\n\n\
             IMAPStore remote\nAccount test\n\n\
             MaildirStore local\nPath {root}/\nInbox {root}/INBOX\nSubFolders Verbatim\n\n\
             Channel pull\nFar :remote:INBOX\nNear :local:INBOX\nSync Pull\nCreate Near\nSyncState *\n\n\
             Channel push\nFar :remote:Restored\nNear :local:Restored\nSync Push\nCreate Far\nSyncState *\n",
            root = maildir.display()
        ),
    )
    .expect("write mbsyncrc");
    let config_arg = config.to_str().expect("path");

    // Pull: the Maildir holds every message, byte for byte (mbsync stores LF line ends).
    run("mbsync", &["-c", config_arg, "pull"]).await;
    let pulled = maildir_contents(&maildir.join("INBOX"));
    let expected_lf: HashMap<Vec<u8>, usize> =
        original.iter().map(|(m, n)| (crlf_to_lf(m), *n)).collect();
    let pulled_matches = pulled == expected_lf || pulled == original;
    assert!(
        pulled_matches,
        "pulled {} files, {} differ",
        pulled.values().sum::<usize>(),
        pulled
            .keys()
            .filter(|k| !expected_lf.contains_key(*k) && !original.contains_key(*k))
            .count()
    );

    // Push the same files as a new folder back to the server.
    let restored = maildir.join("Restored");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(restored.join(sub)).expect("maildir dirs");
    }
    for (i, (data, copies)) in pulled.iter().enumerate() {
        for copy in 0..*copies {
            std::fs::write(
                restored.join("cur").join(format!("{i}.{copy}.test:2,S")),
                data,
            )
            .expect("write message");
        }
    }
    run("mbsync", &["-c", config_arg, "push"]).await;
    let pushed = strip_tuids(mailbox_contents(&server.store, "Restored").await);
    assert_eq!(pushed.values().sum::<usize>(), MESSAGES);
    let differing = pushed.keys().filter(|k| !original.contains_key(*k)).count();
    assert_eq!(
        differing, 0,
        "{differing} pushed messages are not byte-identical to the originals"
    );
    assert_eq!(pushed, original);
    server.stop().await;
}
