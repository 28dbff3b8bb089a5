//! The pre-authentication check (WildDuck's `preAuth`): may this username or address log in
//! to a scope at all, before any password is asked for. A front end uses it to tell "no such
//! account" from "ask for the password" (and which second factors follow).

use crate::error::{AuthError, Error, Result};
use crate::model::{Scope, User};
use crate::store::Store;

impl Store {
    /// The account `username` (a username or any of its addresses, aliased domains followed)
    /// names, if it may log in to `scope`: unknown, disabled and suspended accounts are
    /// `InvalidCredentials` alike; a scope disabled for the account is `ScopeDisabled`, which
    /// WildDuck tells here (no secret was given, the account's existence is what is asked).
    pub async fn pre_authenticate(&self, username: &str, scope: Scope) -> Result<User> {
        let user = match self.find_user_record(username).await {
            Ok(record) => record.user,
            Err(Error::User(_) | Error::Address(_)) => {
                return Err(AuthError::InvalidCredentials.into());
            }
            Err(other) => return Err(other),
        };
        if user.disabled || user.suspended {
            return Err(AuthError::InvalidCredentials.into());
        }
        if user.disabled_scopes.contains(&scope) {
            return Err(AuthError::ScopeDisabled.into());
        }
        Ok(user)
    }
}
