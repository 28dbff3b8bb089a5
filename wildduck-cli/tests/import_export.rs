//! `wildduck import` and `wildduck export`: round trips keep bytes, flags and dates; corrupt
//! input imports nothing unless asked.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use common::{Env, fixtures_dir, message};

/// Writes a Maildir message file with a given modification time.
fn put(dir: &Path, sub: &str, name: &str, raw: &[u8], mtime: u64) {
    let path = dir.join(sub).join(name);
    fs::write(&path, raw).unwrap();
    let file = fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(UNIX_EPOCH + Duration::from_secs(mtime))
        .unwrap();
}

fn make_maildir(dir: &Path) {
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
}

/// A Maildir message as compared: bytes, flag letters resolved to names, mtime.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    raw: Vec<u8>,
    flags: Vec<String>,
    mtime: u64,
}

/// Reads a Maildir independently of the code under test: files in name order, flags from the
/// info letters (keywords via `dovecot-keywords`).
fn read_maildir(dir: &Path) -> Vec<Entry> {
    let keywords: BTreeMap<char, String> = fs::read_to_string(dir.join("dovecot-keywords"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (index, name) = line.split_once(' ')?;
            let letter = (b'a' + index.parse::<u8>().ok()?) as char;
            Some((letter, name.to_string()))
        })
        .collect();
    let mut files: Vec<PathBuf> = ["cur", "new"]
        .iter()
        .flat_map(|sub| {
            fs::read_dir(dir.join(sub))
                .unwrap()
                .map(|e| e.unwrap().path())
        })
        .collect();
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    files
        .iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let in_cur = path.parent().unwrap().ends_with("cur");
            let info = name
                .rsplit_once(":2,")
                .map(|(_, i)| i.to_string())
                .unwrap_or_default();
            let mut flags: Vec<String> = if in_cur {
                info.chars()
                    .map(|c| keywords.get(&c).cloned().unwrap_or_else(|| c.to_string()))
                    .collect()
            } else {
                Vec::new()
            };
            flags.sort();
            let mtime = fs::metadata(path).unwrap().modified().unwrap();
            Entry {
                raw: fs::read(path).unwrap(),
                flags,
                mtime: mtime.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            }
        })
        .collect()
}

#[test]
fn maildir_import_then_export_keeps_bytes_flags_and_dates() {
    let env = Env::new();
    env.add_user("alice", "alice-password");
    let source = env.path("source");
    make_maildir(&source);
    fs::write(source.join("dovecot-keywords"), "0 $Label1\n1 work\n").unwrap();
    put(
        &source,
        "cur",
        "1700000001.a.host:2,S",
        &message("seen", "crlf body"),
        1_700_000_001,
    );
    put(
        &source,
        "cur",
        "1700000002.b.host:2,FRS",
        b"Subject: bare lf\n\nline\n",
        1_600_000_000,
    );
    put(
        &source,
        "cur",
        "1700000003.c.host:2,DT",
        b"Subject: draft\r\n\r\n\x00nul and \xff bytes",
        1_500_000_000,
    );
    put(
        &source,
        "cur",
        "1700000004.d.host:2,Pab",
        b"Subject: keywords\r\n\r\nx\r\n",
        1_400_000_000,
    );
    put(
        &source,
        "cur",
        "1700000005.e.host",
        b"Subject: no info\r\n\r\n",
        1_300_000_000,
    );
    put(
        &source,
        "new",
        "1700000006.f.host",
        b"Subject: new one\r\n\r\nunread\r\n",
        1_200_000_000,
    );
    let original = read_maildir(&source);

    let imported = env.ok(&[
        "import",
        "--user",
        "alice",
        "--mailbox",
        "Imported",
        source.to_str().unwrap(),
    ]);
    assert_eq!(imported["imported"], 6);
    assert_eq!(imported["skipped"], 0);

    let target = env.path("exported");
    let exported = env.ok(&[
        "export",
        "--user",
        "alice",
        "--mailbox",
        "Imported",
        "--format",
        "maildir",
        "-o",
        target.to_str().unwrap(),
    ]);
    assert_eq!(exported["exported"][0]["messages"], 6);
    let round_trip = read_maildir(&target);
    assert_eq!(round_trip, original);

    // The store itself has the flags, as the message list shows them.
    let list = env.ok(&["message", "list", "alice", "--mailbox", "Imported"]);
    let flags: Vec<String> = list["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["flags"].to_string())
        .collect();
    assert_eq!(flags[0], r#"["\\Seen"]"#);
    assert_eq!(flags[2], r#"["\\Deleted","\\Draft"]"#);
    assert_eq!(flags[3], r#"["$Forwarded","$Label1","work"]"#);
}

#[test]
fn mbox_export_then_import_keeps_bytes_flags_and_dates() {
    let env = Env::new();
    env.add_user("alice", "alice-password");
    let source = env.path("source");
    make_maildir(&source);
    put(
        &source,
        "cur",
        "1.a:2,RS",
        b"Subject: one\r\n\r\nFrom the start\r\n>From quoted\r\n",
        1_000_000_000,
    );
    put(
        &source,
        "cur",
        "2.b:2,F",
        b"Subject: two\n\nno final newline",
        1_100_000_000,
    );
    put(
        &source,
        "cur",
        "3.c:2,",
        b"Subject: three\nStatus-Line: not a flag header\n\n\n",
        1_200_000_000,
    );
    env.ok(&[
        "import",
        "--user",
        "alice",
        "--mailbox",
        "A",
        source.to_str().unwrap(),
    ]);

    let mbox = env.path("a.mbox");
    env.ok(&[
        "export",
        "--user",
        "alice",
        "--mailbox",
        "A",
        "--format",
        "mbox",
        "-o",
        mbox.to_str().unwrap(),
    ]);
    let text = fs::read(&mbox).unwrap();
    assert!(
        text.starts_with(b"From "),
        "an mbox starts with a From line"
    );

    let imported = env.ok(&[
        "import",
        "--user",
        "alice",
        "--mailbox",
        "B",
        mbox.to_str().unwrap(),
    ]);
    assert_eq!(imported["imported"], 3);
    let back = env.path("b");
    env.ok(&[
        "export",
        "--user",
        "alice",
        "--mailbox",
        "B",
        "--format",
        "maildir",
        "-o",
        back.to_str().unwrap(),
    ]);
    let mut without_final_newline = read_maildir(&source);
    // mbox can not tell a message without a final newline; that one gains one.
    without_final_newline[1].raw.push(b'\n');
    assert_eq!(read_maildir(&back), without_final_newline);
}

#[test]
fn a_corrupt_mbox_imports_nothing_unless_told_to_continue() {
    let env = Env::new();
    env.add_user("alice", "alice-password");
    let mbox = env.path("broken.mbox");
    fs::write(
        &mbox,
        b"From a@b Thu Jan  1 00:00:00 1970\nSubject: good one\n\nbody\n\n\
          From a@b Thu Jan  1 00:00:00 1970\n\x00\x01 garbage, no header\n\n\
          From a@b Thu Jan  1 00:00:00 1970\nSubject: good two\n\nbody\n",
    )
    .unwrap();

    let error = env.fails(
        &["import", "--user", "alice", mbox.to_str().unwrap()],
        65,
        "data",
    );
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("nothing imported"), "{message}");
    assert!(
        message.contains("broken.mbox: line 7"),
        "names the place: {message}"
    );
    assert!(
        env.ok(&["message", "list", "alice"])["messages"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let partial = env.ok(&[
        "import",
        "--user",
        "alice",
        "--continue-on-error",
        mbox.to_str().unwrap(),
    ]);
    assert_eq!(partial["imported"], 2);
    assert_eq!(partial["skipped"], 1);
    assert!(
        partial["problems"][0]["origin"]
            .as_str()
            .unwrap()
            .contains("line 7"),
        "{partial}"
    );
    assert_eq!(
        env.ok(&["message", "list", "alice"])["messages"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn inputs_that_are_not_mail_are_refused() {
    let env = Env::new();
    env.add_user("alice", "alice-password");
    let text = env.path("notes.txt");
    fs::write(&text, "just some notes\n").unwrap();
    let error = env.fails(
        &[
            "import",
            "--user",
            "alice",
            "--format",
            "mbox",
            text.to_str().unwrap(),
        ],
        65,
        "data",
    );
    assert!(
        error["message"].as_str().unwrap().contains("not an mbox"),
        "{error}"
    );
    env.fails(
        &["import", "--user", "alice", text.to_str().unwrap()],
        65,
        "data",
    );

    let plain_dir = env.path("plain");
    fs::create_dir(&plain_dir).unwrap();
    env.fails(
        &["import", "--user", "alice", plain_dir.to_str().unwrap()],
        65,
        "data",
    );
    env.fails(
        &[
            "import",
            "--user",
            "alice",
            env.path("missing").to_str().unwrap(),
        ],
        66,
        "not_found",
    );
    env.fails(
        &[
            "import",
            "--user",
            "nobody",
            text.to_str().unwrap(),
            "--continue-on-error",
        ],
        67,
        "no_user",
    );
    assert!(
        env.ok(&["message", "list", "alice"])["messages"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Larger than the message size limit: refused before it is read in full.
    let big = env.path("big.eml");
    fs::write(
        &big,
        [message("big", "").as_slice(), &[b'x'; 5000]].concat(),
    )
    .unwrap();
    let mut cmd = env.command(&["--json", "import", "--user", "alice", big.to_str().unwrap()]);
    cmd.env("WILDDUCK_STORE_MAX_MESSAGE_SIZE", "1000");
    let output = common::run_command(cmd, b"");
    assert_eq!(common::code(&output), 65);
    let doc = common::parse_json(&output);
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limit of 1000"),
        "{doc}"
    );
}

#[test]
fn a_failure_part_way_takes_the_stored_messages_out_again() {
    let env = Env::new();
    // A quota that fits the first message only: the second append fails in the store.
    env.ok(&[
        "user",
        "add",
        "alice",
        "--password",
        "alice-password",
        "--quota",
        "100",
    ]);
    let source = env.path("source");
    make_maildir(&source);
    put(
        &source,
        "cur",
        "1.a:2,S",
        b"Subject: small\r\n\r\nfits\r\n",
        1_000_000_000,
    );
    put(
        &source,
        "cur",
        "2.b:2,S",
        &[b"Subject: big\r\n\r\n".as_slice(), &[b'x'; 200]].concat(),
        1_000_000_000,
    );
    let error = env.fails(
        &["import", "--user", "alice", source.to_str().unwrap()],
        75,
        "temp_fail",
    );
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("removed again"), "{error}");
    assert!(
        message.contains("2.b"),
        "names the message it stopped at: {error}"
    );
    assert!(
        env.ok(&["message", "list", "alice"])["messages"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        env.ok(&["user", "show", "alice"])["user"]["storage_used"],
        0
    );
}

#[test]
fn eml_fixtures_import_and_export_byte_exact() {
    let env = Env::new();
    env.add_user("alice", "alice-password");
    let mut fixtures: Vec<PathBuf> = fs::read_dir(fixtures_dir())
        .expect("tests/fixtures/mime in the repository")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 5, "{fixtures:?}");
    let mut args = vec!["import", "--user", "alice", "--mailbox", "Fixtures"];
    args.extend(fixtures.iter().map(|p| p.to_str().unwrap()));
    assert_eq!(env.ok(&args)["imported"], fixtures.len());

    for (index, fixture) in fixtures.iter().enumerate() {
        let uid = (index + 1).to_string();
        let out = env.run(&["message", "export", "alice", &uid, "--mailbox", "Fixtures"]);
        assert_eq!(
            out.stdout,
            fs::read(fixture).unwrap(),
            "{}",
            fixture.display()
        );
        let shown = env.ok(&["message", "show", "alice", &uid, "--mailbox", "Fixtures"]);
        assert!(shown["headers"].is_object(), "{}", fixture.display());
    }
    // An .eml has no received date of its own: the Date: header is used.
    let list = env.ok(&["message", "list", "alice", "--mailbox", "Fixtures"]);
    let simple = fixtures
        .iter()
        .position(|p| p.ends_with("simple.eml"))
        .unwrap();
    assert_eq!(
        list["messages"][simple]["internal_date"],
        "2015-12-23T09:21:57Z"
    );
}

#[test]
fn a_whole_user_exports_to_a_tree() {
    let env = Env::new();
    env.add_user("alice", "alice-password");
    env.deliver("alice", &message("inbox", "in inbox"));
    env.ok(&["mailbox", "create", "alice", "Work/Projects"]);
    let source = env.path("m");
    make_maildir(&source);
    put(
        &source,
        "cur",
        "1.a:2,S",
        b"Subject: p\r\n\r\nproject\r\n",
        1_000_000_000,
    );
    env.ok(&[
        "import",
        "--user",
        "alice",
        "--mailbox",
        "Work/Projects",
        source.to_str().unwrap(),
    ]);

    let tree = env.path("tree");
    let doc = env.ok(&[
        "export",
        "--user",
        "alice",
        "--all",
        "--format",
        "mbox",
        "-o",
        tree.to_str().unwrap(),
    ]);
    assert!(doc["exported"].as_array().unwrap().len() >= 7, "{doc}");
    assert!(
        fs::read(tree.join("INBOX.mbox"))
            .unwrap()
            .windows(8)
            .any(|w| w == b"in inbox")
    );
    assert!(
        fs::read(tree.join("Work/Projects.mbox"))
            .unwrap()
            .windows(7)
            .any(|w| w == b"project")
    );
    assert!(tree.join("Sent Mail.mbox").is_file());

    let maildirs = env.path("maildirs");
    env.ok(&[
        "export",
        "--user",
        "alice",
        "--all",
        "--format",
        "maildir",
        "-o",
        maildirs.to_str().unwrap(),
    ]);
    assert_eq!(
        read_maildir(&maildirs.join("Work/Projects")),
        read_maildir(&source)
    );
    // Exporting over an existing mbox is refused.
    env.fails(
        &[
            "export",
            "--user",
            "alice",
            "--all",
            "--format",
            "mbox",
            "-o",
            tree.to_str().unwrap(),
        ],
        73,
        "cant_create",
    );
}

/// `gen.mbox` in the test's directory: `count` varied messages from tests/tools/gen_mbox.py,
/// the same for the same `seed`.
fn generated_mbox(env: &Env, count: usize, seed: u64) -> PathBuf {
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/tools");
    let mbox = env.path("gen.mbox");
    let generated = std::process::Command::new("python3")
        .arg(tools.join("gen_mbox.py"))
        .args(["-n", &count.to_string(), "--seed", &seed.to_string(), "-o"])
        .arg(&mbox)
        .output()
        .expect("python3");
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    mbox
}

#[test]
fn a_generated_mbox_imports_as_pythons_mailbox_reads_it_and_round_trips() {
    let env = Env::new();
    env.add_user("alice", "alice-password");
    // 600 messages: more than two of the import's 256-message batches, so order across
    // batches is checked too.
    let mbox = generated_mbox(&env, 600, 11);

    // The reference: Python's own mbox reader, one file per message.
    let reference = env.path("reference");
    fs::create_dir(&reference).unwrap();
    let script = "import mailbox, sys\n\
                  box = mailbox.mbox(sys.argv[1])\n\
                  for i, key in enumerate(box.keys()):\n\
                  \x20   open('%s/%05d' % (sys.argv[2], i), 'wb').write(box.get_bytes(key))\n";
    let read = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&mbox)
        .arg(&reference)
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let mut expected: Vec<PathBuf> = fs::read_dir(&reference)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    expected.sort();
    assert_eq!(expected.len(), 600);

    assert_eq!(
        env.ok(&["import", "--user", "alice", mbox.to_str().unwrap()])["imported"],
        600
    );
    let first = env.path("first");
    env.ok(&[
        "export",
        "--user",
        "alice",
        "--format",
        "maildir",
        "-o",
        first.to_str().unwrap(),
    ]);
    let stored = read_maildir(&first);
    for (entry, reference) in stored.iter().zip(&expected) {
        assert!(
            entry.raw == fs::read(reference).unwrap(),
            "{} differs",
            reference.display()
        );
    }

    // Our mbox export, imported again, gives the same messages.
    let again = env.path("again.mbox");
    env.ok(&[
        "export",
        "--user",
        "alice",
        "--format",
        "mbox",
        "-o",
        again.to_str().unwrap(),
    ]);
    env.ok(&[
        "import",
        "--user",
        "alice",
        "--mailbox",
        "Again",
        again.to_str().unwrap(),
    ]);
    let second = env.path("second");
    env.ok(&[
        "export",
        "--user",
        "alice",
        "--mailbox",
        "Again",
        "--format",
        "maildir",
        "-o",
        second.to_str().unwrap(),
    ]);
    assert!(
        read_maildir(&second) == stored,
        "mbox round trip changed messages"
    );
}

#[test]
fn a_tree_exported_with_all_imports_back_into_the_same_mailboxes() {
    let env = Env::new();
    env.add_user("alice", "alice-password");
    env.add_user("bob", "bob-password");
    env.add_user("carol", "carol-password");
    env.deliver("alice", &message("inbox", "in inbox"));
    let source = env.path("m");
    make_maildir(&source);
    put(
        &source,
        "cur",
        "1.a:2,S",
        b"Subject: p\r\n\r\nproject\r\n",
        1_000_000_000,
    );
    put(
        &source,
        "cur",
        "2.b:2,FR",
        b"Subject: q\r\n\r\nanother\r\n",
        1_100_000_000,
    );
    env.ok(&[
        "import",
        "--user",
        "alice",
        "--mailbox",
        "Work/Projects",
        source.to_str().unwrap(),
    ]);

    let original = env.path("original");
    env.ok(&[
        "export",
        "--user",
        "alice",
        "--all",
        "--format",
        "maildir",
        "-o",
        original.to_str().unwrap(),
    ]);
    let mbox_tree = env.path("mbox-tree");
    env.ok(&[
        "export",
        "--user",
        "alice",
        "--all",
        "--format",
        "mbox",
        "-o",
        mbox_tree.to_str().unwrap(),
    ]);

    // Bob gets the Maildir tree, Carol the mbox tree; both end up with Alice's mail.
    for (user, tree) in [("bob", &original), ("carol", &mbox_tree)] {
        let doc = env.ok(&["import", "--user", user, "--tree", tree.to_str().unwrap()]);
        assert_eq!(doc["imported"], 3, "{doc}");
        let copy = env.path(&format!("{user}-copy"));
        env.ok(&[
            "export",
            "--user",
            user,
            "--all",
            "--format",
            "maildir",
            "-o",
            copy.to_str().unwrap(),
        ]);
        for mailbox in ["INBOX", "Work/Projects", "Work", "Sent Mail"] {
            assert_eq!(
                read_maildir(&copy.join(mailbox)),
                read_maildir(&original.join(mailbox)),
                "{user} {mailbox}"
            );
        }
    }
}

#[test]
fn a_maildir_plus_plus_tree_maps_dot_folders_to_mailboxes() {
    let env = Env::new();
    env.add_user("alice", "alice-password");
    let root = env.path("Maildir");
    make_maildir(&root);
    put(
        &root,
        "cur",
        "1.a:2,S",
        b"Subject: inbox\r\n\r\nx\r\n",
        1_000_000_000,
    );
    for folder in [".Sent", ".Work.Projects"] {
        make_maildir(&root.join(folder));
        put(
            &root.join(folder),
            "new",
            "1.b",
            b"Subject: in folder\r\n\r\ny\r\n",
            1_000_000_000,
        );
    }
    fs::create_dir(root.join(".not-a-maildir")).unwrap();
    let doc = env.ok(&[
        "import",
        "--user",
        "alice",
        "--tree",
        root.to_str().unwrap(),
    ]);
    assert_eq!(doc["imported"], 3, "{doc}");
    let list = env.ok(&["mailbox", "list", "alice"]);
    let count = |path: &str| {
        list["mailboxes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["path"] == path)
            .map(|m| m["messages"].clone())
    };
    assert_eq!(count("INBOX"), Some(1.into()), "{list}");
    assert_eq!(count("Sent"), Some(1.into()), "{list}");
    assert_eq!(count("Work/Projects"), Some(1.into()), "{list}");

    // A corrupt message anywhere in the tree: nothing anywhere is imported.
    put(
        &root.join(".Sent"),
        "cur",
        "2.c:2,",
        b"no header here\n",
        1_000_000_000,
    );
    env.ok(&["user", "add", "bob", "--password", "bob-password"]);
    env.fails(
        &["import", "--user", "bob", "--tree", root.to_str().unwrap()],
        65,
        "data",
    );
    let list = env.ok(&["mailbox", "list", "bob"]);
    assert!(
        list["mailboxes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["messages"] == 0),
        "{list}"
    );
    env.fails(
        &[
            "import",
            "--user",
            "bob",
            "--tree",
            env.path("m-missing").to_str().unwrap(),
        ],
        66,
        "not_found",
    );
}

/// A long import or export counts its messages on stderr when that is a terminal; with
/// `--json`, or piped as in every other test, it writes no counter.
#[test]
fn import_and_export_count_on_a_terminal_only() {
    let env = Env::new();
    env.add_user("alice", "alice-password");
    let mbox = generated_mbox(&env, 150, 3);

    let shown = env.stderr_on_a_terminal(&["import", "--user", "alice", mbox.to_str().unwrap()]);
    assert!(shown.contains("importing 150/150"), "{shown:?}");

    let out = env.path("out.mbox");
    let export = |out: &Path| {
        [
            "export",
            "--user",
            "alice",
            "--format",
            "mbox",
            "-o",
            out.to_str().unwrap(),
        ]
        .map(String::from)
    };
    let args = export(&out);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let shown = env.stderr_on_a_terminal(&args);
    assert!(shown.contains("exporting INBOX 150/150"), "{shown:?}");

    let quiet = env.path("quiet.mbox");
    let args = export(&quiet);
    let mut json = vec!["--json"];
    json.extend(args.iter().map(String::as_str));
    let shown = env.stderr_on_a_terminal(&json);
    assert!(!shown.contains("exporting"), "{shown:?}");

    let piped = env.path("piped.mbox");
    let args = export(&piped);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = env.run(&args);
    assert!(output.status.success(), "{output:?}");
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("exporting"),
        "{output:?}"
    );
    assert_eq!(fs::read(&out).unwrap(), fs::read(&piped).unwrap());
}
