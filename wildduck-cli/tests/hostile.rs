//! Hostile clients against `wildduck serve`, one test per listener (IMAP, POP3, LMTP, SMTP
//! submission, HTTP API): garbage, NUL bytes, 1 MB lines, 10^12-byte literals, sizes and
//! Content-Lengths, deep nesting, slowloris, half-closed and abandoned sockets, bad TLS
//! handshakes, bad UTF-8, pipelined floods, bad commands until the server says goodbye. Each
//! abuse must get a well-formed error or a clean close (never a hang: the waits are generous
//! bounds, not timings), the process must live through all of them, and afterwards a normal
//! client (Python's imaplib, poplib, smtplib, urllib) still logs in and reads its mail.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Env, code};

/// Longest wait for the server to answer or close; only a bound against hangs.
const WAIT: Duration = Duration::from_secs(60);
const API_TOKEN: &str = "hostile-test-root-token";
/// The first account; its username is its address.
const USER: &str = "ann@hostile.example";
const PASSWORD: &str = "hostile-test-password";
const MB: usize = 1024 * 1024;

/// A running `wildduck serve` with every listener (TLS ones too) and its first account.
struct Server {
    child: Child,
    listening: Vec<(String, SocketAddr)>,
    user: String,
    password: String,
    _env: Env,
}

impl Server {
    fn start() -> Server {
        let env = Env::new();
        let (cert, key) = env.self_signed_certificate();
        let config = env.path("wildduck.toml");
        std::fs::write(
            &config,
            format!(
                "[api]\nlisten = \"127.0.0.1:0\"\naccess_token = \"{API_TOKEN}\"\n\
                 [imap]\nlisten = \"127.0.0.1:0\"\ntls_listen = \"127.0.0.1:0\"\n\
                 [pop3]\nlisten = \"127.0.0.1:0\"\ntls_listen = \"127.0.0.1:0\"\n\
                 [lmtp]\nlisten = \"127.0.0.1:0\"\n\
                 [submission]\nlisten = \"127.0.0.1:0\"\ntls_listen = \"127.0.0.1:0\"\n\
                 [tls]\ncert = {cert:?}\nkey = {key:?}\n\
                 [initial_account]\nusername = \"{USER}\"\npassword = \"{PASSWORD}\"\n"
            ),
        )
        .unwrap();
        let mut child = env
            .command(&["--config", config.to_str().unwrap(), "serve"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start wildduck serve");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut listening = Vec::new();
        while listening.len() < 8 {
            let line = lines
                .recv_timeout(WAIT)
                .expect("serve printed its listeners");
            if let Some((what, address)) = line.split_once(" listening on ") {
                listening.push((what.to_string(), address.parse().expect("an address")));
            }
        }
        Server {
            child,
            listening,
            user: USER.to_string(),
            password: PASSWORD.to_string(),
            _env: env,
        }
    }

    fn address(&self, what: &str) -> SocketAddr {
        self.listening
            .iter()
            .find(|(w, _)| w == what)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no {what} in {:?}", self.listening))
    }

    fn assert_alive(&mut self, after: &str) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "wildduck serve died after {after}"
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `input` (from a thread, so a server that answers early can not deadlock us),
/// half-closes, and returns everything until the server closes.
fn hit(address: SocketAddr, input: &[u8]) -> Vec<u8> {
    hit_then_close(address, input, None)
}

/// [`hit`] for HTTP: hyper drops a response in progress when the client half-closes, so the
/// half-close waits until the server has been silent for `quiet` (requests that say
/// `Connection: close` are answered and closed before that).
fn hit_then_close(address: SocketAddr, input: &[u8], quiet: Option<Duration>) -> Vec<u8> {
    let stream = TcpStream::connect(address).expect("connect");
    let mut writer = stream.try_clone().unwrap();
    let sent = input.to_vec();
    let writing = std::thread::spawn(move || {
        let _ = writer.write_all(&sent);
        if quiet.is_none() {
            let _ = writer.shutdown(Shutdown::Write);
        }
    });
    let answer = read_to_close(stream, quiet);
    let _ = writing.join();
    answer
}

/// Everything the server writes until it closes; panics if it neither closes nor resets
/// within [`WAIT`].
fn read_to_close(mut stream: TcpStream, mut quiet: Option<Duration>) -> Vec<u8> {
    let deadline = Instant::now() + WAIT;
    let mut answer = Vec::new();
    let mut buffer = [0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no close after {} bytes: {}",
            answer.len(),
            tail(&answer)
        );
        stream
            .set_read_timeout(Some(quiet.unwrap_or(left).min(left)))
            .unwrap();
        match stream.read(&mut buffer) {
            Ok(0) => return answer,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return answer,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if quiet.take().is_some() {
                    let _ = stream.shutdown(Shutdown::Write);
                }
            }
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// The last bytes of an answer, for messages.
fn tail(answer: &[u8]) -> String {
    String::from_utf8_lossy(&answer[answer.len().saturating_sub(300)..]).into_owned()
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

fn has(haystack: &[u8], needle: &[u8]) -> bool {
    count(haystack, needle) > 0
}

/// What an abuse must get back besides a clean close.
enum Expect {
    /// One of these in the answer.
    Any(&'static [&'static [u8]]),
    /// At least this many times.
    Times(&'static [u8], usize),
    /// Only the clean close.
    Closed,
}

fn check(what: &str, answer: &[u8], expect: &Expect) {
    let ok = match expect {
        Expect::Any(needles) => needles.iter().any(|n| has(answer, n)),
        Expect::Times(needle, n) => count(answer, needle) >= *n,
        Expect::Closed => true,
    };
    assert!(
        ok,
        "{what}: unexpected answer ({} bytes): {}",
        answer.len(),
        tail(answer)
    );
}

/// Abuses every line-based listener meets alike: the socket-level ones.
fn socket_abuses(
    server: &mut Server,
    plain: &str,
    tls: Option<&str>,
    probe: &[u8],
    greeting: &[u8],
) {
    let address = server.address(plain);
    let http = plain.starts_with("API");
    let quiet = http.then_some(Duration::from_secs(5));
    // Connect and close at once, many times.
    for _ in 0..50 {
        drop(TcpStream::connect(address).unwrap());
    }
    // Connect, say nothing, half-close: the session ends.
    let answer = hit(address, b"");
    // HTTP has no greeting: a silent client gets nothing.
    let expected: &[u8] = if http { b"" } else { greeting };
    assert!(
        answer.starts_with(expected),
        "{plain} silent client: {}",
        tail(&answer)
    );
    // Slowloris: many clients trickle a partial line while a normal one is served.
    let mut slow: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(address).unwrap())
        .collect();
    for byte in b"a NOO" {
        for stream in &mut slow {
            stream.write_all(&[*byte]).unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let answer = hit_then_close(address, probe, quiet);
    assert!(
        answer.starts_with(greeting),
        "{plain} served beside slowloris: {}",
        tail(&answer)
    );
    drop(slow);
    // Abandoned in the middle of a line without a half-close.
    {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.write_all(b"half a comm").unwrap();
    }
    // A TLS ClientHello on the plain port.
    let hello = client_hello();
    let answer = hit_then_close(address, &hello, quiet);
    assert!(
        answer.starts_with(greeting),
        "{plain} TLS hello: {}",
        tail(&answer)
    );
    if let Some(tls) = tls {
        let address = server.address(tls);
        let truncated = &hello[..hello.len() / 2];
        for bad in [
            &b"GET / HTTP/1.0\r\n\r\n"[..],
            &[0u8; 4096][..],
            truncated,
            &[0x80, 0x2e, 0x01, 0x00, 0x02][..],
        ] {
            let answer = hit(address, bad);
            assert!(
                answer.is_empty() || answer[0] == 0x15 || answer[0] == 0x16,
                "{tls}: a bad handshake got something else than a TLS alert: {}",
                tail(&answer)
            );
        }
    }
    server.assert_alive(&format!("{plain} socket abuses"));
}

/// A syntactically complete TLS 1.2 ClientHello record with one cipher suite.
fn client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend([7u8; 32]); // random
    body.push(0); // session id
    body.extend([0x00, 0x02, 0xc0, 0x2f]); // ECDHE-RSA-AES128-GCM-SHA256
    body.extend([0x01, 0x00]); // no compression
    let mut handshake = vec![0x01, 0x00, (body.len() >> 8) as u8, body.len() as u8];
    handshake.extend(body);
    let mut record = vec![
        0x16,
        0x03,
        0x01,
        (handshake.len() >> 8) as u8,
        handshake.len() as u8,
    ];
    record.extend(handshake);
    record
}

/// Runs each `(what, input, expect)` on a new connection and checks the answer.
fn run_abuses(server: &mut Server, plain: &str, abuses: Vec<(&str, Vec<u8>, Expect)>) {
    assert!(abuses.len() >= 20, "{plain}: only {} abuses", abuses.len());
    let address = server.address(plain);
    let quiet = plain.starts_with("API").then_some(Duration::from_secs(5));
    for (what, input, expect) in &abuses {
        let answer = hit_then_close(address, input, quiet);
        check(&format!("{plain} {what}"), &answer, expect);
        server.assert_alive(what);
    }
}

fn repeat(text: &str, times: usize) -> Vec<u8> {
    text.repeat(times).into_bytes()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Runs a Python script; asserts it exits 0 and returns its output.
fn python(what: &str, script: &str, args: &[String]) -> String {
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 (Debian package python3)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(code(&output), 0, "{what}: {text}");
    text
}

fn host_port(address: SocketAddr) -> [String; 2] {
    [address.ip().to_string(), address.port().to_string()]
}

const BAD: &[&[u8]] = &[b" BAD ", b" NO ", b"* BYE"];
const ERR: &[&[u8]] = &[b"-ERR"];
const SMTP_ERR: &[&[u8]] = &[b"\r\n5", b"\r\n4"];
const HTTP_ERR: &[&[u8]] = &[b"HTTP/1.1 4"];

#[test]
fn imap_survives_hostile_clients_and_still_serves_mail() {
    let mut server = Server::start();
    let login = format!(
        "a LOGIN {} {}\r\nb SELECT INBOX\r\n",
        server.user, server.password
    )
    .into_bytes();
    let logged = |rest: &[u8]| cat(&[&login, rest]);
    let abuses = vec![
        (
            "garbage",
            (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect(),
            Expect::Any(BAD),
        ),
        (
            "NUL in a command",
            b"a\0 NOOP\r\nb NO\0OP\r\n".to_vec(),
            Expect::Any(BAD),
        ),
        (
            "1 MB line",
            cat(&[b"a NOOP ", &vec![b'x'; MB], b"\r\n"]),
            Expect::Any(BAD),
        ),
        (
            "1 MB without a line end",
            vec![b'y'; MB],
            Expect::Any(&[b"* OK"]),
        ),
        (
            "10^12-byte APPEND literal",
            logged(b"c APPEND INBOX {1000000000000}\r\n"),
            Expect::Any(BAD),
        ),
        (
            "10^12-byte LITERAL+",
            logged(b"c APPEND INBOX {1000000000000+}\r\nxx\r\n"),
            Expect::Any(BAD),
        ),
        (
            "10^12-byte LOGIN literal",
            b"a LOGIN {1000000000000}\r\n".to_vec(),
            Expect::Any(BAD),
        ),
        (
            "literal cut off by close",
            b"a LOGIN {100}\r\nabc".to_vec(),
            Expect::Any(&[b"+ "]),
        ),
        (
            "literal shorter than said",
            logged(b"c APPEND INBOX {5+}\r\nSubject: x\r\n\r\nlong body\r\n"),
            Expect::Any(BAD),
        ),
        (
            "deep parentheses in FETCH",
            logged(&cat(&[b"c FETCH 1 ", &repeat("(", 100_000), b"\r\n"])),
            Expect::Any(BAD),
        ),
        (
            "deep SEARCH",
            logged(&cat(&[b"c SEARCH ", &repeat("NOT ", 50_000), b"ALL\r\n"])),
            Expect::Any(BAD),
        ),
        (
            "nested SEARCH lists",
            logged(&cat(&[
                b"c SEARCH ",
                &repeat("(", 5000),
                b"ALL",
                &repeat(")", 5000),
                b"\r\n",
            ])),
            Expect::Any(BAD),
        ),
        (
            "bad UTF-8 names",
            logged(b"c SELECT \"\xff\xfe\"\r\nd CREATE \"\xc3\x28\"\r\ne CREATE &AGE-\xff\r\n"),
            Expect::Any(BAD),
        ),
        (
            "bad UTF-8 login",
            b"a LOGIN \"\xff\" \"\xc3\x28\"\r\n".to_vec(),
            Expect::Any(BAD),
        ),
        (
            "pipelined flood",
            repeat("f NOOP\r\n", 20_000),
            Expect::Times(b"f OK", 20_000),
        ),
        (
            "60 bad commands",
            repeat("x BOGUS\r\n", 60),
            Expect::Any(&[b"* BYE"]),
        ),
        (
            "LF-only and CR-only lines",
            b"a NOOP\nb NOOP\rc NOOP\r\n".to_vec(),
            Expect::Any(&[b"OK", b" BAD "]),
        ),
        (
            "huge sequence set",
            logged(&cat(&[
                b"c FETCH ",
                &repeat("1:4294967295,", 20_000),
                b"1 FLAGS\r\n",
            ])),
            Expect::Any(&[b"c OK", b"c BAD", b"c NO"]),
        ),
        (
            "1000-byte tag",
            cat(&[&vec![b't'; 1000], b" NOOP\r\n"]),
            Expect::Any(&[b" OK ", b" BAD "]),
        ),
        (
            "untagged client lines",
            b"* NOOP\r\n+ NOOP\r\n".to_vec(),
            Expect::Any(BAD),
        ),
        (
            "AUTHENTICATE with bad base64",
            b"a AUTHENTICATE PLAIN\r\n!!!\r\nb AUTHENTICATE PLAIN\r\n*\r\n".to_vec(),
            Expect::Any(BAD),
        ),
        // Over the line limit the exchange ends with the connection.
        (
            "AUTHENTICATE with 1 MB",
            cat(&[b"a AUTHENTICATE PLAIN\r\n", &vec![b'A'; MB], b"\r\n"]),
            Expect::Any(&[b"+ "]),
        ),
        (
            "IDLE then garbage",
            logged(b"c IDLE\r\n\xff\xfe garbage\r\nDONE\r\n"),
            Expect::Any(&[b"+ idling", b"c BAD", b"c OK"]),
        ),
        (
            "COMPRESS then plain bytes",
            logged(b"c COMPRESS DEFLATE\r\nd NOOP\r\n"),
            Expect::Any(&[b"c OK"]),
        ),
        (
            "STARTTLS then garbage",
            b"a STARTTLS\r\nnot tls at all\r\n".to_vec(),
            Expect::Any(&[b"a OK"]),
        ),
    ];
    run_abuses(&mut server, "IMAP (plain)", abuses);
    socket_abuses(
        &mut server,
        "IMAP (plain)",
        Some("IMAP (TLS)"),
        b"a NOOP\r\n",
        b"* OK",
    );
    let [host, port] = host_port(server.address("IMAP (plain)"));
    python(
        "imaplib after the abuse",
        r#"
import imaplib, sys
imap = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]), timeout=60)
imap.login(sys.argv[3], sys.argv[4])
typ, data = imap.select("INBOX")
assert typ == "OK" and int(data[0]) >= 1, data
typ, data = imap.fetch("1", "(BODY.PEEK[])")
assert typ == "OK" and b"Subject: Welcome to WildDuck" in data[0][1], data
imap.logout()
"#,
        &[host, port, server.user.clone(), server.password.clone()],
    );
}

#[test]
fn pop3_survives_hostile_clients_and_still_serves_mail() {
    let mut server = Server::start();
    let login = format!("USER {}\r\nPASS {}\r\n", server.user, server.password).into_bytes();
    let logged = |rest: &[u8]| cat(&[&login, rest]);
    let abuses = vec![
        (
            "garbage",
            (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect(),
            Expect::Any(ERR),
        ),
        (
            "NUL in a command",
            b"NO\0OP\r\nUSER a\0b\r\n".to_vec(),
            Expect::Any(ERR),
        ),
        (
            "1 MB line",
            cat(&[b"USER ", &vec![b'x'; MB], b"\r\n"]),
            Expect::Any(ERR),
        ),
        // A line that never ends is no command: the session closes at the end of input.
        (
            "1 MB without a line end",
            vec![b'y'; MB],
            Expect::Any(&[b"+OK"]),
        ),
        (
            "10^12 TOP lines",
            logged(b"TOP 1 1000000000000\r\n"),
            Expect::Any(&[b"+OK"]),
        ),
        (
            "message number past u32",
            logged(b"RETR 99999999999999999999\r\nLIST 4294967296\r\nDELE 0\r\nLIST -1\r\n"),
            Expect::Times(b"-ERR", 4),
        ),
        (
            "PASS before USER",
            b"PASS secret\r\n".to_vec(),
            Expect::Any(ERR),
        ),
        (
            "bad UTF-8 user",
            b"USER \xff\xfe\r\nPASS \xc3\x28\r\n".to_vec(),
            Expect::Any(ERR),
        ),
        (
            "AUTH with bad base64",
            b"AUTH PLAIN !!!\r\nAUTH PLAIN\r\n*\r\n".to_vec(),
            Expect::Any(ERR),
        ),
        (
            "AUTH with 1 MB",
            cat(&[b"AUTH PLAIN\r\n", &vec![b'A'; MB], b"\r\n"]),
            Expect::Any(ERR),
        ),
        (
            "malformed XOAUTH2, unknown mechanism",
            b"AUTH XOAUTH2 dXNlcj0=\r\nAUTH CRAM-MD5\r\n".to_vec(),
            Expect::Any(ERR),
        ),
        (
            "deep nesting",
            cat(&[b"LIST ", &repeat("(", 1500), b"\r\n"]),
            Expect::Any(ERR),
        ),
        (
            "transaction commands unauthenticated",
            b"STAT\r\nRETR 1\r\nDELE 1\r\n".to_vec(),
            Expect::Times(b"-ERR", 3),
        ),
        (
            "pipelined flood",
            logged(&repeat("NOOP\r\n", 20_000)),
            Expect::Times(b"+OK", 20_000),
        ),
        ("60 bad commands", repeat("BOGUS\r\n", 60), Expect::Any(ERR)),
        (
            "LF-only and CR-only lines",
            b"CAPA\nNOOP\rQUIT\r\n".to_vec(),
            Expect::Any(&[b"+OK"]),
        ),
        ("empty lines", repeat("\r\n", 100), Expect::Any(ERR)),
        (
            "unicode command names",
            "ÜSER x\r\nＱＵＩＴ\r\n".as_bytes().to_vec(),
            Expect::Any(ERR),
        ),
        (
            "APOP",
            b"APOP user 0123456789abcdef0123456789abcdef\r\n".to_vec(),
            Expect::Any(ERR),
        ),
        (
            "STLS then garbage",
            b"STLS\r\nnot tls\r\n".to_vec(),
            Expect::Any(&[b"+OK"]),
        ),
        (
            "quit in the middle of a retrieval burst",
            logged(&repeat("RETR 1\r\n", 200)),
            Expect::Times(b"+OK", 200),
        ),
        (
            "wrong password",
            b"USER nobody\r\nPASS wrong\r\n".to_vec(),
            Expect::Any(ERR),
        ),
    ];
    run_abuses(&mut server, "POP3 (plain)", abuses);
    socket_abuses(
        &mut server,
        "POP3 (plain)",
        Some("POP3 (TLS)"),
        b"CAPA\r\n",
        b"+OK",
    );
    let [host, port] = host_port(server.address("POP3 (plain)"));
    python(
        "poplib after the abuse",
        r#"
import poplib, sys
pop = poplib.POP3(sys.argv[1], int(sys.argv[2]), timeout=60)
pop.user(sys.argv[3]); pop.pass_(sys.argv[4])
assert pop.stat()[0] >= 1
resp, lines, octets = pop.retr(1)
assert b"Subject: Welcome to WildDuck" in lines, lines
pop.quit()
"#,
        &[host, port, server.user.clone(), server.password.clone()],
    );
}

/// The abuses SMTP-speaking listeners share; `hello` opens a session, `envelope` starts a
/// transaction to a real recipient.
fn smtp_abuses(hello: &[u8], envelope: &[u8]) -> Vec<(&'static str, Vec<u8>, Expect)> {
    let opened = |rest: &[u8]| cat(&[hello, rest]);
    let transaction = |rest: &[u8]| cat(&[hello, envelope, rest]);
    vec![
        (
            "garbage",
            (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect(),
            Expect::Any(SMTP_ERR),
        ),
        (
            "NUL in a command",
            opened(b"NO\0OP\r\nMAIL FROM:<a\0b@x>\r\n"),
            Expect::Any(SMTP_ERR),
        ),
        (
            "1 MB line",
            opened(&cat(&[b"NOOP ", &vec![b'x'; MB], b"\r\n"])),
            Expect::Any(SMTP_ERR),
        ),
        // A line that never ends is no command: the session closes at the end of input.
        (
            "1 MB without a line end",
            vec![b'y'; MB],
            Expect::Any(&[b"220 "]),
        ),
        (
            "10^12-byte SIZE",
            opened(b"MAIL FROM:<a@example.org> SIZE=1000000000000\r\n"),
            Expect::Any(&[b"\r\n552", b"\r\n5"]),
        ),
        // RFC 3030: a chunk is read whatever its size, its reply comes after it; this one
        // never ends, so the session ends with the input, answering nothing.
        (
            "10^12-byte BDAT",
            transaction(b"BDAT 1000000000000 LAST\r\nabc"),
            Expect::Closed,
        ),
        (
            "BDAT shorter than said",
            transaction(b"BDAT 100 LAST\r\nSubject: x\r\n\r\n"),
            Expect::Any(&[b"\r\n250"]),
        ),
        (
            "deep source route",
            opened(&cat(&[
                b"MAIL FROM:<",
                &repeat("@a.example,", 20_000),
                b"@b:x@y>\r\n",
            ])),
            Expect::Any(SMTP_ERR),
        ),
        (
            "RCPT before MAIL, DATA before RCPT",
            opened(b"RCPT TO:<x@y>\r\nDATA\r\n"),
            Expect::Times(b"\r\n5", 2),
        ),
        (
            "bad UTF-8 addresses",
            opened(b"MAIL FROM:<\xff\xfe@x>\r\nRCPT TO:<\xc3\x28@y>\r\n"),
            Expect::Any(SMTP_ERR),
        ),
        (
            "pipelined flood",
            opened(&repeat("NOOP\r\n", 20_000)),
            Expect::Times(b"250", 20_000),
        ),
        (
            "60 bad commands",
            repeat("BOGUS\r\n", 60),
            Expect::Any(&[b"\r\n421", b"\r\n5"]),
        ),
        (
            "LF-only lines",
            b"NOOP\nNOOP\n".to_vec(),
            Expect::Any(&[b"\r\n250", b"\r\n5"]),
        ),
        (
            "DATA cut off by close",
            transaction(b"DATA\r\nSubject: x\r\n\r\nno end"),
            Expect::Any(&[b"\r\n354"]),
        ),
        (
            "DATA with bare LF and NUL",
            transaction(b"DATA\r\nSubject: x\n\nbody\0\n.\r\n"),
            Expect::Any(&[b"\r\n250", b"\r\n5"]),
        ),
        (
            "huge hello",
            cat(&[b"EHLO ", &vec![b'h'; 100_000], b"\r\n"]),
            Expect::Any(SMTP_ERR),
        ),
        (
            "many parameters",
            opened(&cat(&[
                b"MAIL FROM:<a@example.org>",
                &repeat(" X=1", 2000),
                b"\r\n",
            ])),
            Expect::Any(SMTP_ERR),
        ),
        (
            "too many recipients",
            cat(&[
                hello,
                envelope,
                &repeat("RCPT TO:<nobody@nowhere.example>\r\n", 1500),
            ]),
            Expect::Any(SMTP_ERR),
        ),
        (
            "VRFY, EXPN, ETRN",
            opened(b"VRFY root\r\nEXPN staff\r\nETRN x\r\n"),
            Expect::Any(SMTP_ERR),
        ),
        (
            "unicode verbs",
            "ＨＥＬＯ x\r\nMAİL FROM:<a@b>\r\n".as_bytes().to_vec(),
            Expect::Any(SMTP_ERR),
        ),
        (
            "BDAT then DATA",
            transaction(b"BDAT 3\r\nabcDATA\r\n"),
            Expect::Any(SMTP_ERR),
        ),
    ]
}

#[test]
fn lmtp_survives_hostile_clients_and_still_delivers() {
    let mut server = Server::start();
    let envelope =
        format!("MAIL FROM:<a@example.org>\r\nRCPT TO:<{}>\r\n", server.user).into_bytes();
    let abuses = smtp_abuses(b"LHLO mta.example\r\n", &envelope);
    run_abuses(&mut server, "LMTP (plain)", abuses);
    socket_abuses(&mut server, "LMTP (plain)", None, b"LHLO x\r\n", b"220");
    let [lmtp_host, lmtp_port] = host_port(server.address("LMTP (plain)"));
    let [imap_host, imap_port] = host_port(server.address("IMAP (plain)"));
    python(
        "smtplib.LMTP after the abuse",
        r#"
import imaplib, smtplib, sys
lmtp = smtplib.LMTP(sys.argv[1], int(sys.argv[2]), timeout=60)
lmtp.ehlo("mta.example")
refused = lmtp.sendmail("a@example.org", [sys.argv[5]], b"Subject: after the storm\r\n\r\nStill here.\r\n")
assert not refused, refused
lmtp.quit()
imap = imaplib.IMAP4(sys.argv[3], int(sys.argv[4]), timeout=60)
imap.login(sys.argv[5], sys.argv[6])
imap.select("INBOX", readonly=True)
typ, data = imap.search(None, 'SUBJECT "after the storm"')
ids = data[0].split()
assert ids, data
typ, data = imap.fetch(ids[-1], "(BODY.PEEK[TEXT])")
assert b"Still here." in data[0][1], data
imap.logout()
"#,
        &[
            lmtp_host,
            lmtp_port,
            imap_host,
            imap_port,
            server.user.clone(),
            server.password.clone(),
        ],
    );
}

#[test]
fn submission_survives_hostile_clients_and_still_sends() {
    let mut server = Server::start();
    let auth = base64_plain(&server.user, &server.password);
    let hello = format!("EHLO client.example\r\nAUTH PLAIN {auth}\r\n").into_bytes();
    let envelope = format!("MAIL FROM:<{0}>\r\nRCPT TO:<{0}>\r\n", server.user).into_bytes();
    let mut abuses = smtp_abuses(&hello, &envelope);
    abuses.extend([
        (
            "AUTH with bad base64",
            b"EHLO x\r\nAUTH PLAIN !!!\r\nAUTH LOGIN\r\n*\r\n".to_vec(),
            Expect::Any(&[b"\r\n501"]),
        ),
        (
            "AUTH with 1 MB",
            cat(&[b"EHLO x\r\nAUTH PLAIN\r\n", &vec![b'A'; MB], b"\r\n"]),
            Expect::Any(SMTP_ERR),
        ),
        (
            "malformed XOAUTH2",
            b"EHLO x\r\nAUTH XOAUTH2 dXNlcj0=\r\n".to_vec(),
            Expect::Any(SMTP_ERR),
        ),
        (
            "MAIL before AUTH",
            b"EHLO x\r\nMAIL FROM:<a@b>\r\n".to_vec(),
            Expect::Any(SMTP_ERR),
        ),
        (
            "STARTTLS then garbage",
            b"EHLO x\r\nSTARTTLS\r\nnot tls\r\n".to_vec(),
            Expect::Any(&[b"\r\n220"]),
        ),
    ]);
    run_abuses(&mut server, "SMTP (plain)", abuses);
    socket_abuses(
        &mut server,
        "SMTP (plain)",
        Some("SMTP (TLS)"),
        b"EHLO x\r\n",
        b"220",
    );
    let [host, port] = host_port(server.address("SMTP (plain)"));
    let [imap_host, imap_port] = host_port(server.address("IMAP (plain)"));
    python(
        "smtplib after the abuse",
        r#"
import imaplib, smtplib, sys
smtp = smtplib.SMTP(sys.argv[1], int(sys.argv[2]), timeout=60)
smtp.login(sys.argv[5], sys.argv[6])
refused = smtp.sendmail(sys.argv[5], [sys.argv[5]], b"From: " + sys.argv[5].encode() + b"\r\nSubject: sent after the storm\r\n\r\nStill here.\r\n")
assert not refused, refused
smtp.quit()
imap = imaplib.IMAP4(sys.argv[3], int(sys.argv[4]), timeout=60)
imap.login(sys.argv[5], sys.argv[6])
typ, data = imap.list()
sent = [line for line in data if b"\\Sent" in line]
assert sent, data
name = sent[0].decode().rsplit(' "/" ', 1)[1]
imap.select(name, readonly=True)
typ, data = imap.search(None, 'SUBJECT "sent after the storm"')
assert data[0].split(), data
imap.logout()
"#,
        &[
            host,
            port,
            imap_host,
            imap_port,
            server.user.clone(),
            server.password.clone(),
        ],
    );
}

fn base64_plain(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::prelude::BASE64_STANDARD.encode(format!("\0{user}\0{password}"))
}

#[test]
fn api_survives_hostile_clients_and_still_serves_mail() {
    let mut server = Server::start();
    let request = |method: &str, path: &str, headers: &str, body: &[u8]| {
        cat(&[
            format!(
                "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Access-Token: {API_TOKEN}\r\n\
                 Content-Type: application/json\r\n{headers}Content-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
            body,
        ])
    };
    let post = |body: &[u8]| request("POST", "/users", "", body);
    let raw_head = |head: &str| {
        format!("{head}\r\nHost: x\r\nConnection: close\r\nX-Access-Token: {API_TOKEN}\r\n\r\n")
            .into_bytes()
    };
    let abuses = vec![
        ("garbage", (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect(), Expect::Any(HTTP_ERR)),
        ("NUL in the path", raw_head("GET /us\0ers HTTP/1.1"), Expect::Any(HTTP_ERR)),
        ("1 MB URL", raw_head(&format!("GET /users?{} HTTP/1.1", "x".repeat(MB))), Expect::Any(HTTP_ERR)),
        ("1 MB header", raw_head(&format!("GET /users HTTP/1.1\r\nX-Big: {}", "x".repeat(MB))), Expect::Any(HTTP_ERR)),
        ("10^12-byte Content-Length", format!("POST /users HTTP/1.1\r\nHost: x\r\nX-Access-Token: {API_TOKEN}\r\nContent-Length: 1000000000000\r\n\r\n{{}}").into_bytes(), Expect::Any(&[b"HTTP/1.1 4", b"HTTP/1.1 5"])),
        ("negative Content-Length", raw_head("POST /users HTTP/1.1\r\nContent-Length: -1"), Expect::Any(HTTP_ERR)),
        ("two Content-Lengths", raw_head("POST /users HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3"), Expect::Any(HTTP_ERR)),
        ("bad chunk size", cat(&[&raw_head("POST /users HTTP/1.1\r\nTransfer-Encoding: chunked")[..], b"zz\r\n{}\r\n0\r\n\r\n"]), Expect::Any(HTTP_ERR)),
        ("JSON nested 100k deep", post(&cat(&[&repeat("[", 100_000), &repeat("]", 100_000)])), Expect::Any(HTTP_ERR)),
        ("JSON objects nested deep", post(&repeat("{\"a\":", 100_000)), Expect::Any(HTTP_ERR)),
        ("bad UTF-8 in JSON", post(b"{\"username\":\"\xff\xfe\",\"password\":\"x\"}"), Expect::Any(HTTP_ERR)),
        ("not JSON", post(b"username=x&password=y"), Expect::Any(HTTP_ERR)),
        ("JSON array body", post(b"[1,2,3]"), Expect::Any(HTTP_ERR)),
        ("wrong types", post(b"{\"username\":[],\"password\":{},\"quota\":\"lots\"}"), Expect::Any(HTTP_ERR)),
        ("10000 header lines", raw_head(&format!("GET /users HTTP/1.1{}", "\r\nX-A: b".repeat(10_000))), Expect::Any(HTTP_ERR)),
        // hyper (HTTP/1 only here) closes on the HTTP/2 preface without an answer.
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(), Expect::Closed),
        ("pipelined flood", repeat(&format!("GET /health HTTP/1.1\r\nHost: x\r\nX-Access-Token: {API_TOKEN}\r\n\r\n"), 2000), Expect::Times(b"HTTP/1.1 200", 2000)),
        ("path traversal and bad escapes", raw_head("GET /users/..%2F..%2Fetc%2Fpasswd/%ZZ?limit=%FF HTTP/1.1"), Expect::Any(HTTP_ERR)),
        ("ids that are not ids", request("GET", "/users/zzzzzzzzzzzzzzzzzzzzzzzz/mailboxes/-1/messages/99999999999999999999", "", b""), Expect::Any(HTTP_ERR)),
        ("huge limit", request("GET", "/users?limit=1000000000000&page=-5", "", b""), Expect::Any(HTTP_ERR)),
        ("unknown method", raw_head("BREW /users HTTP/1.1"), Expect::Any(HTTP_ERR)),
        ("request cut off by close", b"POST /users HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"user".to_vec(), Expect::Closed),
        ("no token", b"GET /users HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), Expect::Any(HTTP_ERR)),
    ];
    run_abuses(&mut server, "API (plain)", abuses);
    socket_abuses(
        &mut server,
        "API (plain)",
        None,
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
        b"HTTP/1.1",
    );
    let base = format!("http://{}", server.address("API (plain)"));
    python(
        "urllib after the abuse",
        r#"
import json, sys, urllib.request
base, token, username = sys.argv[1:4]
def get(path):
    request = urllib.request.Request(base + path, headers={"X-Access-Token": token})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())
user = get("/users/resolve/" + username)["id"]
inbox = [m for m in get("/users/%s/mailboxes" % user)["results"] if m["path"] == "INBOX"][0]
messages = get("/users/%s/mailboxes/%s/messages" % (user, inbox["id"]))["results"]
assert any(m["subject"] == "Welcome to WildDuck" for m in messages), messages
"#,
        &[base, API_TOKEN.into(), server.user.clone()],
    );
}

#[test]
fn bad_config_files_are_refused_with_a_message() {
    let env = Env::new();
    let bad: &[&[u8]] = &[
        b"\xff\xfe not utf-8",
        b"[imap\nlisten = 1",
        b"[imap]\nmax_line_length = -1\n",
        b"[imap]\nmax_line_length = 100000000000000000000\n",
        b"[imap]\nlisten = \"not an address\"\n",
        b"[pop3]\nmax_connections = \"many\"\n",
        b"[lmtp]\nunknown_key = 1\n",
        b"[store]\nbackend = \"oracle\"\n",
        b"imap = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
        b"a = \"\\u0000\\uD800\"\n",
    ];
    for (i, text) in bad.iter().enumerate() {
        let path = env.path(&format!("bad{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let output = env.run(&["--config", path.to_str().unwrap(), "serve"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_ne!(code(&output), 0, "config {i} was accepted");
        assert!(!stderr.contains("panicked"), "config {i}: {stderr}");
        assert!(
            stderr.trim().len() > 10,
            "config {i} without a message: {stderr}"
        );
    }
}
