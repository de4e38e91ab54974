//! The demo's history: on a fresh data directory, the days before the demo's
//! start are simulated and run through validation and the dataflow, so the
//! manager and evaluator views have weeks of data from the first minute.
//!
//! The simulated fleet is stepped to the start and then handed to the live
//! simulator, so its devices go on where the history left them (cumulative
//! door counters do not jump). The tables are written as a run that had been
//! going all along would have left them; `doorstep demo` then starts as a
//! restart does: it replays the last days of `raw_events`, does not write
//! again the rows the tables hold, and seeds its lookback from them.

use anyhow::Context;
use devices::sim::Fleet;
use devices::{Limits, Registry, Validator};
use std::path::Path;
use std::sync::Arc;

/// What the history wrote.
pub struct History {
    /// Messages simulated and validated.
    pub messages: usize,
    /// Room days written.
    pub room_days: usize,
}

/// Whether `data` holds no readings yet.
pub fn fresh(data: &Path) -> bool {
    !data.join(analytics::store::raw_events::TABLE).exists()
}

/// Simulates `fleet` up to `start_ms` and writes what a run would have written.
pub fn fill(
    registry: &Arc<Registry>,
    data: &Path,
    fleet: &mut Fleet,
    start_ms: i64,
    config: &stream::StreamConfig,
) -> anyhow::Result<History> {
    let store = analytics::Store::open(data, Arc::clone(registry))
        .with_context(|| format!("cannot use the data directory {}", data.display()))?;
    let messages = fleet.step(start_ms);
    // History is judged as it was received then, a moment after its time.
    let validator = Validator::new(Arc::clone(registry), Limits::default());
    let mut readings = Vec::with_capacity(messages.len());
    for p in &messages {
        match validator.check(&p.topic, &p.payload, p.time_ms + 500) {
            Ok(r) => readings.push(r),
            Err(e) => tracing::debug!(reason = e.reason.as_str(), "a simulated message is refused"),
        }
    }
    for chunk in readings.chunks(200_000) {
        store.write_raw_events(chunk)?;
    }
    let n = messages.len();
    let out = stream::replay(
        Arc::clone(registry),
        config,
        readings,
        4096,
        start_ms / 1000,
    )
    .context("the dataflow failed on the demo's history")?;
    let room_days = out
        .windows
        .iter()
        .filter(|w| w.kind == devices::WindowKind::Day)
        .count();
    store.write_windows(&out.windows)?;
    store.write_flags(&out.flags)?;
    store.write_idle_slots(&out.idle_slots)?;
    store.write_device_days(&out.device_days)?;
    store.write_site_days(&out.site_days)?;
    Ok(History {
        messages: n,
        room_days,
    })
}
