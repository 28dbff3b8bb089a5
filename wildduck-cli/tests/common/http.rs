//! An HTTP sink (Python's http.server) for the tests whose server forwards mail to a URL.

use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine;
use base64::prelude::BASE64_STANDARD;

/// Longest wait for the sink to start or for a request to reach it.
const WAIT: Duration = Duration::from_secs(60);

/// Answers the n-th POST with the n-th of the status codes given (the last one from then
/// on) and prints each as one JSON line: path, Content-Type, status and the body in base64.
const HTTP_SINK: &str = r#"
import base64, json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
port, statuses = int(sys.argv[1]), [int(s) for s in sys.argv[2].split(",")]
served = 0
class Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        global served
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status = statuses[min(served, len(statuses) - 1)]
        served += 1
        print(json.dumps({"path": self.path, "content_type": self.headers.get("Content-Type"),
                          "status": status, "body": base64.b64encode(body).decode()}), flush=True)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = HTTPServer(("127.0.0.1", port), Sink)
print("ready", flush=True)
server.serve_forever()
"#;

/// One request the sink took.
pub struct Posted {
    pub path: String,
    pub content_type: String,
    /// The status it answered.
    pub status: u16,
    pub body: Vec<u8>,
}

/// A running HTTP sink; stopped when dropped.
pub struct HttpSink {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl HttpSink {
    /// Listens on loopback `port`, answering with `statuses` in turn (then the last).
    pub fn start(port: u16, statuses: &[u16]) -> HttpSink {
        let statuses: Vec<String> = statuses.iter().map(u16::to_string).collect();
        let mut child = Command::new("python3")
            .args(["-c", HTTP_SINK, &port.to_string(), &statuses.join(",")])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 for the HTTP sink");
        let lines = super::line_channel(child.stdout.take().unwrap());
        let sink = HttpSink { child, lines };
        assert_eq!(
            sink.lines.recv_timeout(WAIT).as_deref(),
            Ok("ready"),
            "the HTTP sink did not start"
        );
        sink
    }

    /// The next request the sink took.
    pub fn posted(&self) -> Posted {
        let line = self
            .lines
            .recv_timeout(WAIT)
            .expect("the forward reached the HTTP sink");
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        Posted {
            path: json["path"].as_str().unwrap().to_string(),
            content_type: json["content_type"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            status: json["status"].as_u64().unwrap() as u16,
            body: BASE64_STANDARD
                .decode(json["body"].as_str().unwrap())
                .unwrap(),
        }
    }

    /// Whether a request came that `posted` has not returned yet.
    pub fn has_more(&self) -> bool {
        self.lines.try_recv().is_ok()
    }
}

impl Drop for HttpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
