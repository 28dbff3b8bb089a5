//! POP3 commands: parsing a line into a [`Command`], and which state each belongs to.
//! One file per command group executes them.

pub(crate) mod auth;
pub(crate) mod capa;
pub(crate) mod listing;
pub(crate) mod mark;
pub(crate) mod quit;
pub(crate) mod retrieve;
pub(crate) mod stls;

use std::fmt;

/// A parsed client command.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    Capa,
    Stls,
    User(String),
    /// The rest of the line: RFC 1939 lets a password contain spaces.
    Pass(String),
    Auth {
        mechanism: Option<String>,
        initial_response: Option<String>,
    },
    Stat,
    List(Option<u32>),
    Uidl(Option<u32>),
    Retr(u32),
    Top(u32, u64),
    Dele(u32),
    Rset,
    Noop,
    Quit,
}

/// The session states in which a command is valid.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Authorization,
    Transaction,
    Any,
}

/// Why a line is not a command we can run.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ParseError {
    Empty,
    NotUtf8,
    Unknown(String),
    Syntax(&'static str),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("Empty command"),
            ParseError::NotUtf8 => f.write_str("Command is not valid UTF-8"),
            ParseError::Unknown(keyword) => {
                let shown: String = keyword
                    .chars()
                    .take(16)
                    .filter(|c| !c.is_control())
                    .collect();
                if shown.is_empty() {
                    f.write_str("Unknown command")
                } else {
                    write!(f, "Unknown command {shown}")
                }
            }
            ParseError::Syntax(message) => f.write_str(message),
        }
    }
}

impl Command {
    pub(crate) fn parse(line: &[u8]) -> Result<Command, ParseError> {
        let line = std::str::from_utf8(line).map_err(|_| ParseError::NotUtf8)?;
        let (keyword, rest) = line.split_once(' ').unwrap_or((line, ""));
        if keyword.is_empty() {
            return Err(ParseError::Empty);
        }
        let mut args = rest.split_ascii_whitespace();
        let command = match keyword.to_ascii_uppercase().as_str() {
            "CAPA" => Command::Capa,
            "STLS" => Command::Stls,
            "USER" => {
                let name = rest.trim();
                if name.is_empty() {
                    return Err(ParseError::Syntax("USER needs a name"));
                }
                return Ok(Command::User(name.to_string()));
            }
            "PASS" => {
                if rest.is_empty() {
                    return Err(ParseError::Syntax("PASS needs a password"));
                }
                return Ok(Command::Pass(rest.to_string()));
            }
            "AUTH" => Command::Auth {
                mechanism: args.next().map(str::to_string),
                initial_response: args.next().map(str::to_string),
            },
            "STAT" => Command::Stat,
            "LIST" => Command::List(optional_number(args.next())?),
            "UIDL" => Command::Uidl(optional_number(args.next())?),
            "RETR" => Command::Retr(number(args.next())?),
            "TOP" => {
                let message = number(args.next())?;
                let lines = args
                    .next()
                    .ok_or(ParseError::Syntax(
                        "TOP needs a message number and a line count",
                    ))?
                    .parse()
                    .map_err(|_| ParseError::Syntax("Invalid line count"))?;
                Command::Top(message, lines)
            }
            "DELE" => Command::Dele(number(args.next())?),
            "RSET" => Command::Rset,
            "NOOP" => Command::Noop,
            "QUIT" => Command::Quit,
            _ => return Err(ParseError::Unknown(keyword.to_string())),
        };
        match args.next() {
            Some(_) => Err(ParseError::Syntax("Too many arguments")),
            None => Ok(command),
        }
    }

    /// The command's name, as metrics label it.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Command::Capa => "CAPA",
            Command::Stls => "STLS",
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Auth { .. } => "AUTH",
            Command::Stat => "STAT",
            Command::List(_) => "LIST",
            Command::Uidl(_) => "UIDL",
            Command::Retr(_) => "RETR",
            Command::Top(..) => "TOP",
            Command::Dele(_) => "DELE",
            Command::Rset => "RSET",
            Command::Noop => "NOOP",
            Command::Quit => "QUIT",
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        match self {
            Command::Capa | Command::Noop | Command::Quit => Phase::Any,
            Command::Stls | Command::User(_) | Command::Pass(_) | Command::Auth { .. } => {
                Phase::Authorization
            }
            _ => Phase::Transaction,
        }
    }
}

fn number(arg: Option<&str>) -> Result<u32, ParseError> {
    optional_number(arg)?.ok_or(ParseError::Syntax("Missing message number"))
}

fn optional_number(arg: Option<&str>) -> Result<Option<u32>, ParseError> {
    arg.map(|text| {
        // Only plain decimal digits: `+1`, `-5` and `0x1` are not message numbers.
        if text.bytes().all(|b| b.is_ascii_digit()) {
            text.parse()
                .map_err(|_| ParseError::Syntax("Invalid message number"))
        } else {
            Err(ParseError::Syntax("Invalid message number"))
        }
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_case_insensitively() {
        assert_eq!(Command::parse(b"stat"), Ok(Command::Stat));
        assert_eq!(Command::parse(b"List 3"), Ok(Command::List(Some(3))));
        assert_eq!(Command::parse(b"TOP 1 0"), Ok(Command::Top(1, 0)));
        assert_eq!(
            Command::parse(b"PASS a b "),
            Ok(Command::Pass("a b ".into()))
        );
        assert_eq!(
            Command::parse(b"AUTH PLAIN AGEAYg=="),
            Ok(Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial_response: Some("AGEAYg==".into())
            })
        );
    }

    #[test]
    fn rejects_bad_arguments() {
        assert_eq!(
            Command::parse(b"TOP 1 -5"),
            Err(ParseError::Syntax("Invalid line count"))
        );
        assert_eq!(
            Command::parse(b"RETR +1"),
            Err(ParseError::Syntax("Invalid message number"))
        );
        assert_eq!(
            Command::parse(b"RETR 99999999999"),
            Err(ParseError::Syntax("Invalid message number"))
        );
        assert_eq!(
            Command::parse(b"RETR"),
            Err(ParseError::Syntax("Missing message number"))
        );
        assert_eq!(
            Command::parse(b"STAT 1"),
            Err(ParseError::Syntax("Too many arguments"))
        );
        assert_eq!(Command::parse(b""), Err(ParseError::Empty));
        assert_eq!(Command::parse(b"\xff\xfe"), Err(ParseError::NotUtf8));
        assert_eq!(
            Command::parse(b"XYZZY 1"),
            Err(ParseError::Unknown("XYZZY".into()))
        );
    }
}
