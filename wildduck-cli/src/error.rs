//! Errors of the CLI and the exit codes they map to (BSD sysexits, so an MTA calling
//! `wildduck deliver` knows whether to bounce or retry).

use std::fmt;

use serde::Serialize;
use wildduck_store::{
    AddressError, AspError, Error as StoreError, MailboxError, MessageError, RegistryError,
    RuleError, UserError,
};

/// What went wrong, as far as the exit code is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Bad command line (EX_USAGE).
    Usage,
    /// Bad input data: corrupt mbox, invalid address, message too big (EX_DATAERR).
    Data,
    /// A mailbox, message, address or input file that does not exist (EX_NOINPUT).
    NotFound,
    /// No such user (EX_NOUSER).
    NoUser,
    /// A service can not start, e.g. a port is taken (EX_UNAVAILABLE).
    Unavailable,
    /// A bug, or stored data found damaged (EX_SOFTWARE).
    Software,
    /// Something to be created already exists, or an output file can not be made
    /// (EX_CANTCREAT).
    CantCreate,
    /// Reading or writing a file failed (EX_IOERR).
    Io,
    /// Try again later: the storage is unavailable or timed out, or the user is over quota
    /// (EX_TEMPFAIL).
    TempFail,
    /// The store refuses the change (deleting INBOX, a disabled account) (EX_NOPERM).
    NoPerm,
    /// The configuration is wrong (EX_CONFIG).
    Config,
}

impl ErrorKind {
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Usage => 64,
            ErrorKind::Data => 65,
            ErrorKind::NotFound => 66,
            ErrorKind::NoUser => 67,
            ErrorKind::Unavailable => 69,
            ErrorKind::Software => 70,
            ErrorKind::CantCreate => 73,
            ErrorKind::Io => 74,
            ErrorKind::TempFail => 75,
            ErrorKind::NoPerm => 77,
            ErrorKind::Config => 78,
        }
    }
}

/// An error a command ends with: a kind (the exit code) and a message for people.
#[derive(Debug)]
pub struct CliError {
    pub kind: ErrorKind,
    pub message: String,
}

impl CliError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Adds what was being done in front of the message, keeping the kind.
    pub fn context(self, what: impl fmt::Display) -> Self {
        Self {
            kind: self.kind,
            message: format!("{what}: {}", self.message),
        }
    }

    /// An I/O error on `path`; a missing file is "not found", the rest are I/O errors.
    pub fn io(path: &std::path::Path, err: std::io::Error) -> Self {
        let kind = match err.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            _ => ErrorKind::Io,
        };
        Self::new(kind, format!("{}: {err}", path.display()))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<StoreError> for CliError {
    fn from(err: StoreError) -> Self {
        let kind = match &err {
            StoreError::User(UserError::NotFound) => ErrorKind::NoUser,
            StoreError::User(UserError::AlreadyExists) => ErrorKind::CantCreate,
            StoreError::User(
                UserError::InvalidUsername(_)
                | UserError::InvalidPassword(_)
                | UserError::InvalidScope(_)
                | UserError::InvalidKey(_),
            ) => ErrorKind::Data,
            StoreError::Auth(_) => ErrorKind::NoPerm,
            StoreError::Asp(AspError::NotFound) => ErrorKind::NotFound,
            StoreError::Asp(AspError::TooMany { .. }) => ErrorKind::CantCreate,
            StoreError::Asp(AspError::Invalid(_)) => ErrorKind::Data,
            StoreError::Rule(RuleError::FilterNotFound) => ErrorKind::NotFound,
            StoreError::Rule(RuleError::TooManyFilters { .. }) => ErrorKind::CantCreate,
            StoreError::Rule(RuleError::Invalid(_)) => ErrorKind::Data,
            StoreError::Registry(RegistryError::NotFound(_)) => ErrorKind::NotFound,
            StoreError::Registry(RegistryError::AlreadyExists(_)) => ErrorKind::CantCreate,
            StoreError::Registry(RegistryError::Invalid(..)) => ErrorKind::Data,
            StoreError::Address(AddressError::Invalid(_)) => ErrorKind::Data,
            StoreError::Address(AddressError::AlreadyExists) => ErrorKind::CantCreate,
            StoreError::Address(AddressError::NotFound) => ErrorKind::NotFound,
            StoreError::Address(AddressError::NotOwned(_)) => ErrorKind::NoPerm,
            StoreError::Mailbox(MailboxError::NotFound) => ErrorKind::NotFound,
            StoreError::Mailbox(MailboxError::AlreadyExists) => ErrorKind::CantCreate,
            StoreError::Mailbox(MailboxError::InvalidName(_)) => ErrorKind::Data,
            StoreError::Mailbox(MailboxError::Protected(_)) => ErrorKind::NoPerm,
            StoreError::Message(MessageError::NotFound) => ErrorKind::NotFound,
            StoreError::Message(
                MessageError::OverQuota { .. } | MessageError::SendingLimit { .. },
            ) => ErrorKind::TempFail,
            StoreError::Message(
                MessageError::TooBig { .. }
                | MessageError::InvalidFlag(_)
                | MessageError::InvalidSection(_)
                | MessageError::NotDraft
                | MessageError::TooManyRecipients { .. },
            ) => ErrorKind::Data,
            StoreError::Storage(failure) if failure.is_temporary() => ErrorKind::TempFail,
            // Corrupt data, a bug, a limit of the engine: retrying will not help.
            StoreError::Storage(_) => ErrorKind::Software,
        };
        Self::new(kind, err.to_string())
    }
}

pub type CliResult<T> = Result<T, CliError>;
