//! `wildduck-fuzz [--cases N] [--seconds S] [--seed X] [TARGET...]`: runs each target (all by
//! default) for N inputs or S seconds, whichever ends first, and prints one line per target:
//! executions, crashes, time per input (p50, p99, max). A failing input is written to
//! `corpus/<target>/found-<seed>` and the program exits 1.

use std::time::Duration;

use wildduck_fuzz::{corpus_dir, harness, targets};

fn main() {
    let mut cases = 1_000_000u64;
    let mut seconds = 600u64;
    let mut seed = 1u64;
    let mut names = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |what: &str| -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage(&format!("{what} needs a number")))
        };
        match arg.as_str() {
            "--cases" => cases = value("--cases"),
            "--seconds" => seconds = value("--seconds"),
            "--seed" => seed = value("--seed"),
            "--help" | "-h" => usage(""),
            name => names.push(name.to_string()),
        }
    }
    let all = targets();
    for name in &names {
        if !all.iter().any(|t| t.name() == name) {
            usage(&format!("no target {name}"));
        }
    }
    println!(
        "{:<20} {:>10} {:>8} {:>10} {:>10} {:>10} {:>9}",
        "target", "executions", "crashes", "p50 µs", "p99 µs", "max µs", "seconds"
    );
    let mut failed = false;
    for target in all
        .iter()
        .filter(|t| names.is_empty() || names.iter().any(|n| n == t.name()))
    {
        let report = harness::run(target.as_ref(), cases, seed, Duration::from_secs(seconds));
        println!(
            "{:<20} {:>10} {:>8} {:>10} {:>10} {:>10} {:>9.1}",
            report.target,
            report.executions,
            u8::from(report.failure.is_some()),
            report.p50.as_micros(),
            report.p99.as_micros(),
            report.max.as_micros(),
            report.elapsed.as_secs_f64()
        );
        if let Some((input, why)) = report.failure {
            failed = true;
            let dir = corpus_dir().join(report.target);
            let path = dir.join(format!("found-{seed}"));
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(&path, &input);
            println!("  FAILED: {why}\n  input kept in {}", path.display());
        }
    }
    std::process::exit(i32::from(failed));
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("{problem}");
    }
    let names: Vec<&str> = targets().iter().map(|t| t.name()).collect();
    eprintln!(
        "usage: wildduck-fuzz [--cases N] [--seconds S] [--seed X] [TARGET...]\ntargets: {}",
        names.join(" ")
    );
    std::process::exit(2);
}
