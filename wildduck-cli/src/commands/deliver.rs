//! `wildduck deliver`: one message from stdin for one recipient, for an MTA (Postfix
//! `mailbox_command`, Exim pipe transport), like dovecot-lda.
//!
//! The recipient is an address resolved as LMTP resolves it (`+tag` and dots ignored,
//! wildcard addresses, forwarded addresses, SRS returns) or a username (then its main
//! address). Without `--mailbox` the message goes through the store's delivery pipeline as
//! over LMTP: `Delivered-To` and `Return-Path` (`--sender`) prepended, the user's filters,
//! spam to Junk, autoreply and forwards. `--mailbox` stores the bytes as they are into that
//! mailbox (INBOX when it does not exist, as dovecot-lda does), and so does a user with no
//! address (there is no `Delivered-To` to write). A disabled user gets nothing.
//!
//! Exit 0 only once the message is stored (or queued) durably. 67 (EX_NOUSER), 77
//! (EX_NOPERM: disabled) and 65 (EX_DATAERR) make the MTA bounce; 75 (EX_TEMPFAIL: store
//! unavailable, over quota) makes it try again later.

use std::io::Read;

use clap::Args;
use serde_json::{Value, json};
use wildduck_store::{
    AddressError, AuthError, Delivered, Delivery, Error as StoreError, Flags, MailboxError,
    Recipient, Store, User,
};

use super::{Ctx, find_user};
use crate::error::{CliError, CliResult, ErrorKind};
use crate::output::Report;

#[derive(Args)]
pub struct DeliverArgs {
    /// Recipient: an address (wildcards, forwarded addresses included) or a username.
    #[arg(long)]
    user: String,
    /// The envelope sender (`Return-Path`), as the MTA passes it (Postfix: `${sender}`);
    /// empty for a bounce.
    #[arg(long, default_value = "")]
    sender: String,
    /// Store the bytes as they are into this mailbox, without the delivery pipeline; when
    /// it does not exist the message goes to INBOX (as dovecot-lda does).
    #[arg(long)]
    mailbox: Option<String>,
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
    let doc = match (&args.mailbox, recipient(&store, &args.user).await?) {
        (None, Target::Recipient(recipient)) => {
            through_pipeline(&store, &args.sender, *recipient, &raw).await?
        }
        (mailbox, target) => {
            let user = match target {
                Target::Recipient(recipient) => match recipient.user() {
                    Some(user) => user.clone(),
                    // `--mailbox` stores into a mailbox; a forwarded address has none.
                    None => {
                        return Err(CliError::new(
                            ErrorKind::NoUser,
                            format!("{} has no mailbox (a forwarded address)", args.user),
                        ));
                    }
                },
                Target::UserWithoutAddress(user) => user,
            };
            as_is(&store, &user, mailbox.as_deref().unwrap_or("INBOX"), &raw).await?
        }
    };
    // An MTA reads nothing on success; scripts can ask for JSON.
    Ok(Report::new(doc, ""))
}

/// Who `name` is to `deliver`.
enum Target {
    /// Resolved as LMTP resolves addresses (for a username: its main address).
    Recipient(Box<Recipient>),
    /// A username whose user has no address.
    UserWithoutAddress(User),
}

/// `name` as an address by the store's delivery resolution, else as a username. Disabled
/// users are refused.
async fn recipient(store: &Store, name: &str) -> CliResult<Target> {
    let target = match store.resolve_recipient(name).await {
        Ok(recipient) => Target::Recipient(Box::new(recipient)),
        Err(StoreError::Address(AddressError::NotFound | AddressError::Invalid(_))) => {
            let user = find_user(store, name).await?;
            match store.main_address(user.id).await? {
                Some(address) => {
                    Target::Recipient(Box::new(store.resolve_recipient(&address.address).await?))
                }
                None => Target::UserWithoutAddress(user),
            }
        }
        Err(err) => return Err(err.into()),
    };
    let user = match &target {
        Target::Recipient(recipient) => recipient.user(),
        Target::UserWithoutAddress(user) => Some(user),
    };
    if let Some(user) = user.filter(|user| user.disabled) {
        return Err(CliError::from(StoreError::from(AuthError::Disabled))
            .context(format!("delivery to {}", user.username)));
    }
    Ok(target)
}

/// The delivery pipeline, as LMTP runs it for one recipient.
async fn through_pipeline(
    store: &Store,
    sender: &str,
    recipient: Recipient,
    raw: &[u8],
) -> CliResult<Value> {
    let recipients = [recipient];
    let delivery = Delivery {
        return_path: sender,
        recipients: &recipients,
        raw,
    };
    let context = || format!("delivery to {}", recipients[0].address);
    let mut results = store
        .deliver(delivery)
        .await
        .map_err(|err| CliError::from(err).context(context()))?;
    let delivered = results
        .pop()
        .expect("one result per recipient")
        .map_err(|err| CliError::from(err).context(context()))?;
    let user = recipients[0].user().map(|user| user.username.clone());
    Ok(match delivered {
        Delivered::Stored { mailbox, outcome } => {
            let mailbox = store.get_mailbox_by_id(mailbox).await?;
            json!({
                "user": user,
                "mailbox": mailbox.path,
                "uid": outcome.uid,
                "uidvalidity": outcome.uidvalidity,
                "size": outcome.size,
            })
        }
        Delivered::Dropped => json!({ "user": user, "dropped": true }),
        Delivered::Forwarded => json!({ "user": user, "forwarded": true }),
    })
}

/// The bytes as they are into `path` of `user` (INBOX when it does not exist).
async fn as_is(store: &Store, user: &User, path: &str, raw: &[u8]) -> CliResult<Value> {
    let mailbox = match store.get_mailbox(user.id, path).await {
        Ok(mailbox) => mailbox,
        Err(StoreError::Mailbox(MailboxError::NotFound)) => {
            tracing::warn!(
                "mailbox {path:?} of {} not found, delivering to INBOX",
                user.username
            );
            store.get_mailbox(user.id, "INBOX").await?
        }
        Err(err) => return Err(err.into()),
    };
    let outcome = store
        .append(mailbox.id, raw, &Flags::new(), None)
        .await
        .map_err(|err| CliError::from(err).context(format!("delivery to {}", user.username)))?;
    Ok(json!({
        "user": user.username,
        "mailbox": mailbox.path,
        "uid": outcome.uid,
        "uidvalidity": outcome.uidvalidity,
        "size": outcome.size,
    }))
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
