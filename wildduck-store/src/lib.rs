//! `wildduck-store`: a mail store that keeps everything in a database.
//!
//! Users and addresses, mailboxes with special-use roles, UID/MODSEQ allocation with a change
//! journal, MIME-aware content storage with deduplicated, compressed part bodies, quota and
//! search. The [`Store`] facade is the whole public surface; backends stay private.
//!
//! The store knows nothing of IMAP or POP3: no sequence numbers, no wire syntax, no sockets.

mod accounts;
mod backend;
mod content;
pub mod error;
pub mod limits;
mod migrate;
pub mod mime;
pub mod model;
mod names;
pub mod notify;
mod search;
mod store;
#[doc(hidden)]
pub mod testkit;

pub use backend::LiveContent;
pub use error::*;
pub use limits::{Counters, DailyLimitExceeded, LimitsConfig, MemoryCounters, SessionSlot};
pub use migrate::{EndCheck, MigrateOptions, MigrateProgress, MigrateReport};
pub use model::*;
pub use notify::Subscription;
pub use store::{Store, StoreConfig};
