//! The login rule every shell shares (IMAP, POP3, submission, the API, the CLI): which
//! credential opens which scope of which account.
//!
//! A login names a scope: `master` (the API and web), `imap`, `pop3` or `smtp`. It succeeds
//! with the account password, or — for a protocol scope — with one of the account's
//! application-specific passwords that holds that scope and has not expired. Then the
//! account's state decides: disabled and suspended accounts refuse every login, and a scope
//! the operator disabled for the account refuses like a wrong password. The state is told
//! only to someone who gave a right password. With TOTP on (`crate::two_factor`) the account
//! password opens `master` only, flagged `require_2fa`. A password that matched is remembered for a
//! minute (module `verified`), so reconnecting clients do not pay the password hash again.
//!
//! A protocol login may also offer one of the API's access tokens (module `tokens`) through
//! OAUTHBEARER or XOAUTH2 (module `bearer`): it stands for the account password, so the same
//! scopes, states, TOTP rule, auth log and lockout apply.

pub mod bearer;
pub mod tokens;
mod verified;

use std::net::IpAddr;

use crate::accounts::{self, PasswordCheck};
use crate::asps;
use crate::authlog::{
    self, ACTION_AUTHENTICATION, AttemptOrigin, AuthEvent, AuthResult, AuthSource,
};
use crate::backend::{AspRecord, UserRecord, UserUpdate, now};
use crate::error::{AuthError, Error, Result, UserError};
use crate::model::*;
use crate::store::{Store, blocking};
use bearer::BearerMechanism;

pub(crate) use verified::VerifiedLogins;

/// What the sessions of a disabled or suspended account are told as they are closed.
const ACCOUNT_DISABLED: &str = "Account disabled";
const ACCOUNT_SUSPENDED: &str = "Account suspended";
/// The reason WildDuck's API gives when the caller gives none.
pub const DEFAULT_LOGOUT_REASON: &str = "Logout requested from API";
const MAX_LOGOUT_REASON_CHARS: usize = 128;

/// `reason` as one line of text an IMAP `BYE` can carry: control characters become spaces.
fn logout_reason(reason: &str) -> String {
    let line: String = reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_LOGOUT_REASON_CHARS)
        .collect();
    match line.trim() {
        "" => DEFAULT_LOGOUT_REASON.to_string(),
        trimmed => trimmed.to_string(),
    }
}

/// A successful login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    pub user: User,
    /// The application-specific password used, if it was one.
    pub asp: Option<AspId>,
    /// The login used a temporary password (`Store::reset_password`): the account holder
    /// should choose a new one.
    pub require_password_change: bool,
    /// The account password opened `master` of an account with TOTP on: the caller must
    /// also check a code (`Store::check_totp`) before trusting the login.
    pub require_2fa: bool,
    /// The credential that opened it.
    pub source: AuthSource,
}

/// What a client offers to prove who it is, as a shell hands it to
/// [`Store::authenticate_secret`]. No `Debug`: it holds the secret.
pub enum Secret {
    Password(String),
    /// An access token (`Store::issue_access_token`), offered through a bearer mechanism
    /// (SASL OAUTHBEARER or XOAUTH2).
    Token(BearerMechanism, String),
}

impl Secret {
    /// For a refused token, the error a server sends as a last challenge before it answers
    /// (RFC 7628 §3.2.2; before base64); `None` for a password.
    pub fn refusal_challenge(&self) -> Option<&'static str> {
        match self {
            Secret::Password(_) => None,
            Secret::Token(mechanism, _) => Some(mechanism.failure_challenge()),
        }
    }
}

/// The auth log's reason for a login refused while the username or IP is locked.
const REASON_LOCKED: &str = "locked";
/// The auth log's reason for the account password given to a protocol of an account with
/// TOTP on.
const REASON_2FA_REQUIRED: &str = "2fa required";

/// What a login check learned on its way, for the auth log.
#[derive(Default)]
struct AttemptTrace {
    user: Option<UserId>,
    /// A more precise reason than the refusal's own.
    reason: Option<&'static str>,
}

/// The credential a password turned out to be.
enum Credential {
    Account(PasswordCheck),
    /// The temporary password of a reset, for `master` only.
    Temporary,
    Asp(Box<AspRecord>),
    /// A live access token of this account.
    Token,
}

impl Store {
    /// Checks a login for `scope` (see the module docs). Unknown user and wrong password
    /// are the same error. Legacy hashes (PBKDF2, bcrypt …) are re-hashed to argon2id on
    /// success.
    pub async fn authenticate(&self, username: &str, password: &str, scope: Scope) -> Result<User> {
        self.authenticate_from(username, password, scope, None)
            .await
            .map(|login| login.user)
    }

    /// Like [`Store::authenticate`], from a client at `ip` (kept as an ASP's last use), and
    /// telling which ASP was used.
    pub async fn authenticate_from(
        &self,
        username: &str,
        password: &str,
        scope: Scope,
        ip: Option<IpAddr>,
    ) -> Result<Login> {
        self.authenticate_with(username, password, scope, &AttemptOrigin::from_ip(ip))
            .await
    }

    /// Like [`Store::authenticate_from`], with all a shell knows of the client; every
    /// attempt that ends in a login or a refusal goes to the auth log (`crate::authlog`).
    pub async fn authenticate_with(
        &self,
        username: &str,
        password: &str,
        scope: Scope,
        origin: &AttemptOrigin,
    ) -> Result<Login> {
        let secret = Secret::Password(password.to_string());
        self.attempt(username, &secret, scope, origin).await
    }

    /// A login with what a protocol client offered: the account password, an ASP, or an
    /// access token in place of a password (SASL OAUTHBEARER or XOAUTH2), which must be
    /// live and belong to `username`'s account; the rest is as for the account password
    /// (states, disabled scopes, TOTP, the auth log).
    pub async fn authenticate_secret(
        &self,
        username: &str,
        secret: &Secret,
        scope: Scope,
        origin: &AttemptOrigin,
    ) -> Result<Login> {
        self.attempt(username, secret, scope, origin).await
    }

    async fn attempt(
        &self,
        username: &str,
        secret: &Secret,
        scope: Scope,
        origin: &AttemptOrigin,
    ) -> Result<Login> {
        let mut trace = AttemptTrace::default();
        let login = self
            .check_login(username, secret, scope, origin.ip, &mut trace)
            .await;
        if let Err(Error::Auth(refusal)) = &login {
            metrics::counter!("wildduck_login_failures_total", "scope" => scope.name(), "reason" => refusal.reason())
                .increment(1);
        }
        let result = match &login {
            Ok(_) => AuthResult::Success,
            Err(Error::Auth(_)) => AuthResult::Fail,
            // The store failed: nothing was decided about the credentials.
            Err(_) => return login,
        };
        let mut event = AuthEvent::new(ACTION_AUTHENTICATION, result, origin);
        event.user = trace.user;
        event.username = username.to_string();
        event.scope = Some(scope);
        event
            .protocol
            .get_or_insert_with(|| authlog::protocol_of(scope).to_string());
        match &login {
            Ok(login) => {
                event.asp = login.asp;
                event.require_2fa = login.require_2fa;
                event.source = Some(login.source);
            }
            Err(Error::Auth(refusal)) => {
                event.reason = Some(trace.reason.unwrap_or(refusal.reason()).to_string());
            }
            Err(_) => {}
        }
        self.log_auth_event(event);
        login
    }

    /// Records a login refused before its password was looked at: the username or the
    /// client's IP is locked after too many failures.
    pub fn log_locked_login(&self, username: &str, scope: Scope, origin: &AttemptOrigin) {
        let mut event = AuthEvent::new(ACTION_AUTHENTICATION, AuthResult::Fail, origin);
        event.username = username.to_string();
        event.scope = Some(scope);
        event
            .protocol
            .get_or_insert_with(|| authlog::protocol_of(scope).to_string());
        event.reason = Some(REASON_LOCKED.to_string());
        let store = self.clone();
        let username = username.to_string();
        tokio::spawn(async move {
            // The user's id, when the name is one, so the event shows in their log.
            event.user = store
                .find_user_record(&username)
                .await
                .ok()
                .map(|record| record.user.id);
            store.write_auth_event(event).await;
        });
    }

    async fn check_login(
        &self,
        username: &str,
        secret: &Secret,
        scope: Scope,
        ip: Option<IpAddr>,
        trace: &mut AttemptTrace,
    ) -> Result<Login> {
        let record = match self.find_user_record(username).await {
            Ok(record) => record,
            Err(Error::User(_) | Error::Address(_)) => {
                // As long as a wrong password for a real user takes.
                if let Secret::Password(password) = secret {
                    let candidate = password.to_string();
                    blocking(move || {
                        accounts::verify_against_nothing(&candidate);
                        Ok(())
                    })
                    .await?;
                }
                return Err(AuthError::InvalidCredentials.into());
            }
            Err(other) => return Err(other),
        };
        trace.user = Some(record.user.id);
        let credential = match secret {
            Secret::Password(password) => self.credential(&record, password, scope).await?,
            // Another account's token is as wrong as an unknown one.
            Secret::Token(_, token) => match self.access_token_user(token).await? {
                Some(owner) if owner == record.user.id => Credential::Token,
                _ => return Err(AuthError::InvalidCredentials.into()),
            },
        };
        let user = &record.user;
        if user.disabled {
            return Err(AuthError::Disabled.into());
        }
        if user.suspended {
            return Err(AuthError::Suspended.into());
        }
        if user.disabled_scopes.contains(&scope) {
            return Err(AuthError::ScopeDisabled.into());
        }
        // With TOTP on, the account's own passwords (and its tokens, which a password
        // obtained) open `master` only (then with a code): mail clients use an ASP.
        let require_2fa =
            !matches!(credential, Credential::Asp(_)) && self.totp_enabled(user.id).await?;
        if require_2fa && scope != Scope::Master {
            trace.reason = Some(REASON_2FA_REQUIRED);
            return Err(AuthError::WrongScope.into());
        }
        match credential {
            Credential::Account(check) => {
                if let (PasswordCheck::MatchNeedsRehash, Secret::Password(password)) =
                    (check, secret)
                {
                    let password = password.to_string();
                    let hash = blocking(move || accounts::hash_password(&password)).await?;
                    self.backend()
                        .update_user(user.id, UserUpdate::PasswordHash(hash))
                        .await?;
                }
                Ok(Login {
                    user: record.user,
                    asp: None,
                    require_password_change: false,
                    require_2fa,
                    source: AuthSource::Master,
                })
            }
            Credential::Temporary => Ok(Login {
                user: record.user,
                asp: None,
                require_password_change: true,
                require_2fa,
                source: AuthSource::Temporary,
            }),
            Credential::Token => Ok(Login {
                user: record.user,
                asp: None,
                require_password_change: false,
                require_2fa,
                source: AuthSource::Token,
            }),
            Credential::Asp(asp) => {
                let asp = asp.asp;
                if !asp.scopes.contains(&scope) {
                    return Err(AuthError::WrongScope.into());
                }
                let time = now();
                let expires = asp
                    .ttl
                    .map(|ttl| time.saturating_add(ttl.min(i64::MAX as u64) as i64));
                let used = AspUse {
                    time,
                    scope,
                    ip: ip.map(|ip| ip.to_string()),
                };
                self.backend().record_asp_use(asp.id, used, expires).await?;
                Ok(Login {
                    user: record.user,
                    asp: Some(asp.id),
                    require_password_change: false,
                    require_2fa: false,
                    source: AuthSource::Asp,
                })
            }
        }
    }

    /// Which credential `password` is for this account: the account password, else for
    /// `master` a live temporary password, else (never for `master`) a live ASP filed under
    /// the candidate's selector.
    async fn credential(
        &self,
        record: &UserRecord,
        password: &str,
        scope: Scope,
    ) -> Result<Credential> {
        let (candidate, stored) = (password.to_string(), record.password_hash.clone());
        let verified = self.verified_logins();
        let check = blocking(move || Ok(verified.verify(&candidate, &stored))).await?;
        if check != PasswordCheck::Mismatch {
            return Ok(Credential::Account(check));
        }
        if scope == Scope::Master && self.check_temp_password(record.user.id, password).await? {
            return Ok(Credential::Temporary);
        }
        let Some(candidate) = asps::normalize(password).filter(|_| scope != Scope::Master) else {
            return Err(AuthError::InvalidCredentials.into());
        };
        let at = now();
        let mut candidates = self
            .backend()
            .asps_by_selector(record.user.id, &asps::selector(&candidate))
            .await?;
        candidates.retain(|found| !asps::is_expired(&found.asp, at));
        let verified = self.verified_logins();
        let matched = blocking(move || {
            Ok(candidates.into_iter().find(|found| {
                verified.verify(&candidate, &found.password_hash) != PasswordCheck::Mismatch
            }))
        })
        .await?;
        matched
            .map(|found| Credential::Asp(Box::new(found)))
            .ok_or_else(|| AuthError::InvalidCredentials.into())
    }

    /// A disabled account refuses every login; disabling it ends its live sessions.
    pub async fn set_disabled(&self, user: UserId, disabled: bool) -> Result<()> {
        self.backend()
            .update_user(user, UserUpdate::Disabled(disabled))
            .await?;
        if disabled {
            self.publish_logout(user, ACCOUNT_DISABLED).await;
        }
        Ok(())
    }

    /// A suspended account refuses every login but still receives mail; suspending it ends
    /// its live sessions.
    pub async fn set_suspended(&self, user: UserId, suspended: bool) -> Result<()> {
        self.backend()
            .update_user(user, UserUpdate::Suspended(suspended))
            .await?;
        if suspended {
            self.publish_logout(user, ACCOUNT_SUSPENDED).await;
        }
        Ok(())
    }

    /// Ends every live IMAP and POP3 session of `user` on every process of this store; IMAP
    /// clients see `* BYE <reason>`. The reason is cut to one line of at most 128 characters.
    pub async fn logout_sessions(&self, user: UserId, reason: &str) -> Result<()> {
        self.get_user(user).await?;
        self.publish_logout(user, &logout_reason(reason)).await;
        Ok(())
    }

    /// The protocol scopes (`imap`, `pop3`, `smtp`) the account may not log in to; an empty
    /// list enables them all. `master` can not be disabled.
    pub async fn set_disabled_scopes(&self, user: UserId, scopes: &[Scope]) -> Result<()> {
        let scopes = asps::protocol_scopes(scopes, false).map_err(UserError::InvalidScope)?;
        self.backend()
            .update_user(user, UserUpdate::DisabledScopes(scopes))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logout_reasons_are_one_short_line() {
        assert_eq!(logout_reason("Just because"), "Just because");
        assert_eq!(logout_reason("a\r\n* OK injected"), "a  * OK injected");
        assert_eq!(logout_reason("  \t "), DEFAULT_LOGOUT_REASON);
        assert_eq!(logout_reason(&"x".repeat(300)).chars().count(), 128);
    }
}
