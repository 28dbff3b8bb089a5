//! `DELETE /users/:user/mailboxes/:mailbox/messages`: every message of a mailbox goes, as
//! WildDuck's `deleteMessagesInMailbox`. The messages are flagged `\Deleted` and expunged,
//! the store path IMAP's EXPUNGE takes, so live sessions see them go and the quota is
//! credited. `async` is taken but the work is done before the answer (there is no task
//! queue to hand it to); `skipArchive` is taken and changes nothing (nothing is archived).

use axum::Extension;
use axum::extract::Path;
use serde_json::json;
use wildduck_store::UidSet;

use super::mailboxes::owned_mailbox;
use super::message_actions::delete_messages;
use super::{JsonResult, Shared, success};
use crate::auth::{Access, Action, Resource};
use crate::input::{Input, QueryInput, mailbox_param, user_param};

pub async fn delete_all(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, mailbox)): Path<(String, String)>,
    query: QueryInput,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let mailbox = mailbox_param(&mailbox)?;
    let mut input = Input::new(query.0);
    // Checked as WildDuck checks them; neither changes what is done (see above).
    let _ = input.boolean("async");
    let _ = input.boolean("skipArchive");
    input.finish()?;
    access.require(user, Resource::Messages, Action::Delete)?;
    let mailbox = owned_mailbox(&state.store, user, mailbox).await?;
    let deleted = delete_messages(&state.store, mailbox.id, &UidSet::all()).await?;
    success(json!({ "deleted": deleted, "errors": 0 }))
}
