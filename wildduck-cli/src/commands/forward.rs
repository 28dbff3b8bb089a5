//! `wildduck forward …`: the targets a user's mail is forwarded to (an address, an
//! `smtp(s)://` relay or an `http(s)://` URL, as WildDuck's `targets`), within the user's
//! daily forward allowance.

use clap::Subcommand;
use serde_json::json;
use wildduck_store::ForwardTarget;

use super::{Ctx, find_user};
use crate::error::{CliError, CliResult, ErrorKind};
use crate::output::Report;

#[derive(Subcommand)]
pub enum ForwardCommand {
    /// Forward the user's mail to TARGET too (a copy stays in the mailbox).
    Add { user: String, target: String },
    /// List the user's forward targets.
    List { user: String },
    /// Stop forwarding to TARGET.
    #[command(alias = "delete")]
    Del { user: String, target: String },
}

pub async fn run(ctx: &Ctx, command: ForwardCommand) -> CliResult<Report> {
    let store = ctx.store().await?;
    let (name, change) = match &command {
        ForwardCommand::Add { user, target } => (user, Some((true, target))),
        ForwardCommand::Del { user, target } => (user, Some((false, target))),
        ForwardCommand::List { user } => (user, None),
    };
    let user = find_user(&store, name).await?;
    let mut profile = store.user_profile(user.id).await?;
    if let Some((adding, target)) = change {
        let target = ForwardTarget::parse(target)?;
        let present = profile.targets.contains(&target);
        match (adding, present) {
            (true, false) => profile.targets.push(target),
            (false, true) => profile.targets.retain(|t| *t != target),
            (true, true) => {}
            (false, false) => {
                return Err(CliError::new(
                    ErrorKind::NotFound,
                    format!("{} does not forward to {}", user.username, target.value()),
                ));
            }
        }
        store.set_user_profile(user.id, profile.clone()).await?;
    }
    let targets: Vec<&str> = profile.targets.iter().map(ForwardTarget::value).collect();
    let text = if targets.is_empty() {
        format!("{}: no forwarding", user.username)
    } else {
        format!("{} forwards to:\n  {}", user.username, targets.join("\n  "))
    };
    Ok(Report::new(
        json!({ "user": user.username, "targets": targets }),
        text,
    ))
}
