//! The two SASL mechanisms that carry a bearer token (the store's access tokens, module
//! `tokens`): OAUTHBEARER (RFC 7628) and Google's XOAUTH2. What the client sends is the same
//! on IMAP, POP3 and SMTP once the shell has taken off its base64, so it is read here once.
//!
//! OAUTHBEARER: `n,a=user,` `^A` `auth=Bearer TOKEN` `^A` (other `key=value` pairs such as
//! host and port) `^A`. XOAUTH2: `user=USER` `^A` `auth=Bearer TOKEN` `^A^A`. A refused token
//! is answered with a JSON error as a challenge, the client's (dummy) response, and then the
//! protocol's failure reply (RFC 7628 §3.2.3).

use std::fmt;

/// A bearer-token mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BearerMechanism {
    OAuthBearer,
    XOAuth2,
}

/// The mechanisms' names, as a capability list shows them.
pub const BEARER_MECHANISMS: [&str; 2] = ["OAUTHBEARER", "XOAUTH2"];

impl BearerMechanism {
    /// The mechanism a (case-insensitive) SASL name means.
    pub fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("OAUTHBEARER") {
            Some(Self::OAuthBearer)
        } else if name.eq_ignore_ascii_case("XOAUTH2") {
            Some(Self::XOAuth2)
        } else {
            None
        }
    }

    /// The SASL name.
    pub fn name(self) -> &'static str {
        match self {
            Self::OAuthBearer => BEARER_MECHANISMS[0],
            Self::XOAuth2 => BEARER_MECHANISMS[1],
        }
    }

    /// The JSON error a server sends as its challenge when it refuses the token (RFC 7628
    /// §3.2.2; Google's form for XOAUTH2). The client answers it with a dummy response.
    pub fn failure_challenge(self) -> &'static str {
        match self {
            Self::OAuthBearer => r#"{"status":"invalid_token","schemes":"bearer"}"#,
            Self::XOAuth2 => r#"{"status":"401","schemes":"bearer"}"#,
        }
    }
}

/// Who the client says it is and the token it offers. `Debug` leaves the token out.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerCredentials {
    pub username: String,
    pub token: String,
}

impl fmt::Debug for BearerCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Reads a client's first (decoded) response; the error says what is wrong with it.
pub fn parse_bearer(
    mechanism: BearerMechanism,
    message: &[u8],
) -> Result<BearerCredentials, &'static str> {
    let message = std::str::from_utf8(message).map_err(|_| "the response is not UTF-8")?;
    let (authzid, pairs) = match mechanism {
        BearerMechanism::OAuthBearer => {
            let (header, pairs) = message
                .split_once('\u{1}')
                .ok_or("no key-value pairs after the GS2 header")?;
            (Some(gs2_authzid(header)?), pairs)
        }
        BearerMechanism::XOAuth2 => (None, message),
    };
    // The pairs end with an empty one: the message ends with two ^A.
    let pairs = pairs
        .strip_suffix("\u{1}\u{1}")
        .or_else(|| (pairs == "\u{1}").then_some(""))
        .ok_or("the response does not end with ^A^A")?;
    let mut user = None;
    let mut auth = None;
    for pair in pairs.split('\u{1}').filter(|pair| !pair.is_empty()) {
        match pair.split_once('=').ok_or("a key without a value")? {
            ("auth", value) => auth = Some(value),
            ("user", value) => user = Some(value),
            _ => {}
        }
    }
    let auth = auth.ok_or("no auth value")?;
    let token = match auth.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Err("the auth value is not a Bearer token"),
    };
    let username = match mechanism {
        BearerMechanism::OAuthBearer => authzid.flatten(),
        BearerMechanism::XOAuth2 => user.map(str::to_string),
    }
    .filter(|name| !name.is_empty())
    .ok_or("no user named")?;
    if token.is_empty() {
        return Err("an empty token");
    }
    Ok(BearerCredentials {
        username,
        token: token.to_string(),
    })
}

/// The authzid of a GS2 header (`n,a=user,`): `=2C` and `=3D` stand for `,` and `=`.
/// Channel binding (`p=`) is not offered, so a client may not ask for it.
fn gs2_authzid(header: &str) -> Result<Option<String>, &'static str> {
    let mut fields = header.split(',');
    match fields.next() {
        Some("n" | "y") => {}
        _ => return Err("a GS2 header without n or y"),
    }
    let authzid = match fields.next() {
        Some("") => None,
        Some(name) => {
            let name = name.strip_prefix("a=").ok_or("a GS2 authzid without a=")?;
            Some(name.replace("=2C", ",").replace("=3D", "="))
        }
        None => return Err("a GS2 header without its commas"),
    };
    match (fields.next(), fields.next()) {
        (Some(""), None) => Ok(authzid),
        _ => Err("a malformed GS2 header"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(mechanism: BearerMechanism, message: &str) -> Result<(String, String), &'static str> {
        parse_bearer(mechanism, message.as_bytes()).map(|c| (c.username, c.token))
    }

    #[test]
    fn oauthbearer_as_rfc_7628_shows_it() {
        let message = "n,a=user@example.com,\u{1}host=server.example.com\u{1}port=143\u{1}\
                       auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\u{1}\u{1}";
        assert_eq!(
            parsed(BearerMechanism::OAuthBearer, message),
            Ok((
                "user@example.com".into(),
                "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==".into()
            ))
        );
        assert_eq!(
            parsed(
                BearerMechanism::OAuthBearer,
                "y,a=a=2Cb=3Dc,\u{1}auth=bearer t\u{1}\u{1}"
            ),
            Ok(("a,b=c".into(), "t".into()))
        );
    }

    #[test]
    fn xoauth2_as_google_shows_it() {
        let message = "user=someuser@example.com\u{1}auth=Bearer ya29.vF9dft4qmTc2Nvb3\u{1}\u{1}";
        assert_eq!(
            parsed(BearerMechanism::XOAuth2, message),
            Ok((
                "someuser@example.com".into(),
                "ya29.vF9dft4qmTc2Nvb3".into()
            ))
        );
    }

    #[test]
    fn malformed_responses_are_refused() {
        for (mechanism, message) in [
            // No user: OAUTHBEARER without authzid, XOAUTH2 without user=.
            (
                BearerMechanism::OAuthBearer,
                "n,,\u{1}auth=Bearer t\u{1}\u{1}",
            ),
            (BearerMechanism::XOAuth2, "auth=Bearer t\u{1}\u{1}"),
            // Channel binding, a missing terminator, another scheme, no token.
            (
                BearerMechanism::OAuthBearer,
                "p=tls-unique,a=u,\u{1}auth=Bearer t\u{1}\u{1}",
            ),
            (BearerMechanism::XOAuth2, "user=u\u{1}auth=Bearer t"),
            (
                BearerMechanism::XOAuth2,
                "user=u\u{1}auth=Basic dTpw\u{1}\u{1}",
            ),
            (
                BearerMechanism::XOAuth2,
                "user=u\u{1}auth=Bearer \u{1}\u{1}",
            ),
            (BearerMechanism::OAuthBearer, "\u{1}"),
            (BearerMechanism::OAuthBearer, ""),
        ] {
            assert!(parsed(mechanism, message).is_err(), "{message:?}");
        }
        assert!(parse_bearer(BearerMechanism::XOAuth2, b"user=\xff\x01\x01").is_err());
    }

    #[test]
    fn debug_leaves_the_token_out() {
        let credentials = BearerCredentials {
            username: "ann".into(),
            token: "secret-token".into(),
        };
        assert!(!format!("{credentials:?}").contains("secret-token"));
    }
}
