//! `/metrics` in the Prometheus text format (version 0.0.4) and the readiness
//! behind `/readyz`.
//!
//! The web app knows no pipeline stage: what the pipeline counts comes as
//! plain [`Family`] data from a [`StatusSource`], asked on every scrape, so
//! the numbers are those of the moment. The web app's own counters (live
//! board, event clients, alerts, readiness) are added after them.

use crate::alerts::Alerts;
use crate::board::LiveBoard;
use std::borrow::Cow;
use std::fmt::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The Prometheus type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (from the start of the process).
    Counter,
    /// Goes up and down.
    Gauge,
}

impl Kind {
    /// The name in a `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// A sample's value. Whole numbers stay whole (`42`, not `42.0`); a float
/// is printed the shortest way that reads back the same (`0.25`, `3`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// A count.
    Count(u64),
    /// A signed whole number (a Unix time, a difference).
    Int(i64),
    /// Seconds and the like.
    Float(f64),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Count(n) => n.fmt(f),
            Value::Int(n) => n.fmt(f),
            Value::Float(x) => x.fmt(f),
        }
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Value {
        Value::Count(n)
    }
}

impl From<usize> for Value {
    fn from(n: usize) -> Value {
        Value::Count(u64::try_from(n).unwrap_or(u64::MAX))
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Int(n)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}

/// `1` for true, `0` for false (a gauge that says yes or no).
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Count(u64::from(b))
    }
}

/// One line of a family: its labels and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The labels as written between the braces, `reason="oversize"`; empty
    /// for none. Label values are the caller's to escape.
    pub labels: String,
    /// The value.
    pub value: Value,
}

/// A metric family: its `# HELP` and `# TYPE` lines and its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The metric name, `doorstep_ingest_received_total`.
    pub name: Cow<'static, str>,
    /// Counter or gauge.
    pub kind: Kind,
    /// The `# HELP` text, one line.
    pub help: Cow<'static, str>,
    /// The samples; none is allowed (only the two comment lines are written).
    pub samples: Vec<Sample>,
}

impl Family {
    /// A family without samples yet; add them with [`Family::sample`].
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        kind: Kind,
        help: impl Into<Cow<'static, str>>,
    ) -> Family {
        Family {
            name: name.into(),
            kind,
            help: help.into(),
            samples: Vec::new(),
        }
    }

    /// A family of one sample without labels.
    pub fn single(
        name: impl Into<Cow<'static, str>>,
        kind: Kind,
        help: impl Into<Cow<'static, str>>,
        value: impl Into<Value>,
    ) -> Family {
        Family::new(name, kind, help).sample("", value)
    }

    /// Adds a sample with `labels` (`kind="idle_room"`, or empty).
    pub fn sample(mut self, labels: impl Into<String>, value: impl Into<Value>) -> Family {
        self.samples.push(Sample {
            labels: labels.into(),
            value: value.into(),
        });
        self
    }

    fn write_to(&self, out: &mut String) {
        let name = &self.name;
        let _ = writeln!(out, "# HELP {name} {}", self.help);
        let _ = writeln!(out, "# TYPE {name} {}", self.kind.as_str());
        for Sample { labels, value } in &self.samples {
            if labels.is_empty() {
                let _ = writeln!(out, "{name} {value}");
            } else {
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        }
    }
}

/// What the pipeline tells the web app about itself, asked on every scrape
/// of `/metrics` and every `/readyz`. Without one (tests, the example) the
/// web app shows only its own counters and readiness is [`Readiness`] alone.
pub trait StatusSource: fmt::Debug + Send + Sync {
    /// Whether the pipeline takes in live data now: connected to the broker
    /// and not rebuilding its state.
    fn ready(&self) -> bool;
    /// The pipeline's metric families as they are now, in the order shown.
    fn families(&self) -> Vec<Family>;
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

/// Ready: the pipeline said so and, when it reports its status, says it
/// takes in live data.
pub(crate) fn ready(readiness: &Readiness, status: Option<&dyn StatusSource>) -> bool {
    readiness.is_set() && status.is_none_or(|s| s.ready())
}

/// The whole exposition: the pipeline's families, then the web app's own.
pub(crate) fn render(
    status: Option<&dyn StatusSource>,
    board: &LiveBoard,
    alerts: &Alerts,
    readiness: &Readiness,
) -> String {
    let mut out = String::with_capacity(4096);
    for family in status.map(|s| s.families()).unwrap_or_default() {
        family.write_to(&mut out);
    }
    let alerts_active = alerts.active_counts().into_iter().fold(
        Family::new(
            "doorstep_alerts_active",
            Kind::Gauge,
            "Active alerts, per kind.",
        ),
        |f, (kind, n)| f.sample(format!("kind=\"{}\"", kind.as_str()), n),
    );
    for family in [
        Family::single(
            "doorstep_live_updates_total",
            Kind::Counter,
            "Live room changes the sink applied to the board.",
            board.updates(),
        ),
        Family::single(
            "doorstep_web_event_clients",
            Kind::Gauge,
            "Server-sent-event clients connected.",
            board.subscribers(),
        ),
        alerts_active,
        Family::single(
            "doorstep_ready",
            Kind::Gauge,
            "1 once the broker subscription and the stream are up.",
            ready(readiness, status),
        ),
    ] {
        family.write_to(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fixed(bool);

    impl StatusSource for Fixed {
        fn ready(&self) -> bool {
            self.0
        }
        fn families(&self) -> Vec<Family> {
            vec![
                Family::new("t_total", Kind::Counter, "Things.")
                    .sample("reason=\"a\"", 3_u64)
                    .sample("reason=\"b\"", 0_u64),
                Family::single("t_seconds", Kind::Gauge, "Seconds.", 1.5),
                Family::single("t_lag", Kind::Gauge, "Lag.", -2_i64),
                Family::single("t_up", Kind::Gauge, "Up.", true),
                Family::single("t_zero", Kind::Gauge, "Zero.", 0.0),
            ]
        }
    }

    #[test]
    fn families_are_written_in_the_text_format() {
        let mut out = String::new();
        for f in Fixed(true).families() {
            f.write_to(&mut out);
        }
        assert_eq!(
            out,
            "# HELP t_total Things.\n# TYPE t_total counter\nt_total{reason=\"a\"} 3\nt_total{reason=\"b\"} 0\n\
             # HELP t_seconds Seconds.\n# TYPE t_seconds gauge\nt_seconds 1.5\n\
             # HELP t_lag Lag.\n# TYPE t_lag gauge\nt_lag -2\n\
             # HELP t_up Up.\n# TYPE t_up gauge\nt_up 1\n\
             # HELP t_zero Zero.\n# TYPE t_zero gauge\nt_zero 0\n"
        );
    }

    #[test]
    fn ready_needs_the_flag_and_the_source() {
        let flag = Readiness::new();
        assert!(!ready(&flag, None));
        assert!(!ready(&flag, Some(&Fixed(true))));
        flag.set_ready();
        assert!(ready(&flag, None));
        assert!(ready(&flag, Some(&Fixed(true))));
        assert!(!ready(&flag, Some(&Fixed(false))));
    }
}
