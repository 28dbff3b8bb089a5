//! Latency samples per operation, and the report printed from them.

use std::time::Duration;

use serde_json::{Value, json};

/// The samples of one operation kind over one phase.
#[derive(Debug)]
pub struct OpResult {
    pub name: String,
    /// Wall time of the whole phase (all connections), for throughput.
    pub wall: Duration,
    /// One latency per completed operation.
    pub latencies: Vec<Duration>,
    /// Payload bytes moved (message bytes appended or received), for MiB/s.
    pub bytes: u64,
    /// Operations answered with NO/BAD/-ERR (not counted in `latencies`).
    pub failures: u64,
}

impl OpResult {
    pub fn ops_per_sec(&self) -> f64 {
        let secs = self.wall.as_secs_f64();
        if secs > 0.0 {
            self.latencies.len() as f64 / secs
        } else {
            0.0
        }
    }

    fn mib_per_sec(&self) -> f64 {
        let secs = self.wall.as_secs_f64();
        if secs > 0.0 {
            self.bytes as f64 / (1024.0 * 1024.0) / secs
        } else {
            0.0
        }
    }

    /// The q-quantile (0..=1) of the latencies in milliseconds, nearest-rank.
    fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
        if sorted.is_empty() {
            return 0.0;
        }
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1].as_secs_f64() * 1000.0
    }

    pub fn to_json(&self) -> Value {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        json!({
            "op": self.name,
            "count": sorted.len(),
            "failures": self.failures,
            "seconds": self.wall.as_secs_f64(),
            "ops_per_sec": self.ops_per_sec(),
            "mib_per_sec": self.mib_per_sec(),
            "p50_ms": Self::percentile_ms(&sorted, 0.50),
            "p90_ms": Self::percentile_ms(&sorted, 0.90),
            "p99_ms": Self::percentile_ms(&sorted, 0.99),
            "max_ms": sorted.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        })
    }
}

/// Prints the results as a table, or as one JSON document with `json`.
pub fn print_report(results: &[OpResult], json: bool) {
    let rows: Vec<Value> = results.iter().map(OpResult::to_json).collect();
    if json {
        println!("{}", json!({ "results": rows }));
        return;
    }
    println!(
        "{:<22} {:>8} {:>6} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "op", "count", "fail", "ops/s", "MiB/s", "p50 ms", "p90 ms", "p99 ms"
    );
    for row in &rows {
        println!(
            "{:<22} {:>8} {:>6} {:>10.1} {:>9.2} {:>9.3} {:>9.3} {:>9.3}",
            row["op"].as_str().unwrap_or(""),
            row["count"].as_u64().unwrap_or(0),
            row["failures"].as_u64().unwrap_or(0),
            row["ops_per_sec"].as_f64().unwrap_or(0.0),
            row["mib_per_sec"].as_f64().unwrap_or(0.0),
            row["p50_ms"].as_f64().unwrap_or(0.0),
            row["p90_ms"].as_f64().unwrap_or(0.0),
            row["p99_ms"].as_f64().unwrap_or(0.0),
        );
    }
}
