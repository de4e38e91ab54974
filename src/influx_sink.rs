//! Sends the stream's outputs to InfluxDB (`[influx]` in the config file):
//! live occupancy, closed room windows and site days become points of the
//! `analytics::influx` writer, which batches, retries and spools them.

use analytics::influx::{InfluxConfig, InfluxStats, InfluxWriter, PointSender, SPOOL_DIR, point};
use anyhow::Context;
use devices::Registry;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use stream::Output;

/// The running writer: its counters, and the stop.
#[derive(Debug)]
pub struct InfluxSink {
    writer: InfluxWriter,
}

/// Turns outputs into points for the writer; one per producing thread.
#[derive(Debug, Clone)]
pub struct InfluxFeed {
    registry: Arc<Registry>,
    names: bool,
    sender: PointSender,
    stopped: Arc<AtomicBool>,
}

/// Starts the writer on the current tokio runtime, with its spool in
/// `<data_dir>/influx-spool/` (what an earlier run left there goes first).
pub fn start(
    config: &InfluxConfig,
    token: Option<&str>,
    data_dir: &Path,
    registry: Arc<Registry>,
) -> anyhow::Result<(InfluxSink, InfluxFeed)> {
    let writer = InfluxWriter::start(config, token, &data_dir.join(SPOOL_DIR))
        .with_context(|| format!("cannot start the InfluxDB sink for {}", config.url))?;
    let feed = InfluxFeed {
        registry,
        names: config.names,
        sender: writer.sender(),
        stopped: Arc::new(AtomicBool::new(false)),
    };
    Ok((InfluxSink { writer }, feed))
}

impl InfluxFeed {
    /// Queues the point of `output`, if it has one, blocking while the
    /// writer's queue is full (call it from a plain thread, not async code).
    pub fn offer(&self, output: &Output) {
        let p = match output {
            Output::Live(l) => point::live(&self.registry, l, self.names),
            Output::Window(w) => point::window(&self.registry, w, self.names),
            Output::SiteDay(d) => point::site_day(&self.registry, d, self.names),
            Output::Flag(_)
            | Output::IdleSlot(_)
            | Output::DeviceDay(_)
            | Output::Status(_)
            | Output::Late(_)
            | Output::Mark { .. } => return,
        };
        let sent = p.map(|p| self.sender.blocking_send(p));
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                if !self.stopped.swap(true, Ordering::Relaxed) {
                    tracing::error!(error = %e, "InfluxDB writer stopped; points are no longer sent");
                }
            }
            Err(e) => tracing::warn!(error = %e, "no InfluxDB point for this output"),
        }
    }
}

impl InfluxSink {
    /// The counters (written, spooled, dropped, rejected, retries, spool bytes).
    pub fn stats(&self) -> Arc<InfluxStats> {
        self.writer.stats()
    }

    /// Once every feed is dropped: writes what is buffered, or spools it for the next start.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.writer
            .shutdown()
            .await
            .context("the InfluxDB writer failed")
    }
}
