//! `wildduck message …`: single messages of a mailbox, by UID.

use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;
use mail_parser::{Address as ParsedAddress, MessageParser, MimeHeaders};
use serde_json::json;
use wildduck_store::{
    Flag, FlagOp, Flags, Mailbox, MessageMeta, MetaFields, Section, Store, Uid, UidSet,
};

use super::{Ctx, find_mailbox, find_user, flag_names};
use crate::dates;
use crate::error::{CliError, CliResult, ErrorKind};
use crate::output::{Report, human_bytes, table};

#[derive(Subcommand)]
pub enum MessageCommand {
    /// List the messages of a mailbox.
    List {
        user: String,
        #[arg(long, default_value = "INBOX")]
        mailbox: String,
    },
    /// Print a message's main headers and its text, decoded.
    Show {
        user: String,
        uid: Uid,
        #[arg(long, default_value = "INBOX")]
        mailbox: String,
    },
    /// Write a message's exact raw bytes to stdout or a file.
    Export {
        user: String,
        uid: Uid,
        #[arg(long, default_value = "INBOX")]
        mailbox: String,
        /// File to write (created; must not exist). Default: stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Delete messages (at once, no Trash).
    Delete {
        user: String,
        #[arg(required = true)]
        uids: Vec<Uid>,
        #[arg(long, default_value = "INBOX")]
        mailbox: String,
    },
}

pub async fn run(ctx: &Ctx, command: MessageCommand) -> CliResult<Report> {
    let store = ctx.store().await?;
    match command {
        MessageCommand::List { user, mailbox } => {
            let user = find_user(&store, &user).await?;
            let mailbox = find_mailbox(&store, &user, &mailbox).await?;
            list(&store, &mailbox).await
        }
        MessageCommand::Show { user, uid, mailbox } => {
            let user = find_user(&store, &user).await?;
            let mailbox = find_mailbox(&store, &user, &mailbox).await?;
            show(&store, &mailbox, uid).await
        }
        MessageCommand::Export {
            user,
            uid,
            mailbox,
            output,
        } => {
            if ctx.json && output.is_none() {
                return Err(CliError::new(
                    ErrorKind::Usage,
                    "--json needs --output: stdout can not carry both the message and JSON",
                ));
            }
            let user = find_user(&store, &user).await?;
            let mailbox = find_mailbox(&store, &user, &mailbox).await?;
            export(&store, &mailbox, uid, output).await
        }
        MessageCommand::Delete {
            user,
            uids,
            mailbox,
        } => {
            let user = find_user(&store, &user).await?;
            let mailbox = find_mailbox(&store, &user, &mailbox).await?;
            delete(&store, &mailbox, &uids).await
        }
    }
}

/// The metadata of one message, or "no message UID N in MAILBOX".
async fn message_meta(
    store: &Store,
    mailbox: &Mailbox,
    uid: Uid,
    fields: MetaFields,
) -> CliResult<MessageMeta> {
    let found = store
        .fetch_meta(mailbox.id, &UidSet::from_iter([uid]), fields)
        .await?;
    found
        .into_iter()
        .find(|m| m.uid == uid)
        .ok_or_else(|| no_message(mailbox, uid))
}

fn no_message(mailbox: &Mailbox, uid: Uid) -> CliError {
    CliError::new(
        ErrorKind::NotFound,
        format!("no message with UID {uid} in {}", mailbox.path),
    )
}

async fn list(store: &Store, mailbox: &Mailbox) -> CliResult<Report> {
    let fields = MetaFields {
        envelope: true,
        body_structure: false,
    };
    let metas = store.fetch_meta(mailbox.id, &UidSet::all(), fields).await?;
    let mut rows = Vec::new();
    let mut docs = Vec::new();
    for meta in &metas {
        let envelope = meta.envelope.clone().unwrap_or_default();
        let from = envelope
            .from
            .first()
            .map(|a| match (&a.mailbox, &a.host) {
                (Some(m), Some(h)) => format!("{m}@{h}"),
                (Some(m), None) => m.clone(),
                _ => a.name.clone().unwrap_or_default(),
            })
            .unwrap_or_default();
        let subject = envelope
            .subject
            .as_deref()
            .map(decode_words)
            .unwrap_or_default();
        rows.push(vec![
            meta.uid.to_string(),
            flag_names(&meta.flags).join(" "),
            dates::rfc3339(meta.internal_date),
            human_bytes(meta.size),
            from.clone(),
            subject.clone(),
        ]);
        docs.push(json!({
            "uid": meta.uid,
            "flags": flag_names(&meta.flags),
            "internal_date": dates::rfc3339(meta.internal_date),
            "size": meta.size,
            "modseq": meta.modseq,
            "from": from,
            "subject": subject,
            "message_id": envelope.message_id,
        }));
    }
    Ok(Report::new(
        json!({ "mailbox": mailbox.path, "messages": docs }),
        table(
            &["UID", "FLAGS", "RECEIVED", "SIZE", "FROM", "SUBJECT"],
            &rows,
        ),
    ))
}

/// Decodes RFC 2047 encoded words (`=?UTF-8?Q?…?=`): the store's ENVELOPE keeps header text
/// as sent, as IMAP shows it; people want it readable.
fn decode_words(text: &str) -> String {
    if !text.contains("=?") {
        return text.to_string();
    }
    let header = format!("Subject: {text}\r\n\r\n");
    MessageParser::default()
        .parse_headers(header.as_bytes())
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_else(|| text.to_string())
}

fn addresses_text(address: Option<&ParsedAddress>) -> Option<String> {
    let address = address?;
    let parts: Vec<String> = address
        .iter()
        .map(|a| match (&a.name, &a.address) {
            (Some(name), Some(addr)) => format!("{name} <{addr}>"),
            (None, Some(addr)) => addr.to_string(),
            (Some(name), None) => name.to_string(),
            (None, None) => String::new(),
        })
        .collect();
    Some(parts.join(", "))
}

async fn show(store: &Store, mailbox: &Mailbox, uid: Uid) -> CliResult<Report> {
    let meta = message_meta(store, mailbox, uid, MetaFields::default()).await?;
    let raw = store
        .read_section(mailbox.id, uid, &Section::full(), None)
        .await?
        .to_vec();
    let parsed = MessageParser::default().parse(&raw).ok_or_else(|| {
        CliError::new(
            ErrorKind::Data,
            format!("UID {uid}: the message does not parse"),
        )
    })?;
    let headers = [
        ("From", addresses_text(parsed.from())),
        ("To", addresses_text(parsed.to())),
        ("Cc", addresses_text(parsed.cc())),
        ("Date", parsed.date().map(|d| d.to_rfc3339())),
        ("Subject", parsed.subject().map(str::to_string)),
        (
            "Message-ID",
            parsed.message_id().map(|id| format!("<{id}>")),
        ),
    ];
    let text = parsed
        .body_text(0)
        .map(|t| t.into_owned())
        .unwrap_or_default();
    let attachments: Vec<serde_json::Value> = parsed
        .attachments()
        .map(|part| {
            json!({
                "name": part.attachment_name(),
                "content_type": part.content_type().map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub),
                    None => ct.ctype().to_string(),
                }),
                "size": part.len(),
            })
        })
        .collect();

    let mut human = String::new();
    for (name, value) in &headers {
        if let Some(value) = value {
            human.push_str(&format!("{name}: {value}\n"));
        }
    }
    human.push_str(&format!(
        "Flags: {}\nReceived: {}\nSize: {}\n",
        flag_names(&meta.flags).join(" "),
        dates::rfc3339(meta.internal_date),
        meta.size
    ));
    for attachment in &attachments {
        human.push_str(&format!(
            "Attachment: {} ({}, {} bytes)\n",
            attachment["name"].as_str().unwrap_or("unnamed"),
            attachment["content_type"].as_str().unwrap_or("?"),
            attachment["size"]
        ));
    }
    human.push('\n');
    human.push_str(&text);

    let header_doc: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase().replace('-', "_"), json!(value)))
        .collect();
    Ok(Report::new(
        json!({
            "uid": uid,
            "mailbox": mailbox.path,
            "flags": flag_names(&meta.flags),
            "internal_date": dates::rfc3339(meta.internal_date),
            "size": meta.size,
            "headers": header_doc,
            "text": text,
            "attachments": attachments,
        }),
        human,
    ))
}

async fn export(
    store: &Store,
    mailbox: &Mailbox,
    uid: Uid,
    output: Option<PathBuf>,
) -> CliResult<Report> {
    message_meta(store, mailbox, uid, MetaFields::default()).await?;
    let body = store
        .read_section(mailbox.id, uid, &Section::full(), None)
        .await?;
    match output {
        None => {
            let mut stdout = std::io::stdout().lock();
            for chunk in &body.chunks {
                stdout
                    .write_all(chunk)
                    .map_err(|err| CliError::new(ErrorKind::Io, format!("stdout: {err}")))?;
            }
            stdout
                .flush()
                .map_err(|err| CliError::new(ErrorKind::Io, format!("stdout: {err}")))?;
            Ok(Report::default())
        }
        Some(path) => {
            let mut file = std::fs::File::create_new(&path).map_err(|err| {
                let kind = if err.kind() == std::io::ErrorKind::AlreadyExists {
                    ErrorKind::CantCreate
                } else {
                    ErrorKind::Io
                };
                CliError::new(kind, format!("{}: {err}", path.display()))
            })?;
            for chunk in &body.chunks {
                file.write_all(chunk)
                    .map_err(|err| CliError::io(&path, err))?;
            }
            Ok(Report::new(
                json!({ "uid": uid, "mailbox": mailbox.path, "size": body.len(), "output": path }),
                format!("wrote {} bytes to {}", body.len(), path.display()),
            ))
        }
    }
}

async fn delete(store: &Store, mailbox: &Mailbox, uids: &[Uid]) -> CliResult<Report> {
    let wanted: UidSet = uids.iter().copied().collect();
    let existing = store
        .fetch_meta(mailbox.id, &wanted, MetaFields::default())
        .await?;
    if let Some(&missing) = uids
        .iter()
        .find(|uid| !existing.iter().any(|m| m.uid == **uid))
    {
        return Err(no_message(mailbox, missing));
    }
    store
        .store_flags(
            mailbox.id,
            &wanted,
            FlagOp::Add,
            &Flags::from([Flag::Deleted]),
            None,
        )
        .await?;
    let outcome = store.expunge(mailbox.id, Some(&wanted)).await?;
    let listed: Vec<String> = outcome.uids.iter().map(ToString::to_string).collect();
    Ok(Report::new(
        json!({ "mailbox": mailbox.path, "deleted": outcome.uids }),
        format!("deleted UID {} from {}", listed.join(", "), mailbox.path),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_words_are_decoded_and_plain_text_kept() {
        assert_eq!(decode_words("plain"), "plain");
        assert_eq!(decode_words("a =?UTF-8?Q?=E2=9C=94?= b"), "a \u{2714} b");
        assert_eq!(decode_words("=?bogus"), "=?bogus");
    }
}
