//! `wildduck user …`: accounts.

use std::io::BufRead;
use std::str::FromStr;

use clap::{Args, Subcommand};
use rand::Rng;
use serde_json::json;
use wildduck_store::{NewUser, Scope, Store, User};

use super::{Ctx, UserView, find_user, parse_scopes, scope_list};
use crate::error::{CliError, CliResult, ErrorKind};
use crate::output::{Report, human_bytes, table};

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user with the default mailboxes. Without a password option a random password
    /// is made and printed.
    Add {
        username: String,
        #[command(flatten)]
        password: PasswordArgs,
        /// A password hash from another system, e.g. a WildDuck account's: argon2, bcrypt,
        /// PBKDF2 (`$pbkdf2-sha512$…`), crypt(3) SHA-512/SHA-256/MD5/DES. Other formats are
        /// refused. It becomes an argon2id hash at the first login.
        #[arg(long, conflicts_with_all = ["password", "password_stdin"])]
        hashed_password: Option<String>,
        /// Storage quota: bytes, or with K/M/G/T suffix, or `unlimited`.
        #[arg(long)]
        quota: Option<Quota>,
        /// An address that delivers to this user.
        #[arg(long)]
        address: Option<String>,
    },
    /// List all users.
    List,
    /// Show a user (by username or address) with addresses and mailboxes.
    Show { user: String },
    /// Set a new password (random when no password option is given).
    Passwd {
        user: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Show, or set, a user's quota.
    Quota {
        user: String,
        /// Bytes, or with K/M/G/T suffix, or `unlimited`.
        quota: Option<Quota>,
    },
    /// Change a user's login settings.
    Set {
        user: String,
        /// Protocols the user may not log in to: a comma-separated list of imap, pop3,
        /// smtp; an empty value enables them all again.
        #[arg(long, value_name = "SCOPES")]
        disabled_scopes: Option<String>,
        /// Suspend (true) or resume (false) the account: a suspended user can not log in,
        /// mail is still delivered.
        #[arg(long, value_name = "BOOL")]
        suspended: Option<bool>,
        /// Spam level 0-100 deliveries are judged by: 0 files everything in Junk, 100
        /// nothing; without one the configured level (default 50) applies.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=100))]
        spam_level: Option<u8>,
    },
    /// Stop a user from logging in (mail is still kept).
    Disable { user: String },
    /// Let a disabled user log in again.
    Enable { user: String },
    /// Delete a user with all addresses, mailboxes and messages.
    Delete { user: String },
    /// Two-factor authentication (TOTP; needs `[totp] secret`).
    #[command(name = "2fa", subcommand)]
    TwoFactor(super::two_factor::TwoFactorCommand),
    /// The user's auth log, newest first: logins on every protocol and TOTP checks of the
    /// last 30 days, with their results (never a password).
    Authlog {
        user: String,
        /// Show at most this many events.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

#[derive(Args)]
pub struct PasswordArgs {
    /// The password (visible to other local users in the process list; prefer
    /// --password-stdin).
    #[arg(long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from the first line of stdin.
    #[arg(long)]
    password_stdin: bool,
}

impl PasswordArgs {
    /// The given password, or a new random one (then `true`: it must be shown).
    fn resolve(&self) -> CliResult<(String, bool)> {
        if let Some(password) = &self.password {
            return Ok((password.clone(), false));
        }
        if self.password_stdin {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|err| {
                    CliError::new(
                        ErrorKind::Io,
                        format!("reading the password from stdin: {err}"),
                    )
                })?;
            let password = line.trim_end_matches(['\r', '\n']).to_string();
            if password.is_empty() {
                return Err(CliError::new(ErrorKind::Data, "empty password on stdin"));
            }
            return Ok((password, false));
        }
        Ok((random_password(), true))
    }
}

/// A password to hand out once: 20 letters and digits (about 119 bits).
pub fn random_password() -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(20)
        .map(char::from)
        .collect()
}

/// A quota argument: a byte count, or `unlimited`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota(pub Option<u64>);

impl FromStr for Quota {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if ["unlimited", "none"].contains(&text.to_ascii_lowercase().as_str()) {
            return Ok(Quota(None));
        }
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let number: u64 = digits
            .parse()
            .map_err(|_| format!("{text:?} is not a size (e.g. 500M, 2G, unlimited)"))?;
        let shift = match unit
            .trim()
            .to_ascii_uppercase()
            .trim_end_matches(['B', 'I'])
        {
            "" => 0,
            "K" => 10,
            "M" => 20,
            "G" => 30,
            "T" => 40,
            _ => return Err(format!("{text:?}: unknown unit (use K, M, G or T)")),
        };
        number
            .checked_mul(1u64 << shift)
            .map(|bytes| Quota(Some(bytes)))
            .ok_or_else(|| format!("{text:?} is too large"))
    }
}

fn quota_text(quota: Option<u64>) -> String {
    quota.map(human_bytes).unwrap_or_else(|| "unlimited".into())
}

pub async fn run(ctx: &Ctx, command: UserCommand) -> CliResult<Report> {
    match command {
        UserCommand::Add {
            username,
            password,
            hashed_password,
            quota,
            address,
        } => {
            let credential = match hashed_password {
                Some(hash) => Credential::Hash(hash),
                None => Credential::Password(password.resolve()?),
            };
            add(ctx, username, credential, quota, address).await
        }
        UserCommand::List => list(&ctx.store().await?).await,
        UserCommand::Show { user } => show(&ctx.store().await?, &user).await,
        UserCommand::Passwd { user, password } => {
            let store = ctx.store().await?;
            let user = find_user(&store, &user).await?;
            let (password, generated) = password.resolve()?;
            store.set_password(user.id, &password).await?;
            Ok(password_report(
                &user,
                "password changed",
                &password,
                generated,
            ))
        }
        UserCommand::Quota { user, quota } => {
            let store = ctx.store().await?;
            let mut user = find_user(&store, &user).await?;
            if let Some(Quota(quota)) = quota {
                store.set_quota(user.id, quota).await?;
                user = store.get_user(user.id).await?;
            }
            Ok(Report::new(
                json!({ "user": user.username, "quota": user.quota, "storage_used": user.storage_used }),
                format!(
                    "{}: {} used of {}",
                    user.username,
                    human_bytes(user.storage_used),
                    quota_text(user.quota)
                ),
            ))
        }
        UserCommand::Set {
            user,
            disabled_scopes,
            suspended,
            spam_level,
        } => {
            let disabled_scopes = disabled_scopes.as_deref().map(parse_scopes).transpose()?;
            set(ctx, &user, disabled_scopes, suspended, spam_level).await
        }
        UserCommand::Disable { user } => set_disabled(ctx, &user, true).await,
        UserCommand::Enable { user } => set_disabled(ctx, &user, false).await,
        UserCommand::TwoFactor(command) => super::two_factor::run(ctx, command).await,
        UserCommand::Authlog { user, limit } => super::authlog::run(ctx, &user, limit).await,
        UserCommand::Delete { user } => {
            let store = ctx.store().await?;
            let user = find_user(&store, &user).await?;
            store.delete_user(user.id).await?;
            Ok(Report::new(
                json!({ "deleted": UserView::from(&user) }),
                format!("deleted user {}", user.username),
            ))
        }
    }
}

/// How a new user's password is given.
enum Credential {
    /// A password, and whether we made it up (then it must be shown).
    Password((String, bool)),
    /// A hash made elsewhere, stored as it is.
    Hash(String),
}

async fn add(
    ctx: &Ctx,
    username: String,
    credential: Credential,
    quota: Option<Quota>,
    address: Option<String>,
) -> CliResult<Report> {
    let store = ctx.store_creating().await?;
    let new_user = |password: &str| NewUser {
        username: username.clone(),
        password: password.to_string(),
        quota: quota.and_then(|q| q.0),
        address: address.clone(),
    };
    let created = match &credential {
        Credential::Password((password, _)) => store.create_user(new_user(password)).await,
        Credential::Hash(hash) => store.create_user_with_password_hash(new_user(hash)).await,
    };
    let user = created.map_err(|err| CliError::from(err).context(format!("user {username}")))?;
    Ok(match credential {
        Credential::Password((password, generated)) => {
            password_report(&user, "created user", &password, generated)
        }
        Credential::Hash(_) => password_report(&user, "created user", "", false),
    })
}

/// The result of setting a password: the password itself only when we made it up.
fn password_report(user: &User, what: &str, password: &str, generated: bool) -> Report {
    let mut doc = json!({ "user": UserView::from(user) });
    let mut text = format!("{what} {} ({})", user.username, user.id);
    if generated {
        doc["password"] = json!(password);
        text.push_str(&format!("\npassword: {password}"));
    }
    Report::new(doc, text)
}

async fn list(store: &Store) -> CliResult<Report> {
    let users = store.list_users().await?;
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            vec![
                u.username.clone(),
                human_bytes(u.storage_used),
                quota_text(u.quota),
                UserView::state(u).into(),
                u.id.to_string(),
            ]
        })
        .collect();
    let views: Vec<UserView> = users.iter().map(UserView::from).collect();
    Ok(Report::new(
        json!({ "users": views }),
        table(&["USERNAME", "USED", "QUOTA", "STATE", "ID"], &rows),
    ))
}

async fn show(store: &Store, name: &str) -> CliResult<Report> {
    let user = find_user(store, name).await?;
    let addresses = store.list_addresses(user.id).await?;
    let mailboxes = store.list_mailboxes(user.id).await?;
    let address_names: Vec<&str> = addresses.iter().map(|a| a.address.as_str()).collect();
    let mailbox_paths: Vec<&str> = mailboxes.iter().map(|m| m.path.as_str()).collect();
    let text = format!(
        "username:  {}\nid:        {}\nstate:     {}\ndisabled scopes: {}\nused:      {} of {}\ncreated:   {}\naddresses: {}\nmailboxes: {}",
        user.username,
        user.id,
        UserView::state(&user),
        scope_list(&user.disabled_scopes),
        human_bytes(user.storage_used),
        quota_text(user.quota),
        crate::dates::rfc3339(user.created),
        address_names.join(", "),
        mailbox_paths.join(", "),
    );
    Ok(Report::new(
        json!({ "user": UserView::from(&user), "addresses": address_names, "mailboxes": mailbox_paths }),
        text,
    ))
}

async fn set(
    ctx: &Ctx,
    name: &str,
    disabled_scopes: Option<Vec<Scope>>,
    suspended: Option<bool>,
    spam_level: Option<u8>,
) -> CliResult<Report> {
    if disabled_scopes.is_none() && suspended.is_none() && spam_level.is_none() {
        return Err(CliError::new(
            ErrorKind::Usage,
            "nothing to set (give --disabled-scopes, --suspended or --spam-level)",
        ));
    }
    let store = ctx.store().await?;
    let user = find_user(&store, name).await?;
    if let Some(scopes) = disabled_scopes {
        store.set_disabled_scopes(user.id, &scopes).await?;
    }
    if let Some(suspended) = suspended {
        store.set_suspended(user.id, suspended).await?;
    }
    let mut profile = store.user_profile(user.id).await?;
    if let Some(level) = spam_level {
        profile.spam_level = Some(level);
        store.set_user_profile(user.id, profile.clone()).await?;
    }
    let user = store.get_user(user.id).await?;
    let spam_level = profile
        .spam_level
        .unwrap_or(store.config().delivery.spam.level);
    Ok(Report::new(
        json!({ "user": UserView::from(&user), "spam_level": spam_level }),
        format!(
            "{}: {}, disabled scopes: {}, spam level: {spam_level}",
            user.username,
            UserView::state(&user),
            scope_list(&user.disabled_scopes)
        ),
    ))
}

async fn set_disabled(ctx: &Ctx, name: &str, disabled: bool) -> CliResult<Report> {
    let store = ctx.store().await?;
    let user = find_user(&store, name).await?;
    store.set_disabled(user.id, disabled).await?;
    let user = store.get_user(user.id).await?;
    let state = if disabled { "disabled" } else { "enabled" };
    Ok(Report::new(
        json!({ "user": UserView::from(&user) }),
        format!("{state} user {}", user.username),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_parse_with_units() {
        assert_eq!("1024".parse(), Ok(Quota(Some(1024))));
        assert_eq!("500M".parse(), Ok(Quota(Some(500 << 20))));
        assert_eq!("2GiB".parse(), Ok(Quota(Some(2 << 30))));
        assert_eq!("1 kb".parse(), Ok(Quota(Some(1024))));
        assert_eq!("unlimited".parse(), Ok(Quota(None)));
        assert!("lots".parse::<Quota>().is_err());
        assert!("5X".parse::<Quota>().is_err());
        assert!("99999999999T".parse::<Quota>().is_err());
    }

    #[test]
    fn random_passwords_are_long_and_differ() {
        let a = random_password();
        assert_eq!(a.len(), 20);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, random_password());
    }
}
