//! `wildduck serve` as a new user meets it: first start makes an account and prints it, real
//! clients (Python's imaplib/poplib) log in and read the welcome mail, SIGTERM says BYE and
//! stops cleanly, TLS works, and a kill -9 under APPEND load loses nothing acknowledged.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use common::http::HttpSink;
use common::smtp::{Sink, unused_port};
use common::{Env, code, metric, parse_json, run_command};

const WAIT: Duration = Duration::from_secs(60);

/// A running `wildduck serve` and what it printed on start.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// "IMAP (plain)" → address, as printed.
    listening: Vec<(String, SocketAddr)>,
    /// Username and password of the account made on first start, if one was.
    account: Option<(String, String)>,
}

impl Server {
    /// Starts the server with a config file and waits until it prints `listeners` addresses.
    fn start(env: &Env, config: &Path, listeners: usize) -> Server {
        Server::spawn(
            env.command(&["--config", config.to_str().unwrap(), "serve"]),
            listeners,
        )
    }

    /// Runs `command` (a `wildduck … serve`) and waits until it prints `listeners` addresses.
    fn spawn(mut command: Command, listeners: usize) -> Server {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start wildduck serve");
        let stdout = child.stdout.take().unwrap();
        let lines = common::line_channel(stdout);
        let mut server = Server {
            child,
            lines,
            listening: Vec::new(),
            account: None,
        };
        let mut username = None;
        while server.listening.len() < listeners {
            let line = server
                .lines
                .recv_timeout(WAIT)
                .expect("serve printed its listeners in time");
            if let Some(name) = line.strip_prefix("  username: ") {
                username = Some(name.to_string());
            } else if let Some(password) = line.strip_prefix("  password: ") {
                server.account = Some((
                    username.clone().expect("username before password"),
                    password.to_string(),
                ));
            } else if let Some((what, address)) = line.split_once(" listening on ") {
                server
                    .listening
                    .push((what.to_string(), address.parse().expect("an address")));
            }
        }
        server
    }

    fn address(&self, what: &str) -> SocketAddr {
        self.listening
            .iter()
            .find(|(w, _)| w == what)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no {what} in {:?}", self.listening))
    }

    fn signal(&self, signal: i32) {
        send_signal(self.child.id(), signal);
    }

    /// Waits for the process to end (bounded); returns its exit code.
    fn wait(mut self) -> (i32, Vec<String>) {
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait().unwrap() {
                let rest: Vec<String> = self.lines.try_iter().collect();
                return (status.code().unwrap_or(-1), rest);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("wildduck serve did not stop within 60 s");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn send_signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) on a child process id we own; no memory is involved.
    let result = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(result, 0, "kill({pid}, {signal})");
}

fn write_config(env: &Env, extra: &str) -> std::path::PathBuf {
    let path = env.path("wildduck.toml");
    let text = format!(
        "[api]\nenabled = false\n\
         [imap]\nlisten = \"127.0.0.1:0\"\ntls_listen = \"127.0.0.1:0\"\n\
         [pop3]\nlisten = \"127.0.0.1:0\"\ntls_listen = \"127.0.0.1:0\"\n\
         [lmtp]\nlisten = \"127.0.0.1:0\"\n\
         [submission]\nlisten = \"127.0.0.1:0\"\ntls_listen = \"127.0.0.1:0\"\n{extra}"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// One HTTP/1.1 GET with the connection closed after it; returns the whole response.
fn http_get(address: SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// Runs a Python script with arguments; returns its exit code and output.
fn python(script: &str, args: &[String]) -> (i32, String) {
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (code(&output), text)
}

const IMAP_READ_WELCOME: &str = r#"
import imaplib, ssl, sys
host, port, user, password, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
context = ssl.create_default_context(cafile=sys.argv[6]) if len(sys.argv) > 6 else None
if context: context.check_hostname = False
if mode == "tls":
    imap = imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=30)
else:
    imap = imaplib.IMAP4(host, port, timeout=30)
    if mode == "starttls":
        imap.starttls(ssl_context=context)
imap.login(user, password)
typ, data = imap.select("INBOX")
assert typ == "OK" and int(data[0]) >= 1, data
typ, data = imap.fetch("1", "(BODY.PEEK[])")
assert typ == "OK", data
raw = data[0][1]
assert b"Subject: Welcome to WildDuck" in raw, raw[:200]
assert b"Hello " + user.encode() in raw, raw
imap.logout()
print("read the welcome mail")
"#;

const POP3_READ_WELCOME: &str = r#"
import poplib, sys
pop = poplib.POP3(sys.argv[1], int(sys.argv[2]), timeout=30)
pop.user(sys.argv[3]); pop.pass_(sys.argv[4])
count, size = pop.stat()
assert count >= 1, count
resp, lines, octets = pop.retr(1)
assert b"Subject: Welcome to WildDuck" in lines, lines
pop.quit()
print("read the welcome mail over POP3")
"#;

#[test]
fn first_start_prints_an_account_that_clients_use_to_read_the_welcome_mail() {
    let env = Env::new();
    let config = write_config(&env, "");
    let server = Server::start(&env, &config, 2);
    let (user, password) = server
        .account
        .clone()
        .expect("first start prints an account");
    assert_eq!(user, "admin");
    assert_eq!(password.len(), 20);
    let imap = server.address("IMAP (plain)");
    let pop3 = server.address("POP3 (plain)");
    assert!(imap.ip().is_loopback() && pop3.ip().is_loopback());

    let args = [
        imap.ip().to_string(),
        imap.port().to_string(),
        user.clone(),
        password.clone(),
        "plain".into(),
    ];
    let (status, text) = python(IMAP_READ_WELCOME, &args);
    assert_eq!(status, 0, "{text}");
    let args = [
        pop3.ip().to_string(),
        pop3.port().to_string(),
        user.clone(),
        password.clone(),
    ];
    let (status, text) = python(POP3_READ_WELCOME, &args);
    assert_eq!(status, 0, "{text}");
    let (status, _) = python(
        IMAP_READ_WELCOME,
        &[
            imap.ip().to_string(),
            imap.port().to_string(),
            user.clone(),
            "wrong-password".into(),
            "plain".into(),
        ],
    );
    assert_ne!(status, 0, "a wrong password is refused");

    server.signal(libc::SIGTERM);
    let (status, rest) = server.wait();
    assert_eq!(status, 0, "{rest:?}");
    assert!(rest.iter().any(|l| l == "wildduck stopped"), "{rest:?}");

    // Second start: the store has a user, so no account is made or printed; the password
    // from the first start still works.
    let server = Server::start(&env, &config, 2);
    assert!(server.account.is_none());
    let imap = server.address("IMAP (plain)");
    let (status, text) = python(
        IMAP_READ_WELCOME,
        &[
            imap.ip().to_string(),
            imap.port().to_string(),
            user,
            password,
            "plain".into(),
        ],
    );
    assert_eq!(status, 0, "{text}");
    server.signal(libc::SIGINT);
    assert_eq!(server.wait().0, 0);
    assert_eq!(
        env.ok(&["user", "list"])["users"].as_array().unwrap().len(),
        1
    );
}

#[test]
fn with_json_serve_announces_its_events_as_json_lines() {
    let env = Env::new();
    let config = write_config(&env, "");
    let mut child = env
        .command(&["--json", "--config", config.to_str().unwrap(), "serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut events = Vec::new();
    for _ in 0..5 {
        let line = lines.next().expect("an event line").unwrap();
        events.push(serde_json::from_str::<serde_json::Value>(&line).expect("JSON"));
    }
    assert_eq!(events[0]["event"], "account_created");
    assert_eq!(events[0]["username"], "admin");
    assert_eq!(events[0]["password"].as_str().map(str::len), Some(20));
    assert_eq!(events[1]["event"], "listening");
    assert_eq!(events[1]["protocol"], "imap");
    assert_eq!(events[2]["protocol"], "pop3");
    assert_eq!(events[3]["protocol"], "smtp");
    assert_eq!(events[4]["protocol"], "lmtp");
    assert!(
        events[2]["address"]
            .as_str()
            .unwrap()
            .parse::<SocketAddr>()
            .is_ok()
    );
    send_signal(child.id(), libc::SIGTERM);
    let stopped: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(stopped["event"], "stopped");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// Reads CRLF lines until one starts with `prefix`; returns every line read.
fn read_until(reader: &mut BufReader<TcpStream>, prefix: &str) -> std::io::Result<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("closed after {lines:?}"),
            ));
        }
        let done = line.starts_with(prefix);
        lines.push(line);
        if done {
            return Ok(lines);
        }
    }
}

fn imap_login(
    address: SocketAddr,
    user: &str,
    password: &str,
) -> std::io::Result<(BufReader<TcpStream>, TcpStream)> {
    let stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(WAIT))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    read_until(&mut reader, "* OK")?;
    writer.write_all(format!("a1 LOGIN {user} {password}\r\n").as_bytes())?;
    let lines = read_until(&mut reader, "a1 ")?;
    assert!(lines.last().unwrap().starts_with("a1 OK"), "{lines:?}");
    Ok((reader, writer))
}

#[test]
fn sigterm_tells_open_sessions_goodbye_and_exits_zero() {
    let env = Env::new();
    let config = write_config(
        &env,
        "[initial_account]\nusername = \"demo\"\npassword = \"demo-password-1\"\n",
    );
    let server = Server::start(&env, &config, 2);
    let (user, shown) = server.account.clone().unwrap();
    assert_eq!(user, "demo");
    assert!(
        !shown.contains("demo-password-1"),
        "a configured password is not printed"
    );

    let (mut reader, _writer) =
        imap_login(server.address("IMAP (plain)"), "demo", "demo-password-1").unwrap();
    let pop3 = TcpStream::connect(server.address("POP3 (plain)")).unwrap();
    pop3.set_read_timeout(Some(WAIT)).unwrap();
    let mut pop3 = BufReader::new(pop3);
    read_until(&mut pop3, "+OK").unwrap();

    server.signal(libc::SIGTERM);
    let lines = read_until(&mut reader, "* BYE").unwrap();
    assert!(lines.last().unwrap().starts_with("* BYE"), "{lines:?}");
    let lines = read_until(&mut pop3, "-ERR").unwrap();
    assert!(!lines.is_empty());
    assert_eq!(server.wait().0, 0);
}

#[test]
fn tls_listeners_and_starttls_work_with_a_configured_certificate() {
    let env = Env::new();
    let (cert, key) = env.self_signed_certificate();
    let config = write_config(&env, &format!("[tls]\ncert = {cert:?}\nkey = {key:?}\n"));
    // IMAP, POP3 and submission plain and TLS, and LMTP.
    let server = Server::start(&env, &config, 7);
    let (user, password) = server.account.clone().unwrap();
    let cafile = cert.to_str().unwrap().to_string();
    for (listener, mode) in [("IMAP (TLS)", "tls"), ("IMAP (plain)", "starttls")] {
        let address = server.address(listener);
        let args = [
            address.ip().to_string(),
            address.port().to_string(),
            user.clone(),
            password.clone(),
            mode.into(),
            cafile.clone(),
        ];
        let (status, text) = python(IMAP_READ_WELCOME, &args);
        assert_eq!(status, 0, "{listener} {mode}: {text}");
    }
    let pop3s = server.address("POP3 (TLS)");
    let script = r#"
import poplib, ssl, sys
context = ssl.create_default_context(cafile=sys.argv[5]); context.check_hostname = False
pop = poplib.POP3_SSL(sys.argv[1], int(sys.argv[2]), context=context, timeout=30)
pop.user(sys.argv[3]); pop.pass_(sys.argv[4])
assert pop.stat()[0] >= 1
pop.quit()
"#;
    let (status, text) = python(
        script,
        &[
            pop3s.ip().to_string(),
            pop3s.port().to_string(),
            user.clone(),
            password.clone(),
            cafile.clone(),
        ],
    );
    assert_eq!(status, 0, "{text}");

    // Submission: smtplib upgrades with STARTTLS, checks the certificate, logs in and sends.
    env.ok(&["address", "add", &user, "tls-sender@example.org"]);
    let smtp = server.address("SMTP (plain)");
    let script = r#"
import smtplib, ssl, sys
context = ssl.create_default_context(cafile=sys.argv[5]); context.check_hostname = False
smtp = smtplib.SMTP(sys.argv[1], int(sys.argv[2]), timeout=30)
smtp.ehlo("client.test")
smtp.starttls(context=context)
smtp.ehlo("client.test")
smtp.login(sys.argv[3], sys.argv[4])
smtp.sendmail("tls-sender@example.org", ["bob@remote.test"],
              "From: tls-sender@example.org\r\nSubject: over STARTTLS\r\n\r\nhi\r\n")
smtp.quit()
print("sent")
"#;
    let (status, text) = python(
        script,
        &[
            smtp.ip().to_string(),
            smtp.port().to_string(),
            user.clone(),
            password.clone(),
            cafile.clone(),
        ],
    );
    assert_eq!((status, text.trim()), (0, "sent"), "{text}");

    // LMTP: an MTA on another host upgrades with STARTTLS (offered only before it).
    let lmtp = server.address("LMTP (plain)");
    let script = r#"
import smtplib, ssl, sys
context = ssl.create_default_context(cafile=sys.argv[3]); context.check_hostname = False
lmtp = smtplib.LMTP(sys.argv[1], int(sys.argv[2]), timeout=30)
lmtp.ehlo("mta.test")
assert lmtp.has_extn("starttls"), lmtp.esmtp_features
lmtp.starttls(context=context)
lmtp.ehlo("mta.test")
assert not lmtp.has_extn("starttls"), lmtp.esmtp_features
refused = lmtp.sendmail("someone@remote.test", ["tls-sender@example.org"],
                        "From: someone@remote.test\r\nSubject: over LMTP and TLS\r\n\r\nhi\r\n")
assert refused == {}, refused
lmtp.quit()
print("delivered")
"#;
    let (status, text) = python(
        script,
        &[lmtp.ip().to_string(), lmtp.port().to_string(), cafile],
    );
    assert_eq!((status, text.trim()), (0, "delivered"), "{text}");
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait().0, 0);
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let env = Env::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = env.path("c.toml");
    std::fs::write(
        &config,
        format!(
            "[imap]\nlisten = \"{}\"\n[pop3]\nenabled = false\n[api]\nenabled = false\n",
            taken.local_addr().unwrap()
        ),
    )
    .unwrap();
    let output = env.run(&["--config", config.to_str().unwrap(), "serve"]);
    assert_eq!(
        code(&output),
        69,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("can not listen"));
}

/// One APPEND with a synchronizing literal; true when it got a tagged OK.
fn append(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
    tag: &str,
    raw: &[u8],
) -> std::io::Result<bool> {
    writer.write_all(format!("{tag} APPEND INBOX {{{}}}\r\n", raw.len()).as_bytes())?;
    let lines = read_until(reader, "+")?;
    if !lines.last().is_some_and(|l| l.starts_with('+')) {
        return Ok(false);
    }
    writer.write_all(raw)?;
    writer.write_all(b"\r\n")?;
    let lines = read_until(reader, &format!("{tag} "))?;
    Ok(lines
        .last()
        .is_some_and(|l| l.starts_with(&format!("{tag} OK"))))
}

#[test]
fn kill_9_under_append_load_loses_nothing_acknowledged() {
    const CLIENTS: usize = 4;
    let env = Env::new();
    let config = write_config(&env, "[initial_account]\npassword = \"crash-test-pw\"\n");
    let server = Server::start(&env, &config, 2);
    let imap = server.address("IMAP (plain)");

    let (acked_tx, acked_rx) = mpsc::channel::<Vec<u8>>();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let acked = acked_tx.clone();
            std::thread::spawn(move || {
                let Ok((mut reader, mut writer)) = imap_login(imap, "admin", "crash-test-pw")
                else {
                    return;
                };
                for n in 0.. {
                    // Varied sizes and shared attachment-like content, so dedup is exercised.
                    let body = "shared line of text\r\n".repeat(1 + (n % 7) * 40);
                    let raw =
                        format!("Subject: crash {client}/{n}\r\nX-Id: {client}-{n}\r\n\r\n{body}")
                            .into_bytes();
                    match append(&mut reader, &mut writer, &format!("c{n}"), &raw) {
                        Ok(true) => {
                            if acked.send(raw).is_err() {
                                return;
                            }
                        }
                        Ok(false) | Err(_) => return,
                    }
                }
            })
        })
        .collect();
    drop(acked_tx);

    let mut acknowledged = Vec::new();
    while acknowledged.len() < 120 {
        acknowledged.push(
            acked_rx
                .recv_timeout(WAIT)
                .expect("appends are acknowledged"),
        );
    }
    server.signal(libc::SIGKILL);
    let (status, _) = server.wait();
    assert_eq!(status, -1, "killed by a signal");
    for client in clients {
        client.join().unwrap();
    }
    // Acknowledgements that arrived before the kill landed.
    acknowledged.extend(acked_rx.try_iter());

    // Restart (recovery runs), stop, and look with the admin commands.
    let server = Server::start(&env, &config, 2);
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait().0, 0);
    let out = env.path("after-crash");
    env.ok(&[
        "export",
        "--user",
        "admin",
        "--format",
        "maildir",
        "-o",
        out.to_str().unwrap(),
    ]);
    let mut stored: Vec<Vec<u8>> = std::fs::read_dir(out.join("cur"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    for raw in &acknowledged {
        let position = stored.iter().position(|s| s == raw);
        let id = String::from_utf8_lossy(&raw[..40]).into_owned();
        let index =
            position.unwrap_or_else(|| panic!("acknowledged message missing or changed: {id}"));
        stored.swap_remove(index);
    }
    let verify = env.ok(&["verify"]);
    assert!(
        verify["problems"].as_array().unwrap().is_empty(),
        "{verify}"
    );
    env.ok(&["gc", "--grace", "0"]);
    let verify = env.ok(&["verify"]);
    assert!(
        verify["problems"].as_array().unwrap().is_empty(),
        "{verify}"
    );
}

/// The smoke tools (`tests/tools`) walk every common IMAP and POP3 operation; here
/// both servers run in one process over one store (the POP3 tool seeds its mail over IMAP).
#[test]
fn the_shared_imap_and_pop3_smoke_tools_pass_against_one_serve_process() {
    let env = Env::new();
    let config = write_config(&env, "");
    let server = Server::start(&env, &config, 2);
    let (user, password) = server.account.clone().unwrap();
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/tools");
    let imap = server.address("IMAP (plain)").port().to_string();
    let pop3 = server.address("POP3 (plain)").port().to_string();
    let runs = [
        (
            "imap_smoke.py",
            vec!["--port", &imap, "--user", &user, "--password", &password],
        ),
        (
            "pop3_smoke.py",
            vec![
                "--port",
                &pop3,
                "--imap-port",
                &imap,
                "--user",
                &user,
                "--password",
                &password,
            ],
        ),
    ];
    for (tool, args) in runs {
        let output = Command::new("python3")
            .arg(tools.join(tool))
            .args(&args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{tool}:\n{text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(text.contains(" 0 failed"), "{tool}:\n{text}");
    }
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait().0, 0);
    assert!(
        env.ok(&["verify"])["problems"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// What the README's one command does: no config file, no variables but the ports (the
/// defaults 1143/1110/2424 may be taken on a test machine): data lands in ./wildduck-data.
#[test]
fn without_any_configuration_the_store_is_wildduck_data_in_the_working_directory() {
    let env = Env::new();
    let mut command = env.command(&["serve"]);
    command
        .env_remove("WILDDUCK_DATA_DIR")
        .env("WILDDUCK_IMAP_LISTEN", "127.0.0.1:0")
        .env("WILDDUCK_POP3_LISTEN", "127.0.0.1:0")
        .env("WILDDUCK_LMTP_LISTEN", "127.0.0.1:0")
        .env("WILDDUCK_SUBMISSION_LISTEN", "127.0.0.1:0")
        .env("WILDDUCK_API_LISTEN", "127.0.0.1:0")
        .current_dir(env.dir.path());
    let server = Server::spawn(command, 5);
    // The HTTP API is on by default, next to IMAP and POP3, over the same store.
    let health = http_get(server.address("API (plain)"), "/health");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.ends_with("{\"success\":true}"), "{health}");
    let (user, password) = server.account.clone().expect("an account on first start");
    assert!(env.path("wildduck-data").is_dir());
    let imap = server.address("IMAP (plain)");
    let args = [
        imap.ip().to_string(),
        imap.port().to_string(),
        user,
        password,
        "plain".into(),
    ];
    let (status, text) = python(IMAP_READ_WELCOME, &args);
    assert_eq!(status, 0, "{text}");
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait().0, 0);
}

#[test]
fn maintenance_collects_content_of_deleted_messages_while_serving() {
    let env = Env::new();
    let config = write_config(
        &env,
        "[maintenance]\ninterval_secs = 1\ngc_grace_secs = 0\n",
    );
    let server = Server::start(&env, &config, 2);
    let blobs = || env.ok(&["stats"])["blobs"].as_u64().unwrap();
    let raw = common::message("to be deleted", &"unique content 5f3a9c\r\n".repeat(500));
    let uid = env.deliver("admin", &raw);
    let with_message = blobs();
    env.ok(&["message", "delete", "admin", &uid.to_string()]);
    let mut collected = false;
    for _ in 0..100 {
        if blobs() < with_message {
            collected = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(collected, "the deleted message's content was not collected");
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait().0, 0);
    assert!(
        env.ok(&["verify"])["problems"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn configured_limits_lock_an_account_for_imap_and_pop3_alike() {
    let env = Env::new();
    let config = write_config(
        &env,
        "[initial_account]\nusername = \"demo\"\npassword = \"demo-password-1\"\n\
         [limits]\nmax_user_failures = 2\nlock_secs = 600\nfailure_delay_ms = 1\n",
    );
    let server = Server::start(&env, &config, 2);
    let imap = TcpStream::connect(server.address("IMAP (plain)")).unwrap();
    imap.set_read_timeout(Some(WAIT)).unwrap();
    let mut writer = imap.try_clone().unwrap();
    let mut reader = BufReader::new(imap);
    read_until(&mut reader, "* OK").unwrap();
    for tag in ["a1", "a2"] {
        writer
            .write_all(format!("{tag} LOGIN demo wrong-password\r\n").as_bytes())
            .unwrap();
        let lines = read_until(&mut reader, tag).unwrap();
        assert!(
            lines.last().unwrap().starts_with(&format!("{tag} NO")),
            "{lines:?}"
        );
    }
    // The third try is refused by the lock even with the right password (two failures are
    // the configured limit, not the default ten)...
    writer
        .write_all(b"a3 LOGIN demo demo-password-1\r\n")
        .unwrap();
    let lines = read_until(&mut reader, "a3").unwrap();
    assert!(
        lines.last().unwrap().starts_with("a3 NO [LIMIT]"),
        "{lines:?}"
    );
    // ...and POP3 of the same process sees the same lock.
    let pop3 = TcpStream::connect(server.address("POP3 (plain)")).unwrap();
    pop3.set_read_timeout(Some(WAIT)).unwrap();
    let mut pop3_writer = pop3.try_clone().unwrap();
    let mut pop3 = BufReader::new(pop3);
    read_until(&mut pop3, "+OK").unwrap();
    pop3_writer
        .write_all(b"USER demo\r\nPASS demo-password-1\r\n")
        .unwrap();
    read_until(&mut pop3, "+OK").unwrap();
    let lines = read_until(&mut pop3, "-ERR").unwrap();
    assert!(lines.last().unwrap().contains("[LOGIN-DELAY]"), "{lines:?}");
}

const LMTP_DELIVER_AND_READ_BACK: &str = r#"
import base64, imaplib, json, smtplib, sys
host, lmtp_port, imap_port, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
recipients = sys.argv[5].split(",")
raw = open(path, "rb").read()
lmtp = smtplib.LMTP(host, lmtp_port)
code, _ = lmtp.ehlo()
assert code == 250 and lmtp.has_extn("pipelining") and lmtp.has_extn("chunking"), lmtp.esmtp_features
result = {"mail": lmtp.mail("sender@example.org", ["BODY=8BITMIME"])[0], "rcpt": [], "data": []}
accepted = 0
for rcpt in recipients:
    code, _ = lmtp.rcpt(rcpt)
    result["rcpt"].append(code)
    accepted += code == 250
# smtplib reads one reply after DATA; LMTP sends one per accepted recipient: read the rest.
result["data"].append(lmtp.data(raw)[0])
result["data"] += [lmtp.getreply()[0] for _ in range(accepted - 1)]
lmtp.quit()
result["stored"] = {}
for user in sys.argv[6].split(","):
    imap = imaplib.IMAP4(host, imap_port, timeout=30)
    imap.login(user, "pw")
    typ, data = imap.select("INBOX")
    assert typ == "OK", data
    typ, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[])")
    assert typ == "OK", data
    result["stored"][user] = [base64.b64encode(item[1]).decode() for item in data if isinstance(item, tuple)]
    imap.logout()
print(json.dumps(result))
"#;

/// Python's `smtplib.LMTP` delivers one message to a mix of recipients through `serve`:
/// each gets its own reply in RCPT order, and IMAP reads back exactly the sent bytes after the
/// two trace headers.
#[test]
fn lmtp_delivers_per_recipient_and_imap_reads_back_the_exact_bytes() {
    let env = Env::new();
    for (user, address, quota) in [
        ("ann", "ann@example.com", "unlimited"),
        ("bob", "bob@example.com", "unlimited"),
        ("carol", "carol.smith@example.com", "unlimited"),
        ("dave", "*@catch.example", "unlimited"),
        ("erin", "erin@mañana.example", "unlimited"),
        ("full", "full@example.com", "100"),
    ] {
        env.ok(&[
            "user",
            "add",
            user,
            "--password",
            "pw",
            "--address",
            address,
            "--quota",
            quota,
        ]);
    }
    let config = write_config(&env, "[initial_account]\ncreate = false\n");
    let server = Server::start(&env, &config, 4);
    let lmtp = server.address("LMTP (plain)");
    let imap = server.address("IMAP (plain)");

    // CRLF throughout (smtplib turns a bare LF into CRLF), a line starting with a dot (stuffed
    // on the wire, one dot stored), 8-bit text; long enough to pass the small quota.
    let raw = format!(
        "From: Sender <sender@example.org>\r\nSubject: caf\u{e9} delivery\r\n\
         Message-ID: <lmtp-1@example.org>\r\n\r\n.a line with a leading dot\r\n{}\r\nend\r\n",
        "body text ".repeat(20)
    );
    let message = env.path("message.eml");
    std::fs::write(&message, &raw).unwrap();
    let recipients = [
        "ann@example.com",            // exact
        "bob+lists@example.com",      // +tag
        "carolsmith@example.com",     // dots ignored
        "whoever@catch.example",      // wildcard
        "nobody@example.com",         // unknown
        "erin@xn--maana-pta.example", // punycode of an IDN address
        "full@example.com",           // over quota
    ];
    let args = [
        lmtp.ip().to_string(),
        lmtp.port().to_string(),
        imap.port().to_string(),
        message.to_str().unwrap().to_string(),
        recipients.join(","),
        "ann,bob,carol,dave,erin,full".to_string(),
    ];
    let (status, text) = python(LMTP_DELIVER_AND_READ_BACK, &args);
    assert_eq!(status, 0, "{text}");
    let result: serde_json::Value = serde_json::from_str(text.trim()).expect(&text);
    assert_eq!(result["mail"], 250);
    assert_eq!(
        result["rcpt"],
        serde_json::json!([250, 250, 250, 250, 550, 250, 250])
    );
    assert_eq!(
        result["data"],
        serde_json::json!([250, 250, 250, 250, 250, 552])
    );

    let stored = |user: &str| -> Vec<Vec<u8>> {
        result["stored"][user]
            .as_array()
            .expect("a list")
            .iter()
            .map(|m| {
                BASE64_STANDARD
                    .decode(m.as_str().expect("a string"))
                    .expect("base64")
            })
            .collect()
    };
    for (user, rcpt) in [
        ("ann", "ann@example.com"),
        ("bob", "bob+lists@example.com"),
        ("carol", "carolsmith@example.com"),
        ("dave", "whoever@catch.example"),
        ("erin", "erin@xn--maana-pta.example"),
    ] {
        let expected =
            format!("Delivered-To: {rcpt}\r\nReturn-Path: <sender@example.org>\r\n{raw}");
        assert_eq!(stored(user), [expected.into_bytes()], "{user}");
    }
    assert!(stored("full").is_empty());
}

/// A Postfix instance of its own (Debian's `postfix`), on a loopback port, that relays mail
/// for `example.com` to an LMTP address. Stopped when dropped.
struct Postfix {
    config_dir: std::path::PathBuf,
    smtp: SocketAddr,
}

impl Postfix {
    fn start(dir: &Path, lmtp: SocketAddr) -> Postfix {
        let config_dir = dir.join("conf");
        std::fs::create_dir_all(&config_dir).unwrap();
        // Postfix's own user walks into the queue below this directory.
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        std::fs::create_dir_all(dir.join("queue")).unwrap();
        let smtp = free_loopback_port();
        let root = dir.display();
        std::fs::write(
            config_dir.join("main.cf"),
            format!(
                "compatibility_level = 3.6\n\
                 queue_directory = {root}/queue\n\
                 data_directory = {root}/data\n\
                 maillog_file = {root}/maillog\n\
                 maillog_file_prefixes = {root}\n\
                 inet_interfaces = 127.0.0.1\n\
                 inet_protocols = ipv4\n\
                 myhostname = mx.test.example\n\
                 mydestination =\n\
                 local_recipient_maps =\n\
                 alias_maps =\n\
                 alias_database =\n\
                 mynetworks = 127.0.0.0/8\n\
                 smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n\
                 smtputf8_enable = yes\n\
                 relay_domains = example.com\n\
                 relay_recipient_maps =\n\
                 relay_transport = lmtp:inet:{lmtp}\n"
            ),
        )
        .unwrap();
        // Only the services this relay uses, none chrooted (the queue is a temporary dir).
        let services = [
            format!("{smtp} inet n - n - - smtpd"),
            "pickup unix n - n 60 1 pickup".into(),
            "cleanup unix n - n - 0 cleanup".into(),
            "qmgr unix n - n 300 1 qmgr".into(),
            "rewrite unix - - n - - trivial-rewrite".into(),
            "bounce unix - - n - 0 bounce".into(),
            "defer unix - - n - 0 bounce".into(),
            "trace unix - - n - 0 bounce".into(),
            "verify unix - - n - 1 verify".into(),
            "flush unix n - n 1000? 0 flush".into(),
            "proxymap unix - - n - - proxymap".into(),
            "smtp unix - - n - - smtp".into(),
            "relay unix - - n - - smtp".into(),
            "error unix - - n - - error".into(),
            "retry unix - - n - - error".into(),
            "discard unix - - n - - discard".into(),
            "lmtp unix - - n - - lmtp".into(),
            "anvil unix - - n - 1 anvil".into(),
            "scache unix - - n - 1 scache".into(),
            "postlog unix-dgram n - n - 1 postlogd".into(),
        ];
        std::fs::write(config_dir.join("master.cf"), services.join("\n") + "\n").unwrap();
        let postfix = Postfix { config_dir, smtp };
        let output = postfix.command("start");
        assert!(
            output.status.success(),
            "postfix start: {}{}",
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(dir.join("maillog")).unwrap_or_default()
        );
        postfix
    }

    fn command(&self, what: &str) -> std::process::Output {
        Command::new("postfix")
            .arg("-c")
            .arg(&self.config_dir)
            .arg(what)
            .output()
            .expect("postfix (Debian package `postfix`, installed by .ci/setup)")
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = self.command("stop");
    }
}

fn free_loopback_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

const SMTP_SEND_THEN_POLL_IMAP: &str = r#"
import base64, imaplib, smtplib, sys, time
host, smtp_port, imap_port, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
raw = open(path, "rb").read()
with smtplib.SMTP(host, smtp_port, timeout=30) as smtp:
    refused = smtp.sendmail("sender@example.org", ["ann+mx@example.com"], raw)
    assert not refused, refused
deadline = time.time() + 60
while True:
    imap = imaplib.IMAP4(host, imap_port, timeout=30)
    imap.login("ann", "pw")
    typ, data = imap.select("INBOX")
    if int(data[0]) > 0:
        typ, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[])")
        print(base64.b64encode(data[0][1]).decode())
        break
    imap.logout()
    assert time.time() < deadline, "Postfix did not deliver within 60 s"
    time.sleep(0.2)
"#;

/// A real MTA in front: Postfix takes the message by SMTP and hands it to `serve` over LMTP;
/// IMAP reads back what Postfix sent, behind our two headers, with its own trace header in it.
#[test]
fn postfix_relays_smtp_mail_into_the_store_over_lmtp() {
    let env = Env::new();
    env.ok(&[
        "user",
        "add",
        "ann",
        "--password",
        "pw",
        "--address",
        "ann@example.com",
    ]);
    let config = write_config(&env, "[initial_account]\ncreate = false\n");
    let server = Server::start(&env, &config, 4);
    let postfix = Postfix::start(&env.path("postfix"), server.address("LMTP (plain)"));
    let imap = server.address("IMAP (plain)");

    let body = "A line for Postfix.\r\n.a leading dot survives both hops\r\n";
    let raw = format!(
        "From: Sender <sender@example.org>\r\nTo: ann+mx@example.com\r\nSubject: via postfix\r\n\
         Message-ID: <postfix-1@example.org>\r\nDate: Mon, 07 Dec 2026 03:00:00 +0000\r\n\r\n{body}"
    );
    let message = env.path("message.eml");
    std::fs::write(&message, &raw).unwrap();
    let args = [
        postfix.smtp.ip().to_string(),
        postfix.smtp.port().to_string(),
        imap.port().to_string(),
        message.to_str().unwrap().to_string(),
    ];
    let (status, text) = python(SMTP_SEND_THEN_POLL_IMAP, &args);
    assert_eq!(status, 0, "{text}");
    let stored = BASE64_STANDARD.decode(text.trim()).expect("base64");
    let stored = String::from_utf8(stored).expect("UTF-8");
    let after_ours = stored
        .strip_prefix("Delivered-To: ann+mx@example.com\r\nReturn-Path: <sender@example.org>\r\n")
        .unwrap_or_else(|| panic!("our two headers first:\n{stored}"));
    // Postfix puts its Received header on top; the sender's message follows byte for byte.
    assert!(after_ours.starts_with("Received: from "), "{stored}");
    assert!(
        after_ours.contains("by mx.test.example (Postfix)"),
        "{stored}"
    );
    assert!(after_ours.ends_with(&raw), "{stored}");
}

const IMAP_LOGIN_EACH: &str = r#"
import imaplib, json, sys
host, port, accounts = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
def login(user, password):
    imap = imaplib.IMAP4(host, port, timeout=30)
    try:
        # AUTHENTICATE PLAIN carries the UTF-8 password as it is (LOGIN would need a literal).
        imap.authenticate("PLAIN", lambda _: b"\0" + user.encode() + b"\0" + password.encode())
        return imap.select("INBOX")[0] == "OK"
    except imaplib.IMAP4.error:
        return False
    finally:
        imap.logout()
for user, password in accounts:
    assert not login(user, "x" + password), user + ": a wrong password was accepted"
    assert login(user, password), user + ": the imported hash was refused"
    assert login(user, password), user + ": refused after the rehash"
print("every account logged in")
"#;

const STORED_PASSWORD_HASHES: &str = r#"
import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
for username, password in db.execute("SELECT username, password FROM users ORDER BY username"):
    print(username, password)
"#;

/// Accounts moved from WildDuck keep their passwords: a hash in each format WildDuck accepts,
/// made by the reference libraries, goes in with `user add --hashed-password`; imaplib logs
/// in with the password (and not with a wrong one); the stored hash is argon2id afterwards.
#[test]
fn wildduck_password_hashes_log_in_over_imap_and_become_argon2id() {
    let env = Env::new();
    let hashes = wildduck_store::testkit::wildduck_password_hashes();
    let mut accounts = Vec::new();
    for (format, password, hash) in &hashes {
        let username = format!("moved-{format}");
        env.ok(&["user", "add", &username, "--hashed-password", hash]);
        accounts.push(serde_json::json!([username, password]));
    }
    let error = env.fails(
        &[
            "user",
            "add",
            "moved-ldap",
            "--hashed-password",
            "{SSHA}c2VjcmV0",
        ],
        65,
        "data",
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not a supported password hash"),
        "{error}"
    );
    let (status, doc) = env.json(&["user", "show", "moved-ldap"]);
    assert_eq!(status, 67, "a refused hash creates no user: {doc}");

    // Each account fails once, from one address: no lockout, no pause for this test.
    let config = write_config(&env, "[limits]\nfailure_delay_ms = 0\n");
    let server = Server::start(&env, &config, 2);
    assert!(server.account.is_none(), "the store has users already");
    let imap = server.address("IMAP (plain)");
    let (status, text) = python(
        IMAP_LOGIN_EACH,
        &[
            imap.ip().to_string(),
            imap.port().to_string(),
            serde_json::Value::from(accounts).to_string(),
        ],
    );
    assert_eq!(status, 0, "{text}");
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait().0, 0);

    let database = env.data_dir().join("store.sqlite");
    let (status, text) = python(
        STORED_PASSWORD_HASHES,
        &[database.to_string_lossy().into_owned()],
    );
    assert_eq!(status, 0, "{text}");
    let stored: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|line| line.split_once(' '))
        .collect();
    assert_eq!(stored.len(), hashes.len(), "{text}");
    for (username, hash) in stored {
        assert!(hash.starts_with("$argon2id$"), "{username}: {hash}");
    }
}

/// A shell or wrapper script's own `WILDDUCK_*` variables are not config keys: every
/// command runs as if they were not there.
#[test]
fn unknown_wildduck_variables_do_not_stop_serve_user_add_or_stats() {
    let env = Env::new();
    let with_stranger = |args: &[&str]| {
        let mut command = env.command(args);
        command.env("WILDDUCK_SOMETHING", "x");
        command
    };
    let output = common::run_command(
        with_stranger(&["--json", "user", "add", "alice", "--password", "pw-alice"]),
        b"",
    );
    assert_eq!(
        code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = common::run_command(with_stranger(&["--json", "stats"]), b"");
    assert_eq!(
        code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(common::parse_json(&output)["users"], 1);

    let config = write_config(&env, "");
    let config = config.to_str().unwrap();
    let server = Server::spawn(with_stranger(&["--config", config, "serve"]), 2);
    let imap = server.address("IMAP (plain)");
    assert!(imap_login(imap, "alice", "pw-alice").is_ok());
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait().0, 0);
}

const IMAP_WELCOME_ENVELOPE: &str = r#"
import imaplib, sys
imap = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]), timeout=30)
imap.login(sys.argv[3], sys.argv[4])
imap.select("INBOX")
typ, data = imap.fetch("1", "(ENVELOPE)")
assert typ == "OK", data
print(data[0].decode())
imap.logout()
"#;

/// `[server] hostname` is the first account's mail domain: its address, and the welcome
/// message's To and From, so ENVELOPE shows a whole address.
#[test]
fn the_first_account_and_its_welcome_mail_use_the_configured_hostname() {
    let env = Env::new();
    let config = write_config(&env, "[server]\nhostname = \"mail.example.test\"\n");
    let server = Server::start(&env, &config, 2);
    let (user, password) = server
        .account
        .clone()
        .expect("first start makes an account");
    let imap = server.address("IMAP (plain)");
    let (status, envelope) = python(
        IMAP_WELCOME_ENVELOPE,
        &[
            imap.ip().to_string(),
            imap.port().to_string(),
            user.clone(),
            password,
        ],
    );
    assert_eq!(status, 0, "{envelope}");
    assert!(!envelope.contains("MISSING_DOMAIN"), "{envelope}");
    assert!(
        envelope.contains(r#"(NIL NIL "admin" "mail.example.test")"#),
        "{envelope}"
    );
    assert!(
        envelope.contains(r#"("WildDuck" NIL "postmaster" "mail.example.test")"#),
        "{envelope}"
    );
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait().0, 0);
    let shown = env.ok(&["user", "show", &user]);
    assert_eq!(
        shown["addresses"],
        serde_json::json!(["admin@mail.example.test"])
    );
}

/// SQLite's write-ahead log is checkpointed into the database when `serve` stops: right after
/// it exits on SIGTERM the data directory holds no WAL bytes, after writes through IMAP.
#[test]
fn after_sigterm_the_data_dir_holds_no_wal() {
    let env = Env::new();
    let config = write_config(
        &env,
        "[initial_account]\nusername = \"demo\"\npassword = \"demo-password-1\"\n",
    );
    let server = Server::start(&env, &config, 2);
    let imap = server.address("IMAP (plain)");
    let (status, text) = python(
        IMAP_APPEND_SOME,
        &[imap.ip().to_string(), imap.port().to_string()],
    );
    assert_eq!(status, 0, "{text}");
    let wal = env.data_dir().join("store.sqlite-wal");
    let wal_while_running = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert!(wal_while_running > 0, "writes went through the WAL");

    server.signal(libc::SIGTERM);
    assert_eq!(server.wait().0, 0);
    let mut left = Vec::new();
    for entry in std::fs::read_dir(env.data_dir()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let bytes = entry.metadata().unwrap().len();
        if name.ends_with("-wal") && bytes > 0 {
            left.push((name, bytes));
        }
    }
    assert!(left.is_empty(), "WAL left after SIGTERM: {left:?}");
    assert_eq!(
        env.ok(&["stats"])["messages"],
        21,
        "the appends are in the database"
    );
}

const IMAP_APPEND_SOME: &str = r#"
import imaplib, sys
imap = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]), timeout=30)
imap.login("demo", "demo-password-1")
for i in range(20):
    body = ("Subject: wal %d\r\n\r\n" % i + "x" * 2000 * (i + 1) + "\r\n").encode()
    assert imap.append("INBOX", None, None, body)[0] == "OK"
imap.logout()
print("appended")
"#;

/// `wildduck backup` while clients append: the copy holds every message acknowledged before
/// it started, byte for byte, and `verify` finds it consistent.
#[test]
fn backup_under_append_load_restores_to_a_consistent_store() {
    const CLIENTS: usize = 2;
    let env = Env::new();
    let config = write_config(&env, "[initial_account]\npassword = \"backup-test-pw\"\n");
    let server = Server::start(&env, &config, 2);
    let imap = server.address("IMAP (plain)");

    let stop = Arc::new(AtomicBool::new(false));
    let (acked_tx, acked_rx) = mpsc::channel::<Vec<u8>>();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let acked = acked_tx.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let (mut reader, mut writer) =
                    imap_login(imap, "admin", "backup-test-pw").expect("login");
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let body = "backed up line\r\n".repeat(1 + (n % 5) * 50);
                    let raw = format!("Subject: backup {client}/{n}\r\n\r\n{body}").into_bytes();
                    assert!(
                        append(&mut reader, &mut writer, &format!("b{n}"), &raw).unwrap(),
                        "append {client}/{n}"
                    );
                    acked.send(raw).unwrap();
                    n += 1;
                }
            })
        })
        .collect();
    drop(acked_tx);

    let mut before_backup = Vec::new();
    while before_backup.len() < 60 {
        before_backup.push(acked_rx.recv_timeout(WAIT).expect("appends go on"));
    }
    let backup = env.path("backup");
    let report = env.ok(&["backup", backup.to_str().unwrap()]);
    assert!(report["bytes"].as_u64().unwrap() > 0, "{report}");
    // Appends went on during the backup; let a few more land after it, then stop.
    for _ in 0..20 {
        acked_rx
            .recv_timeout(WAIT)
            .expect("appends go on after the backup");
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait().0, 0);

    // A second backup into the same directory is refused rather than mixed in.
    env.fails(&["backup", backup.to_str().unwrap()], 73, "cant_create");

    // The backup is a data directory of its own.
    let in_backup = |args: &[&str]| {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let mut command = env.command(&all);
        command.env("WILDDUCK_DATA_DIR", &backup);
        let output = run_command(command, b"");
        assert_eq!(code(&output), 0, "{args:?} on the backup");
        parse_json(&output)
    };
    let verify = in_backup(&["verify"]);
    assert!(
        verify["problems"].as_array().unwrap().is_empty(),
        "{verify}"
    );
    let out = env.path("backup-export");
    in_backup(&[
        "export",
        "--user",
        "admin",
        "--format",
        "maildir",
        "-o",
        out.to_str().unwrap(),
    ]);
    let stored: Vec<Vec<u8>> = std::fs::read_dir(out.join("cur"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    for raw in &before_backup {
        assert!(
            stored.contains(raw),
            "acknowledged before the backup but not in it: {}",
            String::from_utf8_lossy(&raw[..24])
        );
    }
}

// ---- SMTP submission and the outbound queue ----

/// Submits one message with smtplib (AUTH PLAIN over plain TCP on loopback); prints `sent`
/// or the refusal's code.
const SMTP_SUBMIT: &str = r#"
import smtplib, sys
host, port, user, password, sender, author = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
message = ("From: " + author + "\r\nTo: bob@remote.test\r\nBcc: carl@remote.test\r\n"
           "Subject: submitted\r\n\r\nHello through the queue.\r\n")
smtp = smtplib.SMTP(host, port, timeout=30)
smtp.ehlo("client.test")
assert "PLAIN" in smtp.esmtp_features.get("auth", ""), smtp.esmtp_features
smtp.login(user, password)
try:
    smtp.sendmail(sender, ["bob@remote.test", "carl@remote.test"], message)
    print("sent")
except smtplib.SMTPSenderRefused as error:
    print("sender refused", error.smtp_code)
except smtplib.SMTPDataError as error:
    print("data refused", error.smtp_code)
smtp.quit()
"#;

/// Prints, as JSON, every message of the mailbox with the given special use (`\Sent`) or
/// name (`INBOX`): flags and bytes.
const IMAP_MAILBOX: &str = r#"
import imaplib, json, re, sys
host, port, user, password, wanted = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
imap = imaplib.IMAP4(host, port, timeout=30)
imap.login(user, password)
name = wanted
if wanted.startswith("\\"):
    typ, listed = imap.list()
    for line in listed:
        line = line.decode()
        if wanted in line.split(")")[0]:
            name = line.rsplit(' "/" ', 1)[1]
typ, data = imap.select(name, readonly=True)
assert typ == "OK", data
messages = []
count = int(data[0])
if count:
    typ, data = imap.fetch("1:*", "(FLAGS BODY.PEEK[])")
    for item in data:
        if isinstance(item, tuple):
            flags = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode()
            messages.append({"flags": flags.split(), "raw": item[1].decode("utf-8", "replace")})
imap.logout()
print(json.dumps(messages))
"#;

/// A server whose first account is ann@example.org, relaying to `relay_port`, retrying
/// after a second.
/// Whether `wildduck queue list` shows no entry.
fn queue_is_empty(env: &Env) -> bool {
    env.ok(&["queue", "list"])["entries"]
        .as_array()
        .unwrap()
        .is_empty()
}

/// `serve` relaying to 127.0.0.1:`relay_port`, retrying after `backoff_secs` (doubling).
fn start_relaying(env: &Env, relay_port: u16, backoff_secs: u64) -> Server {
    let relay =
        format!("relay = \"smtp://127.0.0.1:{relay_port}\"\nbackoff_base_secs = {backoff_secs}\n");
    start_relaying_with(env, &relay)
}

/// `serve` with ann@example.org and `[outbound]` settings `outbound`.
fn start_relaying_with(env: &Env, outbound: &str) -> Server {
    let config = write_config(
        env,
        &format!(
            "[server]\nhostname = \"example.org\"\n\
             [initial_account]\nusername = \"ann\"\npassword = \"ann-password-1\"\n\
             [outbound]\npoll_interval_ms = 100\n{outbound}"
        ),
    );
    Server::start(env, &config, 4)
}

fn submit(server: &Server, sender: &str, author: &str) -> String {
    let smtp = server.address("SMTP (plain)");
    let args = [
        smtp.ip().to_string(),
        smtp.port().to_string(),
        "ann".into(),
        "ann-password-1".into(),
        sender.into(),
        author.into(),
    ];
    let (status, text) = python(SMTP_SUBMIT, &args);
    assert_eq!(status, 0, "{text}");
    text.trim().to_string()
}

fn imap_mailbox(server: &Server, mailbox: &str) -> Vec<serde_json::Value> {
    let imap = server.address("IMAP (plain)");
    let args = [
        imap.ip().to_string(),
        imap.port().to_string(),
        "ann".into(),
        "ann-password-1".into(),
        mailbox.into(),
    ];
    let (status, text) = python(IMAP_MAILBOX, &args);
    assert_eq!(status, 0, "{text}");
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Polls `check` until it holds (the relay works in the background), at most `WAIT`.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn submitted_mail_reaches_the_relay_without_bcc_and_sent_mail_keeps_a_seen_copy() {
    let env = Env::new();
    let port = unused_port();
    let sink = Sink::start(port, "accept");
    let server = start_relaying(&env, port, 1);

    assert_eq!(
        submit(&server, "ann@example.org", "Ann <ann@example.org>"),
        "sent"
    );
    let relayed = sink.received();
    assert_eq!(relayed["from"], "ann@example.org");
    assert_eq!(
        relayed["to"],
        serde_json::json!(["bob@remote.test", "carl@remote.test"])
    );
    let data = relayed["data"].as_str().unwrap();
    assert!(!data.contains("Bcc:"), "{data}");
    assert!(
        data.contains("Subject: submitted") && data.contains("Message-ID: <"),
        "{data}"
    );

    let sent = imap_mailbox(&server, "\\Sent");
    assert_eq!(sent.len(), 1, "{sent:?}");
    let raw = sent[0]["raw"].as_str().unwrap();
    assert!(raw.contains("Bcc: carl@remote.test"), "{raw}");
    assert!(
        sent[0]["flags"]
            .as_array()
            .unwrap()
            .contains(&"\\Seen".into())
    );

    // Someone else's envelope sender, or a From header that is not ann's: 553.
    assert_eq!(
        submit(&server, "eve@example.org", "Ann <ann@example.org>"),
        "sender refused 553"
    );
    assert_eq!(
        submit(&server, "ann@example.org", "Eve <eve@example.org>"),
        "data refused 553"
    );
    assert_eq!(
        imap_mailbox(&server, "\\Sent").len(),
        1,
        "refused mail is not filed"
    );
    eventually("the queue is empty", || queue_is_empty(&env));
}

#[test]
fn submission_past_the_daily_recipient_limit_is_refused_with_5_4_5() {
    let env = Env::new();
    let port = unused_port();
    let sink = Sink::start(port, "accept");
    let server = start_relaying_with(
        &env,
        &format!("relay = \"smtp://127.0.0.1:{port}\"\n[limits]\ndaily_recipients = 3\n"),
    );
    // Each submission names two recipients: the second one would make four.
    assert_eq!(
        submit(&server, "ann@example.org", "ann@example.org"),
        "sent"
    );
    assert_eq!(
        submit(&server, "ann@example.org", "ann@example.org"),
        "data refused 550"
    );
    sink.received();
    assert_eq!(imap_mailbox(&server, "\\Sent").len(), 1);
}

/// Sends a message with smtplib, then files the same message in Sent Mail with imaplib, as
/// Thunderbird does; prints the APPENDUID's UID, the message count and the UIDs of Sent Mail.
const SEND_THEN_FILE: &str = r#"
import imaplib, re, smtplib, sys
smtp_port, imap_port = int(sys.argv[1]), int(sys.argv[2])
message = ("From: ann@example.org\r\nTo: bob@remote.test\r\nSubject: filed twice\r\n"
           "Message-ID: <filed-twice@example.org>\r\n\r\nHello.\r\n")
smtp = smtplib.SMTP("127.0.0.1", smtp_port, timeout=30)
smtp.login("ann", "ann-password-1")
smtp.sendmail("ann@example.org", ["bob@remote.test"], message)
smtp.quit()
imap = imaplib.IMAP4("127.0.0.1", imap_port, timeout=30)
imap.login("ann", "ann-password-1")
typ, data = imap.append('"Sent Mail"', "(\\Seen)", None, message.encode())
assert typ == "OK", data
appended = re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1).decode()
typ, data = imap.select('"Sent Mail"')
count = data[0].decode()
typ, data = imap.uid("SEARCH", None, "ALL")
print(appended, count, data[0].decode())
imap.logout()
"#;

#[test]
fn a_client_filing_what_it_just_sent_gets_the_submitted_copy_back() {
    let env = Env::new();
    let server = start_relaying(&env, unused_port(), 3600);
    let smtp = server.address("SMTP (plain)").port().to_string();
    let imap = server.address("IMAP (plain)").port().to_string();
    let (status, text) = python(SEND_THEN_FILE, &[smtp, imap]);
    assert_eq!(status, 0, "{text}");
    let printed: Vec<&str> = text.split_whitespace().collect();
    let (appended, count, uids) = (printed[0], printed[1], &printed[2..]);
    assert_eq!(count, "1", "one copy in Sent Mail: {text}");
    assert_eq!(
        uids,
        [appended],
        "APPENDUID names the submitted copy: {text}"
    );
}

#[test]
fn a_recipient_the_relay_refuses_gets_a_delivery_report_in_the_senders_inbox() {
    let env = Env::new();
    let port = unused_port();
    let _sink = Sink::start(port, "reject");
    let server = start_relaying(&env, port, 1);
    assert_eq!(
        submit(&server, "ann@example.org", "ann@example.org"),
        "sent"
    );
    let mut reports = Vec::new();
    eventually("a delivery report in INBOX", || {
        reports = imap_mailbox(&server, "INBOX")
            .into_iter()
            .filter(|m| m["raw"].as_str().unwrap().contains("multipart/report"))
            .collect();
        !reports.is_empty()
    });
    let report = reports[0]["raw"].as_str().unwrap();
    for part in [
        "report-type=delivery-status",
        "Final-Recipient: rfc822; bob@remote.test",
        "Final-Recipient: rfc822; carl@remote.test",
        "Action: failed",
        "Status: 5.1.1",
        "Diagnostic-Code: smtp; 550 5.1.1 No such user here",
        "Subject: submitted",
    ] {
        assert!(report.contains(part), "{part} missing in {report}");
    }
    assert!(
        env.ok(&["queue", "list"])["entries"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn mail_waits_while_the_relay_is_down_and_goes_out_when_it_is_back() {
    let env = Env::new();
    let port = unused_port();
    let server = start_relaying(&env, port, 1);
    assert_eq!(
        submit(&server, "ann@example.org", "ann@example.org"),
        "sent"
    );
    eventually("a failed attempt recorded in the queue", || {
        let listed = env.ok(&["queue", "list"]);
        let entries = listed["entries"].as_array().unwrap();
        entries.len() == 1
            && entries[0]["attempts"].as_u64() >= Some(1)
            && entries[0]["recipients"][0]["last_reply"]
                .as_str()
                .is_some_and(|reply| reply.starts_with("451 4.4.1"))
    });
    let sink = Sink::start(port, "accept");
    let relayed = sink.received();
    assert_eq!(
        relayed["to"],
        serde_json::json!(["bob@remote.test", "carl@remote.test"])
    );
    eventually("the queue is empty", || queue_is_empty(&env));
}

#[test]
fn the_relay_is_reached_over_starttls_or_implicit_tls_with_auth() {
    let env = Env::new();
    let (cert, key) = env.self_signed_certificate();
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    for (scheme, mode) in [("smtp", "starttls"), ("smtps", "smtps")] {
        let port = unused_port();
        let sink = Sink::start_with(port, &[mode, cert, key]);
        let server = start_relaying_with(
            &env,
            &format!(
                "relay = \"{scheme}://127.0.0.1:{port}\"\nrelay_require_tls = true\n\
                 relay_ca_file = {cert:?}\nbackoff_base_secs = 1\n\
                 [outbound.relay_auth]\nuser = \"relay-user\"\npassword = \"relay-secret\"\n"
            ),
        );
        assert_eq!(
            submit(&server, "ann@example.org", "ann@example.org"),
            "sent"
        );
        let relayed = sink.received();
        assert_eq!(relayed["tls"], true, "{scheme}: {relayed}");
        assert_eq!(relayed["user"], "relay-user", "{scheme}: {relayed}");
        assert_eq!(relayed["to"][1], "carl@remote.test");
        drop(server);
    }
}

#[test]
fn a_relay_without_the_tls_it_is_required_to_have_gets_nothing() {
    let env = Env::new();
    let port = unused_port();
    let sink = Sink::start(port, "accept");
    let server = start_relaying_with(
        &env,
        &format!(
            "relay = \"smtp://127.0.0.1:{port}\"\nrelay_require_tls = true\nbackoff_base_secs = 3600\n"
        ),
    );
    assert_eq!(
        submit(&server, "ann@example.org", "ann@example.org"),
        "sent"
    );
    eventually("the attempt is deferred for want of STARTTLS", || {
        let entries = env.ok(&["queue", "list"])["entries"].clone();
        entries[0]["recipients"][0]["last_reply"]
            .as_str()
            .is_some_and(|reply| reply.starts_with("451 4.4.1") && reply.contains("STARTTLS"))
    });
    drop(server);
    assert!(
        sink.lines.try_recv().is_err(),
        "the sink took a message it should not have"
    );
}

#[test]
fn queued_mail_survives_kill_9_and_goes_out_once_after_the_restart() {
    let env = Env::new();
    let port = unused_port();
    // A short lease: an entry the killed process held is taken again within seconds.
    let outbound = format!(
        "relay = \"smtp://127.0.0.1:{port}\"\nbackoff_base_secs = 1\nlease_secs = 3\ntimeout_secs = 2\n"
    );
    let server = start_relaying_with(&env, &outbound);
    for _ in 0..5 {
        assert_eq!(
            submit(&server, "ann@example.org", "ann@example.org"),
            "sent"
        );
    }
    server.signal(libc::SIGKILL);
    server.wait();
    let queued = env.ok(&["queue", "list"])["entries"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(queued, 5, "every acknowledged message is still queued");

    let sink = Sink::start(port, "accept");
    let _server = start_relaying_with(&env, &outbound);
    let mut relayed = std::collections::BTreeSet::new();
    for _ in 0..5 {
        let message = sink.received();
        let data = message["data"].as_str().unwrap();
        let id = data
            .lines()
            .find_map(|line| line.strip_prefix("Message-ID: "))
            .unwrap_or_else(|| panic!("no Message-ID in {data}"));
        assert!(relayed.insert(id.to_string()), "{id} relayed twice");
    }
    eventually("the queue is empty", || queue_is_empty(&env));
    assert!(
        sink.lines.try_recv().is_err(),
        "a message reached the relay twice"
    );
}

#[test]
fn an_operator_retries_a_waiting_entry_at_once_and_deletes_another() {
    let env = Env::new();
    let port = unused_port();
    // An hour's backoff: only `queue retry` can bring the entry out before the test ends.
    let server = start_relaying(&env, port, 3600);
    assert_eq!(
        submit(&server, "ann@example.org", "ann@example.org"),
        "sent"
    );
    let mut id = String::new();
    eventually("a failed attempt recorded in the queue", || {
        let entries = env.ok(&["queue", "list"])["entries"].clone();
        id = entries[0]["id"].as_str().unwrap_or_default().to_string();
        entries[0]["attempts"].as_u64() >= Some(1)
    });
    let shown = env.ok(&["queue", "show", &id, "--body"]);
    assert_eq!(shown["id"], id.as_str());
    assert_eq!(shown["attempts"], 1);
    assert!(
        shown["message"]
            .as_str()
            .unwrap()
            .contains("Subject: submitted"),
        "{shown}"
    );
    assert!(
        shown["recipients"][0]["last_reply"]
            .as_str()
            .unwrap()
            .starts_with("451 4.4.1"),
        "{shown}"
    );

    let sink = Sink::start(port, "accept");
    env.ok(&["queue", "retry", &id]);
    assert_eq!(sink.received()["to"][0], "bob@remote.test");
    eventually("the retried entry is settled", || queue_is_empty(&env));
    env.fails(&["queue", "show", &id], 66, "not_found");
    env.fails(&["queue", "retry", &id], 66, "not_found");
    env.fails(&["queue", "del", "not-an-id"], 64, "usage");

    // With the relay down again, a second entry waits out its hour; an operator drops it.
    drop(sink);
    assert_eq!(
        submit(&server, "ann@example.org", "ann@example.org"),
        "sent"
    );
    let mut second = String::new();
    eventually("the second entry tried once", || {
        let entries = env.ok(&["queue", "list"])["entries"].clone();
        second = entries[0]["id"].as_str().unwrap_or_default().to_string();
        entries[0]["attempts"].as_u64() >= Some(1)
    });
    env.ok(&["queue", "del", &second]);
    env.fails(&["queue", "show", &second], 66, "not_found");
    assert!(
        env.ok(&["queue", "list"])["entries"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

const USER_TOKEN: &str = r#"
import json, sys, urllib.request
body = json.dumps({"username": "ann", "password": "pw", "scope": "master", "token": True}).encode()
request = urllib.request.Request(f"http://{sys.argv[1]}/authenticate", data=body,
                                 headers={"Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(request, timeout=30))["token"])
"#;

const FAILED_IMAP_LOGIN: &str = r#"
import imaplib, sys
imap = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]), timeout=30)
try:
    imap.login("ann", "wrong")
    sys.exit("a wrong password logged in")
except imaplib.IMAP4.error:
    pass
imap.logout()
"#;

/// Appends one message with a 6000-byte attachment (random, so stored nowhere yet) twice.
const IMAP_APPEND_ATTACHMENT_TWICE: &str = r#"
import base64, imaplib, os, sys
attachment = base64.encodebytes(os.urandom(6000)).replace(b"\n", b"\r\n")
message = (b"From: s@example.org\r\nSubject: a file\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\nthe file\r\n"
           b"--b\r\nContent-Type: application/octet-stream\r\n"
           b"Content-Disposition: attachment; filename=f.bin\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" + attachment + b"--b--\r\n")
imap = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]), timeout=30)
imap.login("ann", "pw")
for _ in range(2):
    typ, data = imap.append("INBOX", None, None, message)
    assert typ == "OK", data
imap.logout()
"#;

/// `wildduck serve` with every listener on a free port, over a store with the user ann
/// (password `pw`, ann@example.com), and `variables` set.
fn serve_with_metrics(env: &Env, variables: &[(&str, &str)]) -> Server {
    env.ok(&[
        "user",
        "add",
        "ann",
        "--password",
        "pw",
        "--address",
        "ann@example.com",
    ]);
    let mut command = env.command(&["serve"]);
    for listener in ["IMAP", "POP3", "LMTP", "SUBMISSION", "API", "METRICS"] {
        command.env(format!("WILDDUCK_{listener}_LISTEN"), "127.0.0.1:0");
    }
    command.envs(variables.iter().copied());
    Server::spawn(command, 6)
}

/// `GET /metrics` of the API at `api`, checked to be Prometheus text.
fn scrape(api: SocketAddr) -> String {
    let response = http_get(api, "/metrics");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("content-type: text/plain; version=0.0.4"),
        "{response}"
    );
    response
}

/// `GET /metrics` (Prometheus text) after an LMTP delivery, an IMAP session, a failed login,
/// an attachment appended twice and a submission the relay can not take: the counters of
/// each moved (dedup hits, store transactions, the queue depth read from the store), and a
/// user token may not read them; `[metrics] listen` answers the same without a token, and
/// nothing else.
#[test]
fn metrics_count_connections_commands_deliveries_and_failed_logins() {
    let env = Env::new();
    // Nothing listens there: the submitted message stays queued.
    let unreachable = format!("smtp://127.0.0.1:{}", unused_port());
    let server = serve_with_metrics(&env, &[("WILDDUCK_OUTBOUND_RELAY", &unreachable)]);
    let api = server.address("API (plain)");
    let before = scrape(api);

    let lmtp = server.address("LMTP (plain)");
    let imap = server.address("IMAP (plain)");
    let message = env.path("message.eml");
    std::fs::write(
        &message,
        "From: s@example.org\r\nSubject: hi\r\n\r\nbody\r\n",
    )
    .unwrap();
    let args = [
        lmtp.ip().to_string(),
        lmtp.port().to_string(),
        imap.port().to_string(),
        message.to_str().unwrap().to_string(),
        "ann@example.com,nobody@example.com".to_string(),
        "ann".to_string(),
    ];
    let (status, text) = python(LMTP_DELIVER_AND_READ_BACK, &args);
    assert_eq!(status, 0, "{text}");
    let (status, text) = python(
        FAILED_IMAP_LOGIN,
        &[imap.ip().to_string(), imap.port().to_string()],
    );
    assert_eq!(status, 0, "{text}");
    let (status, text) = python(
        IMAP_APPEND_ATTACHMENT_TWICE,
        &[imap.ip().to_string(), imap.port().to_string()],
    );
    assert_eq!(status, 0, "{text}");
    let smtp = server.address("SMTP (plain)");
    let (status, text) = python(
        SMTP_SUBMIT,
        &[
            smtp.ip().to_string(),
            smtp.port().to_string(),
            "ann".into(),
            "pw".into(),
            "ann@example.com".into(),
            "Ann <ann@example.com>".into(),
        ],
    );
    assert_eq!((status, text.trim()), (0, "sent"), "{text}");

    let after = scrape(api);
    let moved = |name: &str, labels: &[(&str, &str)]| {
        metric(&after, name, labels) - metric(&before, name, labels)
    };
    assert_eq!(
        moved("wildduck_lmtp_recipients_total", &[("result", "accepted")]),
        1.0
    );
    // The delivery and the two APPENDs (the \Sent copy of a submission is not counted).
    assert_eq!(moved("wildduck_messages_stored_total", &[]), 3.0);
    // The attachment is stored by the first APPEND and found by the second.
    assert_eq!(moved("wildduck_blobs_written_total", &[]), 1.0, "{after}");
    assert_eq!(moved("wildduck_blob_dedup_hits_total", &[]), 1.0, "{after}");
    for kind in ["read", "write"] {
        assert!(
            moved(
                "wildduck_store_transaction_seconds_count",
                &[("engine", "sqlite"), ("kind", kind)]
            ) >= 3.0,
            "{kind}: {after}"
        );
    }
    // One entry for remote.test, waiting for a relay that does not answer.
    assert_eq!(metric(&before, "wildduck_outbound_queue_depth", &[]), 0.0);
    assert_eq!(
        metric(&after, "wildduck_outbound_queue_depth", &[]),
        1.0,
        "{after}"
    );
    // The delivery's read-back, the failed login and the APPENDs.
    assert_eq!(
        moved("wildduck_connections_total", &[("protocol", "imap")]),
        3.0,
        "{after}"
    );
    assert_eq!(
        moved("wildduck_connections_total", &[("protocol", "lmtp")]),
        1.0
    );
    for (command, result) in [
        ("LOGIN", "ok"),
        ("SELECT", "ok"),
        ("UID FETCH", "ok"),
        ("LOGIN", "no"),
    ] {
        assert!(
            moved(
                "wildduck_imap_commands_total",
                &[("command", command), ("result", result)]
            ) >= 1.0,
            "{command} {result}: {after}"
        );
    }
    assert_eq!(
        moved(
            "wildduck_imap_command_seconds_count",
            &[("command", "UID FETCH")]
        ),
        1.0
    );
    assert!(moved("wildduck_section_bytes_read_total", &[]) > 0.0);
    assert_eq!(
        moved(
            "wildduck_login_failures_total",
            &[("scope", "imap"), ("reason", "bad credentials")]
        ),
        1.0
    );

    // Metrics are root's: a user's token is refused.
    let (status, token) = python(USER_TOKEN, &[api.to_string()]);
    assert_eq!(status, 0, "{token}");
    let token = token.trim();
    let refused = http_get(api, &format!("/metrics?accessToken={token}"));
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");

    // The metrics listener: no token, the same counters, no other route.
    let own = server.address("METRICS (plain)");
    let scraped = http_get(own, "/metrics");
    assert!(scraped.starts_with("HTTP/1.1 200"), "{scraped}");
    assert!(
        metric(
            &scraped,
            "wildduck_lmtp_recipients_total",
            &[("result", "accepted")]
        ) >= metric(
            &after,
            "wildduck_lmtp_recipients_total",
            &[("result", "accepted")]
        ),
        "{scraped}"
    );
    let elsewhere = http_get(own, "/users");
    assert!(elsewhere.starts_with("HTTP/1.1 404"), "{elsewhere}");
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait().0, 0);
}

/// Holds SQLite's write lock on the store file (argv[3]) from another process, as a
/// `sqlite3` shell or a backup tool would, while an IMAP APPEND waits for it; lets go once
/// `GET /metrics` (argv[4]) shows the server retrying, then checks the APPEND went through.
const APPEND_WHILE_LOCKED: &str = r#"
import imaplib, re, sqlite3, sys, threading, time, urllib.request
host, port, database, metrics = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def retries():
    text = urllib.request.urlopen(metrics, timeout=30).read().decode()
    found = re.search(r'^wildduck_store_transaction_retries_total\{[^}]*kind="write"[^}]*\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0
imap = imaplib.IMAP4(host, port, timeout=60)
imap.login("ann", "pw")
held = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
held.execute("BEGIN IMMEDIATE")
answer = []
append = threading.Thread(target=lambda: answer.append(
    imap.append("INBOX", None, None, b"Subject: waited\r\n\r\nfor the lock\r\n")))
append.start()
deadline = time.monotonic() + 30
while retries() == 0:
    assert time.monotonic() < deadline, "the server never retried"
    time.sleep(0.05)
held.execute("COMMIT")
append.join()
assert answer[0][0] == "OK", answer
imap.logout()
"#;

/// Another process holding the store file's write lock makes the server wait and try
/// again (counted as retries) instead of failing the APPEND.
#[test]
fn a_write_waits_for_a_lock_held_by_another_process_and_counts_its_retries() {
    let env = Env::new();
    let server = serve_with_metrics(&env, &[]);
    let api = server.address("API (plain)");
    let imap = server.address("IMAP (plain)");
    let database = env.data_dir().join("store.sqlite");
    let (status, text) = python(
        APPEND_WHILE_LOCKED,
        &[
            imap.ip().to_string(),
            imap.port().to_string(),
            database.to_str().unwrap().to_string(),
            format!("http://{api}/metrics"),
        ],
    );
    assert_eq!(status, 0, "{text}");
    let after = scrape(api);
    assert!(
        metric(
            &after,
            "wildduck_store_transaction_retries_total",
            &[("engine", "sqlite"), ("kind", "write")]
        ) >= 1.0,
        "{after}"
    );
}

// ---- filters, spam and the autoreply at LMTP delivery ----

/// Delivers the message at argv[5] from argv[3] to argv[4] over LMTP; prints the reply code.
const LMTP_SEND: &str = r#"
import smtplib, sys
host, port, sender, rcpt, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
lmtp = smtplib.LMTP(host, port)
lmtp.ehlo()
lmtp.mail(sender)
code, reply = lmtp.rcpt(rcpt)
if code == 250:
    code = lmtp.data(open(path, "rb").read())[0]
print(code)
lmtp.quit()
"#;

/// Turns on the autoreply of user argv[3] through the HTTP API (a loopback caller without a
/// configured token is root).
const API_AUTOREPLY_ON: &str = r#"
import json, sys, urllib.request
base, user = "http://%s:%s" % (sys.argv[1], sys.argv[2]), sys.argv[3]
def call(method, path, body=None):
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())
user_id = call("GET", "/users/resolve/" + user)["id"]
assert call("PUT", "/users/%s/autoreply" % user_id, {"status": True, "subject": "Away", "text": "Back on Monday."})["success"]
print("on")
"#;

/// An MTA delivers over LMTP to a user with filters and an autoreply: the scanner's spam lands
/// in Junk, a filter's delete stores nothing, a filter's forward and one autoreply per sender
/// leave through the relay to an SMTP sink (aiosmtpd); IMAP shows where each message landed.
#[test]
fn lmtp_delivery_applies_filters_spam_and_one_autoreply_per_sender() {
    let env = Env::new();
    let port = unused_port();
    let sink = Sink::start(port, "accept");
    let config = write_config(
        &env,
        &format!(
            "[server]\nhostname = \"example.org\"\n\
             [initial_account]\nusername = \"ann\"\npassword = \"ann-password-1\"\n\
             [outbound]\nrelay = \"smtp://127.0.0.1:{port}\"\n\
             backoff_base_secs = 1\npoll_interval_ms = 100\n"
        ),
    );
    let mut command = env.command(&["--config", config.to_str().unwrap(), "serve"]);
    command
        .env("WILDDUCK_API_ENABLED", "true")
        .env("WILDDUCK_API_LISTEN", "127.0.0.1:0");
    let server = Server::spawn(command, 5);
    env.ok(&["filter", "add", "ann", "--subject", "unwanted", "--delete"]);
    env.ok(&[
        "filter",
        "add",
        "ann",
        "--text",
        "invoice",
        "--forward",
        "books@remote.test",
        "--flag",
    ]);
    let api = server.address("API (plain)");
    let (status, text) = python(
        API_AUTOREPLY_ON,
        &[api.ip().to_string(), api.port().to_string(), "ann".into()],
    );
    assert_eq!((status, text.trim()), (0, "on"), "{text}");

    let lmtp = server.address("LMTP (plain)");
    let send = |name: &str, raw: &str| {
        let path = env.path(name);
        std::fs::write(&path, raw).unwrap();
        let args = [
            lmtp.ip().to_string(),
            lmtp.port().to_string(),
            "bob@remote.test".to_string(),
            "ann@example.org".to_string(),
            path.to_str().unwrap().to_string(),
        ];
        let (status, text) = python(LMTP_SEND, &args);
        assert_eq!((status, text.trim()), (0, "250"), "{name}: {text}");
    };
    send(
        "spam.eml",
        "From: bob@remote.test\r\nX-Spam-Flag: YES\r\nSubject: cheap pills\r\n\r\nbuy\r\n",
    );
    send(
        "unwanted.eml",
        "From: bob@remote.test\r\nSubject: unwanted offer\r\n\r\nno\r\n",
    );
    send(
        "invoice.eml",
        "From: bob@remote.test\r\nSubject: March\r\nMessage-ID: <inv-1@remote.test>\r\n\r\n\
         The invoice is attached.\r\n",
    );
    send(
        "again.eml",
        "From: bob@remote.test\r\nSubject: again\r\n\r\nsecond message\r\n",
    );

    let subjects = |mailbox: &str| -> Vec<String> {
        imap_mailbox(&server, mailbox)
            .iter()
            .filter_map(|m| {
                let raw = m["raw"].as_str().unwrap();
                raw.lines()
                    .find_map(|line| line.strip_prefix("Subject: "))
                    .map(str::to_string)
            })
            .collect()
    };
    assert_eq!(subjects("\\Junk"), ["cheap pills"]);
    let inbox = subjects("INBOX");
    assert!(
        inbox.contains(&"March".to_string()) && inbox.contains(&"again".to_string()),
        "{inbox:?}"
    );
    assert!(!inbox.iter().any(|s| s.contains("unwanted")), "{inbox:?}");
    let flagged = imap_mailbox(&server, "INBOX")
        .into_iter()
        .find(|m| m["raw"].as_str().unwrap().contains("Subject: March"))
        .unwrap();
    assert!(
        flagged["flags"]
            .as_array()
            .unwrap()
            .contains(&"\\Flagged".into())
    );

    // Exactly two messages leave: the forward (from the original sender, as received after
    // this hop's Delivered-To, which lets the next hop see a loop) and one
    // autoreply (null sender) to bob, not one per message and none for the spam.
    let mut relayed = [sink.received(), sink.received()];
    relayed.sort_by_key(|m| m["from"].as_str().unwrap().to_string());
    let (reply, forward) = (&relayed[0], &relayed[1]);
    assert_eq!(forward["from"], "bob@remote.test");
    assert_eq!(forward["to"], serde_json::json!(["books@remote.test"]));
    assert!(
        forward["data"].as_str().unwrap().starts_with(
            "Delivered-To: ann@example.org\r\nFrom: bob@remote.test\r\nSubject: March"
        )
    );
    // aiosmtpd shows the null reverse path as written: `<>`.
    assert_eq!(reply["from"], "<>");
    assert_eq!(reply["to"], serde_json::json!(["bob@remote.test"]));
    let data = reply["data"].as_str().unwrap();
    for part in [
        "Auto-Submitted: auto-replied",
        "Subject: Auto: Away",
        "From: ann@example.org",
        "Back on Monday.",
    ] {
        assert!(data.contains(part), "{part}: {data}");
    }
    eventually("the queue is empty", || queue_is_empty(&env));
    assert!(sink.lines.try_recv().is_err(), "nothing else was relayed");

    // The CLI lists the filters in the order they run and deletes one by its id.
    let listed = env.ok(&["filter", "list", "ann"])["filters"].clone();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{listed}");
    assert_eq!(listed[0]["query"]["subject"], "unwanted");
    env.ok(&["filter", "del", "ann", ids[0]]);
    env.fails(&["filter", "del", "ann", ids[0]], 66, "not_found");
    assert_eq!(
        env.ok(&["filter", "list", "ann"])["filters"][0]["id"],
        ids[1]
    );
}

// ---- forwards to relay and URL targets ----

/// Hands `raw` from `sender` to `recipient` over the server's LMTP listener (250 expected).
fn lmtp_send(env: &Env, server: &Server, sender: &str, recipient: &str, raw: &[u8]) {
    assert_eq!(lmtp_try(env, server, sender, recipient, raw), "250");
}

/// The reply code to RCPT TO `recipient`, or when that was 250, to the data.
fn lmtp_try(env: &Env, server: &Server, sender: &str, recipient: &str, raw: &[u8]) -> String {
    let lmtp = server.address("LMTP (plain)");
    let path = env.path("lmtp-message.eml");
    std::fs::write(&path, raw).unwrap();
    let args = [
        lmtp.ip().to_string(),
        lmtp.port().to_string(),
        sender.to_string(),
        recipient.to_string(),
        path.to_str().unwrap().to_string(),
    ];
    let (status, text) = python(LMTP_SEND, &args);
    assert_eq!(status, 0, "{text}");
    text.trim().to_string()
}

/// The message as a forward carries it: this hop's `Delivered-To`, then the bytes received.
fn forwarded_bytes(recipient: &str, raw: &[u8]) -> Vec<u8> {
    let mut forwarded = format!("Delivered-To: {recipient}\r\n").into_bytes();
    forwarded.extend_from_slice(raw);
    forwarded
}

const FORWARDED_MESSAGE: &[u8] = b"From: bob@remote.test\r\nSubject: pass it on\r\n\
Message-ID: <fwd-1@remote.test>\r\n\r\nFor the archive.\r\n";

/// `address add ADDRESS --forward-to …` makes a forwarded address; mail LMTP hands it goes to
/// its mail target through the smarthost and, for its `smtp://` target, through that relay,
/// which is asked to deliver to the forwarded address itself (as WildDuck does).
#[test]
fn a_forwarded_address_sends_mail_through_the_smarthost_and_its_own_relay() {
    let env = Env::new();
    let (smarthost_port, relay_port) = (unused_port(), unused_port());
    let smarthost = Sink::start(smarthost_port, "accept");
    let relay = Sink::start(relay_port, "accept");
    let server = start_relaying(&env, smarthost_port, 1);
    let relay_url = format!("smtp://127.0.0.1:{relay_port}");
    let made = env.ok(&[
        "address",
        "add",
        "Fwd@Example.org",
        "--forward-to",
        "carl@remote.test",
        "--forward-to",
        &relay_url,
    ]);
    assert_eq!(made["forwarded"]["address"], "fwd@example.org");
    assert_eq!(
        made["forwarded"]["targets"],
        serde_json::json!(["carl@remote.test", relay_url])
    );
    env.fails(&["address", "add", "other@example.org"], 64, "usage");
    env.fails(
        &[
            "address",
            "add",
            "ann",
            "x@example.org",
            "--forward-to",
            "carl@remote.test",
        ],
        64,
        "usage",
    );
    env.fails(
        &[
            "address",
            "add",
            "fwd@example.org",
            "--forward-to",
            "dora@remote.test",
        ],
        73,
        "cant_create",
    );
    env.fails(
        &[
            "address",
            "add",
            "new@example.org",
            "--forward-to",
            "ftp://x",
        ],
        65,
        "data",
    );

    lmtp_send(
        &env,
        &server,
        "bob@remote.test",
        "fwd@example.org",
        FORWARDED_MESSAGE,
    );
    let expected =
        String::from_utf8(forwarded_bytes("fwd@example.org", FORWARDED_MESSAGE)).unwrap();
    let through_smarthost = smarthost.received();
    assert_eq!(through_smarthost["from"], "bob@remote.test");
    assert_eq!(
        through_smarthost["to"],
        serde_json::json!(["carl@remote.test"])
    );
    assert_eq!(through_smarthost["data"], expected.as_str());
    let through_relay = relay.received();
    assert_eq!(through_relay["from"], "bob@remote.test");
    assert_eq!(through_relay["to"], serde_json::json!(["fwd@example.org"]));
    assert_eq!(through_relay["data"], expected.as_str());
    eventually("the queue is empty", || queue_is_empty(&env));
    assert!(smarthost.lines.try_recv().is_err(), "nothing else went out");
    assert!(relay.lines.try_recv().is_err(), "nothing else went out");
}

/// With `[lmtp.srs]`, a forward leaves with an SRS0 envelope sender in our
/// domain; a bounce to that address comes back over LMTP and goes to the original sender with
/// the bounce's null sender; a tampered SRS address is an unknown recipient.
#[test]
fn forwards_leave_with_an_srs_sender_and_their_bounces_find_the_way_back() {
    let env = Env::new();
    let smarthost_port = unused_port();
    let smarthost = Sink::start(smarthost_port, "accept");
    let server = start_relaying_with(
        &env,
        &format!(
            "relay = \"smtp://127.0.0.1:{smarthost_port}\"\n\
             [lmtp.srs]\nsecret = \"0123456789abcdef-srs\"\ndomain = \"SRS.Example.org\"\n"
        ),
    );
    env.ok(&[
        "address",
        "add",
        "fwd@example.org",
        "--forward-to",
        "carl@remote.test",
    ]);
    lmtp_send(
        &env,
        &server,
        "bob@remote.test",
        "fwd@example.org",
        FORWARDED_MESSAGE,
    );
    let forward = smarthost.received();
    let srs_sender = forward["from"].as_str().unwrap().to_string();
    assert!(
        srs_sender.starts_with("SRS0=") && srs_sender.ends_with("=remote.test=bob@srs.example.org"),
        "{srs_sender}"
    );
    assert_eq!(forward["to"], serde_json::json!(["carl@remote.test"]));

    let bounce =
        b"From: MAILER-DAEMON@remote.test\r\nSubject: Undelivered Mail\r\n\r\nNo such user.\r\n";
    lmtp_send(&env, &server, "", &srs_sender.to_lowercase(), bounce);
    let returned = smarthost.received();
    assert_eq!(
        returned["from"], "<>",
        "the null sender of the bounce (aiosmtpd writes it so)"
    );
    assert_eq!(returned["to"], serde_json::json!(["bob@remote.test"]));
    assert!(
        returned["data"]
            .as_str()
            .unwrap()
            .ends_with("Subject: Undelivered Mail\r\n\r\nNo such user.\r\n"),
        "{returned}"
    );

    let forged = srs_sender.replace("=remote.test=", "=elsewhere.test=");
    assert_eq!(lmtp_try(&env, &server, "", &forged, bounce), "550");
    eventually("the queue is empty", || queue_is_empty(&env));
    assert!(smarthost.lines.try_recv().is_err(), "nothing else went out");
}

/// Ann forwards to an `http://` URL on loopback with `path`, whose sink answers `answers` in
/// turn; then Bob's message reaches her over LMTP. The sink and the server.
fn forward_to_a_url(env: &Env, answers: &[u16], path: &str) -> (HttpSink, Server) {
    let port = unused_port();
    let sink = HttpSink::start(port, answers);
    let server = start_relaying_with(env, "backoff_base_secs = 1\n");
    let url = format!("http://127.0.0.1:{port}{path}");
    env.ok(&["forward", "add", "ann", &url]);
    lmtp_send(
        env,
        &server,
        "bob@remote.test",
        "ann@example.org",
        FORWARDED_MESSAGE,
    );
    (sink, server)
}

/// A user's `http://` target gets the message POSTed byte-exact as `message/rfc822`, even with
/// no smarthost configured; a 500 answer is tried again after the backoff.
#[test]
fn a_url_target_gets_the_bytes_posted_and_a_500_is_tried_again() {
    let env = Env::new();
    let (sink, server) = forward_to_a_url(&env, &[500, 200], "/in?box=archive");
    let expected = forwarded_bytes("ann@example.org", FORWARDED_MESSAGE);
    for status in [500, 200] {
        let posted = sink.posted();
        assert_eq!(posted.status, status);
        assert_eq!(posted.path, "/in?box=archive");
        assert_eq!(posted.content_type, "message/rfc822");
        assert_eq!(
            posted.body,
            expected,
            "{}",
            String::from_utf8_lossy(&posted.body)
        );
    }
    eventually("the queue is empty", || queue_is_empty(&env));
    assert!(!sink.has_more(), "posted once more after the 200");
    let inbox = imap_mailbox(&server, "INBOX");
    let raws: Vec<&str> = inbox.iter().map(|m| m["raw"].as_str().unwrap()).collect();
    assert!(
        raws.iter().any(|raw| raw.contains("Subject: pass it on")),
        "{raws:?}"
    );
    assert!(
        !raws.iter().any(|raw| raw.contains("Undelivered Mail")),
        "{raws:?}"
    );
}

/// A URL answering 404 refuses the forward for good: it is not tried again, and the user
/// finds a delivery report naming the answer in their INBOX.
#[test]
fn a_url_answering_404_fails_the_forward_and_the_user_is_told() {
    let env = Env::new();
    let (sink, server) = forward_to_a_url(&env, &[404], "/gone");
    assert_eq!(sink.posted().status, 404);
    eventually("the queue is empty", || queue_is_empty(&env));
    let report = imap_mailbox(&server, "INBOX")
        .into_iter()
        .map(|m| m["raw"].as_str().unwrap().to_string())
        .find(|raw| raw.contains("Undelivered Mail"))
        .expect("a delivery report in INBOX");
    assert!(
        report.contains("Diagnostic-Code: smtp; 550 5.0.0"),
        "{report}"
    );
    assert!(report.contains("answered 404 Not Found"), "{report}");
    std::thread::sleep(Duration::from_secs(2));
    assert!(!sink.has_more(), "a refused forward was tried again");
}

// ---- domain aliases and DKIM (operator records set over the HTTP API) ----

const API_TOKEN: &str = "serve-test-root-token";

/// Turns the HTTP API of a `write_config` file on, on a free loopback port with a root token.
fn enable_api(config: &Path) {
    let text = std::fs::read_to_string(config).unwrap().replacen(
        "[api]\nenabled = false\n",
        &format!("[api]\nlisten = \"127.0.0.1:0\"\naccess_token = \"{API_TOKEN}\"\n"),
        1,
    );
    std::fs::write(config, text).unwrap();
}

/// One JSON request to the API with the root token (urllib); prints the answer's JSON.
const API_CALL: &str = r#"
import json, sys, urllib.request
base, token, method, path, body = sys.argv[1:6]
request = urllib.request.Request(base + path, data=body.encode() or None, method=method)
request.add_header("Content-Type", "application/json")
request.add_header("X-Access-Token", token)
with urllib.request.urlopen(request, timeout=30) as response:
    print(response.read().decode())
"#;

fn api_call(
    server: &Server,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let base = format!("http://{}", server.address("API (plain)"));
    let args = [
        base,
        API_TOKEN.into(),
        method.into(),
        path.into(),
        body.to_string(),
    ];
    let (status, text) = python(API_CALL, &args);
    assert_eq!(status, 0, "{method} {path}: {text}");
    let answer: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(answer["success"], true, "{answer}");
    answer
}

/// LMTP to an address at an alias domain, then IMAP login with that address; prints the
/// LMTP reply and the INBOX message's bytes.
const LMTP_THEN_IMAP: &str = r#"
import imaplib, smtplib, sys
lmtp_host, lmtp_port, imap_host, imap_port, address, password = sys.argv[1:7]
lmtp = smtplib.LMTP(lmtp_host, int(lmtp_port), timeout=30)
lmtp.ehlo("mta.test")
refused = lmtp.sendmail("someone@remote.test", [address, "nobody@alias.test"],
                        b"Subject: through the alias\r\n\r\nHello alias.\r\n")
assert list(refused) == ["nobody@alias.test"] and refused["nobody@alias.test"][0] == 550, refused
lmtp.quit()
imap = imaplib.IMAP4(imap_host, int(imap_port), timeout=30)
imap.login(address, password)
typ, data = imap.select("INBOX", readonly=True)
typ, data = imap.search(None, 'SUBJECT "through the alias"')
ids = data[0].split()
assert len(ids) == 1, data
typ, data = imap.fetch(ids[0], "(BODY.PEEK[])")
sys.stdout.write(data[0][1].decode())
imap.logout()
"#;

#[test]
fn mail_and_logins_at_an_alias_domain_reach_the_users_of_the_domain() {
    let env = Env::new();
    let config = write_config(
        &env,
        "[server]\nhostname = \"example.org\"\n\
         [initial_account]\nusername = \"ann\"\npassword = \"ann-password-1\"\n",
    );
    enable_api(&config);
    let server = Server::start(&env, &config, 5);
    api_call(
        &server,
        "POST",
        "/domainaliases",
        serde_json::json!({"alias": "alias.test", "domain": "example.org"}),
    );
    let lmtp = server.address("LMTP (plain)");
    let imap = server.address("IMAP (plain)");
    let args = [
        lmtp.ip().to_string(),
        lmtp.port().to_string(),
        imap.ip().to_string(),
        imap.port().to_string(),
        "ann@alias.test".into(),
        "ann-password-1".into(),
    ];
    let (status, raw) = python(LMTP_THEN_IMAP, &args);
    assert_eq!(status, 0, "{raw}");
    assert!(
        raw.starts_with("Delivered-To: ann@alias.test\r\nReturn-Path: <someone@remote.test>\r\n"),
        "{raw}"
    );
    assert!(
        raw.ends_with("Subject: through the alias\r\n\r\nHello alias.\r\n"),
        "{raw}"
    );
}

/// Verifies the DKIM signature of the message in the file `argv[1]` with dkimpy against the
/// TXT record `argv[2]` for `argv[3]`; prints `verified` or `failed`.
const DKIM_VERIFY: &str = r#"
import sys
import dkim
message = open(sys.argv[1], "rb").read()
record, name = sys.argv[2].encode(), sys.argv[3].encode()
def dnsfunc(asked, timeout=5):
    assert asked.rstrip(b".") == name, (asked, name)
    return record
print("verified" if dkim.verify(message, dnsfunc=dnsfunc) else "failed")
"#;

fn dkim_verify(env: &Env, message: &str, record: &str, name: &str) -> String {
    let path = env.path("relayed.eml");
    std::fs::write(&path, message).unwrap();
    let args = [
        path.to_str().unwrap().to_string(),
        record.to_string(),
        name.to_string(),
    ];
    let (status, text) = python(DKIM_VERIFY, &args);
    assert_eq!(status, 0, "dkimpy (installed by .ci/setup) failed: {text}");
    text.trim().to_string()
}

#[test]
fn relayed_mail_carries_a_dkim_signature_of_the_senders_domain_that_dkimpy_verifies() {
    let env = Env::new();
    let port = unused_port();
    let sink = Sink::start(port, "accept");
    let config = write_config(
        &env,
        &format!(
            "[server]\nhostname = \"example.org\"\n\
             [initial_account]\nusername = \"ann\"\npassword = \"ann-password-1\"\n\
             [outbound]\nrelay = \"smtp://127.0.0.1:{port}\"\npoll_interval_ms = 100\n"
        ),
    );
    enable_api(&config);
    let server = Server::start(&env, &config, 5);
    let key = api_call(
        &server,
        "POST",
        "/dkim",
        serde_json::json!({"domain": "example.org", "selector": "mail2026"}),
    );
    let record = key["dnsTxt"]["value"].as_str().unwrap().to_string();
    let name = key["dnsTxt"]["name"].as_str().unwrap().to_string();
    assert_eq!(name, "mail2026._domainkey.example.org");

    assert_eq!(
        submit(&server, "ann@example.org", "Ann <ann@example.org>"),
        "sent"
    );
    let relayed = sink.received();
    let data = relayed["data"].as_str().unwrap();
    assert!(
        data.starts_with(
            "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=mail2026;"
        ),
        "{data}"
    );
    assert_eq!(dkim_verify(&env, data, &record, &name), "verified");
    // The same check fails for a changed message: the signature covers it.
    let changed = data.replace("Subject: submitted", "Subject: changed");
    assert_eq!(dkim_verify(&env, &changed, &record, &name), "failed");

    // An Ed25519 key (RFC 8463) replaces the RSA one and signs the next message.
    let ed25519 = api_call(
        &server,
        "POST",
        "/dkim",
        serde_json::json!({"domain": "example.org", "selector": "ed", "privateKey": "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="}),
    );
    assert_eq!(ed25519["id"], key["id"]);
    let record = ed25519["dnsTxt"]["value"].as_str().unwrap();
    assert_eq!(
        submit(&server, "ann@example.org", "ann@example.org"),
        "sent"
    );
    let relayed = sink.received();
    let data = relayed["data"].as_str().unwrap();
    assert!(data.contains("a=ed25519-sha256;"), "{data}");
    assert_eq!(
        dkim_verify(&env, data, record, "ed._domainkey.example.org"),
        "verified"
    );

    // Without a key for the domain, mail goes out unsigned.
    api_call(
        &server,
        "DELETE",
        &format!("/dkim/{}", key["id"].as_str().unwrap()),
        serde_json::json!(null),
    );
    assert_eq!(
        submit(&server, "ann@example.org", "ann@example.org"),
        "sent"
    );
    let unsigned = sink.received();
    assert!(
        !unsigned["data"]
            .as_str()
            .unwrap()
            .contains("DKIM-Signature"),
        "{unsigned}"
    );
}

// ---- forwarding ----

/// Through the API: a user ann@example.org who forwards to copy@remote.test and a forwarded
/// address fwd@example.org → far@remote.test; then one LMTP transaction to both. Prints the
/// RCPT and DATA codes as JSON.
const FORWARD_SETUP_AND_DELIVER: &str = r#"
import json, smtplib, sys, urllib.request
api, token, host, lmtp_port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def post(path, body):
    request = urllib.request.Request(api + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "X-Access-Token": token})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.loads(response.read())["success"] is True
post("/users", {"username": "ann", "password": "ann-password-1", "address": "ann@example.org",
                "targets": ["copy@remote.test"]})
post("/addresses/forwarded", {"address": "fwd@example.org", "targets": ["far@remote.test"]})
raw = "From: sender@example.net\r\nSubject: forward me\r\nMessage-ID: <fwd-1@example.net>\r\n\r\nHello.\r\n"
lmtp = smtplib.LMTP(host, lmtp_port)
lmtp.ehlo()
lmtp.mail("sender@example.net")
result = {"rcpt": [lmtp.rcpt(r)[0] for r in ["fwd@example.org", "ann@example.org"]]}
result["data"] = [lmtp.data(raw)[0], lmtp.getreply()[0]]
lmtp.quit()
print(json.dumps(result))
"#;

/// LMTP mail to a forwarded address leaves through the outbound queue to its target (the
/// aiosmtpd sink), with the original envelope sender and this hop's `Delivered-To`; a user
/// with forwarding targets keeps a copy in INBOX and forwards it too.
#[test]
fn lmtp_mail_to_a_forwarded_address_and_a_forwarding_user_reaches_the_targets() {
    let env = Env::new();
    let port = unused_port();
    let sink = Sink::start(port, "accept");
    let config = env.path("wildduck.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nhostname = \"example.org\"\n[initial_account]\ncreate = false\n\
             [api]\nlisten = \"127.0.0.1:0\"\naccess_token = \"forward-test-token\"\n\
             [imap]\nlisten = \"127.0.0.1:0\"\n[pop3]\nenabled = false\n\
             [lmtp]\nlisten = \"127.0.0.1:0\"\n[submission]\nlisten = \"127.0.0.1:0\"\n\
             [outbound]\nrelay = \"smtp://127.0.0.1:{port}\"\n\
             backoff_base_secs = 1\npoll_interval_ms = 100\n"
        ),
    )
    .unwrap();
    let server = Server::start(&env, &config, 4);
    let api = server.address("API (plain)");
    let lmtp = server.address("LMTP (plain)");
    let args = [
        format!("http://{api}"),
        "forward-test-token".into(),
        lmtp.ip().to_string(),
        lmtp.port().to_string(),
    ];
    let (status, text) = python(FORWARD_SETUP_AND_DELIVER, &args);
    assert_eq!(status, 0, "{text}");
    let codes: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(codes["rcpt"], serde_json::json!([250, 250]), "{codes}");
    assert_eq!(codes["data"], serde_json::json!([250, 250]), "{codes}");

    let mut relayed = [sink.received(), sink.received()];
    relayed.sort_by_key(|m| m["to"].to_string());
    assert_eq!(relayed[0]["to"], serde_json::json!(["copy@remote.test"]));
    assert_eq!(relayed[1]["to"], serde_json::json!(["far@remote.test"]));
    for (message, hop) in relayed.iter().zip(["ann@example.org", "fwd@example.org"]) {
        assert_eq!(message["from"], "sender@example.net", "{message}");
        let data = message["data"].as_str().unwrap();
        assert!(
            data.starts_with(&format!("Delivered-To: {hop}\r\nFrom: sender@example.net")),
            "{data}"
        );
        assert!(data.contains("Subject: forward me"), "{data}");
    }

    let inbox = imap_mailbox(&server, "INBOX");
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert!(
        inbox[0]["raw"]
            .as_str()
            .unwrap()
            .starts_with("Delivered-To: ann@example.org\r\nReturn-Path: <sender@example.net>\r\n")
    );
    eventually("the queue is empty", || queue_is_empty(&env));
}

// ---- mail stored encrypted to the user's OpenPGP key ----

/// Sets up two users over the API with the same public key, one asking for encrypted mail;
/// delivers one message to both over LMTP; prints the `keyInfo` of the first and what IMAP
/// reads from each INBOX (base64).
const ENCRYPTED_DELIVERY: &str = r#"
import base64, imaplib, json, smtplib, sys, urllib.request
base, token, lmtp_port, imap_port, key_path, message_path = sys.argv[1:7]
host = "127.0.0.1"
key = open(key_path).read()
def api(method, path, body=None):
    request = urllib.request.Request(base + path, data=json.dumps(body).encode() if body else None, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("X-Access-Token", token)
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.load(response)
    assert answer["success"] is True, answer
    return answer
sealed = api("POST", "/users", {"username": "sealed", "password": "pw-sealed-1", "address": "sealed@example.com",
                                "pubKey": key, "encryptMessages": True})["id"]
api("POST", "/users", {"username": "plain", "password": "pw-plain-1", "address": "plain@example.com",
                       "pubKey": key, "encryptMessages": False})
result = {"user": api("GET", "/users/" + sealed), "stored": {}}
lmtp = smtplib.LMTP(host, int(lmtp_port), timeout=30)
lmtp.ehlo("mta.test")
refused = lmtp.sendmail("sender@example.org", ["sealed@example.com", "plain@example.com"], open(message_path, "rb").read())
assert not refused, refused
lmtp.quit()
for user in ["sealed", "plain"]:
    imap = imaplib.IMAP4(host, int(imap_port), timeout=30)
    imap.login(user, f"pw-{user}-1")
    typ, data = imap.select("INBOX", readonly=True)
    assert typ == "OK" and data == [b"1"], data
    typ, data = imap.fetch("1", "(BODY.PEEK[])")
    result["stored"][user] = base64.b64encode(data[0][1]).decode()
    imap.logout()
print(json.dumps(result))
"#;

/// A key pair as a mail client makes one: Ed25519 for certifying, Curve25519 for encryption.
fn generate_key_pair(user_id: &str) -> pgp::composed::SignedSecretKey {
    use pgp::composed::{EncryptionCaps, KeyType, SecretKeyParamsBuilder, SubkeyParamsBuilder};
    use pgp::crypto::ecc_curve::ECCCurve;
    let encryption = SubkeyParamsBuilder::default()
        .key_type(KeyType::ECDH(ECCCurve::Curve25519Legacy))
        .can_encrypt(EncryptionCaps::All)
        .build()
        .unwrap();
    SecretKeyParamsBuilder::default()
        .key_type(KeyType::Ed25519Legacy)
        .can_certify(true)
        .can_sign(true)
        .primary_user_id(user_id.into())
        .subkeys(vec![encryption])
        .build()
        .unwrap()
        .generate(rand08::thread_rng())
        .unwrap()
}

/// The armored OpenPGP message in a stored PGP/MIME message.
fn armored_part(stored: &str) -> &str {
    let start = stored
        .find("-----BEGIN PGP MESSAGE-----")
        .expect("an armored message");
    let end = stored.find("-----END PGP MESSAGE-----").expect("its end") + 25;
    &stored[start..end]
}

/// GnuPG decrypts `armored` with `secret` imported into a scratch home; its output.
fn gpg_decrypt(env: &Env, secret: &str, armored: &str) -> Vec<u8> {
    let home = env.path("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(env.path("secret.asc"), secret).unwrap();
    std::fs::write(env.path("message.asc"), armored).unwrap();
    let gpg = |args: &[&str]| {
        Command::new("gpg")
            .arg("--homedir")
            .arg(&home)
            .args([
                "--batch",
                "--yes",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args)
            .output()
            .expect("gpg (Debian's gnupg, installed by .ci/setup)")
    };
    let imported = gpg(&["--import", env.path("secret.asc").to_str().unwrap()]);
    assert!(imported.status.success(), "{imported:?}");
    let decrypted = gpg(&["--decrypt", env.path("message.asc").to_str().unwrap()]);
    // The agent gpg started for the scratch home goes with it.
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(&home)
        .args(["--kill", "gpg-agent"])
        .output();
    assert!(decrypted.status.success(), "{decrypted:?}");
    decrypted.stdout
}

/// A user with a public key and `encryptMessages` gets LMTP mail stored as PGP/MIME: the
/// outer header readable, the body and its own header fields decrypting (with rPGP and with
/// GnuPG) to exactly what was sent. A user with the same key who did not ask for it gets the
/// bytes as sent. `GET /users/:user` tells the key's fingerprint, name and address.
#[test]
fn lmtp_mail_for_a_user_with_encryption_on_is_stored_encrypted_to_the_users_key() {
    use pgp::composed::{ArmorOptions, Message, SignedPublicKey};
    use pgp::types::{KeyDetails, Password};

    let env = Env::new();
    let config = write_config(&env, "[initial_account]\ncreate = false\n");
    enable_api(&config);
    let server = Server::start(&env, &config, 5);
    let secret = generate_key_pair("Sealed User <sealed@example.com>");
    let public = SignedPublicKey::from(secret.clone());
    std::fs::write(
        env.path("public.asc"),
        public.to_armored_string(ArmorOptions::default()).unwrap(),
    )
    .unwrap();
    let body_fields =
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n";
    let body = format!(
        "S\u{e4}\u{e4}l: the secret\r\n{}\r\n",
        "line of text ".repeat(40)
    );
    let raw = format!(
        "From: Sender <sender@example.org>\r\nTo: sealed@example.com\r\nSubject: sealed\r\n\
         Message-ID: <sealed-1@example.org>\r\nMIME-Version: 1.0\r\n{body_fields}\r\n{body}"
    );
    std::fs::write(env.path("message.eml"), &raw).unwrap();
    let lmtp = server.address("LMTP (plain)");
    let args = [
        format!("http://{}", server.address("API (plain)")),
        API_TOKEN.into(),
        lmtp.port().to_string(),
        server.address("IMAP (plain)").port().to_string(),
        env.path("public.asc").to_str().unwrap().into(),
        env.path("message.eml").to_str().unwrap().into(),
    ];
    let (status, text) = python(ENCRYPTED_DELIVERY, &args);
    assert_eq!(status, 0, "{text}");
    let result: serde_json::Value = serde_json::from_str(text.trim()).expect(&text);

    let user = &result["user"];
    assert_eq!(user["encryptMessages"], true, "{user}");
    assert_eq!(
        user["keyInfo"]["fingerprint"],
        format!("{:x}", secret.fingerprint())
    );
    assert_eq!(user["keyInfo"]["name"], "Sealed User");
    assert_eq!(user["keyInfo"]["address"], "sealed@example.com");

    let stored = |user: &str| {
        let bytes = BASE64_STANDARD
            .decode(result["stored"][user].as_str().unwrap())
            .unwrap();
        String::from_utf8(bytes).unwrap()
    };
    let trace =
        |rcpt: &str| format!("Delivered-To: {rcpt}\r\nReturn-Path: <sender@example.org>\r\n");
    assert_eq!(
        stored("plain"),
        format!("{}{raw}", trace("plain@example.com"))
    );

    let sealed = stored("sealed");
    let (header, _) = sealed.split_once("\r\n\r\n").unwrap();
    assert!(
        header.starts_with(&format!(
            "{}From: Sender <sender@example.org>\r\nTo: sealed@example.com\r\nSubject: sealed\r\n\
             Message-ID: <sealed-1@example.org>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\";",
            trace("sealed@example.com")
        )),
        "{header}"
    );
    assert!(!sealed.contains("the secret"), "{sealed}");
    assert!(sealed.contains("Content-Type: application/octet-stream; name=encrypted.asc"));
    let armored = armored_part(&sealed);
    let expected = format!("{body_fields}\r\n{body}").into_bytes();

    let (message, _) =
        Message::from_armor(std::io::Cursor::new(armored.as_bytes().to_vec())).unwrap();
    let mut decrypted = message.decrypt(&Password::empty(), &secret).unwrap();
    assert_eq!(decrypted.as_data_vec().unwrap(), expected);

    let secret_armored = secret.to_armored_string(ArmorOptions::default()).unwrap();
    assert_eq!(gpg_decrypt(&env, &secret_armored, armored), expected);
}

/// Which of the certificates given as files (`NAME=PATH` arguments after the first four) a
/// TLS handshake gets, by the name it asks for (SNI; none for `-`). After `before`, waits
/// for a line on stdin (the certificates change meanwhile), then for the default to change,
/// and checks that the session opened before is still served.
const SERVED_CERTIFICATES: &str = r#"
import hashlib, imaplib, socket, ssl, sys, time
host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
known = {}
for arg in sys.argv[5:]:
    name, path = arg.split("=", 1)
    der = ssl.PEM_cert_to_DER_cert(open(path).read())
    known[hashlib.sha256(der).hexdigest()] = name
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
def served(sni):
    with socket.create_connection((host, port), timeout=30) as raw:
        with context.wrap_socket(raw, server_hostname=None if sni == "-" else sni) as tls:
            return known.get(hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest(), "?")
asked = ["-", "mail.example.test", "x.wild.test", "other.test"]
old = imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=30)
old.login(user, password)
print("before", *[served(sni) for sni in asked], flush=True)
sys.stdin.readline()
first = served("-")
for _ in range(100):
    if served("-") != first:
        break
    time.sleep(0.1)
print("after", *[served(sni) for sni in asked], flush=True)
print("old session", old.noop()[0], old.select("INBOX")[0], flush=True)
old.logout()
"#;

#[test]
fn certificates_are_picked_by_sni_and_reloaded_on_sighup_without_dropping_sessions() {
    let env = Env::new();
    let (cert, key) = env.self_signed_certificate();
    let first_cert = env.path("first.pem");
    std::fs::copy(&cert, &first_cert).unwrap();
    let (second_cert, second_key) = env.certificate_for("second", "localhost", "DNS:localhost");
    let (stored_cert, stored_key) = env.certificate_for(
        "stored",
        "mail.example.test",
        "DNS:mail.example.test,DNS:*.wild.test",
    );
    let config = env.path("wildduck.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\ncert = {cert:?}\nkey = {key:?}\n\
             [imap]\nlisten = \"127.0.0.1:0\"\ntls_listen = \"127.0.0.1:0\"\n\
             [api]\nlisten = \"127.0.0.1:0\"\naccess_token = \"root-token\"\n\
             [pop3]\nenabled = false\n[lmtp]\nenabled = false\n[submission]\nenabled = false\n"
        ),
    )
    .unwrap();
    let server = Server::start(&env, &config, 3);
    let (user, password) = server.account.clone().unwrap();
    let imaps = server.address("IMAP (TLS)");
    let mut client = Command::new("python3")
        .arg("-c")
        .arg(SERVED_CERTIFICATES)
        .args([
            imaps.ip().to_string(),
            imaps.port().to_string(),
            user,
            password,
        ])
        .arg(format!("first={}", first_cert.display()))
        .arg(format!("second={}", second_cert.display()))
        .arg(format!("stored={}", stored_cert.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    let lines = common::line_channel(client.stdout.take().unwrap());
    let before = lines.recv_timeout(WAIT).expect("the client's first answer");
    assert_eq!(before, "before first first first first");

    // A certificate stored through the API, new files for the default, then SIGHUP.
    let pem = |path: &Path| std::fs::read_to_string(path).unwrap();
    let (status, answer) = common::api_request(
        server.address("API (plain)"),
        "POST",
        "/certs",
        Some("root-token"),
        &serde_json::json!({ "privateKey": pem(&stored_key), "cert": pem(&stored_cert) }),
    );
    assert_eq!(status, 200, "{answer}");
    std::fs::copy(&second_cert, &cert).unwrap();
    std::fs::copy(&second_key, &key).unwrap();
    server.signal(libc::SIGHUP);
    writeln!(client.stdin.as_mut().unwrap(), "go").unwrap();

    let after = lines
        .recv_timeout(WAIT)
        .expect("the client's second answer");
    let old = lines.recv_timeout(WAIT).expect("the old session's answer");
    let output = client.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(after, "after second stored stored second");
    assert_eq!(old, "old session OK OK");
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait().0, 0);
}

// ---- webhooks (events posted by the worker `serve` runs) ----

/// `serve` with only the API (root token `API_TOKEN`) and no first account, so the only
/// events are the test's own.
fn start_api_only(env: &Env) -> Server {
    start_api_with(env, "[imap]\nenabled = false\n", 1)
}

/// `serve` with the API (root token `API_TOKEN`), the outbound and webhook workers polling
/// every 100 ms, IMAP as `imap` says (`listeners` in all), no other listener.
fn start_api_with(env: &Env, imap: &str, listeners: usize) -> Server {
    let config = env.path("wildduck.toml");
    std::fs::write(
        &config,
        format!(
            "[api]\nlisten = \"127.0.0.1:0\"\naccess_token = \"{API_TOKEN}\"\n\
             [initial_account]\ncreate = false\n[outbound]\npoll_interval_ms = 100\n\
             {imap}[pop3]\nenabled = false\n[lmtp]\nenabled = false\n\
             [submission]\nenabled = false\n"
        ),
    )
    .unwrap();
    Server::start(env, &config, listeners)
}

fn add_webhook(server: &Server, types: &[&str], port: u16) -> String {
    let url = format!("http://127.0.0.1:{port}/hook");
    let created = api_call(
        server,
        "POST",
        "/webhooks",
        serde_json::json!({ "type": types, "url": url }),
    );
    created["id"].as_str().unwrap().to_string()
}

fn add_api_user(server: &Server, username: &str) -> String {
    let body = serde_json::json!({ "username": username, "password": "secret-password" });
    api_call(server, "POST", "/users", body)["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The JSON body of the sink's next request, checked to be JSON.
fn posted_event(sink: &HttpSink) -> (u16, serde_json::Value) {
    let posted = sink.posted();
    assert_eq!(posted.content_type, "application/json");
    assert_eq!(posted.path, "/hook");
    let body = serde_json::from_slice(&posted.body).expect("a JSON body");
    (posted.status, body)
}

/// A user made over the API is posted as WildDuck's `user.created`; a 500 answer is tried
/// again with the same body, and an event no pattern matches is not posted.
#[test]
fn a_new_user_is_posted_to_a_webhook_and_a_500_is_tried_again() {
    let env = Env::new();
    let port = unused_port();
    let sink = HttpSink::start(port, &[500, 200]);
    let server = start_api_only(&env);
    add_webhook(&server, &["user.*"], port);
    let wanda = add_api_user(&server, "wanda");

    let (first_status, first) = posted_event(&sink);
    let (second_status, second) = posted_event(&sink);
    assert_eq!((first_status, second_status), (500, 200));
    assert_eq!(first, second, "the retry posts the same body");
    assert_eq!(first["ev"], "user.created");
    assert_eq!(first["user"], wanda.as_str());
    assert_eq!(first["username"], "wanda");
    assert!(
        first["time"].as_u64().unwrap() > 1_700_000_000_000,
        "{first}"
    );

    // wanda's mailbox.created matches no pattern; the next post is xena's user.created.
    api_call(
        &server,
        "POST",
        &format!("/users/{wanda}/mailboxes"),
        serde_json::json!({ "path": "Projects" }),
    );
    let xena = add_api_user(&server, "xena");
    let (status, next) = posted_event(&sink);
    assert_eq!(status, 200);
    assert_eq!(
        (next["ev"].as_str(), next["user"].as_str()),
        (Some("user.created"), Some(xena.as_str()))
    );
}

/// Moves a message over IMAP (imaplib's UID MOVE): INBOX → Junk → INBOX, then once more
/// into Junk and from there to Trash.
const IMAP_JUNK_MOVES: &str = r#"
import imaplib, sys
imap = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]), timeout=30)
imap.login(sys.argv[3], sys.argv[4])
message = b"From: a@example.org\r\nSubject: cheap pills\r\n\r\nBuy now.\r\n"
assert imap.append("INBOX", None, None, message)[0] == "OK"
def move(source, target):
    imap.select(source)
    typ, data = imap.uid("SEARCH", "ALL")
    uid = data[0].split()[-1].decode()
    assert imap.uid("MOVE", uid, target)[0] == "OK", (source, target)
for source, target in [("INBOX", "Junk"), ("Junk", "INBOX"), ("INBOX", "Junk"), ("Junk", "Trash")]:
    move(source, target)
imap.logout()
print("moved")
"#;

/// IMAP MOVE into Junk and out again reaches a webhook as `marked.spam` and `marked.ham`,
/// once each per move; the move from Junk into Trash posts nothing.
#[test]
fn imap_moves_into_and_out_of_junk_are_posted_as_spam_and_ham() {
    let env = Env::new();
    let port = unused_port();
    let sink = HttpSink::start(port, &[200]);
    let server = start_api_with(&env, "[imap]\nlisten = \"127.0.0.1:0\"\n", 2);
    add_webhook(&server, &["marked.*"], port);
    let user = add_api_user(&server, "junky");
    let imap = server.address("IMAP (plain)");
    let args = [
        imap.ip().to_string(),
        imap.port().to_string(),
        "junky".into(),
        "secret-password".into(),
    ];
    let (status, text) = python(IMAP_JUNK_MOVES, &args);
    assert_eq!((status, text.trim()), (0, "moved"), "{text}");
    // The worker may post one batch's events in any order; the log's order is the store
    // conformance check's (`junk_moves_log_marked_spam_and_ham`).
    let posted: Vec<serde_json::Value> = (0..3).map(|_| posted_event(&sink).1).collect();
    let mut names: Vec<&str> = posted
        .iter()
        .map(|event| event["ev"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["marked.ham", "marked.spam", "marked.spam"]);
    assert!(posted.iter().all(|event| event["user"] == user.as_str()));
    // The worker polls every 100 ms: a post for the move into Trash would be here by now.
    std::thread::sleep(Duration::from_secs(2));
    assert!(!sink.has_more(), "the move into Trash posts nothing");
}

/// A receiver answering 410 Gone has its webhook removed.
#[test]
fn a_webhook_answering_410_is_removed() {
    let env = Env::new();
    let port = unused_port();
    let sink = HttpSink::start(port, &[410]);
    let server = start_api_only(&env);
    add_webhook(&server, &["*"], port);
    add_api_user(&server, "yuri");
    let (status, body) = posted_event(&sink);
    assert_eq!((status, body["ev"].as_str()), (410, Some("user.created")));
    eventually("the webhook is removed", || {
        api_call(&server, "GET", "/webhooks", serde_json::json!(null))["total"] == 0
    });
}

/// An event logged just before a kill -9 (its receiver not even listening yet) is posted
/// once by the restarted server.
#[test]
fn an_event_survives_kill_9_of_serve_and_is_posted_after_the_restart() {
    let env = Env::new();
    let port = unused_port();
    let server = start_api_only(&env);
    add_webhook(&server, &["user.created"], port);
    let zoe = add_api_user(&server, "zoe");
    drop(server); // SIGKILL

    let sink = HttpSink::start(port, &[200]);
    let server = start_api_only(&env);
    let (status, body) = posted_event(&sink);
    assert_eq!(status, 200);
    assert_eq!(body["user"], zoe.as_str());
    let later = add_api_user(&server, "zack");
    let (_, next) = posted_event(&sink);
    assert_eq!(next["user"], later.as_str(), "zoe's event was posted once");
}
