//! AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN mechanisms, and OAUTHBEARER (RFC
//! 7628) and XOAUTH2 with the API's access tokens, checked by the store under its
//! failed-login lockout (per user and per IP, shared with IMAP and POP3).

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use wildduck_store::{
    AttemptOrigin, AuthError, BearerMechanism, Error, Scope, Secret, Store, User, parse_bearer,
};

use crate::wire::Reply;

/// The mechanisms offered, in the EHLO `AUTH` line.
pub(super) const MECHANISMS: &str = "PLAIN LOGIN OAUTHBEARER XOAUTH2";

/// Reads an OAUTHBEARER or XOAUTH2 response into the user it names and its token.
pub(super) fn bearer(
    mechanism: BearerMechanism,
    response: &[u8],
) -> Result<(String, Secret), Reply> {
    let response = trim_line(response);
    let raw = BASE64
        .decode(response)
        .map_err(|_| malformed("Invalid base64 in the response"))?;
    let credentials = parse_bearer(mechanism, &raw).map_err(|why| {
        Reply::new(
            501,
            "5.5.2",
            format!("Malformed {} response: {why}", mechanism.name()),
        )
    })?;
    Ok((
        credentials.username,
        Secret::Token(mechanism, credentials.token),
    ))
}

/// A client response that ends the exchange with `501`.
pub(super) fn malformed(why: &'static str) -> Reply {
    Reply::new(501, "5.5.2", why)
}

/// One base64 client response as text; `=` is the empty response.
pub(super) fn decode(response: &[u8]) -> Result<String, Reply> {
    let response = trim_line(response);
    let raw = if response == b"=" {
        Vec::new()
    } else {
        BASE64
            .decode(response)
            .map_err(|_| malformed("Invalid base64 in the response"))?
    };
    String::from_utf8(raw).map_err(|_| malformed("The response is not valid UTF-8"))
}

/// Whether the client gave up the exchange (`*`).
pub(super) fn is_cancel(response: &[u8]) -> bool {
    trim_line(response) == b"*"
}

fn trim_line(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Splits a decoded PLAIN response (`authzid NUL authcid NUL password`) into username and
/// password. Acting as another user (a different authzid) is not supported.
pub(super) fn split_plain(text: &str) -> Result<(String, String), Reply> {
    let mut fields = text.split('\0');
    let (Some(authzid), Some(authcid), Some(password), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(malformed("Malformed PLAIN response"));
    };
    if !authzid.is_empty() && authzid != authcid {
        return Err(Reply::new(
            535,
            "5.7.8",
            "Logging in as another user is not supported",
        ));
    }
    Ok((authcid.to_string(), password.to_string()))
}

/// Checks credentials under the store's lockout. `Ok(user)`, or the reply to give (after
/// the pause the lockout asks for). Every attempt is logged, never with the password.
pub(super) async fn login(
    store: &Store,
    username: &str,
    secret: &Secret,
    ip: IpAddr,
) -> Result<User, Reply> {
    let unavailable = |error: Error| {
        tracing::warn!(%error, "submission authentication failed in the store");
        Reply::new(454, "4.7.0", "Temporary authentication failure")
    };
    match store.login_allowed(username, ip).await {
        Ok(Ok(())) => {}
        Ok(Err(left)) => {
            tracing::info!(user = username, %ip, outcome = "locked", "submission login attempt");
            store.log_locked_login(username, Scope::Smtp, &AttemptOrigin::from_ip(Some(ip)));
            tokio::time::sleep(store.limits().max_failure_delay.min(left)).await;
            return Err(Reply::new(
                454,
                "4.7.0",
                format!(
                    "Too many failed logins, try again in {} seconds",
                    left.as_secs().max(1)
                ),
            ));
        }
        Err(error) => return Err(unavailable(error)),
    }
    let origin = AttemptOrigin::from_ip(Some(ip));
    let outcome = match store
        .authenticate_secret(username, secret, Scope::Smtp, &origin)
        .await
    {
        Ok(login) => {
            let user = login.user;
            tracing::info!(user = username, %ip, outcome = "success", "submission login attempt");
            store
                .record_login_success(username, ip)
                .await
                .map_err(unavailable)?;
            return Ok(user);
        }
        Err(Error::Auth(AuthError::Disabled)) => "disabled",
        Err(Error::Auth(_) | Error::User(_)) => "bad credentials",
        Err(error) => return Err(unavailable(error)),
    };
    tracing::info!(user = username, %ip, outcome, "submission login attempt");
    let pause = store
        .record_login_failure(username, ip)
        .await
        .map_err(unavailable)?;
    tokio::time::sleep(pause).await;
    Err(Reply::new(
        535,
        "5.7.8",
        "Authentication credentials invalid",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_responses_name_one_user() {
        assert_eq!(
            split_plain("\0ann\0secret"),
            Ok(("ann".into(), "secret".into()))
        );
        assert_eq!(
            split_plain("ann\0ann\0secret"),
            Ok(("ann".into(), "secret".into()))
        );
        assert_eq!(split_plain("bob\0ann\0secret").unwrap_err().code, 535);
        assert_eq!(split_plain("ann\0secret").unwrap_err().code, 501);
        assert_eq!(decode(b"=\r\n"), Ok(String::new()));
        assert_eq!(decode(b"!!\r\n").unwrap_err().code, 501);
    }
}
