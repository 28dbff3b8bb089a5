//! `POST /users/:user/search`: WildDuck's `searchApplyMessages`, an action applied to every
//! message a search matches: `seen`/`flagged` set or cleared, a move (`moveTo`), or a
//! delete. WildDuck schedules a background task and answers at once; we do the work before
//! answering (the answer keeps WildDuck's `scheduled` and `existing` and adds `updated`).
//! Flags, moves and deletes go through the store calls IMAP uses, so live sessions see them.

use axum::Extension;
use axum::extract::Path;
use serde_json::{Map, Value, json};
use wildduck_store::{Flag, MailboxId, RecordId, UidSet};

use super::mailboxes::owned_mailbox;
use super::message_actions::{delete_messages, set_flags};
use super::search_query::MessageQuery;
use super::{JsonResult, Shared, success};
use crate::auth::{Access, Action, Resource};
use crate::input::{Input, JsonBody, QueryInput, hex_id, user_param};

/// What to do with the matching messages.
enum Apply {
    /// Flags to set (true) or clear (false), then a move when a target is given.
    Update {
        flags: Vec<(Flag, bool)>,
        move_to: Option<MailboxId>,
    },
    Delete,
}

pub async fn apply(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    query: QueryInput,
    JsonBody(body): JsonBody,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let mut input = Input::new(body).with_query(query);
    let search = MessageQuery::read(&mut input)?;
    let action = read_action(&mut input);
    input.finish()?;
    let action = action.unwrap_or(Apply::Update {
        flags: Vec::new(),
        move_to: None,
    });
    access.require(user, Resource::Messages, Action::Update)?;
    // An unknown target is refused before anything changes (WildDuck's task gives up then).
    let target = match &action {
        Apply::Update {
            move_to: Some(id), ..
        } => Some(owned_mailbox(&state.store, user, *id).await?.id),
        _ => None,
    };
    let mut updated = 0;
    for (mailbox, uids) in search.run(&state.store, user).await? {
        let set = UidSet::from_ranges(uids.iter().map(|&uid| (uid, uid)));
        updated += match &action {
            Apply::Delete => delete_messages(&state.store, mailbox.id, &set).await?,
            Apply::Update { flags, .. } => {
                set_flags(&state.store, mailbox.id, &set, flags).await?;
                match target.filter(|&target| target != mailbox.id) {
                    Some(target) => {
                        let moved = state.store.move_messages(mailbox.id, &set, target).await?;
                        moved.pairs.len()
                    }
                    None => uids.len(),
                }
            }
        };
    }
    success(json!({
        "scheduled": RecordId::new().to_string(),
        "existing": false,
        "updated": updated,
    }))
}

/// `action`: required, an object of `moveTo`, `seen`, `flagged` and `delete`; `delete`
/// true allows no other field, as WildDuck's schema says.
fn read_action(input: &mut Input) -> Option<Apply> {
    let fields = match input.value("action") {
        None => {
            input.fail("action", "\"action\" is required".to_string());
            return None;
        }
        Some(Value::Object(fields)) => fields.clone(),
        Some(_) => {
            input.fail("action", "\"action\" must be of type object".to_string());
            return None;
        }
    };
    let mut action = Input::new(fields.clone());
    let move_to =
        action
            .string("moveTo")
            .and_then(|raw| match hex_id::<MailboxId>("moveTo", &raw) {
                Ok(id) => Some(id),
                Err(err) => {
                    action.fail("moveTo", err.message);
                    None
                }
            });
    let flags: Vec<(Flag, bool)> = [("seen", Flag::Seen), ("flagged", Flag::Flagged)]
        .into_iter()
        .filter_map(|(key, flag)| action.boolean(key).map(|on| (flag, on)))
        .collect();
    let delete = action.boolean("delete").unwrap_or(false);
    if let Err(err) = action.finish() {
        input.fail("action", format!("\"action\": {}", err.message));
        return None;
    }
    if delete {
        let others = given_besides_delete(&fields);
        if !others.is_empty() {
            input.fail(
                "action",
                format!(
                    "When 'delete' is true, no other fields ({}) can be set",
                    others.join(", ")
                ),
            );
            return None;
        }
        return Some(Apply::Delete);
    }
    Some(Apply::Update { flags, move_to })
}

fn given_besides_delete(fields: &Map<String, Value>) -> Vec<String> {
    ["moveTo", "seen", "flagged"]
        .into_iter()
        .filter(|key| fields.get(*key).is_some_and(|value| !value.is_null()))
        .map(str::to_string)
        .collect()
}
