//! `wildduck queue list`: the outbound queue as operators see it (what waits, for whom, how
//! often it was tried and what the relay said last).

use clap::Subcommand;
use serde_json::json;
use wildduck_store::OutboundEntry;

use super::Ctx;
use crate::error::CliResult;
use crate::output::Report;

#[derive(Subcommand)]
pub enum QueueCommand {
    /// Every queued entry (one per recipient domain of a message), oldest first.
    List,
}

pub async fn run(ctx: &Ctx, command: QueueCommand) -> CliResult<Report> {
    match command {
        QueueCommand::List => list(ctx).await,
    }
}

async fn list(ctx: &Ctx) -> CliResult<Report> {
    let entries = ctx.store().await?.list_outbound().await?;
    let text = entries.iter().map(describe).collect::<Vec<_>>().join("\n");
    let docs: Vec<_> = entries.iter().map(document).collect();
    Ok(Report::new(json!({ "entries": docs }), text))
}

/// The entry without its body (its size instead).
fn document(entry: &OutboundEntry) -> serde_json::Value {
    let mut doc = serde_json::to_value(entry).unwrap_or_default();
    doc["size"] = json!(entry.raw.len());
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
        "{} from <{}> {} ({} bytes), {} attempts, next at {}{recipients}",
        entry.id,
        entry.sender,
        entry.message_id,
        entry.raw.len(),
        entry.attempts,
        crate::dates::rfc3339(entry.next_attempt)
    )
}
