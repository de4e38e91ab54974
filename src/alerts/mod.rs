//! Alerts as the product delivers them: evaluated continuously in the
//! pipeline, kept in the `alerts` table and a state file that survives a
//! restart, and sent to webhooks, WeCom and DingTalk group robots and an MQTT
//! topic, each with retries and a dead-letter file (docs/ALERTS.md).
//!
//! - [`config`]: `[alerts]` and its channels, routing, quiet hours;
//! - `dashboards::ledger`: each device's last word, noted by the intake;
//! - [`conditions`]: what holds (devices, flags, the intake);
//! - [`engine`]: the loop that applies them to the book;
//! - [`outbox`], [`deliver`], [`payload`]: what is sent, how, and in what shape;
//! - [`state`]: the state file.

pub mod conditions;
pub mod config;
pub mod deliver;
pub mod engine;
pub mod outbox;
pub mod payload;
pub mod state;

pub use config::AlertsConfig;
pub use dashboards::ledger::DeviceLedger;

use dashboards::{Alerts, LiveBoard};
use devices::{Clock, Registry, RoomIdx};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The alerts' parts before the pipeline starts: the book (for the web app),
/// the device watch (for the intake) and where flags are sent (for the sinks).
pub struct Prepared {
    /// The book, restored from the state file.
    pub book: Arc<Alerts>,
    /// Each device's last word.
    pub watch: Arc<DeviceLedger>,
    /// Where the sinks send IDLE and DOOR_DRIFT flags.
    pub flags: std::sync::mpsc::Sender<devices::Flag>,
    flags_rx: std::sync::mpsc::Receiver<devices::Flag>,
    outbox: Arc<outbox::Outbox>,
    state: state::State,
    state_path: std::path::PathBuf,
    config: AlertsConfig,
    registry: devices::Current,
    dead_letter: std::path::PathBuf,
}

/// What the engine needs from the running pipeline.
pub struct Parts {
    /// The live board.
    pub board: Arc<LiveBoard>,
    /// The intake's counters.
    pub ingest: Arc<ingest::IngestStats>,
    /// The pipeline's clock.
    pub clock: Clock,
    /// The tables.
    pub store: Arc<analytics::Store>,
    /// The rooms this process watches.
    pub owns: Box<dyn Fn(RoomIdx) -> bool + Send>,
    /// The broker for MQTT channels, and doorstep's session there.
    pub broker: (ingest::BrokerUrl, ingest::Session),
}

/// The running engine and delivery workers.
pub struct Running {
    engine_stop: std::sync::mpsc::Sender<()>,
    engine: std::thread::JoinHandle<()>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    workers_stop: tokio::sync::watch::Sender<bool>,
}

impl Prepared {
    /// Restores the state of `data_dir` (process `label` of a cluster, numbered
    /// `process`: its alert ids start at `process << 40` so no two processes share one).
    pub fn open(
        data_dir: &Path,
        label: &str,
        process: usize,
        registry: &devices::Current,
        config: &AlertsConfig,
        now_ms: i64,
    ) -> Prepared {
        let state_path = state::path(data_dir, label);
        let mut state = state::load(&state_path);
        // The last days' IDLE and DOOR_DRIFT flags as stored: a state file lost,
        // or days closed by an import or the demo's history, still raise their alerts.
        state
            .notes
            .extend(stored_notes(data_dir, &registry.get(), now_ms));
        conditions::keep_notes(&mut state.notes, now_ms);
        state.book.next_id = state.book.next_id.max((process as u64) << 40);
        let names: Vec<String> = (0..config.channels.len())
            .map(|i| config.channels[i].name(i))
            .collect();
        let (kept, gone): (Vec<_>, Vec<_>) = std::mem::take(&mut state.outbox)
            .into_iter()
            .partition(|j| names.contains(&j.channel));
        if !gone.is_empty() {
            tracing::warn!(
                deliveries = gone.len(),
                "deliveries for channels no longer configured are dropped"
            );
        }
        let (flags, flags_rx) = std::sync::mpsc::channel();
        Prepared {
            book: Arc::new(Alerts::restore(std::mem::take(&mut state.book))),
            watch: Arc::new(DeviceLedger::new(registry.clone())),
            flags,
            flags_rx,
            outbox: Arc::new(outbox::Outbox::with(kept)),
            state,
            state_path,
            config: config.clone(),
            registry: registry.clone(),
            dead_letter: data_dir.join("alerts").join("dead-letter.jsonl"),
        }
    }

    /// Starts the engine thread and one delivery worker per channel.
    pub fn start(self, parts: Parts) -> std::io::Result<Running> {
        let (workers_stop, stop_rx) = tokio::sync::watch::channel(false);
        let delivery = Arc::new(deliver::Delivery {
            outbox: Arc::clone(&self.outbox),
            alerts: Arc::clone(&self.book),
            registry: self.registry.clone(),
            clock: parts.clock,
            retry_first: Duration::from_secs_f64(self.config.retry_first_s.clamp(0.01, 3600.0)),
            retry_max: Duration::from_secs_f64(self.config.retry_max_s.clamp(0.01, 86_400.0)),
            give_up: Duration::from_secs(self.config.give_up_after_s),
            dead_letter: self.dead_letter,
            broker: parts.broker,
        });
        let workers = deliver::spawn(&self.config.channels, &delivery, &stop_rx);
        let watching_since_ms = self
            .state
            .watching_since_ms
            .unwrap_or_else(|| parts.clock.now_ms());
        let engine = engine::Engine {
            registry: self.registry,
            board: parts.board,
            alerts: self.book,
            watch: self.watch,
            flags: self.flags_rx,
            ingest: parts.ingest,
            clock: parts.clock,
            config: self.config,
            store: parts.store,
            outbox: self.outbox,
            state_path: self.state_path,
            owns: parts.owns,
            notes: self.state.notes,
            watching_since_ms,
        };
        let (engine_stop, stopped) = std::sync::mpsc::channel();
        let engine = std::thread::Builder::new()
            .name("alerts".into())
            .spawn(move || engine.run(&stopped))?;
        Ok(Running {
            engine_stop,
            engine,
            workers,
            workers_stop,
        })
    }
}

/// The IDLE and DOOR_DRIFT flags stored for the last two local days.
fn stored_notes(data_dir: &Path, registry: &Registry, now_ms: i64) -> Vec<conditions::FlagNote> {
    let Some(today) = chrono::DateTime::from_timestamp_millis(now_ms).map(|t| t.date_naive())
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for back in -1..=2 {
        let date = today - chrono::Duration::days(back);
        let flags = match analytics::report::day_flags::flags_on(
            data_dir,
            date,
            &["IDLE", "DOOR_DRIFT"],
        ) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(%date, error = %e, "cannot read the stored flags for the alerts");
                continue;
            }
        };
        for f in flags {
            let Some(room) = registry.room_by_ids(&f.site_id, &f.room_id) else {
                continue;
            };
            let Some(room) = registry.rooms.get(room.ix()) else {
                continue;
            };
            let tz = registry.site(room.site).timezone;
            let day_ms =
                devices::schedule::local_to_utc(tz, date.and_time(chrono::NaiveTime::MIN)) * 1000;
            out.push(conditions::FlagNote {
                site_id: f.site_id,
                room_id: f.room_id,
                kind: if f.flag == "IDLE" {
                    dashboards::AlertKind::Idle
                } else {
                    dashboards::AlertKind::DoorDrift
                },
                day_ms,
                reason_zh: f.reason_zh,
                reason_en: f.reason_en,
            });
        }
    }
    out
}

impl Running {
    /// Stops the delivery workers (what they have not sent stays queued in the
    /// state file), then the engine, which saves the state once more.
    pub async fn stop(self) {
        let _ = self.workers_stop.send(true);
        for w in self.workers {
            let _ = w.await;
        }
        drop(self.engine_stop);
        let engine = self.engine;
        let _ = tokio::task::spawn_blocking(move || engine.join()).await;
    }
}
