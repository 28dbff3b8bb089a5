//! Errors, one enum per area with the cases a caller acts on, and the umbrella [`Error`].

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
}

/// Authentication errors. Deliberately does not say whether the user exists.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AuthError {
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("account disabled")]
    Disabled,
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
}

/// Anything the store can fail with.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    #[error(transparent)]
    User(#[from] UserError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Address(#[from] AddressError),
    #[error(transparent)]
    Mailbox(#[from] MailboxError),
    #[error(transparent)]
    Message(#[from] MessageError),
    /// The storage engine failed (I/O, corruption, lost connection). Not the caller's fault.
    #[error("storage backend: {0}")]
    Backend(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
