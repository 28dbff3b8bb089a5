//! `wildduck address …`: the addresses that deliver to a user.

use clap::Subcommand;
use serde::Serialize;
use serde_json::json;
use wildduck_store::Address;

use super::{Ctx, find_user};
use crate::error::{CliError, CliResult};
use crate::output::{Report, table};

#[derive(Subcommand)]
pub enum AddressCommand {
    /// Add an address to a user (dots and +tags in the local part still reach them).
    Add { user: String, address: String },
    /// List a user's addresses.
    List { user: String },
    /// Remove an address from a user.
    Delete { user: String, address: String },
}

#[derive(Serialize)]
struct AddressView {
    id: String,
    address: String,
    addrview: String,
}

impl From<&Address> for AddressView {
    fn from(a: &Address) -> Self {
        Self {
            id: a.id.to_string(),
            address: a.address.clone(),
            addrview: a.addrview.clone(),
        }
    }
}

pub async fn run(ctx: &Ctx, command: AddressCommand) -> CliResult<Report> {
    let store = ctx.store().await?;
    match command {
        AddressCommand::Add { user, address } => {
            let user = find_user(&store, &user).await?;
            let added = store
                .add_address(user.id, &address)
                .await
                .map_err(|err| CliError::from(err).context(&address))?;
            Ok(Report::new(
                json!({ "user": user.username, "address": AddressView::from(&added) }),
                format!("added {} to {}", added.address, user.username),
            ))
        }
        AddressCommand::List { user } => {
            let user = find_user(&store, &user).await?;
            let addresses = store.list_addresses(user.id).await?;
            let rows: Vec<Vec<String>> = addresses
                .iter()
                .map(|a| vec![a.address.clone(), a.id.to_string()])
                .collect();
            let views: Vec<AddressView> = addresses.iter().map(AddressView::from).collect();
            Ok(Report::new(
                json!({ "user": user.username, "addresses": views }),
                table(&["ADDRESS", "ID"], &rows),
            ))
        }
        AddressCommand::Delete { user, address } => {
            let user = find_user(&store, &user).await?;
            store
                .remove_address(user.id, &address)
                .await
                .map_err(|err| CliError::from(err).context(&address))?;
            Ok(Report::new(
                json!({ "user": user.username, "deleted": address }),
                format!("removed {address} from {}", user.username),
            ))
        }
    }
}
