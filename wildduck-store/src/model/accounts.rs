//! Users, their application-specific passwords, addresses and stored files.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::*;

/// What a login is for, as WildDuck names it: `master` is the API and web (account
/// management), the others are the mail protocols (`smtp` is submission).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Master,
    Imap,
    Pop3,
    Smtp,
}

impl Scope {
    /// The scopes an operator may disable and an application password may hold (WildDuck's
    /// `consts.SCOPES`): everything but `master`.
    pub const PROTOCOLS: [Scope; 3] = [Scope::Imap, Scope::Pop3, Scope::Smtp];

    pub fn name(self) -> &'static str {
        match self {
            Scope::Master => "master",
            Scope::Imap => "imap",
            Scope::Pop3 => "pop3",
            Scope::Smtp => "smtp",
        }
    }

    /// A protocol scope by name (case and surrounding spaces ignored); `master` is not one.
    pub fn protocol(name: &str) -> Option<Scope> {
        let name = name.trim().to_ascii_lowercase();
        Scope::PROTOCOLS.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A user account as callers see it (never carries the password hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub username: String,
    /// Storage quota in bytes; `None` means unlimited.
    pub quota: Option<u64>,
    /// Sum of the sizes of every message the user owns.
    pub storage_used: u64,
    /// No login of any kind, and no delivery.
    pub disabled: bool,
    /// No login of any kind; mail is still delivered (WildDuck's `suspended`).
    pub suspended: bool,
    /// Protocol scopes this account may not log in to, sorted, without duplicates.
    pub disabled_scopes: Vec<Scope>,
    pub created: Timestamp,
}

/// What `Store::create_user` needs.
#[derive(Clone, Debug, Default)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub quota: Option<u64>,
    /// An address to add at once (optional).
    pub address: Option<String>,
}

/// An application-specific password (ASP) as callers see it (never its hash): a generated
/// password a mail client keeps instead of the account password, limited to some protocols.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asp {
    pub id: AspId,
    pub user: UserId,
    pub description: String,
    /// The protocol scopes it opens, sorted; all of `Scope::PROTOCOLS` is WildDuck's `*`.
    /// Never `master`: account management always takes the account password.
    pub scopes: Vec<Scope>,
    /// Seconds of validity, renewed at every use; `None`: it does not expire.
    pub ttl: Option<u64>,
    pub expires: Option<Timestamp>,
    pub created: Timestamp,
    pub last_use: Option<AspUse>,
}

/// The last successful login with an ASP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AspUse {
    pub time: Timestamp,
    pub scope: Scope,
    /// The client's address, when the shell knows it.
    pub ip: Option<String>,
}

/// What `Store::create_asp` needs.
#[derive(Clone, Debug, Default)]
pub struct NewAsp {
    pub description: String,
    /// Empty means every protocol scope (`*`).
    pub scopes: Vec<Scope>,
    /// A password chosen by the caller (16 letters a–z, spaces and case ignored); generated
    /// when `None`.
    pub password: Option<String>,
    /// Seconds until it expires unless used; every use starts the period again.
    pub ttl: Option<u64>,
}

/// An e-mail address that delivers to a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub id: AddressId,
    pub user: UserId,
    /// The address as shown: NFC, lower-case local part, Unicode domain.
    pub address: String,
    /// The unique lookup key: `address` with dots and `+tag` removed from the local part.
    pub addrview: String,
}

/// A file a user stored, without its content (kept as one deduplicated blob).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    pub id: FileId,
    pub user: UserId,
    pub filename: String,
    pub content_type: String,
    /// The Content-ID to give it when attached inline.
    pub cid: Option<String>,
    /// Length of the content in bytes.
    pub size: u64,
    /// MD5 of the content, hex (WildDuck lists it).
    pub md5: String,
    pub created: Timestamp,
}
