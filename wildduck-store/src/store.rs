//! The `Store` facade: the one type embedders and protocol shells use.
//!
//! API CONTRACT (frozen for the parallel shells; change only together with their authors):
//! every method below keeps its name, arguments and return type. Bodies are filled in by the
//! store-core work.

use std::path::Path;

use crate::error::Result;
use crate::model::*;

/// Tuning and limits of a store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Largest message `append` accepts, in bytes.
    pub max_message_size: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            max_message_size: 64 * 1024 * 1024,
        }
    }
}

/// A mail store. Cheap to clone (an `Arc` inside), `Send + Sync`.
#[derive(Clone)]
pub struct Store {}

/// Wake-ups for one user: every committed change to one of their mailboxes sends
/// `(mailbox, highest_modseq after the change)`. Lagging receivers skip to the newest;
/// they must then re-read `changes_since`, which is always correct.
pub type Subscription = tokio::sync::broadcast::Receiver<(MailboxId, ModSeq)>;

impl Store {
    /// Opens (creating if needed) the embedded SQLite store in directory `dir`.
    pub async fn open_sqlite(dir: &Path, config: StoreConfig) -> Result<Store> {
        todo!()
    }

    pub fn config(&self) -> &StoreConfig {
        todo!()
    }

    // ---- users ----

    /// Creates a user with the default mailboxes (`DEFAULT_MAILBOXES`).
    pub async fn create_user(&self, new: NewUser) -> Result<User> {
        todo!()
    }

    /// Checks a password. Unknown user and wrong password are the same error.
    /// Legacy hashes (PBKDF2, bcrypt) are re-hashed to argon2id on success.
    pub async fn authenticate(&self, username: &str, password: &str, scope: Scope) -> Result<User> {
        todo!()
    }

    pub async fn get_user(&self, user: UserId) -> Result<User> {
        todo!()
    }

    /// Finds a user by username (case, dots ignored) — or by one of their addresses.
    pub async fn find_user(&self, username_or_address: &str) -> Result<User> {
        todo!()
    }

    pub async fn list_users(&self) -> Result<Vec<User>> {
        todo!()
    }

    pub async fn set_password(&self, user: UserId, password: &str) -> Result<()> {
        todo!()
    }

    pub async fn set_quota(&self, user: UserId, quota: Option<u64>) -> Result<()> {
        todo!()
    }

    pub async fn set_disabled(&self, user: UserId, disabled: bool) -> Result<()> {
        todo!()
    }

    /// Deletes a user, their addresses, mailboxes, messages and blob references.
    pub async fn delete_user(&self, user: UserId) -> Result<()> {
        todo!()
    }

    // ---- addresses ----

    pub async fn add_address(&self, user: UserId, address: &str) -> Result<Address> {
        todo!()
    }

    pub async fn remove_address(&self, user: UserId, address: &str) -> Result<()> {
        todo!()
    }

    pub async fn list_addresses(&self, user: UserId) -> Result<Vec<Address>> {
        todo!()
    }

    /// Which user an address delivers to (dots and `+tag` in the local part ignored).
    pub async fn resolve_address(&self, address: &str) -> Result<User> {
        todo!()
    }

    // ---- mailboxes ----

    /// All mailboxes of a user, sorted by path.
    pub async fn list_mailboxes(&self, user: UserId) -> Result<Vec<Mailbox>> {
        todo!()
    }

    /// Looks a mailbox up by path (`INBOX` case-insensitive).
    pub async fn get_mailbox(&self, user: UserId, path: &str) -> Result<Mailbox> {
        todo!()
    }

    pub async fn get_mailbox_by_id(&self, mailbox: MailboxId) -> Result<Mailbox> {
        todo!()
    }

    /// Creates a mailbox; missing parents are created too.
    pub async fn create_mailbox(
        &self,
        user: UserId,
        path: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<Mailbox> {
        todo!()
    }

    /// Renames a mailbox and all its children (UIDVALIDITY kept). Renaming INBOX moves its
    /// messages to the new mailbox and leaves INBOX empty (RFC 3501).
    pub async fn rename_mailbox(&self, user: UserId, from: &str, to: &str) -> Result<()> {
        todo!()
    }

    /// Deletes a mailbox with its messages. Refuses INBOX and special-use folders.
    pub async fn delete_mailbox(&self, user: UserId, path: &str) -> Result<()> {
        todo!()
    }

    pub async fn set_subscribed(&self, user: UserId, path: &str, subscribed: bool) -> Result<()> {
        todo!()
    }

    pub async fn mailbox_status(&self, mailbox: MailboxId) -> Result<MailboxStatus> {
        todo!()
    }

    // ---- messages ----

    /// Stores a message. `internal_date` None = now. Over quota or over the size limit fails
    /// and changes nothing.
    pub async fn append(
        &self,
        mailbox: MailboxId,
        raw: &[u8],
        flags: &Flags,
        internal_date: Option<Timestamp>,
    ) -> Result<AppendOutcome> {
        todo!()
    }

    /// Whether a message of `size` bytes fits the user's quota and the size limit now
    /// (a hint for checking before a literal is read; `append` checks again).
    pub async fn check_append(&self, mailbox: MailboxId, size: u64) -> Result<()> {
        todo!()
    }

    /// Copies the messages of `uids` (those that exist) into `target`, sharing content.
    pub async fn copy(
        &self,
        source: MailboxId,
        uids: &UidSet,
        target: MailboxId,
    ) -> Result<CopyOutcome> {
        todo!()
    }

    /// Moves messages: copy + expunge from source in one atomic unit.
    pub async fn move_messages(
        &self,
        source: MailboxId,
        uids: &UidSet,
        target: MailboxId,
    ) -> Result<CopyOutcome> {
        todo!()
    }

    /// Changes flags of the messages in `uids`; one new MODSEQ for all that changed.
    /// With `unchanged_since`, messages whose MODSEQ is higher are left alone and listed.
    pub async fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<ModSeq>,
    ) -> Result<FlagsOutcome> {
        todo!()
    }

    /// Removes messages flagged `\Deleted` (only those in `uids` when given).
    pub async fn expunge(
        &self,
        mailbox: MailboxId,
        uids: Option<&UidSet>,
    ) -> Result<ExpungeOutcome> {
        todo!()
    }

    pub async fn snapshot(&self, mailbox: MailboxId) -> Result<Snapshot> {
        todo!()
    }

    pub async fn changes_since(&self, mailbox: MailboxId, modseq: ModSeq) -> Result<Changes> {
        todo!()
    }

    /// Metadata of the messages in `uids` that exist, in UID order.
    pub async fn fetch_meta(
        &self,
        mailbox: MailboxId,
        uids: &UidSet,
        fields: MetaFields,
    ) -> Result<Vec<MessageMeta>> {
        todo!()
    }

    /// The bytes of one section of a message, optionally a byte range of it.
    /// A part path that does not exist yields an empty body (as IMAP servers answer).
    pub async fn read_section(
        &self,
        mailbox: MailboxId,
        uid: Uid,
        section: &Section,
        partial: Option<Partial>,
    ) -> Result<SectionBody> {
        todo!()
    }

    /// UIDs of the messages matching `key`, ascending.
    pub async fn search(&self, mailbox: MailboxId, key: &SearchKey) -> Result<Vec<Uid>> {
        todo!()
    }

    // ---- events ----

    /// Wake-ups after each committed change to any mailbox of `user`.
    pub fn subscribe(&self, user: UserId) -> Subscription {
        todo!()
    }

    // ---- maintenance ----

    pub async fn stats(&self) -> Result<StoreStats> {
        todo!()
    }

    /// Recomputes quota, blob refcounts, UID/MODSEQ order; reports (and with `repair` fixes)
    /// drift.
    pub async fn verify(&self, repair: bool) -> Result<VerifyReport> {
        todo!()
    }

    /// Deletes blobs with no reference older than `grace_secs`. Returns how many went.
    pub async fn gc(&self, grace_secs: u64) -> Result<u64> {
        todo!()
    }
}
