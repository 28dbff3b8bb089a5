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

use accounts::{
    addresses, authentication, delete_user_releases_everything, users_and_default_mailboxes,
};
use mailboxes::{
    bad_mailbox_names_change_nothing, inbox_rename, keywords_outlive_their_messages,
    mailbox_hierarchy, recent_claims, select_view,
};
use messages::{
    append_all_stores_all_or_none, append_batch_matches_appends,
    append_batch_stops_where_a_message_fails, basic_message_flow, copy_and_move,
    email_ids_follow_copies, expunge_and_journal, flags_and_unchangedsince, notifications, quota,
    save_dates_follow_copies_and_moves, verify_and_gc,
};
use search::{search_agrees_with_plain_evaluation, search_metadata};
use std::future::Future;
use std::pin::Pin;

/// Fails the N-th SQL statement of the SQLite engine (see the module).
pub use crate::backend::sqlite::faults as sqlite_faults;
use crate::error::*;
use crate::model::*;
use crate::store::Store;

mod accounts;
mod addressregister;
mod auth;
mod authlog;
mod domain_rename;
mod domains;
mod events;
mod fast_paths;
mod feed;
mod mailboxes;
mod messages;
mod profiles;
mod retention;
mod rules;
mod search;
mod sort;
mod subscriptions;
mod tokens;
mod two_factor;
use addressregister::address_register_entries;
use auth::{application_passwords, scopes_and_account_states};
use authlog::auth_log_events;
use domain_rename::domain_rename;
use domains::{dkim_keys_one_per_domain, domain_access_lists, domain_aliases};
use events::{
    changes_log_their_events, junk_moves_log_marked_spam_and_ham,
    webhook_deliveries_are_leased_once,
};
use fast_paths::fast_paths_agree_with_generic_rules;
use feed::user_change_feed_across_mailboxes;
use profiles::{
    forwarded_addresses_and_forwarding, profiles_and_address_details, storage_recount,
    temporary_passwords,
};
use retention::{mailbox_retention, stored_files};
use rules::{
    delivery_applies_domain_access_and_spam_level, delivery_applies_filters_and_spam,
    delivery_sends_one_autoreply_per_sender, filter_and_autoreply_records,
};
use sort::sort_and_thread;
use subscriptions::subscriptions_outlive_their_mailbox;
use tokens::access_tokens_and_bearer_logins;
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
    auth_log_events,
    access_tokens_and_bearer_logins,
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
    email_ids_follow_copies,
    save_dates_follow_copies_and_moves,
    quota,
    append_batch_matches_appends,
    append_batch_stops_where_a_message_fails,
    append_all_stores_all_or_none,
    expunge_and_journal,
    user_change_feed_across_mailboxes,
    search_metadata,
    search_agrees_with_plain_evaluation,
    sort_and_thread,
    fast_paths_agree_with_generic_rules,
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
    domain_rename,
    changes_log_their_events,
    junk_moves_log_marked_spam_and_ham,
    webhook_deliveries_are_leased_once,
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

const FIELDS: &[&str] = &["subject", "SUBJECT", "from", "x-tag", "date", "cc"];

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
