//! What a session is and what its commands answer: the per-connection state (connection,
//! login, selected mailbox with its sequence map), the journal-driven untagged updates
//! (EXISTS, EXPUNGE, FETCH FLAGS) where RFC 3501 §7.4.1 allows them, and the replies. The
//! command handlers in `command/` work on it; `session` runs the loop that calls them.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use wildduck_net::Shutdown;
use wildduck_store::{
    Change, ChangeKind, Error, Flag, Flags, LogoutWatch, Mailbox, MailboxError, MessageError,
    ModSeq, Snapshot, StorageErrorKind, Store, Uid, User,
};

use crate::connection::Connection;
use crate::encode;
use crate::{Config, Literals};

/// Resolves with the reason when the logged-in user is logged out (never before a login).
/// Takes the field, not the session, so it can wait beside a read of the connection.
pub async fn logout_requested(watch: &mut Option<LogoutWatch>) -> Arc<str> {
    let Some(watch) = watch else {
        return std::future::pending().await;
    };
    loop {
        match watch.recv().await {
            Ok(reason) => return reason,
            // Missed some logouts: the next one kept ends the session as well.
            Err(RecvError::Lagged(_)) => continue,
            // The store is gone; nobody can log this user out any more.
            Err(RecvError::Closed) => return std::future::pending().await,
        }
    }
}

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
        Error::Message(MessageError::NotDraft) => "[CANNOT] Not a draft".to_string(),
        Error::Message(
            MessageError::SendingLimit { .. } | MessageError::TooManyRecipients { .. },
        ) => "[LIMIT] Sending limit reached".to_string(),
        Error::Auth(_) => "[AUTHENTICATIONFAILED] Authentication failed".to_string(),
        Error::User(_)
        | Error::Address(_)
        | Error::Asp(_)
        | Error::Rule(_)
        | Error::Registry(_) => "[CANNOT] Account error".to_string(),
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
    /// The messages that are \Recent in this session (see `Store::claim_recent`).
    pub recent: BTreeSet<Uid>,
    /// MODSEQs this session showed for messages (FETCH, STORE) beyond `modseq`: an older
    /// journal change of such a message is not reported, since a client's view of a message's
    /// MODSEQ never goes back (RFC 7162 §3.2).
    pub shown_modseqs: HashMap<Uid, ModSeq>,
    /// The saved search result (`$`, RFC 5182): empty at SELECT.
    pub saved: Vec<Uid>,
    /// The highest MODSEQ the current command showed (FETCH, STORE, SEARCH); see
    /// [`Session::settle_cached_modseq`].
    pub highest_shown: ModSeq,
}

impl Selected {
    pub fn new(
        mailbox: Mailbox,
        read_only: bool,
        snapshot: Snapshot,
        keywords: BTreeSet<String>,
        recent: BTreeSet<Uid>,
    ) -> Self {
        Self {
            mailbox,
            read_only,
            uids: snapshot.uids,
            modseq: snapshot.highest_modseq,
            own_modseqs: Vec::new(),
            keywords,
            recent,
            shown_modseqs: HashMap::new(),
            saved: Vec::new(),
            highest_shown: 0,
        }
    }

    pub fn sequence_of(&self, uid: Uid) -> Option<usize> {
        self.uids.binary_search(&uid).ok().map(|i| i + 1)
    }

    pub fn is_recent(&self, uid: Uid) -> bool {
        self.recent.contains(&uid)
    }

    /// Drops an expunged message; its sequence number as it was, if the session knew it.
    pub fn remove(&mut self, uid: Uid) -> Option<usize> {
        let seq = self.sequence_of(uid)?;
        self.uids.remove(seq - 1);
        self.recent.remove(&uid);
        self.shown_modseqs.remove(&uid);
        Some(seq)
    }

    /// Notes a MODSEQ shown to the client for `uid`.
    pub fn shown(&mut self, uid: Uid, modseq: ModSeq) {
        self.shown_modseq(modseq);
        if modseq > self.modseq {
            let shown = self.shown_modseqs.entry(uid).or_default();
            *shown = (*shown).max(modseq);
        }
    }

    /// Notes a MODSEQ the current command showed, for a message or as a search's highest.
    pub fn shown_modseq(&mut self, modseq: ModSeq) {
        self.highest_shown = self.highest_shown.max(modseq);
    }

    /// Adds the keywords among `flags` that the client was not told of to the announced set
    /// and returns the untagged FLAGS and PERMANENTFLAGS lines that must precede any response
    /// showing them (a client may reject a keyword it never saw in FLAGS); none if nothing
    /// grew. Another session's STORE can introduce a keyword at any time.
    pub fn announce_keywords<'a>(
        &mut self,
        flags: impl IntoIterator<Item = &'a Flag>,
    ) -> Vec<String> {
        let mut grown = false;
        for flag in flags {
            if let Flag::Keyword(keyword) = flag
                && !self.keywords.contains(keyword)
            {
                self.keywords.insert(keyword.clone());
                grown = true;
            }
        }
        if grown {
            flags_announcement(&self.keywords, self.read_only).to_vec()
        } else {
            Vec::new()
        }
    }

    /// Whether a journal change of `uid` at `modseq` is older than what the client was shown.
    fn superseded(&self, uid: Uid, modseq: ModSeq) -> bool {
        self.own_modseqs.contains(&modseq)
            || self
                .shown_modseqs
                .get(&uid)
                .is_some_and(|&shown| shown >= modseq)
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
    /// Logouts of the logged-in user (API, suspension) from any process.
    pub logout: Option<LogoutWatch>,
    pub selected: Option<Selected>,
    pub condstore: bool,
    /// The client enabled QRESYNC (RFC 7162): expunges are reported as VANISHED.
    pub qresync: bool,
    /// The client enabled UTF8=ACCEPT (RFC 6855).
    pub utf8: bool,
    /// Bad commands so far; too many end the session.
    pub bad_commands: u32,
    pub shutdown: Shutdown,
}

impl Session {
    pub fn new(
        shared: Arc<Shared>,
        conn: Connection,
        peer: std::net::IpAddr,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            shared,
            conn,
            peer,
            peer_is_loopback: peer.to_canonical().is_loopback(),
            user: None,
            user_slot: None,
            logout: None,
            selected: None,
            condstore: false,
            qresync: false,
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
                .allows(self.peer_is_loopback)
    }

    pub fn capabilities(&self) -> String {
        let mut caps = vec!["IMAP4rev1"];
        if self.user.is_none() {
            if !self.conn.is_tls() && self.shared.tls.is_some() {
                caps.push("STARTTLS");
            }
            if self.login_allowed() {
                caps.extend(["AUTH=PLAIN", "AUTH=OAUTHBEARER", "AUTH=XOAUTH2", "SASL-IR"]);
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
            "QRESYNC",
            "QUOTA",
            "QUOTA=RES-STORAGE",
            "STATUS=SIZE",
            "COMPRESS=DEFLATE",
            "UTF8=ACCEPT",
            "UNAUTHENTICATE",
            "ESEARCH",
            "SEARCHRES",
            "SORT",
            "SORT=DISPLAY",
            "ESORT",
            "THREAD=ORDEREDSUBJECT",
            "THREAD=REFERENCES",
            "OBJECTID",
            "MULTIAPPEND",
            "SAVEDATE",
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
        self.logout = Some(self.store().watch_logout(user.id));
        self.user_slot = Some(slot);
        self.user = Some(user);
        Ok(())
    }

    /// Back to the not-authenticated state (RFC 8437 UNAUTHENTICATE): the user's session slot
    /// is released and what the user selected or enabled is forgotten; TLS and compression
    /// stay.
    pub fn log_out_user(&mut self) {
        if let Some(user) = self.user.take() {
            tracing::info!(user = %user.username, "unauthenticated");
        }
        self.user_slot = None;
        self.logout = None;
        self.selected = None;
        self.condstore = false;
        self.qresync = false;
        self.utf8 = false;
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
        // Every flag set in the journal, shown or not: a keyword another session added and
        // removed again is known to that session, so every session gets to know it.
        let mut journal_flags = Flags::new();
        let mut arrivals = false;
        for Change { modseq, uid, kind } in changes.changes {
            if stop.is_some_and(|stop| modseq >= stop) {
                break;
            }
            match kind {
                ChangeKind::Exists => {
                    arrivals = true;
                    new_uids.push(uid);
                }
                // A message that came and went since the last sync was never shown: it gets
                // neither EXISTS nor EXPUNGE (else it would stay in the sequence map).
                ChangeKind::Expunge => match new_uids.iter().position(|&u| u == uid) {
                    Some(i) => {
                        new_uids.remove(i);
                    }
                    None => expunged.push(uid),
                },
                ChangeKind::Flags(flags) => {
                    journal_flags.extend(flags.iter().cloned());
                    if !selected.superseded(uid, modseq) {
                        flag_updates.push((uid, flags, modseq));
                    }
                }
            }
        }
        // A message may arrive with a keyword and go before this session fetched it (no flag
        // change names it then), while the sessions that fetched it know the keyword: the
        // mailbox remembers every keyword its messages had, so all sessions list it.
        if arrivals {
            let remembered = self.shared.store.mailbox_keywords(mailbox).await?;
            journal_flags.extend(remembered.into_iter().map(Flag::Keyword));
        }
        selected.modseq = match stop {
            Some(stop) => selected.modseq.max(stop - 1),
            None => selected.modseq.max(changes.highest_modseq),
        };
        let applied = selected.modseq;
        selected.own_modseqs.retain(|&m| m > applied);
        selected.shown_modseqs.retain(|_, &mut m| m > applied);
        self.claim_recent(&new_uids).await?;
        self.report_changes(expunged, new_uids, &journal_flags, flag_updates);
        Ok(())
    }

    /// Ends a command's answer so that the MODSEQ a client caches for the mailbox covers no
    /// change it was not told of. A client may take the highest MODSEQ it saw in FETCH (or
    /// SEARCH) responses as the mailbox's; but where expunges were held back (FETCH, STORE and
    /// SEARCH by sequence number may not report them, RFC 3501 §7.4.1) or a SELECT's answer
    /// stopped at its snapshot, a MODSEQ shown may lie above an expunge the client has not
    /// heard of, and a later `SELECT … (QRESYNC …)` from that MODSEQ would never name it.
    /// Then `OK [HIGHESTMODSEQ n]` gives the point up to which the client knows every change
    /// (as Dovecot does; RFC 7162 §3.1.2.1 lets a client take it as the mailbox's).
    pub fn settle_cached_modseq(&mut self) {
        let Some(selected) = self.selected.as_mut() else {
            return;
        };
        let shown = std::mem::take(&mut selected.highest_shown);
        if self.condstore && shown > selected.modseq {
            self.conn
                .untagged(&format!("OK [HIGHESTMODSEQ {}] Highest", selected.modseq));
        }
    }

    /// Takes new messages as \Recent where no other session was first (read-write only; a
    /// read-only session shows as \Recent what nobody claimed, without claiming it).
    async fn claim_recent(&mut self, new_uids: &[Uid]) -> Result<(), Fail> {
        let Some(selected) = self.selected.as_ref() else {
            return Ok(());
        };
        let Some(&highest) = new_uids.iter().max() else {
            return Ok(());
        };
        let mailbox = selected.mailbox.id;
        let recent: Vec<Uid> = if selected.read_only {
            let unclaimed = self.shared.store.unclaimed_recent(mailbox).await?;
            new_uids
                .iter()
                .copied()
                .filter(|uid| unclaimed.binary_search(uid).is_ok())
                .collect()
        } else {
            let claimed = self.shared.store.claim_recent(mailbox, highest).await?;
            new_uids
                .iter()
                .copied()
                .filter(|uid| claimed.contains(uid))
                .collect()
        };
        if let Some(selected) = self.selected.as_mut() {
            selected.recent.extend(recent);
        }
        Ok(())
    }

    /// Writes EXPUNGE lines, then EXISTS for new messages, then FETCH FLAGS, and updates the
    /// sequence map accordingly. EXISTS is only sent when messages were added. Keywords among
    /// `journal_flags` the client does not know yet are announced first.
    fn report_changes(
        &mut self,
        expunged: Vec<Uid>,
        new_uids: Vec<Uid>,
        journal_flags: &Flags,
        flag_updates: Vec<(Uid, Flags, ModSeq)>,
    ) {
        let Some(selected) = self.selected.as_mut() else {
            return;
        };
        let mut lines = crate::command::qresync::expunge_lines(selected, expunged, self.qresync);
        let mut added = false;
        for uid in new_uids {
            if selected.uids.last().is_none_or(|&last| uid > last) {
                selected.uids.push(uid);
                added = true;
            }
        }
        if added {
            lines.push(format!("{} EXISTS", selected.uids.len()));
            lines.push(format!("{} RECENT", selected.recent.len()));
        }
        let announcement = selected.announce_keywords(journal_flags);
        lines.splice(0..0, announcement);
        for (uid, flags, modseq) in flag_updates {
            if let Some(seq) = selected.sequence_of(uid) {
                let modseq = if self.condstore {
                    format!(" MODSEQ ({modseq})")
                } else {
                    String::new()
                };
                lines.push(format!(
                    "{seq} FETCH (UID {uid} FLAGS {}{modseq})",
                    encode::flag_list(&flags, selected.is_recent(uid))
                ));
            }
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
        selected.own_modseqs.clear();
        selected.shown_modseqs.clear();
        self.claim_recent(&new).await?;
        self.report_changes(gone, new, &Flags::new(), Vec::new());
        Ok(())
    }
}

/// The untagged FLAGS and PERMANENTFLAGS lines that tell a client the mailbox's flags, at
/// SELECT and whenever the keywords grow.
pub fn flags_announcement(keywords: &BTreeSet<String>, read_only: bool) -> [String; 2] {
    let flags = flags_line(keywords);
    let permanent = if read_only {
        "OK [PERMANENTFLAGS ()] Read-only mailbox".to_string()
    } else {
        let permanent = flags.trim_end_matches(')').to_string() + " \\*)";
        format!("OK [PERMANENTFLAGS {permanent}] Flags permitted")
    };
    [format!("FLAGS {flags}"), permanent]
}

/// `FLAGS` list of a mailbox: system flags and the keywords in use.
fn flags_line(keywords: &BTreeSet<String>) -> String {
    let mut flags = String::from("(\\Answered \\Flagged \\Deleted \\Seen \\Draft");
    for keyword in keywords {
        flags.push(' ');
        flags.push_str(keyword);
    }
    flags.push(')');
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_line_lists_keywords() {
        let keywords: BTreeSet<String> = ["$Junk".to_string()].into_iter().collect();
        assert_eq!(
            flags_line(&keywords),
            "(\\Answered \\Flagged \\Deleted \\Seen \\Draft $Junk)"
        );
    }
}
