//! The auth log: one event per authentication attempt on every protocol (IMAP, POP3,
//! submission, the API) and per TOTP check, as WildDuck's `authlog` collection keeps them —
//! when, which protocol and scope, the client's IP, the user (id when the name was known),
//! the result with the reason of a refusal, and the application-specific password used.
//! Events expire after [`AUTH_LOG_RETENTION`]; the retention sweep drops them.
//!
//! Writing an event never delays or fails the login it describes: the write runs in a task
//! of its own, and a write that fails is logged (never with the password) and dropped.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::backend::now;
use crate::error::Result;
use crate::model::*;
use crate::store::Store;

/// How long an event is kept: WildDuck's `const:authlog:time` default, 30 days.
pub const AUTH_LOG_RETENTION: i64 = 30 * 24 * 3600;

/// The `action` of a login attempt, as WildDuck names it.
pub const ACTION_AUTHENTICATION: &str = "authentication";
/// The `action` of a TOTP code check.
pub const ACTION_CHECK_TOTP: &str = "check 2fa totp";

/// Where an attempt came from, as far as the shell knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttemptOrigin {
    pub ip: Option<IpAddr>,
    /// The protocol's name for the log; by default the scope's (`IMAP`, `POP3`, `SMTP`,
    /// `API` for `master`).
    pub protocol: Option<String>,
    /// The caller's session id, when it has one (WildDuck's `sess`).
    pub sess: Option<String>,
}

impl AttemptOrigin {
    pub fn from_ip(ip: Option<IpAddr>) -> Self {
        Self {
            ip,
            ..Self::default()
        }
    }
}

/// Whether the attempt succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthResult {
    Success,
    Fail,
}

impl AuthResult {
    pub fn name(self) -> &'static str {
        match self {
            AuthResult::Success => "success",
            AuthResult::Fail => "fail",
        }
    }
}

/// Which credential opened a successful login (WildDuck's `source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthSource {
    /// The account password.
    Master,
    /// The temporary password of a reset.
    Temporary,
    /// An application-specific password.
    Asp,
    /// An access token, through OAUTHBEARER or XOAUTH2.
    Token,
}

impl AuthSource {
    pub fn name(self) -> &'static str {
        match self {
            AuthSource::Master => "master",
            AuthSource::Temporary => "temporary",
            AuthSource::Asp => "asp",
            AuthSource::Token => "token",
        }
    }
}

/// One attempt. Holds no password, ASP or code: only what the attempt was and how it ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthEvent {
    pub id: RecordId,
    /// The account, when the name given was one.
    pub user: Option<UserId>,
    /// The name as the client gave it (empty for a TOTP check, which names the account by
    /// id).
    pub username: String,
    pub created: Timestamp,
    /// When the retention sweep drops it.
    pub expires: Timestamp,
    /// [`ACTION_AUTHENTICATION`] or [`ACTION_CHECK_TOTP`].
    pub action: String,
    pub result: AuthResult,
    /// Why a failure failed (`bad credentials`, `disabled`, `locked`, `2fa required` …).
    pub reason: Option<String>,
    pub protocol: Option<String>,
    pub scope: Option<Scope>,
    pub source: Option<AuthSource>,
    pub asp: Option<AspId>,
    /// A password login that still needs a TOTP code.
    pub require_2fa: bool,
    pub ip: Option<String>,
    pub sess: Option<String>,
}

impl AuthEvent {
    /// A new event happening now, kept for [`AUTH_LOG_RETENTION`].
    pub(crate) fn new(action: &str, result: AuthResult, origin: &AttemptOrigin) -> Self {
        let created = now();
        Self {
            id: RecordId::new(),
            user: None,
            username: String::new(),
            created,
            expires: created.saturating_add(AUTH_LOG_RETENTION),
            action: action.to_string(),
            result,
            reason: None,
            protocol: origin.protocol.clone(),
            scope: None,
            source: None,
            asp: None,
            require_2fa: false,
            ip: origin.ip.map(|ip| ip.to_string()),
            sess: origin.sess.clone(),
        }
    }
}

/// The protocol a scope is logged under when the shell names none.
pub(crate) fn protocol_of(scope: Scope) -> &'static str {
    match scope {
        Scope::Master => "API",
        Scope::Imap => "IMAP",
        Scope::Pop3 => "POP3",
        Scope::Smtp => "SMTP",
    }
}

/// Which events of a user to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthLogFilter {
    /// Only events with this action.
    pub action: Option<String>,
    /// Only events from this IP address (as text, compared as given).
    pub ip: Option<String>,
}

impl AuthLogFilter {
    fn matches(&self, event: &AuthEvent) -> bool {
        self.action
            .as_deref()
            .is_none_or(|action| event.action.eq_ignore_ascii_case(action))
            && self
                .ip
                .as_deref()
                .is_none_or(|ip| event.ip.as_deref() == Some(ip))
    }
}

impl Store {
    /// Keeps `event` in the auth log without making the caller wait for the write.
    pub(crate) fn log_auth_event(&self, event: AuthEvent) {
        let store = self.clone();
        tokio::spawn(async move { store.write_auth_event(event).await });
    }

    /// Writes `event`; a failure is logged, not returned: the log must not fail a login.
    pub(crate) async fn write_auth_event(&self, event: AuthEvent) {
        let (action, result) = (event.action.clone(), event.result);
        if let Err(error) = self.backend().add_auth_event(event).await {
            tracing::warn!(%error, action, result = result.name(), "auth log write failed");
        }
    }

    /// The user's events that have not expired, newest first, narrowed by `filter`.
    pub async fn auth_log(&self, user: UserId, filter: &AuthLogFilter) -> Result<Vec<AuthEvent>> {
        self.get_user(user).await?;
        let at = now();
        let mut events = self.backend().auth_events(user).await?;
        events.retain(|event| event.expires > at && filter.matches(event));
        events.sort_by_key(|event| std::cmp::Reverse(event.id));
        Ok(events)
    }

    /// One event of the user's log; `None` when there is none with that id (or it expired).
    pub async fn auth_log_event(&self, user: UserId, id: RecordId) -> Result<Option<AuthEvent>> {
        self.get_user(user).await?;
        let at = now();
        Ok(self
            .backend()
            .auth_event(user, id)
            .await?
            .filter(|event| event.expires > at))
    }

    /// Drops the events that expired at or before `at`; how many went.
    pub async fn drop_expired_auth_events(&self, at: Timestamp) -> Result<u64> {
        self.backend().drop_auth_events(at).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str, ip: Option<&str>) -> AuthEvent {
        let mut event = AuthEvent::new(action, AuthResult::Fail, &AttemptOrigin::default());
        event.ip = ip.map(str::to_string);
        event
    }

    #[test]
    fn filters_narrow_by_action_and_ip() {
        let login = event(ACTION_AUTHENTICATION, Some("192.0.2.1"));
        let totp = event(ACTION_CHECK_TOTP, None);
        let all = AuthLogFilter::default();
        assert!(all.matches(&login) && all.matches(&totp));
        let by_action = AuthLogFilter {
            action: Some("Check 2FA TOTP".into()),
            ip: None,
        };
        assert!(!by_action.matches(&login) && by_action.matches(&totp));
        let by_ip = AuthLogFilter {
            action: None,
            ip: Some("192.0.2.1".into()),
        };
        assert!(by_ip.matches(&login) && !by_ip.matches(&totp));
    }

    #[test]
    fn events_expire_after_thirty_days() {
        let event = event(ACTION_AUTHENTICATION, None);
        assert_eq!(event.expires - event.created, 30 * 24 * 3600);
    }
}
