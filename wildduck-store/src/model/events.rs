//! The event log: what happened to an account or the install (WildDuck's event names), kept
//! durably beside the change it describes, for webhooks to read.

use super::{RecordId, Timestamp, UserId};

/// One logged event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub id: RecordId,
    /// WildDuck's event name, e.g. `user.created`.
    pub kind: String,
    /// The account it concerns, when it concerns one (webhooks of that user see it).
    pub user: Option<UserId>,
    pub created: Timestamp,
    /// WildDuck's payload fields besides `ev`, `user` and `time`: a JSON object.
    pub data: String,
}

/// A delivery of `event` to webhook `webhook` that one worker holds under its lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventDelivery {
    pub event: Event,
    pub webhook: RecordId,
    /// Attempts made before this one.
    pub attempts: u32,
    pub lease: RecordId,
}
