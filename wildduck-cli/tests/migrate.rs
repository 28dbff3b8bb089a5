//! `wildduck migrate`: a store built by the real CLI from generated mail (several users, the
//! same messages delivered to two of them, flags, expunge gaps, an unsubscribed special-use
//! mailbox) goes embedded → MongoDB → embedded, and every end must show the same users,
//! addresses, passwords, mailboxes (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ), messages (ids,
//! UIDs, MODSEQs, flags, dates, ENVELOPE, BODYSTRUCTURE, BODY[] bytes) and blob count.
//! Every other record kind is seeded too, and each run's census of every kind must find the
//! same records at both ends.
//! Interrupted migrations (kill -9, `--max-messages`) continue on a re-run without
//! duplicating anything.
//!
//! MongoDB is `nx-27017 --data-dir memory` started by `servers` (or WILDDUCK_TEST_MONGODB_URI).
#![cfg(feature = "distributed")]

mod common;
#[path = "../../wildduck-store/tests/servers/mod.rs"]
mod servers;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Env;
use serde_json::Value;
use wildduck_store::{
    AccessAction, AuthLogFilter, AutoreplyUpdate, FilterAction, Flag, FlagOp, Flags, ForwardTarget,
    MetaFields, NewAsp, NewFile, NewFilter, NewForwarded, Scope, Section, SpecialUse, Store,
    StoreConfig, UidSet, User, UserProfile,
};

/// The `[totp] secret` the stores' TOTP seeds are sealed with, at every end.
const TOTP_SECRET: &str = "migrate-test-totp-secret";
/// Carol's application password (16 letters, chosen so the test can use it at the end).
const CAROL_ASP: &str = "migratetestaspzz";

/// Messages delivered to both alice and bob (so their content is stored once).
const SHARED: usize = 4000;
/// Messages only carol has, in an Archive mailbox (every tenth is expunged): 10,026 in all.
const OWN: usize = 2250;

const USERS: [(&str, &str); 3] = [
    ("alice", "pw-alice-1"),
    ("bob", "pw-bob-2"),
    ("carol", "pw-carol-3"),
];

fn gen_mbox(env: &Env, name: &str, count: usize, seed: u32) -> PathBuf {
    let path = env.path(name);
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/tools/gen_mbox.py");
    let status = Command::new("python3")
        .arg(&tool)
        .args(["-n", &count.to_string(), "--seed", &seed.to_string(), "-o"])
        .arg(&path)
        .stdout(Stdio::null())
        .status()
        .expect("run gen_mbox.py");
    assert!(status.success(), "gen_mbox.py failed");
    path
}

/// A store's config: seeds sealed with [`TOTP_SECRET`].
fn config() -> StoreConfig {
    StoreConfig {
        totp_secret: Some(TOTP_SECRET.into()),
        ..StoreConfig::default()
    }
}

async fn open_embedded(dir: &Path) -> Store {
    Store::open_sqlite(dir, config())
        .await
        .expect("open embedded store")
}

async fn open_mongodb(uri: &str) -> Store {
    Store::open_mongodb(uri, None, config())
        .await
        .expect("open MongoDB store")
}

/// Builds the source store in `env`'s data dir: users through the CLI, mail through
/// `wildduck import`, then flags, expunges and subscriptions through the store.
/// Returns the source's blob count, which includes the content of the expunged messages
/// (awaiting `gc`, so not copied).
async fn build_source(env: &Env, shared: usize, own: usize) -> u64 {
    for (i, (name, password)) in USERS.iter().enumerate() {
        let address = format!("{name}@example.com");
        let quota = format!("{}G", i + 1);
        env.ok(&[
            "user",
            "add",
            name,
            "--password",
            password,
            "--address",
            &address,
            "--quota",
            &quota,
        ]);
    }
    let shared_mbox = gen_mbox(env, "shared.mbox", shared, 1);
    let own_mbox = gen_mbox(env, "own.mbox", own, 2);
    let shared_path = shared_mbox.to_str().expect("utf-8 path");
    env.ok(&["import", "--user", "alice", shared_path]);
    env.ok(&["import", "--user", "bob", shared_path]);
    env.ok(&[
        "import",
        "--user",
        "carol",
        "--mailbox",
        "Archive",
        own_mbox.to_str().expect("utf-8 path"),
    ]);
    std::fs::remove_file(shared_mbox).expect("remove mbox");
    std::fs::remove_file(own_mbox).expect("remove mbox");

    let store = open_embedded(&env.data_dir()).await;
    let alice = store.find_user("alice").await.expect("alice");
    let bob = store.find_user("bob").await.expect("bob");
    let carol = store.find_user("carol").await.expect("carol");
    let inbox = store.get_mailbox(alice.id, "INBOX").await.expect("INBOX");
    let seen: Flags = [Flag::Seen].into();
    let odd = UidSet::from_ranges((1..shared as u32).step_by(2).map(|u| (u, u)));
    store
        .store_flags(inbox.id, &odd, FlagOp::Add, &seen, None)
        .await
        .expect("flag");
    let labelled: Flags = [Flag::Flagged, Flag::Keyword("$Label1".into())].into();
    let bob_inbox = store.get_mailbox(bob.id, "INBOX").await.expect("INBOX");
    let sevenths = UidSet::from_ranges((7..shared as u32).step_by(7).map(|u| (u, u)));
    store
        .store_flags(bob_inbox.id, &sevenths, FlagOp::Add, &labelled, None)
        .await
        .expect("flag");
    let archive = store
        .get_mailbox(carol.id, "Archive")
        .await
        .expect("Archive");
    let deleted: Flags = [Flag::Deleted].into();
    let tenths = UidSet::from_ranges((10..own as u32).step_by(10).map(|u| (u, u)));
    store
        .store_flags(archive.id, &tenths, FlagOp::Add, &deleted, None)
        .await
        .expect("flag");
    store.expunge(archive.id, None).await.expect("expunge");
    store
        .set_subscribed(carol.id, "Archive", false)
        .await
        .expect("unsubscribe");
    store
        .create_mailbox(alice.id, "Projects/2026", Some(SpecialUse::Flagged))
        .await
        .expect("create");
    // Login records: carol's ASP, used once (its last use goes along), and TOTP on for bob,
    // enabled with pyotp's code.
    store
        .create_asp(
            carol.id,
            NewAsp {
                description: "phone".into(),
                scopes: vec![Scope::Imap],
                password: Some(CAROL_ASP.into()),
                ..NewAsp::default()
            },
        )
        .await
        .expect("ASP");
    store
        .authenticate_from("carol", CAROL_ASP, Scope::Imap, "192.0.2.9".parse().ok())
        .await
        .expect("ASP login");
    let setup = store
        .setup_totp(bob.id, "Test", "bob")
        .await
        .expect("setup")
        .expect("a secret is configured");
    std::fs::write(env.path("bob.seed"), &setup.seed).expect("keep the seed");
    store
        .enable_totp(bob.id, &pyotp_code(&setup.seed, 0))
        .await
        .expect("enable")
        .expect("the code is valid");
    seed_other_records(&store, &alice, &bob, &carol).await;
    assert!(
        store
            .verify(false)
            .await
            .expect("verify")
            .problems
            .is_empty()
    );
    store.stats().await.expect("stats").blobs
}

/// The record kinds a migration's census lists; the source holds records of each.
const RECORD_KINDS: [&str; 24] = [
    "address details",
    "address register",
    "addresses",
    "asps",
    "auth log",
    "autoreplies",
    "cert",
    "deleteduser",
    "dkim",
    "domainaccess",
    "domainalias",
    "encrypted mailboxes",
    "filters",
    "forwarded addresses",
    "keywords",
    "mailboxes",
    "profiles",
    "setting",
    "stored files",
    "subscriptions",
    "temporary passwords",
    "totp",
    "users",
    "webhook",
];
/// Kinds the source leaves empty: certificates, DKIM keys and deferred deletions need
/// key material or a deleted user; the census still compares them.
const EMPTY_KINDS: [&str; 3] = ["cert", "deleteduser", "dkim"];

/// One record (at least) of every kind beside mail and logins, through the store.
async fn seed_other_records(store: &Store, alice: &User, bob: &User, carol: &User) {
    let profile = UserProfile {
        name: Some("Alice A.".into()),
        spam_level: Some(40),
        ..UserProfile::default()
    };
    store
        .set_user_profile(alice.id, profile)
        .await
        .expect("profile");
    store
        .reset_password(carol.id, None)
        .await
        .expect("temporary password");
    let address = &store.list_addresses(bob.id).await.expect("addresses")[0];
    let mut details = store.address_details(address.id).await.expect("details");
    details.name = Some("Bob at work".into());
    store
        .set_address_details(bob.id, address.id, details)
        .await
        .expect("details");
    store
        .set_autoreply(
            bob.id,
            AutoreplyUpdate {
                status: Some(true),
                subject: Some("Away".into()),
                ..AutoreplyUpdate::default()
            },
        )
        .await
        .expect("autoreply");
    store
        .create_filter(
            alice.id,
            NewFilter {
                name: "lists".into(),
                action: FilterAction {
                    seen: Some(true),
                    ..FilterAction::default()
                },
                ..NewFilter::default()
            },
        )
        .await
        .expect("filter");
    // A deleted mailbox stays subscribed (RFC 3501 §6.3.6): a dangling subscription.
    store
        .create_mailbox(carol.id, "Gone", None)
        .await
        .expect("create");
    store
        .set_subscribed(carol.id, "Gone", true)
        .await
        .expect("subscribe");
    store
        .delete_mailbox(carol.id, "Gone")
        .await
        .expect("dangling subscription");
    let sent = store
        .get_mailbox(alice.id, "Sent Mail")
        .await
        .expect("Sent Mail");
    let message = b"From: alice@example.com\r\nTo: Dora <dora@example.org>\r\n\
                    Subject: hi\r\n\r\nhello\r\n";
    store
        .append(sent.id, message, &Flags::new(), None)
        .await
        .expect("append to Sent Mail");
    store
        .store_file(
            carol.id,
            NewFile {
                filename: Some("notes.txt".into()),
                content_type: None,
                cid: None,
                content: b"an upload".repeat(100),
            },
        )
        .await
        .expect("file");
    let archive = store
        .get_mailbox(carol.id, "Archive")
        .await
        .expect("Archive");
    store
        .set_mailbox_encrypted(archive.id, true)
        .await
        .expect("encrypted mailbox");
    store
        .create_domain_alias("example.net", "example.com")
        .await
        .expect("domain alias");
    store
        .set_domain_access("vip", "example.org", AccessAction::Allow)
        .await
        .expect("domain access");
    store
        .set_setting("const:max:storage", serde_json::json!(2_000_000_000u64))
        .await
        .expect("setting");
    store
        .create_webhook(
            &["user.*".into()],
            Some(carol.id),
            "http://127.0.0.1:9/hook",
        )
        .await
        .expect("webhook");
    store
        .create_forwarded(NewForwarded {
            address: "team@example.com".into(),
            targets: vec![ForwardTarget::Mail("dora@example.org".into())],
            ..NewForwarded::default()
        })
        .await
        .expect("forwarded address");
    // The ASP login above wrote carol's auth log in the background: wait for it.
    for _ in 0..500 {
        let events = store
            .auth_log(carol.id, &AuthLogFilter::default())
            .await
            .expect("auth log");
        if !events.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("carol's login never reached the auth log");
}

/// Every record kind listed with records (none left out, none unknown), and no mismatch.
fn assert_every_kind_copied(report: &Value) {
    let records = report["records"].as_object().expect("records");
    let kinds: Vec<&str> = records.keys().map(String::as_str).collect();
    assert_eq!(kinds, RECORD_KINDS, "{report}");
    for (kind, count) in records {
        let seeded = !EMPTY_KINDS.contains(&kind.as_str());
        assert_eq!(count.as_u64().unwrap() > 0, seeded, "{kind}: {report}");
    }
    assert_eq!(report["mismatches"], serde_json::json!([]), "{report}");
}

/// Whether `assert_same` compares every message's BODY[] too.
#[derive(Clone, Copy, PartialEq)]
enum Bodies {
    Compare,
    /// Records only: for a store whose content reached a later copy that is compared.
    Skip,
}

/// Asserts that `copy` holds exactly what `original` holds, record by record (and with
/// `Bodies::Compare` byte by byte), and that its users log in with their passwords.
async fn assert_same(original: &Store, copy: &Store, bodies: Bodies, seed_path: &Path) {
    let users = original.list_users().await.expect("users");
    assert_eq!(users, copy.list_users().await.expect("users"), "users");
    let all = MetaFields {
        envelope: true,
        body_structure: true,
    };
    for user in &users {
        assert_eq!(
            original.list_addresses(user.id).await.expect("addresses"),
            copy.list_addresses(user.id).await.expect("addresses"),
            "addresses of {}",
            user.username
        );
        let mailboxes = original.list_mailboxes(user.id).await.expect("mailboxes");
        assert_eq!(
            mailboxes,
            copy.list_mailboxes(user.id).await.expect("mailboxes")
        );
        for mailbox in &mailboxes {
            // The journal is not copied: nothing changed since the copy's HIGHESTMODSEQ,
            // and older MODSEQs are answered "resynchronize".
            let since = copy
                .changes_since(mailbox.id, mailbox.highest_modseq)
                .await
                .expect("changes");
            assert!(since.changes.is_empty() && !since.truncated, "{since:?}");
            if mailbox.highest_modseq > 0 {
                let before = copy.changes_since(mailbox.id, 0).await.expect("changes");
                assert!(before.truncated, "{} {}", user.username, mailbox.path);
            }
            let metas = original
                .fetch_meta(mailbox.id, &UidSet::all(), all)
                .await
                .expect("meta");
            assert_eq!(
                metas,
                copy.fetch_meta(mailbox.id, &UidSet::all(), all)
                    .await
                    .expect("meta"),
                "messages of {} {}",
                user.username,
                mailbox.path
            );
            for meta in metas.iter().filter(|_| bodies == Bodies::Compare) {
                let a = original
                    .read_section(mailbox.id, meta.uid, &Section::full(), None)
                    .await
                    .expect("BODY[]");
                let b = copy
                    .read_section(mailbox.id, meta.uid, &Section::full(), None)
                    .await
                    .expect("BODY[]");
                assert!(
                    a.chunks.concat() == b.chunks.concat(),
                    "BODY[] of {} {} UID {} differs",
                    user.username,
                    mailbox.path,
                    meta.uid
                );
            }
        }
    }
    for user in &users {
        assert_eq!(
            original.list_asps(user.id).await.expect("ASPs"),
            copy.list_asps(user.id).await.expect("ASPs"),
            "ASPs of {}",
            user.username
        );
        assert_eq!(
            original.totp_enabled(user.id).await.expect("TOTP"),
            copy.totp_enabled(user.id).await.expect("TOTP"),
            "TOTP of {}",
            user.username
        );
    }
    // `master`: bob has TOTP on, so his password opens no protocol.
    for (name, password) in USERS {
        copy.authenticate(name, password, Scope::Master)
            .await
            .unwrap_or_else(|e| panic!("{name} can not log in to the copy: {e}"));
    }
    let login = copy
        .authenticate_from("carol", CAROL_ASP, Scope::Imap, None)
        .await
        .expect("carol's ASP opens IMAP on the copy");
    assert!(login.asp.is_some());
    // The sealed seed came along: the next step's code is accepted (once).
    let seed = std::fs::read_to_string(seed_path).expect("the seed");
    let bob = copy.find_user("bob").await.expect("bob");
    assert_eq!(
        copy.check_totp(bob.id, &pyotp_code(&seed, 30))
            .await
            .expect("check"),
        Ok(())
    );
    let (a, b) = (
        original.stats().await.expect("stats"),
        copy.stats().await.expect("stats"),
    );
    assert_eq!(
        (
            a.users,
            a.mailboxes,
            a.messages,
            a.raw_bytes,
            a.stored_bytes,
            a.blobs
        ),
        (
            b.users,
            b.mailboxes,
            b.messages,
            b.raw_bytes,
            b.stored_bytes,
            b.blobs
        ),
        "store counts"
    );
    assert!(
        copy.verify(false)
            .await
            .expect("verify")
            .problems
            .is_empty()
    );
}

fn fresh_mongodb() -> String {
    servers::fresh_database_uri(&servers::servers().mongodb_uri)
}

/// Runs `wildduck --json migrate` and insists on exit 0; returns the summary.
fn migrate(env: &Env, from: &str, to: &str, extra: &[&str]) -> Value {
    let mut args = vec!["migrate", "--from", from, "--to", to];
    args.extend_from_slice(extra);
    let started = Instant::now();
    let doc = env.ok(&args);
    eprintln!(
        "migrate {from} -> {to}: {:.1}s, {} messages copied",
        started.elapsed().as_secs_f64(),
        doc["progress"]["messages_copied"]
    );
    doc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_to_mongodb_and_back_is_exact() {
    let env = Env::new();
    let started = Instant::now();
    let source_blobs = build_source(&env, SHARED, OWN).await;
    let source = open_embedded(&env.data_dir()).await;
    let total = source.stats().await.expect("stats").messages;
    eprintln!(
        "source store: {total} messages in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    // One more: the message alice filed in Sent Mail (`seed_other_records`).
    assert_eq!(total as usize, 2 * SHARED + OWN - (OWN - 1) / 10 + 1);

    let mongodb = fresh_mongodb();
    let source_dir = env.data_dir();
    let source_dir = source_dir.to_str().expect("utf-8 path");
    let there = migrate(&env, source_dir, &mongodb, &[]);
    assert_eq!(there["complete"], true, "{there}");
    assert_eq!(there["resumed"], false, "{there}");
    assert_eq!(there["progress"]["messages_copied"], total, "{there}");
    assert_every_kind_copied(&there);
    // Content of the expunged messages awaits gc in the source and is not copied; live
    // content must match exactly, and the target holds nothing else but carol's stored
    // file (a blob no message refers to, so not in `live`; at most its 900 bytes).
    assert_eq!(there["source"]["stats"]["blobs"], source_blobs, "{there}");
    assert!(
        there["source"]["live"]["blobs"].as_u64() < Some(source_blobs),
        "{there}"
    );
    assert_eq!(there["source"]["live"], there["target"]["live"], "{there}");
    let count = |end: &str, what: &str, key: &str| there[end][what][key].as_u64().unwrap();
    assert_eq!(
        count("target", "live", "blobs") + 1,
        count("target", "stats", "blobs"),
        "{there}"
    );
    let file_bytes =
        count("target", "stats", "stored_bytes") - count("target", "live", "stored_bytes");
    assert!((1..=900).contains(&file_bytes), "{there}");
    // Without the garbage, the source's counts equal the copies' (checked in assert_same).
    env.ok(&["gc", "--grace", "0"]);
    assert!(
        there["target_repairs"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "{there}"
    );

    let back_dir = env.path("back");
    let back = back_dir.to_str().expect("utf-8 path");
    let returned = migrate(&env, &mongodb, back, &[]);
    assert_eq!(returned["progress"]["messages_copied"], total, "{returned}");
    assert_every_kind_copied(&returned);

    let started = Instant::now();
    let middle = open_mongodb(&mongodb).await;
    // The final copy's bytes came out of the middle one, so comparing them with the source
    // checks both; the middle's records are compared on their own.
    assert_same(&source, &middle, Bodies::Skip, &env.path("bob.seed")).await;
    assert_same(
        &source,
        &open_embedded(&back_dir).await,
        Bodies::Compare,
        &env.path("bob.seed"),
    )
    .await;
    eprintln!(
        "compared the copies with the source in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

/// Polls the target until it holds at least `count` messages (or the migration ended).
async fn wait_for_messages(target: &Store, child: &mut std::process::Child, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        assert!(
            child.try_wait().expect("poll migrate").is_none(),
            "migrate finished before it could be interrupted"
        );
        if target.stats().await.expect("stats").messages >= count {
            return;
        }
        assert!(Instant::now() < deadline, "migrate made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_migration_resumes_without_duplicates() {
    let env = Env::new();
    build_source(&env, 200, 100).await;
    env.ok(&["gc", "--grace", "0"]);
    let source = open_embedded(&env.data_dir()).await;
    let total = source.stats().await.expect("stats").messages;
    let mongodb = fresh_mongodb();
    let source_dir = env.data_dir();
    let source_dir = source_dir.to_str().expect("utf-8 path");

    let mut child = env
        .command(&[
            "--json",
            "migrate",
            "--from",
            source_dir,
            "--to",
            &mongodb,
            "--batch-size",
            "5",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start migrate");
    let target = open_mongodb(&mongodb).await;
    wait_for_messages(&target, &mut child, total / 3).await;
    child.kill().expect("kill -9 migrate");
    child.wait().expect("reap migrate");
    let partial = target.stats().await.expect("stats").messages;
    assert!(
        partial < total,
        "the kill came too late: {partial} of {total}"
    );

    let resumed = migrate(&env, source_dir, &mongodb, &[]);
    assert_eq!(resumed["resumed"], true, "{resumed}");
    assert_eq!(resumed["complete"], true, "{resumed}");
    let copied = resumed["progress"]["messages_copied"]
        .as_u64()
        .expect("copied");
    assert_eq!(partial + copied, total, "{resumed}");
    assert_same(&source, &target, Bodies::Compare, &env.path("bob.seed")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_in_steps_completes_between_embedded_stores() {
    let env = Env::new();
    build_source(&env, 120, 60).await;
    env.ok(&["gc", "--grace", "0"]);
    let source = open_embedded(&env.data_dir()).await;
    let total = source.stats().await.expect("stats").messages;
    let source_dir = env.data_dir();
    let source_dir = source_dir.to_str().expect("utf-8 path");
    let copy_dir = env.path("copy");
    let copy = copy_dir.to_str().expect("utf-8 path");

    let mut done = 0;
    let mut rounds = 0;
    loop {
        let step = migrate(
            &env,
            source_dir,
            copy,
            &["--max-messages", "70", "--batch-size", "16"],
        );
        done += step["progress"]["messages_copied"]
            .as_u64()
            .expect("copied");
        rounds += 1;
        assert!(rounds < 10, "no end: {step}");
        if step["complete"] == true {
            assert_eq!(step["resumed"], true, "{step}");
            break;
        }
        assert_eq!(step["progress"]["messages_copied"], 70, "{step}");
    }
    assert_eq!(done, total);
    // A finished migration run again copies nothing and still agrees (before anyone logs
    // in to the copy: a login there changes its auth log, ASP and TOTP records).
    let again = migrate(&env, source_dir, copy, &[]);
    assert_eq!(again["progress"]["messages_copied"], 0, "{again}");
    assert_every_kind_copied(&again);
    assert_same(
        &source,
        &open_embedded(&copy_dir).await,
        Bodies::Compare,
        &env.path("bob.seed"),
    )
    .await;

    // Pointing it at a store with other data fails clearly instead of merging.
    let other = Env::new();
    other.ok(&["user", "add", "alice", "--password", "x"]);
    let other_dir = other.data_dir();
    let (status, doc) = env.json(&[
        "migrate",
        "--from",
        source_dir,
        "--to",
        other_dir.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(status, 73, "{doc}");
    let message = doc["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("is not empty") && message.contains("user alice is not in the source"),
        "{doc}"
    );
}

/// A new user's way to "sync": migrate once, let the source change, migrate again into the
/// same target. The target then holds an older copy, not an interrupted run: the answer is
/// that the target is not empty (exit 73), before anything is written when the counts show
/// it, else after the run instead of "the copy does not match its source".
#[test]
fn a_target_holding_an_older_copy_is_refused_as_not_empty() {
    let env = Env::new();
    env.add_user("dave", "pw-dave");
    for i in 0..3 {
        env.deliver("dave", &common::message(&format!("m{i}"), "body"));
    }
    let source_dir = env.data_dir();
    let source = source_dir.to_str().expect("utf-8 path");
    let copy_dir = env.path("copy");
    let copy = copy_dir.to_str().expect("utf-8 path");
    migrate(&env, source, copy, &[]);

    let refused = |why: &str| {
        let error = env.fails(
            &["migrate", "--from", source, "--to", copy],
            73,
            "cant_create",
        );
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains("is not empty"), "{error}");
        assert!(message.contains(why), "{error}");
    };
    // One message fewer in the source: found from the counts, nothing is copied.
    env.ok(&["message", "delete", "dave", "1"]);
    refused("more messages than the source");
    let mut stats = env.command(&["--json", "stats"]);
    stats.env("WILDDUCK_DATA_DIR", copy);
    let target = common::parse_json(&common::run_command(stats, b""));
    assert_eq!(target["messages"], 3, "the target was left alone: {target}");

    // Counts equal again (one delivered), but not the same messages: found after the run.
    env.deliver("dave", &common::message("m3", "body"));
    refused("after this run the two differ");
}

/// The code pyotp (an authenticator app) shows `offset` seconds from now for a base32 seed.
fn pyotp_code(seed: &str, offset: i64) -> String {
    let output = Command::new("python3")
        .args([
            "-c",
            "import pyotp, sys, time; print(pyotp.TOTP(sys.argv[1]).at(time.time() + int(sys.argv[2])))",
            seed,
            &offset.to_string(),
        ])
        .output()
        .expect("python3");
    assert!(
        output.status.success(),
        "pyotp: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}
