//! `wildduck mailbox …`: a user's folders.

use clap::Subcommand;
use serde::Serialize;
use serde_json::json;
use wildduck_store::{Mailbox, MailboxStatus, SpecialUse};

use super::{Ctx, find_user};
use crate::error::{CliError, CliResult};
use crate::output::{Report, human_bytes, table};

#[derive(Subcommand)]
pub enum MailboxCommand {
    /// List a user's mailboxes with message counts.
    List { user: String },
    /// Create a mailbox (missing parents too); `/` separates levels.
    Create {
        user: String,
        path: String,
        /// A special-use role, e.g. `\Archive` (RFC 6154).
        #[arg(long, value_parser = parse_special_use)]
        special_use: Option<SpecialUse>,
    },
    /// Rename a mailbox and its children.
    Rename {
        user: String,
        from: String,
        to: String,
    },
    /// Delete a mailbox and its messages (not INBOX or special-use folders).
    Delete { user: String, path: String },
}

fn parse_special_use(text: &str) -> Result<SpecialUse, String> {
    let with_backslash = if text.starts_with('\\') {
        text.to_string()
    } else {
        format!("\\{text}")
    };
    SpecialUse::from_attribute(&with_backslash).ok_or_else(|| {
        format!("{text:?} is not one of \\All \\Archive \\Drafts \\Flagged \\Junk \\Sent \\Trash")
    })
}

#[derive(Serialize)]
struct MailboxView {
    id: String,
    path: String,
    special_use: Option<&'static str>,
    subscribed: bool,
    #[serde(flatten)]
    status: MailboxStatus,
}

fn view(mailbox: &Mailbox, status: MailboxStatus) -> MailboxView {
    MailboxView {
        id: mailbox.id.to_string(),
        path: mailbox.path.clone(),
        special_use: mailbox.special_use.map(SpecialUse::attribute),
        subscribed: mailbox.subscribed,
        status,
    }
}

pub async fn run(ctx: &Ctx, command: MailboxCommand) -> CliResult<Report> {
    let store = ctx.store().await?;
    match command {
        MailboxCommand::List { user } => {
            let user = find_user(&store, &user).await?;
            let mut views = Vec::new();
            for mailbox in store.list_mailboxes(user.id).await? {
                let status = store.mailbox_status(mailbox.id).await?;
                views.push(view(&mailbox, status));
            }
            let rows: Vec<Vec<String>> = views
                .iter()
                .map(|v| {
                    vec![
                        v.path.clone(),
                        v.special_use.unwrap_or("").into(),
                        v.status.messages.to_string(),
                        v.status.unseen.to_string(),
                        human_bytes(v.status.size),
                    ]
                })
                .collect();
            Ok(Report::new(
                json!({ "user": user.username, "mailboxes": views }),
                table(&["MAILBOX", "USE", "MESSAGES", "UNSEEN", "SIZE"], &rows),
            ))
        }
        MailboxCommand::Create {
            user,
            path,
            special_use,
        } => {
            let user = find_user(&store, &user).await?;
            let mailbox = store
                .create_mailbox(user.id, &path, special_use)
                .await
                .map_err(|err| CliError::from(err).context(&path))?;
            let status = store.mailbox_status(mailbox.id).await?;
            Ok(Report::new(
                json!({ "user": user.username, "mailbox": view(&mailbox, status) }),
                format!("created {} for {}", mailbox.path, user.username),
            ))
        }
        MailboxCommand::Rename { user, from, to } => {
            let user = find_user(&store, &user).await?;
            store
                .rename_mailbox(user.id, &from, &to)
                .await
                .map_err(|err| CliError::from(err).context(format!("{from} -> {to}")))?;
            Ok(Report::new(
                json!({ "user": user.username, "renamed": { "from": from, "to": to } }),
                format!("renamed {from} to {to} for {}", user.username),
            ))
        }
        MailboxCommand::Delete { user, path } => {
            let user = find_user(&store, &user).await?;
            store
                .delete_mailbox(user.id, &path)
                .await
                .map_err(|err| CliError::from(err).context(&path))?;
            Ok(Report::new(
                json!({ "user": user.username, "deleted": path }),
                format!("deleted {path} of {}", user.username),
            ))
        }
    }
}
