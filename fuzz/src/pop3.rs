//! POP3: whole sessions against the listener: command lines, USER/PASS, AUTH PLAIN with and
//! without an initial response, and the transaction commands on a maildrop with a message.

use std::sync::Arc;

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use proptest::prelude::*;

use crate::grammar::{number, text, with_mutations, word};
use crate::harness::Target;
use crate::servers::{self, PASSWORD, POP3_USER, Servers, crlf_lines, shown};

const COMMANDS: &[&str] = &[
    "CAPA", "STLS", "USER", "PASS", "AUTH", "STAT", "LIST", "UIDL", "RETR", "TOP", "DELE", "RSET",
    "NOOP", "QUIT", "APOP", "XTND",
];

fn command() -> BoxedStrategy<Vec<u8>> {
    let argument = prop_oneof![
        3 => number().prop_map(String::into_bytes),
        2 => word().prop_map(String::into_bytes),
        1 => text(),
        1 => Just(b"PLAIN".to_vec()),
        1 => Just(b"=".to_vec()),
        1 => Just(b"*".to_vec()),
    ];
    let generic = (
        prop::sample::select(COMMANDS),
        any::<bool>(),
        prop::collection::vec(argument, 0..3),
    )
        .prop_map(|(name, lower, args)| {
            let mut line = if lower {
                name.to_ascii_lowercase().into_bytes()
            } else {
                name.as_bytes().to_vec()
            };
            for arg in args {
                line.push(b' ');
                line.extend(arg);
            }
            line
        });
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
    prop_oneof![6 => generic, 1 => plain].boxed()
}

fn session() -> BoxedStrategy<Vec<u8>> {
    let opening = prop_oneof![
        1 => Just(Vec::new()),
        3 => Just(format!("USER {POP3_USER}\r\nPASS {PASSWORD}\r\n").into_bytes()),
    ];
    (
        opening,
        prop::collection::vec(with_mutations(command()), 1..8),
    )
        .prop_map(|(mut input, commands)| {
            for line in commands {
                input.extend(line);
                input.extend_from_slice(b"\r\n");
            }
            input
        })
        .boxed()
}

pub struct Pop3Session(pub Arc<Servers>);

impl Target for Pop3Session {
    fn name(&self) -> &'static str {
        "pop3-session"
    }

    fn inputs(&self) -> BoxedStrategy<Vec<u8>> {
        session()
    }

    fn check(&self, input: &[u8]) -> Result<(), String> {
        let answer = servers::converse(self.0.pop3, input)?;
        check_pop3_answer(&answer)
    }
}

/// A greeting `+OK`, then status lines (`+OK`, `-ERR`, or a `+ ` SASL challenge); a status
/// followed by other lines opens a multi-line answer, which must end with `.` before the
/// next status or the end.
fn check_pop3_answer(answer: &[u8]) -> Result<(), String> {
    let lines = crlf_lines(answer)?;
    let first = lines.first().ok_or("no greeting")?;
    if !first.starts_with(b"+OK") {
        return Err(format!("greeting is {:?}", shown(first)));
    }
    let is_status = |line: &[u8]| {
        line.starts_with(b"+OK")
            || line.starts_with(b"-ERR")
            || line.starts_with(b"+ ")
            || line == b"+"
    };
    let mut in_block = false;
    for line in &lines[1..] {
        if in_block {
            in_block = *line != b".";
        } else if !is_status(line) {
            // A multi-line answer's body: from here to the lone dot.
            in_block = *line != b".";
        }
    }
    if in_block {
        return Err("a multi-line answer without its final dot".into());
    }
    Ok(())
}

pub fn targets(servers: &Arc<Servers>) -> Vec<Box<dyn Target>> {
    vec![Box::new(Pop3Session(servers.clone()))]
}
