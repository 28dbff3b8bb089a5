//! `wildduck asp …`: application-specific passwords, one per mail client, each limited to
//! some protocols and removable on its own.

use clap::Subcommand;
use serde::Serialize;
use serde_json::json;
use wildduck_store::{Asp, AspId, NewAsp, Scope};

use super::{Ctx, find_user, parse_scopes, scope_list};
use crate::dates;
use crate::error::{CliError, CliResult, ErrorKind};
use crate::output::{Report, table};

#[derive(Subcommand)]
pub enum AspCommand {
    /// Create an application password and print it (it is shown this once).
    Add {
        user: String,
        /// What it is for, e.g. the device or program.
        #[arg(long)]
        description: String,
        /// The protocols it opens: a comma-separated list of imap, pop3, smtp (default:
        /// all of them). It never opens the API.
        #[arg(long, value_name = "SCOPES")]
        scopes: Option<String>,
        /// Expire unless used within this many seconds (each use starts the period again).
        #[arg(long, value_name = "SECONDS")]
        ttl: Option<u64>,
        /// Use this password (16 letters a-z) instead of a random one; prefer the random
        /// one, a command line is visible to other local users.
        #[arg(long)]
        password: Option<String>,
    },
    /// List a user's application passwords (never the passwords themselves).
    List { user: String },
    /// Delete an application password by its id: the client using it can no longer log in.
    #[command(alias = "delete")]
    Del { user: String, id: String },
}

#[derive(Serialize)]
struct AspView {
    id: String,
    description: String,
    scopes: Vec<Scope>,
    created: String,
    expires: Option<String>,
    last_used: Option<String>,
    last_scope: Option<Scope>,
    last_ip: Option<String>,
}

impl From<&Asp> for AspView {
    fn from(asp: &Asp) -> Self {
        Self {
            id: asp.id.to_string(),
            description: asp.description.clone(),
            scopes: asp.scopes.clone(),
            created: dates::rfc3339(asp.created),
            expires: asp.expires.map(dates::rfc3339),
            last_used: asp.last_use.as_ref().map(|used| dates::rfc3339(used.time)),
            last_scope: asp.last_use.as_ref().map(|used| used.scope),
            last_ip: asp.last_use.as_ref().and_then(|used| used.ip.clone()),
        }
    }
}

/// Shown as WildDuck suggests: four groups of four (spaces are ignored at login).
fn grouped(password: &str) -> String {
    password
        .as_bytes()
        .chunks(4)
        .map(|group| String::from_utf8_lossy(group).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn run(ctx: &Ctx, command: AspCommand) -> CliResult<Report> {
    let store = ctx.store().await?;
    match command {
        AspCommand::Add {
            user,
            description,
            scopes,
            ttl,
            password,
        } => {
            let scopes = scopes.as_deref().map(parse_scopes).transpose()?;
            if scopes.as_ref().is_some_and(Vec::is_empty) {
                return Err(CliError::new(
                    ErrorKind::Usage,
                    "--scopes needs at least one of imap, pop3, smtp",
                ));
            }
            let user = find_user(&store, &user).await?;
            let (asp, password) = store
                .create_asp(
                    user.id,
                    NewAsp {
                        description,
                        scopes: scopes.unwrap_or_default(),
                        password,
                        ttl,
                    },
                )
                .await?;
            Ok(Report::new(
                json!({ "user": user.username, "asp": AspView::from(&asp), "password": password }),
                format!(
                    "created application password {} for {} ({})\npassword: {}",
                    asp.id,
                    user.username,
                    scope_list(&asp.scopes),
                    grouped(&password)
                ),
            ))
        }
        AspCommand::List { user } => {
            let user = find_user(&store, &user).await?;
            let asps = store.list_asps(user.id).await?;
            let rows: Vec<Vec<String>> = asps
                .iter()
                .map(|asp| {
                    let view = AspView::from(asp);
                    vec![
                        view.description,
                        scope_list(&asp.scopes),
                        view.last_used.unwrap_or_else(|| "never".into()),
                        view.expires.unwrap_or_else(|| "-".into()),
                        view.id,
                    ]
                })
                .collect();
            let views: Vec<AspView> = asps.iter().map(AspView::from).collect();
            Ok(Report::new(
                json!({ "user": user.username, "asps": views }),
                table(
                    &["DESCRIPTION", "SCOPES", "LAST USED", "EXPIRES", "ID"],
                    &rows,
                ),
            ))
        }
        AspCommand::Del { user, id } => {
            let user = find_user(&store, &user).await?;
            let asp: AspId = id.parse().map_err(|_| {
                CliError::new(
                    ErrorKind::Usage,
                    format!("{id:?} is not an id (24 hex digits)"),
                )
            })?;
            store
                .delete_asp(user.id, asp)
                .await
                .map_err(|err| CliError::from(err).context(format!("application password {id}")))?;
            Ok(Report::new(
                json!({ "user": user.username, "deleted": id }),
                format!("deleted application password {id} of {}", user.username),
            ))
        }
    }
}
