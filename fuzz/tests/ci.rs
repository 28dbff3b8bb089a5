//! The CI share of the fuzzing: every target for a fixed, seeded number of inputs (the same
//! inputs on every run), and every kept input of `corpus/` replayed through its target.
//! The long runs are `bench/fuzz.sh`.

use std::time::Duration;

use wildduck_fuzz::{corpus_dir, harness, targets};

/// Inputs per target: the session targets take about a millisecond each, the parsers far less.
fn cases(target: &str) -> u64 {
    if target.ends_with("-session") || target == "api-http" {
        400
    } else {
        3000
    }
}

#[test]
fn every_target_survives_its_seeded_inputs() {
    let mut failures = Vec::new();
    for target in targets() {
        let wanted = cases(target.name());
        // The budget only keeps a hang from hanging CI; the count is what is checked.
        let report = harness::run(target.as_ref(), wanted, 20261207, Duration::from_secs(600));
        if let Some((input, why)) = report.failure {
            failures.push(format!(
                "{}: {why}\n  input: {:?}",
                report.target,
                String::from_utf8_lossy(&input)
            ));
        } else {
            assert_eq!(
                report.executions, wanted,
                "{} ran out of time",
                report.target
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn kept_inputs_still_pass() {
    let targets = targets();
    let mut replayed = 0;
    let mut failures = Vec::new();
    for target in &targets {
        let Ok(entries) = std::fs::read_dir(corpus_dir().join(target.name())) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("corpus entry").path();
            let input = std::fs::read(&path).expect("read a corpus file");
            replayed += 1;
            if let Err(why) = harness::judge(target.as_ref(), &input) {
                failures.push(format!("{}: {why}", path.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("replayed {replayed} kept inputs");
}
