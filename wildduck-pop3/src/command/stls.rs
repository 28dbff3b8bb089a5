//! STLS (RFC 2595): upgrade a plain connection to TLS before login.

use std::io;

use crate::state::{Flow, Session, State};

pub(crate) async fn stls(session: &mut Session) -> io::Result<Flow> {
    let Some(acceptor) = session.shared.tls.clone() else {
        session.conn.err("STLS is not available").await?;
        return Ok(Flow::Continue);
    };
    if session.conn.is_tls() {
        session.conn.err("Already using TLS").await?;
        return Ok(Flow::Continue);
    }
    session.conn.ok("Begin TLS negotiation").await?;
    session.conn.upgrade(&acceptor).await?;
    // Nothing learnt before the handshake is trusted afterwards.
    session.state = State::Authorization { user: None };
    Ok(Flow::Continue)
}
