//! What the pipeline tells the web app about itself: the counters of ingest,
//! the stream and the InfluxDB sink as `/metrics` families, and whether
//! `/readyz` may say ready. The web app knows none of these stages; it asks
//! [`PipelineStatus`] on every request, which reads the stages' atomics then.

use analytics::influx::InfluxStats;
use dashboards::{Family, Kind, StatusSource};
use devices::Clock;
use ingest::IngestStats;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use stream::StreamStats;

/// The running stages' counters, read when the web app asks.
#[derive(Debug)]
pub struct PipelineStatus {
    ingest: Arc<IngestStats>,
    stream: Arc<StreamStats>,
    influx: Option<Arc<InfluxStats>>,
    /// The pipeline's clock (simulated in a simulation): the stream's lag is measured on it.
    clock: Clock,
}

/// The status source for the web app of a running pipeline.
pub fn source(
    ingest: &Arc<IngestStats>,
    stream: &Arc<StreamStats>,
    influx: Option<Arc<InfluxStats>>,
    clock: Clock,
) -> Arc<dyn StatusSource> {
    Arc::new(PipelineStatus {
        ingest: Arc::clone(ingest),
        stream: Arc::clone(stream),
        influx,
        clock,
    })
}

fn c(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

impl StatusSource for PipelineStatus {
    /// Connected to the broker and not rebuilding the stream's state.
    fn ready(&self) -> bool {
        self.ingest.connected.load(Ordering::Relaxed)
            && !self.ingest.replaying.load(Ordering::Relaxed)
    }

    fn families(&self) -> Vec<Family> {
        let mut out = ingest_families(&self.ingest);
        out.extend(stream_families(&self.stream, &self.clock));
        if let Some(f) = &self.influx {
            out.extend(influx_families(f));
        }
        out
    }
}

fn ingest_families(i: &IngestStats) -> Vec<Family> {
    let rejected = devices::Reason::ALL.into_iter().fold(
        Family::new(
            "doorstep_ingest_rejected_total",
            Kind::Counter,
            "Messages rejected into the quarantine table, per reason code.",
        ),
        |f, reason| {
            let n = i.rejected.get(reason as usize).map_or(0, c);
            f.sample(format!("reason=\"{}\"", reason.as_str()), n)
        },
    );
    let g = &i.gate;
    vec![
        Family::single(
            "doorstep_ingest_received_total",
            Kind::Counter,
            "MQTT messages received from the broker.",
            c(&i.received),
        ),
        Family::single(
            "doorstep_ingest_accepted_total",
            Kind::Counter,
            "Messages accepted (valid, journaled).",
            c(&i.accepted),
        ),
        rejected,
        Family::single(
            "doorstep_ingest_backpressure_total",
            Kind::Counter,
            "Times ingest paused reading because the pipeline was behind.",
            c(&i.backpressure),
        ),
        Family::single(
            "doorstep_ingest_connected",
            Kind::Gauge,
            "1 while connected to the MQTT broker (always 1 with the embedded broker).",
            i.connected.load(Ordering::Relaxed),
        ),
        Family::single(
            "doorstep_ingest_redelivered_total",
            Kind::Counter,
            "Messages delivered again (by the broker or a device) and taken in once; not in accepted.",
            c(&i.redelivered),
        ),
        Family::single(
            "doorstep_quarantine_sampled_total",
            Kind::Counter,
            "Rejected messages over their quarantine budget, stored with the payload cut.",
            c(&i.quarantine_sampled),
        ),
        Family::single(
            "doorstep_quarantine_counted_only_total",
            Kind::Counter,
            "Rejected messages over their quarantine budget, only counted.",
            c(&i.quarantine_counted_only),
        ),
        Family::single(
            "doorstep_restart_replayed_readings",
            Kind::Gauge,
            "Readings replayed from raw_events to rebuild the stream's state at the last start.",
            c(&i.replayed),
        ),
        Family::single(
            "doorstep_restart_replay_seconds",
            Kind::Gauge,
            "How long rebuilding the stream's state took at the last start.",
            c(&i.replay_ms) as f64 / 1000.0,
        ),
        Family::single(
            "doorstep_restart_seconds",
            Kind::Gauge,
            "From the last start to serving live data again (checkpoint loaded, what came after it replayed).",
            c(&i.restart_ms) as f64 / 1000.0,
        ),
        Family::single(
            "doorstep_gate_connections",
            Kind::Gauge,
            "Embedded broker: client connections open now.",
            c(&g.open),
        ),
        Family::single(
            "doorstep_gate_waiting_sockets",
            Kind::Gauge,
            "Embedded broker: sockets waiting for their CONNECT now.",
            c(&g.waiting),
        ),
        Family::single(
            "doorstep_gate_refused_total",
            Kind::Counter,
            "Embedded broker: connections refused at a limit (total, per address, per account).",
            c(&g.refused_busy),
        ),
        Family::single(
            "doorstep_gate_evicted_total",
            Kind::Counter,
            "Embedded broker: sockets without a CONNECT closed to make room.",
            c(&g.evicted),
        ),
        Family::single(
            "doorstep_gate_timed_out_total",
            Kind::Counter,
            "Embedded broker: sockets closed for no CONNECT in time or silence past the keep-alive.",
            c(&g.timed_out),
        ),
        Family::single(
            "doorstep_gate_throttled_total",
            Kind::Counter,
            "Embedded broker: times a connection was slowed to its rate limit.",
            c(&g.throttled),
        ),
        Family::single(
            "doorstep_gate_oversize_total",
            Kind::Counter,
            "Embedded broker: messages over the size limit, skipped at the door.",
            c(&g.oversize),
        ),
    ]
}

fn stream_families(s: &StreamStats, clock: &Clock) -> Vec<Family> {
    let wm = s.watermark.load(Ordering::Relaxed);
    let now = clock.now_ms().div_euclid(1000);
    let at = s.checkpoint_at_ms.load(Ordering::Relaxed);
    // Wall time, not the pipeline's clock: checkpoints are written in real time.
    let age = if at > 0 {
        (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
            - at)
            .max(0) as f64
            / 1000.0
    } else {
        0.0
    };
    vec![
        Family::single(
            "doorstep_stream_readings_total",
            Kind::Counter,
            "Readings sent into the dataflow.",
            c(&s.readings),
        ),
        Family::single(
            "doorstep_stream_late_total",
            Kind::Counter,
            "Readings behind the watermark, sent to the correction path.",
            c(&s.late),
        ),
        Family::single(
            "doorstep_stream_duplicates_total",
            Kind::Counter,
            "Redelivered readings dropped (same device, seq and time).",
            c(&s.duplicates),
        ),
        Family::single(
            "doorstep_stream_watermark_seconds",
            Kind::Gauge,
            "Event-time watermark, Unix seconds.",
            wm,
        ),
        Family::single(
            "doorstep_stream_lag_seconds",
            Kind::Gauge,
            "Clock minus watermark, seconds.",
            if wm > 0 { now - wm } else { 0 },
        ),
        Family::single(
            "doorstep_checkpoints_written_total",
            Kind::Counter,
            "Checkpoints of the stream's state committed since the start.",
            c(&s.checkpoints),
        ),
        Family::single(
            "doorstep_checkpoint_bytes",
            Kind::Gauge,
            "Size of the last checkpoint (this process's parts), bytes.",
            c(&s.checkpoint_bytes),
        ),
        Family::single(
            "doorstep_checkpoint_write_seconds",
            Kind::Gauge,
            "From asking for the last checkpoint to its commit, seconds.",
            c(&s.checkpoint_write_ms) as f64 / 1000.0,
        ),
        Family::single(
            "doorstep_checkpoint_age_seconds",
            Kind::Gauge,
            "Wall time since the last checkpoint was committed (0 before the first).",
            age,
        ),
        Family::single(
            "doorstep_restart_from_checkpoint",
            Kind::Gauge,
            "1 when the last start resumed from a checkpoint, 0 when it rebuilt from raw_events.",
            s.resumed_from.load(Ordering::Relaxed) != 0,
        ),
    ]
}

fn influx_families(f: &InfluxStats) -> Vec<Family> {
    vec![
        Family::single(
            "doorstep_influx_points_written_total",
            Kind::Counter,
            "Points InfluxDB accepted.",
            c(&f.written),
        ),
        Family::single(
            "doorstep_influx_points_spooled_total",
            Kind::Counter,
            "Points put in the disk spool.",
            c(&f.spooled),
        ),
        Family::single(
            "doorstep_influx_points_dropped_total",
            Kind::Counter,
            "Points dropped because the spool was full.",
            c(&f.dropped),
        ),
        Family::single(
            "doorstep_influx_points_overflowed_total",
            Kind::Counter,
            "Points dropped because the writer's queue was full (InfluxDB never holds doorstep back).",
            c(&f.overflowed),
        ),
        Family::single(
            "doorstep_influx_points_rejected_total",
            Kind::Counter,
            "Points the server refused as malformed.",
            c(&f.rejected),
        ),
        Family::single(
            "doorstep_influx_retries_total",
            Kind::Counter,
            "Failed InfluxDB writes that will be retried.",
            c(&f.retries),
        ),
        Family::single(
            "doorstep_influx_spool_bytes",
            Kind::Gauge,
            "Bytes waiting in the InfluxDB spool.",
            c(&f.spool_bytes),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> PipelineStatus {
        PipelineStatus {
            ingest: Arc::default(),
            stream: Arc::default(),
            influx: None,
            clock: Clock::wall(),
        }
    }

    #[test]
    fn ready_waits_for_the_broker_and_the_replay() {
        let s = status();
        assert!(!s.ready(), "not connected yet");
        s.ingest.connected.store(true, Ordering::Relaxed);
        s.ingest.replaying.store(true, Ordering::Relaxed);
        assert!(!s.ready(), "still rebuilding the stream's state");
        s.ingest.replaying.store(false, Ordering::Relaxed);
        assert!(s.ready());
    }

    #[test]
    fn every_reason_is_shown_and_names_are_unique() {
        let mut s = status();
        s.influx = Some(Arc::default());
        let families = s.families();
        let rejected = families
            .iter()
            .find(|f| f.name == "doorstep_ingest_rejected_total")
            .map_or(0, |f| f.samples.len());
        assert_eq!(rejected, devices::Reason::ALL.len());
        let mut names: Vec<_> = families.iter().map(|f| &f.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), families.len());
    }

    #[test]
    fn no_watermark_yet_is_no_lag() {
        let families = status().families();
        let lag = families
            .iter()
            .find(|f| f.name == "doorstep_stream_lag_seconds")
            .map(|f| f.samples[0].value);
        assert_eq!(lag, Some(dashboards::Value::Int(0)));
    }
}
