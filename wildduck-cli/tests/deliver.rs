//! `wildduck deliver` as an MTA uses it: sysexits codes, and many processes at once.

mod common;

use std::collections::BTreeMap;

use common::{Env, code, message, run_command};

#[test]
fn deliver_exit_codes_tell_an_mta_to_bounce_or_retry() {
    let env = Env::new();
    // No store yet: retry later, do not bounce.
    let (status, doc) = env.json_with_stdin(&["deliver", "--user", "alice"], &message("m", "b"));
    assert_eq!(status, 75, "{doc}");

    env.ok(&[
        "user",
        "add",
        "alice",
        "--password",
        "alice-password",
        "--address",
        "alice@example.com",
    ]);
    let (status, doc) = env.json_with_stdin(&["deliver", "--user", "nobody"], &message("m", "b"));
    assert_eq!(
        (status, doc["error"]["kind"].as_str()),
        (67, Some("no_user")),
        "{doc}"
    );
    let (status, doc) = env.json_with_stdin(&["deliver", "--user", "alice"], b"");
    assert_eq!(
        (status, doc["error"]["kind"].as_str()),
        (65, Some("data")),
        "{doc}"
    );

    let big = [message("big", "").as_slice(), &[b'x'; 2000]].concat();
    let output = run_command(
        {
            let mut cmd = env.command(&["deliver", "--user", "alice"]);
            cmd.env("WILDDUCK_STORE_MAX_MESSAGE_SIZE", "1000");
            cmd
        },
        &big,
    );
    assert_eq!(
        code(&output),
        65,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Addresses (with +tags) reach their user; a missing mailbox falls back to INBOX.
    let (status, doc) = env.json_with_stdin(
        &[
            "deliver",
            "--user",
            "alice+news@example.com",
            "--mailbox",
            "Nope",
        ],
        &message("tagged", "b"),
    );
    assert_eq!(status, 0, "{doc}");
    assert_eq!(doc["mailbox"], "INBOX");
    let (status, doc) = env.json_with_stdin(
        &["deliver", "--user", "alice", "--mailbox", "Junk"],
        &message("junk", "b"),
    );
    assert_eq!(
        (status, doc["mailbox"].as_str()),
        (0, Some("Junk")),
        "{doc}"
    );

    // Success prints nothing without --json (an MTA would log it as a warning).
    let quiet = env.run_with_stdin(&["deliver", "--user", "alice"], &message("quiet", "b"));
    assert_eq!(code(&quiet), 0);
    assert!(quiet.stdout.is_empty());

    // Wildcard addresses reach their user as over LMTP; a disabled user is refused (77).
    env.ok(&[
        "user",
        "add",
        "catch",
        "--password",
        "pw",
        "--address",
        "*@catch.example",
    ]);
    let (status, doc) = env.json_with_stdin(
        &["deliver", "--user", "any.one+x@catch.example"],
        &message("w", "b"),
    );
    assert_eq!((status, doc["user"].as_str()), (0, Some("catch")), "{doc}");
    env.ok(&["user", "disable", "catch"]);
    for name in ["catch", "any.one@catch.example"] {
        let (status, doc) = env.json_with_stdin(&["deliver", "--user", name], &message("d", "b"));
        assert_eq!(
            (status, doc["error"]["kind"].as_str()),
            (77, Some("no_perm")),
            "{doc}"
        );
    }

    // Over quota is temporary: the MTA keeps the mail and retries.
    env.ok(&["user", "quota", "alice", "10"]);
    let (status, doc) = env.json_with_stdin(&["deliver", "--user", "alice"], &message("over", "b"));
    assert_eq!(
        (status, doc["error"]["kind"].as_str()),
        (75, Some("temp_fail")),
        "{doc}"
    );
}

/// Without `--mailbox`, `deliver` runs the delivery pipeline as LMTP does: trace headers in
/// front of the untouched bytes, the MTA's spam verdict to Junk, a forwarded address's
/// targets queued; `--mailbox` keeps the bytes as they are.
#[test]
fn deliver_runs_the_delivery_pipeline_unless_given_a_mailbox() {
    let env = Env::new();
    env.ok(&[
        "user",
        "add",
        "alice",
        "--password",
        "alice-password",
        "--address",
        "alice@example.com",
    ]);
    let raw = message("hello", "body");
    let (status, doc) = env.json_with_stdin(
        &["deliver", "--user", "alice", "--sender", "bob@remote.test"],
        &raw,
    );
    assert_eq!(
        (status, doc["mailbox"].as_str()),
        (0, Some("INBOX")),
        "{doc}"
    );
    let uid = doc["uid"].to_string();
    let stored = env.run(&["message", "export", "alice", &uid]).stdout;
    let expected = [
        b"Delivered-To: alice@example.com\r\nReturn-Path: <bob@remote.test>\r\n".as_slice(),
        &raw,
    ]
    .concat();
    assert_eq!(stored, expected);

    let spam = [b"X-Spam-Flag: YES\r\n".as_slice(), &message("spam", "b")].concat();
    let (status, doc) = env.json_with_stdin(&["deliver", "--user", "alice@example.com"], &spam);
    assert_eq!(
        (status, doc["mailbox"].as_str()),
        (0, Some("Junk")),
        "{doc}"
    );

    let (status, doc) =
        env.json_with_stdin(&["deliver", "--user", "alice", "--mailbox", "INBOX"], &raw);
    assert_eq!(status, 0, "{doc}");
    let stored = env
        .run(&["message", "export", "alice", &doc["uid"].to_string()])
        .stdout;
    assert_eq!(stored, raw, "--mailbox stores the bytes as they are");

    env.ok(&[
        "address",
        "add",
        "fwd@example.com",
        "--forward-to",
        "carl@remote.test",
    ]);
    let (status, doc) = env.json_with_stdin(&["deliver", "--user", "fwd@example.com"], &raw);
    assert_eq!(
        (status, &doc["forwarded"]),
        (0, &serde_json::json!(true)),
        "{doc}"
    );
    let queued = env.ok(&["queue", "list"]);
    assert_eq!(queued["entries"].as_array().unwrap().len(), 1, "{queued}");
    let (status, doc) = env.json_with_stdin(
        &["deliver", "--user", "fwd@example.com", "--mailbox", "INBOX"],
        &raw,
    );
    assert_eq!(
        (status, doc["error"]["kind"].as_str()),
        (67, Some("no_user")),
        "{doc}"
    );
}

#[test]
fn a_thousand_deliveries_from_four_processes_are_each_stored_once() {
    const PROCESSES: usize = 4;
    const PER_PROCESS: usize = 250;
    let env = Env::new();
    env.add_user("alice", "alice-password");

    std::thread::scope(|scope| {
        for worker in 0..PROCESSES {
            let env = &env;
            scope.spawn(move || {
                for i in 0..PER_PROCESS {
                    let n = worker * PER_PROCESS + i;
                    let raw = format!("Subject: delivery {n}\r\nX-Seq: {n}\r\n\r\nbody of {n}\r\n");
                    let output =
                        env.run_with_stdin(&["deliver", "--user", "alice"], raw.as_bytes());
                    assert_eq!(
                        code(&output),
                        0,
                        "delivery {n}: {}",
                        String::from_utf8_lossy(&output.stderr)
                    );
                }
            });
        }
    });

    // Count every X-Seq in the exported mailbox: each exactly once.
    let out = env.path("all");
    env.ok(&[
        "export",
        "--user",
        "alice",
        "--format",
        "maildir",
        "-o",
        out.to_str().unwrap(),
    ]);
    let mut seen: BTreeMap<usize, usize> = BTreeMap::new();
    for entry in std::fs::read_dir(out.join("cur")).unwrap() {
        let raw = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8(raw).unwrap();
        let seq: usize = text
            .lines()
            .find_map(|l| l.strip_prefix("X-Seq: "))
            .and_then(|v| v.trim().parse().ok())
            .expect("X-Seq header");
        *seen.entry(seq).or_default() += 1;
    }
    assert_eq!(seen.len(), PROCESSES * PER_PROCESS);
    assert!(
        seen.values().all(|&count| count == 1),
        "duplicates: {seen:?}"
    );
    assert_eq!(env.ok(&["stats"])["messages"], PROCESSES * PER_PROCESS);
    assert!(
        env.ok(&["verify"])["problems"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}
