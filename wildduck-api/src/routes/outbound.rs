//! `DELETE /users/:user/outbound/:queueId`: takes a user's queued message out of the
//! outbound queue, as WildDuck's `removeFromQueue` answers it (200 with `success: false`
//! and a code when there is no such entry of this user).

use axum::Extension;
use axum::extract::Path;
use serde_json::json;
use wildduck_store::OutboundId;

use super::{JsonResult, Shared, success};
use crate::auth::{Access, Action, Resource};
use crate::input::{user_param, validation_error};

pub async fn delete(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, queue_id)): Path<(String, String)>,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    access.require(user, Resource::Messages, Action::Delete)?;
    let well_formed = (18..=24).contains(&queue_id.len())
        && queue_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !well_formed {
        return Err(validation_error(
            "queueId",
            "\"queueId\" must only contain lower-case hexadecimal characters, 18 to 24".into(),
        ));
    }
    let refused = |code: &str| Ok(axum::Json(json!({ "success": false, "code": code })));
    // Our queue ids are 24 digits; a shorter WildDuck id names nothing here.
    let entry = match queue_id.parse::<OutboundId>() {
        Ok(id) => state.store.outbound_entry(id).await?,
        Err(_) => None,
    };
    let Some(entry) = entry else {
        return refused("NoSuchQueueEntry");
    };
    if entry.user != Some(user) {
        return refused("NotEnoughPrivileges");
    }
    // WildDuck counts the queue rows it removed, one per recipient not yet delivered.
    let deleted = entry.pending().count();
    if !state.store.delete_outbound(entry.id).await? {
        return refused("NoSuchQueueEntry");
    }
    success(json!({ "queueId": queue_id, "deleted": deleted }))
}
