//! Which events a change logs, with WildDuck's names and payload fields (`lib/events.js` and
//! its `publish` calls). The engines call these inside the atomic unit of the change, so an
//! event is logged exactly when its change is stored; webhooks (`crate::webhooks`) read the
//! log afterwards.

use serde_json::{Value, json};

use crate::backend::{RegistryEntry, RegistryKind, now};
use crate::model::{Address, Event, Mailbox, MailboxId, RecordId, SpecialUse, Uid, User, UserId};

fn event(kind: &str, user: UserId, data: Value) -> Event {
    Event {
        id: RecordId::new(),
        kind: kind.to_string(),
        user: Some(user),
        created: now(),
        data: data.to_string(),
    }
}

pub(crate) fn user_created(user: &User, address: Option<&Address>) -> Event {
    event(
        "user.created",
        user.id,
        json!({"username": user.username, "address": address.map(|a| &a.address)}),
    )
}

/// WildDuck logs `user.delete.completed` when a user's data is gone.
pub(crate) fn user_deleted(user: UserId) -> Event {
    event("user.delete.completed", user, json!({}))
}

pub(crate) fn address_created(address: &Address) -> Event {
    event(
        "address.user.created",
        address.user,
        json!({"address": address.id.to_string(), "value": address.address}),
    )
}

pub(crate) fn address_deleted(address: &Address) -> Event {
    event(
        "address.user.deleted",
        address.user,
        json!({"address": address.id.to_string(), "value": address.address}),
    )
}

pub(crate) fn mailbox_created(user: UserId, mailbox: MailboxId, path: &str) -> Event {
    event(
        "mailbox.created",
        user,
        json!({"mailbox": mailbox.to_string(), "path": path}),
    )
}

pub(crate) fn mailbox_renamed(
    user: UserId,
    mailbox: MailboxId,
    previous: &str,
    path: &str,
) -> Event {
    event(
        "mailbox.renamed",
        user,
        json!({"mailbox": mailbox.to_string(), "previous": previous, "current": path}),
    )
}

pub(crate) fn mailbox_deleted(user: UserId, mailbox: MailboxId, path: &str) -> Event {
    event(
        "mailbox.deleted",
        user,
        json!({"mailbox": mailbox.to_string(), "path": path}),
    )
}

/// WildDuck's junk events for a message copied or moved from `from` to `to`: into \Junk from
/// elsewhere is `marked.spam`; out of \Junk into anything but \Trash is `marked.ham`.
pub(crate) fn junk_marking(from: &Mailbox, to: &Mailbox) -> Option<&'static str> {
    let junk = |mailbox: &Mailbox| mailbox.special_use == Some(SpecialUse::Junk);
    match (junk(from), junk(to)) {
        (false, true) => Some("marked.spam"),
        (true, false) if to.special_use != Some(SpecialUse::Trash) => Some("marked.ham"),
        _ => None,
    }
}

/// A `marked.spam`/`marked.ham` event (of [`junk_marking`]) for the message as it is now:
/// `message` its id and `uid` its UID in `mailbox`, as WildDuck's payload.
pub(crate) fn junk_marked(
    kind: &'static str,
    user: UserId,
    mailbox: MailboxId,
    message: RecordId,
    uid: Uid,
) -> Event {
    event(
        kind,
        user,
        json!({"mailbox": mailbox.to_string(), "message": message.to_string(), "id": uid}),
    )
}

/// What happened to an operator record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecordChange {
    Created,
    Updated,
    Deleted,
}

/// The event of an operator record's change, for the kinds whose events we log: domain
/// aliases (`domainalias.created|deleted`) and DKIM keys (`dkim.created|updated|deleted`).
/// These concern no user, so every webhook whose pattern matches gets them.
pub(crate) fn record_changed(
    kind: RegistryKind,
    entry: &RegistryEntry,
    change: RecordChange,
) -> Option<Event> {
    let body: Value = serde_json::from_str(&entry.body).unwrap_or(Value::Null);
    let id = entry.id.to_string();
    let (name, data) = match kind {
        RegistryKind::DomainAlias => (
            "domainalias",
            json!({"domainalias": id, "alias": entry.key, "domain": body["domain"]}),
        ),
        RegistryKind::Dkim => (
            "dkim",
            json!({"dkim": id, "domain": entry.key, "selector": body["selector"],
                   "fingerprint": body["fingerprint"]}),
        ),
        _ => return None,
    };
    let verb = match change {
        RecordChange::Created => "created",
        RecordChange::Updated => "updated",
        RecordChange::Deleted => "deleted",
    };
    Some(Event {
        id: RecordId::new(),
        kind: format!("{name}.{verb}"),
        user: None,
        created: now(),
        data: data.to_string(),
    })
}
