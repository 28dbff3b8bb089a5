//! The process's metrics, rendered in Prometheus' text format. The `metrics` crate keeps one
//! recorder per process, so the handle that renders it is per process too: `wildduck serve`
//! calls [`install`] once, every crate records through the `metrics` macros (a no-op when
//! nothing is installed, as in the libraries' own tests), and the API's `GET /metrics`
//! calls [`render`].
//!
//! Names are `wildduck_*`; counters end in `_total`, durations are histograms in seconds.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Command and transaction latencies: 100 µs to 10 s.
const SECONDS_BUCKETS: [f64; 12] = [
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 10.0,
];

/// Installs the process's recorder; later calls do nothing. Fails only when another
/// recorder was installed by someone else.
pub fn install() -> Result<(), String> {
    if HANDLE.get().is_some() {
        return Ok(());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
        .map_err(|e| e.to_string())?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
    let _ = HANDLE.set(handle);
    Ok(())
}

/// Everything recorded so far; `None` when [`install`] was not called.
pub fn render() -> Option<String> {
    let handle = HANDLE.get()?;
    // Histograms keep raw samples until upkeep folds them in; a scrape is a fine moment.
    handle.run_upkeep();
    Some(handle.render())
}
