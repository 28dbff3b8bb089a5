//! `wildduck export`: a mailbox, or every mailbox of a user, to mbox or Maildir, with flags
//! and received dates, each message's bytes exactly as stored.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde_json::json;
use wildduck_store::{Mailbox, MessageMeta, MetaFields, Section, Store, UidSet};

use super::{Ctx, find_mailbox, find_user};
use crate::error::{CliError, CliResult, ErrorKind};
use crate::formats::maildir::MaildirWriter;
use crate::formats::mbox;
use crate::output::Report;
use crate::progress::Progress;

#[derive(Args)]
pub struct ExportArgs {
    /// The user (username or address).
    #[arg(long)]
    user: String,
    /// The mailbox to export.
    #[arg(long, default_value = "INBOX", conflicts_with = "all")]
    mailbox: String,
    /// Export every mailbox of the user into the directory OUTPUT: `PATH.mbox` files, or one
    /// Maildir per mailbox at `PATH/`.
    #[arg(long)]
    all: bool,
    #[arg(long, value_enum)]
    format: Format,
    /// mbox file (must not exist) or Maildir directory (created if missing).
    #[arg(long, short)]
    output: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Mbox,
    Maildir,
}

pub async fn run(ctx: &Ctx, args: ExportArgs) -> CliResult<Report> {
    let store = ctx.store().await?;
    let user = find_user(&store, &args.user).await?;
    let mailboxes = if args.all {
        store.list_mailboxes(user.id).await?
    } else {
        vec![find_mailbox(&store, &user, &args.mailbox).await?]
    };
    let mut exported = Vec::new();
    for mailbox in &mailboxes {
        let target = if args.all {
            target_in_tree(&args.output, &mailbox.path, args.format)?
        } else {
            args.output.clone()
        };
        let count = match args.format {
            Format::Mbox => export_mbox(&store, mailbox, &target, ctx.json).await?,
            Format::Maildir => export_maildir(&store, mailbox, &target, ctx.json).await?,
        };
        exported.push((mailbox.path.clone(), count, target));
    }
    let text = exported
        .iter()
        .map(|(path, count, target)| {
            format!(
                "exported {count} messages of {path} to {}",
                target.display()
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let docs: Vec<_> = exported
        .iter()
        .map(
            |(path, count, target)| json!({ "mailbox": path, "messages": count, "output": target }),
        )
        .collect();
    Ok(Report::new(
        json!({ "user": user.username, "exported": docs }),
        text,
    ))
}

/// Where one mailbox goes in an `--all` export; refuses names that would escape the
/// directory or collide with Maildir's own `cur`/`new`/`tmp`.
fn target_in_tree(root: &Path, mailbox_path: &str, format: Format) -> CliResult<PathBuf> {
    let mut target = root.to_path_buf();
    let components: Vec<&str> = mailbox_path.split(wildduck_store::PATH_SEPARATOR).collect();
    for component in &components {
        let reserved = format == Format::Maildir && ["cur", "new", "tmp"].contains(component);
        if component.is_empty()
            || *component == "."
            || *component == ".."
            || component.contains('\\')
            || reserved
        {
            return Err(CliError::new(
                ErrorKind::Data,
                format!(
                    "mailbox {mailbox_path:?} can not be written as a file name in this format"
                ),
            ));
        }
        target.push(component);
    }
    if format == Format::Mbox {
        target.set_file_name(format!(
            "{}.mbox",
            components.last().copied().unwrap_or_default()
        ));
    }
    Ok(target)
}

fn create_error(path: &Path, err: std::io::Error) -> CliError {
    let kind = match err.kind() {
        std::io::ErrorKind::AlreadyExists => ErrorKind::CantCreate,
        _ => ErrorKind::Io,
    };
    CliError::new(kind, format!("{}: {err}", path.display()))
}

async fn export_mbox(
    store: &Store,
    mailbox: &Mailbox,
    target: &Path,
    json: bool,
) -> CliResult<usize> {
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|err| create_error(parent, err))?;
    }
    let file = File::create_new(target).map_err(|err| create_error(target, err))?;
    let mut out = BufWriter::new(file);
    let count = each_message(store, mailbox, json, |meta, raw| {
        mbox::write_message(&mut out, raw, &meta.flags, meta.internal_date)
            .map_err(|err| CliError::io(target, err))
    })
    .await?;
    out.flush().map_err(|err| CliError::io(target, err))?;
    Ok(count)
}

async fn export_maildir(
    store: &Store,
    mailbox: &Mailbox,
    target: &Path,
    json: bool,
) -> CliResult<usize> {
    let mut writer = MaildirWriter::create(target).map_err(|err| create_error(target, err))?;
    let count = each_message(store, mailbox, json, |meta, raw| {
        // UIDVALIDITY and a zero-padded UID: unique, and name order is UID order.
        let unique = format!("{:010}.{:010}.wildduck", mailbox.uidvalidity, meta.uid);
        writer
            .write(&unique, raw, &meta.flags, meta.internal_date)
            .map(drop)
            .map_err(|err| CliError::io(target, err))
    })
    .await?;
    let dropped = writer.finish().map_err(|err| CliError::io(target, err))?;
    if !dropped.is_empty() {
        let names: Vec<String> = dropped.iter().map(ToString::to_string).collect();
        tracing::warn!(
            "{}: Maildir names at most 26 keywords; not written: {}",
            mailbox.path,
            names.join(" ")
        );
    }
    Ok(count)
}

/// Hands every message of `mailbox`, in UID order, to `write` with its bytes; counts them
/// on a terminal. How many there were.
async fn each_message(
    store: &Store,
    mailbox: &Mailbox,
    json: bool,
    mut write: impl FnMut(&MessageMeta, &[u8]) -> CliResult<()>,
) -> CliResult<usize> {
    let metas = store
        .fetch_meta(mailbox.id, &UidSet::all(), MetaFields::default())
        .await?;
    let progress = Progress::new(format!("exporting {}", mailbox.path), metas.len(), json);
    for (done, meta) in metas.iter().enumerate() {
        let raw = store
            .read_section(mailbox.id, meta.uid, &Section::full(), None)
            .await?
            .to_vec();
        write(meta, &raw)?;
        progress.tick(done + 1);
    }
    progress.finish();
    Ok(metas.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_targets_follow_the_mailbox_path() {
        let root = Path::new("/out");
        assert_eq!(
            target_in_tree(root, "INBOX", Format::Mbox).unwrap(),
            Path::new("/out/INBOX.mbox")
        );
        assert_eq!(
            target_in_tree(root, "a/b", Format::Mbox).unwrap(),
            Path::new("/out/a/b.mbox")
        );
        assert_eq!(
            target_in_tree(root, "a/b", Format::Maildir).unwrap(),
            Path::new("/out/a/b")
        );
        assert!(target_in_tree(root, "a/../../etc", Format::Mbox).is_err());
        assert!(target_in_tree(root, "a/cur", Format::Maildir).is_err());
        assert!(target_in_tree(root, "a/cur", Format::Mbox).is_ok());
    }
}
