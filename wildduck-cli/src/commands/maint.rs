//! `wildduck stats|verify|gc|backup`: whole-store maintenance.

use std::path::Path;

use serde_json::json;

use super::Ctx;
use crate::error::{CliError, CliResult, ErrorKind};
use crate::output::{Report, human_bytes};
use crate::progress::while_running;

pub async fn stats(ctx: &Ctx) -> CliResult<Report> {
    let stats = ctx.store().await?.stats().await?;
    // What the store takes on the disk: stored bytes leave out the database's indexes, free
    // pages and WAL. MongoDB keeps its files elsewhere.
    let on_disk = (ctx.config.store.backend != "mongodb")
        .then(|| files_bytes(&ctx.config.data_dir))
        .transpose()
        .map_err(|e| CliError::new(ErrorKind::Io, format!("reading the data directory: {e}")))?;
    // Raw bytes per stored byte: what keeping one file per message copy would cost, relative.
    let ratio = if stats.stored_bytes == 0 {
        1.0
    } else {
        stats.raw_bytes as f64 / stats.stored_bytes as f64
    };
    let mut text = format!(
        "users:        {}\nmailboxes:    {}\nmessages:     {}\nraw bytes:    {} ({})\nstored bytes: {} ({})\nblobs:        {}\ndedup hits:   {}\nraw/stored:   {ratio:.2}",
        stats.users,
        stats.mailboxes,
        stats.messages,
        stats.raw_bytes,
        human_bytes(stats.raw_bytes),
        stats.stored_bytes,
        human_bytes(stats.stored_bytes),
        stats.blobs,
        stats.dedup_hits,
    );
    let mut doc = serde_json::to_value(&stats).unwrap_or_default();
    doc["raw_to_stored_ratio"] = json!(ratio);
    if let Some(bytes) = on_disk {
        text.push_str(&format!(
            "\non disk:      {bytes} ({}, the data directory's files)",
            human_bytes(bytes)
        ));
        doc["on_disk_bytes"] = json!(bytes);
    }
    Ok(Report::new(doc, text))
}

/// Total length of the files under `dir` (what `du -sb` counts, less the directories).
fn files_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        total += if kind.is_dir() {
            files_bytes(&entry.path())?
        } else if kind.is_file() {
            entry.metadata()?.len()
        } else {
            0
        };
    }
    Ok(total)
}

/// Exit 0 when consistent (or everything found was repaired); 65 when drift remains.
pub async fn verify(ctx: &Ctx, repair: bool) -> CliResult<Report> {
    let report = while_running("verifying", ctx.json, async {
        CliResult::Ok(ctx.store().await?.verify(repair).await?)
    })
    .await?;
    if !report.problems.is_empty() && !report.repaired {
        let listed = report
            .problems
            .iter()
            .map(|p| format!("\n  {p}"))
            .collect::<String>();
        return Err(CliError::new(
            ErrorKind::Data,
            format!(
                "{} problems found (run with --repair to fix):{listed}",
                report.problems.len()
            ),
        ));
    }
    let text = if report.problems.is_empty() {
        "store is consistent".to_string()
    } else {
        let listed = report
            .problems
            .iter()
            .map(|p| format!("\n  {p}"))
            .collect::<String>();
        format!("repaired {} problems:{listed}", report.problems.len())
    };
    Ok(Report::new(&report, text))
}

pub async fn gc(ctx: &Ctx, grace_secs: u64) -> CliResult<Report> {
    let deleted = while_running("collecting", ctx.json, async {
        CliResult::Ok(ctx.store().await?.gc(grace_secs).await?)
    })
    .await?;
    Ok(Report::new(
        json!({ "deleted_blobs": deleted, "grace_secs": grace_secs }),
        format!("deleted {deleted} unreferenced blobs"),
    ))
}

/// Refuses a directory that holds anything: a backup never mixes with other files.
pub async fn backup(ctx: &Ctx, dir: &Path) -> CliResult<Report> {
    let occupied = std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some());
    if occupied {
        return Err(CliError::new(
            ErrorKind::CantCreate,
            format!(
                "{} is not empty: a backup goes into a new or empty directory",
                dir.display()
            ),
        ));
    }
    while_running("backing up", ctx.json, async {
        CliResult::Ok(ctx.store().await?.backup(dir).await?)
    })
    .await?;
    let bytes = std::fs::read_dir(dir)
        .map_err(|e| CliError::new(ErrorKind::Io, format!("{}: {e}", dir.display())))?
        .filter_map(|entry| entry.ok()?.metadata().ok())
        .map(|meta| meta.len())
        .sum::<u64>();
    Ok(Report::new(
        json!({ "backup": dir, "bytes": bytes }),
        format!("backed up into {} ({})", dir.display(), human_bytes(bytes)),
    ))
}
