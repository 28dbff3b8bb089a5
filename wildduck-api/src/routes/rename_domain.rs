//! `PUT /addresses/renameDomain`: WildDuck's `renameDomain`, root only. The store's
//! `rename_domain` moves addresses, the DKIM key and domain aliases; this route checks the
//! input and answers with WildDuck's counts.

use axum::Extension;
use serde_json::json;

use super::{JsonResult, Shared, success};
use crate::auth::Access;
use crate::input::{Input, JsonBody, QueryInput};

pub async fn rename(
    state: Shared,
    Extension(access): Extension<Access>,
    query: QueryInput,
    JsonBody(body): JsonBody,
) -> JsonResult {
    let mut input = Input::new(body).with_query(query);
    let old = input.required_string("oldDomain");
    let new = input.required_string("newDomain");
    input.finish()?;
    access.require_root()?;
    let renamed = state.store.rename_domain(&old, &new).await?;
    success(json!({
        "modifiedAddresses": renamed.addresses,
        "modifiedUsers": renamed.users,
        "modifiedDkim": renamed.dkim_keys,
        "modifiedAliases": renamed.aliases,
    }))
}
