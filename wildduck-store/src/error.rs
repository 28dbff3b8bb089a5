//! Errors, one enum per area with the cases a caller acts on, and the umbrella [`Error`].

use std::fmt;
use std::sync::Arc;

use thiserror::Error;

/// Account errors.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum UserError {
    #[error("no such user")]
    NotFound,
    #[error("user already exists")]
    AlreadyExists,
    #[error("invalid username: {0}")]
    InvalidUsername(String),
    #[error("invalid password: {0}")]
    InvalidPassword(String),
    #[error("invalid scope: {0}")]
    InvalidScope(String),
    /// An OpenPGP public key that does not parse, verify or encrypt.
    #[error("PGP key validation failed. {0}")]
    InvalidKey(String),
}

/// Authentication errors. Deliberately does not say whether the user exists, and the
/// account's state is only told to someone who gave a right password.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AuthError {
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("account disabled")]
    Disabled,
    #[error("account suspended")]
    Suspended,
    /// The operator disabled this protocol for the account. Shells answer it exactly as a
    /// wrong password (WildDuck does too) and log the reason.
    #[error("invalid credentials (scope disabled for this account)")]
    ScopeDisabled,
    /// An application-specific password used for a scope it does not hold, or the account
    /// password where only an ASP may be used. Answered as a wrong password.
    #[error("invalid credentials (password not valid for this scope)")]
    WrongScope,
}

impl AuthError {
    /// A short word for logs: why a login was refused.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::InvalidCredentials => "bad credentials",
            AuthError::Disabled => "disabled",
            AuthError::Suspended => "suspended",
            AuthError::ScopeDisabled => "scope disabled",
            AuthError::WrongScope => "password not valid for this scope",
        }
    }

    /// Whether the refusal tells the account's state (disabled, suspended); every other
    /// refusal is answered as a wrong password.
    pub fn is_account_state(&self) -> bool {
        matches!(self, AuthError::Disabled | AuthError::Suspended)
    }
}

/// Application-specific password errors.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AspError {
    #[error("no such application password")]
    NotFound,
    #[error("too many application passwords: at most {allowed} per user")]
    TooMany { allowed: usize },
    #[error("invalid application password: {0}")]
    Invalid(String),
}

/// Errors of the delivery rules a user sets: filters and the autoreply.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RuleError {
    #[error("no such filter")]
    FilterNotFound,
    #[error("too many filters: at most {allowed} per user")]
    TooManyFilters { allowed: usize },
    #[error("invalid rule: {0}")]
    Invalid(String),
}

/// Address errors.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AddressError {
    #[error("invalid address: {0}")]
    Invalid(String),
    #[error("address already in use")]
    AlreadyExists,
    #[error("no such address")]
    NotFound,
    /// A sender (envelope or From) that is not one of the sending user's addresses.
    #[error("address is not yours: {0}")]
    NotOwned(String),
}

/// Errors of the operator records: domain aliases, domain access lists, DKIM keys,
/// certificates.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RegistryError {
    #[error("no such {}", kind_words(*.0))]
    NotFound(crate::RegistryKind),
    #[error("this {} already exists", kind_words(*.0))]
    AlreadyExists(crate::RegistryKind),
    #[error("invalid {}: {}", kind_words(*.0), .1)]
    Invalid(crate::RegistryKind, String),
}

fn kind_words(kind: crate::RegistryKind) -> &'static str {
    match kind {
        crate::RegistryKind::DomainAlias => "domain alias",
        crate::RegistryKind::DomainAccess => "domain access entry",
        crate::RegistryKind::Dkim => "DKIM key",
        crate::RegistryKind::Cert => "certificate",
        crate::RegistryKind::DeletedUser => "deleted account",
        crate::RegistryKind::Setting => "setting",
        crate::RegistryKind::Webhook => "webhook",
    }
}

/// Mailbox errors.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MailboxError {
    #[error("no such mailbox")]
    NotFound,
    #[error("mailbox already exists")]
    AlreadyExists,
    #[error("invalid mailbox name: {0}")]
    InvalidName(String),
    #[error("mailbox can not be changed this way: {0}")]
    Protected(String),
}

/// Errors of operations on messages (append, copy, move, flags, expunge, reads).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MessageError {
    #[error("no such message")]
    NotFound,
    #[error("over quota: {used} + {needed} bytes exceeds {quota}")]
    OverQuota { used: u64, needed: u64, quota: u64 },
    #[error("message too big: {size} bytes, limit {limit}")]
    TooBig { size: u64, limit: u64 },
    #[error("invalid flag: {0}")]
    InvalidFlag(String),
    #[error("invalid section: {0}")]
    InvalidSection(String),
    /// Only a message flagged `\Draft` can be sent from where it is stored.
    #[error("this message is not a draft")]
    NotDraft,
    /// Sending to this many more recipients would pass the user's 24-hour allowance.
    #[error(
        "sending limit reached: {sent} of {allowed} recipients in 24 hours, {wanted} more asked for"
    )]
    SendingLimit {
        sent: u64,
        wanted: u64,
        allowed: u64,
    },
    /// One message for more recipients than `const:max:rcpt_to` allows (the API's submit).
    #[error("too many recipients: at most {allowed} for one message")]
    TooManyRecipients { allowed: u64 },
}

/// Anything the store can fail with. Callers act on the area enums; a storage failure says
/// by its [`StorageErrorKind`] whether to retry ([`Error::is_temporary`]).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    #[error(transparent)]
    User(#[from] UserError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Asp(#[from] AspError),
    #[error(transparent)]
    Rule(#[from] RuleError),
    #[error(transparent)]
    Address(#[from] AddressError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Mailbox(#[from] MailboxError),
    #[error(transparent)]
    Message(#[from] MessageError),
    /// The storage engine (or the store under it) failed. Not the caller's fault.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl Error {
    /// True when the same request may succeed later: the storage is unavailable or timed
    /// out. Every shell answers these as "try again" (IMAP `NO [UNAVAILABLE]`, POP3
    /// `-ERR [SYS/TEMP]`, LMTP 451 4.3.0, HTTP 503, `wildduck` exit 75).
    pub fn is_temporary(&self) -> bool {
        matches!(self, Error::Storage(e) if e.is_temporary())
    }
}

/// What a caller can do about a storage failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StorageErrorKind {
    /// The engine can not be reached or can not do the work now: connection lost, server
    /// not selectable, database file missing, locked or read-only, disk full, I/O error.
    /// Retry later.
    Unavailable,
    /// The engine did not answer in time. Retry later.
    Timeout,
    /// Stored data is not as the store wrote it: an undecodable record or content layout,
    /// a missing blob, a damaged database file.
    Corrupt,
    /// The engine refused a write for breaking one of its constraints in a way the store
    /// does not turn into a domain error (e.g. a duplicate key it did not expect).
    Constraint,
    /// A limit was reached: a mailbox's UID space, the UIDVALIDITY values, a value larger
    /// than the engine stores.
    Limit,
    /// A bug: a worker task panicked, a lock was poisoned, a malformed query.
    Internal,
}

impl fmt::Display for StorageErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StorageErrorKind::Unavailable => "storage unavailable",
            StorageErrorKind::Timeout => "storage timed out",
            StorageErrorKind::Corrupt => "stored data is corrupt",
            StorageErrorKind::Constraint => "storage constraint violated",
            StorageErrorKind::Limit => "storage limit reached",
            StorageErrorKind::Internal => "internal storage error",
        })
    }
}

/// A storage failure: its kind, and the underlying error (the engine's, an I/O error, or
/// a [`Defect`] the store found itself) as its `source`. The message shows both.
#[derive(Clone, Debug)]
pub struct StorageError {
    kind: StorageErrorKind,
    source: Arc<dyn std::error::Error + Send + Sync>,
}

impl StorageError {
    pub fn new(
        kind: StorageErrorKind,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            kind,
            source: Arc::new(source),
        }
    }

    pub fn kind(&self) -> StorageErrorKind {
        self.kind
    }

    /// Unavailable or timed out: worth retrying later.
    pub fn is_temporary(&self) -> bool {
        matches!(
            self.kind,
            StorageErrorKind::Unavailable | StorageErrorKind::Timeout
        )
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.source)
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

/// The same failure (one error and its clones), not two failures that read alike.
impl PartialEq for StorageError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && Arc::ptr_eq(&self.source, &other.source)
    }
}

impl Eq for StorageError {}

/// An I/O error of the store's files: a timeout, else the storage is unavailable.
impl From<std::io::Error> for StorageError {
    fn from(e: std::io::Error) -> Self {
        let kind = match e.kind() {
            std::io::ErrorKind::TimedOut => StorageErrorKind::Timeout,
            _ => StorageErrorKind::Unavailable,
        };
        StorageError::new(kind, e)
    }
}

/// A fault the store finds itself, with no engine error underneath.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Defect {
    /// A stored content layout or record does not read back as written.
    #[error("corrupt {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    /// A blob a message refers to is not stored.
    #[error("blob {0} is missing")]
    MissingBlob(String),
    /// A counter has no values left.
    #[error("{0} exhausted")]
    Exhausted(&'static str),
    /// Another writer holds what this operation needs, for longer than it waits.
    #[error("{0}")]
    Contended(String),
    /// The engine undid the operation with others whose unit it shared, for another's failure.
    #[error("{0}")]
    UndoneWithOthers(&'static str),
    /// The database answers too slowly for the store's own timeouts.
    #[error("{0}")]
    TooSlow(&'static str),
    /// Something this build can not do.
    #[error("{0}")]
    Unsupported(&'static str),
    /// Something that can not happen while the code is right.
    #[error("{0}")]
    Bug(&'static str),
}

impl Defect {
    /// A malformed content layout.
    pub(crate) fn layout(detail: impl Into<String>) -> Self {
        Defect::Malformed {
            what: "content layout",
            detail: detail.into(),
        }
    }
}

impl From<Defect> for StorageError {
    fn from(defect: Defect) -> Self {
        let kind = match defect {
            Defect::Malformed { .. } | Defect::MissingBlob(_) => StorageErrorKind::Corrupt,
            Defect::Exhausted(_) => StorageErrorKind::Limit,
            Defect::Contended(_) | Defect::UndoneWithOthers(_) => StorageErrorKind::Unavailable,
            Defect::TooSlow(_) => StorageErrorKind::Timeout,
            Defect::Unsupported(_) | Defect::Bug(_) => StorageErrorKind::Internal,
        };
        StorageError::new(kind, defect)
    }
}

impl From<Defect> for Error {
    fn from(defect: Defect) -> Self {
        Error::Storage(defect.into())
    }
}

/// A worker task that panicked or was cancelled: a bug.
impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Storage(StorageError::new(StorageErrorKind::Internal, e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: std::io::ErrorKind) -> Error {
        Error::Storage(std::io::Error::from(kind).into())
    }

    #[test]
    fn only_unavailable_and_timed_out_storage_is_temporary() {
        assert!(io(std::io::ErrorKind::ConnectionRefused).is_temporary());
        assert!(io(std::io::ErrorKind::TimedOut).is_temporary());
        assert!(Error::from(Defect::Contended("blob x".into())).is_temporary());
        assert!(Error::from(Defect::TooSlow("allocation")).is_temporary());
        for permanent in [
            Error::from(Defect::MissingBlob("ab".into())),
            Error::from(Defect::Exhausted("UID space")),
            Error::from(Defect::Bug("unplanned")),
            Error::Message(MessageError::OverQuota {
                used: 1,
                needed: 2,
                quota: 2,
            }),
            Error::Mailbox(MailboxError::NotFound),
        ] {
            assert!(!permanent.is_temporary(), "{permanent}");
        }
    }

    #[test]
    fn a_storage_error_keeps_its_cause_as_source() {
        let Error::Storage(failure) = io(std::io::ErrorKind::PermissionDenied) else {
            unreachable!("io() makes storage errors")
        };
        assert_eq!(failure.kind(), StorageErrorKind::Unavailable);
        let source = std::error::Error::source(&failure).expect("a source");
        let cause = source
            .downcast_ref::<std::io::Error>()
            .expect("the io error");
        assert_eq!(cause.kind(), std::io::ErrorKind::PermissionDenied);
        assert_eq!(failure.to_string(), format!("storage unavailable: {cause}"));
    }

    #[test]
    fn defects_carry_the_kind_a_caller_acts_on() {
        let kind = |defect: Defect| StorageError::from(defect).kind();
        assert_eq!(kind(Defect::layout("truncated")), StorageErrorKind::Corrupt);
        assert_eq!(
            kind(Defect::MissingBlob("ab".into())),
            StorageErrorKind::Corrupt
        );
        assert_eq!(
            kind(Defect::Exhausted("UID space")),
            StorageErrorKind::Limit
        );
        assert_eq!(
            kind(Defect::Contended("x".into())),
            StorageErrorKind::Unavailable
        );
        assert_eq!(
            kind(Defect::UndoneWithOthers("x")),
            StorageErrorKind::Unavailable
        );
        assert_eq!(kind(Defect::TooSlow("x")), StorageErrorKind::Timeout);
        assert_eq!(kind(Defect::Unsupported("x")), StorageErrorKind::Internal);
        assert_eq!(kind(Defect::Bug("x")), StorageErrorKind::Internal);
    }

    #[test]
    fn a_storage_error_equals_its_clones_only() {
        let failure = StorageError::from(Defect::Bug("x"));
        assert_eq!(failure, failure.clone());
        assert_ne!(failure, StorageError::from(Defect::Bug("x")));
    }
}
