//! An SMTP sink (Python's aiosmtpd) for the tests whose server relays mail out.

use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Longest wait for the sink to start or for a message to reach it.
const WAIT: Duration = Duration::from_secs(60);

/// An SMTP sink (aiosmtpd) on a loopback port: every message it takes is printed as one JSON
/// line (envelope, content, whether it came over TLS and as which user); in `reject` mode it
/// refuses every recipient with 550. `starttls` and `smtps` modes take the certificate and
/// key files after the mode and want AUTH as `relay-user`/`relay-secret`, over STARTTLS or
/// TLS from the first byte.
const SMTP_SINK: &str = r#"
import json, ssl, sys, warnings
warnings.simplefilter("ignore")  # aiosmtpd warns about AUTH without TLS in smtps mode: TLS is there
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
port, mode = int(sys.argv[1]), sys.argv[2]
class Sink:
    async def handle_RCPT(self, server, session, envelope, address, options):
        if mode == "reject":
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"
    async def handle_DATA(self, server, session, envelope):
        user = session.auth_data.login.decode() if session.authenticated else None
        tls = server.transport.get_extra_info("ssl_object") is not None
        print(json.dumps({"from": envelope.mail_from, "to": envelope.rcpt_tos, "tls": tls,
                          "user": user, "data": envelope.content.decode("utf-8", "replace")}),
              flush=True)
        return "250 2.0.0 Ok"
def authenticator(server, session, envelope, mechanism, auth_data):
    known = (auth_data.login, auth_data.password) == (b"relay-user", b"relay-secret")
    return AuthResult(success=known, auth_data=auth_data)
options = {}
if mode in ("starttls", "smtps"):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(sys.argv[3], sys.argv[4])
    options = dict(authenticator=authenticator, auth_required=True)
    if mode == "starttls":
        options.update(tls_context=context, require_starttls=True, auth_require_tls=True)
    else:
        options.update(ssl_context=context, auth_require_tls=False)
controller = Controller(Sink(), hostname="127.0.0.1", port=port, **options)
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
"#;

/// A running SMTP sink; stopped when dropped.
pub struct Sink {
    child: Child,
    /// The sink's output lines: one per message it took.
    pub lines: mpsc::Receiver<String>,
}

impl Sink {
    pub fn start(port: u16, mode: &str) -> Sink {
        Self::start_with(port, &[mode])
    }

    /// `mode` and what it needs (see `SMTP_SINK`).
    pub fn start_with(port: u16, mode_and_files: &[&str]) -> Sink {
        let mut child = Command::new("python3")
            .args(["-c", SMTP_SINK, &port.to_string()])
            .args(mode_and_files)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 for the SMTP sink");
        let stdout = child.stdout.take().unwrap();
        let lines = super::line_channel(stdout);
        let sink = Sink { child, lines };
        let ready = sink.lines.recv_timeout(WAIT);
        assert_eq!(
            ready.as_deref(),
            Ok("ready"),
            "the SMTP sink did not start (is aiosmtpd installed? .ci/setup installs it)"
        );
        sink
    }

    /// The next message the sink took.
    pub fn received(&self) -> serde_json::Value {
        let line = self
            .lines
            .recv_timeout(WAIT)
            .expect("the relay delivered to the sink");
        serde_json::from_str(&line).unwrap()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on (bound, then released).
pub fn unused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
