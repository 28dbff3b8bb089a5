//! Runs the built `wildduck` binary against a temporary data directory.
#![allow(dead_code)] // each test file uses a different part of this

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

pub mod http;
pub mod smtp;

/// The lines a child process writes to `output`, as they come (read on a thread of their own).
pub fn line_channel(
    output: impl std::io::Read + Send + 'static,
) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(output).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

pub const BIN: &str = env!("CARGO_BIN_EXE_wildduck");

/// A scratch directory with a data dir inside it (not created: commands that need it do).
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A fresh self-signed certificate for `localhost` and 127.0.0.1: its PEM file (also the
    /// one to trust) and its key's.
    pub fn self_signed_certificate(&self) -> (PathBuf, PathBuf) {
        self.certificate_for("cert", "localhost", "DNS:localhost,IP:127.0.0.1")
    }

    /// A fresh self-signed certificate with common name `name` and the subject alternative
    /// names `alt_names` (openssl's form, `DNS:a.test,DNS:*.b.test`), written as
    /// `STEM.pem` and `STEM.key.pem`: their paths.
    pub fn certificate_for(&self, stem: &str, name: &str, alt_names: &str) -> (PathBuf, PathBuf) {
        let cert = self.path(&format!("{stem}.pem"));
        let key = self.path(&format!("{stem}.key.pem"));
        let output = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "2",
            ])
            .args(["-subj", &format!("/CN={name}")])
            .args(["-addext", &format!("subjectAltName={alt_names}")])
            // An end-entity certificate: rustls (the relay client) refuses a CA as the peer.
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl (Debian package openssl)");
        assert!(output.status.success(), "{output:?}");
        (cert, key)
    }

    /// A command with only our variables set, so the caller's environment can not leak in.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        for (name, _) in std::env::vars() {
            if name.starts_with("WILDDUCK_") || name == "RUST_LOG" {
                cmd.env_remove(name);
            }
        }
        cmd.env("WILDDUCK_DATA_DIR", self.data_dir()).args(args);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, b"")
    }

    pub fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        run_command(self.command(args), input)
    }

    /// Runs `wildduck args` with stderr on a pseudo-terminal (Python's `pty`), as at a shell;
    /// returns what it wrote there.
    pub fn stderr_on_a_terminal(&self, args: &[&str]) -> String {
        let wildduck = self.command(args);
        let script = "import os, pty, subprocess, sys\n\
                      master, slave = pty.openpty()\n\
                      done = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL,\n\
                      \x20   stdout=subprocess.DEVNULL, stderr=slave)\n\
                      os.close(slave)\n\
                      seen = b''\n\
                      while True:\n\
                      \x20   try:\n\
                      \x20       chunk = os.read(master, 65536)\n\
                      \x20   except OSError:\n\
                      \x20       break\n\
                      \x20   if not chunk:\n\
                      \x20       break\n\
                      \x20   seen += chunk\n\
                      sys.stdout.buffer.write(seen)\n\
                      sys.exit(done.returncode)\n";
        let mut python = std::process::Command::new("python3");
        python
            .args(["-c", script])
            .arg(wildduck.get_program())
            .args(wildduck.get_args());
        for (name, value) in wildduck.get_envs() {
            match value {
                Some(value) => python.env(name, value),
                None => python.env_remove(name),
            };
        }
        let output = python.output().expect("python3");
        assert!(output.status.success(), "wildduck {args:?}: {output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs with `--json`; returns the exit code and the parsed stdout.
    pub fn json(&self, args: &[&str]) -> (i32, Value) {
        self.json_with_stdin(args, b"")
    }

    pub fn json_with_stdin(&self, args: &[&str], input: &[u8]) -> (i32, Value) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let output = self.run_with_stdin(&all, input);
        (code(&output), parse_json(&output))
    }

    /// Runs with `--json` and insists on exit 0.
    pub fn ok(&self, args: &[&str]) -> Value {
        let (status, doc) = self.json(args);
        assert_eq!(status, 0, "wildduck {args:?} failed: {doc}");
        doc
    }

    /// Runs with `--json` and insists on the given failure; returns the error object.
    pub fn fails(&self, args: &[&str], exit_code: i32, kind: &str) -> Value {
        let (status, doc) = self.json(args);
        assert_eq!(status, exit_code, "wildduck {args:?}: {doc}");
        let error = doc["error"].clone();
        assert_eq!(error["kind"], kind, "wildduck {args:?}: {doc}");
        assert_eq!(error["exit_code"], exit_code, "wildduck {args:?}: {doc}");
        assert!(!error["message"].as_str().unwrap_or("").is_empty(), "{doc}");
        error
    }

    /// Creates a user with a known password.
    pub fn add_user(&self, name: &str, password: &str) {
        self.ok(&["user", "add", name, "--password", password]);
    }

    /// Stores a message as it is into the user's INBOX (`deliver --mailbox`); returns its UID.
    pub fn deliver(&self, user: &str, raw: &[u8]) -> u64 {
        let (status, doc) =
            self.json_with_stdin(&["deliver", "--user", user, "--mailbox", "INBOX"], raw);
        assert_eq!(status, 0, "deliver: {doc}");
        doc["uid"].as_u64().expect("uid")
    }
}

pub fn run_command(mut cmd: Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wildduck");
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read stdin may close it first; that is fine.
        let _ = stdin.write_all(input);
    }
    child.wait_with_output().expect("wait for wildduck")
}

pub fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

pub fn parse_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is not JSON ({err}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The MIME fixtures (`tests/fixtures/mime` in the repository).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/mime")
}

/// A small message with a header that identifies it.
pub fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Sender <sender@example.com>\r\nTo: rcpt@example.com\r\nSubject: {subject}\r\nDate: Sun, 29 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{subject}@example.com>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// One HTTP/1.1 request with a JSON body to the API at `at` (`token`: the root token, if the
/// server has one); the status and the JSON answer.
pub fn api_request(
    at: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    use std::io::Read;
    let body = body.to_string();
    let token = token.map_or(String::new(), |token| {
        format!("X-Access-Token: {token}\r\n")
    });
    let mut stream = std::net::TcpStream::connect(at).expect("connect to the API");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{token}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().expect("a status code");
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).expect("a JSON body"))
}

/// One metric's value from Prometheus' text format: the line of `name` whose labels include
/// every pair of `labels`; 0 when there is none (a counter not moved yet is not rendered).
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| {
            let (series_name, series_labels) = series.split_once('{').unwrap_or((series, ""));
            series_name == name
                && labels
                    .iter()
                    .all(|(key, value)| series_labels.contains(&format!("{key}=\"{value}\"")))
        })
        .map(|(_, value)| value.parse::<f64>().expect("a number"))
        .sum()
}
