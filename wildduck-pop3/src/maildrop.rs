//! The maildrop of one session: INBOX as it was at login, numbered 1..n for the whole
//! session, with the session's pending deletions and retrievals, applied only at QUIT.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::task::JoinSet;

use wildduck_store::{
    Error, Flag, FlagOp, Flags, MailboxError, MailboxId, MessageError, MessageId, MetaFields,
    Section, SpecialUse, Store, Uid, UidSet, UserId,
};

use crate::wire;

/// Messages whose content is read at once when sizes are computed.
const PARALLEL_READS: usize = 8;

/// One message as the session sees it.
pub(crate) struct Message {
    pub(crate) uid: Uid,
    pub(crate) id: MessageId,
    /// Size in the store, used only when the message vanished before its wire size was known.
    stored_size: u64,
    /// RFC 1939 size (see `wire`), computed when first needed.
    wire_size: Option<u64>,
    pub(crate) deleted: bool,
    pub(crate) retrieved: bool,
}

impl Message {
    /// The stable unique id shown by UIDL: the stored message's id, which no other message
    /// (not even a copy of this one) shares and which survives restarts.
    pub(crate) fn unique_id(&self) -> String {
        self.id.to_string()
    }

    pub(crate) fn size(&self) -> u64 {
        self.wire_size.unwrap_or(self.stored_size)
    }
}

/// Why a message number does not name a message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Missing {
    NoSuchMessage,
    Deleted,
}

impl Missing {
    pub(crate) fn reply(&self) -> &'static str {
        match self {
            Missing::NoSuchMessage => "No such message",
            Missing::Deleted => "Message is marked as deleted",
        }
    }
}

pub(crate) struct Maildrop {
    pub(crate) mailbox: MailboxId,
    user: UserId,
    messages: Vec<Message>,
}

impl Maildrop {
    /// Opens the user's INBOX; with `max_messages` only the newest that many are listed.
    pub(crate) async fn open(
        store: &Store,
        user: UserId,
        max_messages: Option<u32>,
    ) -> Result<Self, Error> {
        let mailbox = store.get_mailbox(user, "INBOX").await?;
        let snapshot = store.snapshot(mailbox.id).await?;
        let keep = max_messages.map_or(usize::MAX, |n| n as usize);
        let newest = &snapshot.uids[snapshot.uids.len().saturating_sub(keep)..];
        let messages = if newest.is_empty() {
            Vec::new()
        } else {
            let uids: UidSet = newest.iter().copied().collect();
            store
                .fetch_meta(mailbox.id, &uids, MetaFields::default())
                .await?
                .into_iter()
                .map(|meta| Message {
                    uid: meta.uid,
                    id: meta.id,
                    stored_size: meta.size,
                    wire_size: None,
                    deleted: false,
                    retrieved: false,
                })
                .collect()
        };
        Ok(Self {
            mailbox: mailbox.id,
            user,
            messages,
        })
    }

    /// The message numbered `number` (1-based), unless it is out of range or deleted.
    pub(crate) fn get(&self, number: u32) -> Result<&Message, Missing> {
        let index = (number as usize)
            .checked_sub(1)
            .ok_or(Missing::NoSuchMessage)?;
        match self.messages.get(index) {
            None => Err(Missing::NoSuchMessage),
            Some(message) if message.deleted => Err(Missing::Deleted),
            Some(message) => Ok(message),
        }
    }

    pub(crate) fn get_mut(&mut self, number: u32) -> Result<&mut Message, Missing> {
        self.get(number)?;
        Ok(&mut self.messages[number as usize - 1])
    }

    /// Messages not marked deleted, with their numbers.
    pub(crate) fn visible(&self) -> impl Iterator<Item = (u32, &Message)> {
        (1u32..)
            .zip(&self.messages)
            .filter(|(_, message)| !message.deleted)
    }

    /// Count and total size of the messages not marked deleted (needs `ensure_sizes`).
    pub(crate) fn totals(&self) -> (usize, u64) {
        self.visible().fold((0, 0), |(count, size), (_, message)| {
            (count + 1, size + message.size())
        })
    }

    /// Makes sure the wire sizes of `number` (or of every message) are known. Unknown ones
    /// are computed from the content, several messages at a time.
    pub(crate) async fn ensure_sizes(
        &mut self,
        store: &Store,
        cache: &WireSizeCache,
        number: Option<u32>,
    ) -> Result<(), Error> {
        let range = match number {
            Some(n) if self.get(n).is_ok() => n as usize - 1..n as usize,
            Some(_) => return Ok(()),
            None => 0..self.messages.len(),
        };
        let mut unknown = Vec::new();
        for index in range {
            let message = &mut self.messages[index];
            if message.wire_size.is_none() {
                message.wire_size = cache.get(message.id);
            }
            if message.wire_size.is_none() {
                unknown.push((index, message.uid));
            }
        }
        let mut unknown = unknown.into_iter();
        let mut reads = JoinSet::new();
        loop {
            while reads.len() < PARALLEL_READS {
                let Some((index, uid)) = unknown.next() else {
                    break;
                };
                let (store, mailbox) = (store.clone(), self.mailbox);
                reads.spawn(async move {
                    let body = store
                        .read_section(mailbox, uid, &Section::full(), None)
                        .await;
                    (
                        index,
                        body.map(|body| wire::wire_size(body.chunks.iter().map(|c| &c[..]))),
                    )
                });
            }
            let Some(done) = reads.join_next().await else {
                return Ok(());
            };
            let (index, size) = done?;
            let message = &mut self.messages[index];
            match size {
                Ok(size) => {
                    cache.insert(message.id, size);
                    message.wire_size = Some(size);
                }
                // Gone meanwhile (another session); RETR will say so.
                Err(Error::Message(MessageError::NotFound)) => {
                    message.wire_size = Some(message.stored_size)
                }
                Err(other) => return Err(other),
            }
        }
    }

    /// The wire size of `number` if this session or another one has computed it.
    pub(crate) fn known_size(&self, number: u32, cache: &WireSizeCache) -> Option<u64> {
        let message = self.get(number).ok()?;
        message.wire_size.or_else(|| cache.get(message.id))
    }

    /// Records a size learnt while sending the message.
    pub(crate) fn learn_size(&mut self, number: u32, size: u64, cache: &WireSizeCache) {
        if let Ok(message) = self.get_mut(number) {
            message.wire_size = Some(size);
            cache.insert(message.id, size);
        }
    }

    /// RSET: forget the deletion marks.
    pub(crate) fn undelete_all(&mut self) {
        for message in &mut self.messages {
            message.deleted = false;
        }
    }

    /// The UPDATE state: retrieved messages get `\Seen`, messages marked with DELE are
    /// expunged (exactly those UIDs) or, with `to_trash`, moved to the Trash folder.
    /// Returns how many messages were removed from INBOX.
    pub(crate) async fn commit(&self, store: &Store, to_trash: bool) -> Result<usize, Error> {
        let retrieved: UidSet = self
            .messages
            .iter()
            .filter(|m| m.retrieved)
            .map(|m| m.uid)
            .collect();
        let deleted: Vec<Uid> = self
            .messages
            .iter()
            .filter(|m| m.deleted)
            .map(|m| m.uid)
            .collect();
        if !retrieved.is_empty() {
            let seen = Flags::from([Flag::Seen]);
            store
                .store_flags(self.mailbox, &retrieved, FlagOp::Add, &seen, None)
                .await?;
        }
        if deleted.is_empty() {
            return Ok(0);
        }
        let deleted_set: UidSet = deleted.iter().copied().collect();
        if to_trash {
            let mailboxes = store.list_mailboxes(self.user).await?;
            let trash = mailboxes
                .iter()
                .find(|m| m.special_use == Some(SpecialUse::Trash))
                .ok_or(Error::Mailbox(MailboxError::NotFound))?;
            let moved = store
                .move_messages(self.mailbox, &deleted_set, trash.id)
                .await?;
            return Ok(moved.pairs.len());
        }
        let flag = Flags::from([Flag::Deleted]);
        store
            .store_flags(self.mailbox, &deleted_set, FlagOp::Add, &flag, None)
            .await?;
        let expunged = store.expunge(self.mailbox, Some(&deleted_set)).await?;
        Ok(expunged.uids.len())
    }
}

/// Wire sizes already computed, shared by all sessions of a server. A stored message never
/// changes, so an entry never goes stale; the map is emptied when it reaches its bound.
pub(crate) struct WireSizeCache {
    sizes: Mutex<HashMap<MessageId, u64>>,
    max_entries: usize,
}

impl WireSizeCache {
    pub(crate) fn new(max_entries: usize) -> Self {
        Self {
            sizes: Mutex::new(HashMap::new()),
            max_entries,
        }
    }

    fn get(&self, id: MessageId) -> Option<u64> {
        self.sizes.lock().ok()?.get(&id).copied()
    }

    fn insert(&self, id: MessageId, size: u64) {
        if let Ok(mut sizes) = self.sizes.lock() {
            if sizes.len() >= self.max_entries {
                sizes.clear();
            }
            sizes.insert(id, size);
        }
    }
}
