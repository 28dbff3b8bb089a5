//! The API's user access tokens (`POST /authenticate` with `token: true`), kept by the
//! store so every shell and every process knows them: the API takes one in place of the root
//! token, IMAP, POP3 and submission as an OAUTHBEARER/XOAUTH2 bearer token (module `bearer`).
//!
//! A token is 20 random bytes as 40 hex digits (WildDuck's shape). The engines keep its
//! SHA-256 only, so a copy of the database opens no account; each use pushes its expiry out
//! by its TTL (WildDuck's sliding `ACCESS_TOKEN_DEFAULT_TTL`).

use std::time::Duration;

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::backend::now;
use crate::error::Result;
use crate::model::UserId;
use crate::store::Store;

/// WildDuck's `ACCESS_TOKEN_DEFAULT_TTL`: a token lives this long after its last use.
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(14 * 24 * 3600);

/// What the engines file a token under.
fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Store {
    /// A new token for `user`, valid `ttl` (whole seconds, at least one) after each use.
    pub async fn issue_access_token(&self, user: UserId, ttl: Duration) -> Result<String> {
        let mut bytes = [0u8; 20];
        rand::rng().fill_bytes(&mut bytes);
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.backend()
            .insert_access_token(digest(&token), user, ttl.as_secs().max(1), now())
            .await?;
        Ok(token)
    }

    /// The user of a live token; the use pushes its expiry out. `None` for a token that is
    /// unknown, revoked or expired.
    pub async fn access_token_user(&self, token: &str) -> Result<Option<UserId>> {
        self.backend().use_access_token(digest(token), now()).await
    }

    pub async fn revoke_access_token(&self, token: &str) -> Result<()> {
        self.backend().delete_access_token(digest(token)).await
    }

    /// Ends every token of `user` except `keep` (a password change keeps the caller's own).
    pub async fn revoke_access_tokens(&self, user: UserId, keep: Option<&str>) -> Result<()> {
        self.backend()
            .delete_user_access_tokens(user, keep.map(digest))
            .await
    }
}
