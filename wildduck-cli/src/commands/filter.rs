//! `wildduck filter …`: a user's delivery filters (WildDuck's model), tried in creation order
//! on every message delivered to them.

use clap::{Args, Subcommand};
use serde_json::json;
use wildduck_store::{Filter, FilterAction, FilterId, FilterQuery, ForwardTarget, NewFilter};

use super::{Ctx, find_mailbox, find_user};
use crate::dates;
use crate::error::{CliError, CliResult, ErrorKind};
use crate::output::{Report, table};

#[derive(Subcommand)]
pub enum FilterCommand {
    /// Add a filter after the user's others. At least one action is needed.
    Add(AddArgs),
    /// List a user's filters in the order they are tried.
    List { user: String },
    /// Delete a filter by its id.
    #[command(alias = "delete")]
    Del { user: String, id: String },
}

#[derive(Args)]
pub struct AddArgs {
    user: String,
    #[arg(long, default_value = "")]
    name: String,
    /// From: (or Sender:) contains this, any case.
    #[arg(long)]
    from: Option<String>,
    /// To:, Cc: or Delivered-To: contains this.
    #[arg(long)]
    to: Option<String>,
    #[arg(long)]
    subject: Option<String>,
    /// List-ID: contains this.
    #[arg(long)]
    list_id: Option<String>,
    /// The body text matches this query (words, `OR`, "phrases").
    #[arg(long)]
    text: Option<String>,
    /// Only messages with an attachment (`true`) or without one (`false`).
    #[arg(long, value_name = "BOOL")]
    has_attachment: Option<bool>,
    /// Only messages of at least this many bytes.
    #[arg(long, value_name = "BYTES")]
    larger: Option<u32>,
    /// Only messages of at most this many bytes.
    #[arg(long, value_name = "BYTES", conflicts_with = "larger")]
    smaller: Option<u32>,
    /// Mark matching messages \Seen.
    #[arg(long)]
    seen: bool,
    /// Mark matching messages \Flagged.
    #[arg(long)]
    flag: bool,
    /// Do not store matching messages (they are still forwarded to --forward targets).
    #[arg(long)]
    delete: bool,
    /// File matching messages in Junk.
    #[arg(long, conflicts_with = "not_spam")]
    spam: bool,
    /// Never file matching messages in Junk, whatever the spam scanner said.
    #[arg(long)]
    not_spam: bool,
    /// Store matching messages in this mailbox (path).
    #[arg(long, value_name = "PATH")]
    mailbox: Option<String>,
    /// Forward a copy to this address (repeatable).
    #[arg(long, value_name = "ADDRESS")]
    forward: Vec<String>,
}

pub async fn run(ctx: &Ctx, command: FilterCommand) -> CliResult<Report> {
    let store = ctx.store().await?;
    match command {
        FilterCommand::Add(args) => {
            let user = find_user(&store, &args.user).await?;
            let mailbox = match &args.mailbox {
                Some(path) => Some(find_mailbox(&store, &user, path).await?.id),
                None => None,
            };
            let action = FilterAction {
                seen: args.seen.then_some(true),
                flag: args.flag.then_some(true),
                delete: args.delete.then_some(true),
                spam: (args.spam || args.not_spam).then_some(args.spam),
                mailbox,
                targets: args
                    .forward
                    .iter()
                    .map(|value| ForwardTarget::parse(value))
                    .collect::<Result<_, _>>()?,
            };
            if action == FilterAction::default() {
                return Err(CliError::new(
                    ErrorKind::Usage,
                    "a filter needs an action: --seen, --flag, --delete, --spam, --not-spam, \
                     --mailbox or --forward",
                ));
            }
            let size = match (args.larger, args.smaller) {
                (Some(bytes), _) => Some(i64::from(bytes)),
                (None, Some(bytes)) => Some(-i64::from(bytes)),
                (None, None) => None,
            };
            let query = FilterQuery {
                from: args.from,
                to: args.to,
                subject: args.subject,
                list_id: args.list_id,
                text: args.text,
                has_attachment: args.has_attachment,
                size,
            };
            let filter = store
                .create_filter(
                    user.id,
                    NewFilter {
                        name: args.name,
                        query,
                        action,
                        ..NewFilter::default()
                    },
                )
                .await?;
            Ok(Report::new(
                json!({ "user": user.username, "filter": filter }),
                format!("added filter {} for {}", filter.id, user.username),
            ))
        }
        FilterCommand::List { user } => {
            let user = find_user(&store, &user).await?;
            let filters = store.list_filters(user.id).await?;
            let rows: Vec<Vec<String>> = filters
                .iter()
                .map(|filter| {
                    vec![
                        filter.id.to_string(),
                        filter.name.clone(),
                        describe_query(&filter.query),
                        describe_action(filter),
                        if filter.disabled { "off" } else { "on" }.into(),
                        dates::rfc3339(filter.created),
                    ]
                })
                .collect();
            Ok(Report::new(
                json!({ "user": user.username, "filters": filters }),
                table(
                    &["ID", "NAME", "QUERY", "ACTION", "STATE", "CREATED"],
                    &rows,
                ),
            ))
        }
        FilterCommand::Del { user, id } => {
            let user = find_user(&store, &user).await?;
            let filter: FilterId = id.parse().map_err(|_| {
                CliError::new(
                    ErrorKind::Usage,
                    format!("{id:?} is not an id (24 hex digits)"),
                )
            })?;
            store
                .delete_filter(user.id, filter)
                .await
                .map_err(|err| CliError::from(err).context(format!("filter {id}")))?;
            Ok(Report::new(
                json!({ "user": user.username, "deleted": id }),
                format!("deleted filter {id} of {}", user.username),
            ))
        }
    }
}

fn describe_query(query: &FilterQuery) -> String {
    let mut parts: Vec<String> = [
        ("from", &query.from),
        ("to", &query.to),
        ("subject", &query.subject),
        ("list-id", &query.list_id),
        ("text", &query.text),
    ]
    .into_iter()
    .filter_map(|(key, value)| Some(format!("{key}~{:?}", value.as_ref()?)))
    .collect();
    match query.has_attachment {
        Some(true) => parts.push("has attachment".into()),
        Some(false) => parts.push("no attachment".into()),
        None => {}
    }
    match query.size {
        Some(size) if size > 0 => parts.push(format!("size>={size}")),
        Some(size) if size < 0 => parts.push(format!("size<={}", -size)),
        _ => {}
    }
    if parts.is_empty() {
        "every message".into()
    } else {
        parts.join(" ")
    }
}

fn describe_action(filter: &Filter) -> String {
    let action = &filter.action;
    let mut parts = Vec::new();
    for (value, yes, no) in [
        (action.seen, "seen", "not seen"),
        (action.flag, "flag", "no flag"),
        (action.delete, "delete", "keep"),
        (action.spam, "spam", "not spam"),
    ] {
        if let Some(value) = value {
            parts.push(if value { yes } else { no }.to_string());
        }
    }
    if let Some(mailbox) = action.mailbox {
        parts.push(format!("mailbox {mailbox}"));
    }
    for target in &action.targets {
        parts.push(format!("forward {}", target.value()));
    }
    parts.join(", ")
}
