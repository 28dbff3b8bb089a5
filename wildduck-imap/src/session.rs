//! The session loop: greets, reads commands (deciding on literals before they are sent),
//! checks the state, calls the handler in `command/` and writes its tagged reply, then the
//! untagged updates. Handlers work on [`crate::state::Session`] and never call back here.

use std::borrow::Cow;
use std::io;
use std::time::Duration;

use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;

use crate::command::{self, Kind, Request};
use crate::connection::Inbound;
use crate::esearch::{self, Rewritten, SavedResult};
use crate::objectid;
use crate::search::SessionView;
use crate::state::{Fail, Outcome, Reply, Session, logout_requested};
use crate::{LITERAL_MINUS_MAX, Literals};

enum Flow {
    Continue,
    Close,
}

impl Session {
    /// Runs the session until LOGOUT, the client leaving, a fatal error, or shutdown.
    pub async fn run(mut self) {
        let greeting = format!(
            "OK [CAPABILITY {}] {}",
            self.capabilities(),
            self.shared.config.greeting
        );
        self.conn.untagged(&greeting);
        if self.conn.flush().await.is_err() {
            return;
        }
        let idle_timeout = Duration::from_secs(self.shared.config.idle_timeout_secs);
        loop {
            if self.shutdown.is_requested() {
                self.conn.untagged("BYE Server shutting down");
                break;
            }
            let inbound = tokio::select! {
                inbound = self.conn.read_inbound() => inbound,
                _ = self.shutdown.requested() => {
                    self.conn.untagged("BYE Server shutting down");
                    break;
                }
                reason = logout_requested(&mut self.logout) => {
                    self.conn.untagged(&format!("BYE {reason}"));
                    break;
                }
                _ = tokio::time::sleep(idle_timeout) => {
                    self.conn.untagged("BYE Idle for too long, closing");
                    break;
                }
            };
            let flow = match inbound {
                Err(_) | Ok(Inbound::Closed) => break,
                Ok(Inbound::LineTooLong) => {
                    self.reply_untagged_bad("Line too long");
                    self.conn.untagged("BYE Line too long, closing");
                    Ok(Flow::Close)
                }
                Ok(Inbound::LiteralAnnounced { length, sync }) => {
                    self.on_literal(length, sync).await
                }
                Ok(Inbound::Message) => self.on_message().await,
            };
            match flow {
                Ok(Flow::Continue) => {}
                Ok(Flow::Close) | Err(_) => break,
            }
            if self.bad_commands >= self.shared.config.max_bad_commands {
                self.conn.untagged("BYE Too many bad commands");
                break;
            }
            if self.conn.flush().await.is_err() {
                break;
            }
        }
        self.conn.shutdown().await;
    }

    /// BAD for a command whose tag we may or may not know.
    fn reply_untagged_bad(&mut self, text: &str) {
        self.bad_commands += 1;
        match leading_words(self.conn.message_bytes()) {
            Some((tag, _)) => {
                let tag = tag.to_string();
                self.conn.tagged(&tag, &format!("BAD {text}"));
            }
            None => self.conn.untagged(&format!("BAD {text}")),
        }
    }

    /// Decides on a literal before it is sent: limits, and for APPEND the quota and size.
    async fn on_literal(&mut self, length: u32, sync: bool) -> io::Result<Flow> {
        let literals = self.shared.config.literals();
        if !sync && literals == Literals::SyncOnly {
            self.reply_untagged_bad("Non-synchronizing literals are not supported");
            self.conn.untagged("BYE Protocol error");
            return Ok(Flow::Close);
        }
        if !sync && literals == Literals::Minus && length > LITERAL_MINUS_MAX {
            // RFC 7888 LITERAL-: the command is refused; its literal is read and dropped, so
            // the connection stays in step.
            self.reply_untagged_bad(&format!(
                "[TOOBIG] Non-synchronizing literals may have at most {LITERAL_MINUS_MAX} bytes"
            ));
            self.conn.discard_message();
            return Ok(Flow::Continue);
        }
        let bytes = self.conn.message_bytes();
        let so_far = bytes.len() as u64;
        let (tag, command_word) = leading_words(bytes).unwrap_or(("*", ""));
        let tag = tag.to_string();
        let append_target = if command_word.eq_ignore_ascii_case("APPEND") && self.user.is_some() {
            command::append::announced_mailbox(bytes)
        } else {
            None
        };
        let limit = if append_target.is_some() {
            // Each message of a MULTIAPPEND is within the size limit, and all of them within
            // what one command may hold.
            (self.store().config().max_message_size).min(self.conn.room_left())
        } else {
            // Many small literals in one command may not add up past the line limit either.
            u64::from(self.shared.config.max_small_literal)
                .min(u64::from(self.shared.config.max_line_length).saturating_sub(so_far))
        };
        let refusal = if u64::from(length) > limit {
            Some(if append_target.is_some() {
                format!("NO [TOOBIG] Message too big (limit {limit} bytes)")
            } else {
                format!("BAD Literal too big (limit {limit} bytes)")
            })
        } else if sync
            && append_target.is_some()
            && !self.utf8
            && command::append::announces_literal8(bytes)
        {
            Some(format!("BAD {}", command::append::UTF8_NOT_ENABLED))
        } else if let (Some(target), true) = (&append_target, sync) {
            command::append::precheck(self, target, u64::from(length))
                .await
                .err()
        } else {
            None
        };
        match refusal {
            None => {
                self.conn.accept_literal(sync).await?;
                Ok(Flow::Continue)
            }
            Some(text) if sync => {
                self.bad_commands += u32::from(text.starts_with("BAD"));
                self.conn.reject_literal();
                self.conn.tagged(&tag, &text);
                Ok(Flow::Continue)
            }
            Some(_) => {
                // A LITERAL+ literal is on its way; the stream can not be resynchronized.
                self.conn.tagged(
                    &tag,
                    &format!("BAD [TOOBIG] Literal too big (limit {limit} bytes)"),
                );
                self.conn.untagged("BYE Literal too big, closing");
                Ok(Flow::Close)
            }
        }
    }

    async fn on_message(&mut self) -> io::Result<Flow> {
        if self.conn.is_message_truncated() {
            self.reply_untagged_bad("Command too long");
            return Ok(Flow::Continue);
        }
        let view = self
            .selected
            .as_ref()
            .map_or_else(SessionView::default, |s| SessionView {
                uids: &s.uids,
                recent: Some(&s.recent),
                saved: Some(&s.saved),
            });
        let bytes = self.conn.message_bytes();
        let mut parsed = decode(bytes, view);
        // RFC 3501 literals may not hold NUL, but messages with NUL exist and are kept as they
        // are: parse the arguments from a copy without NUL; APPEND reads the original literal.
        if parsed.as_ref().is_none_or(Result::is_err)
            && let Some(literal) = self.conn.last_literal_range()
            && bytes[literal.clone()].contains(&0)
        {
            let mut cleaned = bytes.to_vec();
            cleaned[literal]
                .iter_mut()
                .filter(|b| **b == 0)
                .for_each(|b| *b = 0x80);
            parsed = decode(&cleaned, view);
        }
        let request = match parsed {
            Some(Ok(request)) => request,
            Some(Err(refusal)) => {
                if refusal.declined {
                    let tag = leading_words(self.conn.message_bytes())
                        .map_or("*", |w| w.0)
                        .to_string();
                    self.conn.tagged(&tag, &format!("NO {}", refusal.text));
                } else {
                    self.reply_untagged_bad(&refusal.text);
                }
                return Ok(Flow::Continue);
            }
            None => {
                let known = leading_words(self.conn.message_bytes()).is_some_and(|(_, word)| {
                    KNOWN_COMMANDS.iter().any(|c| c.eq_ignore_ascii_case(word))
                });
                self.reply_untagged_bad(if known {
                    "Syntax error in arguments"
                } else {
                    "Unknown command"
                });
                return Ok(Flow::Continue);
            }
        };
        self.execute(request).await
    }

    async fn execute(&mut self, request: Request) -> io::Result<Flow> {
        let Request { tag, kind } = request;
        let command = command_label(self.conn.message_bytes());
        let started = std::time::Instant::now();
        let expunge_allowed = !matches!(
            kind,
            Kind::Fetch { uid: false, .. }
                | Kind::Store { uid: false, .. }
                | Kind::Search { uid: false, .. }
                | Kind::Sort { uid: false, .. }
                | Kind::Thread { uid: false, .. }
                | Kind::NoSavedMessages
        );
        // A SELECT's answer is the mailbox as its snapshot found it: what changed since comes
        // with the next command. A client such as imaptest takes the EXISTS of a
        // `SELECT … (QRESYNC …)` as the count once the tagged OK is in, so a message arriving
        // or going within the SELECT must not be reported inside it.
        let syncs_after = !matches!(kind, Kind::Select { .. });
        let outcome = match self.state_error(&kind) {
            Some(reply) => Ok(reply),
            None => self.dispatch(&tag, kind).await,
        };
        let reply = match outcome {
            Ok(reply) | Err(Fail::Reply(reply)) => reply,
            Err(Fail::Io(e)) => return Err(e),
        };
        let result = match &reply {
            Reply::Ok(_) | Reply::Logout => "ok",
            Reply::No(_) => "no",
            Reply::Bad(_) => "bad",
            // The command answered itself (STARTTLS, AUTHENTICATE, COMPRESS).
            Reply::AlreadySent => "answered",
        };
        metrics::counter!("wildduck_imap_commands_total", "command" => command, "result" => result)
            .increment(1);
        metrics::histogram!("wildduck_imap_command_seconds", "command" => command)
            .record(started.elapsed().as_secs_f64());
        if self.selected.is_some()
            && syncs_after
            && !matches!(reply, Reply::Logout)
            && let Err(Fail::Io(e)) = self.sync_selected(expunge_allowed).await
        {
            return Err(e);
        }
        self.settle_cached_modseq();
        Ok(match reply {
            Reply::Ok(text) => {
                self.conn.tagged(&tag, &format!("OK {text}"));
                Flow::Continue
            }
            Reply::No(text) => {
                self.conn.tagged(&tag, &format!("NO {text}"));
                Flow::Continue
            }
            Reply::Bad(text) => {
                self.bad_commands += 1;
                self.conn.tagged(&tag, &format!("BAD {text}"));
                Flow::Continue
            }
            Reply::AlreadySent => Flow::Continue,
            Reply::Logout => {
                self.conn.untagged("BYE Logging out");
                self.conn.tagged(&tag, "OK Logout completed");
                Flow::Close
            }
        })
    }

    /// A reply when the command is not allowed in the current state.
    fn state_error(&self, kind: &Kind) -> Option<Reply> {
        use Kind::*;
        let authenticated = self.user.is_some();
        let selected = self.selected.is_some();
        match kind {
            Capability | Noop | Logout | Id => None,
            StartTls | Authenticate { .. } | Login { .. } if authenticated => {
                Some(Reply::Bad("Already logged in".into()))
            }
            StartTls | Authenticate { .. } | Login { .. } => None,
            _ if !authenticated => Some(Reply::Bad("Log in first".into())),
            Check
            | Close
            | Unselect
            | Expunge { .. }
            | Search { .. }
            | Sort { .. }
            | Thread { .. }
            | NoSavedMessages
            | Fetch { .. }
            | Store { .. }
            | Copy { .. }
                if !selected =>
            {
                Some(Reply::Bad("Select a mailbox first".into()))
            }
            _ => None,
        }
    }

    async fn dispatch(&mut self, tag: &str, kind: Kind) -> Outcome {
        use command::*;
        match kind {
            Kind::Capability => auth::capability(self),
            Kind::Noop => Ok(Reply::Ok("NOOP completed".into())),
            Kind::Check => Ok(Reply::Ok("CHECK completed".into())),
            Kind::Logout => Ok(Reply::Logout),
            Kind::StartTls => auth::starttls(self, tag).await,
            Kind::Authenticate { mechanism, initial } => {
                auth::authenticate(self, &mechanism, initial).await
            }
            Kind::Login { username, password } => auth::login(self, &username, &password).await,
            Kind::Unauthenticate => {
                self.log_out_user();
                Ok(Reply::Ok("Unauthenticate completed".into()))
            }
            Kind::Id => auth::id(self),
            Kind::Enable { capabilities } => auth::enable(self, &capabilities),
            Kind::Namespace => mailbox::namespace(self),
            Kind::Select {
                mailbox,
                read_only,
                condstore,
                qresync,
            } => mailbox::select(self, &mailbox, read_only, condstore, qresync.as_ref()).await,
            Kind::Create {
                mailbox,
                special_use,
            } => mailbox::create(self, &mailbox, special_use).await,
            Kind::Delete { mailbox } => mailbox::delete(self, &mailbox).await,
            Kind::Rename { from, to } => mailbox::rename(self, &from, &to).await,
            Kind::Subscribe { mailbox, subscribe } => {
                mailbox::subscribe(self, &mailbox, subscribe).await
            }
            Kind::List(list) => mailbox::list(self, &list).await,
            Kind::Status { mailbox, items } => mailbox::status(self, &mailbox, &items).await,
            Kind::Append { mailbox, messages } => append::append(self, &mailbox, &messages).await,
            Kind::Close => expunge::close(self).await,
            Kind::Unselect => {
                self.selected = None;
                Ok(Reply::Ok("Unselect completed".into()))
            }
            Kind::Expunge { uids } => expunge::expunge(self, uids.as_ref()).await,
            Kind::Search { uid, key, returns } => {
                search::search(self, tag, uid, &key, returns).await
            }
            Kind::Sort {
                uid,
                criteria,
                key,
                returns,
            } => sort::sort(self, tag, uid, &criteria, &key, returns).await,
            Kind::Thread {
                uid,
                algorithm,
                key,
            } => thread::thread(self, uid, algorithm, &key).await,
            Kind::NoSavedMessages => Ok(Reply::Ok("Done (no saved message is left)".into())),
            Kind::Fetch {
                uid,
                set,
                items,
                changed_since,
                vanished,
            } => fetch::fetch(self, uid, &set, &items, changed_since, vanished).await,
            Kind::Store {
                uid,
                set,
                op,
                silent,
                flags,
                unchanged_since,
            } => store::store(self, uid, &set, op, silent, &flags, unchanged_since).await,
            Kind::Copy {
                uid,
                set,
                mailbox,
                is_move,
            } => copy::copy(self, uid, &set, &mailbox, is_move).await,
            Kind::Idle => idle::idle(self, tag).await,
            Kind::GetQuota { root } => quota::get_quota(self, &root).await,
            Kind::GetQuotaRoot { mailbox } => quota::get_quota_root(self, &mailbox).await,
            Kind::SetQuota => Ok(quota::set_quota()),
            Kind::Compress => compress::compress(self, tag).await,
        }
    }
}

/// Parses a command with imap-codec, falling back to our parser for what it lacks. ESEARCH
/// options and `$` (`esearch`), then OBJECTID items and keys (`objectid`), are rewritten away
/// first.
fn decode(bytes: &[u8], view: SessionView<'_>) -> Option<Result<Request, command::Refusal>> {
    let saved = view.saved.map(|saved| SavedResult {
        saved,
        map: view.uids,
    });
    let (bytes, returns) = match esearch::rewrite(bytes, saved) {
        Err(text) => {
            return Some(Err(command::Refusal {
                text,
                declined: false,
            }));
        }
        Ok(Some(Rewritten::NoSavedMessages)) => {
            let tag = leading_words(bytes)?.0.to_string();
            let kind = Kind::NoSavedMessages;
            return Some(Ok(Request { tag, kind }));
        }
        Ok(Some(Rewritten::Command { bytes, returns })) => (Cow::Owned(bytes), returns),
        Ok(None) => (Cow::Borrowed(bytes), None),
    };
    let (bytes, object_items, placeholder) = match objectid::rewrite(&bytes) {
        Err(text) => {
            return Some(Err(command::Refusal {
                text,
                declined: false,
            }));
        }
        Ok(Some(rewritten)) => (
            Cow::Owned(rewritten.bytes),
            rewritten.items,
            rewritten.placeholder,
        ),
        Ok(None) => (bytes, Vec::new(), false),
    };
    match CommandCodec::default().decode(&bytes) {
        Ok(([], command)) => Some(command::from_codec(&command.body, view).map(|kind| {
            Request {
                tag: command.tag.inner().to_string(),
                kind: kind
                    .with_returns(returns)
                    .with_object_items(object_items, placeholder),
            }
        })),
        _ => command::extended::parse(&bytes),
    }
}

const KNOWN_COMMANDS: [&str; 38] = [
    "CAPABILITY",
    "NOOP",
    "LOGOUT",
    "STARTTLS",
    "AUTHENTICATE",
    "LOGIN",
    "SELECT",
    "EXAMINE",
    "CREATE",
    "DELETE",
    "RENAME",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "LIST",
    "LSUB",
    "STATUS",
    "APPEND",
    "CHECK",
    "CLOSE",
    "EXPUNGE",
    "SEARCH",
    "FETCH",
    "STORE",
    "COPY",
    "UID",
    "IDLE",
    "MOVE",
    "NAMESPACE",
    "UNSELECT",
    "ID",
    "ENABLE",
    "GETQUOTA",
    "GETQUOTAROOT",
    "SETQUOTA",
    "COMPRESS",
    "UNAUTHENTICATE",
    "SORT",
    "THREAD",
];

/// The tag and command word of a command's first line, if they look like IMAP.
/// The command's name for metrics: one of [`KNOWN_COMMANDS`] (`UID` names the command after
/// it, as `UID FETCH`), so a client can not grow the label set.
fn command_label(bytes: &[u8]) -> &'static str {
    let known = |word: &str| {
        KNOWN_COMMANDS
            .iter()
            .find(|c| c.eq_ignore_ascii_case(word))
            .copied()
    };
    let Some((_, word)) = leading_words(bytes) else {
        return "other";
    };
    if !word.eq_ignore_ascii_case("UID") {
        return known(word).unwrap_or("other");
    }
    let after = bytes
        .split(|&b| b == b' ')
        .nth(2)
        .and_then(|w| std::str::from_utf8(w).ok())
        .map(|w| w.trim_end_matches(['\r', '\n']))
        .unwrap_or("");
    match known(after) {
        Some("FETCH") => "UID FETCH",
        Some("STORE") => "UID STORE",
        Some("SEARCH") => "UID SEARCH",
        Some("COPY") => "UID COPY",
        Some("MOVE") => "UID MOVE",
        Some("EXPUNGE") => "UID EXPUNGE",
        Some("SORT") => "UID SORT",
        Some("THREAD") => "UID THREAD",
        _ => "UID",
    }
}

pub fn leading_words(bytes: &[u8]) -> Option<(&str, &str)> {
    let line_end = bytes
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(bytes.len());
    let line = std::str::from_utf8(&bytes[..line_end]).ok()?;
    let mut words = line.split(' ');
    let tag = words.next().filter(|t| crate::command::is_tag(t))?;
    Some((tag, words.next().unwrap_or("")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_words_of_commands_and_garbage() {
        assert_eq!(
            leading_words(b"a1 APPEND INBOX {5}\r\n"),
            Some(("a1", "APPEND"))
        );
        assert_eq!(leading_words(b"a1\r\n"), Some(("a1", "")));
        assert_eq!(leading_words(b"\xff\xfe garbage\r\n"), None);
        assert_eq!(leading_words(b"* FETCH\r\n"), None);
    }

    #[test]
    fn command_labels_are_known_names_only() {
        assert_eq!(command_label(b"a1 append INBOX {5}\r\n"), "APPEND");
        assert_eq!(command_label(b"a2 UID fetch 1:* FLAGS\r\n"), "UID FETCH");
        assert_eq!(command_label(b"a3 UID EXPUNGE\r\n"), "UID EXPUNGE");
        assert_eq!(command_label(b"a4 UID XYZZY\r\n"), "UID");
        assert_eq!(command_label(b"a5 XYZZY\r\n"), "other");
        assert_eq!(command_label(b"\xff garbage\r\n"), "other");
    }
}
