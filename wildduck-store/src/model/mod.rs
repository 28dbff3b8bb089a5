//! The records and values the store speaks: users, addresses, mailboxes, messages, flags,
//! UID sets, changes, sections. Engine-neutral and protocol-neutral: nothing here knows SQL,
//! BSON, IMAP syntax or sequence numbers.

mod accounts;
mod events;
mod flags;
mod ids;
mod mailboxes;
mod messages;
mod outcomes;
mod uids;

pub use accounts::*;
pub use events::*;
pub use flags::*;
pub use ids::*;
pub use mailboxes::*;
pub use messages::*;
pub use outcomes::*;
pub use uids::*;
