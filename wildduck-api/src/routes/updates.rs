//! `GET /users/:user/updates`: WildDuck's change stream (`getUpdates`), a `text/event-stream`
//! of the user's journal across all mailboxes. Each event's `id:` is the entry's journal id
//! (`wildduck_store::model::JournalId`, 24 hex digits); a client resumes with the
//! `Last-Event-ID` header (or query parameter) and gets what came after it, once. Without
//! one the stream starts at the user's newest entry. The journal is read again from the last
//! id sent whenever the store's notifier wakes the user (any process, with Redis), and a
//! `: idling n` comment goes out after each quiet interval so proxies keep the line open.

use std::collections::{BTreeSet, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio::time::Instant;
use wildduck_store::Store;
use wildduck_store::model::{ChangeKind, JournalId, MailboxId, UserChange, UserId};
use wildduck_store::notify::Subscription;

use super::Shared;
use crate::auth::{Access, Action, Resource};
use crate::error::ApiError;
use crate::input::{QueryInput, hex_id, user_param};

/// WildDuck's interval between `: idling` comments.
const IDLE_INTERVAL: Duration = Duration::from_secs(15);
/// Journal entries read per step; a longer backlog is sent in several.
const PAGE: usize = 250;
const RESUME_FIELD: &str = "Last-Event-ID";

pub async fn updates(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    headers: HeaderMap,
    query: QueryInput,
) -> Result<Response, ApiError> {
    let user = user_param(&access, &user)?;
    // As WildDuck: the header, when sent, stands for the query parameter.
    let resume = match headers.get(RESUME_FIELD) {
        // A value that is not visible ASCII is refused below as not hex.
        Some(value) => Some(value.to_str().unwrap_or("-").to_string()),
        None => query
            .0
            .get(RESUME_FIELD)
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    let resume: Option<JournalId> = resume.map(|raw| hex_id(RESUME_FIELD, &raw)).transpose()?;
    access.require(user, Resource::Users, Action::Read)?;
    state.store.get_user(user).await?;

    // Subscribed before the first read: a change committed in between is read or woken for.
    let wake_ups = state.store.subscribe(user);
    let after = match resume {
        Some(id) => Some(id),
        None => state.store.user_journal_head(user).await?,
    };
    let feed = Feed {
        store: state.store.clone(),
        user,
        after,
        wake_ups,
        shutdown: state.shutdown.clone(),
        queued: VecDeque::new(),
        read_due: true,
        read_failed: false,
        next_idle: Instant::now(),
        idle_count: 0,
    };
    let body = Body::from_stream(futures_util::stream::unfold(feed, |mut feed| async move {
        let chunk = feed.next_chunk().await?;
        Some((Ok::<_, Infallible>(chunk), feed))
    }));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// One open stream: the last id sent and what is ready to go out.
struct Feed {
    store: Store,
    user: UserId,
    after: Option<JournalId>,
    wake_ups: Subscription,
    shutdown: watch::Receiver<bool>,
    queued: VecDeque<Bytes>,
    /// A wake-up (or the stream's start) asks for a read of the journal.
    read_due: bool,
    read_failed: bool,
    next_idle: Instant,
    idle_count: u64,
}

impl Feed {
    /// The next piece of the stream; `None` ends it (the server stops, or the notifier went
    /// away).
    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if let Some(chunk) = self.queued.pop_front() {
                return Some(chunk);
            }
            if self.read_due {
                self.read_due = false;
                if self.read_journal().await {
                    self.next_idle = Instant::now() + IDLE_INTERVAL;
                }
                continue;
            }
            tokio::select! {
                _ = self.shutdown.wait_for(|stop| *stop) => return None,
                woken = self.wake_ups.recv() => match woken {
                    // A lagging receiver missed wake-ups, not changes: the read catches up.
                    Ok(_) | Err(RecvError::Lagged(_)) => self.read_due = true,
                    Err(RecvError::Closed) => return None,
                },
                () = tokio::time::sleep_until(self.next_idle) => {
                    self.idle_count += 1;
                    self.queued
                        .push_back(Bytes::from(format!(": idling {}\n\n", self.idle_count)));
                    self.next_idle = Instant::now() + IDLE_INTERVAL;
                    // A read that failed is tried again at each quiet interval too.
                    self.read_due = self.read_failed;
                }
            }
        }
    }

    /// Queues the entries after the last id sent, then the counters of the mailboxes whose
    /// counts they may have moved. False when nothing was queued.
    async fn read_journal(&mut self) -> bool {
        let mut counted = BTreeSet::new();
        self.read_failed = false;
        loop {
            let entries = match self
                .store
                .user_changes_after(self.user, self.after, PAGE)
                .await
            {
                Ok(entries) => entries,
                Err(error) => {
                    // Said on the stream as WildDuck does; read again at the next wake-up.
                    tracing::warn!(user = %self.user, %error, "change stream could not read the journal");
                    self.queued.push_back(error_event(&error.to_string()));
                    self.read_failed = true;
                    break;
                }
            };
            let Some(last) = entries.last() else {
                break;
            };
            self.after = Some(last.id);
            let full_page = entries.len() == PAGE;
            for entry in &entries {
                counted.insert(entry.mailbox);
                self.queued
                    .push_back(event(&entry_json(entry), Some(entry.id)));
            }
            if !full_page {
                break;
            }
        }
        for mailbox in counted {
            self.queue_counters(mailbox).await;
        }
        !self.queued.is_empty()
    }

    /// WildDuck's `COUNTERS` event, under the id of the last entry sent. A mailbox deleted
    /// meanwhile has none.
    async fn queue_counters(&mut self, mailbox: MailboxId) {
        if let Ok(status) = self.store.mailbox_status(mailbox).await {
            let counters = json!({
                "command": "COUNTERS",
                "mailbox": mailbox.to_string(),
                "total": status.messages,
                "unseen": status.unseen,
            });
            self.queued.push_back(event(&counters, self.after));
        }
    }
}

/// An entry as WildDuck's journal entry reads on the stream (its `_id`, `user` and `modseq`
/// left out, as WildDuck leaves them out).
fn entry_json(entry: &UserChange) -> Value {
    let mut data = json!({
        "mailbox": entry.mailbox.to_string(),
        "uid": entry.change.uid,
    });
    let command = match &entry.change.kind {
        ChangeKind::Exists => "EXISTS",
        ChangeKind::Expunge => "EXPUNGE",
        ChangeKind::Flags(flags) => {
            data["flags"] = flags.iter().map(|flag| flag.to_string()).collect();
            "FETCH"
        }
    };
    data["command"] = command.into();
    data
}

/// One event: the JSON pretty-printed over `data:` lines (as WildDuck writes it), then the id.
fn event(data: &Value, id: Option<JournalId>) -> Bytes {
    let text = serde_json::to_string_pretty(data).expect("JSON values serialize");
    let mut out = format!("data: {}\n", text.replace('\n', "\ndata: "));
    if let Some(id) = id {
        out.push_str(&format!("id: {id}\n"));
    }
    out.push('\n');
    Bytes::from(out)
}

fn error_event(message: &str) -> Bytes {
    Bytes::from(format!(
        "event: error\ndata: {}\n\n",
        message.replace('\n', "\ndata: ")
    ))
}
