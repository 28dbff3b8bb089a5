//! Durability: a writer process is killed (SIGKILL) in the middle of an append workload; the
//! store reopens and holds every message whose append had returned Ok, byte for byte.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use wildduck_store::*;

const DIR_VAR: &str = "WILDDUCK_DURABILITY_DIR";
const ACKS_BEFORE_KILL: usize = 120;

fn message(task: usize, n: usize) -> Vec<u8> {
    format!(
        "Subject: t{task} n{n}\n\nbare LF body {}\0\r\n",
        "z".repeat(n % 50)
    )
    .into_bytes()
}

async fn open(dir: &std::path::Path) -> Store {
    Store::open_sqlite(dir, StoreConfig::default())
        .await
        .unwrap()
}

/// The writer side, run in a child process by `acknowledged_appends_survive_a_kill`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "helper process of acknowledged_appends_survive_a_kill"]
async fn durability_writer_child() {
    let dir = std::env::var(DIR_VAR).expect("run by the durability test");
    let store = open(dir.as_ref()).await;
    let user = store.find_user("durable").await.unwrap();
    let inbox = store.get_mailbox(user.id, "INBOX").await.unwrap();
    let tasks: Vec<_> = (0..4)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0.. {
                    let out = store
                        .append(inbox.id, &message(task, n), &Flags::new(), None)
                        .await
                        .unwrap();
                    // Printed only after append returned Ok: the acknowledgement.
                    println!("ACK {} {task} {n}", out.uid);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_appends_survive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path()).await;
        store
            .create_user(NewUser {
                username: "durable".into(),
                password: "pw".into(),
                ..NewUser::default()
            })
            .await
            .unwrap();
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "durability_writer_child",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(DIR_VAR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("ACK ") {
            let fields: Vec<usize> = rest.split(' ').map(|f| f.parse().unwrap()).collect();
            acked.push((fields[0] as Uid, message(fields[1], fields[2])));
            if acked.len() == ACKS_BEFORE_KILL {
                break;
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        acked.len(),
        ACKS_BEFORE_KILL,
        "the writer produced acknowledgements"
    );

    let store = open(dir.path()).await;
    let user = store.find_user("durable").await.unwrap();
    let inbox = store.get_mailbox(user.id, "INBOX").await.unwrap();
    let snap = store.snapshot(inbox.id).await.unwrap();
    assert!(snap.uids.len() >= acked.len());
    for (uid, raw) in &acked {
        let body = store
            .read_section(inbox.id, *uid, &Section::full(), None)
            .await
            .unwrap_or_else(|e| panic!("acknowledged UID {uid} lost: {e}"));
        assert_eq!(&body.to_vec(), raw, "UID {uid}");
    }
    let report = store.verify(false).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let sizes: u64 = store
        .fetch_meta(inbox.id, &UidSet::all(), MetaFields::default())
        .await
        .unwrap()
        .iter()
        .map(|m| m.size)
        .sum();
    assert_eq!(store.get_user(user.id).await.unwrap().storage_used, sizes);
    // The store keeps working after the crash: the next UID continues the sequence.
    let next = store
        .append(inbox.id, b"after", &Flags::new(), None)
        .await
        .unwrap();
    assert_eq!(next.uid, snap.uidnext);
}
