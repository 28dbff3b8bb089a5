//! Where an entry goes: the configured smarthost, or a forward target's own relay, both read
//! from an `smtp(s)://[user:password@]host[:port]` URL by one parser.

use std::time::Duration;

use percent_encoding::percent_decode_str;
use rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

use super::Credentials;
use super::client::{Security, Smarthost};

/// What reaching any next hop takes besides its address.
#[derive(Clone)]
pub(crate) struct Reach {
    /// The name this server gives in EHLO.
    pub(crate) helo_name: String,
    /// Longest wait for a connection, a handshake or any one reply.
    pub(crate) timeout: Duration,
    /// Trusts the public roots and `[outbound] relay_ca_file`.
    pub(crate) tls: TlsConnector,
}

/// The relay `url` names: `smtps://` is TLS from the first byte (port 465 unless given),
/// `smtp://` STARTTLS when offered (`require_tls`: never without it; port 25 unless given);
/// `user:password@` (percent-encoded) is AUTH. Why not, when the URL is not such a relay.
pub(crate) fn relay_at(url: &str, require_tls: bool, reach: &Reach) -> Result<Smarthost, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or("is not smtp://host:port or smtps://host:port")?;
    let (security, default_port) = match scheme.to_ascii_lowercase().as_str() {
        "smtps" => (Security::Implicit, 465),
        "smtp" => (
            Security::StartTls {
                required: require_tls,
            },
            25,
        ),
        _ => return Err("is not smtp://host:port or smtps://host:port".into()),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (credentials, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => (Some(credentials(userinfo)?), host_port),
        None => (None, authority),
    };
    let (host, port) = match host_port.strip_prefix('[') {
        Some(bracketed) => {
            let (host, tail) = bracketed.split_once(']').ok_or("has an unclosed [")?;
            (host, tail.strip_prefix(':'))
        }
        None => match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    if host.is_empty() {
        return Err("has no host".into());
    }
    let port = match port {
        Some(port) => port.parse::<u16>().map_err(|_| "has a bad port")?,
        None => default_port,
    };
    let server_name = ServerName::try_from(host.to_string())
        .map_err(|err| format!("has no usable host name: {err}"))?;
    let address = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    Ok(Smarthost {
        address,
        server_name,
        helo_name: reach.helo_name.clone(),
        timeout: reach.timeout,
        security,
        tls: reach.tls.clone(),
        credentials,
    })
}

/// `user:password`, each percent-decoded.
fn credentials(userinfo: &str) -> Result<Credentials, String> {
    let decode = |part: &str| {
        percent_decode_str(part)
            .decode_utf8()
            .map(|text| text.into_owned())
            .map_err(|_| "has credentials that are not UTF-8".to_string())
    };
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    Ok(Credentials {
        user: decode(user)?,
        password: decode(password)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach() -> Reach {
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        Reach {
            helo_name: "mx.example.org".into(),
            timeout: Duration::from_secs(5),
            tls: TlsConnector::from(std::sync::Arc::new(config)),
        }
    }

    #[test]
    fn the_relay_url_names_host_port_tls_and_credentials() {
        let reach = reach();
        let plain = relay_at("smtp://127.0.0.1:2525", false, &reach).unwrap();
        assert_eq!(plain.address, "127.0.0.1:2525");
        assert_eq!(plain.security, Security::StartTls { required: false });
        assert!(plain.credentials.is_none());
        let required = relay_at("SMTP://relay.example.net:587/", true, &reach).unwrap();
        assert_eq!(required.address, "relay.example.net:587");
        assert_eq!(required.security, Security::StartTls { required: true });
        assert_eq!(required.server_name.to_str(), "relay.example.net");
        let implicit = relay_at("smtps://[::1]", false, &reach).unwrap();
        assert_eq!(implicit.security, Security::Implicit);
        assert_eq!(implicit.address, "[::1]:465");
        assert!(matches!(implicit.server_name, ServerName::IpAddress(_)));
        assert_eq!(
            relay_at("smtp://mx2.zone.eu", false, &reach)
                .unwrap()
                .address,
            "mx2.zone.eu:25"
        );
        let with_auth = relay_at("smtps://fwd%40x.org:p%3Ass@mx.test:465", false, &reach).unwrap();
        let credentials = with_auth.credentials.unwrap();
        assert_eq!(
            (credentials.user.as_str(), credentials.password.as_str()),
            ("fwd@x.org", "p:ss")
        );
        assert_eq!(with_auth.address, "mx.test:465");
        for unusable in [
            "http://relay:25",
            "relay:25",
            "smtp://:25",
            "smtps://relay:port",
            "smtp://[::1",
            "smtp://user:%ff@relay:25",
        ] {
            assert!(relay_at(unusable, false, &reach).is_err(), "{unusable}");
        }
    }
}
