//! `wildduck deliver`: one message from stdin into a user's mailbox, for an MTA (Postfix
//! `mailbox_command`, Exim pipe transport), like dovecot-lda.
//!
//! Exit 0 only once the message is stored durably. 67 (EX_NOUSER) and 65 (EX_DATAERR) make the
//! MTA bounce; 75 (EX_TEMPFAIL: store unavailable, over quota) makes it try again later.

use std::io::Read;

use clap::Args;
use serde_json::json;
use wildduck_store::{Error as StoreError, Flags, MailboxError};

use super::{Ctx, find_user};
use crate::error::{CliError, CliResult, ErrorKind};
use crate::output::Report;

#[derive(Args)]
pub struct DeliverArgs {
    /// Recipient: a username or one of the user's addresses.
    #[arg(long)]
    user: String,
    /// Target mailbox; when it does not exist the message goes to INBOX (as dovecot-lda does).
    #[arg(long, default_value = "INBOX")]
    mailbox: String,
}

pub async fn run(ctx: &Ctx, args: DeliverArgs) -> CliResult<Report> {
    let limit = ctx.config.store.max_message_size;
    let raw = read_stdin(limit)?;
    if raw.is_empty() {
        return Err(CliError::new(ErrorKind::Data, "empty message on stdin"));
    }
    let store = ctx.store().await.map_err(|err| match err.kind {
        // A missing store is a setup problem the MTA should retry, not bounce.
        ErrorKind::Config => CliError::new(ErrorKind::TempFail, err.message),
        _ => err,
    })?;
    let user = find_user(&store, &args.user).await?;
    let mailbox = match store.get_mailbox(user.id, &args.mailbox).await {
        Ok(mailbox) => mailbox,
        Err(StoreError::Mailbox(MailboxError::NotFound)) => {
            tracing::warn!(
                "mailbox {:?} of {} not found, delivering to INBOX",
                args.mailbox,
                user.username
            );
            store.get_mailbox(user.id, "INBOX").await?
        }
        Err(err) => return Err(err.into()),
    };
    let outcome = store
        .append(mailbox.id, &raw, &Flags::new(), None)
        .await
        .map_err(|err| CliError::from(err).context(format!("delivery to {}", user.username)))?;
    // An MTA reads nothing on success; scripts can ask for JSON.
    Ok(Report::new(
        json!({
            "user": user.username,
            "mailbox": mailbox.path,
            "uid": outcome.uid,
            "uidvalidity": outcome.uidvalidity,
            "size": outcome.size,
        }),
        "",
    ))
}

/// Reads the whole message, refusing more than `limit` bytes without reading them all.
fn read_stdin(limit: u64) -> CliResult<Vec<u8>> {
    let mut raw = Vec::new();
    std::io::stdin()
        .lock()
        .take(limit.saturating_add(1))
        .read_to_end(&mut raw)
        .map_err(|err| CliError::new(ErrorKind::TempFail, format!("reading stdin: {err}")))?;
    if raw.len() as u64 > limit {
        return Err(CliError::new(
            ErrorKind::Data,
            format!("message larger than the limit of {limit} bytes"),
        ));
    }
    Ok(raw)
}
