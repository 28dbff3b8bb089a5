//! `wildduck-store`: a mail store that keeps everything in a database.
//!
//! Users and addresses, mailboxes with special-use roles, UID/MODSEQ allocation with a change
//! journal, MIME-aware content storage with deduplicated, compressed part bodies, quota and
//! search. The [`Store`] facade is the whole public surface; backends stay private.
//!
//! The store knows nothing of IMAP or POP3: no sequence numbers, no wire syntax, no sockets.

mod accounts;
mod addressregister;
mod api_submission;
mod asps;
mod auth;
mod authlog;
mod backend;
mod certs;
mod content;
mod delivery;
mod dkim;
mod domain_rename;
mod domains;
mod drafts;
pub mod encryption;
pub mod error;
mod events;
mod files;
mod filters;
mod keys;
mod keywords;
pub mod limits;
mod message_rules;
mod migrate;
pub mod mime;
pub mod model;
mod names;
pub mod notify;
mod outbound;
mod preauth;
mod profiles;
mod retention;
mod search;
mod settings;
mod sort;
mod store;
mod stored_forward;
mod subscriptions;
mod telemetry;
/// The backend conformance suite and test helpers; only with the `testkit` feature, which
/// the store's own tests and the shells' tests turn on as a dev-dependency feature.
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod totp;
mod two_factor;
mod user_deletion;
mod webhooks;
mod webmail;

pub use accounts::{PlaintextLogin, normalize_address};
pub use addressregister::{MAX_REGISTER_RESULTS, RegisteredAddress};
pub use api_submission::SubmitEnvelope;
pub use asps::MAX_ASPS_PER_USER;
pub use auth::bearer::{BEARER_MECHANISMS, BearerCredentials, BearerMechanism, parse_bearer};
pub use auth::tokens::ACCESS_TOKEN_TTL;
pub use auth::{DEFAULT_LOGOUT_REASON, Login, Secret};
pub use authlog::{
    ACTION_AUTHENTICATION, ACTION_CHECK_TOTP, AUTH_LOG_RETENTION, AttemptOrigin, AuthEvent,
    AuthLogFilter, AuthResult, AuthSource,
};
pub use backend::{LiveContent, RegistryKind, now};
pub use certs::{Certificate, ListenerCertificate, NewCertificate};
pub use delivery::{Delivered, Delivery, Destination, Recipient, Srs};
pub use dkim::{DkimKey, DkimSigner, NewDkimKey};
pub use domain_rename::DomainRenamed;
pub use domains::{AccessAction, DomainAccess, DomainAlias, normalize_domain};
pub use error::*;
pub use files::NewFile;
pub use filters::{
    Autoreply, AutoreplyUpdate, DeliveryPolicy, Filter, FilterAction, FilterQuery,
    MAX_FILTERS_PER_USER, NewFilter, SpamPolicy,
};
pub use limits::{
    Counters, DailyLimitExceeded, DailyWindow, LimitsConfig, MemoryCounters, SessionSlot,
};
pub use migrate::{EndCheck, MigrateOptions, MigrateProgress, MigrateReport};
pub use model::*;
pub use notify::{LogoutWatch, Subscription};
pub use outbound::{
    AttemptOutcome, ClaimScope, Claimed, NextHop, OutboundEntry, OutboundRecipient,
    RecipientStatus, RelayReply, RetryPolicy, Submission, Submitted, mask_url_password,
};
pub use profiles::{
    AddressDetails, ForwardTarget, ForwardedAddress, ForwardedAutoreply, NewForwarded, UserProfile,
    normalize_tags, tags_match,
};
pub use settings::Setting;
pub use sort::{SortCriterion, SortKey, ThreadAlgorithm, ThreadNode, base_subject};
pub use store::{Store, StoreConfig, Unhealthy};
pub use two_factor::{TotpRefusal, TotpResult, TotpSetup};
pub use user_deletion::{DeletedUserInfo, DeletionScheduled, Restored};
pub use webhooks::{
    DeliveryEnd, EVENT_HORIZON, MAX_DELIVERY_ATTEMPTS, PostAnswer, Webhook, delivery_payload,
    pattern_matches,
};
pub use webmail::DisplayMessage;
