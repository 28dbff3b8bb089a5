//! Which events a change logs, with WildDuck's names and payload fields (`lib/events.js` and
//! its `publish` calls). The engines call these inside the atomic unit of the change, so an
//! event is logged exactly when its change is stored; webhooks (`crate::webhooks`) read the
//! log afterwards.

use serde_json::{Value, json};

use crate::backend::now;
use crate::model::{Address, Event, MailboxId, RecordId, User, UserId};

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
