//! The message search WildDuck's `GET /users/:user/search` (listing) and `POST
//! /users/:user/search` (bulk update) share: its fields read into one store [`SearchKey`]
//! and the mailboxes it covers, then run mailbox by mailbox with the store's search.
//!
//! Fields we cannot honour (`thread`, `attachments`) are refused with `501` rather than left
//! out: a bulk update would otherwise reach more messages than asked for.

use serde_json::Value;
use wildduck_store::{Flag, Mailbox, MailboxId, SearchKey, SpecialUse, Store, Uid, UserId};

use super::mailboxes::owned_mailbox;
use super::messages::{RANGE_PATTERN, parse_uid_range};
use super::messages_upload::read_date;
use crate::error::{ApiError, ApiResult};
use crate::input::{Input, hex_id};

/// A parsed search: where and what.
pub struct MessageQuery {
    mailbox: Option<MailboxId>,
    /// Trash and Junk left out (`searchable`), when no mailbox is named.
    searchable: bool,
    key: SearchKey,
}

impl MessageQuery {
    /// Reads WildDuck's search fields; problems are recorded in `input`.
    pub fn read(input: &mut Input) -> ApiResult<Self> {
        for unsupported in ["thread", "attachments"] {
            let given = input
                .value(unsupported)
                .is_some_and(|value| !matches!(value, Value::String(text) if text.is_empty()));
            if given {
                return Err(ApiError::unsupported(
                    &format!("searching by \"{unsupported}\""),
                    20,
                ));
            }
        }
        let mailbox = input
            .string("mailbox")
            .filter(|text| !text.is_empty())
            .and_then(|raw| match hex_id::<MailboxId>("mailbox", &raw) {
                Ok(id) => Some(id),
                Err(err) => {
                    input.fail("mailbox", err.message);
                    None
                }
            });
        let mut terms = text_terms(input);
        if let Some(raw) = trimmed(input, "id", usize::MAX) {
            match parse_uid_range(&raw) {
                // WildDuck applies `id` only together with `mailbox`.
                Some(uids) if mailbox.is_some() => terms.push(SearchKey::Uids(uids)),
                Some(_) => {}
                None => input.fail(
                    "id",
                    format!(
                        "\"id\" with value \"{raw}\" fails to match the required pattern: {RANGE_PATTERN}"
                    ),
                ),
            }
        }
        if let Some(or) = read_or(input) {
            terms.push(or);
        }
        if let Some(start) = read_date(input, "datestart") {
            terms.push(SearchKey::InternalSince(start));
        }
        if let Some(end) = read_date(input, "dateend") {
            // WildDuck's `dateend` includes the moment it names.
            terms.push(SearchKey::InternalBefore(end.saturating_add(1)));
        }
        if let Some(min) = input.number("minSize", 0.0, f64::MAX) {
            terms.push(SearchKey::Larger((min.ceil() as u64).saturating_sub(1)));
        }
        if let Some(max) = input.number("maxSize", 0.0, f64::MAX) {
            terms.push(SearchKey::Smaller((max.floor() as u64).saturating_add(1)));
        }
        for (key, flag) in [("seen", Flag::Seen), ("flagged", Flag::Flagged)] {
            if let Some(wanted) = input.boolean(key) {
                terms.push(SearchKey::Flag(flag, wanted));
            }
        }
        if let Some(unseen) = input.boolean("unseen") {
            terms.push(SearchKey::Flag(Flag::Seen, !unseen));
        }
        let searchable = input.boolean("searchable").unwrap_or(false);
        let key = if terms.is_empty() {
            SearchKey::All
        } else {
            SearchKey::And(terms)
        };
        Ok(Self {
            mailbox,
            searchable,
            key,
        })
    }

    /// The matching UIDs of each of `user`'s mailboxes the search covers (mailboxes without
    /// a match left out). `UserNotFound` / `NoSuchMailbox` as WildDuck answers them.
    pub async fn run(&self, store: &Store, user: UserId) -> ApiResult<Vec<(Mailbox, Vec<Uid>)>> {
        store.get_user(user).await?;
        let mailboxes = match self.mailbox {
            Some(id) => vec![owned_mailbox(store, user, id).await?],
            None => store
                .list_mailboxes(user)
                .await?
                .into_iter()
                .filter(|mailbox| !self.searchable || !left_out_when_searchable(mailbox))
                .collect(),
        };
        let mut matches = Vec::new();
        for mailbox in mailboxes {
            let uids = store.search(mailbox.id, &self.key).await?;
            if !uids.is_empty() {
                matches.push((mailbox, uids));
            }
        }
        Ok(matches)
    }
}

fn left_out_when_searchable(mailbox: &Mailbox) -> bool {
    matches!(
        mailbox.special_use,
        Some(SpecialUse::Trash | SpecialUse::Junk)
    )
}

fn trimmed(input: &mut Input, key: &str, max: usize) -> Option<String> {
    input
        .string_max(key, max)
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty())
}

/// `query`/`q`, `from`, `to` (To or Cc) and `subject` of `input`, each a term.
fn text_terms(input: &mut Input) -> Vec<SearchKey> {
    let mut terms = Vec::new();
    if let Some(query) = trimmed(input, "query", 255).or_else(|| trimmed(input, "q", 1024)) {
        terms.push(SearchKey::Text(query));
    }
    if let Some(from) = trimmed(input, "from", 1024) {
        terms.push(SearchKey::Header("from".into(), from));
    }
    if let Some(to) = trimmed(input, "to", 1024) {
        terms.push(SearchKey::Or(
            Box::new(SearchKey::Header("to".into(), to.clone())),
            Box::new(SearchKey::Header("cc".into(), to)),
        ));
    }
    if let Some(subject) = trimmed(input, "subject", 1024) {
        terms.push(SearchKey::Header("subject".into(), subject));
    }
    terms
}

/// `or: {query, from, to, subject}`: at least one of the given terms matches.
fn read_or(input: &mut Input) -> Option<SearchKey> {
    let fields = match input.value("or")? {
        Value::Object(fields) => fields.clone(),
        _ => {
            input.fail("or", "\"or\" must be of type object".to_string());
            return None;
        }
    };
    let mut inner = Input::new(fields);
    let terms = text_terms(&mut inner);
    if let Err(err) = inner.finish() {
        input.fail("or", format!("\"or\": {}", err.message));
        return None;
    }
    terms
        .into_iter()
        .reduce(|either, or| SearchKey::Or(Box::new(either), Box::new(or)))
}
