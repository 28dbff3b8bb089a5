//! SORT and UID SORT (RFC 5256, RFC 5957 DISPLAY keys): the store orders the messages the
//! key finds; answered as `* SORT` or, with `RETURN (…)`, as ESORT's `* ESEARCH` (RFC 5267).

use wildduck_store::{SearchKey, SortCriterion};

use super::search::answer;
use crate::esearch::ReturnOptions;
use crate::state::{Outcome, Reply, Session};

pub async fn sort(
    session: &mut Session,
    tag: &str,
    uid_mode: bool,
    criteria: &[SortCriterion],
    key: &SearchKey,
    returns: Option<ReturnOptions>,
) -> Outcome {
    let store = session.shared.store.clone();
    let Some(selected) = session.selected.as_mut() else {
        return Ok(Reply::Bad("Select a mailbox first".into()));
    };
    if returns.is_some_and(|r| r.save) {
        selected.saved.clear();
    }
    let sorted = store.sort(selected.mailbox.id, key, criteria).await?;
    answer(session, tag, uid_mode, sorted, key, returns, "SORT").await?;
    Ok(Reply::Ok("Sort completed".into()))
}
