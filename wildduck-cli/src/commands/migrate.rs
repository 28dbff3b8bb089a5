//! `wildduck migrate --from STORE --to STORE`: copy a whole store into another, across
//! engines, keeping every id, UIDVALIDITY, UID, MODSEQ and flag (`Store::migrate_to`).
//!
//! A store is named by a directory (the embedded SQLite store, as `data_dir`) or by a
//! `mongodb://` / `mongodb+srv://` URI (the database from its path, default `wildduck`).

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;
use wildduck_store::{MigrateOptions, MigrateProgress, MigrateReport, Store, StoreStats};

use super::Ctx;
use crate::error::{CliError, CliResult, ErrorKind};
use crate::output::Report;

#[derive(Args)]
pub struct MigrateArgs {
    /// The store to copy from: a data directory or a mongodb:// URI.
    #[arg(long, value_name = "STORE")]
    from: String,
    /// The store to copy into (created when missing; empty, or an interrupted earlier
    /// migration of the same source, which this run completes).
    #[arg(long, value_name = "STORE")]
    to: String,
    /// Messages per round trip; bounds memory to one batch and its new content.
    #[arg(long, default_value_t = 200, value_name = "N")]
    batch_size: usize,
    /// Stop after copying this many messages; run again to go on.
    #[arg(long, value_name = "N")]
    max_messages: Option<u64>,
}

/// Where a store lives, as named on the command line.
enum StoreSpec {
    Embedded(PathBuf),
    #[cfg(feature = "distributed")]
    MongoDb(String),
}

impl StoreSpec {
    fn parse(spec: &str) -> CliResult<Self> {
        if spec.starts_with("mongodb://") || spec.starts_with("mongodb+srv://") {
            #[cfg(feature = "distributed")]
            return Ok(StoreSpec::MongoDb(spec.to_string()));
            #[cfg(not(feature = "distributed"))]
            return Err(CliError::new(
                ErrorKind::Config,
                "this wildduck was built without MongoDB support (cargo feature `distributed`)",
            ));
        }
        if spec.contains("://") {
            Err(CliError::new(
                ErrorKind::Usage,
                format!("unknown store {spec:?}: give a directory or a mongodb:// URI"),
            ))
        } else {
            Ok(StoreSpec::Embedded(PathBuf::from(spec)))
        }
    }

    /// Opens the store; `must_exist` refuses an embedded directory without a store in it.
    async fn open(&self, ctx: &Ctx, must_exist: bool) -> CliResult<Store> {
        match self {
            StoreSpec::Embedded(dir) => {
                if must_exist && !dir.join("store.sqlite").is_file() {
                    return Err(CliError::new(
                        ErrorKind::NotFound,
                        format!("no store in {}", dir.display()),
                    ));
                }
                Store::open_sqlite(dir, ctx.store_config())
                    .await
                    .map_err(|err| {
                        CliError::from(err)
                            .context(format!("opening the store in {}", dir.display()))
                    })
            }
            #[cfg(feature = "distributed")]
            StoreSpec::MongoDb(uri) => Store::open_mongodb(uri, None, ctx.store_config())
                .await
                .map_err(|err| CliError::from(err).context("opening the MongoDB store")),
        }
    }
}

pub async fn run(ctx: &Ctx, args: MigrateArgs) -> CliResult<Report> {
    if args.from == args.to {
        return Err(CliError::new(
            ErrorKind::Usage,
            "--from and --to name the same store",
        ));
    }
    let source = StoreSpec::parse(&args.from)?.open(ctx, true).await?;
    let target = StoreSpec::parse(&args.to)?.open(ctx, false).await?;
    let target_held = refuse_foreign_target(&source, &target, &args.to).await?;
    let options = MigrateOptions {
        batch_size: args.batch_size,
        max_messages: args.max_messages,
    };
    let show_progress = !ctx.json && std::io::stderr().is_terminal();
    let report = source
        .migrate_to(&target, &options, |progress| {
            if show_progress {
                print_progress(progress);
            }
        })
        .await?;
    if show_progress {
        eprintln!();
    }
    if report.complete && !report.agrees() {
        // What the target held before was not an interrupted run of this migration (a copy
        // of an older state of the source, say): that, not the copying, is what went wrong.
        if target_held.users > 0 {
            return Err(target_not_empty(
                &args.to,
                &target_held,
                &format!("after this run the two differ:{}", disagreements(&report)),
            ));
        }
        return Err(CliError::new(
            ErrorKind::Data,
            format!(
                "the copy does not match its source:{}",
                disagreements(&report)
            ),
        ));
    }
    let text = summary(&report);
    Ok(Report::new(&report, text))
}

/// A target may hold only what an earlier, interrupted run of this migration put there:
/// copying into a store with other accounts, or with more than the source has, would merge
/// two stores and never verify. Returns what the target held.
async fn refuse_foreign_target(
    source: &Store,
    target: &Store,
    name: &str,
) -> CliResult<StoreStats> {
    let held = target.stats().await?;
    let ours: HashSet<_> = source
        .list_users()
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect();
    if let Some(stranger) = target
        .list_users()
        .await?
        .into_iter()
        .find(|u| !ours.contains(&u.id))
    {
        return Err(target_not_empty(
            name,
            &held,
            &format!("user {} is not in the source", stranger.username),
        ));
    }
    let has = source.stats().await?;
    for (what, in_source, in_target) in [
        ("mailboxes", has.mailboxes, held.mailboxes),
        ("messages", has.messages, held.messages),
    ] {
        if in_target > in_source {
            return Err(target_not_empty(
                name,
                &held,
                &format!("it has more {what} than the source ({in_target} vs {in_source})"),
            ));
        }
    }
    Ok(held)
}

/// The error for a target that holds data other than an interrupted run of this migration.
fn target_not_empty(name: &str, held: &StoreStats, why: &str) -> CliError {
    CliError::new(
        ErrorKind::CantCreate,
        format!(
            "the target {name} is not empty ({} users, {} messages) and is not an interrupted \
             migration of this source: {why}. Migrate into an empty store or a new directory.",
            held.users, held.messages
        ),
    )
}

/// One progress line, rewritten in place.
fn print_progress(progress: &MigrateProgress) {
    let percent = (progress.messages_done * 100)
        .checked_div(progress.messages_total)
        .unwrap_or(100);
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        "\rmigrating: {}/{} messages ({percent}%), {} users, {} mailboxes, {} blobs copied",
        progress.messages_done,
        progress.messages_total,
        progress.users,
        progress.mailboxes,
        progress.blobs_copied
    );
    let _ = err.flush();
}

fn summary(report: &MigrateReport) -> String {
    let p = &report.progress;
    let mut text = format!(
        "copied {} messages and {} blobs ({} users, {} mailboxes){}",
        p.messages_copied,
        p.blobs_copied,
        p.users,
        p.mailboxes,
        if report.resumed {
            ", continuing an earlier run"
        } else {
            ""
        }
    );
    if !report.complete {
        text.push_str(&format!(
            "\nstopped at {}/{} messages (--max-messages); run again to go on",
            p.messages_done, p.messages_total
        ));
        return text;
    }
    for problem in &report.target_repairs {
        text.push_str(&format!("\nrepaired in the target: {problem}"));
    }
    if let (Some(source), Some(target)) = (&report.source, &report.target) {
        let (s, live) = (&target.stats, &target.live);
        text.push_str(&format!(
            "\nverified: both ends consistent and equal: {} users, {} mailboxes, {} messages, \
             {} blobs, {} stored bytes",
            s.users, s.mailboxes, s.messages, live.blobs, live.stored_bytes
        ));
        let garbage = source.stats.blobs.saturating_sub(source.live.blobs);
        if garbage > 0 {
            text.push_str(&format!(
                "\n{garbage} unreferenced blobs awaiting gc in the source were not copied"
            ));
        }
    }
    text
}

fn disagreements(report: &MigrateReport) -> String {
    let mut lines: Vec<String> = report.mismatches.clone();
    for (end, check) in [("source", &report.source), ("target", &report.target)] {
        if let Some(check) = check {
            lines.extend(check.problems.iter().map(|p| format!("{end}: {p}")));
        }
    }
    lines.iter().map(|line| format!("\n  {line}")).collect()
}
