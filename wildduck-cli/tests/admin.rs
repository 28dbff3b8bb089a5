//! Users, addresses, mailboxes, messages and maintenance through the binary, `--json` output
//! and exit codes included.

mod common;

use common::{Env, code, message};

#[test]
fn users_are_added_listed_changed_and_deleted() {
    let env = Env::new();
    let alice = env.ok(&[
        "user",
        "add",
        "alice",
        "--password",
        "first-password",
        "--quota",
        "10M",
    ]);
    assert_eq!(alice["user"]["username"], "alice");
    assert_eq!(alice["user"]["quota"], 10 << 20);
    assert_eq!(alice["user"]["disabled"], false);
    assert!(
        alice.get("password").is_none(),
        "a given password is not echoed: {alice}"
    );

    let bob = env.ok(&["user", "add", "bob"]);
    let generated = bob["password"]
        .as_str()
        .expect("a generated password is shown");
    assert_eq!(generated.len(), 20);

    let error = env.fails(
        &["user", "add", "alice", "--password", "x-password"],
        73,
        "cant_create",
    );
    assert!(
        error["message"].as_str().unwrap().contains("alice"),
        "{error}"
    );

    let list = env.ok(&["user", "list"]);
    let names: Vec<&str> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"alice") && names.contains(&"bob"), "{list}");

    let shown = env.ok(&["user", "show", "alice"]);
    let mailboxes: Vec<&str> = shown["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    for expected in ["INBOX", "Drafts", "Sent Mail", "Junk", "Trash"] {
        assert!(mailboxes.contains(&expected), "{expected} missing: {shown}");
    }

    assert_eq!(
        env.ok(&["user", "quota", "alice", "unlimited"])["quota"],
        serde_json::Value::Null
    );
    assert_eq!(
        env.ok(&["user", "quota", "alice", "2G"])["quota"],
        2u64 << 30
    );
    assert_eq!(env.ok(&["user", "quota", "alice"])["quota"], 2u64 << 30);

    let changed = env.json_with_stdin(
        &["user", "passwd", "alice", "--password-stdin"],
        b"second-password\n",
    );
    assert_eq!(changed.0, 0, "{}", changed.1);
    assert!(changed.1.get("password").is_none());
    let regenerated = env.ok(&["user", "passwd", "alice"]);
    assert_eq!(regenerated["password"].as_str().map(str::len), Some(20));
    env.fails(&["user", "passwd", "alice", "--password-stdin"], 65, "data");

    assert_eq!(
        env.ok(&["user", "disable", "alice"])["user"]["disabled"],
        true
    );
    assert_eq!(env.ok(&["user", "show", "alice"])["user"]["disabled"], true);
    assert_eq!(
        env.ok(&["user", "enable", "alice"])["user"]["disabled"],
        false
    );

    env.ok(&["user", "delete", "bob"]);
    let error = env.fails(&["user", "show", "bob"], 67, "no_user");
    assert!(
        error["message"].as_str().unwrap().contains("bob"),
        "{error}"
    );
    for args in [
        &["user", "delete", "bob"][..],
        &["user", "quota", "nobody", "1M"],
        &["user", "disable", "nobody"],
        &["user", "passwd", "nobody", "--password", "whatever-pass"],
    ] {
        env.fails(args, 67, "no_user");
    }

    // Human output works too.
    let text = env.run(&["user", "list"]);
    assert_eq!(code(&text), 0);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.starts_with("USERNAME"), "{text}");
    assert!(text.contains("alice"), "{text}");
}

#[test]
fn addresses_are_unique_and_find_their_user() {
    let env = Env::new();
    env.add_user("alice", "alice-password");
    env.add_user("bob", "bob-password");

    let added = env.ok(&["address", "add", "alice", "alice@example.com"]);
    assert_eq!(added["address"]["address"], "alice@example.com");
    env.ok(&["address", "add", "alice", "a.smith@example.com"]);

    let error = env.fails(
        &["address", "add", "bob", "alice@example.com"],
        73,
        "cant_create",
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("alice@example.com"),
        "{error}"
    );
    env.fails(&["address", "add", "bob", "not an address"], 65, "data");
    // A user whose address is taken is not created at all.
    env.fails(
        &[
            "user",
            "add",
            "carol",
            "--password",
            "carol-password",
            "--address",
            "alice@example.com",
        ],
        73,
        "cant_create",
    );
    env.fails(&["user", "show", "carol"], 67, "no_user");
    env.fails(
        &["address", "add", "nobody", "x@example.com"],
        67,
        "no_user",
    );

    let list = env.ok(&["address", "list", "alice"]);
    let addresses: Vec<&str> = list["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses.len(), 2, "{list}");
    assert!(addresses.contains(&"alice@example.com"));

    // Commands take an address wherever they take a user.
    assert_eq!(
        env.ok(&["user", "show", "alice@example.com"])["user"]["username"],
        "alice"
    );

    env.ok(&["address", "delete", "alice", "alice@example.com"]);
    env.fails(
        &["address", "delete", "alice", "alice@example.com"],
        66,
        "not_found",
    );
    env.fails(&["user", "show", "alice@example.com"], 67, "no_user");
    assert_eq!(
        env.ok(&["address", "list", "alice"])["addresses"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn mailboxes_are_created_renamed_and_deleted() {
    let env = Env::new();
    env.add_user("alice", "alice-password");

    env.ok(&["mailbox", "create", "alice", "Work/Projects"]);
    env.ok(&[
        "mailbox",
        "create",
        "alice",
        "Archive",
        "--special-use",
        "\\Archive",
    ]);
    env.fails(
        &["mailbox", "create", "alice", "Work/Projects"],
        73,
        "cant_create",
    );
    env.fails(&["mailbox", "create", "nobody", "X"], 67, "no_user");

    let list = env.ok(&["mailbox", "list", "alice"]);
    let paths: Vec<&str> = list["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"Work") && paths.contains(&"Work/Projects"),
        "parents are made: {list}"
    );
    let archive = list["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == "Archive")
        .unwrap();
    assert_eq!(archive["special_use"], "\\Archive");
    assert_eq!(archive["messages"], 0);

    env.ok(&["mailbox", "rename", "alice", "Work", "Old"]);
    let list = env.ok(&["mailbox", "list", "alice"]);
    let paths: Vec<&str> = list["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"Old/Projects") && !paths.contains(&"Work"),
        "children follow: {list}"
    );

    env.fails(
        &["mailbox", "rename", "alice", "Nope", "Other"],
        66,
        "not_found",
    );
    env.fails(&["mailbox", "delete", "alice", "INBOX"], 77, "no_perm");
    env.fails(&["mailbox", "delete", "alice", "Nope"], 66, "not_found");
    env.ok(&["mailbox", "delete", "alice", "Old/Projects"]);
    let list = env.ok(&["mailbox", "list", "alice"]);
    assert!(!list.to_string().contains("Old/Projects"), "{list}");
}

#[test]
fn messages_are_listed_shown_exported_byte_exact_and_deleted() {
    let env = Env::new();
    env.add_user("alice", "alice-password");
    // Bare LF, 8-bit bytes and a NUL: export must give back exactly these bytes.
    let mut raw = message("Hello there", "first line\nsecond line with caf\u{e9}\n").to_vec();
    raw.extend_from_slice(b"binary \x00 and \xff\n");
    let uid = env.deliver("alice", &raw);

    let list = env.ok(&["message", "list", "alice"]);
    let messages = list["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["uid"], uid);
    assert_eq!(messages[0]["size"], raw.len());

    let shown = env.ok(&["message", "show", "alice", &uid.to_string()]);
    assert_eq!(shown["headers"]["subject"], "Hello there");
    assert_eq!(shown["headers"]["from"], "Sender <sender@example.com>");
    assert!(
        shown["text"]
            .as_str()
            .unwrap()
            .contains("second line with caf\u{e9}"),
        "{shown}"
    );
    let text = env.run(&["message", "show", "alice", &uid.to_string()]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Subject: Hello there"), "{text}");

    let exported = env.run(&["message", "export", "alice", &uid.to_string()]);
    assert_eq!(code(&exported), 0);
    assert_eq!(exported.stdout, raw, "export to stdout is byte-exact");

    let file = env.path("out.eml");
    let doc = env.ok(&[
        "message",
        "export",
        "alice",
        &uid.to_string(),
        "--output",
        file.to_str().unwrap(),
    ]);
    assert_eq!(doc["size"], raw.len());
    assert_eq!(std::fs::read(&file).unwrap(), raw);
    env.fails(
        &[
            "message",
            "export",
            "alice",
            &uid.to_string(),
            "--output",
            file.to_str().unwrap(),
        ],
        73,
        "cant_create",
    );
    env.fails(
        &["message", "export", "alice", &uid.to_string()],
        64,
        "usage",
    );

    env.fails(&["message", "show", "alice", "999"], 66, "not_found");
    env.fails(
        &["message", "list", "alice", "--mailbox", "Nope"],
        66,
        "not_found",
    );
    env.fails(
        &["message", "delete", "alice", &uid.to_string(), "999"],
        66,
        "not_found",
    );
    assert_eq!(
        env.ok(&["message", "list", "alice"])["messages"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "nothing deleted on error"
    );

    let deleted = env.ok(&["message", "delete", "alice", &uid.to_string()]);
    assert_eq!(deleted["deleted"], serde_json::json!([uid]));
    assert!(
        env.ok(&["message", "list", "alice"])["messages"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn stats_verify_and_gc_report_on_the_store() {
    let env = Env::new();
    env.add_user("alice", "alice-password");
    env.add_user("bob", "bob-password");
    env.deliver("alice", &message("one", "body one"));
    env.deliver("bob", &message("two", "body two"));

    let stats = env.ok(&["stats"]);
    assert_eq!(stats["users"], 2);
    assert_eq!(stats["messages"], 2);
    assert!(stats["raw_bytes"].as_u64().unwrap() > 0);
    assert!(stats["raw_to_stored_ratio"].as_f64().unwrap() > 0.0);
    // The real figure on the disk: every file of the data directory (database and WAL).
    let files: u64 = std::fs::read_dir(env.data_dir())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    let on_disk = stats["on_disk_bytes"].as_u64().unwrap();
    assert!(
        on_disk >= stats["stored_bytes"].as_u64().unwrap(),
        "{stats}"
    );
    // The command's own open and close of the store may move the WAL into the database;
    // after it, the files are what it counted at most.
    assert!(
        files > 0 && files <= on_disk,
        "{files} on disk after, {stats}"
    );

    let verified = env.ok(&["verify"]);
    assert!(
        verified["problems"].as_array().unwrap().is_empty(),
        "{verified}"
    );
    assert!(
        env.ok(&["verify", "--repair"])["problems"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let gc = env.ok(&["gc", "--grace", "0"]);
    assert!(gc["deleted_blobs"].is_u64(), "{gc}");
    let text = env.run(&["stats"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("messages:"));
}

#[test]
fn dkim_keys_are_added_replaced_listed_and_deleted_by_domain() {
    let env = Env::new();
    let added = env.ok(&["dkim", "add", "Example.ORG", "--selector", "mail2026"]);
    assert_eq!(added["created"], true);
    let key = &added["key"];
    assert_eq!(key["domain"], "example.org");
    assert_eq!(key["dns"]["name"], "mail2026._domainkey.example.org");
    let record = key["dns"]["value"].as_str().unwrap();
    assert!(
        record.starts_with("v=DKIM1;") && record.contains("p=MII"),
        "{record}"
    );
    assert!(!added.to_string().contains("PRIVATE KEY"), "{added}");

    // An Ed25519 seed from a file replaces the domain's key under the same id.
    let seed = env.path("ed25519.key");
    std::fs::write(&seed, "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=").unwrap();
    let replaced = env.ok(&[
        "dkim",
        "add",
        "example.org",
        "--selector",
        "ed",
        "--private-key-file",
        seed.to_str().unwrap(),
    ]);
    assert_eq!(replaced["created"], false);
    assert_eq!(replaced["key"]["id"], key["id"]);
    assert!(
        replaced["key"]["dns"]["value"]
            .as_str()
            .unwrap()
            .contains("k=ed25519;")
    );
    let keys = env.ok(&["dkim", "list"])["keys"].clone();
    assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");
    assert_eq!(keys[0]["selector"], "ed");

    env.fails(
        &["dkim", "add", "example.org", "--selector", "bad selector"],
        65,
        "data",
    );
    env.ok(&["dkim", "del", "example.org"]);
    assert!(
        env.ok(&["dkim", "list"])["keys"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    env.fails(&["dkim", "del", "example.org"], 66, "not_found");
}

#[test]
fn autoreply_forwarding_and_spam_level_are_set_shown_and_removed() {
    let env = Env::new();
    env.add_user("ann", "ann-password-1");

    assert!(env.ok(&["autoreply", "show", "ann"])["autoreply"].is_null());
    let set = env.ok(&[
        "autoreply",
        "set",
        "ann",
        "--subject",
        "Away",
        "--text",
        "Back on Monday.",
        "--end",
        "2030-01-06T08:00:00Z",
    ]);
    assert_eq!(set["autoreply"]["status"], true, "{set}");
    // A later change keeps the parts it does not name.
    env.ok(&["autoreply", "set", "ann", "--name", "Ann"]);
    let shown = env.ok(&["autoreply", "show", "ann"])["autoreply"].clone();
    assert_eq!(shown["subject"], "Away", "{shown}");
    assert_eq!(shown["text"], "Back on Monday.");
    assert_eq!(shown["name"], "Ann");
    assert_eq!(shown["end"], "2030-01-06T08:00:00Z");
    assert!(shown["start"].is_null());
    env.fails(
        &["autoreply", "set", "ann", "--start", "next monday"],
        64,
        "usage",
    );
    env.ok(&["autoreply", "off", "ann"]);
    assert!(env.ok(&["autoreply", "show", "ann"])["autoreply"].is_null());

    assert_eq!(
        env.ok(&["forward", "add", "ann", "copies@remote.test"])["targets"],
        serde_json::json!(["copies@remote.test"])
    );
    env.ok(&["forward", "add", "ann", "smtp://relay.remote.test:25"]);
    env.ok(&["forward", "add", "ann", "copies@remote.test"]); // already there: no change
    assert_eq!(
        env.ok(&["forward", "list", "ann"])["targets"],
        serde_json::json!(["copies@remote.test", "smtp://relay.remote.test:25"])
    );
    env.fails(&["forward", "add", "ann", "not an address"], 65, "data");
    env.ok(&["forward", "del", "ann", "copies@remote.test"]);
    env.fails(
        &["forward", "del", "ann", "copies@remote.test"],
        66,
        "not_found",
    );
    assert_eq!(
        env.ok(&["forward", "list", "ann"])["targets"],
        serde_json::json!(["smtp://relay.remote.test:25"])
    );

    assert_eq!(
        env.ok(&["user", "set", "ann", "--suspended", "false"])["spam_level"],
        50,
        "the configured default"
    );
    assert_eq!(
        env.ok(&["user", "set", "ann", "--spam-level", "0"])["spam_level"],
        0
    );
    env.fails(&["user", "set", "ann", "--spam-level", "101"], 64, "usage");
}

/// `verify` is one store-wide transaction with nothing to count: on a terminal, once it has
/// taken a second, it shows the seconds it has taken so far; piped, nothing. Another process
/// (Python's sqlite3) holds the store's write lock for a few seconds to make it wait.
#[test]
fn a_slow_verify_shows_its_time_on_a_terminal_only() {
    let env = Env::new();
    env.add_user("alice", "alice-password");
    let store = env.data_dir().join("store.sqlite");
    let hold = "import sqlite3, sys, time\n\
                db = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
                db.execute('BEGIN IMMEDIATE')\n\
                print('held', flush=True)\n\
                time.sleep(4)\n\
                db.execute('COMMIT')\n";
    let mut holder = std::process::Command::new("python3")
        .args(["-c", hold])
        .arg(&store)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "held");

    let shown = env.stderr_on_a_terminal(&["verify"]);
    assert!(holder.wait().unwrap().success());
    assert!(shown.contains("verifying… 1 s"), "{shown:?}");

    let piped = env.run(&["verify"]);
    assert_eq!(code(&piped), 0, "{piped:?}");
    assert!(
        !String::from_utf8_lossy(&piped.stderr).contains("verifying"),
        "{piped:?}"
    );
}
