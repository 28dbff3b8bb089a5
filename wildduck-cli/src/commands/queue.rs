//! `wildduck queue list|show|retry|del`: the outbound queue as operators see it (what waits,
//! for whom, how often it was tried and what the relay said last) and what they do to it.

use clap::Subcommand;
use serde_json::json;
use wildduck_store::{OutboundEntry, OutboundId};

use super::Ctx;
use crate::error::{CliError, CliResult, ErrorKind};
use crate::output::Report;

#[derive(Subcommand)]
pub enum QueueCommand {
    /// Every queued entry (one per recipient domain of a message), oldest first.
    List,
    /// One entry with its recipients' states and, with `--body`, the message as relayed.
    Show {
        id: String,
        /// Print the message itself after the entry.
        #[arg(long)]
        body: bool,
    },
    /// Try an entry now instead of waiting out its backoff (a running `serve` picks it up
    /// on its next look at the queue).
    Retry { id: String },
    /// Drop an entry unsent; its sender is not told.
    #[command(alias = "delete")]
    Del { id: String },
}

pub async fn run(ctx: &Ctx, command: QueueCommand) -> CliResult<Report> {
    match command {
        QueueCommand::List => list(ctx).await,
        QueueCommand::Show { id, body } => show(ctx, &id, body).await,
        QueueCommand::Retry { id } => {
            let entry = parse_id(&id)?;
            found(ctx.store().await?.retry_outbound(entry).await?, &id)?;
            Ok(Report::new(
                json!({ "retry": id }),
                format!("queue entry {id} is due now"),
            ))
        }
        QueueCommand::Del { id } => {
            let entry = parse_id(&id)?;
            found(ctx.store().await?.delete_outbound(entry).await?, &id)?;
            Ok(Report::new(
                json!({ "deleted": id }),
                format!("deleted queue entry {id}"),
            ))
        }
    }
}

fn parse_id(id: &str) -> CliResult<OutboundId> {
    id.parse().map_err(|_| {
        CliError::new(
            ErrorKind::Usage,
            format!("{id:?} is not a queue entry id (24 hex digits)"),
        )
    })
}

fn found(exists: bool, id: &str) -> CliResult<()> {
    exists.then_some(()).ok_or_else(|| not_queued(id))
}

fn not_queued(id: &str) -> CliError {
    CliError::new(
        ErrorKind::NotFound,
        format!("queue entry {id}: not queued (delivered, given up or deleted)"),
    )
}

async fn show(ctx: &Ctx, id: &str, body: bool) -> CliResult<Report> {
    let entry = parse_id(id)?;
    let entry = ctx
        .store()
        .await?
        .outbound_entry(entry)
        .await?
        .ok_or_else(|| not_queued(id))?;
    let mut doc = document(&entry);
    let mut text = describe(&entry);
    if body {
        let message = String::from_utf8_lossy(&entry.raw).into_owned();
        doc["message"] = json!(message);
        text = format!("{text}\n\n{message}");
    }
    Ok(Report::new(doc, text))
}

async fn list(ctx: &Ctx) -> CliResult<Report> {
    let entries = ctx.store().await?.list_outbound().await?;
    let text = entries.iter().map(describe).collect::<Vec<_>>().join("\n");
    let docs: Vec<_> = entries.iter().map(document).collect();
    Ok(Report::new(json!({ "entries": docs }), text))
}

/// The entry without its body (its size instead), its next hop without a password.
fn document(entry: &OutboundEntry) -> serde_json::Value {
    let mut doc = serde_json::to_value(entry).unwrap_or_default();
    doc["size"] = json!(entry.raw.len());
    doc["next_hop"] = json!(entry.next_hop.to_string());
    doc
}

fn describe(entry: &OutboundEntry) -> String {
    let recipients = entry
        .recipients
        .iter()
        .map(|r| {
            let status = serde_json::to_value(&r.status).unwrap_or_default();
            let status = status.as_str().unwrap_or("?").to_string();
            match &r.last_reply {
                Some(reply) => format!("\n  {} {status}: {reply}", r.address),
                None => format!("\n  {} {status}", r.address),
            }
        })
        .collect::<String>();
    format!(
        "{} from <{}> {} ({} bytes) via {}, {} attempts, next at {}{recipients}",
        entry.id,
        entry.sender,
        entry.message_id,
        entry.raw.len(),
        entry.next_hop,
        entry.attempts,
        crate::dates::rfc3339(entry.next_attempt)
    )
}
