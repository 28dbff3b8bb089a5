//! The backend conformance suite: behaviour every storage engine must show through the
//! [`Store`] facade. Each check takes a fresh, empty store; `tests/conformance.rs` runs them on
//! SQLite, and another backend runs the same list with its own factory:
//!
//! ```text
//! for check in wildduck_store::testkit::CHECKS {
//!     (check.run)(make_empty_store().await).await;
//! }
//! ```
//!
//! Hidden from the docs: this is test support, not API. Failures panic (they are assertions).

use std::future::Future;
use std::pin::Pin;

use crate::error::*;
use crate::model::*;
use crate::store::Store;

mod addressregister;
mod auth;
mod domains;
mod profiles;
mod retention;
mod rules;
mod subscriptions;
mod two_factor;
use addressregister::address_register_entries;
use auth::{application_passwords, scopes_and_account_states};
use domains::{dkim_keys_one_per_domain, domain_access_lists, domain_aliases};
use profiles::{
    forwarded_addresses_and_forwarding, profiles_and_address_details, storage_recount,
    temporary_passwords,
};
use retention::{mailbox_retention, stored_files};
use rules::{
    delivery_applies_domain_access_and_spam_level, delivery_applies_filters_and_spam,
    delivery_sends_one_autoreply_per_sender, filter_and_autoreply_records,
};
use subscriptions::subscriptions_outlive_their_mailbox;
use two_factor::totp_two_factor;

/// One named check of the suite.
pub struct Check {
    pub name: &'static str,
    pub run: fn(Store) -> Pin<Box<dyn Future<Output = ()> + Send>>,
}

macro_rules! checks {
    ($($name:ident),* $(,)?) => {
        /// Every check of the suite.
        pub const CHECKS: &[Check] = &[$(Check {
            name: stringify!($name),
            run: |store| Box::pin($name(store)),
        }),*];
    };
}

checks!(
    basic_message_flow,
    users_and_default_mailboxes,
    authentication,
    scopes_and_account_states,
    application_passwords,
    totp_two_factor,
    addresses,
    domain_aliases,
    domain_access_lists,
    dkim_keys_one_per_domain,
    mailbox_hierarchy,
    subscriptions_outlive_their_mailbox,
    inbox_rename,
    bad_mailbox_names_change_nothing,
    flags_and_unchangedsince,
    select_view,
    keywords_outlive_their_messages,
    recent_claims,
    copy_and_move,
    quota,
    append_batch_matches_appends,
    append_batch_stops_where_a_message_fails,
    expunge_and_journal,
    search_metadata,
    search_agrees_with_plain_evaluation,
    notifications,
    delete_user_releases_everything,
    verify_and_gc,
    profiles_and_address_details,
    forwarded_addresses_and_forwarding,
    temporary_passwords,
    storage_recount,
    mailbox_retention,
    stored_files,
    filter_and_autoreply_records,
    delivery_applies_filters_and_spam,
    delivery_applies_domain_access_and_spam_level,
    delivery_sends_one_autoreply_per_sender,
    address_register_entries,
);

/// A message with bare LF, CRLF and a NUL, to prove bytes come back unchanged. Its body is
/// over 1 KiB, so the content engine keeps it as a blob of its own (one blob per distinct
/// message, which the blob-count checks below rely on).
pub fn sample_message(n: usize) -> Vec<u8> {
    format!(
        "From: Sender <sender@example.com>\r\nTo: rcpt@example.com\r\nSubject: test {n}\r\n\
         Message-ID: <{n}@example.com>\r\n\r\nbody {n}\nbare LF line\r\nNUL:\0:end\r\n{}",
        "filler text to make the body a leaf\r\n".repeat(30)
    )
    .into_bytes()
}

pub async fn user(store: &Store, name: &str) -> User {
    store
        .create_user(NewUser {
            username: name.into(),
            password: "pass word".into(),
            ..NewUser::default()
        })
        .await
        .expect("create user")
}

pub fn flags(list: &[Flag]) -> Flags {
    list.iter().cloned().collect()
}

async fn inbox(store: &Store, user: &User) -> Mailbox {
    store.get_mailbox(user.id, "INBOX").await.expect("INBOX")
}

async fn body(store: &Store, mailbox: MailboxId, uid: Uid) -> Vec<u8> {
    store
        .read_section(mailbox, uid, &Section::full(), None)
        .await
        .expect("read BODY[]")
        .to_vec()
}

/// Create user, append, snapshot, fetch_meta, BODY[], flags, expunge.
pub async fn basic_message_flow(store: Store) {
    let alice = user(&store, "alice").await;
    let inbox = inbox(&store, &alice).await;
    let raw = sample_message(1);
    let first = store
        .append(inbox.id, &raw, &flags(&[Flag::Seen]), Some(1_700_000_000))
        .await
        .unwrap();
    assert_eq!(first.uid, 1);
    assert_eq!(first.uidvalidity, inbox.uidvalidity);
    assert_eq!(first.size, raw.len() as u64);
    let second = store
        .append(inbox.id, &sample_message(2), &Flags::new(), None)
        .await
        .unwrap();
    assert_eq!(second.uid, 2);
    assert!(second.modseq > first.modseq);

    let snap = store.snapshot(inbox.id).await.unwrap();
    assert_eq!(snap.uids, vec![1, 2]);
    assert_eq!(snap.uidnext, 3);
    assert_eq!(snap.highest_modseq, second.modseq);

    let meta = store
        .fetch_meta(inbox.id, &UidSet::all(), MetaFields::default())
        .await
        .unwrap();
    assert_eq!(meta.len(), 2);
    assert_eq!(meta[0].uid, 1);
    assert_eq!(meta[0].flags, flags(&[Flag::Seen]));
    assert_eq!(meta[0].internal_date, 1_700_000_000);
    assert_eq!(meta[0].size, raw.len() as u64);
    assert_eq!(meta[0].id, first.id);
    assert!(meta[0].envelope.is_none() && meta[0].body_structure.is_none());
    let with_envelope = store
        .fetch_meta(
            inbox.id,
            &UidSet::from_ranges([(2, 2)]),
            MetaFields {
                envelope: true,
                body_structure: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(with_envelope.len(), 1);
    assert!(with_envelope[0].envelope.is_some() && with_envelope[0].body_structure.is_some());

    assert_eq!(body(&store, inbox.id, 1).await, raw);
    assert_eq!(
        store
            .read_section(inbox.id, 9, &Section::full(), None)
            .await
            .unwrap_err(),
        Error::Message(MessageError::NotFound)
    );

    let status = store.mailbox_status(inbox.id).await.unwrap();
    assert_eq!(status.messages, 2);
    assert_eq!(status.unseen, 1);
    assert_eq!(status.uidnext, 3);
    assert_eq!(
        status.size,
        raw.len() as u64 + sample_message(2).len() as u64
    );

    let stored = store
        .store_flags(
            inbox.id,
            &UidSet::all(),
            FlagOp::Add,
            &flags(&[Flag::Deleted]),
            None,
        )
        .await
        .unwrap();
    let flag_modseq = stored.modseq.expect("flags changed");
    assert!(flag_modseq > second.modseq);
    assert_eq!(stored.updated.len(), 2);
    assert!(stored.updated.iter().all(|(_, _, m)| *m == flag_modseq));

    let gone = store
        .expunge(inbox.id, Some(&UidSet::from_ranges([(1, 1)])))
        .await
        .unwrap();
    assert_eq!(gone.uids, vec![1]);
    assert!(gone.modseq.unwrap() > flag_modseq);
    assert_eq!(store.snapshot(inbox.id).await.unwrap().uids, vec![2]);
    let user_after = store.get_user(alice.id).await.unwrap();
    assert_eq!(user_after.storage_used, sample_message(2).len() as u64);
    let next = store
        .append(inbox.id, &raw, &Flags::new(), None)
        .await
        .unwrap();
    assert_eq!(next.uid, 3, "UIDs are never reused");
}

/// New users get the default folders with their roles; names are unique by unameview.
pub async fn users_and_default_mailboxes(store: Store) {
    let user = user(&store, "John.Doe").await;
    assert_eq!(user.username, "John.Doe");
    assert_eq!(user.storage_used, 0);
    let boxes = store.list_mailboxes(user.id).await.unwrap();
    let mut expected: Vec<(String, Option<SpecialUse>)> = DEFAULT_MAILBOXES
        .iter()
        .map(|(p, u)| (p.to_string(), *u))
        .collect();
    expected.sort();
    let got: Vec<(String, Option<SpecialUse>)> = boxes
        .iter()
        .map(|m| (m.path.clone(), m.special_use))
        .collect();
    assert_eq!(got, expected);
    let mut validities: Vec<u32> = boxes.iter().map(|m| m.uidvalidity).collect();
    validities.sort_unstable();
    validities.dedup();
    assert_eq!(
        validities.len(),
        boxes.len(),
        "UIDVALIDITY unique per mailbox"
    );

    let again = store
        .create_user(NewUser {
            username: "johndoe".into(),
            password: "x".into(),
            ..NewUser::default()
        })
        .await;
    assert_eq!(again.unwrap_err(), Error::User(UserError::AlreadyExists));
    assert_eq!(store.find_user("JOHN.DOE").await.unwrap().id, user.id);
    assert_eq!(store.find_user("j.o.h.n.d.o.e").await.unwrap().id, user.id);
    assert_eq!(store.list_users().await.unwrap().len(), 1);

    for bad in ["", "a b", "x\0y", "....", "tab\t"] {
        let result = store
            .create_user(NewUser {
                username: bad.into(),
                password: "x".into(),
                ..NewUser::default()
            })
            .await;
        assert!(
            matches!(result, Err(Error::User(UserError::InvalidUsername(_)))),
            "{bad:?}: {result:?}"
        );
    }
    let empty_password = store
        .create_user(NewUser {
            username: "fresh".into(),
            password: String::new(),
            ..NewUser::default()
        })
        .await;
    assert!(matches!(
        empty_password,
        Err(Error::User(UserError::InvalidPassword(_)))
    ));
    assert_eq!(
        store.list_users().await.unwrap().len(),
        1,
        "nothing was added"
    );

    let ghost = UserId::new();
    assert_eq!(
        store.get_user(ghost).await.unwrap_err(),
        Error::User(UserError::NotFound)
    );
    assert_eq!(
        store.set_quota(ghost, Some(1)).await.unwrap_err(),
        Error::User(UserError::NotFound)
    );
    assert_eq!(
        store.delete_user(ghost).await.unwrap_err(),
        Error::User(UserError::NotFound)
    );
    assert_eq!(
        store.list_mailboxes(ghost).await.unwrap_err(),
        Error::User(UserError::NotFound)
    );
    assert_eq!(
        store.create_mailbox(ghost, "Work", None).await.unwrap_err(),
        Error::User(UserError::NotFound)
    );
    assert_eq!(
        store.add_address(ghost, "g@example.com").await.unwrap_err(),
        Error::User(UserError::NotFound)
    );
}

/// Passwords: right, wrong, unknown user, disabled, changed.
pub async fn authentication(store: Store) {
    let bob = user(&store, "bob").await;
    let ok = store.authenticate("Bob", "pass word", Scope::Imap).await;
    assert_eq!(ok.unwrap().id, bob.id);
    let bad = Error::Auth(AuthError::InvalidCredentials);
    assert_eq!(
        store
            .authenticate("bob", "wrong", Scope::Imap)
            .await
            .unwrap_err(),
        bad
    );
    assert_eq!(
        store
            .authenticate("nobody", "pass word", Scope::Pop3)
            .await
            .unwrap_err(),
        bad
    );
    assert_eq!(
        store
            .authenticate("", "pass word", Scope::Pop3)
            .await
            .unwrap_err(),
        bad
    );
    store.set_disabled(bob.id, true).await.unwrap();
    assert!(store.get_user(bob.id).await.unwrap().disabled);
    assert_eq!(
        store
            .authenticate("bob", "pass word", Scope::Imap)
            .await
            .unwrap_err(),
        Error::Auth(AuthError::Disabled)
    );
    assert_eq!(
        store
            .authenticate("bob", "wrong", Scope::Imap)
            .await
            .unwrap_err(),
        bad,
        "a disabled account does not reveal itself to a wrong password"
    );
    store.set_disabled(bob.id, false).await.unwrap();
    store.set_password(bob.id, "new secret").await.unwrap();
    assert!(
        store
            .authenticate("bob", "pass word", Scope::Imap)
            .await
            .is_err()
    );
    assert!(
        store
            .authenticate("bob", "new secret", Scope::Imap)
            .await
            .is_ok()
    );
    store.add_address(bob.id, "bob@example.com").await.unwrap();
    assert_eq!(
        store
            .authenticate("Bob@Example.com", "new secret", Scope::Smtp)
            .await
            .unwrap()
            .id,
        bob.id,
        "login by address"
    );
}

/// Addresses: normalization, lookup key, uniqueness, removal.
pub async fn addresses(store: Store) {
    let carol = user(&store, "carol").await;
    let dave = user(&store, "dave").await;
    let added = store
        .add_address(carol.id, "Carol.Smith+Work@XN--MAANA-PTA.example")
        .await
        .unwrap();
    assert_eq!(added.address, "carol.smith+work@mañana.example");
    assert_eq!(added.addrview, "carolsmith@mañana.example");
    assert_eq!(added.user, carol.id);
    for alias in [
        "carolsmith@mañana.example",
        "c.a.r.o.l.smith+other@MAÑANA.example",
        "CAROLSMITH@xn--maana-pta.example",
    ] {
        assert_eq!(
            store.resolve_address(alias).await.unwrap().id,
            carol.id,
            "{alias}"
        );
    }
    assert_eq!(
        store
            .add_address(dave.id, "carolsmith+x@mañana.example")
            .await
            .unwrap_err(),
        Error::Address(AddressError::AlreadyExists)
    );
    assert!(matches!(
        store.add_address(dave.id, "not an address").await,
        Err(Error::Address(AddressError::Invalid(_)))
    ));
    assert_eq!(
        store
            .resolve_address("nobody@example.com")
            .await
            .unwrap_err(),
        Error::Address(AddressError::NotFound)
    );
    assert!(store.list_addresses(dave.id).await.unwrap().is_empty());
    store
        .add_address(carol.id, "ünïcödé@example.org")
        .await
        .unwrap();
    assert_eq!(store.list_addresses(carol.id).await.unwrap().len(), 2);
    assert_eq!(
        store
            .remove_address(dave.id, "carolsmith@mañana.example")
            .await
            .unwrap_err(),
        Error::Address(AddressError::NotFound),
        "only the owner removes an address"
    );
    store
        .remove_address(carol.id, "carol.smith@mañana.example")
        .await
        .unwrap();
    assert_eq!(store.list_addresses(carol.id).await.unwrap().len(), 1);
    assert!(
        store
            .resolve_address("carolsmith@mañana.example")
            .await
            .is_err()
    );

    let with_address = store
        .create_user(NewUser {
            username: "erin".into(),
            password: "x".into(),
            quota: Some(1000),
            address: Some("Erin@Example.com".into()),
        })
        .await
        .unwrap();
    assert_eq!(with_address.quota, Some(1000));
    assert_eq!(
        store.find_user("erin@example.com").await.unwrap().id,
        with_address.id
    );
    let taken = store
        .create_user(NewUser {
            username: "frank".into(),
            password: "x".into(),
            quota: None,
            address: Some("erin@example.com".into()),
        })
        .await;
    assert_eq!(
        taken.unwrap_err(),
        Error::Address(AddressError::AlreadyExists)
    );
    assert!(
        store.find_user("frank").await.is_err(),
        "a failed create leaves no user behind"
    );
}

/// Create with parents, rename with children (UIDVALIDITY kept), delete rules, subscribe.
pub async fn mailbox_hierarchy(store: Store) {
    let u = user(&store, "hier").await;
    let leaf = store
        .create_mailbox(u.id, "Work/Projects/Rust", None)
        .await
        .unwrap();
    for parent in ["Work", "Work/Projects"] {
        store.get_mailbox(u.id, parent).await.unwrap();
    }
    assert_eq!(
        store
            .create_mailbox(u.id, "Work/Projects", None)
            .await
            .unwrap_err(),
        Error::Mailbox(MailboxError::AlreadyExists)
    );
    assert_eq!(
        store.create_mailbox(u.id, "inbox", None).await.unwrap_err(),
        Error::Mailbox(MailboxError::AlreadyExists)
    );
    let archive = store
        .create_mailbox(u.id, "Old Stuff", Some(SpecialUse::Archive))
        .await
        .unwrap();
    assert_eq!(archive.special_use, Some(SpecialUse::Archive));
    store
        .append(leaf.id, &sample_message(1), &Flags::new(), None)
        .await
        .unwrap();

    store
        .rename_mailbox(u.id, "Work", "Job/2024")
        .await
        .unwrap();
    assert_eq!(
        store.get_mailbox(u.id, "Work").await.unwrap_err(),
        Error::Mailbox(MailboxError::NotFound)
    );
    let moved = store
        .get_mailbox(u.id, "Job/2024/Projects/Rust")
        .await
        .unwrap();
    assert_eq!(moved.id, leaf.id);
    assert_eq!(moved.uidvalidity, leaf.uidvalidity);
    assert_eq!(store.snapshot(moved.id).await.unwrap().uids, vec![1]);
    store.get_mailbox(u.id, "Job").await.unwrap();

    assert_eq!(
        store
            .rename_mailbox(u.id, "Job/2024", "Job/2024/Inner")
            .await
            .unwrap_err(),
        Error::Mailbox(MailboxError::InvalidName(
            "can not move a mailbox into itself".into()
        ))
    );
    assert_eq!(
        store
            .rename_mailbox(u.id, "Job", "Drafts")
            .await
            .unwrap_err(),
        Error::Mailbox(MailboxError::AlreadyExists)
    );
    assert_eq!(
        store
            .rename_mailbox(u.id, "Nope", "Other")
            .await
            .unwrap_err(),
        Error::Mailbox(MailboxError::NotFound)
    );
    assert_eq!(
        store
            .rename_mailbox(u.id, "Job", "inbox")
            .await
            .unwrap_err(),
        Error::Mailbox(MailboxError::AlreadyExists)
    );

    // A new mailbox at an old path never gets the old UIDVALIDITY.
    let reborn = store.create_mailbox(u.id, "Work", None).await.unwrap();
    assert!(reborn.uidvalidity > leaf.uidvalidity);

    for protected in ["INBOX", "inbox", "Sent Mail", "Trash", "Old Stuff"] {
        assert!(
            matches!(
                store.delete_mailbox(u.id, protected).await,
                Err(Error::Mailbox(MailboxError::Protected(_)))
            ),
            "{protected}"
        );
    }
    let before = store.get_user(u.id).await.unwrap().storage_used;
    assert!(before > 0);
    store
        .delete_mailbox(u.id, "Job/2024/Projects/Rust")
        .await
        .unwrap();
    assert_eq!(store.get_user(u.id).await.unwrap().storage_used, 0);
    assert_eq!(
        store.get_mailbox_by_id(leaf.id).await.unwrap_err(),
        Error::Mailbox(MailboxError::NotFound)
    );
    assert_eq!(
        store.snapshot(leaf.id).await.unwrap_err(),
        Error::Mailbox(MailboxError::NotFound)
    );
    assert_eq!(
        store
            .delete_mailbox(u.id, "Job/2024/Projects/Rust")
            .await
            .unwrap_err(),
        Error::Mailbox(MailboxError::NotFound)
    );

    store.set_subscribed(u.id, "Job", false).await.unwrap();
    assert!(!store.get_mailbox(u.id, "Job").await.unwrap().subscribed);
    store.set_subscribed(u.id, "job", true).await.unwrap_err();
    let paths: Vec<String> = store
        .list_mailboxes(u.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.path)
        .collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
}

/// RFC 3501: renaming INBOX moves its messages into a new mailbox; INBOX stays, empty.
pub async fn inbox_rename(store: Store) {
    let u = user(&store, "inboxer").await;
    let inbox = inbox(&store, &u).await;
    store
        .create_mailbox(u.id, "INBOX/Child", None)
        .await
        .unwrap();
    for n in 0..3 {
        store
            .append(inbox.id, &sample_message(n), &flags(&[Flag::Flagged]), None)
            .await
            .unwrap();
    }
    let used = store.get_user(u.id).await.unwrap().storage_used;
    store
        .rename_mailbox(u.id, "Inbox", "Old Inbox")
        .await
        .unwrap();
    let old = store.get_mailbox(u.id, "Old Inbox").await.unwrap();
    assert_ne!(old.uidvalidity, inbox.uidvalidity);
    assert_eq!(store.snapshot(old.id).await.unwrap().uids, vec![1, 2, 3]);
    assert_eq!(body(&store, old.id, 2).await, sample_message(1));
    let meta = store
        .fetch_meta(old.id, &UidSet::all(), MetaFields::default())
        .await
        .unwrap();
    assert!(meta.iter().all(|m| m.flags == flags(&[Flag::Flagged])));
    let inbox_now = store.get_mailbox(u.id, "INBOX").await.unwrap();
    assert_eq!(inbox_now.id, inbox.id);
    assert_eq!(inbox_now.uidvalidity, inbox.uidvalidity);
    assert!(store.snapshot(inbox.id).await.unwrap().uids.is_empty());
    assert_eq!(inbox_now.uidnext, 4, "INBOX keeps its UID counter");
    store.get_mailbox(u.id, "INBOX/Child").await.unwrap();
    assert_eq!(store.get_user(u.id).await.unwrap().storage_used, used);
}

/// Bad names are typed errors and leave every mailbox as it was.
pub async fn bad_mailbox_names_change_nothing(store: Store) {
    let u = user(&store, "names").await;
    store.create_mailbox(u.id, "Keep/Me", None).await.unwrap();
    let before = store.list_mailboxes(u.id).await.unwrap();
    let long = "n".repeat(2000);
    let long_segment = format!("a/{}", "s".repeat(300));
    let bad: Vec<&str> = vec![
        "",
        "/",
        "/Keep",
        "Keep/",
        "Keep//Me",
        "..",
        "Keep/..",
        "Keep/../../etc",
        "./x",
        "a\0b",
        "a\nb",
        "a\rb",
        "bell\u{7}",
        &long,
        &long_segment,
    ];
    for name in &bad {
        let invalid =
            |r: Result<()>| matches!(r, Err(Error::Mailbox(MailboxError::InvalidName(_))));
        assert!(
            invalid(store.create_mailbox(u.id, name, None).await.map(|_| ())),
            "create {name:?}"
        );
        assert!(
            invalid(store.rename_mailbox(u.id, "Keep", name).await),
            "rename to {name:?}"
        );
        assert!(
            invalid(store.rename_mailbox(u.id, name, "Other").await),
            "rename from {name:?}"
        );
        assert!(
            invalid(store.delete_mailbox(u.id, name).await),
            "delete {name:?}"
        );
        assert!(
            invalid(store.get_mailbox(u.id, name).await.map(|_| ())),
            "get {name:?}"
        );
    }
    assert_eq!(store.list_mailboxes(u.id).await.unwrap(), before);
}

/// Flags: add/remove/replace, keywords, UNCHANGEDSINCE with the failed list.
pub async fn select_view(store: Store) {
    let u = user(&store, "selector").await;
    let inbox = inbox(&store, &u).await;
    let empty = store.select_view(inbox.id).await.unwrap();
    assert_eq!(empty.snapshot, store.snapshot(inbox.id).await.unwrap());
    assert!(empty.keywords.is_empty() && empty.first_unseen.is_none());
    let label = |k: &str| Flag::Keyword(k.into());
    let appended = [
        flags(&[Flag::Seen, label("$Label1")]),
        flags(&[Flag::Seen]),
        flags(&[label("Work")]),
        flags(&[label("$Label1"), Flag::Flagged]),
        Flags::new(),
    ];
    for (n, message_flags) in appended.iter().enumerate() {
        store
            .append(inbox.id, &sample_message(n), message_flags, None)
            .await
            .unwrap();
    }
    // A gap in the UIDs, so "first unseen" is a position, not a UID.
    store
        .store_flags(
            inbox.id,
            &UidSet::from_ranges([(1, 1)]),
            FlagOp::Add,
            &flags(&[Flag::Deleted]),
            None,
        )
        .await
        .unwrap();
    store.expunge(inbox.id, None).await.unwrap();
    let view = store.select_view(inbox.id).await.unwrap();
    assert_eq!(view.snapshot, store.snapshot(inbox.id).await.unwrap());
    assert_eq!(view.snapshot.uids, [2, 3, 4, 5]);
    assert_eq!(view.first_unseen, Some(1));
    assert_eq!(
        view.keywords.into_iter().collect::<Vec<_>>(),
        ["$Label1", "Work"]
    );
}

/// A keyword a mailbox's message had stays in its SELECT view once no message has it (so
/// every session lists the same FLAGS), and goes with the mailbox.
pub async fn keywords_outlive_their_messages(store: Store) {
    let u = user(&store, "keywords").await;
    let inbox = inbox(&store, &u).await;
    let label = |k: &str| Flag::Keyword(k.into());
    store
        .append(
            inbox.id,
            &sample_message(0),
            &flags(&[label("Appended")]),
            None,
        )
        .await
        .unwrap();
    let one = UidSet::from_ranges([(1, 1)]);
    for (op, keyword) in [(FlagOp::Add, "$Passing"), (FlagOp::Remove, "$Passing")] {
        store
            .store_flags(inbox.id, &one, op, &flags(&[label(keyword)]), None)
            .await
            .unwrap();
    }
    store
        .store_flags(inbox.id, &one, FlagOp::Replace, &Flags::new(), None)
        .await
        .unwrap();
    let view = store.select_view(inbox.id).await.unwrap();
    assert_eq!(
        view.keywords.into_iter().collect::<Vec<_>>(),
        ["$Passing", "Appended"]
    );

    // Copies may carry any keyword their source had.
    let archive = store
        .create_mailbox(u.id, "Keyword copies", None)
        .await
        .unwrap()
        .id;
    store.copy(inbox.id, &one, archive).await.unwrap();
    let copied = store.select_view(archive).await.unwrap();
    assert_eq!(
        copied.keywords.into_iter().collect::<Vec<_>>(),
        ["$Passing", "Appended"]
    );

    let deleted = store
        .create_mailbox(u.id, "Short lived", None)
        .await
        .unwrap()
        .id;
    store
        .append(deleted, &sample_message(1), &flags(&[label("Gone")]), None)
        .await
        .unwrap();
    store.delete_mailbox(u.id, "Short lived").await.unwrap();
    assert!(store.mailbox_keywords(deleted).await.unwrap().is_empty());
}

/// \Recent: every message is claimed by exactly one of many concurrent claimers, claims
/// never go back, and what nobody claimed is what `unclaimed_recent` lists.
pub async fn recent_claims(store: Store) {
    let u = user(&store, "recent").await;
    let inbox = inbox(&store, &u).await;
    for n in 0..3 {
        store
            .append(inbox.id, &sample_message(n), &Flags::new(), None)
            .await
            .unwrap();
    }
    assert_eq!(store.unclaimed_recent(inbox.id).await.unwrap(), [1, 2, 3]);
    assert_eq!(store.claim_recent(inbox.id, 2).await.unwrap(), 1..=2);
    assert_eq!(store.unclaimed_recent(inbox.id).await.unwrap(), [3]);
    // A claim below the marker wins nothing and lowers nothing.
    assert!(store.claim_recent(inbox.id, 1).await.unwrap().is_empty());
    assert_eq!(store.unclaimed_recent(inbox.id).await.unwrap(), [3]);

    for n in 3..40 {
        store
            .append(inbox.id, &sample_message(n), &Flags::new(), None)
            .await
            .unwrap();
    }
    // Sixteen claims race, each up to its own UID (some repeat, some lie below others).
    let claims = (0..16u32).map(|i| {
        let store = store.clone();
        let up_to = 3 + (i * 7) % 38;
        tokio::spawn(async move { store.claim_recent(inbox.id, up_to).await.unwrap() })
    });
    let mut claimed = Vec::new();
    for claim in claims {
        claimed.extend(claim.await.unwrap());
    }
    claimed.sort_unstable();
    let highest = *claimed.last().unwrap();
    assert_eq!(
        claimed,
        (3..=highest).collect::<Vec<_>>(),
        "each UID exactly once"
    );
    let unclaimed: Vec<Uid> = (highest + 1..=40).collect();
    assert_eq!(store.unclaimed_recent(inbox.id).await.unwrap(), unclaimed);
    assert!(matches!(
        store.claim_recent(MailboxId::new(), 5).await,
        Err(Error::Mailbox(MailboxError::NotFound))
    ));
}

pub async fn flags_and_unchangedsince(store: Store) {
    let u = user(&store, "flagger").await;
    let inbox = inbox(&store, &u).await;
    for n in 0..3 {
        store
            .append(inbox.id, &sample_message(n), &Flags::new(), None)
            .await
            .unwrap();
    }
    let kw = Flag::Keyword("$Label1".into());
    let out = store
        .store_flags(
            inbox.id,
            &UidSet::from_ranges([(1, 2)]),
            FlagOp::Add,
            &flags(&[Flag::Seen, kw.clone()]),
            None,
        )
        .await
        .unwrap();
    let m1 = out.modseq.unwrap();
    assert_eq!(
        out.updated,
        vec![
            (1, flags(&[Flag::Seen, kw.clone()]), m1),
            (2, flags(&[Flag::Seen, kw.clone()]), m1)
        ]
    );
    // Nothing changes: no MODSEQ, but the messages are still reported.
    let same = store
        .store_flags(
            inbox.id,
            &UidSet::from_ranges([(1, 1)]),
            FlagOp::Add,
            &flags(&[Flag::Seen]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(same.modseq, None);
    assert_eq!(
        same.updated,
        vec![(1, flags(&[Flag::Seen, kw.clone()]), m1)]
    );
    assert_eq!(store.snapshot(inbox.id).await.unwrap().highest_modseq, m1);

    let status = store.mailbox_status(inbox.id).await.unwrap();
    assert_eq!(status.unseen, 1);

    let cond = store
        .store_flags(
            inbox.id,
            &UidSet::all(),
            FlagOp::Replace,
            &flags(&[Flag::Answered]),
            Some(m1 - 1),
        )
        .await
        .unwrap();
    assert_eq!(cond.modified, vec![1, 2]);
    let m2 = cond.modseq.unwrap();
    assert_eq!(cond.updated, vec![(3, flags(&[Flag::Answered]), m2)]);

    let removed = store
        .store_flags(
            inbox.id,
            &UidSet::from_ranges([(1, 1)]),
            FlagOp::Remove,
            &flags(std::slice::from_ref(&kw)),
            Some(m2),
        )
        .await
        .unwrap();
    assert!(removed.modified.is_empty());
    assert_eq!(removed.updated[0].1, flags(&[Flag::Seen]));

    for bad in ["", "two words", "\\Recent", "paren(", "ctl\u{1}", "star*"] {
        let result = store
            .store_flags(
                inbox.id,
                &UidSet::all(),
                FlagOp::Add,
                &flags(&[Flag::Keyword(bad.into())]),
                None,
            )
            .await;
        assert!(
            matches!(result, Err(Error::Message(MessageError::InvalidFlag(_)))),
            "{bad:?}"
        );
    }
    let meta = store
        .fetch_meta(inbox.id, &UidSet::all(), MetaFields::default())
        .await
        .unwrap();
    assert_eq!(meta[0].flags, flags(&[Flag::Seen]));
    assert_eq!(meta[1].flags, flags(&[Flag::Seen, kw]));
    assert_eq!(meta[2].flags, flags(&[Flag::Answered]));
    let none = store
        .store_flags(
            inbox.id,
            &UidSet::from_ranges([(50, 60)]),
            FlagOp::Add,
            &flags(&[Flag::Seen]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(none.modseq, None);
    assert!(none.updated.is_empty());
}

/// Copy shares content and keeps flags; move is atomic and journals both sides.
pub async fn copy_and_move(store: Store) {
    let u = user(&store, "mover").await;
    let inbox = inbox(&store, &u).await;
    let trash = store.get_mailbox(u.id, "Trash").await.unwrap();
    for n in 0..4 {
        store
            .append(inbox.id, &sample_message(n), &flags(&[Flag::Seen]), None)
            .await
            .unwrap();
    }
    let blobs_before = store.stats().await.unwrap().blobs;
    let copied = store
        .copy(inbox.id, &UidSet::from_ranges([(2, 3), (9, 12)]), trash.id)
        .await
        .unwrap();
    assert_eq!(copied.pairs, vec![(2, 1), (3, 2)]);
    assert_eq!(copied.uidvalidity, trash.uidvalidity);
    assert_eq!(
        store.stats().await.unwrap().blobs,
        blobs_before,
        "content shared"
    );
    assert_eq!(body(&store, trash.id, 2).await, sample_message(2));
    let copied_meta = store
        .fetch_meta(trash.id, &UidSet::all(), MetaFields::default())
        .await
        .unwrap();
    assert!(copied_meta.iter().all(|m| m.flags == flags(&[Flag::Seen])));
    let total: u64 = (0..4).map(|n| sample_message(n).len() as u64).sum();
    let copies: u64 = (2..4).map(|n| sample_message(n).len() as u64).sum();
    assert_eq!(
        store.get_user(u.id).await.unwrap().storage_used,
        total + copies
    );

    let inbox_modseq = store.snapshot(inbox.id).await.unwrap().highest_modseq;
    let moved = store
        .move_messages(inbox.id, &UidSet::from_ranges([(1, 1), (4, 4)]), trash.id)
        .await
        .unwrap();
    assert_eq!(moved.pairs, vec![(1, 3), (4, 4)]);
    assert_eq!(store.snapshot(inbox.id).await.unwrap().uids, vec![2, 3]);
    assert_eq!(
        store.snapshot(trash.id).await.unwrap().uids,
        vec![1, 2, 3, 4]
    );
    assert_eq!(body(&store, trash.id, 4).await, sample_message(3));
    assert_eq!(
        store.get_user(u.id).await.unwrap().storage_used,
        total + copies,
        "moving within a user does not change quota"
    );
    let inbox_changes = store.changes_since(inbox.id, inbox_modseq).await.unwrap();
    let expunged: Vec<Uid> = inbox_changes
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Expunge)
        .map(|c| c.uid)
        .collect();
    assert_eq!(expunged, vec![1, 4]);
    let nothing = store
        .copy(inbox.id, &UidSet::from_ranges([(100, 200)]), trash.id)
        .await
        .unwrap();
    assert!(nothing.pairs.is_empty() && nothing.modseq.is_none());
    assert_eq!(
        store
            .copy(inbox.id, &UidSet::all(), MailboxId::new())
            .await
            .unwrap_err(),
        Error::Mailbox(MailboxError::NotFound)
    );
    assert_eq!(store.snapshot(inbox.id).await.unwrap().uids, vec![2, 3]);
    let report = store.verify(false).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

/// A batch stores what the same appends one by one store: UIDs in order, MODSEQs, journal,
/// flags, dates, analysis, bytes and quota; one wake-up with the last MODSEQ.
pub async fn append_batch_matches_appends(store: Store) {
    let single = user(&store, "single").await;
    let batched = user(&store, "batched").await;
    let single_inbox = inbox(&store, &single).await;
    let batched_inbox = inbox(&store, &batched).await;
    let raws: Vec<Vec<u8>> = (1..=5).map(sample_message).collect();
    let flag_sets = [
        flags(&[Flag::Seen]),
        Flags::new(),
        flags(&[Flag::Flagged, Flag::Keyword("$label1".into())]),
        flags(&[Flag::Deleted]),
        Flags::new(),
    ];
    let items: Vec<AppendItem> = raws
        .iter()
        .zip(&flag_sets)
        .enumerate()
        .map(|(i, (raw, flags))| AppendItem {
            raw,
            flags,
            internal_date: Some(1_700_000_000 + i as i64),
        })
        .collect();
    let mut appended = Vec::new();
    for item in &items {
        appended.push(
            store
                .append(single_inbox.id, item.raw, item.flags, item.internal_date)
                .await
                .unwrap(),
        );
    }
    let mut rx = store.subscribe(batched.id);
    let batch = store.append_batch(batched_inbox.id, &items).await.unwrap();
    assert!(batch.stopped.is_none());
    let wake = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .expect("a wake-up")
        .unwrap();
    let last = batch.stored.last().expect("five stored");
    assert_eq!(wake, (batched_inbox.id, last.modseq));

    let key = |o: &AppendOutcome| (o.uid, o.modseq, o.size);
    assert_eq!(
        batch.stored.iter().map(key).collect::<Vec<_>>(),
        appended.iter().map(key).collect::<Vec<_>>()
    );
    assert_eq!(
        batch.stored.iter().map(|o| o.uid).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    let fields = MetaFields {
        envelope: true,
        body_structure: true,
    };
    let single_meta = store
        .fetch_meta(single_inbox.id, &UidSet::all(), fields)
        .await
        .unwrap();
    let batched_meta = store
        .fetch_meta(batched_inbox.id, &UidSet::all(), fields)
        .await
        .unwrap();
    assert_eq!(batched_meta.len(), 5);
    for ((one, other), outcome) in single_meta.iter().zip(&batched_meta).zip(&batch.stored) {
        assert_eq!(other.id, outcome.id);
        assert_eq!(
            (
                one.uid,
                one.modseq,
                &one.flags,
                one.internal_date,
                one.header_date,
                one.size
            ),
            (
                other.uid,
                other.modseq,
                &other.flags,
                other.internal_date,
                other.header_date,
                other.size
            )
        );
        assert_eq!(one.envelope, other.envelope);
        assert_eq!(one.body_structure, other.body_structure);
        assert_eq!(
            body(&store, batched_inbox.id, other.uid).await,
            raws[other.uid as usize - 1]
        );
    }
    assert_eq!(
        store
            .changes_since(single_inbox.id, 0)
            .await
            .unwrap()
            .changes,
        store
            .changes_since(batched_inbox.id, 0)
            .await
            .unwrap()
            .changes
    );
    let single_snap = store.snapshot(single_inbox.id).await.unwrap();
    let batched_snap = store.snapshot(batched_inbox.id).await.unwrap();
    assert_eq!(
        (batched_snap.uidnext, batched_snap.highest_modseq),
        (single_snap.uidnext, single_snap.highest_modseq)
    );
    assert_eq!(
        store.get_user(batched.id).await.unwrap().storage_used,
        store.get_user(single.id).await.unwrap().storage_used
    );
    assert_eq!(
        store
            .search(batched_inbox.id, &SearchKey::Body("body 3".into()))
            .await
            .unwrap(),
        vec![3]
    );

    let empty = store.append_batch(batched_inbox.id, &[]).await.unwrap();
    assert!(empty.stored.is_empty() && empty.stopped.is_none());
}

/// A batch stops at the first message that does not fit the quota or is refused: the ones
/// before it are stored, it and the rest are not.
pub async fn append_batch_stops_where_a_message_fails(store: Store) {
    let u = user(&store, "batchquota").await;
    let inbox = inbox(&store, &u).await;
    let size = sample_message(1).len() as u64;
    store
        .set_quota(u.id, Some(size * 2 + size / 2))
        .await
        .unwrap();
    let raws: Vec<Vec<u8>> = (1..=4).map(sample_message).collect();
    let no_flags = Flags::new();
    let items: Vec<AppendItem> = raws
        .iter()
        .map(|raw| AppendItem {
            raw,
            flags: &no_flags,
            internal_date: None,
        })
        .collect();
    let outcome = store.append_batch(inbox.id, &items).await.unwrap();
    assert_eq!(
        outcome.stored.iter().map(|o| o.uid).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert!(matches!(
        outcome.stopped,
        Some(Error::Message(MessageError::OverQuota { used, needed, .. })) if used == 2 * size && needed == size
    ));
    let snap = store.snapshot(inbox.id).await.unwrap();
    assert_eq!(snap.uids, vec![1, 2]);
    assert_eq!(snap.uidnext, 3);
    assert_eq!(snap.highest_modseq, outcome.stored[1].modseq);
    assert_eq!(store.get_user(u.id).await.unwrap().storage_used, 2 * size);
    assert_eq!(
        store
            .changes_since(inbox.id, 0)
            .await
            .unwrap()
            .changes
            .len(),
        2
    );

    // A refused flag ends the batch the same way, before anything after it is tried.
    store.set_quota(u.id, None).await.unwrap();
    let bad = flags(&[Flag::Keyword("bad keyword".into())]);
    let mixed = [
        items[2],
        AppendItem {
            flags: &bad,
            ..items[3]
        },
        items[0],
    ];
    let outcome = store.append_batch(inbox.id, &mixed).await.unwrap();
    assert_eq!(
        outcome.stored.iter().map(|o| o.uid).collect::<Vec<_>>(),
        vec![3]
    );
    assert!(matches!(
        outcome.stopped,
        Some(Error::Message(MessageError::InvalidFlag(_)))
    ));
    assert_eq!(store.snapshot(inbox.id).await.unwrap().uids, vec![1, 2, 3]);
    assert_eq!(store.get_user(u.id).await.unwrap().storage_used, 3 * size);
}

/// Over quota: append, copy fail with OverQuota and change nothing; too big is TooBig.
pub async fn quota(store: Store) {
    let u = user(&store, "quota").await;
    let inbox = inbox(&store, &u).await;
    let drafts = store.get_mailbox(u.id, "Drafts").await.unwrap();
    let size = sample_message(1).len() as u64;
    store
        .set_quota(u.id, Some(size * 2 + size / 2))
        .await
        .unwrap();
    store
        .append(inbox.id, &sample_message(1), &Flags::new(), None)
        .await
        .unwrap();
    store.check_append(inbox.id, size).await.unwrap();
    store
        .append(inbox.id, &sample_message(2), &Flags::new(), None)
        .await
        .unwrap();
    let before = store.snapshot(inbox.id).await.unwrap();
    let over = store
        .append(inbox.id, &sample_message(3), &Flags::new(), None)
        .await
        .unwrap_err();
    assert!(matches!(
        over,
        Error::Message(MessageError::OverQuota { used, needed, .. }) if used == 2 * size && needed == size
    ));
    assert!(matches!(
        store.check_append(inbox.id, size).await,
        Err(Error::Message(MessageError::OverQuota { .. }))
    ));
    assert!(matches!(
        store.copy(inbox.id, &UidSet::all(), drafts.id).await,
        Err(Error::Message(MessageError::OverQuota { .. }))
    ));
    // Moving needs no new space.
    store
        .move_messages(inbox.id, &UidSet::from_ranges([(1, 1)]), drafts.id)
        .await
        .unwrap();
    assert_eq!(store.snapshot(inbox.id).await.unwrap().uids, vec![2]);
    assert_eq!(before.uidnext, 3);
    assert_eq!(store.snapshot(inbox.id).await.unwrap().uidnext, 3);
    assert_eq!(store.get_user(u.id).await.unwrap().storage_used, 2 * size);

    let limit = store.config().max_message_size;
    assert!(matches!(
        store.check_append(inbox.id, limit + 1).await,
        Err(Error::Message(MessageError::TooBig { .. }))
    ));
    store.set_quota(u.id, None).await.unwrap();
    store
        .append(inbox.id, &sample_message(3), &Flags::new(), None)
        .await
        .unwrap();
    assert_eq!(store.get_user(u.id).await.unwrap().storage_used, 3 * size);
    assert_eq!(
        store
            .append(MailboxId::new(), b"x", &Flags::new(), None)
            .await
            .unwrap_err(),
        Error::Mailbox(MailboxError::NotFound)
    );
}

/// Expunge removes only \Deleted (within the set); the journal tells it all in order.
pub async fn expunge_and_journal(store: Store) {
    let u = user(&store, "journal").await;
    let inbox = inbox(&store, &u).await;
    let start = store.snapshot(inbox.id).await.unwrap().highest_modseq;
    let mut appended = Vec::new();
    for n in 0..5 {
        appended.push(
            store
                .append(inbox.id, &sample_message(n), &Flags::new(), None)
                .await
                .unwrap(),
        );
    }
    let flagged = store
        .store_flags(
            inbox.id,
            &UidSet::from_ranges([(2, 4)]),
            FlagOp::Add,
            &flags(&[Flag::Deleted]),
            None,
        )
        .await
        .unwrap();
    let partial = store
        .expunge(inbox.id, Some(&UidSet::from_ranges([(1, 2)])))
        .await
        .unwrap();
    assert_eq!(partial.uids, vec![2]);
    let rest = store.expunge(inbox.id, None).await.unwrap();
    assert_eq!(rest.uids, vec![3, 4]);
    let empty = store.expunge(inbox.id, None).await.unwrap();
    assert!(empty.uids.is_empty() && empty.modseq.is_none());

    let changes = store.changes_since(inbox.id, start).await.unwrap();
    assert!(!changes.truncated);
    let mut expected: Vec<Change> = appended
        .iter()
        .map(|a| Change {
            modseq: a.modseq,
            uid: a.uid,
            kind: ChangeKind::Exists,
        })
        .collect();
    let m = flagged.modseq.unwrap();
    for uid in 2..=4 {
        expected.push(Change {
            modseq: m,
            uid,
            kind: ChangeKind::Flags(flags(&[Flag::Deleted])),
        });
    }
    expected.push(Change {
        modseq: partial.modseq.unwrap(),
        uid: 2,
        kind: ChangeKind::Expunge,
    });
    for uid in [3, 4] {
        expected.push(Change {
            modseq: rest.modseq.unwrap(),
            uid,
            kind: ChangeKind::Expunge,
        });
    }
    assert_eq!(changes.changes, expected);
    assert_eq!(changes.highest_modseq, rest.modseq.unwrap());
    let later = store.changes_since(inbox.id, m).await.unwrap();
    assert_eq!(later.changes.len(), 3);
    assert!(
        store
            .changes_since(inbox.id, changes.highest_modseq)
            .await
            .unwrap()
            .changes
            .is_empty()
    );
    assert_eq!(store.snapshot(inbox.id).await.unwrap().uids, vec![1, 5]);
}

/// SEARCH over flags, sizes, dates, UIDs and MODSEQ.
pub async fn search_metadata(store: Store) {
    let u = user(&store, "searcher").await;
    let inbox = inbox(&store, &u).await;
    let small = b"Subject: a\r\n\r\nx".to_vec();
    let big = [sample_message(1), vec![b'y'; 500]].concat();
    store
        .append(inbox.id, &small, &flags(&[Flag::Seen]), Some(1000))
        .await
        .unwrap();
    let second = store
        .append(inbox.id, &big, &Flags::new(), Some(5000))
        .await
        .unwrap();
    let q = |key: SearchKey| {
        let store = store.clone();
        async move { store.search(inbox.id, &key).await.unwrap() }
    };
    assert_eq!(q(SearchKey::All).await, vec![1, 2]);
    assert_eq!(q(SearchKey::Flag(Flag::Seen, true)).await, vec![1]);
    assert_eq!(q(SearchKey::Flag(Flag::Seen, false)).await, vec![2]);
    assert_eq!(q(SearchKey::Larger(small.len() as u64)).await, vec![2]);
    assert_eq!(q(SearchKey::Smaller(small.len() as u64 + 1)).await, vec![1]);
    assert_eq!(q(SearchKey::InternalBefore(5000)).await, vec![1]);
    assert_eq!(q(SearchKey::InternalSince(5000)).await, vec![2]);
    assert_eq!(q(SearchKey::ModSeqAtLeast(second.modseq)).await, vec![2]);
    assert_eq!(
        q(SearchKey::Not(Box::new(SearchKey::Uids(
            UidSet::from_ranges([(1, 1)])
        ))))
        .await,
        vec![2]
    );
    assert_eq!(
        store
            .search(MailboxId::new(), &SearchKey::All)
            .await
            .unwrap_err(),
        Error::Mailbox(MailboxError::NotFound)
    );
}

/// SEARCH gives what a plain evaluation of the key gives (whole text lower-cased with
/// `to_lowercase`, every message tested), for many generated keys over a varied mailbox:
/// whatever an engine decides in its own query language has to agree with it.
pub async fn search_agrees_with_plain_evaluation(store: Store) {
    let u = user(&store, "model").await;
    let inbox = inbox(&store, &u).await;
    let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
    let mut messages = Vec::new();
    for n in 0..40u64 {
        let raw = varied_message(&mut rng, n);
        let chosen: Vec<Flag> = stored_flags()
            .into_iter()
            .filter(|_| rng.below(3) == 0)
            .collect();
        let internal_date = 1_000_000 + rng.below(40) as i64 * 86_400;
        let appended = store
            .append(inbox.id, &raw, &flags(&chosen), Some(internal_date))
            .await
            .expect("append");
        let analysis = crate::mime::analyze(&raw);
        messages.push(PlainMessage {
            uid: appended.uid,
            modseq: appended.modseq,
            flags: flags(&chosen),
            internal_date,
            header_date: analysis.header_date,
            size: appended.size,
            headers: analysis.search_headers,
            body: analysis.search_body,
        });
    }
    for _ in 0..400 {
        let key = random_key(&mut rng, 3);
        let expected: Vec<Uid> = messages
            .iter()
            .filter(|m| m.matches(&key))
            .map(|m| m.uid)
            .collect();
        let found = store.search(inbox.id, &key).await.expect("search");
        assert_eq!(found, expected, "{key:?}");
    }
}

/// Deterministic pseudo-random numbers, so a failing key is the same on every run.
struct Xorshift(u64);

impl Xorshift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Flags the messages get, each with chance 1/3.
fn stored_flags() -> [Flag; 6] {
    [
        Flag::Seen,
        Flag::Answered,
        Flag::Flagged,
        Flag::Deleted,
        Flag::Draft,
        Flag::Keyword("$Work".into()),
    ]
}

/// Flags the keys ask for: keywords differ from stored ones by case alone or are spelled like
/// a system flag (a keyword no message can have).
fn asked_flags() -> Vec<Flag> {
    let mut asked = stored_flags().to_vec();
    asked.extend(["$work", "\\Seen", "later"].map(|k| Flag::Keyword(k.into())));
    asked
}

/// Subjects and bodies with the folds that are not one-to-one: final sigma, the Kelvin sign,
/// dotted capital I, sharp s; encoded words; lines of other fields.
const SUBJECTS: &[&str] = &[
    "Quarterly report",
    "RE: REPORT due",
    "=?utf-8?q?Stra=C3=9Fe_und_Gr=C3=BC=C3=9Fe?=",
    "=?utf-8?b?zp/OlM6fzqMgzqPOkc6j?=",
    "300 =?utf-8?q?=E2=84=AAelvin?=",
    "=?utf-8?q?=C4=B0stanbul?= trip",
    "plain words: with colon",
    "",
];
const FROMS: &[&str] = &[
    "Ann <ann@example.org>",
    "=?utf-8?q?=C5=81ukasz?= <lukasz@example.org>",
    "\"Report Bot\" <bot@reports.example>",
    "<ann (at work)@ (home) example.org>",
];
const BODIES: &[&str] = &[
    "Lorem ipsum report dolor",
    "Grüße aus der Straße, ΟΔΟΣ ΣΑΣ",
    "nothing to see",
    "KELVIN 300\u{212A} and İ",
];
const NEEDLES: &[&str] = &[
    "",
    "report",
    "REPORT",
    "straße",
    "STRASSE",
    "οδος",
    "οδοσ",
    "σας",
    "ς",
    "kelvin",
    "k",
    "i̇stanbul",
    "istanbul",
    "łukasz",
    "ann@",
    "ann@example.org",
    "colon",
    ": with",
    "example",
    "zzz",
];
const FIELDS: &[&str] = &["subject", "SUBJECT", "from", "x-tag", "date", "cc"];

fn varied_message(rng: &mut Xorshift, n: u64) -> Vec<u8> {
    let mut raw = format!("From: {}\r\n", rng.pick(FROMS));
    if rng.below(4) != 0 {
        // Late and early hours in far zones: the day in the zone differs from the UTC day.
        raw.push_str(&format!(
            "Date: {:02} Jan 2024 {} {}\r\n",
            1 + rng.below(28),
            rng.pick(&["00:30:00", "10:00:00", "23:30:00"]),
            rng.pick(&["+0000", "+1400", "-1100", "+0530"])
        ));
    }
    raw.push_str(&format!("Subject: {}\r\n", rng.pick(SUBJECTS)));
    if rng.below(3) == 0 {
        raw.push_str(&format!("X-Tag: {}\r\n", rng.pick(NEEDLES)));
    }
    if rng.below(5) == 0 {
        raw.push_str(&format!("Subject: {}\r\n", rng.pick(SUBJECTS)));
    }
    raw.push_str("Content-Type: text/plain; charset=utf-8\r\n\r\n");
    let body = *rng.pick(BODIES);
    raw.push_str(body);
    raw.push_str(&format!("\r\nmessage {n}\r\n"));
    raw.push_str(&"filler line\r\n".repeat(rng.below(20) as usize));
    raw.into_bytes()
}

fn random_key(rng: &mut Xorshift, depth: u32) -> SearchKey {
    let leaf_only = depth == 0;
    match rng.below(if leaf_only { 14 } else { 18 }) {
        0 => SearchKey::All,
        1 => SearchKey::Uids(UidSet::from_ranges((0..rng.below(4)).map(|_| {
            let first = 1 + rng.below(45) as Uid;
            (first, first + rng.below(8) as Uid)
        }))),
        2 => SearchKey::Flag(rng.pick(&asked_flags()).clone(), rng.below(2) == 0),
        3 => SearchKey::InternalBefore(1_000_000 + rng.below(40) as i64 * 86_400),
        4 => SearchKey::InternalSince(1_000_000 + rng.below(40) as i64 * 86_400),
        5 => SearchKey::HeaderDateBefore(1_704_067_200 + rng.below(30) as i64 * 86_400),
        6 => SearchKey::HeaderDateSince(1_704_067_200 + rng.below(30) as i64 * 86_400),
        7 => SearchKey::Larger(200 + rng.below(300)),
        8 => SearchKey::Smaller(200 + rng.below(300)),
        9 => SearchKey::ModSeqAtLeast(rng.below(45)),
        10 => SearchKey::Header(rng.pick(FIELDS).to_string(), rng.pick(NEEDLES).to_string()),
        11 => SearchKey::Address(rng.pick(FIELDS).to_string(), rng.pick(NEEDLES).to_string()),
        12 => SearchKey::Body(rng.pick(NEEDLES).to_string()),
        13 => SearchKey::Text(rng.pick(NEEDLES).to_string()),
        14 => SearchKey::Not(Box::new(random_key(rng, depth - 1))),
        15 => SearchKey::Or(
            Box::new(random_key(rng, depth - 1)),
            Box::new(random_key(rng, depth - 1)),
        ),
        _ => SearchKey::And(
            (0..rng.below(4))
                .map(|_| random_key(rng, depth - 1))
                .collect(),
        ),
    }
}

/// A message as the plain evaluation sees it: its stored metadata and decoded search text.
struct PlainMessage {
    uid: Uid,
    modseq: ModSeq,
    flags: Flags,
    internal_date: Timestamp,
    header_date: Option<Timestamp>,
    size: u64,
    headers: String,
    body: String,
}

impl PlainMessage {
    /// The day written in the Date: line (`varied_message` writes `DD Jan 2024 …`), as the
    /// timestamp of its midnight UTC.
    fn sent_day(&self) -> Option<Timestamp> {
        self.header_date?;
        let line = self.headers.lines().find(|l| l.starts_with("Date: "))?;
        let day: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(1_704_067_200 + (day - 1) * 86_400)
    }

    fn matches(&self, key: &SearchKey) -> bool {
        match key {
            SearchKey::All => true,
            SearchKey::Uids(set) => set.contains(self.uid),
            SearchKey::Flag(flag, present) => self.flags.contains(flag) == *present,
            SearchKey::InternalBefore(t) => self.internal_date < *t,
            SearchKey::InternalSince(t) => self.internal_date >= *t,
            SearchKey::HeaderDateBefore(t) => self.sent_day().is_some_and(|d| d < *t),
            SearchKey::HeaderDateSince(t) => self.sent_day().is_some_and(|d| d >= *t),
            SearchKey::Larger(n) => self.size > *n,
            SearchKey::Smaller(n) => self.size < *n,
            SearchKey::Header(name, value) => {
                let (name, value) = (name.to_lowercase(), value.to_lowercase());
                self.headers.to_lowercase().lines().any(|line| {
                    line.split_once(':').is_some_and(|(field, content)| {
                        field.trim() == name && content.contains(&value)
                    })
                })
            }
            // The field's text, or the text with comments and the spaces around `@` taken out
            // (the generated addresses have no other difference from their envelope form).
            SearchKey::Address(name, value) => {
                let (name, value) = (name.to_lowercase(), value.to_lowercase());
                self.headers.to_lowercase().lines().any(|line| {
                    line.split_once(':').is_some_and(|(field, content)| {
                        field.trim() == name
                            && (content.contains(&value)
                                || without_comments(content).contains(&value))
                    })
                })
            }
            SearchKey::Body(needle) => self.body.to_lowercase().contains(&needle.to_lowercase()),
            SearchKey::Text(needle) => {
                let needle = needle.to_lowercase();
                self.headers.to_lowercase().contains(&needle)
                    || self.body.to_lowercase().contains(&needle)
            }
            SearchKey::ModSeqAtLeast(m) => self.modseq >= *m,
            SearchKey::Not(inner) => !self.matches(inner),
            SearchKey::Or(a, b) => self.matches(a) || self.matches(b),
            SearchKey::And(keys) => keys.iter().all(|k| self.matches(k)),
        }
    }
}

/// `text` without its `(comments)` and with no spaces next to an `@`.
fn without_comments(text: &str) -> String {
    let mut depth = 0;
    let bare: String = text
        .chars()
        .filter(|&c| {
            match c {
                '(' => depth += 1,
                ')' if depth > 0 => {
                    depth -= 1;
                    return false;
                }
                _ => {}
            }
            depth == 0
        })
        .collect();
    let parts: Vec<&str> = bare.split('@').map(str::trim).collect();
    parts.join("@").trim().to_string()
}

/// Subscribers hear about committed changes of their own mailboxes only.
pub async fn notifications(store: Store) {
    let u = user(&store, "listener").await;
    let other = user(&store, "other").await;
    let inbox = inbox(&store, &u).await;
    let other_inbox = store.get_mailbox(other.id, "INBOX").await.unwrap();
    let mut rx = store.subscribe(u.id);
    let appended = store
        .append(inbox.id, &sample_message(1), &Flags::new(), None)
        .await
        .unwrap();
    store
        .append(other_inbox.id, &sample_message(1), &Flags::new(), None)
        .await
        .unwrap();
    let wake = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .expect("a wake-up")
        .unwrap();
    assert_eq!(wake, (inbox.id, appended.modseq));
    // The change is visible once the wake-up arrives.
    assert_eq!(
        store.snapshot(inbox.id).await.unwrap().highest_modseq,
        appended.modseq
    );
    let flagged = store
        .store_flags(
            inbox.id,
            &UidSet::all(),
            FlagOp::Add,
            &flags(&[Flag::Seen]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        rx.recv().await.unwrap(),
        (inbox.id, flagged.modseq.unwrap())
    );
    assert!(
        rx.try_recv().is_err(),
        "no wake-up for other users' changes"
    );
}

/// Deleting a user removes everything and releases blob references.
pub async fn delete_user_releases_everything(store: Store) {
    let gone = user(&store, "leaver").await;
    let stays = user(&store, "stayer").await;
    store
        .add_address(gone.id, "leaver@example.com")
        .await
        .unwrap();
    let raw = sample_message(42);
    let gone_inbox = inbox(&store, &gone).await;
    let stays_inbox = inbox(&store, &stays).await;
    store
        .append(gone_inbox.id, &raw, &Flags::new(), None)
        .await
        .unwrap();
    store
        .append(stays_inbox.id, &raw, &Flags::new(), None)
        .await
        .unwrap();
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.blobs, 1, "identical messages share one blob");
    assert_eq!(stats.dedup_hits, 1);
    store.delete_user(gone.id).await.unwrap();
    assert_eq!(
        store.get_user(gone.id).await.unwrap_err(),
        Error::User(UserError::NotFound)
    );
    assert!(store.resolve_address("leaver@example.com").await.is_err());
    assert_eq!(
        store.snapshot(gone_inbox.id).await.unwrap_err(),
        Error::Mailbox(MailboxError::NotFound)
    );
    assert_eq!(store.gc(0).await.unwrap(), 0, "blob still used by stayer");
    assert_eq!(body(&store, stays_inbox.id, 1).await, raw);
    let report = store.verify(false).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    store.delete_user(stays.id).await.unwrap();
    assert_eq!(store.gc(0).await.unwrap(), 1);
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.users, stats.messages, stats.blobs), (0, 0, 0));
}

/// verify finds nothing on a consistent store; gc keeps blobs within the grace period.
pub async fn verify_and_gc(store: Store) {
    let u = user(&store, "verifier").await;
    let inbox = inbox(&store, &u).await;
    store
        .append(inbox.id, &sample_message(1), &flags(&[Flag::Deleted]), None)
        .await
        .unwrap();
    store
        .copy(inbox.id, &UidSet::all(), inbox.id)
        .await
        .unwrap();
    let report = store.verify(false).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(!report.repaired);
    store.expunge(inbox.id, None).await.unwrap();
    assert_eq!(store.gc(3600).await.unwrap(), 0, "grace period protects it");
    assert_eq!(store.stats().await.unwrap().blobs, 1);
    assert_eq!(store.gc(0).await.unwrap(), 1);
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.messages, stats.blobs, stats.raw_bytes), (0, 0, 0));
    assert!(store.verify(true).await.unwrap().problems.is_empty());
}

/// Password hashes in every format WildDuck accepts, made by the reference libraries
/// (`tests/fixtures/wildduck_hashes.tsv` names the commands): (format, password, hash).
pub fn wildduck_password_hashes() -> Vec<(&'static str, &'static str, &'static str)> {
    include_str!("../../tests/fixtures/wildduck_hashes.tsv")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let mut fields = line.split('\t');
            Some((fields.next()?, fields.next()?, fields.next()?))
        })
        .collect()
}
