//! `wildduck autoreply …`: a user's vacation reply (RFC 3834 rules are the store's: one reply
//! per sender per interval, none to lists, bounces or other automatic mail, none for spam).

use clap::{Args, Subcommand};
use serde_json::json;
use wildduck_store::mime::parsed::parse_iso_date;
use wildduck_store::{Autoreply, AutoreplyUpdate, Timestamp};

use super::{Ctx, find_user};
use crate::dates;
use crate::error::{CliError, CliResult, ErrorKind};
use crate::output::Report;

#[derive(Subcommand)]
pub enum AutoreplyCommand {
    /// Turn the reply on, changing the parts given (the others stay as they were).
    Set(SetArgs),
    /// Show the reply and whether it is on.
    Show { user: String },
    /// Remove the reply.
    Off { user: String },
}

#[derive(Args)]
pub struct SetArgs {
    user: String,
    /// Subject of the reply; empty: "Auto: Re: " and the original subject.
    #[arg(long)]
    subject: Option<String>,
    /// Plain-text body.
    #[arg(long)]
    text: Option<String>,
    /// HTML body.
    #[arg(long)]
    html: Option<String>,
    /// Display name of the reply's From:.
    #[arg(long)]
    name: Option<String>,
    /// Reply only from this time on (RFC 3339, e.g. 2026-12-24T00:00:00Z; empty: no start).
    #[arg(long, value_name = "TIME")]
    start: Option<String>,
    /// Reply only until this time (RFC 3339; empty: no end).
    #[arg(long, value_name = "TIME")]
    end: Option<String>,
}

pub async fn run(ctx: &Ctx, command: AutoreplyCommand) -> CliResult<Report> {
    let store = ctx.store().await?;
    match command {
        AutoreplyCommand::Set(args) => {
            let user = find_user(&store, &args.user).await?;
            let update = AutoreplyUpdate {
                status: Some(true),
                name: args.name,
                subject: args.subject,
                text: args.text,
                html: args.html,
                start: args.start.as_deref().map(time_or_none).transpose()?,
                end: args.end.as_deref().map(time_or_none).transpose()?,
            };
            let reply = store.set_autoreply(user.id, update).await?;
            Ok(shown(&user.username, Some(&reply)))
        }
        AutoreplyCommand::Show { user } => {
            let user = find_user(&store, &user).await?;
            let reply = store.get_autoreply(user.id).await?;
            Ok(shown(&user.username, reply.as_ref()))
        }
        AutoreplyCommand::Off { user } => {
            let user = find_user(&store, &user).await?;
            store.delete_autoreply(user.id).await?;
            Ok(Report::new(
                json!({ "user": user.username, "autoreply": null }),
                format!("{}: no autoreply", user.username),
            ))
        }
    }
}

/// An option's time: empty clears it, else RFC 3339.
fn time_or_none(text: &str) -> CliResult<Option<Timestamp>> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    parse_iso_date(text).map(Some).ok_or_else(|| {
        CliError::new(
            ErrorKind::Usage,
            format!("{text:?} is not an RFC 3339 time (e.g. 2026-12-24T00:00:00Z)"),
        )
    })
}

fn shown(username: &str, reply: Option<&Autoreply>) -> Report {
    let Some(reply) = reply else {
        return Report::new(
            json!({ "user": username, "autoreply": null }),
            format!("{username}: no autoreply"),
        );
    };
    let when = |ts: Option<Timestamp>| ts.map_or("-".to_string(), dates::rfc3339);
    let text = format!(
        "{username}: autoreply {}\n  subject: {}\n  name:    {}\n  start:   {}\n  end:     {}\n  text:    {}",
        if reply.status { "on" } else { "off" },
        reply.subject,
        reply.name,
        when(reply.start),
        when(reply.end),
        reply.text
    );
    Report::new(
        json!({
            "user": username,
            "autoreply": {
                "status": reply.status,
                "name": reply.name,
                "subject": reply.subject,
                "text": reply.text,
                "html": reply.html,
                "start": reply.start.map(dates::rfc3339),
                "end": reply.end.map(dates::rfc3339),
            }
        }),
        text,
    )
}
