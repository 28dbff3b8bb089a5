//! `wildduck address …`: the addresses that deliver to a user, and forwarded addresses
//! (no mailbox; what they receive goes on to their targets, as WildDuck's
//! `/addresses/forwarded`).

use clap::Subcommand;
use serde::Serialize;
use serde_json::json;
use wildduck_store::{Address, ForwardTarget, NewForwarded, Store};

use super::{Ctx, find_user};
use crate::error::{CliError, CliResult, ErrorKind};
use crate::output::{Report, table};

#[derive(Subcommand)]
pub enum AddressCommand {
    /// `add USER ADDRESS`: add an address to a user (dots and +tags in the local part still
    /// reach them). `add ADDRESS --forward-to TARGET…`: a forwarded address, which keeps
    /// no mail and forwards what it receives to every TARGET.
    Add {
        /// The user, or with --forward-to the address.
        #[arg(value_name = "USER|ADDRESS")]
        first: String,
        /// The address to add to USER (none with --forward-to).
        address: Option<String>,
        /// A target, as for `wildduck forward add`: an e-mail address, an
        /// `smtp(s)://[user:password@]host[:port]` relay or an `http(s)://` URL; repeatable.
        #[arg(long = "forward-to", value_name = "TARGET")]
        forward_to: Vec<String>,
    },
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
        AddressCommand::Add {
            first,
            address,
            forward_to,
        } => match (address, forward_to.is_empty()) {
            (None, false) => add_forwarded(&store, &first, &forward_to).await,
            (Some(address), true) => add_to_user(&store, &first, &address).await,
            (None, true) => Err(CliError::new(
                ErrorKind::Usage,
                "address add takes USER ADDRESS, or ADDRESS --forward-to TARGET",
            )),
            (Some(_), false) => Err(CliError::new(
                ErrorKind::Usage,
                "a forwarded address belongs to no user: address add ADDRESS --forward-to TARGET",
            )),
        },
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

async fn add_to_user(store: &Store, user: &str, address: &str) -> CliResult<Report> {
    let user = find_user(store, user).await?;
    let added = store
        .add_address(user.id, address)
        .await
        .map_err(|err| CliError::from(err).context(address))?;
    Ok(Report::new(
        json!({ "user": user.username, "address": AddressView::from(&added) }),
        format!("added {} to {}", added.address, user.username),
    ))
}

/// A forwarded address with `targets` (read as `wildduck forward add` reads one, duplicates
/// dropped).
async fn add_forwarded(store: &Store, address: &str, targets: &[String]) -> CliResult<Report> {
    let mut parsed: Vec<ForwardTarget> = Vec::new();
    for target in targets {
        let target = ForwardTarget::parse(target)?;
        if !parsed.contains(&target) {
            parsed.push(target);
        }
    }
    let forwarded = store
        .create_forwarded(NewForwarded {
            address: address.to_string(),
            targets: parsed,
            ..NewForwarded::default()
        })
        .await
        .map_err(|err| CliError::from(err).context(address))?;
    let targets: Vec<&str> = forwarded.targets.iter().map(ForwardTarget::value).collect();
    Ok(Report::new(
        json!({
            "forwarded": {
                "id": forwarded.id.to_string(),
                "address": forwarded.address,
                "targets": targets,
            }
        }),
        format!(
            "added forwarded address {} forwarding to:\n  {}",
            forwarded.address,
            targets.join("\n  ")
        ),
    ))
}
