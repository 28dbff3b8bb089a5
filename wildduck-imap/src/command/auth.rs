//! Any-state and not-authenticated commands: CAPABILITY, STARTTLS, LOGIN, AUTHENTICATE PLAIN,
//! OAUTHBEARER and XOAUTH2 (with SASL-IR; the bearer tokens are the API's access tokens), ID,
//! ENABLE.

use base64::Engine;
use imap_codec::AuthenticateDataCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::auth::AuthenticateData;
use wildduck_store::{
    AttemptOrigin, AuthError, BearerMechanism, Error, Scope, Secret, parse_bearer,
};

use crate::connection::Inbound;
use crate::state::{Fail, Outcome, Reply, Session};

pub fn capability(session: &mut Session) -> Outcome {
    let caps = session.capabilities();
    session.conn.untagged(&format!("CAPABILITY {caps}"));
    Ok(Reply::Ok("Capability completed".into()))
}

pub async fn starttls(session: &mut Session, tag: &str) -> Outcome {
    if session.conn.is_tls() {
        return Ok(Reply::Bad("TLS is already active".into()));
    }
    let Some(acceptor) = session.shared.tls.clone() else {
        return Ok(Reply::No("TLS is not available".into()));
    };
    session.conn.tagged(tag, "OK Begin TLS negotiation now");
    session.conn.start_tls(&acceptor).await?;
    Ok(Reply::AlreadySent)
}

pub async fn login(session: &mut Session, username: &str, password: &str) -> Outcome {
    if !session.login_allowed() {
        return Ok(Reply::No("[PRIVACYREQUIRED] Use STARTTLS first".into()));
    }
    authenticate_user(session, username, Secret::Password(password.to_string())).await
}

/// Checks credentials under the store's lockout: a locked username or client IP is refused
/// without looking at the password, and every failure is answered after a growing pause.
/// Every attempt is logged, never with the password or token.
async fn authenticate_user(session: &mut Session, username: &str, credential: Secret) -> Outcome {
    let store = session.store().clone();
    let ip = session.peer;
    if let Err(left) = store.login_allowed(username, ip).await? {
        tracing::info!(user = username, %ip, outcome = "locked", "IMAP login attempt");
        store.log_locked_login(username, Scope::Imap, &AttemptOrigin::from_ip(Some(ip)));
        tokio::time::sleep(store.limits().max_failure_delay.min(left)).await;
        return Ok(Reply::No(format!(
            "[LIMIT] Too many failed logins, try again in {} seconds",
            left.as_secs().max(1)
        )));
    }
    let origin = AttemptOrigin::from_ip(Some(ip));
    let failure = match store
        .authenticate_secret(username, &credential, Scope::Imap, &origin)
        .await
    {
        Ok(login) => {
            let user = login.user;
            tracing::info!(user = username, %ip, outcome = "success", "IMAP login attempt");
            store.record_login_success(username, ip).await?;
            session.log_in(user).await?;
            return Ok(Reply::Ok(format!(
                "[CAPABILITY {}] Logged in",
                session.capabilities()
            )));
        }
        // Every refusal gets the same answer; the log says why.
        Err(Error::Auth(refused)) => refused.reason(),
        Err(Error::User(_)) => AuthError::InvalidCredentials.reason(),
        Err(e) => return Err(e.into()),
    };
    tracing::info!(user = username, %ip, outcome = failure, "IMAP login attempt");
    let pause = store.record_login_failure(username, ip).await?;
    tokio::time::sleep(pause).await;
    if let Some(refusal) = credential.refusal_challenge() {
        // RFC 7628 §3.2.2: the error as a challenge; the client's dummy answer ends it.
        let challenge = base64::engine::general_purpose::STANDARD.encode(refusal);
        session.conn.push(format!("+ {challenge}\r\n").as_bytes());
        session.conn.flush().await?;
        read_response(session).await?;
    }
    Ok(Reply::No(
        "[AUTHENTICATIONFAILED] Authentication failed".into(),
    ))
}

/// `authzid NUL authcid NUL password`; an authzid other than the user is not supported.
fn plain_credentials(data: &[u8]) -> Option<(String, String)> {
    let mut parts = data.split(|&b| b == 0);
    let authzid = parts.next()?;
    let authcid = std::str::from_utf8(parts.next()?).ok()?;
    let password = std::str::from_utf8(parts.next()?).ok()?;
    if parts.next().is_some() || (!authzid.is_empty() && authzid != authcid.as_bytes()) {
        return None;
    }
    Some((authcid.to_string(), password.to_string()))
}

/// A client's response to a `+` continuation.
enum Response {
    Data(Vec<u8>),
    Cancel,
    /// Not base64.
    Invalid,
}

async fn read_response(session: &mut Session) -> Result<Response, Fail> {
    match session.conn.read_inbound().await? {
        Inbound::Message => {}
        Inbound::Closed => return Err(Fail::Io(std::io::ErrorKind::UnexpectedEof.into())),
        Inbound::LineTooLong | Inbound::LiteralAnnounced { .. } => {
            return Err(Fail::Io(std::io::Error::other("bad authentication line")));
        }
    }
    Ok(
        match AuthenticateDataCodec::default().decode(session.conn.message_bytes()) {
            Ok((_, AuthenticateData::Continue(data))) => Response::Data(data.declassify().to_vec()),
            Ok((_, AuthenticateData::Cancel)) => Response::Cancel,
            Err(_) => {
                // Base64 that does not decode: imap-codec refuses it.
                let line = String::from_utf8_lossy(session.conn.message_bytes())
                    .trim()
                    .to_string();
                match base64::engine::general_purpose::STANDARD.decode(line) {
                    Ok(data) => Response::Data(data),
                    Err(_) => Response::Invalid,
                }
            }
        },
    )
}

pub async fn authenticate(
    session: &mut Session,
    mechanism: &str,
    initial: Option<Vec<u8>>,
) -> Outcome {
    let bearer = BearerMechanism::from_name(mechanism);
    if bearer.is_none() && !mechanism.eq_ignore_ascii_case("PLAIN") {
        return Ok(Reply::No("Unsupported authentication mechanism".into()));
    }
    if !session.login_allowed() {
        return Ok(Reply::No("[PRIVACYREQUIRED] Use STARTTLS first".into()));
    }
    let data = match initial {
        Some(data) => data,
        None => {
            session.conn.push(b"+ \r\n");
            session.conn.flush().await?;
            match read_response(session).await? {
                Response::Data(data) => data,
                Response::Cancel => return Ok(Reply::Bad("Authentication cancelled".into())),
                Response::Invalid => return Ok(Reply::Bad("Invalid base64".into())),
            }
        }
    };
    let Some(mechanism) = bearer else {
        return match plain_credentials(&data) {
            Some((username, password)) => {
                authenticate_user(session, &username, Secret::Password(password)).await
            }
            None => Ok(Reply::No(
                "[AUTHENTICATIONFAILED] Malformed PLAIN credentials".into(),
            )),
        };
    };
    match parse_bearer(mechanism, &data) {
        Ok(credentials) => {
            let credential = Secret::Token(mechanism, credentials.token);
            authenticate_user(session, &credentials.username, credential).await
        }
        Err(why) => Ok(Reply::No(format!(
            "[AUTHENTICATIONFAILED] Malformed {} response: {why}",
            mechanism.name()
        ))),
    }
}

pub fn id(session: &mut Session) -> Outcome {
    session.conn.untagged(&format!(
        "ID (\"name\" \"wildduck-rs\" \"version\" \"{}\")",
        env!("CARGO_PKG_VERSION")
    ));
    Ok(Reply::Ok("ID completed".into()))
}

pub fn enable(session: &mut Session, capabilities: &[String]) -> Outcome {
    let mut enabled = Vec::new();
    for capability in capabilities {
        if capability.eq_ignore_ascii_case("CONDSTORE") && !session.condstore {
            session.condstore = true;
            enabled.push("CONDSTORE");
        }
        // QRESYNC implies CONDSTORE (RFC 7162 §3.2.3).
        if capability.eq_ignore_ascii_case("QRESYNC") && !session.qresync {
            session.qresync = true;
            session.condstore = true;
            enabled.push("QRESYNC");
        }
        if capability.eq_ignore_ascii_case("UTF8=ACCEPT") && !session.utf8 {
            session.utf8 = true;
            enabled.push("UTF8=ACCEPT");
        }
    }
    let mut line = String::from("ENABLED");
    for capability in enabled {
        line.push(' ');
        line.push_str(capability);
    }
    session.conn.untagged(&line);
    Ok(Reply::Ok("Enabled".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_credentials_split() {
        assert_eq!(
            plain_credentials(b"\0bob\0pw"),
            Some(("bob".into(), "pw".into()))
        );
        assert_eq!(
            plain_credentials(b"bob\0bob\0pw"),
            Some(("bob".into(), "pw".into()))
        );
        assert_eq!(plain_credentials(b"eve\0bob\0pw"), None);
        assert_eq!(plain_credentials(b"bob\0pw"), None);
    }
}
