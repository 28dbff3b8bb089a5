//! `wildduck import`: mbox files, Maildirs and `.eml` files into one mailbox of a user.
//!
//! All-or-nothing by default: every input is read and checked first, and nothing is stored
//! when anything is wrong; if the store fails part-way, what this run stored is taken out
//! again. `--continue-on-error` skips bad messages instead and reports them.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use mail_parser::MessageParser;
use serde::Serialize;
use serde_json::json;
use wildduck_store::{
    AppendItem, Error as StoreError, Flag, FlagOp, Flags, Mailbox, MailboxError, Store, Timestamp,
    Uid, UidSet, User,
};

use super::{Ctx, find_user};
use crate::error::{CliError, CliResult, ErrorKind};
use crate::formats::mbox::MboxReader;
use crate::formats::{Mail, looks_like_message, maildir};
use crate::output::Report;
use crate::progress::Progress;

#[derive(Args)]
pub struct ImportArgs {
    /// The user (username or address).
    #[arg(long)]
    user: String,
    /// Target mailbox; created when missing.
    #[arg(long, default_value = "INBOX")]
    mailbox: String,
    /// Input format; `auto` tells by looking (a directory with cur/ or new/ is a Maildir, a
    /// file starting with "From " an mbox, anything else one message).
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    format: Format,
    /// Skip messages that can not be imported instead of importing nothing.
    #[arg(long)]
    continue_on_error: bool,
    /// Each PATH is a directory of mailboxes, as `export --all` writes them (`A/B.mbox` files,
    /// `A/B/` Maildirs) or a Maildir++ (root = INBOX, `.A.B/` = A/B); they go to mailboxes of
    /// the same names, created when missing.
    #[arg(long, conflicts_with_all = ["mailbox", "format"])]
    tree: bool,
    /// mbox files, Maildir directories or .eml files (with --tree: directories).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Auto,
    Mbox,
    Maildir,
    Eml,
}

/// One input, its format settled.
#[derive(Clone, Debug)]
enum Source {
    Mbox(PathBuf),
    Maildir(PathBuf),
    Eml(PathBuf),
}

/// A message that can not be imported, and why.
#[derive(Clone, Debug, Serialize)]
struct Problem {
    origin: String,
    reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.origin, self.reason)
    }
}

fn settle_format(path: &Path, format: Format) -> CliResult<Source> {
    let metadata = std::fs::metadata(path).map_err(|err| CliError::io(path, err))?;
    let source = match format {
        Format::Mbox => Source::Mbox(path.into()),
        Format::Maildir => Source::Maildir(path.into()),
        Format::Eml => Source::Eml(path.into()),
        Format::Auto if metadata.is_dir() => {
            if !maildir::is_maildir(path) {
                return Err(CliError::new(
                    ErrorKind::Data,
                    format!(
                        "{}: a directory, but not a Maildir (no cur/ or new/)",
                        path.display()
                    ),
                ));
            }
            Source::Maildir(path.into())
        }
        Format::Auto => {
            let mut start = [0u8; 5];
            let read = std::io::Read::read(
                &mut File::open(path).map_err(|err| CliError::io(path, err))?,
                &mut start,
            )
            .map_err(|err| CliError::io(path, err))?;
            if &start[..read] == b"From " {
                Source::Mbox(path.into())
            } else {
                Source::Eml(path.into())
            }
        }
    };
    Ok(source)
}

/// The mailboxes under a tree root: (mailbox path, source), sorted by mailbox path.
fn tree_sources(root: &Path) -> CliResult<Vec<(String, Source)>> {
    let mut found = Vec::new();
    if maildir::is_maildir(root) {
        found.push(("INBOX".to_string(), Source::Maildir(root.into())));
    }
    walk_tree(root, "", &mut found)?;
    if found.is_empty() {
        return Err(CliError::new(
            ErrorKind::Data,
            format!("{}: no mbox files or Maildirs in it", root.display()),
        ));
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

fn walk_tree(dir: &Path, prefix: &str, found: &mut Vec<(String, Source)>) -> CliResult<()> {
    let join = |name: &str| {
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        }
    };
    let in_maildir = maildir::is_maildir(dir);
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|err| CliError::io(dir, err))?
        .collect::<Result<_, _>>()
        .map_err(|err| CliError::io(dir, err))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            return Err(CliError::new(
                ErrorKind::Data,
                format!("{}: not a UTF-8 name", path.display()),
            ));
        };
        if path.is_dir() {
            if in_maildir && ["cur", "new", "tmp"].contains(&name.as_str()) {
                continue;
            }
            if let Some(dotted) = name.strip_prefix('.') {
                // Maildir++: `.A.B` is the folder A/B; other dot directories are not mail.
                if !dotted.is_empty() && maildir::is_maildir(&path) {
                    found.push((join(&dotted.replace('.', "/")), Source::Maildir(path)));
                }
                continue;
            }
            if maildir::is_maildir(&path) {
                found.push((join(&name), Source::Maildir(path.clone())));
            }
            walk_tree(&path, &join(&name), found)?;
        } else if let Some(stem) = name.strip_suffix(".mbox") {
            found.push((join(stem), Source::Mbox(path)));
        }
    }
    Ok(())
}

type MailResult = Result<Mail, Problem>;

/// A file too large to be one message is refused before it is read.
fn check_file_size(path: &Path, max_size: u64) -> Result<(), String> {
    let size = std::fs::metadata(path)
        .map_err(|err| err.to_string())?
        .len();
    if size > max_size {
        return Err(format!("{size} bytes, larger than the limit of {max_size}"));
    }
    Ok(())
}

/// The messages of one input, read one at a time.
fn messages(source: &Source, max_size: u64) -> Box<dyn Iterator<Item = MailResult>> {
    let problem = |path: &Path, reason: String| Problem {
        origin: path.display().to_string(),
        reason,
    };
    match source {
        Source::Mbox(path) => match File::open(path) {
            Ok(file) => {
                let name = path.display().to_string();
                Box::new(MboxReader::new(BufReader::new(file), max_size).map(
                    move |item| match item {
                        Ok(mut mail) => {
                            mail.origin = format!("{name}: {}", mail.origin);
                            Ok(mail)
                        }
                        Err(err) => Err(Problem {
                            origin: format!("{name}: line {}", err.line),
                            reason: err.reason,
                        }),
                    },
                ))
            }
            Err(err) => Box::new(std::iter::once(Err(problem(path, err.to_string())))),
        },
        Source::Maildir(dir) => {
            let listing =
                maildir::read_keywords(dir).and_then(|k| Ok((k, maildir::message_files(dir)?)));
            match listing {
                Ok((keywords, files)) => Box::new(files.into_iter().map(move |file| {
                    check_file_size(&file, max_size).map_err(|reason| problem(&file, reason))?;
                    maildir::read_message(&file, &keywords)
                        .map_err(|err| problem(&file, err.to_string()))
                })),
                Err(err) => Box::new(std::iter::once(Err(problem(dir, err.to_string())))),
            }
        }
        Source::Eml(path) => {
            if let Err(reason) = check_file_size(path, max_size) {
                return Box::new(std::iter::once(Err(problem(path, reason))));
            }
            let mail = std::fs::read(path)
                .map(|raw| Mail {
                    raw,
                    flags: Flags::new(),
                    internal_date: None,
                    origin: path.display().to_string(),
                })
                .map_err(|err| problem(path, err.to_string()));
            Box::new(std::iter::once(mail))
        }
    }
}

/// What makes a read message unfit to store, checked before anything is stored.
fn check(mail: &Mail, max_size: u64) -> Result<(), String> {
    if mail.raw.is_empty() {
        return Err("empty message".into());
    }
    if mail.raw.len() as u64 > max_size {
        return Err(format!(
            "{} bytes, larger than the limit of {max_size}",
            mail.raw.len()
        ));
    }
    if !looks_like_message(&mail.raw) {
        return Err("does not start with a header field".into());
    }
    Ok(())
}

fn checked(item: MailResult, max_size: u64) -> MailResult {
    let mail = item?;
    match check(&mail, max_size) {
        Ok(()) => Ok(mail),
        Err(reason) => Err(Problem {
            origin: mail.origin,
            reason,
        }),
    }
}

/// The received date: the one the format recorded, else the Date: header, else now (None).
fn internal_date(mail: &Mail) -> Option<Timestamp> {
    mail.internal_date.or_else(|| {
        MessageParser::default()
            .parse_headers(&mail.raw)
            .and_then(|m| m.date().map(|d| d.to_timestamp()))
    })
}

/// One target mailbox of the run and what was stored into it.
struct Target {
    path: String,
    mailbox: Mailbox,
    created: bool,
    uids: Vec<Uid>,
}

pub async fn run(ctx: &Ctx, args: ImportArgs) -> CliResult<Report> {
    let mut plan: Vec<(String, Source)> = Vec::new();
    for path in &args.paths {
        if args.tree {
            plan.extend(tree_sources(path)?);
        } else {
            plan.push((args.mailbox.clone(), settle_format(path, args.format)?));
        }
    }
    let max_size = ctx.config.store.max_message_size;

    // First pass: read and check everything, store nothing.
    let mut total = 0usize;
    let mut problems = Vec::new();
    for (_, source) in &plan {
        for item in messages(source, max_size) {
            match checked(item, max_size) {
                Ok(_) => total += 1,
                Err(problem) => problems.push(problem),
            }
        }
    }
    if !problems.is_empty() && !args.continue_on_error {
        let more = match problems.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        return Err(CliError::new(
            ErrorKind::Data,
            format!(
                "nothing imported: {}{more}; use --continue-on-error to import the rest",
                problems[0]
            ),
        ));
    }

    let store = ctx.store().await?;
    let user = find_user(&store, &args.user).await?;
    let mut importer = Importer {
        store: store.clone(),
        continue_on_error: args.continue_on_error,
        problems,
        imported: 0,
        progress: Progress::new("importing", total, ctx.json),
    };
    let mut targets: Vec<Target> = Vec::new();
    for (path, source) in &plan {
        let index = match targets.iter().position(|t| &t.path == path) {
            Some(index) => index,
            None => match target(&store, &user, path).await {
                Ok(target) => {
                    targets.push(target);
                    targets.len() - 1
                }
                Err(err) => {
                    importer.progress.finish();
                    let undone = roll_back(&store, &user, &targets).await;
                    return Err(err.context(format!("{path}: import stopped, {undone}")));
                }
            },
        };
        let mut batch = Vec::new();
        let mut batch_bytes = 0;
        let mut items = messages(source, max_size).peekable();
        while let Some(item) = items.next() {
            // Problems were counted in the first pass; the same checks skip them here.
            if let Ok(mail) = checked(item, max_size) {
                batch_bytes += mail.raw.len();
                batch.push(mail);
            }
            let full = batch.len() >= BATCH_MESSAGES || batch_bytes >= BATCH_BYTES;
            if batch.is_empty() || (!full && items.peek().is_some()) {
                continue;
            }
            if let Err((err, origin)) = importer.store_batch(&mut targets[index], &batch).await {
                importer.progress.finish();
                let undone = roll_back(&store, &user, &targets).await;
                return Err(err.context(format!("{origin}: import stopped, {undone}")));
            }
            batch.clear();
            batch_bytes = 0;
        }
    }
    importer.progress.finish();
    let Importer {
        imported, problems, ..
    } = importer;

    let per_mailbox: Vec<_> = targets
        .iter()
        .map(|t| json!({ "mailbox": t.mailbox.path, "imported": t.uids.len(), "created": t.created }))
        .collect();
    let mut text: Vec<String> = targets
        .iter()
        .map(|t| format!("imported {} messages into {}", t.uids.len(), t.mailbox.path))
        .collect();
    if !problems.is_empty() {
        text.push(format!("skipped {}:", problems.len()));
        text.extend(problems.iter().map(|p| format!("  {p}")));
    }
    Ok(Report::new(
        json!({
            "user": user.username,
            "imported": imported,
            "skipped": problems.len(),
            "problems": problems,
            "mailboxes": per_mailbox,
        }),
        text.join("\n"),
    ))
}

/// A batch is stored in one write: up to this many messages…
const BATCH_MESSAGES: usize = 256;
/// …or until the messages in it reach this many bytes.
const BATCH_BYTES: usize = 8 * 1024 * 1024;

/// The storing pass: the store, what was stored and what was skipped.
struct Importer {
    store: Store,
    continue_on_error: bool,
    problems: Vec<Problem>,
    imported: usize,
    progress: Progress,
}

impl Importer {
    /// Stores `batch` in order into `target`. A message the store refuses as bad data is
    /// skipped as a problem with `--continue-on-error`; otherwise its error ends the import,
    /// returned with the origin of the message it stopped at.
    async fn store_batch(
        &mut self,
        target: &mut Target,
        mut batch: &[Mail],
    ) -> Result<(), (CliError, String)> {
        while let Some(first) = batch.first() {
            let items: Vec<AppendItem> = batch
                .iter()
                .map(|mail| AppendItem {
                    raw: &mail.raw,
                    flags: &mail.flags,
                    internal_date: internal_date(mail),
                })
                .collect();
            let outcome = self
                .store
                .append_batch(target.mailbox.id, &items)
                .await
                .map_err(|err| (CliError::from(err), first.origin.clone()))?;
            for stored in &outcome.stored {
                target.uids.push(stored.uid);
                self.imported += 1;
                self.progress.tick(self.imported);
            }
            let Some(err) = outcome.stopped else {
                return Ok(());
            };
            let failed = &batch[outcome.stored.len()];
            let err = CliError::from(err);
            if !(self.continue_on_error && err.kind == ErrorKind::Data) {
                return Err((err, failed.origin.clone()));
            }
            self.problems.push(Problem {
                origin: failed.origin.clone(),
                reason: err.message,
            });
            batch = &batch[outcome.stored.len() + 1..];
        }
        Ok(())
    }
}

/// The mailbox at `path`, created when missing.
async fn target(store: &Store, user: &User, path: &str) -> CliResult<Target> {
    let (mailbox, created) = match store.get_mailbox(user.id, path).await {
        Ok(mailbox) => (mailbox, false),
        Err(StoreError::Mailbox(MailboxError::NotFound)) => (
            store
                .create_mailbox(user.id, path, None)
                .await
                .map_err(|err| CliError::from(err).context(path))?,
            true,
        ),
        Err(err) => return Err(err.into()),
    };
    Ok(Target {
        path: path.to_string(),
        mailbox,
        created,
        uids: Vec::new(),
    })
}

/// Takes out what this run stored (mailboxes it created go entirely); says what happened,
/// for the error message.
async fn roll_back(store: &Store, user: &User, targets: &[Target]) -> String {
    let stored: usize = targets.iter().map(|t| t.uids.len()).sum();
    let mut failures = Vec::new();
    for target in targets {
        let result = if target.created {
            store.delete_mailbox(user.id, &target.mailbox.path).await
        } else if target.uids.is_empty() {
            Ok(())
        } else {
            let set: UidSet = target.uids.iter().copied().collect();
            let deleted = Flags::from([Flag::Deleted]);
            match store
                .store_flags(target.mailbox.id, &set, FlagOp::Add, &deleted, None)
                .await
            {
                Ok(_) => store
                    .expunge(target.mailbox.id, Some(&set))
                    .await
                    .map(|_| ()),
                Err(err) => Err(err),
            }
        };
        if let Err(err) = result {
            failures.push(format!("{}: {err}", target.mailbox.path));
        }
    }
    match (stored, failures.is_empty()) {
        (0, true) => "nothing was imported".into(),
        (n, true) => format!("the {n} messages already stored were removed again"),
        (n, false) => format!(
            "and removing the {n} messages already stored failed ({}); some remain",
            failures.join("; ")
        ),
    }
}
