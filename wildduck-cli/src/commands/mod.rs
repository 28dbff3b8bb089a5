//! The admin commands, one module per group, and what they share: the opened store and
//! look-ups that turn "no such thing" into errors that name the thing.

pub mod address;
pub mod asp;
pub mod authlog;
pub mod autoreply;
pub mod deliver;
pub mod dkim;
pub mod export;
pub mod filter;
pub mod forward;
pub mod import;
pub mod mailbox;
pub mod maint;
pub mod message;
pub mod migrate;
pub mod queue;
pub mod two_factor;
pub mod user;

use serde::Serialize;
use serde_json::json;
use wildduck_store::{
    AddressError, Error as StoreError, Flags, Mailbox, MailboxError, Scope, Store, StoreConfig,
    User, UserError,
};

use crate::config::Config;
use crate::dates;
use crate::error::{CliError, CliResult, ErrorKind};
use crate::output::Report;

/// What every command gets: the effective configuration and the output mode.
pub struct Ctx {
    pub config: Config,
    pub json: bool,
}

impl Ctx {
    pub fn store_config(&self) -> StoreConfig {
        StoreConfig {
            max_message_size: self.config.store.max_message_size,
            limits: self.config.limits.to_store(),
            delivery: self.config.lmtp.delivery_policy(),
            totp_secret: self.config.totp.secret.clone(),
        }
    }

    /// Opens the store, which must exist already (a mistyped data_dir should not quietly
    /// start an empty store; a MongoDB database is shared, so it is taken as it is).
    pub async fn store(&self) -> CliResult<Store> {
        if self.config.store.backend == "mongodb" {
            return self.open_store().await;
        }
        let dir = &self.config.data_dir;
        if !dir.is_dir() {
            return Err(CliError::new(
                ErrorKind::Config,
                format!(
                    "data directory {} does not exist (set data_dir or WILDDUCK_DATA_DIR; \
                     `wildduck serve` or `wildduck user add` creates it)",
                    dir.display()
                ),
            ));
        }
        self.open_store().await
    }

    /// Opens the store, creating it when missing.
    pub async fn store_creating(&self) -> CliResult<Store> {
        self.open_store().await
    }

    async fn open_store(&self) -> CliResult<Store> {
        let opened = match self.config.store.backend.as_str() {
            #[cfg(feature = "distributed")]
            "mongodb" => {
                Store::open_mongodb(
                    &self.config.mongodb.uri,
                    self.config.redis.url.as_deref(),
                    self.store_config(),
                )
                .await
            }
            _ => Store::open_sqlite(&self.config.data_dir, self.store_config()).await,
        };
        opened.map_err(|err| {
            CliError::from(err).context(format!(
                "opening the store in {}",
                self.config.store_location()
            ))
        })
    }
}

/// A user by username or address; "no such user: NAME" otherwise.
pub async fn find_user(store: &Store, name: &str) -> CliResult<User> {
    store.find_user(name).await.map_err(|err| match err {
        // An address that matches nobody is "no such user" too.
        StoreError::User(UserError::NotFound) | StoreError::Address(AddressError::NotFound) => {
            CliError::new(ErrorKind::NoUser, format!("no such user: {name}"))
        }
        other => other.into(),
    })
}

/// A mailbox of a user by path; "no such mailbox" naming both otherwise.
pub async fn find_mailbox(store: &Store, user: &User, path: &str) -> CliResult<Mailbox> {
    store
        .get_mailbox(user.id, path)
        .await
        .map_err(|err| match err {
            StoreError::Mailbox(MailboxError::NotFound) => CliError::new(
                ErrorKind::NotFound,
                format!("no such mailbox: {path} (user {})", user.username),
            ),
            other => other.into(),
        })
}

/// Protocol scopes from a comma-separated list (`imap,pop3`; empty: none).
pub fn parse_scopes(list: &str) -> CliResult<Vec<Scope>> {
    list.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            Scope::protocol(name).ok_or_else(|| {
                CliError::new(
                    ErrorKind::Usage,
                    format!("unknown scope {name:?} (use imap, pop3, smtp)"),
                )
            })
        })
        .collect()
}

/// Scopes for output: `imap, pop3`, or `-` for none.
pub fn scope_list(scopes: &[Scope]) -> String {
    if scopes.is_empty() {
        return "-".into();
    }
    scopes
        .iter()
        .map(|scope| scope.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Flags as IMAP spells them, for output.
pub fn flag_names(flags: &Flags) -> Vec<String> {
    flags.iter().map(ToString::to_string).collect()
}

/// How a user looks in command output.
#[derive(Serialize)]
pub struct UserView {
    pub id: String,
    pub username: String,
    /// Bytes; null = unlimited.
    pub quota: Option<u64>,
    pub storage_used: u64,
    pub disabled: bool,
    pub suspended: bool,
    /// Protocols this user may not log in to (`imap`, `pop3`, `smtp`).
    pub disabled_scopes: Vec<Scope>,
    pub created: String,
}

impl UserView {
    /// `disabled`, `suspended` or `active`, for tables.
    pub fn state(user: &User) -> &'static str {
        if user.disabled {
            "disabled"
        } else if user.suspended {
            "suspended"
        } else {
            "active"
        }
    }
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            username: user.username.clone(),
            quota: user.quota,
            storage_used: user.storage_used,
            disabled: user.disabled,
            suspended: user.suspended,
            disabled_scopes: user.disabled_scopes.clone(),
            created: dates::rfc3339(user.created),
        }
    }
}

/// `wildduck config print`.
pub fn print_config(config: &Config) -> CliResult<Report> {
    let masked = config.masked()?;
    Ok(Report::new(&masked, config.to_masked_toml()?))
}

/// `wildduck config check`: parsing and validation already ran; this also reads the TLS files.
pub fn check_config(config: &Config) -> CliResult<Report> {
    if let (Some(cert), Some(key)) = (&config.tls.cert, &config.tls.key) {
        crate::tls::Certificates::load(cert, key)?;
    }
    Ok(Report::new(
        json!({ "ok": true, "tls": config.tls.cert.is_some() }),
        "configuration OK",
    ))
}
