//! A forward to an `http(s)://` target: the message is POSTed as it was queued
//! (`Content-Type: message/rfc822`), and the answer becomes the queue's reply for the
//! entry's recipient: 2xx delivered, 5xx or no answer tried again, anything else refused.

use std::io;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use wildduck_store::RelayReply;

use super::client::Socket;
use super::hops::Reach;

/// POSTs `raw` to `url` and turns the answer into a reply for the queue; `shown` is the URL
/// as replies may name it (no password).
pub(crate) async fn post(url: &str, shown: &str, raw: &[u8], reach: &Reach) -> RelayReply {
    let status = match tokio::time::timeout(
        reach.timeout,
        exchange(url, "message/rfc822", raw, reach),
    )
    .await
    {
        Ok(Ok(status)) => status,
        Ok(Err(err)) => return not_reached(shown, &err.to_string()),
        Err(_) => return not_reached(shown, "no answer in time"),
    };
    let answered = format!("{shown} answered {status}");
    match status.as_u16() {
        200..=299 => RelayReply {
            code: 250,
            text: format!("2.0.0 {answered}"),
        },
        500..=599 => RelayReply {
            code: 451,
            text: format!("4.4.0 {answered}"),
        },
        _ => RelayReply {
            code: 550,
            text: format!("5.0.0 {answered}"),
        },
    }
}

fn not_reached(shown: &str, why: &str) -> RelayReply {
    tracing::info!(url = %shown, error = %why, "forward URL not reached");
    RelayReply {
        code: 451,
        text: format!("4.4.1 {shown} not reached: {why}"),
    }
}

/// One HTTP/1.1 POST of `body` on a connection of its own; the answer's status.
pub(super) async fn exchange(
    url: &str,
    content_type: &str,
    body: &[u8],
    reach: &Reach,
) -> io::Result<hyper::StatusCode> {
    let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, why.to_string());
    let uri: hyper::Uri = url.parse().map_err(|_| invalid("not a URL"))?;
    let https = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(invalid("not http:// or https://")),
    };
    let host = uri.host().ok_or_else(|| invalid("no host"))?;
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let socket = TcpStream::connect((bare_host, port)).await?;
    socket.set_nodelay(true)?;
    let stream: Socket = if https {
        let name = ServerName::try_from(bare_host.to_string())
            .map_err(|_| invalid("no usable host name"))?;
        Box::new(reach.tls.connect(name, socket).await?)
    } else {
        Box::new(socket)
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    // The connection is driven beside the request and ends with it.
    let driver = tokio::spawn(connection);
    let authority = match uri.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = Request::post(target)
        .header(HOST, authority)
        .header(CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::copy_from_slice(body)))
        .map_err(io::Error::other)?;
    let answered = sender.send_request(request).await;
    driver.abort();
    Ok(answered.map_err(io::Error::other)?.status())
}
