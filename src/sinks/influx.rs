//! The InfluxDB sink (`[influx]` in the config file): live occupancy, closed
//! room windows and site days become points of the `analytics::influx`
//! writer, which batches, retries and spools them. Handing a point over never
//! waits: a server that hangs costs the other sinks nothing.

use analytics::influx::{Feed, InfluxConfig, InfluxStats, InfluxWriter, SPOOL_DIR};
use anyhow::Context;
use std::path::Path;
use std::sync::Arc;
use stream::Output;

/// The running writer: its counters, and the stop.
#[derive(Debug)]
pub struct InfluxSink {
    writer: InfluxWriter,
}

/// Starts the writer on the current tokio runtime, with its spool in
/// `<data_dir>/influx-spool/` (what an earlier run left there goes first).
pub fn start(
    config: &InfluxConfig,
    token: Option<&str>,
    data_dir: &Path,
    registry: devices::Current,
) -> anyhow::Result<(InfluxSink, Feed)> {
    let writer = InfluxWriter::start(config, token, &data_dir.join(SPOOL_DIR))
        .with_context(|| format!("cannot start the InfluxDB sink for {}", config.url))?;
    let feed = Feed::new(writer.sender(), registry, config.names);
    Ok((InfluxSink { writer }, feed))
}

/// Queues the point of `output`, if it has one, without waiting.
pub fn offer(feed: &Feed, output: &Output) {
    match output {
        Output::Live(l) => feed.live(l),
        Output::Window(w) => feed.window(w),
        Output::SiteDay(d) => feed.site_day(d),
        Output::Flag(_)
        | Output::IdleSlot(_)
        | Output::DeviceDay(_)
        | Output::Status(_)
        | Output::Late(_)
        | Output::Mark { .. } => {}
    }
}

impl InfluxSink {
    /// The counters (written, spooled, dropped, overflowed, rejected, retries, spool bytes).
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
