//! The delivery rules a user sets: filters (WildDuck's model) and the autoreply. Engine-neutral:
//! validation and policy here, the records kept by an engine's [`DeliveryRules`].
//!
//! A filter is a query (From, To/Cc/Delivered-To, Subject and List-ID as case-insensitive
//! substrings, a text query over the decoded body, has-attachment, a size bound) and an action
//! (mark seen, flag, delete, spam, file into a mailbox, forward to targets). At delivery the
//! user's enabled filters are tried in creation order (`delivery/filters.rs`): the first filter
//! to set an action decides it, forward targets add up. Submodules: [`matching`] decides
//! whether a message matches a query, [`spam`] reads the MTA's verdict, [`autoreply`] decides
//! and writes the vacation reply.
//!
//! [`DeliveryRules`]: crate::backend::DeliveryRules

pub(crate) mod autoreply;
pub(crate) mod matching;
pub mod spam;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backend::now;
use crate::error::{MailboxError, Result, RuleError};
use crate::model::*;
use crate::profiles::ForwardTarget;
use crate::store::Store;

pub use spam::SpamPolicy;

/// WildDuck's `const:max:filters`.
pub const MAX_FILTERS_PER_USER: usize = 400;
/// The longest filter name and query value (WildDuck's Joi limits).
const MAX_FIELD_CHARS: usize = 255;
const MAX_AUTOREPLY_NAME_CHARS: usize = 128;
const MAX_AUTOREPLY_SUBJECT_CHARS: usize = 2 * 1024;
const MAX_AUTOREPLY_BODY_CHARS: usize = 128 * 1024;

/// What a delivery does beyond storing: the spam verdict and how often one sender is
/// autoreplied.
#[derive(Clone, Debug)]
pub struct DeliveryPolicy {
    pub spam: SpamPolicy,
    /// One autoreply per sender within this period (RFC 3834 §3.1.1 suggests days; the
    /// issue asks for 4 hours).
    pub autoreply_interval: Duration,
    /// Rewrites the envelope sender of forwards to e-mail targets (and takes back bounces to
    /// the rewritten addresses); `None` keeps the original sender.
    pub srs: Option<crate::delivery::Srs>,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            spam: SpamPolicy::default(),
            autoreply_interval: Duration::from_secs(4 * 3600),
            srs: None,
        }
    }
}

/// What a message must match; an empty query matches every message. Text values are kept
/// trimmed with runs of whitespace made one space, as WildDuck keeps them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FilterQuery {
    /// Substring of From: (or Sender:), any case.
    pub from: Option<String>,
    /// Substring of To:, Cc: or Delivered-To:, any case.
    pub to: Option<String>,
    pub subject: Option<String>,
    /// Substring of List-ID: (only the id between angle brackets when one is given).
    pub list_id: Option<String>,
    /// WildDuck's text query over the decoded body: words (all must occur), `OR` between
    /// alternatives, "quoted phrases".
    pub text: Option<String>,
    /// `true`: the message has an attachment; `false`: it has none.
    pub has_attachment: Option<bool>,
    /// Positive: the message is at least this many bytes; negative: at most minus this many.
    pub size: Option<i64>,
}

/// What a matching filter does; `None` leaves the decision to a later filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FilterAction {
    pub seen: Option<bool>,
    pub flag: Option<bool>,
    /// `true`: the message is not stored (delivery is still acknowledged).
    pub delete: Option<bool>,
    /// `true`: into the Junk folder; `false`: never Junk, whatever the MTA said.
    pub spam: Option<bool>,
    /// Store into this mailbox of the user (INBOX when it is gone by then).
    pub mailbox: Option<MailboxId>,
    /// Forward a copy to these; they add up over every matching filter.
    pub targets: Vec<ForwardTarget>,
}

/// A user's filter as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub id: FilterId,
    pub user: UserId,
    pub name: String,
    pub query: FilterQuery,
    pub action: FilterAction,
    pub disabled: bool,
    pub created: Timestamp,
    /// The caller's own data, kept as given (WildDuck's `metaData`, JSON text).
    pub meta_data: Option<String>,
}

/// The fields of a filter a caller sets (on creation, or the whole of them on replacement).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewFilter {
    pub name: String,
    pub query: FilterQuery,
    pub action: FilterAction,
    pub disabled: bool,
    pub meta_data: Option<String>,
}

impl From<Filter> for NewFilter {
    fn from(filter: Filter) -> Self {
        NewFilter {
            name: filter.name,
            query: filter.query,
            action: filter.action,
            disabled: filter.disabled,
            meta_data: filter.meta_data,
        }
    }
}

/// A user's vacation reply as stored (one per user).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Autoreply {
    pub id: RecordId,
    pub user: UserId,
    pub status: bool,
    /// The display name of the reply's From:.
    pub name: String,
    /// Empty: "Auto: Re: " and the original subject.
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Not before / not after this time, when set.
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub created: Timestamp,
}

impl Autoreply {
    /// Whether it replies at `at`: on, and inside its start and end.
    pub fn active_at(&self, at: Timestamp) -> bool {
        self.status
            && self.start.is_none_or(|start| start <= at)
            && self.end.is_none_or(|end| end >= at)
    }
}

/// The autoreply fields to change; `None` keeps a field. For `start` and `end`,
/// `Some(None)` removes the bound.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AutoreplyUpdate {
    pub status: Option<bool>,
    pub name: Option<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub start: Option<Option<Timestamp>>,
    pub end: Option<Option<Timestamp>>,
}

impl Store {
    /// Adds a filter for `user`, after its enabled filters. `RuleError::Invalid` for a value
    /// too long or a target of no known kind, `MailboxError::NotFound` for a mailbox that is
    /// not the user's, `RuleError::TooManyFilters` past [`MAX_FILTERS_PER_USER`].
    pub async fn create_filter(&self, user: UserId, new: NewFilter) -> Result<Filter> {
        let new = self.checked_filter(user, new).await?;
        let filter = Filter {
            id: FilterId::new(),
            user,
            name: new.name,
            query: new.query,
            action: new.action,
            disabled: new.disabled,
            created: now(),
            meta_data: new.meta_data,
        };
        // `const:max:filters`, MAX_FILTERS_PER_USER unless an operator set it.
        let limit = self.setting_number(crate::settings::MAX_FILTERS).await?;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        self.backend().create_filter(filter.clone(), limit).await?;
        Ok(filter)
    }

    /// The user's filters in creation order (the order they are applied in).
    pub async fn list_filters(&self, user: UserId) -> Result<Vec<Filter>> {
        self.backend().list_filters(Some(user)).await
    }

    /// Every user's filters, oldest first: the operator's listing.
    pub async fn list_all_filters(&self) -> Result<Vec<Filter>> {
        self.backend().list_filters(None).await
    }

    pub async fn get_filter(&self, user: UserId, filter: FilterId) -> Result<Filter> {
        self.list_filters(user)
            .await?
            .into_iter()
            .find(|found| found.id == filter)
            .ok_or_else(|| RuleError::FilterNotFound.into())
    }

    /// Replaces a filter's fields (its id, user and creation time stay), checked as on
    /// creation.
    pub async fn replace_filter(
        &self,
        user: UserId,
        filter: FilterId,
        new: NewFilter,
    ) -> Result<Filter> {
        let current = self.get_filter(user, filter).await?;
        let new = self.checked_filter(user, new).await?;
        let replaced = Filter {
            name: new.name,
            query: new.query,
            action: new.action,
            disabled: new.disabled,
            meta_data: new.meta_data,
            ..current
        };
        self.backend().replace_filter(replaced.clone()).await?;
        Ok(replaced)
    }

    pub async fn delete_filter(&self, user: UserId, filter: FilterId) -> Result<()> {
        self.backend().delete_filter(user, filter).await
    }

    /// The user's autoreply, `None` when they never set one. `UserError::NotFound` for a
    /// missing user.
    pub async fn get_autoreply(&self, user: UserId) -> Result<Option<Autoreply>> {
        self.get_user(user).await?;
        self.backend().autoreply(user).await
    }

    /// Changes (or first sets) the user's autoreply; returns it as stored.
    pub async fn set_autoreply(&self, user: UserId, update: AutoreplyUpdate) -> Result<Autoreply> {
        let current = self.get_autoreply(user).await?;
        let mut autoreply = current.unwrap_or_else(|| Autoreply {
            id: RecordId::new(),
            user,
            status: false,
            name: String::new(),
            subject: String::new(),
            text: String::new(),
            html: String::new(),
            start: None,
            end: None,
            created: now(),
        });
        let trimmed = |value: Option<String>, what: &str, max: usize| -> Result<Option<String>> {
            value
                .map(|value| checked_text(value.trim(), what, max))
                .transpose()
        };
        if let Some(status) = update.status {
            autoreply.status = status;
        }
        if let Some(name) = trimmed(update.name, "name", MAX_AUTOREPLY_NAME_CHARS)? {
            autoreply.name = name;
        }
        if let Some(subject) = trimmed(update.subject, "subject", MAX_AUTOREPLY_SUBJECT_CHARS)? {
            autoreply.subject = subject;
        }
        if let Some(text) = trimmed(update.text, "text", MAX_AUTOREPLY_BODY_CHARS)? {
            autoreply.text = text;
        }
        if let Some(html) = trimmed(update.html, "html", MAX_AUTOREPLY_BODY_CHARS)? {
            autoreply.html = html;
        }
        if let Some(start) = update.start {
            autoreply.start = start;
        }
        if let Some(end) = update.end {
            autoreply.end = end;
        }
        self.backend().set_autoreply(autoreply.clone()).await?;
        Ok(autoreply)
    }

    /// Removes the user's autoreply (and so turns it off); nothing to remove is no error.
    pub async fn delete_autoreply(&self, user: UserId) -> Result<()> {
        self.get_user(user).await?;
        self.backend().delete_autoreply(user).await
    }

    /// `new` with its texts normalized and every value checked for `user`.
    async fn checked_filter(&self, user: UserId, mut new: NewFilter) -> Result<NewFilter> {
        self.get_user(user).await?;
        new.name = checked_text(new.name.trim(), "name", MAX_FIELD_CHARS)?;
        let query = &mut new.query;
        for (value, what) in [
            (&mut query.from, "from"),
            (&mut query.to, "to"),
            (&mut query.subject, "subject"),
            (&mut query.list_id, "listId"),
            (&mut query.text, "text"),
        ] {
            *value = value
                .take()
                .map(|text| checked_text(&collapse_whitespace(&text), what, MAX_FIELD_CHARS))
                .transpose()?
                .filter(|text| !text.is_empty());
        }
        new.query.size = new.query.size.filter(|&size| size != 0);
        if let Some(mailbox) = new.action.mailbox {
            let found = self.backend().mailbox_by_id(mailbox).await?;
            if found.is_none_or(|found| found.user != user) {
                return Err(MailboxError::NotFound.into());
            }
        }
        new.action.targets = new
            .action
            .targets
            .iter()
            .map(|target| ForwardTarget::parse(target.value()))
            .collect::<Result<_>>()?;
        Ok(new)
    }
}

/// Whitespace runs as one space, ends trimmed (how WildDuck stores query values).
fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn checked_text(text: &str, what: &str, max_chars: usize) -> Result<String> {
    if text.chars().count() > max_chars {
        return Err(
            RuleError::Invalid(format!("{what} is longer than {max_chars} characters")).into(),
        );
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_autoreply_is_active_inside_its_window_only() {
        let mut autoreply = Autoreply {
            id: RecordId::new(),
            user: UserId::new(),
            status: true,
            name: String::new(),
            subject: String::new(),
            text: String::new(),
            html: String::new(),
            start: Some(100),
            end: Some(200),
            created: 0,
        };
        assert!(!autoreply.active_at(99));
        assert!(autoreply.active_at(100));
        assert!(autoreply.active_at(200));
        assert!(!autoreply.active_at(201));
        autoreply.status = false;
        assert!(!autoreply.active_at(150));
    }
}
