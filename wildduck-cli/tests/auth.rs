//! Who may log in to what, as an operator sets it up with the CLI and stock clients meet it:
//! the account password, application-specific passwords (all scopes, one scope, expired),
//! a disabled scope, TOTP on, a temporary password, a disabled and a suspended account —
//! each tried over IMAP (imaplib), POP3 (poplib), submission (smtplib AUTH) and the API's
//! `POST /authenticate` against one `wildduck serve`, and each attempt found in the user's
//! auth log. The API's access tokens log in over OAUTHBEARER and XOAUTH2 (imaplib
//! `authenticate`, smtplib `auth`, POP3 AUTH) and open the API: valid, expired, revoked,
//! another user's, a disabled scope, TOTP on. The server's log must give each refusal's
//! reason and never a password, ASP, token, TOTP seed or code.
//! The API's logout and a suspension end the user's live IMAP and POP3 sessions. TOTP 2FA is
//! driven through the API with codes from pyotp.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Env, code};
use serde_json::{Value, json};

const ROOT_TOKEN: &str = "auth-test-root-token";
const TOTP_SECRET: &str = "auth-test-totp-secret";

/// `wildduck serve` with IMAP, POP3, submission and the API on ephemeral loopback ports;
/// stderr (the log) goes to a file.
struct Server {
    child: Child,
    listening: Vec<(String, SocketAddr)>,
}

impl Server {
    /// The server's configuration file, written once; the CLI reads it too for the TOTP
    /// secret.
    fn config(env: &Env) -> String {
        Server::config_with(env, "")
    }

    /// The configuration with `api` added to its `[api]` section.
    fn config_with(env: &Env, api: &str) -> String {
        let config = env.path("wildduck.toml");
        std::fs::write(
            &config,
            format!(
                "[api]\nlisten = \"127.0.0.1:0\"\naccess_token = \"{ROOT_TOKEN}\"\n{api}\n\
                 [imap]\nlisten = \"127.0.0.1:0\"\n[pop3]\nlisten = \"127.0.0.1:0\"\n\
                 [lmtp]\nenabled = false\n\
                 [submission]\nlisten = \"127.0.0.1:0\"\n\
                 [limits]\nmax_user_failures = 1000\nmax_ip_failures = 1000\n\
                 failure_delay_ms = 0\nmax_failure_delay_ms = 0\n\
                 [initial_account]\ncreate = false\n[log]\nformat = \"json\"\n\
                 [totp]\nsecret = \"{TOTP_SECRET}\"\n"
            ),
        )
        .unwrap();
        config.to_str().unwrap().to_string()
    }

    fn start(env: &Env) -> Server {
        Server::start_with(env, "")
    }

    fn start_with(env: &Env, api: &str) -> Server {
        let config = Server::config_with(env, api);
        let log = std::fs::File::create(env.path("serve.log")).unwrap();
        let mut child = env
            .command(&["--config", &config, "serve"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start wildduck serve");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut listening = Vec::new();
        while listening.len() < 4 {
            let line = lines
                .next()
                .expect("serve printed its four listeners")
                .unwrap();
            if let Some((what, address)) = line.split_once(" listening on ") {
                listening.push((what.to_string(), address.parse().expect("an address")));
            }
        }
        Server { child, listening }
    }

    fn address(&self, what: &str) -> SocketAddr {
        self.listening
            .iter()
            .find(|(w, _)| w == what)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no {what} in {:?}", self.listening))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A user token from the API's `POST /authenticate`.
fn access_token(api: SocketAddr, user: &str, password: &str) -> String {
    let (status, doc) = common::api_request(
        api,
        "POST",
        "/authenticate",
        Some(ROOT_TOKEN),
        &json!({"username": user, "password": password, "token": true}),
    );
    assert_eq!(status, 200, "{doc}");
    doc["token"].as_str().expect("a token").to_string()
}

/// Creates an ASP with the CLI; returns its password.
fn add_asp(env: &Env, user: &str, extra: &[&str]) -> String {
    let mut args = vec!["asp", "add", user, "--description", "client"];
    args.extend_from_slice(extra);
    let doc = env.ok(&args);
    doc["password"].as_str().expect("password").to_string()
}

/// One row of the login table: who, with what, and which protocols accept it (imap, pop3,
/// master — the API —, smtp — submission). `source` is what the auth log says opened an
/// accepted login; `flags` what the API answers beside an accepted `master` login.
struct Row<'a> {
    name: &'a str,
    user: &'a str,
    password: &'a str,
    expect: [bool; 4],
    source: &'a str,
    flags: (bool, bool),
    reads_as_wrong_password: bool,
    /// `password` is an access token, offered through this SASL mechanism (and to the API
    /// as its token).
    mechanism: Option<&'static str>,
}

impl Row<'_> {
    fn new<'a>(name: &'a str, user: &'a str, password: &'a str, expect: [bool; 4]) -> Row<'a> {
        Row {
            name,
            user,
            password,
            expect,
            source: "master",
            flags: (false, false),
            reads_as_wrong_password: true,
            mechanism: None,
        }
    }

    fn by_token(self, mechanism: &'static str) -> Self {
        Row {
            source: "token",
            mechanism: Some(mechanism),
            ..self
        }
    }

    fn by_asp(self) -> Self {
        Row {
            source: "asp",
            ..self
        }
    }

    /// The account's state is told: the refusal does not read as a wrong password.
    fn account_state(self) -> Self {
        Row {
            reads_as_wrong_password: false,
            ..self
        }
    }

    fn json(&self) -> Value {
        let [imap, pop3, master, smtp] = self.expect;
        json!({
            "name": self.name, "user": self.user, "password": self.password,
            "expect": { "imap": imap, "pop3": pop3, "master": master, "smtp": smtp },
            "source": self.source,
            "require2fa": self.flags.0,
            "requirePasswordChange": self.flags.1,
            "reads_as_wrong_password": self.reads_as_wrong_password,
            "mechanism": self.mechanism,
        })
    }
}

#[test]
fn login_table_over_imap_pop3_submission_and_the_api() {
    let env = Env::new();
    let password = "account pass 1";
    for name in [
        "plain", "phone", "scoped", "expiring", "noimap", "off", "paused", "guarded", "reset",
    ] {
        env.add_user(name, password);
    }
    let all_scopes = add_asp(&env, "phone", &[]);
    let pop3_only = add_asp(&env, "scoped", &["--scopes", "pop3"]);
    let imap_only = add_asp(&env, "scoped", &["--scopes", "imap"]);
    let expiring = add_asp(&env, "expiring", &["--ttl", "1"]);
    let doc = env.ok(&["user", "set", "noimap", "--disabled-scopes", "imap"]);
    assert_eq!(doc["user"]["disabled_scopes"], json!(["imap"]), "{doc}");
    env.ok(&["user", "disable", "off"]);
    let doc = env.ok(&["user", "set", "paused", "--suspended", "true"]);
    assert_eq!(doc["user"]["suspended"], true, "{doc}");
    // TOTP on for `guarded`, enabled with a code from pyotp; mail clients then need an ASP.
    let config = Server::config(&env);
    let setup = env.ok(&["--config", &config, "user", "2fa", "setup", "guarded"]);
    let seed = setup["seed"].as_str().expect("a seed").to_string();
    let enabling_code = pyotp_code(&seed);
    let doc = env.ok(&[
        "--config",
        &config,
        "user",
        "2fa",
        "enable",
        "guarded",
        &enabling_code,
    ]);
    assert_eq!(doc["totp"], true, "{doc}");
    let guarded_asp = add_asp(&env, "guarded", &[]);
    // The CLI refuses what it can not set, and changes nothing.
    env.fails(
        &["user", "set", "plain", "--disabled-scopes", "imap,master"],
        64,
        "usage",
    );
    env.fails(&["user", "set", "plain"], 64, "usage");
    env.fails(
        &[
            "asp",
            "add",
            "plain",
            "--description",
            "x",
            "--password",
            "short",
        ],
        65,
        "data",
    );
    assert_eq!(
        env.ok(&["user", "show", "plain"])["user"]["disabled_scopes"],
        json!([])
    );

    // A token that lives one second after its last use, from a server so configured; the
    // store keeps it (and its TTL) for the next server.
    // Each token comes from an API login, which the users' auth logs show.
    let mut api_logins = serde_json::Map::new();
    let mut issue = |api: SocketAddr, user: &str| {
        let count = api_logins.entry(user).or_insert(json!(0));
        *count = json!(count.as_u64().unwrap() + 1);
        access_token(api, user, password)
    };
    let expired_token = {
        let short_lived = Server::start_with(&env, "token_ttl = 1");
        issue(short_lived.address("API (plain)"), "plain")
    };
    let server = Server::start(&env);
    let api = server.address("API (plain)");
    let token = issue(api, "plain");
    let revoked_token = issue(api, "plain");
    let (status, doc) = common::api_request(
        api,
        "DELETE",
        "/authenticate",
        Some(&revoked_token),
        &json!({}),
    );
    assert_eq!(status, 200, "{doc}");
    let noimap_token = issue(api, "noimap");
    let guarded_token = issue(api, "guarded");
    // A temporary password, as the API's reset makes one.
    let reset = env.ok(&["user", "show", "reset"])["user"]["id"]
        .as_str()
        .expect("an id")
        .to_string();
    let (status, doc) = common::api_request(
        api,
        "POST",
        &format!("/users/{reset}/password/reset"),
        Some(ROOT_TOKEN),
        &json!({}),
    );
    assert_eq!(status, 200, "{doc}");
    let temporary = doc["password"].as_str().expect("a password").to_string();
    // A one-second TTL, in whole seconds: 1.1 s later it has passed.
    std::thread::sleep(Duration::from_millis(1100));

    let spaced_asp = spaced(&all_scopes);
    // Columns: imap, pop3, master (API), smtp (submission).
    let rows = [
        Row::new("password", "plain", password, [true; 4]),
        Row::new("wrong password", "plain", "wrong", [false; 4]),
        Row::new("unknown user", "nobody", password, [false; 4]),
        Row::new(
            "ASP, all scopes",
            "phone",
            &all_scopes,
            [true, true, false, true],
        )
        .by_asp(),
        Row::new(
            "ASP, spaced and upper-case",
            "phone",
            &spaced_asp,
            [true, true, false, true],
        )
        .by_asp(),
        Row::new("password beside the ASP", "phone", password, [true; 4]),
        Row::new(
            "ASP for pop3 only",
            "scoped",
            &pop3_only,
            [false, true, false, false],
        )
        .by_asp(),
        Row::new(
            "ASP for imap only",
            "scoped",
            &imap_only,
            [true, false, false, false],
        )
        .by_asp(),
        Row::new("another user's ASP", "plain", &all_scopes, [false; 4]),
        Row::new("expired ASP", "expiring", &expiring, [false; 4]),
        Row::new(
            "imap disabled, password",
            "noimap",
            password,
            [false, true, true, true],
        ),
        Row {
            flags: (true, false),
            ..Row::new(
                "2FA on, password",
                "guarded",
                password,
                [false, false, true, false],
            )
        },
        Row::new(
            "2FA on, ASP",
            "guarded",
            &guarded_asp,
            [true, true, false, true],
        )
        .by_asp(),
        Row {
            source: "temporary",
            flags: (false, true),
            ..Row::new(
                "temporary password",
                "reset",
                &temporary,
                [false, false, true, false],
            )
        },
        Row::new("disabled account", "off", password, [false; 4]).account_state(),
        Row::new("disabled account, wrong", "off", "wrong", [false; 4]),
        Row::new("suspended account", "paused", password, [false; 4]).account_state(),
        Row::new("token, OAUTHBEARER", "plain", &token, [true; 4]).by_token("OAUTHBEARER"),
        Row::new("token, XOAUTH2", "plain", &token, [true; 4]).by_token("XOAUTH2"),
        Row::new("expired token", "plain", &expired_token, [false; 4]).by_token("OAUTHBEARER"),
        Row::new("revoked token", "plain", &revoked_token, [false; 4]).by_token("XOAUTH2"),
        Row::new("another user's token", "phone", &token, [false; 4]).by_token("OAUTHBEARER"),
        Row::new(
            "token, imap disabled",
            "noimap",
            &noimap_token,
            [false, true, true, true],
        )
        .by_token("XOAUTH2"),
        Row::new(
            "token, 2FA on",
            "guarded",
            &guarded_token,
            [false, false, true, false],
        )
        .by_token("OAUTHBEARER"),
    ];
    let table = json!({
        "rows": rows.iter().map(Row::json).collect::<Vec<_>>(),
        "api_logins": api_logins,
    });
    let table_path = env.path("table.json");
    std::fs::write(&table_path, table.to_string()).unwrap();

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/auth/login_table.py");
    let output = Command::new("python3")
        .arg(script)
        .arg("127.0.0.1")
        .arg(server.address("IMAP (plain)").port().to_string())
        .arg(server.address("POP3 (plain)").port().to_string())
        .arg(server.address("SMTP (plain)").port().to_string())
        .arg(format!("http://{api}"))
        .arg(ROOT_TOKEN)
        .arg(&table_path)
        .output()
        .expect("python3");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    drop(server);
    assert_eq!(code(&output), 0, "{report}");
    eprintln!("{report}");

    // The ASPs' last use is recorded (IMAP, then POP3, then submission).
    let listed = env.ok(&["asp", "list", "phone"]);
    let asp = &listed["asps"][0];
    assert_eq!(asp["last_scope"], "smtp", "{listed}");
    assert_eq!(asp["last_ip"], "127.0.0.1", "{listed}");
    assert!(asp["last_used"].is_string(), "{listed}");

    // The CLI reads the same auth log the API showed the script.
    let authlog = env.ok(&["user", "authlog", "guarded", "--limit", "3"]);
    let events = authlog["events"].as_array().expect("events");
    assert_eq!(events.len(), 3, "{authlog}");
    assert!(
        events
            .iter()
            .all(|event| event["action"] == "authentication"),
        "{authlog}"
    );

    let log = serve_log_without_timestamps(&env);
    for reason in [
        "\"outcome\":\"scope disabled\"",
        "\"outcome\":\"password not valid for this scope\"",
        "\"outcome\":\"disabled\"",
        "\"outcome\":\"suspended\"",
        "\"outcome\":\"bad credentials\"",
    ] {
        assert!(log.contains(reason), "no {reason} in the log:\n{log}");
    }
    assert_no_secrets(
        &log,
        &[
            password,
            &all_scopes,
            &pop3_only,
            &imap_only,
            &expiring,
            &guarded_asp,
            &temporary,
            &seed,
            TOTP_SECRET,
            &token,
            &expired_token,
            &revoked_token,
            &noimap_token,
            &guarded_token,
        ],
        &[&enabling_code],
    );
}

#[test]
fn asp_commands_add_list_and_delete() {
    let env = Env::new();
    env.add_user("dana", "dana password");
    let doc = env.ok(&[
        "asp",
        "add",
        "dana",
        "--description",
        "laptop",
        "--scopes",
        "imap,smtp",
    ]);
    let id = doc["asp"]["id"].as_str().unwrap().to_string();
    assert_eq!(doc["asp"]["scopes"], json!(["imap", "smtp"]), "{doc}");
    let password = doc["password"].as_str().unwrap();
    assert_eq!(password.len(), 16);
    let human = env.run(&["asp", "add", "dana", "--description", "phone"]);
    assert_eq!(code(&human), 0);
    let text = String::from_utf8_lossy(&human.stdout);
    let shown = text
        .lines()
        .find_map(|line| line.strip_prefix("password: "))
        .expect("the password is printed");
    assert_eq!(shown.len(), 19, "four groups of four: {shown:?}");

    let listed = env.ok(&["asp", "list", "dana"]);
    let mut descriptions: Vec<&str> = listed["asps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|asp| asp["description"].as_str().unwrap())
        .collect();
    // Listed by id, whose order within one second is not the order of creation when two
    // processes made them (the ids' counters start at random).
    descriptions.sort_unstable();
    assert_eq!(descriptions, ["laptop", "phone"]);
    assert!(
        !listed.to_string().contains(password),
        "a listing never shows a password"
    );

    env.ok(&["asp", "del", "dana", &id]);
    env.fails(&["asp", "del", "dana", &id], 66, "not_found");
    env.fails(&["asp", "del", "dana", "not-an-id"], 64, "usage");
    env.fails(&["asp", "list", "nobody"], 67, "no_user");
    assert_eq!(
        env.ok(&["asp", "list", "dana"])["asps"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

fn spaced(password: &str) -> String {
    password
        .to_uppercase()
        .as_bytes()
        .chunks(4)
        .map(|group| std::str::from_utf8(group).unwrap().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A raw line-based client (IMAP or POP3): what the server says, line by line.
struct Lines {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Lines {
    fn connect(at: SocketAddr) -> Lines {
        let stream = TcpStream::connect(at).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut lines = Lines {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        let greeting = lines.line();
        assert!(greeting.contains("OK"), "{greeting}");
        lines
    }

    /// The next line, or `None` once the server has closed the connection.
    fn next(&mut self) -> Option<String> {
        let mut line = String::new();
        let read = self.reader.read_line(&mut line).expect("a line in time");
        (read > 0).then(|| line.trim_end().to_string())
    }

    fn line(&mut self) -> String {
        self.next().expect("the server closed the connection")
    }

    /// Sends `command` and reads up to the line starting with `until`.
    fn send(&mut self, command: &str, until: &str) {
        self.writer
            .write_all(format!("{command}\r\n").as_bytes())
            .unwrap();
        loop {
            let line = self.line();
            if line.starts_with(until) {
                return;
            }
            assert!(
                !line.starts_with("-ERR") && !line.contains(" NO ") && !line.contains(" BAD "),
                "{command}: {line}"
            );
        }
    }

    /// The session's last words: `expected`, then the connection closes.
    fn assert_closed_with(&mut self, expected: &str) {
        assert_eq!(self.next().as_deref(), Some(expected));
        assert_eq!(self.next(), None, "still open after {expected}");
    }
}

fn imap_session(at: SocketAddr, user: &str, password: &str) -> Lines {
    let mut imap = Lines::connect(at);
    imap.send(&format!("a LOGIN {user} \"{password}\""), "a OK");
    imap.send("b SELECT INBOX", "b OK");
    imap
}

fn pop3_session(at: SocketAddr, user: &str, password: &str) -> Lines {
    let mut pop3 = Lines::connect(at);
    pop3.send(&format!("USER {user}"), "+OK");
    pop3.send(&format!("PASS {password}"), "+OK");
    pop3
}

/// `PUT path` with a JSON body and the root token; the status and the body.
fn api_put(at: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    common::api_request(at, "PUT", path, Some(ROOT_TOKEN), body)
}

#[test]
fn logout_and_suspension_end_live_sessions() {
    let env = Env::new();
    let password = "logout pass 1";
    env.add_user("erin", password);
    env.add_user("frank", password);
    let erin = env.ok(&["user", "show", "erin"])["user"]["id"]
        .as_str()
        .expect("an id")
        .to_string();
    let server = Server::start(&env);
    let (imap, pop3, api) = (
        server.address("IMAP (plain)"),
        server.address("POP3 (plain)"),
        server.address("API (plain)"),
    );

    // In IDLE, between commands, and in POP3: every session of erin ends; frank's stays.
    let mut idling = imap_session(imap, "erin", password);
    idling.writer.write_all(b"c IDLE\r\n").expect("IDLE");
    assert!(idling.line().starts_with('+'));
    let mut waiting = imap_session(imap, "erin", password);
    let mut pop3_client = pop3_session(pop3, "erin", password);
    let mut bystander = imap_session(imap, "frank", password);
    let (status, doc) = api_put(
        api,
        &format!("/users/{erin}/logout"),
        &json!({"reason": "Just because"}),
    );
    assert_eq!((status, &doc), (200, &json!({"success": true})));
    idling.assert_closed_with("* BYE Just because");
    waiting.assert_closed_with("* BYE Just because");
    pop3_client.assert_closed_with("-ERR Just because");
    bystander.send("d NOOP", "d OK");

    // A logout is no lock: erin logs in again; suspending her ends that session too.
    let mut again = imap_session(imap, "erin", password);
    let (status, _) = api_put(api, &format!("/users/{erin}"), &json!({"suspended": true}));
    assert_eq!(status, 200);
    again.assert_closed_with("* BYE Account suspended");
    bystander.send("e NOOP", "e OK");

    // Unknown users are 404, an overlong reason 400, and nothing else happens.
    let (status, doc) = api_put(api, "/users/0123456789abcdef01234567/logout", &json!({}));
    assert_eq!(status, 404, "{doc}");
    let (status, doc) = api_put(
        api,
        &format!("/users/{erin}/logout"),
        &json!({"reason": "x".repeat(129)}),
    );
    assert_eq!(status, 400, "{doc}");
    bystander.send("f NOOP", "f OK");
}

/// The serve log (stderr) so far.
fn serve_log(env: &Env) -> String {
    std::fs::read_to_string(env.path("serve.log")).expect("the serve log")
}

#[test]
fn totp_codes_from_pyotp_and_what_2fa_does_to_logins() {
    let env = Env::new();
    let password = "totp pass 1";
    env.add_user("gina", password);
    let gina = env.ok(&["user", "show", "gina"])["user"]["id"]
        .as_str()
        .expect("an id")
        .to_string();
    let server = Server::start(&env);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/auth/totp.py");
    let output = Command::new("python3")
        .arg(script)
        .arg("127.0.0.1")
        .arg(server.address("IMAP (plain)").port().to_string())
        .arg(format!("http://{}", server.address("API (plain)")))
        .arg(ROOT_TOKEN)
        .arg(&gina)
        .arg("gina")
        .arg(password)
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let report = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    drop(server);
    assert_eq!(code(&output), 0, "{report}");
    eprintln!("{report}");

    // Nothing secret in the log: not the password, the seed, a code or the ASP.
    let secrets: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let text = |key: &str| secrets[key].as_str().unwrap().to_string();
    let codes: Vec<String> = secrets["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_string())
        .collect();
    let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
    assert_no_secrets(
        &serve_log_without_timestamps(&env),
        &[&text("password"), &text("seed"), &text("asp"), TOTP_SECRET],
        &codes,
    );
}

/// The serve log (JSON lines) with the timestamps taken out: they are full of digits that
/// could pass for a TOTP code.
fn serve_log_without_timestamps(env: &Env) -> String {
    serve_log(env)
        .lines()
        .map(|line| match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(mut event)) => {
                event.remove("timestamp");
                Value::Object(event).to_string() + "\n"
            }
            _ => format!("{line}\n"),
        })
        .collect()
}

/// Asserts `log` holds none of `words` and none of `codes` as a whole number.
fn assert_no_secrets(log: &str, words: &[&str], codes: &[&str]) {
    let numbers: Vec<&str> = log
        .split(|c: char| !c.is_ascii_digit())
        .filter(|n| !n.is_empty())
        .collect();
    for code in codes {
        assert!(!numbers.contains(code), "code {code} is in the log:\n{log}");
    }
    for secret in words {
        assert!(!log.contains(secret), "{secret} is in the log:\n{log}");
    }
}

/// The code pyotp (an authenticator app) shows now for a base32 seed.
fn pyotp_code(seed: &str) -> String {
    let output = Command::new("python3")
        .args([
            "-c",
            "import pyotp, sys; print(pyotp.TOTP(sys.argv[1]).now())",
            seed,
        ])
        .output()
        .expect("python3");
    assert_eq!(
        code(&output),
        0,
        "pyotp: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

#[test]
fn totp_commands_setup_enable_and_disable() {
    let env = Env::new();
    let password = "cli totp pass";
    env.add_user("hank", password);
    env.fails(&["user", "2fa", "setup", "hank"], 78, "config");
    let config = env.path("totp.toml");
    std::fs::write(&config, format!("[totp]\nsecret = \"{TOTP_SECRET}\"\n")).unwrap();
    let config = config.to_str().unwrap();
    let with_secret = |args: &[&'static str]| [&["--config", config][..], args].concat();
    env.fails(
        &with_secret(&["user", "2fa", "enable", "hank", "123456"]),
        77,
        "no_perm",
    );
    let setup = env.ok(&with_secret(&[
        "user", "2fa", "setup", "hank", "--issuer", "Example",
    ]));
    let seed = setup["seed"].as_str().expect("a seed").to_string();
    assert!(
        setup["otpauth_url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("otpauth://totp/Example:hank?secret={seed}")),
        "{setup}"
    );
    let code_now = pyotp_code(&seed);
    let mut enable = with_secret(&["user", "2fa", "enable", "hank"]);
    enable.push(&code_now);
    assert_eq!(env.ok(&enable)["totp"], true);
    env.fails(&enable, 77, "no_perm"); // nothing pending any more
    env.fails(
        &with_secret(&["user", "2fa", "setup", "hank"]),
        77,
        "no_perm",
    );
    let disabled = env.ok(&["user", "2fa", "disable", "hank"]);
    assert_eq!(disabled["was_set_up"], true, "{disabled}");
    let again = env.ok(&["user", "2fa", "disable", "hank"]);
    assert_eq!(again["was_set_up"], false, "{again}");
}
