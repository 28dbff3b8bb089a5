//! `wildduck deliver`: one message from stdin into a user's mailbox, for an MTA (Postfix
//! `mailbox_command`, Exim pipe transport), like dovecot-lda.
//!
//! The recipient is a username, or an address resolved as LMTP resolves it (`+tag` and dots
//! ignored, wildcard addresses); a disabled user gets nothing, as over LMTP.
//!
//! Exit 0 only once the message is stored durably. 67 (EX_NOUSER), 77 (EX_NOPERM: disabled)
//! and 65 (EX_DATAERR) make the MTA bounce; 75 (EX_TEMPFAIL: store unavailable, over quota)
//! makes it try again later.

use std::io::Read;

use clap::Args;
use serde_json::json;
use wildduck_store::{
    AddressError, AuthError, Error as StoreError, Flags, MailboxError, Store, User,
};

use super::{Ctx, find_user};
use crate::error::{CliError, CliResult, ErrorKind};
use crate::output::Report;

#[derive(Args)]
pub struct DeliverArgs {
    /// Recipient: a username, or an address that delivers to a user (wildcards included).
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
    let user = recipient_user(&store, &args.user).await?;
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

/// The user `name` delivers to: as an address by the store's delivery resolution, else as a
/// username. Disabled users are refused.
async fn recipient_user(store: &Store, name: &str) -> CliResult<User> {
    let user = match store.resolve_recipient(name).await {
        Ok(recipient) => match recipient.user() {
            Some(user) => user.clone(),
            // `deliver` stores into a mailbox; a forwarded address has none.
            None => {
                return Err(CliError::from(StoreError::from(AddressError::NotFound))
                    .context(format!("{name} is a forwarded address")));
            }
        },
        Err(StoreError::Address(AddressError::NotFound | AddressError::Invalid(_))) => {
            find_user(store, name).await?
        }
        Err(err) => return Err(err.into()),
    };
    if user.disabled {
        return Err(CliError::from(StoreError::from(AuthError::Disabled))
            .context(format!("delivery to {}", user.username)));
    }
    Ok(user)
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
