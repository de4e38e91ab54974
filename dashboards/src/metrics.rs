//! `/metrics` in the Prometheus text format (version 0.0.4): the pipeline's
//! counters, read from the stages' own atomics when the page is scraped.

use crate::alerts::Alerts;
use crate::board::LiveBoard;
use analytics::influx::InfluxStats;
use ingest::IngestStats;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use stream::StreamStats;

/// The counters of the running stages; each is optional, so the web app
/// also runs on its own (tests, the example).
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// MQTT ingest: received, accepted, rejected per reason, backpressure.
    pub ingest: Option<Arc<IngestStats>>,
    /// The dataflow: readings, late, duplicates (redeliveries), watermark.
    pub stream: Option<Arc<StreamStats>>,
    /// The InfluxDB sink, when `[influx]` is configured.
    pub influx: Option<Arc<InfluxStats>>,
}

/// Set by the pipeline once the broker subscription and the stream are up.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Not ready yet.
    pub fn new() -> Readiness {
        Readiness::default()
    }
    /// Ready from now on (a web app without a pipeline: at once).
    pub fn set_ready(&self) {
        self.0.store(true, Ordering::Release);
    }
    /// Whether [`Readiness::set_ready`] was called.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Ready: the pipeline said so and, when ingest runs, the broker is connected.
pub(crate) fn ready(readiness: &Readiness, stats: &Stats) -> bool {
    readiness.is_set()
        && stats.ingest.as_ref().is_none_or(|i| {
            i.connected.load(Ordering::Relaxed) && !i.replaying.load(Ordering::Relaxed)
        })
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }
    fn sample(&mut self, name: &str, labels: &str, value: impl std::fmt::Display) {
        if labels.is_empty() {
            let _ = writeln!(self.0, "{name} {value}");
        } else {
            let _ = writeln!(self.0, "{name}{{{labels}}} {value}");
        }
    }
    fn one(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, kind, help);
        self.sample(name, "", value);
    }
}

/// The whole exposition.
pub(crate) fn render(
    stats: &Stats,
    board: &LiveBoard,
    alerts: &Alerts,
    readiness: &Readiness,
) -> String {
    let mut o = Out(String::with_capacity(4096));
    let c = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    if let Some(i) = &stats.ingest {
        o.one(
            "doorstep_ingest_received_total",
            "counter",
            "MQTT messages received from the broker.",
            c(&i.received),
        );
        o.one(
            "doorstep_ingest_accepted_total",
            "counter",
            "Messages accepted (valid, journaled).",
            c(&i.accepted),
        );
        o.family(
            "doorstep_ingest_rejected_total",
            "counter",
            "Messages rejected into the quarantine table, per reason code.",
        );
        for reason in devices::Reason::ALL {
            let n = i.rejected.get(reason as usize).map_or(0, c);
            o.sample(
                "doorstep_ingest_rejected_total",
                &format!("reason=\"{}\"", reason.as_str()),
                n,
            );
        }
        o.one(
            "doorstep_ingest_backpressure_total",
            "counter",
            "Times ingest paused reading because the pipeline was behind.",
            c(&i.backpressure),
        );
        o.one(
            "doorstep_ingest_connected",
            "gauge",
            "1 while connected to the MQTT broker (always 1 with the embedded broker).",
            u8::from(i.connected.load(Ordering::Relaxed)),
        );
        o.one(
            "doorstep_ingest_redelivered_total",
            "counter",
            "Messages delivered again (by the broker or a device) and taken in once; not in accepted.",
            c(&i.redelivered),
        );
        o.one(
            "doorstep_quarantine_sampled_total",
            "counter",
            "Rejected messages over their quarantine budget, stored with the payload cut.",
            c(&i.quarantine_sampled),
        );
        o.one(
            "doorstep_quarantine_counted_only_total",
            "counter",
            "Rejected messages over their quarantine budget, only counted.",
            c(&i.quarantine_counted_only),
        );
        o.one(
            "doorstep_restart_replayed_readings",
            "gauge",
            "Readings replayed from raw_events to rebuild the stream's state at the last start.",
            c(&i.replayed),
        );
        o.one(
            "doorstep_restart_replay_seconds",
            "gauge",
            "How long rebuilding the stream's state took at the last start.",
            c(&i.replay_ms) as f64 / 1000.0,
        );
        o.one(
            "doorstep_restart_seconds",
            "gauge",
            "From the last start to serving live data again (checkpoint loaded, what came after it replayed).",
            c(&i.restart_ms) as f64 / 1000.0,
        );
        let g = &i.gate;
        for (name, kind, help, value) in [
            (
                "doorstep_gate_connections",
                "gauge",
                "Embedded broker: client connections open now.",
                c(&g.open),
            ),
            (
                "doorstep_gate_waiting_sockets",
                "gauge",
                "Embedded broker: sockets waiting for their CONNECT now.",
                c(&g.waiting),
            ),
            (
                "doorstep_gate_refused_total",
                "counter",
                "Embedded broker: connections refused at a limit (total, per address, per account).",
                c(&g.refused_busy),
            ),
            (
                "doorstep_gate_evicted_total",
                "counter",
                "Embedded broker: sockets without a CONNECT closed to make room.",
                c(&g.evicted),
            ),
            (
                "doorstep_gate_timed_out_total",
                "counter",
                "Embedded broker: sockets closed for no CONNECT in time or silence past the keep-alive.",
                c(&g.timed_out),
            ),
            (
                "doorstep_gate_throttled_total",
                "counter",
                "Embedded broker: times a connection was slowed to its rate limit.",
                c(&g.throttled),
            ),
            (
                "doorstep_gate_oversize_total",
                "counter",
                "Embedded broker: messages over the size limit, skipped at the door.",
                c(&g.oversize),
            ),
        ] {
            o.one(name, kind, help, value);
        }
    }
    if let Some(s) = &stats.stream {
        o.one(
            "doorstep_stream_readings_total",
            "counter",
            "Readings sent into the dataflow.",
            c(&s.readings),
        );
        o.one(
            "doorstep_stream_late_total",
            "counter",
            "Readings behind the watermark, sent to the correction path.",
            c(&s.late),
        );
        o.one(
            "doorstep_stream_duplicates_total",
            "counter",
            "Redelivered readings dropped (same device, seq and time).",
            c(&s.duplicates),
        );
        let wm = s.watermark.load(Ordering::Relaxed);
        o.one(
            "doorstep_stream_watermark_seconds",
            "gauge",
            "Event-time watermark, Unix seconds.",
            wm,
        );
        let now = board.clock().now_ms().div_euclid(1000);
        o.one(
            "doorstep_stream_lag_seconds",
            "gauge",
            "Clock minus watermark, seconds.",
            if wm > 0 { now - wm } else { 0 },
        );
        o.one(
            "doorstep_checkpoints_written_total",
            "counter",
            "Checkpoints of the stream's state committed since the start.",
            c(&s.checkpoints),
        );
        o.one(
            "doorstep_checkpoint_bytes",
            "gauge",
            "Size of the last checkpoint (this process's parts), bytes.",
            c(&s.checkpoint_bytes),
        );
        o.one(
            "doorstep_checkpoint_write_seconds",
            "gauge",
            "From asking for the last checkpoint to its commit, seconds.",
            c(&s.checkpoint_write_ms) as f64 / 1000.0,
        );
        let at = s.checkpoint_at_ms.load(Ordering::Relaxed);
        o.one(
            "doorstep_checkpoint_age_seconds",
            "gauge",
            "Wall time since the last checkpoint was committed (0 before the first).",
            if at > 0 {
                (std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64)
                    - at)
                    .max(0) as f64
                    / 1000.0
            } else {
                0.0
            },
        );
        o.one(
            "doorstep_restart_from_checkpoint",
            "gauge",
            "1 when the last start resumed from a checkpoint, 0 when it rebuilt from raw_events.",
            u8::from(s.resumed_from.load(Ordering::Relaxed) != 0),
        );
    }
    if let Some(f) = &stats.influx {
        for (name, help, v) in [
            ("written", "Points InfluxDB accepted.", &f.written),
            ("spooled", "Points put in the disk spool.", &f.spooled),
            (
                "dropped",
                "Points dropped because the spool was full.",
                &f.dropped,
            ),
            (
                "rejected",
                "Points the server refused as malformed.",
                &f.rejected,
            ),
        ] {
            o.one(
                &format!("doorstep_influx_points_{name}_total"),
                "counter",
                help,
                c(v),
            );
        }
        o.one(
            "doorstep_influx_retries_total",
            "counter",
            "Failed InfluxDB writes that will be retried.",
            c(&f.retries),
        );
        o.one(
            "doorstep_influx_spool_bytes",
            "gauge",
            "Bytes waiting in the InfluxDB spool.",
            c(&f.spool_bytes),
        );
    }
    o.one(
        "doorstep_live_updates_total",
        "counter",
        "Live room changes the sink applied to the board.",
        board.updates(),
    );
    o.one(
        "doorstep_web_event_clients",
        "gauge",
        "Server-sent-event clients connected.",
        board.subscribers(),
    );
    o.family(
        "doorstep_alerts_active",
        "gauge",
        "Active operator alerts, per kind (as of the last alert list request).",
    );
    for (kind, n) in alerts.active_counts() {
        o.sample(
            "doorstep_alerts_active",
            &format!("kind=\"{}\"", kind.as_str()),
            n,
        );
    }
    o.one(
        "doorstep_ready",
        "gauge",
        "1 once the broker subscription and the stream are up.",
        u8::from(ready(readiness, stats)),
    );
    o.0
}
