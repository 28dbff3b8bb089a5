//! Two-factor authentication with TOTP, as WildDuck's `setupTotp`/`enableTotp`/`checkTotp`/
//! `disable2fa`: setup makes a pending seed (shown once), the first valid code enables it, and
//! from then on every code counts once (`crate::totp`). With TOTP on, the account password
//! opens `master` only and the API's authentication answers `require2fa`; IMAP, POP3 and SMTP
//! need an application-specific password (`crate::auth`). The seed is kept sealed with the
//! operator's `[totp] secret`; without one, setup is refused rather than keeping seeds clear.

use crate::authlog::{ACTION_CHECK_TOTP, AttemptOrigin, AuthEvent, AuthResult};
use crate::backend::now;
use crate::error::Result;
use crate::model::UserId;
use crate::store::Store;
use crate::totp::{self, SeedCipher};

/// Why a TOTP operation was refused; the API answers each with WildDuck's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TotpRefusal {
    /// No `[totp] secret` is configured to seal seeds with.
    NotConfigured,
    /// Setup while TOTP is enabled (disable it first).
    AlreadyEnabled,
    /// Enable without a pending setup.
    NotPending,
    /// Check while TOTP is not enabled.
    NotEnabled,
    /// A wrong, stale or already used code.
    InvalidCode,
}

/// What setup shows the user once: the seed and the URL for an authenticator app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TotpSetup {
    pub seed: String,
    pub otpauth_url: String,
}

pub type TotpResult<T> = std::result::Result<T, TotpRefusal>;

impl Store {
    fn seed_cipher(&self) -> TotpResult<SeedCipher> {
        match self.config().totp_secret.as_deref() {
            Some(secret) if !secret.is_empty() => Ok(SeedCipher::new(secret)),
            _ => Err(TotpRefusal::NotConfigured),
        }
    }

    /// Whether the user has TOTP enabled.
    pub async fn totp_enabled(&self, user: UserId) -> Result<bool> {
        Ok(self
            .backend()
            .totp(user)
            .await?
            .is_some_and(|record| record.enabled))
    }

    /// A new pending seed for `user`, labelled `issuer:account` in authenticator apps.
    pub async fn setup_totp(
        &self,
        user: UserId,
        issuer: &str,
        account: &str,
    ) -> Result<TotpResult<TotpSetup>> {
        let cipher = match self.seed_cipher() {
            Ok(cipher) => cipher,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let seed = totp::generate_seed();
        if !self
            .backend()
            .set_pending_totp(user, cipher.seal(&seed))
            .await?
        {
            return Ok(Err(TotpRefusal::AlreadyEnabled));
        }
        Ok(Ok(TotpSetup {
            seed: totp::seed_text(&seed),
            otpauth_url: totp::otpauth_url(&seed, issuer, account),
        }))
    }

    /// Enables the pending seed once `code` is valid for it. Enabling ends the user's live
    /// sessions, as WildDuck does: they logged in without the second factor.
    pub async fn enable_totp(&self, user: UserId, code: &str) -> Result<TotpResult<()>> {
        let Some(record) = self.backend().totp(user).await?.filter(|r| !r.enabled) else {
            return Ok(Err(TotpRefusal::NotPending));
        };
        let Some(step) = self.code_step(&record.sealed_seed, code, None)? else {
            return Ok(Err(TotpRefusal::InvalidCode));
        };
        if !self.backend().enable_totp(user, step).await? {
            return Ok(Err(TotpRefusal::NotPending));
        }
        self.publish_logout(user, "Authentication required").await;
        Ok(Ok(()))
    }

    /// Checks a code of an enabled seed; a code is accepted once.
    pub async fn check_totp(&self, user: UserId, code: &str) -> Result<TotpResult<()>> {
        self.check_totp_from(user, code, &AttemptOrigin::default())
            .await
    }

    /// [`Store::check_totp`] for a client at `origin`; a check of an enabled seed goes to
    /// the auth log (`crate::authlog`), success or not.
    pub async fn check_totp_from(
        &self,
        user: UserId,
        code: &str,
        origin: &AttemptOrigin,
    ) -> Result<TotpResult<()>> {
        let checked = self.verify_totp(user, code).await?;
        if checked != Err(TotpRefusal::NotEnabled) {
            let result = match checked {
                Ok(()) => AuthResult::Success,
                Err(_) => AuthResult::Fail,
            };
            let mut event = AuthEvent::new(ACTION_CHECK_TOTP, result, origin);
            event.user = Some(user);
            event.reason = checked.err().map(|_| "invalid code".to_string());
            self.log_auth_event(event);
        }
        Ok(checked)
    }

    async fn verify_totp(&self, user: UserId, code: &str) -> Result<TotpResult<()>> {
        let Some(record) = self.backend().totp(user).await?.filter(|r| r.enabled) else {
            return Ok(Err(TotpRefusal::NotEnabled));
        };
        let Some(step) = self.code_step(&record.sealed_seed, code, record.last_step)? else {
            return Ok(Err(TotpRefusal::InvalidCode));
        };
        // Another login may have used this step meanwhile: the backend decides atomically.
        if !self.backend().use_totp_step(user, step).await? {
            return Ok(Err(TotpRefusal::InvalidCode));
        }
        Ok(Ok(()))
    }

    /// Turns TOTP off (enabled or pending); `false` when there was none.
    pub async fn disable_totp(&self, user: UserId) -> Result<bool> {
        self.get_user(user).await?;
        self.backend().delete_totp(user).await
    }

    /// The step `code` is valid for now, or `None`. A seed that does not open (another
    /// secret configured) accepts no code.
    fn code_step(&self, sealed: &[u8], code: &str, last: Option<i64>) -> Result<Option<i64>> {
        let Ok(cipher) = self.seed_cipher() else {
            return Ok(None);
        };
        let Ok(seed) = cipher.open(sealed) else {
            tracing::warn!("a TOTP seed does not open with the configured [totp] secret");
            return Ok(None);
        };
        Ok(totp::accepted_step(&seed, code, totp::step_at(now()), last))
    }
}
