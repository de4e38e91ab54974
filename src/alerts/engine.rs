//! The alert engine: once a second it gathers every condition that holds (the
//! board's, the devices', the closed days' flags, the intake's), applies them
//! to the book, records each change in the `alerts` table and the state file,
//! and queues the deliveries.

use super::DeviceLedger;
use super::conditions::{self, FlagNote};
use super::config::{AlertsConfig, Quiet};
use super::outbox::{Job, Outbox};
use super::state::{self, State};
use chrono::Timelike;
use dashboards::{Alerts, Change, ChangeKind, LiveBoard};
use devices::{Clock, RoomIdx};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// Everything the engine reads and writes.
pub struct Engine {
    /// Sites, rooms, devices (of now: a registry switch reaches it).
    pub registry: devices::Current,
    /// The live board.
    pub board: Arc<LiveBoard>,
    /// The book.
    pub alerts: Arc<Alerts>,
    /// Devices' last word.
    pub watch: Arc<DeviceLedger>,
    /// IDLE and DOOR_DRIFT flags from the sinks' dispatcher.
    pub flags: Receiver<devices::Flag>,
    /// The intake's counters (messages received, replay in progress).
    pub ingest: Arc<ingest::IngestStats>,
    /// The pipeline's clock.
    pub clock: Clock,
    /// `[alerts]`.
    pub config: AlertsConfig,
    /// Where the `alerts` table goes.
    pub store: Arc<analytics::Store>,
    /// Deliveries waiting.
    pub outbox: Arc<Outbox>,
    /// The state file.
    pub state_path: PathBuf,
    /// The rooms this process watches (all, unless in a cluster).
    pub owns: Box<dyn Fn(RoomIdx) -> bool + Send>,
    /// Flags that may still hold.
    pub notes: Vec<FlagNote>,
    /// Since when devices are watched.
    pub watching_since_ms: i64,
}

/// When the intake last took a message: the count then, and when (real and clock time).
struct Heard {
    received: u64,
    at: Instant,
    clock_ms: i64,
}

impl Engine {
    /// Ticks once a second until `stop` is dropped, then saves once more.
    pub fn run(mut self, stop: &Receiver<()>) {
        let mut heard = Heard {
            received: self.ingest.received.load(Ordering::Relaxed),
            at: Instant::now(),
            clock_ms: self.clock.now_ms(),
        };
        loop {
            self.tick(&mut heard);
            match stop.recv_timeout(Duration::from_secs(1)) {
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                _ => break,
            }
        }
        self.tick(&mut heard);
        self.save(true);
    }

    fn tick(&mut self, heard: &mut Heard) {
        let now = self.clock.now_ms();
        let received = self.ingest.received.load(Ordering::Relaxed);
        if received != heard.received {
            *heard = Heard {
                received,
                at: Instant::now(),
                clock_ms: now,
            };
        }
        let mut notes_changed = false;
        while let Ok(flag) = self.flags.try_recv() {
            if let Some(note) = FlagNote::of(&self.registry.get(), &flag) {
                self.notes.push(note);
                notes_changed = true;
            }
        }
        if notes_changed {
            conditions::keep_notes(&mut self.notes, now);
        }
        // Until the stream's state is rebuilt after a restart, the board and the
        // devices' last word are not yet what they will be: decide nothing.
        if self.ingest.replaying.load(Ordering::Relaxed) {
            return;
        }
        let registry = self.registry.get();
        let mut found = dashboards::board_conditions(&self.board.snapshot());
        let seen = self.watch.seen();
        let owned: Vec<Option<_>> = registry
            .devices
            .iter()
            .zip(seen)
            .map(|(d, s)| s.filter(|_| (self.owns)(d.room)))
            .collect();
        found.extend(
            conditions::device_conditions(
                &registry,
                &owned,
                self.watching_since_ms,
                now,
                self.config.low_battery_pct,
            )
            .into_iter()
            .filter(|c| {
                registry
                    .room_by_ids(&c.site_id, &c.room_id)
                    .is_some_and(|r| (self.owns)(r))
            }),
        );
        found.extend(conditions::flag_conditions(&registry, &self.notes, now));
        if !registry.devices.is_empty() {
            found.extend(conditions::stalled_condition(
                heard.clock_ms,
                heard.at.elapsed().as_millis() as i64,
                i64::from(self.config.stalled_after_s) * 1000,
            ));
        }
        self.alerts
            .apply(found, now, i64::from(self.config.cooldown_s) * 1000);
        let changes = self.alerts.take_changes();
        for c in &changes {
            self.queue(c);
        }
        if !changes.is_empty() {
            self.record(&changes);
        }
        self.save(notes_changed || !changes.is_empty());
    }

    /// Queues the deliveries of a change for every channel it is routed to.
    fn queue(&self, change: &Change) {
        let a = &change.alert;
        let registry = self.registry.get();
        let site = registry.sites.iter().find(|s| s.id == a.site_id);
        let district = site.map_or("", |s| s.district.as_str());
        let tz = site.map_or(chrono_tz::Asia::Shanghai, |s| s.timezone);
        for (i, ch) in self.config.channels.iter().enumerate() {
            let wanted = match change.what {
                ChangeKind::Opened => true,
                ChangeKind::Ended => ch.send_resolved,
                ChangeKind::Reopened | ChangeKind::Acknowledged => false,
            };
            if !wanted || !ch.routes(a.kind, &a.site_id, district) {
                continue;
            }
            let hold_until_ms = ch
                .quiet_hours
                .as_deref()
                .and_then(Quiet::parse)
                .and_then(|q| quiet_end(q, change.at_ms, tz));
            let wall = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            self.outbox.push(Job {
                channel: ch.name(i),
                event: change.what,
                alert: a.clone(),
                attempts: 0,
                queued_ms: wall,
                next_try_ms: wall,
                hold_until_ms,
                last_error: None,
            });
        }
    }

    /// Appends the changes to the `alerts` table.
    fn record(&self, changes: &[Change]) {
        let rows: Vec<analytics::alerts::AlertEvent> = changes
            .iter()
            .map(|c| {
                let a = &c.alert;
                analytics::alerts::AlertEvent {
                    at_ms: c.at_ms,
                    event: c.what.as_str().to_owned(),
                    alert_id: a.id,
                    kind: a.kind.as_str().to_owned(),
                    site_id: a.site_id.clone(),
                    room_id: Some(a.room_id.clone()).filter(|r| !r.is_empty()),
                    device_id: a.device_id.clone(),
                    since_ms: a.since_ms,
                    ended_ms: a.ended_ms,
                    acked_by: a.acked_by.clone(),
                    reopened: a.reopened,
                    detail_zh: a.detail_zh.clone(),
                    detail_en: a.detail_en.clone(),
                }
            })
            .collect();
        if let Err(e) = self.store.write_alert_events(&rows) {
            tracing::error!(error = %e, rows = rows.len(), "cannot write the alerts table; the changes are in the state file and the log");
        }
        for c in changes {
            let a = &c.alert;
            tracing::info!(id = a.id, kind = a.kind.as_str(), event = c.what.as_str(), site = %a.site_id, room = %a.room_id, device = a.device_id.as_deref().unwrap_or(""), "alert {}: {}", c.what.as_str(), a.detail_en);
        }
    }

    /// Writes the state file when something changed (or `always`).
    fn save(&self, always: bool) {
        let outbox = self.outbox.take_if_changed();
        if !always && outbox.is_none() {
            return;
        }
        let state = State {
            book: self.alerts.save(),
            watching_since_ms: Some(self.watching_since_ms),
            notes: self.notes.clone(),
            outbox: outbox.unwrap_or_else(|| self.outbox.all()),
        };
        if let Err(e) = state::save(&self.state_path, &state) {
            tracing::error!(file = %self.state_path.display(), error = %e, "cannot save the alert state");
        }
    }
}

/// When quiet hours `q` end, if `at_ms` falls in them (the site's local time).
fn quiet_end(q: Quiet, at_ms: i64, tz: chrono_tz::Tz) -> Option<i64> {
    let t = chrono::DateTime::from_timestamp_millis(at_ms)?.with_timezone(&tz);
    let minute = t.hour() * 60 + t.minute();
    let left = q.remaining(minute)?;
    let into_minute = i64::from(t.second()) * 1000 + i64::from(t.timestamp_subsec_millis());
    Some(at_ms - into_minute + i64::from(left) * 60_000)
}
