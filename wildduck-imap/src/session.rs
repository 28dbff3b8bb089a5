//! One client session: the RFC 3501 state machine, the selected mailbox's sequence map and the
//! journal-driven untagged updates (EXISTS, EXPUNGE, FETCH FLAGS) where §7.4.1 allows them.

use std::collections::BTreeSet;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use tokio::sync::watch;
use wildduck_store::{
    Change, ChangeKind, Error, Flag, Mailbox, MailboxError, MessageError, ModSeq, StorageErrorKind,
    Store, Uid, User,
};

use crate::command::{self, Kind, Request};
use crate::connection::{Connection, Inbound};
use crate::encode;
use crate::{Config, LITERAL_MINUS_MAX, Literals};

/// What every session of one server shares.
pub struct Shared {
    pub store: Store,
    pub config: Config,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Shared {
    pub fn new(store: Store, config: Config, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        Self { store, config, tls }
    }
}

/// The tagged result of a command.
#[derive(Debug)]
pub enum Reply {
    Ok(String),
    No(String),
    Bad(String),
    /// LOGOUT: `* BYE`, tagged OK, then the connection closes.
    Logout,
    /// The handler already wrote the tagged response (STARTTLS answers before the handshake).
    AlreadySent,
}

/// Why a handler stopped early: the connection broke, or the command fails with a reply.
#[derive(Debug)]
pub enum Fail {
    Io(io::Error),
    Reply(Reply),
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Fail::Io(e)
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Reply(store_error(&e))
    }
}

pub type Outcome = Result<Reply, Fail>;

/// Store errors as IMAP replies with RFC 5530 response codes.
pub fn store_error(e: &Error) -> Reply {
    let text = match e {
        Error::Mailbox(MailboxError::NotFound) => "[NONEXISTENT] No such mailbox".to_string(),
        Error::Mailbox(MailboxError::AlreadyExists) => {
            "[ALREADYEXISTS] Mailbox already exists".to_string()
        }
        Error::Mailbox(MailboxError::InvalidName(why)) => {
            format!("[CANNOT] Invalid mailbox name: {why}")
        }
        Error::Mailbox(MailboxError::Protected(why)) => format!("[CANNOT] {why}"),
        Error::Message(MessageError::OverQuota { .. }) => "[OVERQUOTA] Quota exceeded".to_string(),
        Error::Message(MessageError::TooBig { limit, .. }) => {
            format!("[TOOBIG] Message too big (limit {limit} bytes)")
        }
        Error::Message(MessageError::InvalidFlag(flag)) => format!("Invalid flag {flag}"),
        Error::Message(MessageError::InvalidSection(why)) => format!("Invalid section: {why}"),
        Error::Message(MessageError::NotFound) => "[NONEXISTENT] No such message".to_string(),
        Error::Auth(_) => "[AUTHENTICATIONFAILED] Authentication failed".to_string(),
        Error::User(_) | Error::Address(_) => "[CANNOT] Account error".to_string(),
        Error::Storage(failure) => {
            tracing::error!(error = %failure, "store failed");
            match failure.kind() {
                StorageErrorKind::Unavailable | StorageErrorKind::Timeout => {
                    "[UNAVAILABLE] Storage is unavailable, try again later".to_string()
                }
                StorageErrorKind::Corrupt => "[CORRUPTION] Stored data is damaged".to_string(),
                StorageErrorKind::Limit => "[LIMIT] Storage limit reached".to_string(),
                StorageErrorKind::Constraint | StorageErrorKind::Internal => {
                    "[SERVERBUG] Internal error".to_string()
                }
            }
        }
    };
    Reply::No(text)
}

/// The selected mailbox as this session has shown it.
pub struct Selected {
    pub mailbox: Mailbox,
    pub read_only: bool,
    /// UIDs in sequence order: index + 1 = sequence number.
    pub uids: Vec<Uid>,
    /// Highest MODSEQ whose changes were applied to `uids`.
    pub modseq: ModSeq,
    /// MODSEQs of this session's own flag changes (already reported, not echoed again).
    pub own_modseqs: Vec<ModSeq>,
    /// Keywords announced in FLAGS.
    pub keywords: BTreeSet<String>,
}

impl Selected {
    pub fn sequence_of(&self, uid: Uid) -> Option<usize> {
        self.uids.binary_search(&uid).ok().map(|i| i + 1)
    }
}

pub struct Session {
    pub shared: Arc<Shared>,
    pub conn: Connection,
    /// The client's address: login failures are counted against it.
    pub peer: std::net::IpAddr,
    pub peer_is_loopback: bool,
    pub user: Option<User>,
    user_slot: Option<wildduck_store::SessionSlot>,
    pub selected: Option<Selected>,
    pub condstore: bool,
    /// The client enabled UTF8=ACCEPT (RFC 6855).
    pub utf8: bool,
    bad_commands: u32,
    pub shutdown: watch::Receiver<bool>,
}

enum Flow {
    Continue,
    Close,
}

impl Session {
    pub fn new(
        shared: Arc<Shared>,
        conn: Connection,
        peer: std::net::IpAddr,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            shared,
            conn,
            peer,
            peer_is_loopback: peer.to_canonical().is_loopback(),
            user: None,
            user_slot: None,
            selected: None,
            condstore: false,
            utf8: false,
            bad_commands: 0,
            shutdown,
        }
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Plaintext credentials are accepted over TLS, or where the config allows it.
    pub fn login_allowed(&self) -> bool {
        self.conn.is_tls()
            || self
                .shared
                .config
                .allow_plaintext_login
                .unwrap_or(self.peer_is_loopback)
    }

    pub fn capabilities(&self) -> String {
        let mut caps = vec!["IMAP4rev1"];
        if self.user.is_none() {
            if !self.conn.is_tls() && self.shared.tls.is_some() {
                caps.push("STARTTLS");
            }
            if self.login_allowed() {
                caps.extend(["AUTH=PLAIN", "SASL-IR"]);
            } else {
                caps.push("LOGINDISABLED");
            }
        }
        caps.extend([
            "ID",
            "ENABLE",
            "IDLE",
            "NAMESPACE",
            "UNSELECT",
            "UIDPLUS",
            "MOVE",
            "CHILDREN",
            "SPECIAL-USE",
            "LIST-EXTENDED",
            "LIST-STATUS",
            "XLIST",
            "CONDSTORE",
            "QUOTA",
            "QUOTA=RES-STORAGE",
            "COMPRESS=DEFLATE",
            "UTF8=ACCEPT",
        ]);
        match self.shared.config.literals() {
            Literals::Plus => caps.push("LITERAL+"),
            Literals::Minus => caps.push("LITERAL-"),
            Literals::SyncOnly => {}
        }
        let mut text = caps.join(" ");
        text.push_str(&format!(
            " APPENDLIMIT={}",
            self.store().config().max_message_size
        ));
        text
    }

    /// Marks the session as logged in as `user`, unless the user has too many sessions
    /// (counted by the store, so across processes when they share Redis).
    pub async fn log_in(&mut self, user: User) -> Result<(), Fail> {
        let limit = u64::try_from(self.shared.config.max_connections_per_user).unwrap_or(u64::MAX);
        let Some(slot) = self.store().hold_session("imap", user.id, limit).await? else {
            return Err(Fail::Reply(Reply::No(
                "[LIMIT] Too many simultaneous connections for this user".into(),
            )));
        };
        tracing::info!(user = %user.username, "logged in");
        self.user_slot = Some(slot);
        self.user = Some(user);
        Ok(())
    }

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
            if *self.shutdown.borrow() {
                self.conn.untagged("BYE Server shutting down");
                break;
            }
            let inbound = tokio::select! {
                inbound = self.conn.read_inbound() => inbound,
                _ = self.shutdown.changed() => {
                    self.conn.untagged("BYE Server shutting down");
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
            self.store().config().max_message_size
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
        let map: &[Uid] = self.selected.as_ref().map_or(&[], |s| &s.uids);
        let bytes = self.conn.message_bytes();
        let mut parsed = decode(bytes, map);
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
            parsed = decode(&cleaned, map);
        }
        let request = match parsed {
            Some(Ok(request)) => request,
            Some(Err(refusal)) => {
                if refusal.text.starts_with("[BADCHARSET") {
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
        let expunge_allowed = !matches!(
            kind,
            Kind::Fetch { uid: false, .. }
                | Kind::Store { uid: false, .. }
                | Kind::Search { uid: false, .. }
        );
        let outcome = match self.state_error(&kind) {
            Some(reply) => Ok(reply),
            None => self.dispatch(&tag, kind).await,
        };
        let reply = match outcome {
            Ok(reply) | Err(Fail::Reply(reply)) => reply,
            Err(Fail::Io(e)) => return Err(e),
        };
        if self.selected.is_some()
            && !matches!(reply, Reply::Logout)
            && let Err(Fail::Io(e)) = self.sync_selected(expunge_allowed).await
        {
            return Err(e);
        }
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
            Kind::Id => auth::id(self),
            Kind::Enable { capabilities } => auth::enable(self, &capabilities),
            Kind::Namespace => mailbox::namespace(self),
            Kind::Select {
                mailbox,
                read_only,
                condstore,
            } => mailbox::select(self, &mailbox, read_only, condstore).await,
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
            Kind::Append {
                mailbox,
                flags,
                date,
                utf8,
            } => append::append(self, &mailbox, &flags, date, utf8).await,
            Kind::Close => expunge::close(self).await,
            Kind::Unselect => {
                self.selected = None;
                Ok(Reply::Ok("Unselect completed".into()))
            }
            Kind::Expunge { uids } => expunge::expunge(self, uids.as_ref()).await,
            Kind::Search { uid, key } => search::search(self, uid, &key).await,
            Kind::Fetch {
                uid,
                set,
                items,
                changed_since,
            } => fetch::fetch(self, uid, &set, &items, changed_since).await,
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

    /// Applies journal changes of the selected mailbox and reports them: EXISTS for new
    /// messages, FETCH FLAGS for others' flag changes, and EXPUNGE when `expunge_allowed`.
    pub async fn sync_selected(&mut self, expunge_allowed: bool) -> Result<(), Fail> {
        let Some(selected) = self.selected.as_ref() else {
            return Ok(());
        };
        let (mailbox, since) = (selected.mailbox.id, selected.modseq);
        let changes = match self.shared.store.changes_since(mailbox, since).await {
            Ok(changes) => changes,
            Err(Error::Mailbox(MailboxError::NotFound)) => {
                // Deleted by another session: the sequence map means nothing any more.
                self.conn
                    .untagged("BYE Selected mailbox was deleted, have to disconnect");
                return Err(Fail::Io(io::Error::other("selected mailbox deleted")));
            }
            Err(e) => return Err(e.into()),
        };
        if changes.truncated {
            return self.resync_from_snapshot(expunge_allowed).await;
        }
        let Some(selected) = self.selected.as_mut() else {
            return Ok(());
        };
        // Expunges may not be reported now: apply only what precedes the first one.
        let stop = if expunge_allowed {
            None
        } else {
            changes
                .changes
                .iter()
                .find(|c| c.kind == ChangeKind::Expunge)
                .map(|c| c.modseq)
        };
        let mut new_uids = Vec::new();
        let mut expunged = Vec::new();
        let mut flag_updates = Vec::new();
        for Change { modseq, uid, kind } in changes.changes {
            if stop.is_some_and(|stop| modseq >= stop) {
                break;
            }
            match kind {
                ChangeKind::Exists => new_uids.push(uid),
                ChangeKind::Expunge => expunged.push(uid),
                ChangeKind::Flags(flags) if !selected.own_modseqs.contains(&modseq) => {
                    flag_updates.push((uid, flags, modseq));
                }
                ChangeKind::Flags(_) => {}
            }
        }
        selected.modseq = match stop {
            Some(stop) => selected.modseq.max(stop - 1),
            None => selected.modseq.max(changes.highest_modseq),
        };
        let applied = selected.modseq;
        selected.own_modseqs.retain(|&m| m > applied);
        self.report_changes(expunged, new_uids, flag_updates);
        Ok(())
    }

    /// Writes EXPUNGE lines, then EXISTS for new messages, then FETCH FLAGS, and updates the
    /// sequence map accordingly. EXISTS is only sent when messages were added.
    fn report_changes(
        &mut self,
        expunged: Vec<Uid>,
        new_uids: Vec<Uid>,
        flag_updates: Vec<(Uid, wildduck_store::Flags, ModSeq)>,
    ) {
        let Some(selected) = self.selected.as_mut() else {
            return;
        };
        let mut lines = Vec::new();
        for uid in expunged {
            if let Some(seq) = selected.sequence_of(uid) {
                selected.uids.remove(seq - 1);
                lines.push(format!("{seq} EXPUNGE"));
            }
        }
        let mut added = false;
        for uid in new_uids {
            if selected.uids.last().is_none_or(|&last| uid > last) {
                selected.uids.push(uid);
                added = true;
            }
        }
        if added {
            lines.push(format!("{} EXISTS", selected.uids.len()));
        }
        let mut new_keywords = false;
        for (uid, flags, modseq) in flag_updates {
            if let Some(seq) = selected.sequence_of(uid) {
                for flag in &flags {
                    if let Flag::Keyword(k) = flag {
                        new_keywords |= selected.keywords.insert(k.clone());
                    }
                }
                let modseq = if self.condstore {
                    format!(" MODSEQ ({modseq})")
                } else {
                    String::new()
                };
                lines.push(format!(
                    "{seq} FETCH (UID {uid} FLAGS {}{modseq})",
                    encode::flag_list(&flags)
                ));
            }
        }
        if new_keywords {
            lines.insert(0, format!("FLAGS {}", flags_line(&selected.keywords)));
        }
        for line in lines {
            self.conn.untagged(&line);
        }
    }

    async fn resync_from_snapshot(&mut self, expunge_allowed: bool) -> Result<(), Fail> {
        let Some(selected) = self.selected.as_ref() else {
            return Ok(());
        };
        let snapshot = self.shared.store.snapshot(selected.mailbox.id).await?;
        let Some(selected) = self.selected.as_mut() else {
            return Ok(());
        };
        let current: BTreeSet<Uid> = snapshot.uids.iter().copied().collect();
        let gone: Vec<Uid> = selected
            .uids
            .iter()
            .copied()
            .filter(|u| !current.contains(u))
            .collect();
        if !gone.is_empty() && !expunge_allowed {
            return Ok(());
        }
        let last_known = selected.uids.last().copied().unwrap_or(0);
        let new: Vec<Uid> = snapshot
            .uids
            .iter()
            .copied()
            .filter(|&u| u > last_known)
            .collect();
        selected.modseq = snapshot.highest_modseq;
        self.report_changes(gone, new, Vec::new());
        Ok(())
    }
}

/// Parses a command with imap-codec, falling back to our parser for what it lacks.
fn decode(bytes: &[u8], map: &[Uid]) -> Option<Result<Request, command::Refusal>> {
    match CommandCodec::default().decode(bytes) {
        Ok(([], command)) => Some(command::from_codec(&command.body, map).map(|kind| Request {
            tag: command.tag.inner().to_string(),
            kind,
        })),
        _ => command::extended::parse(bytes),
    }
}

/// `FLAGS` list of a mailbox: system flags and the keywords in use.
pub fn flags_line(keywords: &BTreeSet<String>) -> String {
    let mut flags = String::from("(\\Answered \\Flagged \\Deleted \\Seen \\Draft");
    for keyword in keywords {
        flags.push(' ');
        flags.push_str(keyword);
    }
    flags.push(')');
    flags
}

const KNOWN_COMMANDS: [&str; 35] = [
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
];

/// The tag and command word of a command's first line, if they look like IMAP.
pub fn leading_words(bytes: &[u8]) -> Option<(&str, &str)> {
    let line_end = bytes
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(bytes.len());
    let line = std::str::from_utf8(&bytes[..line_end]).ok()?;
    let mut words = line.split(' ');
    let tag = words.next().filter(|t| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\+".contains(&b))
    })?;
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
    fn flags_line_lists_keywords() {
        let keywords: BTreeSet<String> = ["$Junk".to_string()].into_iter().collect();
        assert_eq!(
            flags_line(&keywords),
            "(\\Answered \\Flagged \\Deleted \\Seen \\Draft $Junk)"
        );
    }
}
