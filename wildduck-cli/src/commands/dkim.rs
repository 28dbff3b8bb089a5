//! `wildduck dkim add|list|del`: the per-domain keys the relay worker signs outgoing mail
//! with (the same records as the API's `/dkim`). Private keys are never printed; `add`
//! prints the DNS TXT record to publish.

use clap::Subcommand;
use serde_json::json;
use wildduck_store::{DkimKey, NewDkimKey};

use super::Ctx;
use crate::dates;
use crate::error::{CliError, CliResult};
use crate::output::{Report, table};

#[derive(Subcommand)]
pub enum DkimCommand {
    /// Set a domain's key (replacing the one it has): a new 2048-bit RSA key, or the PEM
    /// (or raw Ed25519 seed) in `--private-key-file`.
    Add {
        domain: String,
        /// The DNS selector: the key is published at SELECTOR._domainkey.DOMAIN.
        #[arg(long)]
        selector: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, value_name = "FILE")]
        private_key_file: Option<std::path::PathBuf>,
    },
    /// Every domain's key: selector, fingerprint, the DNS name to publish it at.
    List,
    /// Delete a domain's key: its mail goes out unsigned from then on.
    #[command(alias = "delete")]
    Del { domain: String },
}

fn document(key: &DkimKey) -> serde_json::Value {
    json!({
        "id": key.id.to_string(),
        "domain": key.domain,
        "selector": key.selector,
        "description": key.description,
        "fingerprint": key.fingerprint,
        "dns": { "name": key.dns_name, "value": key.dns_value },
        "created": dates::rfc3339(key.created),
    })
}

pub async fn run(ctx: &Ctx, command: DkimCommand) -> CliResult<Report> {
    // Keys may come before any user: adding one sets up a new data directory.
    let store = match command {
        DkimCommand::Add { .. } => ctx.store_creating().await?,
        _ => ctx.store().await?,
    };
    match command {
        DkimCommand::Add {
            domain,
            selector,
            description,
            private_key_file,
        } => {
            let private_key = private_key_file
                .map(|path| std::fs::read_to_string(&path).map_err(|err| CliError::io(&path, err)))
                .transpose()?;
            let (key, created) = store
                .set_dkim_key(NewDkimKey {
                    domain,
                    selector,
                    description,
                    private_key,
                })
                .await?;
            let verb = if created { "created" } else { "replaced" };
            Ok(Report::new(
                json!({ "key": document(&key), "created": created }),
                format!(
                    "{verb} the DKIM key of {} ({})\npublish: {} TXT \"{}\"",
                    key.domain, key.fingerprint, key.dns_name, key.dns_value
                ),
            ))
        }
        DkimCommand::List => {
            let keys = store.list_dkim_keys().await?;
            let rows: Vec<Vec<String>> = keys
                .iter()
                .map(|key| {
                    vec![
                        key.domain.clone(),
                        key.selector.clone(),
                        key.fingerprint.clone(),
                        key.dns_name.clone(),
                    ]
                })
                .collect();
            let docs: Vec<_> = keys.iter().map(document).collect();
            Ok(Report::new(
                json!({ "keys": docs }),
                table(&["DOMAIN", "SELECTOR", "FINGERPRINT", "DNS NAME"], &rows),
            ))
        }
        DkimCommand::Del { domain } => {
            let key = store
                .resolve_dkim_key(&domain)
                .await
                .map_err(|err| CliError::from(err).context(format!("DKIM key of {domain}")))?;
            store.delete_dkim_key(key.id).await?;
            Ok(Report::new(
                json!({ "deleted": key.domain }),
                format!("deleted the DKIM key of {}", key.domain),
            ))
        }
    }
}
