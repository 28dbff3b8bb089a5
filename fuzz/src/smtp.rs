//! LMTP and SMTP submission: whole sessions against both listeners (command lines, MAIL/RCPT
//! parameters, DATA with dot-stuffing, BDAT chunks with true and false sizes, AUTH PLAIN and
//! LOGIN exchanges), and smtp-proto's request parser alone.

use std::sync::Arc;

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use proptest::prelude::*;

use crate::grammar::{number, text, with_mutations, word};
use crate::harness::Target;
use crate::servers::{self, DOMAIN, LMTP_USER, PASSWORD, SUBMIT_USER, Servers, crlf_lines, shown};

const VERBS: &[&str] = &[
    "LHLO",
    "EHLO",
    "HELO",
    "MAIL FROM:",
    "RCPT TO:",
    "DATA",
    "BDAT",
    "RSET",
    "NOOP",
    "QUIT",
    "VRFY",
    "EXPN",
    "HELP",
    "STARTTLS",
    "AUTH",
    "ETRN",
    "BURL",
];

/// An address as written in MAIL FROM / RCPT TO, right or wrong.
fn path(user: &'static str) -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        3 => Just(format!("<{user}@{DOMAIN}>").into_bytes()),
        1 => Just(b"<>".to_vec()),
        1 => Just(format!("<{user}+tag@{DOMAIN}>").into_bytes()),
        1 => (word(), word()).prop_map(|(l, d)| format!("<{l}@{d}>").into_bytes()),
        1 => text().prop_map(|t| { let mut p = b"<".to_vec(); p.extend(t); p.push(b'>'); p }),
        1 => Just(b"<@a,@b:x@y>".to_vec()),
        1 => Just("<üser@exämple.org>".as_bytes().to_vec()),
    ]
    .boxed()
}

fn parameter() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        (
            prop::sample::select(
                &[
                    "SIZE", "BODY", "SMTPUTF8", "RET", "ENVID", "NOTIFY", "AUTH", "X"
                ][..]
            ),
            prop_oneof![
                number(),
                word(),
                Just("8BITMIME".into()),
                Just("BINARYMIME".into())
            ]
        )
            .prop_map(|(k, v)| format!("{k}={v}").into_bytes()),
        Just(b"SMTPUTF8".to_vec()),
        text(),
    ]
    .boxed()
}

fn body() -> BoxedStrategy<Vec<u8>> {
    (text(), any::<bool>())
        .prop_map(|(text, dot_line)| {
            let mut body = format!("From: a@{DOMAIN}\r\nSubject: fuzz\r\n\r\n").into_bytes();
            body.extend(text);
            if dot_line {
                body.extend_from_slice(b"\r\n..stuffed\r\n.");
            }
            body
        })
        .boxed()
}

/// One command, or a whole DATA/BDAT transfer, of the shapes MTAs send and near them.
fn command(user: &'static str) -> BoxedStrategy<Vec<u8>> {
    let generic = (
        prop::sample::select(VERBS),
        prop::collection::vec(
            prop_oneof![path(user), parameter(), word().prop_map(String::into_bytes)],
            0..3,
        ),
    )
        .prop_map(|(verb, args)| {
            let mut line = verb.as_bytes().to_vec();
            for (i, arg) in args.into_iter().enumerate() {
                if i > 0 || !verb.ends_with(':') {
                    line.push(b' ');
                }
                line.extend(arg);
            }
            line
        });
    let envelope = (
        path(user),
        prop::collection::vec(parameter(), 0..2),
        path(user),
    )
        .prop_map(|(from, params, to)| {
            let mut line = b"MAIL FROM:".to_vec();
            line.extend(from);
            for p in params {
                line.push(b' ');
                line.extend(p);
            }
            line.extend_from_slice(b"\r\nRCPT TO:");
            line.extend(to);
            line
        });
    let data = body().prop_map(|body| {
        let mut out = b"DATA\r\n".to_vec();
        out.extend(body);
        out.extend_from_slice(b"\r\n.");
        out
    });
    let bdat = (body(), prop::option::of(number()), any::<bool>()).prop_map(|(body, lie, last)| {
        let size = lie.unwrap_or_else(|| body.len().to_string());
        let mut out = format!("BDAT {size}{}\r\n", if last { " LAST" } else { "" }).into_bytes();
        out.extend(body);
        out
    });
    prop_oneof![4 => generic, 3 => envelope, 2 => data, 2 => bdat].boxed()
}

fn auth() -> BoxedStrategy<Vec<u8>> {
    let plain = (text(), text(), any::<bool>()).prop_map(|(user, pass, initial)| {
        let mut response = vec![0];
        response.extend(user);
        response.push(0);
        response.extend(pass);
        let encoded = BASE64_STANDARD.encode(response);
        if initial {
            format!("AUTH PLAIN {encoded}").into_bytes()
        } else {
            format!("AUTH PLAIN\r\n{encoded}").into_bytes()
        }
    });
    let login = (text(), text()).prop_map(|(user, pass)| {
        format!(
            "AUTH LOGIN\r\n{}\r\n{}",
            BASE64_STANDARD.encode(user),
            BASE64_STANDARD.encode(pass)
        )
        .into_bytes()
    });
    let odd = prop_oneof![
        Just(b"AUTH PLAIN\r\n*".to_vec()),
        Just(b"AUTH LOGIN\r\n=\r\n=".to_vec()),
        Just(b"AUTH XOAUTH2 dXNlcj0=".to_vec()),
        Just(b"AUTH PLAIN !!!notbase64".to_vec()),
    ];
    prop_oneof![2 => plain, 2 => login, 1 => odd].boxed()
}

fn session(greeting: &'static str, user: &'static str, logs_in: bool) -> BoxedStrategy<Vec<u8>> {
    let login = if logs_in {
        let response = BASE64_STANDARD.encode(format!("\0{user}\0{PASSWORD}"));
        format!("AUTH PLAIN {response}\r\n")
    } else {
        String::new()
    };
    let opening = prop_oneof![
        1 => Just(Vec::new()),
        4 => Just(format!("{greeting} client.{DOMAIN}\r\n{login}").into_bytes()),
    ];
    let step = if logs_in {
        prop_oneof![4 => command(user), 1 => auth()].boxed()
    } else {
        command(user)
    };
    (opening, prop::collection::vec(with_mutations(step), 1..6))
        .prop_map(|(mut input, commands)| {
            for line in commands {
                input.extend(line);
                input.extend_from_slice(b"\r\n");
            }
            input
        })
        .boxed()
}

/// Every line is `ddd text` or `ddd-text` with a 2xx–5xx code, a multi-line reply keeps its
/// code, and the first reply is the 220 greeting.
fn check_smtp_answer(answer: &[u8]) -> Result<(), String> {
    let lines = crlf_lines(answer)?;
    let first = lines.first().ok_or("no greeting")?;
    if !first.starts_with(b"220") {
        return Err(format!("greeting is {:?}", shown(first)));
    }
    let mut continued: Option<&[u8]> = None;
    for line in &lines {
        let code = line
            .get(..3)
            .ok_or_else(|| format!("short reply {:?}", shown(line)))?;
        if !(b'2'..=b'5').contains(&code[0]) || !code[1..].iter().all(u8::is_ascii_digit) {
            return Err(format!("not a reply code: {:?}", shown(line)));
        }
        if let Some(previous) = continued
            && previous != code
        {
            return Err(format!(
                "multi-line reply changes its code: {:?}",
                shown(line)
            ));
        }
        continued = match line.get(3) {
            Some(b'-') => Some(code),
            Some(b' ') | None => None,
            Some(_) => return Err(format!("no separator after the code: {:?}", shown(line))),
        };
    }
    if continued.is_some() {
        return Err("a multi-line reply without its last line".into());
    }
    Ok(())
}

pub struct LmtpSession(pub Arc<Servers>);

impl Target for LmtpSession {
    fn name(&self) -> &'static str {
        "lmtp-session"
    }

    fn inputs(&self) -> BoxedStrategy<Vec<u8>> {
        session("LHLO", LMTP_USER, false)
    }

    fn check(&self, input: &[u8]) -> Result<(), String> {
        check_smtp_answer(&servers::converse(self.0.lmtp, input)?)
    }
}

pub struct SubmissionSession(pub Arc<Servers>);

impl Target for SubmissionSession {
    fn name(&self) -> &'static str {
        "submission-session"
    }

    fn inputs(&self) -> BoxedStrategy<Vec<u8>> {
        session("EHLO", SUBMIT_USER, true)
    }

    fn check(&self, input: &[u8]) -> Result<(), String> {
        check_smtp_answer(&servers::converse(self.0.submission, input)?)
    }
}

/// smtp-proto's request parser on one line, as `wire` hands it over.
pub struct SmtpParse;

impl Target for SmtpParse {
    fn name(&self) -> &'static str {
        "smtp-parse"
    }

    fn inputs(&self) -> BoxedStrategy<Vec<u8>> {
        with_mutations(command(LMTP_USER))
            .prop_map(|mut line| {
                line.extend_from_slice(b"\r\n");
                line
            })
            .boxed()
    }

    fn check(&self, input: &[u8]) -> Result<(), String> {
        // Any answer but a panic will do.
        let _ = smtp_proto::Request::parse(&mut input.iter());
        Ok(())
    }
}

pub fn targets(servers: &Arc<Servers>) -> Vec<Box<dyn Target>> {
    vec![
        Box::new(LmtpSession(servers.clone())),
        Box::new(SubmissionSession(servers.clone())),
        Box::new(SmtpParse),
    ]
}
