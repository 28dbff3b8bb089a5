//! CAPA (RFC 2449).

use std::io;

use crate::state::{Flow, Session, State};

pub(crate) async fn capa(session: &mut Session) -> io::Result<Flow> {
    let mut lines = vec!["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"];
    if matches!(session.state, State::Authorization { .. }) {
        if session.plaintext_login_allowed() {
            lines.extend(["USER", "SASL PLAIN OAUTHBEARER XOAUTH2"]);
        }
        if session.shared.tls.is_some() && !session.conn.is_tls() {
            lines.push("STLS");
        }
    }
    lines.push("IMPLEMENTATION wildduck-rs");
    let mut response = String::from("+OK Capability list follows\r\n");
    for line in lines {
        response.push_str(line);
        response.push_str("\r\n");
    }
    response.push_str(".\r\n");
    session.conn.write(response.as_bytes()).await?;
    Ok(Flow::Continue)
}
