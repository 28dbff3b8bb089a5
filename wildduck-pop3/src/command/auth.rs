//! USER/PASS (RFC 1939) and AUTH (RFC 5034) with PLAIN (RFC 4616), and OAUTHBEARER (RFC
//! 7628) and XOAUTH2 with the API's access tokens.

use std::io;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use wildduck_store::{
    AttemptOrigin, AuthError, BearerMechanism, Error, Scope, Secret, User, parse_bearer,
};

use crate::connection::Frame;
use crate::maildrop::Maildrop;
use crate::reply::store_failure;
use crate::state::{Flow, Session, State, Transaction};

const PLAINTEXT_REFUSED: &str = "[AUTH] Plaintext login is not allowed here, use STLS first";

pub(crate) async fn user(session: &mut Session, name: String) -> io::Result<Flow> {
    if !session.plaintext_login_allowed() {
        return session.bad_command(PLAINTEXT_REFUSED).await;
    }
    session.state = State::Authorization { user: Some(name) };
    session.conn.ok("Send PASS").await?;
    Ok(Flow::Continue)
}

pub(crate) async fn pass(session: &mut Session, password: String) -> io::Result<Flow> {
    let State::Authorization { user } = &mut session.state else {
        return session.bad_command("Command not valid in this state").await;
    };
    // A failed PASS needs a new USER (RFC 1939).
    let Some(name) = user.take() else {
        return session.bad_command("Send USER first").await;
    };
    login(session, &name, Secret::Password(password)).await
}

pub(crate) async fn auth(
    session: &mut Session,
    mechanism: Option<String>,
    initial_response: Option<String>,
) -> io::Result<Flow> {
    let allowed = session.plaintext_login_allowed();
    let Some(mechanism) = mechanism else {
        // Mechanism list, as clients probing with a bare AUTH expect.
        let list = if allowed {
            "+OK\r\nPLAIN\r\nOAUTHBEARER\r\nXOAUTH2\r\n.\r\n"
        } else {
            "+OK\r\n.\r\n"
        };
        session.conn.write(list.as_bytes()).await?;
        return Ok(Flow::Continue);
    };
    let bearer = BearerMechanism::from_name(&mechanism);
    if bearer.is_none() && !mechanism.eq_ignore_ascii_case("PLAIN") {
        session
            .conn
            .err("Unsupported authentication mechanism")
            .await?;
        return Ok(Flow::Continue);
    }
    if !allowed {
        return session.bad_command(PLAINTEXT_REFUSED).await;
    }
    let response = match initial_response {
        Some(response) => response,
        None => {
            session.conn.write(b"+ \r\n").await?;
            match session.next_frame().await? {
                Some(Frame::Line(line)) => String::from_utf8_lossy(&line).into_owned(),
                Some(Frame::TooLong) => return session.bad_command("Line too long").await,
                None => return Ok(Flow::Close),
            }
        }
    };
    if response == "*" {
        session.conn.err("Authentication cancelled").await?;
        return Ok(Flow::Continue);
    }
    let Some(mechanism) = bearer else {
        return match decode_plain(&response) {
            Ok((username, password)) => login(session, &username, Secret::Password(password)).await,
            Err(reason) => session.bad_command(reason).await,
        };
    };
    let Ok(raw) = BASE64.decode(&response) else {
        return session
            .bad_command("[AUTH] Invalid base64 in the SASL response")
            .await;
    };
    match parse_bearer(mechanism, &raw) {
        Ok(credentials) => {
            let credential = Secret::Token(mechanism, credentials.token);
            login(session, &credentials.username, credential).await
        }
        Err(why) => {
            let reason = format!("[AUTH] Malformed {} response: {why}", mechanism.name());
            session.bad_command(&reason).await
        }
    }
}

/// Splits a base64 PLAIN response (`authzid NUL authcid NUL password`; `=` is empty) into
/// username and password. Acting as another user (a different authzid) is not supported.
fn decode_plain(response: &str) -> Result<(String, String), &'static str> {
    let raw = if response == "=" {
        Vec::new()
    } else {
        BASE64
            .decode(response)
            .map_err(|_| "[AUTH] Invalid base64 in the SASL response")?
    };
    let text = String::from_utf8(raw).map_err(|_| "[AUTH] SASL response is not valid UTF-8")?;
    let mut fields = text.split('\0');
    let (Some(authzid), Some(authcid), Some(password), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err("[AUTH] Malformed PLAIN response");
    };
    if !authzid.is_empty() && authzid != authcid {
        return Err("[AUTH] Logging in as another user is not supported");
    }
    Ok((authcid.to_string(), password.to_string()))
}

/// Checks credentials under the store's lockout (shared with IMAP, per user and per
/// IP) and opens the maildrop: the step into TRANSACTION. Every attempt is logged, never
/// with the password.
async fn login(session: &mut Session, username: &str, credential: Secret) -> io::Result<Flow> {
    let store = session.shared.store.clone();
    let ip = session.peer.ip();
    match store.login_allowed(username, ip).await {
        Ok(Ok(())) => {}
        Ok(Err(left)) => {
            tracing::info!(user = username, %ip, outcome = "locked", "POP3 login attempt");
            store.log_locked_login(username, Scope::Pop3, &AttemptOrigin::from_ip(Some(ip)));
            let reason = format!(
                "[LOGIN-DELAY] Too many failed logins, try again in {} seconds",
                left.as_secs().max(1)
            );
            let pause = store.limits().max_failure_delay.min(left);
            return failed_login(session, &reason, pause).await;
        }
        Err(error) => return auth_unavailable(session, error).await,
    }
    let origin = AttemptOrigin::from_ip(Some(ip));
    let (failure, reason) = match store
        .authenticate_secret(username, &credential, Scope::Pop3, &origin)
        .await
    {
        Ok(login) => {
            let user = login.user;
            tracing::info!(user = username, %ip, outcome = "success", "POP3 login attempt");
            if let Err(error) = store.record_login_success(username, ip).await {
                return auth_unavailable(session, error).await;
            }
            return open_maildrop(session, user).await;
        }
        // The account's state is told (to the right password only); a disabled scope or
        // an ASP without this scope is answered as a wrong password, the log says which.
        Err(Error::Auth(refused)) if refused.is_account_state() => {
            (refused.reason(), "[AUTH] Account is disabled")
        }
        Err(Error::Auth(refused)) => (refused.reason(), "[AUTH] Invalid username or password"),
        Err(Error::User(_)) => (
            AuthError::InvalidCredentials.reason(),
            "[AUTH] Invalid username or password",
        ),
        Err(error) => return auth_unavailable(session, error).await,
    };
    tracing::info!(user = username, %ip, outcome = failure, "POP3 login attempt");
    if let Some(refusal) = credential.refusal_challenge() {
        // RFC 7628 §3.2.2: the error as a challenge; the client's dummy answer ends it.
        let challenge = BASE64.encode(refusal);
        session
            .conn
            .write(format!("+ {challenge}\r\n").as_bytes())
            .await?;
        if session.next_frame().await?.is_none() {
            return Ok(Flow::Close);
        }
    }
    match store.record_login_failure(username, ip).await {
        Ok(pause) => failed_login(session, reason, pause).await,
        Err(error) => auth_unavailable(session, error).await,
    }
}

async fn auth_unavailable(session: &mut Session, error: Error) -> io::Result<Flow> {
    tracing::warn!(%error, "POP3 authentication failed in the store");
    session
        .conn
        .err(&store_failure(&error, "Authentication is unavailable"))
        .await?;
    Ok(Flow::Continue)
}

async fn open_maildrop(session: &mut Session, user: User) -> io::Result<Flow> {
    let store = &session.shared.store;
    let logout = store.watch_logout(user.id);
    let maildrop = match Maildrop::open(store, user.id, session.shared.config.max_messages).await {
        Ok(maildrop) => maildrop,
        Err(error) => {
            tracing::warn!(%error, user = %user.id, "POP3 could not open INBOX");
            session
                .conn
                .err(&store_failure(&error, "Could not open the maildrop"))
                .await?;
            return Ok(Flow::Continue);
        }
    };
    let count = maildrop.visible().count();
    tracing::info!(user = %user.id, peer = %session.peer, "POP3 login");
    session.state = State::Transaction(Transaction {
        user,
        maildrop,
        logout,
    });
    session
        .conn
        .ok(&format!("Logged in, {count} messages in the maildrop"))
        .await?;
    Ok(Flow::Continue)
}

/// Answers a failed or locked-out login after `pause` (the store's lockout paces it).
async fn failed_login(session: &mut Session, reason: &str, pause: Duration) -> io::Result<Flow> {
    session.auth_failures += 1;
    // Flush first: pipelined answers before this one are not held back by the delay.
    session.conn.flush().await?;
    tokio::time::sleep(pause).await;
    if session.auth_failures >= session.shared.config.max_auth_failures {
        session
            .conn
            .err(&format!(
                "{reason}; too many failed logins, closing connection"
            ))
            .await?;
        return Ok(Flow::Close);
    }
    session.conn.err(reason).await?;
    Ok(Flow::Continue)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_response_is_split() {
        let encoded = BASE64.encode(b"\0alice\0secret pass");
        assert_eq!(
            decode_plain(&encoded),
            Ok(("alice".into(), "secret pass".into()))
        );
        let same = BASE64.encode(b"alice\0alice\0pw");
        assert_eq!(decode_plain(&same), Ok(("alice".into(), "pw".into())));
    }

    #[test]
    fn bad_plain_responses_are_refused() {
        assert!(decode_plain("!!!").is_err());
        assert!(decode_plain("=").is_err());
        assert!(decode_plain(&BASE64.encode(b"alice\0pw")).is_err());
        assert!(decode_plain(&BASE64.encode(b"bob\0alice\0pw")).is_err());
    }
}
