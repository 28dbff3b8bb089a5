//! USER/PASS (RFC 1939) and AUTH PLAIN (RFC 5034 with RFC 4616).

use std::io;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::connection::Frame;
use crate::session::{Flow, Session, State};

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
    session.login(&name, &password).await
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
            "+OK\r\nPLAIN\r\n.\r\n"
        } else {
            "+OK\r\n.\r\n"
        };
        session.conn.write(list.as_bytes()).await?;
        return Ok(Flow::Continue);
    };
    if !mechanism.eq_ignore_ascii_case("PLAIN") {
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
    match decode_plain(&response) {
        Ok((username, password)) => session.login(&username, &password).await,
        Err(reason) => session.bad_command(reason).await,
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
