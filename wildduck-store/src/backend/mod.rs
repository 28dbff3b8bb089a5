//! The storage engines behind the `Store` facade.
//!
//! [`Backend`] is a trait of *domain operations* (append a message with its blob references,
//! move messages, change flags, read a mailbox's changes since n…), not of get/put. Each
//! operation is one atomic unit on its engine: UID, MODSEQ, journal entry, quota counter and
//! blob refcounts move together or not at all (DESIGN §3.4, invariants 4, 6, 7).
//!
//! Everything above this module is engine-neutral: policy (name rules, password hashing,
//! address normalization, MIME analysis, compression) happens in the facade, and the backend
//! receives records that are already validated. Only modules under `backend/` know SQL.

pub(crate) mod generic;
#[cfg(feature = "mongodb")]
pub mod mongo;
mod renames;
pub mod sqlite;

use std::collections::BTreeSet;
use std::path::Path;

use async_trait::async_trait;

use crate::addressregister::RegisteredAddress;
use crate::authlog::AuthEvent;
use crate::error::{Defect, Error, Result};
use crate::filters::{Autoreply, Filter};
use crate::model::*;
use crate::outbound::{ClaimScope, OutboundEntry};
use crate::profiles::{AddressDetails, ForwardedAddress, TempPassword, UserProfile};
pub use renames::Renames;

/// A user as the backend stores it, with the password hash and the unique lookup key.
#[derive(Clone, Debug)]
pub struct UserRecord {
    pub user: User,
    /// `username` lower-cased with dots removed; unique.
    pub unameview: String,
    pub password_hash: String,
}

/// An application-specific password as the backend stores it: with its hash, and the
/// selector that narrows a login to the few ASPs worth verifying (see `crate::asps`).
#[derive(Clone, Debug)]
pub struct AspRecord {
    pub asp: Asp,
    pub selector: String,
    pub password_hash: String,
}

/// Protocol scopes as stored: their names joined by commas (`imap,pop3`).
pub fn scopes_to_text(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|scope| scope.name())
        .collect::<Vec<_>>()
        .join(",")
}

/// The stored form back; `Corrupt` when a name is not a protocol scope.
pub fn scopes_from_text(text: &str) -> Result<Vec<Scope>> {
    text.split(',')
        .filter(|name| !name.is_empty())
        .map(|name| {
            Scope::protocol(name).ok_or_else(|| {
                Defect::Malformed {
                    what: "scope list",
                    detail: format!("unknown scope {name:?}"),
                }
                .into()
            })
        })
        .collect()
}

/// One compressed (or raw) blob, keyed by the blake3 hash of its stored form plus codec.
#[derive(Clone, Debug)]
pub struct BlobData {
    pub hash: [u8; 32],
    pub raw_len: u64,
    pub codec: u8,
    pub data: Vec<u8>,
}

/// How a message's content is kept: an opaque layout owned by the `content` module plus
/// the blobs it refers to, in layout order (the same blob may appear more than once).
#[derive(Clone, Debug)]
pub struct ContentWrite {
    pub layout: Vec<u8>,
    pub blobs: Vec<BlobData>,
}

/// A message's content as read back: the layout and its blobs, in layout order.
#[derive(Clone, Debug)]
pub struct ContentRead {
    pub layout: Vec<u8>,
    pub blobs: Vec<(u8, Vec<u8>)>,
}

/// Picks, from a message's layout bytes, the positions (ascending, in layout order) of the
/// blobs a read needs.
pub type BlobSelector = Box<dyn FnOnce(&[u8]) -> Vec<usize> + Send>;

/// Picks, for each message of a FETCH from its UID and layout bytes, the blobs its reads
/// need (as [`BlobSelector`] does for one).
pub type ContentSelector = Box<dyn FnMut(Uid, &[u8]) -> Vec<usize> + Send>;

/// Everything the backend stores for a new message.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub id: MessageId,
    pub flags: Flags,
    pub internal_date: Timestamp,
    pub header_date: Option<Timestamp>,
    pub size: u64,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub envelope: Envelope,
    pub body_structure: BodyStructure,
    pub search_headers: String,
    pub search_body: String,
    pub content: ContentWrite,
}

/// Which decoded text a search reads: each is a wide column, loaded only when a key needs it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextNeeded {
    pub headers: bool,
    pub body: bool,
}

/// What the search matcher reads of one message; text fields only when asked for, borrowed
/// from the engine's row.
#[derive(Clone, Debug)]
pub struct SearchRow<'a> {
    pub uid: Uid,
    pub email_id: MessageId,
    pub modseq: ModSeq,
    pub flags: Flags,
    pub internal_date: Timestamp,
    /// See [`MessageMeta::saved`].
    pub saved: Option<Timestamp>,
    pub header_date: Option<Timestamp>,
    pub size: u64,
    pub search_headers: Option<&'a str>,
    pub search_body: Option<&'a str>,
}

/// What SORT and THREAD read of one message (`crate::sort`); never its content.
#[derive(Clone, Debug)]
pub struct SortRow {
    pub uid: Uid,
    pub internal_date: Timestamp,
    pub header_date: Option<Timestamp>,
    pub size: u64,
    pub envelope: Option<Envelope>,
    /// The decoded header text (`search_headers`), for References.
    pub headers: Option<String>,
}

/// The wide fields a [`SortRow`] carries only when asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SortNeeds {
    pub envelope: bool,
    pub headers: bool,
}

/// Rows for SORT and THREAD; the orderings are the store's (`crate::sort`).
#[async_trait]
pub trait SortData: Send + Sync {
    /// The messages of `mailbox` in `uids` that exist, in UID order.
    async fn sort_rows(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        needs: SortNeeds,
    ) -> Result<Vec<SortRow>>;
}

/// A committed change a notifier should announce: mailbox of user reached MODSEQ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wake {
    pub user: UserId,
    pub mailbox: MailboxId,
    pub modseq: ModSeq,
}

/// A mailbox to create: path (already validated), role, and whether it (and any parent made
/// for it) starts subscribed.
#[derive(Clone, Debug)]
pub struct NewMailbox {
    pub path: String,
    pub special_use: Option<SpecialUse>,
    pub subscribed: bool,
    pub settings: MailboxSettings,
}

/// Which user fields `update_user` changes.
#[derive(Clone, Debug)]
pub enum UserUpdate {
    PasswordHash(String),
    Quota(Option<u64>),
    Disabled(bool),
    Suspended(bool),
    DisabledScopes(Vec<Scope>),
}

/// Whether `copy_messages` leaves the source messages (copy) or removes them (move).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transfer {
    Copy,
    Move,
}

/// The blake3 hash that names a stored blob (see [`BlobData::hash`]).
pub type BlobHash = [u8; 32];

/// A user with everything that hangs off it except messages, as a migration copies it:
/// ids, password hash, quota, addresses, and mailboxes with their UIDVALIDITY, UIDNEXT,
/// highest MODSEQ, subscription and role as stored.
#[derive(Clone, Debug)]
pub struct UserExport {
    pub record: UserRecord,
    pub addresses: Vec<Address>,
    pub mailboxes: Vec<Mailbox>,
}

/// One stored message record: id, UID, MODSEQ, flags and analysis as stored, and its
/// content as the layout plus blob hashes (the blob bytes travel separately, once).
#[derive(Clone, Debug)]
pub struct MessageExport {
    pub id: MessageId,
    /// See [`MessageMeta::email_id`].
    pub email_id: MessageId,
    pub uid: Uid,
    pub modseq: ModSeq,
    pub flags: Flags,
    pub internal_date: Timestamp,
    /// See [`MessageMeta::saved`].
    pub saved: Option<Timestamp>,
    pub header_date: Option<Timestamp>,
    pub size: u64,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub envelope: Envelope,
    pub body_structure: BodyStructure,
    pub search_headers: String,
    pub search_body: String,
    pub layout: Vec<u8>,
    /// In layout order, repeats included (one reference each), like `ContentWrite::blobs`.
    pub blobs: Vec<BlobHash>,
}

/// The content a store holds for its messages: blobs some message refers to, and the bytes
/// stored for them and for the messages' layouts. What a complete copy reproduces exactly
/// (blobs that only await `gc` are not copied).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LiveContent {
    pub blobs: u64,
    pub stored_bytes: u64,
}

/// Record-level export and import, for copying a whole store between engines with every
/// id and counter unchanged (`Store::migrate_to`). Imports are keyed by ids and UIDs, so
/// running one again after an interruption adds only what is missing.
///
/// Meant for a quiet store: nothing here takes part in the journal, quota checks or
/// wake-ups of the live operations.
#[async_trait]
pub trait RecordCopy: Send + Sync {
    async fn export_users(&self) -> Result<Vec<UserExport>>;
    /// Inserts the user, its addresses and mailboxes with their ids and counters; records
    /// whose id exists already are left as they are. A new user's `storage_used` starts at 0
    /// and grows with its imported messages. A new mailbox's journal starts at its highest
    /// MODSEQ, so a client asking for older changes is told to resynchronize.
    /// `AlreadyExists` when a username, address or path is taken by a different id.
    async fn import_user(&self, user: UserExport) -> Result<()>;
    /// Up to `limit` messages of `mailbox` with a UID above `after`, in UID order.
    async fn export_messages(
        &self,
        mailbox: MailboxId,
        after: Uid,
        limit: usize,
    ) -> Result<Vec<MessageExport>>;
    /// The highest UID stored in `mailbox` (0 when empty): where a resumed copy goes on.
    async fn last_uid(&self, mailbox: MailboxId) -> Result<Uid>;
    /// Those of `hashes` that this store does not hold.
    async fn missing_blobs(&self, hashes: Vec<BlobHash>) -> Result<Vec<BlobHash>>;
    /// The stored blobs of `hashes`; an error naming the first one that is missing.
    async fn export_blobs(&self, hashes: Vec<BlobHash>) -> Result<Vec<BlobData>>;
    /// Stores `messages` (in UID order) in `mailbox` with their ids, UIDs, MODSEQs and flags
    /// unchanged, adding blob references and `storage_used` without a quota check and
    /// without journal entries. `blobs` carries the blobs the messages use that this store
    /// lacks. A message whose UID the mailbox already holds is skipped. Returns how many
    /// messages were stored.
    async fn import_messages(
        &self,
        mailbox: MailboxId,
        messages: Vec<MessageExport>,
        blobs: Vec<BlobData>,
    ) -> Result<u64>;
    async fn live_content(&self) -> Result<LiveContent>;
}

/// The API's user access tokens (`crate::auth::tokens`), each kept under the SHA-256 of the
/// token (hex), never the token itself, with its user, its sliding TTL and its expiry, so
/// every process of the store knows every token.
#[async_trait]
pub trait AccessTokens: Send + Sync {
    /// Stores a new token valid until `now + ttl`, and drops the tokens expired at `now`.
    async fn insert_access_token(
        &self,
        digest: String,
        user: UserId,
        ttl: u64,
        now: Timestamp,
    ) -> Result<()>;
    /// The user of a token live at `now`, its expiry pushed to `now + its ttl` in the same
    /// step; `None` when it is unknown or expired.
    async fn use_access_token(&self, digest: String, now: Timestamp) -> Result<Option<UserId>>;
    async fn delete_access_token(&self, digest: String) -> Result<()>;
    /// Deletes every token of `user` except the one under `keep`.
    async fn delete_user_access_tokens(&self, user: UserId, keep: Option<String>) -> Result<()>;
}

/// Application-specific passwords. The rules (format, limit, scopes, expiry) are the
/// store's (`crate::asps`); an engine keeps the records.
#[async_trait]
pub trait AppPasswords: Send + Sync {
    /// Inserts an ASP unless the user has `limit` already (`AspError::TooMany`), in one
    /// unit on engines with transactions; `UserError::NotFound` for a missing user.
    async fn create_asp(&self, asp: AspRecord, limit: usize) -> Result<()>;
    /// The user's ASPs in creation order, expired ones included.
    async fn list_asps(&self, user: UserId) -> Result<Vec<Asp>>;
    /// The user's ASPs with this selector, with their hashes: a login's candidates.
    async fn asps_by_selector(&self, user: UserId, selector: &str) -> Result<Vec<AspRecord>>;
    /// `AspError::NotFound` when the user has no such ASP.
    async fn delete_asp(&self, user: UserId, asp: AspId) -> Result<()>;
    /// Records a successful login with the ASP and, for one with a TTL, its new expiry.
    async fn record_asp_use(
        &self,
        asp: AspId,
        used: AspUse,
        expires: Option<Timestamp>,
    ) -> Result<()>;
}

/// The auth log (`crate::authlog`): events kept whole, found by user and id, dropped once
/// expired. An event stays after its user is deleted, until it expires.
#[async_trait]
pub trait AuthLog: Send + Sync {
    async fn add_auth_event(&self, event: AuthEvent) -> Result<()>;
    /// The user's events, expired ones included, in any order.
    async fn auth_events(&self, user: UserId) -> Result<Vec<AuthEvent>>;
    async fn auth_event(&self, user: UserId, id: RecordId) -> Result<Option<AuthEvent>>;
    /// Drops the events whose `expires` is at or before `at`; how many went.
    async fn drop_auth_events(&self, at: Timestamp) -> Result<u64>;
}

/// A user's TOTP state: the sealed seed (`crate::totp::SeedCipher`), whether it is enabled
/// (a code was confirmed) and the last step a code was accepted for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TotpRecord {
    pub sealed_seed: Vec<u8>,
    pub enabled: bool,
    pub last_step: Option<i64>,
}

/// Two-factor (TOTP) state of users. The rules are the store's (`crate::two_factor`); an
/// engine keeps one record per user and makes each change one atomic step, so two logins
/// with the same code on two nodes can not both succeed.
#[async_trait]
pub trait TwoFactor: Send + Sync {
    async fn totp(&self, user: UserId) -> Result<Option<TotpRecord>>;
    /// Stores a new, not yet enabled seed, replacing a pending one; `false` (nothing stored)
    /// when TOTP is enabled. `UserError::NotFound` for a missing user.
    async fn set_pending_totp(&self, user: UserId, sealed_seed: Vec<u8>) -> Result<bool>;
    /// Enables the pending seed with `step` as used; `false` when there is none pending.
    async fn enable_totp(&self, user: UserId, step: i64) -> Result<bool>;
    /// Records `step` as used unless this or a later step was used already (`false`: a
    /// replay).
    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool>;
    /// `false` when the user had no TOTP record.
    async fn delete_totp(&self, user: UserId) -> Result<bool>;
}

/// What an account keeps beside login and mail, forwarded addresses, and the recount of a
/// user's storage. The rules are the store's (`crate::profiles`); an engine keeps the records. A user's profile, temporary
/// password and the details of their addresses go with the user (or the address).
#[async_trait]
pub trait Profiles: Send + Sync {
    /// The stored profile, or the default when none was stored.
    async fn user_profile(&self, user: UserId) -> Result<UserProfile>;
    /// `UserError::NotFound` for a missing user.
    async fn set_user_profile(&self, user: UserId, profile: UserProfile) -> Result<()>;
    async fn temp_password(&self, user: UserId) -> Result<Option<TempPassword>>;
    /// Sets or (`None`) removes it; `UserError::NotFound` for a missing user.
    async fn set_temp_password(&self, user: UserId, temp: Option<TempPassword>) -> Result<()>;
    /// The stored details, or the default when none were stored.
    async fn address_details(&self, address: AddressId) -> Result<AddressDetails>;
    async fn set_address_details(&self, address: AddressId, details: AddressDetails) -> Result<()>;
    /// `AddressError::AlreadyExists` when the addrview is taken (by a user's address too, on
    /// engines that can check both in one unit).
    async fn create_forwarded(&self, forwarded: ForwardedAddress) -> Result<()>;
    async fn forwarded_by_id(&self, id: AddressId) -> Result<Option<ForwardedAddress>>;
    async fn forwarded_by_view(&self, addrview: &str) -> Result<Option<ForwardedAddress>>;
    /// Every forwarded address, by id.
    async fn list_forwarded(&self) -> Result<Vec<ForwardedAddress>>;
    /// Replaces the record with its id; `AddressError::NotFound` when gone,
    /// `AlreadyExists` when its new addrview is taken.
    async fn update_forwarded(&self, forwarded: ForwardedAddress) -> Result<()>;
    /// `AddressError::NotFound` when there is none with this id.
    async fn delete_forwarded(&self, id: AddressId) -> Result<()>;
    /// Sets the user's `storage_used` to the sum of their messages' sizes; returns it as it
    /// was and as it is now. `UserError::NotFound` for a missing user.
    async fn recount_storage(&self, user: UserId) -> Result<(u64, u64)>;
}

/// Which mailboxes keep what arrives encrypted to their owner's key (WildDuck's mailbox
/// `encryptMessages`). The rule is the store's (`crate::encryption`); an engine keeps the flag
/// with the mailbox, so it goes when the mailbox goes.
#[async_trait]
pub trait MailboxEncryption: Send + Sync {
    /// `MailboxError::NotFound` for a missing mailbox.
    async fn mailbox_encrypted(&self, mailbox: MailboxId) -> Result<bool>;
    /// `MailboxError::NotFound` for a missing mailbox.
    async fn set_mailbox_encrypted(&self, mailbox: MailboxId, encrypted: bool) -> Result<()>;
}

/// Mailbox settings and message expiry. The rules (when a message expires, how the sweep
/// removes it) are the store's (`crate::retention`); an engine keeps the fields.
#[async_trait]
pub trait Expiry: Send + Sync {
    /// `MailboxError::NotFound` for a missing mailbox.
    async fn update_mailbox_settings(
        &self,
        mailbox: MailboxId,
        update: MailboxSettingsUpdate,
    ) -> Result<()>;
    /// Sets (`None`: clears) the expiry of the messages of `uids` that exist; how many.
    async fn set_expiry(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        expires: Option<Timestamp>,
    ) -> Result<usize>;
    /// Up to `limit` messages whose expiry is at or before `now`, oldest expiry first.
    async fn expired(&self, now: Timestamp, limit: usize) -> Result<Vec<(MailboxId, Uid)>>;
}

/// Users' stored files (`crate::files`): a record per file and its content as one blob of
/// the shared, refcounted blob store, so `verify` and `gc` count files as references too.
#[async_trait]
pub trait FileStorage: Send + Sync {
    /// Inserts the record and references (storing when new) its blob, in one unit on
    /// engines with transactions; `UserError::NotFound` for a missing user.
    async fn insert_file(&self, file: StoredFile, blob: BlobData) -> Result<()>;
    /// The user's files by filename, then id.
    async fn list_files(&self, user: UserId) -> Result<Vec<StoredFile>>;
    /// The file and its blob (`codec`, stored bytes); None when the user has no such file.
    async fn load_file(
        &self,
        user: UserId,
        file: FileId,
    ) -> Result<Option<(StoredFile, u8, Vec<u8>)>>;
    /// Removes the file and releases its blob; false when the user has no such file.
    async fn delete_file(&self, user: UserId, file: FileId) -> Result<bool>;
}

/// The delivery rules a user sets: filters and the autoreply, and the per-sender record of
/// autoreplies sent. The rules themselves are the store's (`crate::filters`); an engine keeps
/// the records.
#[async_trait]
pub trait DeliveryRules: Send + Sync {
    /// Inserts a filter unless the user has `limit` already (`RuleError::TooManyFilters`), in
    /// one unit on engines with transactions; `UserError::NotFound` for a missing user.
    async fn create_filter(&self, filter: Filter, limit: usize) -> Result<()>;
    /// The filters of `user` (of every user for `None`), oldest first.
    async fn list_filters(&self, user: Option<UserId>) -> Result<Vec<Filter>>;
    /// Replaces the filter with the same id and user; `RuleError::FilterNotFound` when none.
    async fn replace_filter(&self, filter: Filter) -> Result<()>;
    /// `RuleError::FilterNotFound` when the user has no such filter.
    async fn delete_filter(&self, user: UserId, filter: FilterId) -> Result<()>;
    async fn autoreply(&self, user: UserId) -> Result<Option<Autoreply>>;
    /// Inserts or replaces the user's autoreply.
    async fn set_autoreply(&self, autoreply: Autoreply) -> Result<()>;
    /// Removes the user's autoreply and its per-sender record; none is no error.
    async fn delete_autoreply(&self, user: UserId) -> Result<()>;
    /// Records that `user` answers `sender` at `now`, unless it did at or after `since`:
    /// `true` when the reply is to be sent. One atomic check-and-set.
    async fn claim_autoreply(
        &self,
        user: UserId,
        sender: &str,
        now: Timestamp,
        since: Timestamp,
    ) -> Result<bool>;
}

/// Subscriptions that outlived their mailbox: RFC 3501 §6.3.6 keeps a name subscribed when
/// its mailbox is deleted. An existing mailbox's subscription is its own `subscribed` flag;
/// these records are for the other names. The rules are the store's (`crate::subscriptions`).
#[async_trait]
pub trait Subscriptions: Send + Sync {
    /// The user's recorded names, in name order (some may have a mailbox again).
    async fn dangling_subscriptions(&self, user: UserId) -> Result<Vec<String>>;
    /// Records (`true`) or forgets (`false`) the user's subscription to `path`; whether a
    /// record was there before.
    async fn set_dangling_subscription(
        &self,
        user: UserId,
        path: &str,
        subscribed: bool,
    ) -> Result<bool>;
}

/// The addresses a user corresponded with (WildDuck's `addressregister`), for address
/// completion. The rules (which messages add which addresses, search) are the store's
/// (`crate::addressregister`); an engine keeps one entry per (user, addrview), gone with
/// the user.
#[async_trait]
pub trait AddressRegister: Send + Sync {
    /// Records each `(addrview, entry)` for `user` in one unit: a new entry, or on an entry
    /// of that addrview that is not disabled, the new `updated` and (when given) `name`. A
    /// disabled entry is left as it is.
    async fn register_addresses(
        &self,
        user: UserId,
        entries: Vec<(String, RegisteredAddress)>,
    ) -> Result<()>;
    /// Every entry of the user, disabled ones included.
    async fn registered_addresses(&self, user: UserId) -> Result<Vec<RegisteredAddress>>;
    /// Sets `disabled` and (when given) the name of one of the user's entries; `false`
    /// when the user has no such entry.
    async fn update_registered_address(
        &self,
        user: UserId,
        id: RecordId,
        disabled: Option<bool>,
        name: Option<String>,
    ) -> Result<bool>;
}

/// The keywords a mailbox has had (WildDuck's `mailbox.flags`): FLAGS at SELECT lists them
/// beside those in use, so every session of a mailbox knows the same keywords even after the
/// last message with one lost it. The rules (which to remember, the cap) are the store's
/// (`crate::keywords`).
#[async_trait]
pub trait MailboxKeywords: Send + Sync {
    async fn mailbox_keywords(&self, mailbox: MailboxId) -> Result<BTreeSet<String>>;
    /// Adds `keywords` to the mailbox's list (a missing mailbox is not an error: nothing to
    /// remember for it).
    async fn remember_keywords(
        &self,
        mailbox: MailboxId,
        keywords: &BTreeSet<String>,
    ) -> Result<()>;
}

/// The tables of operator records in [`Registry`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegistryKind {
    /// Keyed by the alias domain.
    DomainAlias,
    /// Keyed by tag and domain (`crate::domains::access_key`).
    DomainAccess,
    /// Keyed by the signing domain.
    Dkim,
    /// Keyed by the certificate's server name.
    Cert,
    /// Keyed by the user id: a user deleted with a delay (`crate::user_deletion`).
    DeletedUser,
    /// Keyed by the setting's name (`crate::settings`).
    Setting,
    /// Keyed by the webhook's id (`crate::webhooks`).
    Webhook,
}

impl RegistryKind {
    pub const ALL: [RegistryKind; 7] = [
        RegistryKind::DomainAlias,
        RegistryKind::DomainAccess,
        RegistryKind::Dkim,
        RegistryKind::Cert,
        RegistryKind::DeletedUser,
        RegistryKind::Setting,
        RegistryKind::Webhook,
    ];

    /// The stored name of the kind.
    pub fn name(self) -> &'static str {
        match self {
            RegistryKind::DomainAlias => "domainalias",
            RegistryKind::DomainAccess => "domainaccess",
            RegistryKind::Dkim => "dkim",
            RegistryKind::Cert => "cert",
            RegistryKind::DeletedUser => "deleteduser",
            RegistryKind::Setting => "setting",
            RegistryKind::Webhook => "webhook",
        }
    }
}

/// One operator record: its id, the key unique within its kind, and the fields the store's
/// rule module for that kind keeps (serialized JSON; the engine does not look inside).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryEntry {
    pub id: RecordId,
    pub key: String,
    pub body: String,
}

/// Operator records of the install: domain aliases, domain access lists, DKIM keys, TLS
/// certificates, users waiting for their deferred deletion, settings. Few, written by operators, read by key at delivery, login and signing. The
/// rules (normalization, validation, key derivation) are the store's (`crate::domains`,
/// `crate::dkim`, `crate::certs`); an engine keeps the entries unique by (kind, key).
#[async_trait]
pub trait Registry: Send + Sync {
    /// Inserts `entry`; `false` (and nothing stored) when its key is taken.
    async fn insert_entry(&self, kind: RegistryKind, entry: RegistryEntry) -> Result<bool>;
    /// Inserts `entry`, or replaces the body of the entry with its key, which keeps its id.
    /// Returns the stored entry's id and whether it was new.
    async fn upsert_entry(
        &self,
        kind: RegistryKind,
        entry: RegistryEntry,
    ) -> Result<(RecordId, bool)>;
    async fn entry_by_key(&self, kind: RegistryKind, key: &str) -> Result<Option<RegistryEntry>>;
    async fn entry_by_id(&self, kind: RegistryKind, id: RecordId) -> Result<Option<RegistryEntry>>;
    /// Every entry of the kind, sorted by key.
    async fn list_entries(&self, kind: RegistryKind) -> Result<Vec<RegistryEntry>>;
    /// `false` when there was no such entry.
    async fn delete_entry(&self, kind: RegistryKind, id: RecordId) -> Result<bool>;
}

/// The next attempt of a settled delivery: never.
pub const SETTLED: Timestamp = Timestamp::MAX;

/// The event log (`crate::events` decides what is logged; the engines append in the unit of
/// the change) and the deliveries of its events to webhooks (`crate::webhooks`).
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Up to `limit` events not handed out yet, in the order they were logged.
    async fn pending_events(&self, limit: usize) -> Result<Vec<Event>>;
    /// Stores a delivery of `event` to each of `webhooks`, due at `due`, and marks the event
    /// handed out. A delivery that exists already is kept as it is, so two workers handing
    /// out the same event make one delivery per webhook.
    async fn hand_out_event(
        &self,
        event: RecordId,
        webhooks: Vec<RecordId>,
        due: Timestamp,
    ) -> Result<()>;
    /// Leases up to `limit` deliveries due at `now` (not leased, or their lease expired) to
    /// `lease` until `until`, the earliest due first. Two callers never hold one delivery at
    /// once. A delivery whose event was trimmed is dropped.
    async fn claim_event_deliveries(
        &self,
        now: Timestamp,
        until: Timestamp,
        lease: RecordId,
        limit: usize,
    ) -> Result<Vec<EventDelivery>>;
    /// Ends the attempt on `delivery` while its lease holds: `retry_at` counts the attempt
    /// and makes the delivery due again then (lease released); `None` settles it: it stays,
    /// never due again, until its event is trimmed, so an event handed out a second time
    /// (two workers that both read it pending) makes no new delivery. `false`, and nothing
    /// changed, when the lease is no longer held.
    async fn finish_event_delivery(
        &self,
        delivery: &EventDelivery,
        retry_at: Option<Timestamp>,
    ) -> Result<bool>;
    /// Removes handed-out events logged before `before`, with their deliveries. Returns how
    /// many events went.
    async fn trim_events(&self, before: Timestamp) -> Result<u64>;
}

/// What an operator does to the outbound queue by hand (`wildduck queue show|retry|del`).
/// The relay worker's own path (claim, finish) is in [`OutboundQueue`].
#[async_trait]
pub trait QueueAdmin: Send + Sync {
    /// Entry `id`, body included, or `None`.
    async fn get_outbound(&self, id: OutboundId) -> Result<Option<OutboundEntry>>;
    /// Moves entry `id`'s next attempt to `at`. A lease that runs is kept: an attempt under
    /// way ends as it would have and sets the next attempt itself. `false`: no such entry.
    async fn reschedule_outbound(&self, id: OutboundId, at: Timestamp) -> Result<bool>;
    /// Removes entry `id` whatever its state; an attempt under way then finds its lease
    /// gone and records nothing. `false`: no such entry.
    async fn delete_outbound(&self, id: OutboundId) -> Result<bool>;
}

/// Users and their addresses.
#[async_trait]
pub trait Accounts: Send + Sync {
    // ---- users ----

    /// Inserts the user, their first mailboxes and optional address in one unit.
    /// `AlreadyExists` on a taken unameview or addrview.
    async fn create_user(
        &self,
        user: UserRecord,
        mailboxes: Vec<NewMailbox>,
        address: Option<Address>,
    ) -> Result<()>;
    async fn user_by_id(&self, user: UserId) -> Result<Option<UserRecord>>;
    async fn user_by_unameview(&self, unameview: &str) -> Result<Option<UserRecord>>;
    async fn list_users(&self) -> Result<Vec<User>>;
    /// `UserError::NotFound` when the user is gone.
    async fn update_user(&self, user: UserId, update: UserUpdate) -> Result<()>;
    /// Removes the user with addresses, mailboxes, messages, journal and blob references.
    async fn delete_user(&self, user: UserId) -> Result<Vec<Wake>>;

    // ---- addresses ----

    /// `AlreadyExists` when the addrview is taken, `UserError::NotFound` for a missing user.
    async fn add_address(&self, address: Address) -> Result<()>;
    async fn remove_address(&self, user: UserId, addrview: &str) -> Result<()>;
    async fn list_addresses(&self, user: UserId) -> Result<Vec<Address>>;
    async fn address_by_view(&self, addrview: &str) -> Result<Option<Address>>;
    /// The stored addresses among `addrviews` (any order; the wildcard candidates of one
    /// recipient). This default asks one at a time; SQLite asks once.
    async fn addresses_by_views(&self, addrviews: Vec<String>) -> Result<Vec<Address>> {
        generic::addresses_by_views(self, addrviews).await
    }
}

/// Mailboxes: their tree, status, \Recent marker and the owner's quota.
#[async_trait]
pub trait Mailboxes: Send + Sync {
    // ---- mailboxes ----

    async fn list_mailboxes(&self, user: UserId) -> Result<Vec<Mailbox>>;
    async fn mailbox_by_path(&self, user: UserId, path: &str) -> Result<Option<Mailbox>>;
    async fn mailbox_by_id(&self, mailbox: MailboxId) -> Result<Option<Mailbox>>;
    /// Creates `path` and any of `parents` that are missing (each with a fresh UIDVALIDITY).
    /// `AlreadyExists` when `path` exists.
    async fn create_mailbox(
        &self,
        user: UserId,
        parents: Vec<String>,
        mailbox: NewMailbox,
    ) -> Result<Mailbox>;
    /// Renames `from` and every mailbox below it to sit below `to` instead, creating missing
    /// parents of `to`. UIDVALIDITY and contents stay. `AlreadyExists` if any new path is taken.
    async fn rename_mailbox_tree(
        &self,
        user: UserId,
        from: &str,
        to: &str,
        to_parents: Vec<String>,
    ) -> Result<()>;
    /// Deletes one mailbox with its messages and journal.
    async fn delete_mailbox(&self, mailbox: MailboxId) -> Result<Vec<Wake>>;
    async fn set_subscribed(&self, mailbox: MailboxId, subscribed: bool) -> Result<()>;
    /// Raises the mailbox's recent marker (the highest UID some session took as \Recent) to
    /// `up_to` when it is lower, as one atomic step; returns the marker as it was before.
    async fn claim_recent(&self, mailbox: MailboxId, up_to: Uid) -> Result<Uid>;
    /// The recent marker (0 until a session claims): no session has UIDs above it as \Recent.
    async fn recent_marker(&self, mailbox: MailboxId) -> Result<Uid>;
    async fn mailbox_status(&self, mailbox: MailboxId) -> Result<MailboxStatus>;
    /// The user's `(storage_used, quota)` for the owner of a mailbox.
    async fn quota_of_mailbox(&self, mailbox: MailboxId) -> Result<(u64, Option<u64>)>;
}

/// Messages in a mailbox: append, copy/move, flags, expunge, reads and the journal.
#[async_trait]
pub trait Messages: Send + Sync {
    // ---- messages ----

    /// Stores one message: blob refs, UID, MODSEQ, journal, quota in one unit.
    async fn append(
        &self,
        mailbox: MailboxId,
        message: NewMessage,
    ) -> Result<(AppendOutcome, Vec<Wake>)>;
    /// Stores messages in order, each as `append` would, until one fails: those before it
    /// stay stored and `stopped` holds its error. Wakes only with the last MODSEQ reached.
    /// This default appends one after the other, each its own unit (what MongoDB does: it has
    /// no transaction that would make a batch one); SQLite commits a batch once.
    async fn append_batch(
        &self,
        mailbox: MailboxId,
        messages: Vec<NewMessage>,
    ) -> Result<(BatchOutcome, Vec<Wake>)> {
        generic::append_batch(self, mailbox, messages).await
    }
    /// Stores messages in order as one unit: all of them (consecutive UIDs in the order
    /// given, quota counted for their sum) or, when any fails, none.
    async fn append_all(
        &self,
        mailbox: MailboxId,
        messages: Vec<NewMessage>,
    ) -> Result<(Vec<AppendOutcome>, Vec<Wake>)>;
    /// Copies or moves the existing messages of `uids`. One MODSEQ per touched mailbox.
    async fn transfer(
        &self,
        source: MailboxId,
        uids: &UidSet,
        target: MailboxId,
        transfer: Transfer,
    ) -> Result<(CopyOutcome, Vec<Wake>)>;
    async fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<ModSeq>,
    ) -> Result<(FlagsOutcome, Vec<Wake>)>;
    async fn expunge(
        &self,
        mailbox: MailboxId,
        uids: Option<&UidSet>,
    ) -> Result<(ExpungeOutcome, Vec<Wake>)>;
    async fn snapshot(&self, mailbox: MailboxId) -> Result<Snapshot>;
    /// The snapshot with the flag summary SELECT shows. This default reads the UIDs and the
    /// flags apart (an engine with transactions should read both at one moment, in one pass).
    async fn select_view(&self, mailbox: MailboxId) -> Result<SelectView> {
        generic::select_view(self, mailbox).await
    }
    async fn changes_since(&self, mailbox: MailboxId, modseq: ModSeq) -> Result<Changes>;
    /// The committed journal entries of all of `user`'s mailboxes with an id above `after`
    /// (every one when `None`), in id order, at most `limit`. An engine whose ids may commit
    /// out of order stops before the first entry not committed yet, so it is not passed over.
    async fn user_changes_after(
        &self,
        user: UserId,
        after: Option<JournalId>,
        limit: usize,
    ) -> Result<Vec<UserChange>>;
    /// The id a feed of `user`'s changes starting now resumes after: the newest committed
    /// entry that no uncommitted one precedes. `None` when the user's journal is empty.
    async fn user_journal_head(&self, user: UserId) -> Result<Option<JournalId>>;
    async fn fetch_meta(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        fields: MetaFields,
    ) -> Result<Vec<MessageMeta>>;
    /// `fetch_meta` and, at the same moment, the content `select` picks of each message, in
    /// UID order while their sizes add up to at most `budget` (`None` from the first message
    /// that does not fit on). This
    /// default reads the metadata alone, every content `None`: callers then read each one
    /// apart. An engine with snapshots reads it all in one (SQLite: one read transaction).
    async fn fetch_meta_with_content(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        fields: MetaFields,
        _select: ContentSelector,
        _budget: u64,
    ) -> Result<Vec<(MessageMeta, Option<ContentRead>)>> {
        let metas = self.fetch_meta(mailbox, uids, fields).await?;
        Ok(metas.into_iter().map(|meta| (meta, None)).collect())
    }
    /// `MessageError::NotFound` when there is no such UID.
    async fn load_content(&self, mailbox: MailboxId, uid: Uid) -> Result<ContentRead>;
    /// Like `load_content`, reading only the blobs `select` picks from the layout;
    /// `ContentRead::blobs` holds those, in the order picked. Engines that can fetch a
    /// subset of blobs override this default, which loads all and drops the rest.
    async fn load_content_selected(
        &self,
        mailbox: MailboxId,
        uid: Uid,
        select: BlobSelector,
    ) -> Result<ContentRead> {
        generic::load_content_selected(self, mailbox, uid, select).await
    }
    /// UIDs of the messages of `mailbox` matching `key`, ascending.
    async fn search(&self, mailbox: MailboxId, key: &SearchKey) -> Result<Vec<Uid>>;
}

/// The relay worker's path through the outbound queue (an operator's is [`QueueAdmin`]).
#[async_trait]
pub trait OutboundQueue: Send + Sync {
    // ---- outbound queue ----

    /// Stores `sent` (a message and its mailbox) if given and queues `entries`, in one unit:
    /// both or neither. The stored message's outcome when there was one.
    async fn enqueue(
        &self,
        sent: Option<(MailboxId, NewMessage)>,
        entries: Vec<OutboundEntry>,
    ) -> Result<(Option<AppendOutcome>, Vec<Wake>)>;
    /// Leases up to `limit` entries due at `now` (next attempt reached, no lease or an
    /// expired one) to `lease` until `until`, oldest first, bodies included; with
    /// `ClaimScope::OwnHopOnly` only those whose next hop is not the smarthost. Two callers
    /// never get the same entry while its lease runs.
    async fn claim_outbound(
        &self,
        now: Timestamp,
        until: Timestamp,
        lease: RecordId,
        limit: usize,
        scope: ClaimScope,
    ) -> Result<Vec<OutboundEntry>>;
    /// Ends an attempt on entry `id` while `lease` still holds it: `next` replaces the
    /// entry's state (next attempt, recipients; its lease is released) or, `None`, the
    /// entry is removed; `dsn` (a message for a mailbox) is stored in the same unit.
    /// `false`, and nothing changed, when the lease is no longer held.
    async fn finish_outbound(
        &self,
        id: OutboundId,
        lease: RecordId,
        next: Option<OutboundEntry>,
        dsn: Option<(MailboxId, NewMessage)>,
    ) -> Result<(bool, Vec<Wake>)>;
    /// Every entry, oldest first, bodies included.
    async fn list_outbound(&self) -> Result<Vec<OutboundEntry>>;
    /// How many entries there are, without reading them.
    async fn count_outbound(&self) -> Result<u64>;
}

/// Whole-store upkeep: counts, consistency check, blob collection, backup, journal trim.
#[async_trait]
pub trait Maintenance: Send + Sync {
    // ---- maintenance ----

    async fn stats(&self) -> Result<StoreStats>;
    async fn verify(&self, repair: bool) -> Result<VerifyReport>;
    /// Deletes blobs whose refcount has been 0 for at least `grace_secs`.
    async fn gc(&self, grace_secs: u64) -> Result<u64>;
    /// Writes a consistent copy of the whole store into the directory `target` while the
    /// store stays in use; `target` then opens as a store of its own.
    async fn backup(&self, target: &Path) -> Result<()>;
    /// Drops journal entries older than `max_age_secs`; readers asking for changes from
    /// before the horizon get `truncated`.
    async fn trim_journal(&self, max_age_secs: u64) -> Result<u64>;
}

/// The domain operations every storage engine provides, one supertrait per concern
/// (each engine implements them in files of the same concern). Object-safe; held as
/// `Arc<dyn Backend>`. Mutations return the [`Wake`]s to publish once they have committed.
pub trait Backend:
    Accounts
    + Mailboxes
    + Messages
    + OutboundQueue
    + Maintenance
    + RecordCopy
    + AppPasswords
    + Expiry
    + FileStorage
    + DeliveryRules
    + Subscriptions
    + MailboxKeywords
    + Registry
    + Profiles
    + QueueAdmin
    + MailboxEncryption
    + AddressRegister
    + TwoFactor
    + SortData
    + AuthLog
    + Renames
    + AccessTokens
    + EventLog
    + Send
    + Sync
{
}

/// Seconds since the Unix epoch now.
pub fn now() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as Timestamp)
        .unwrap_or(0)
}
