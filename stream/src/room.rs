//! One room followed through time: its signal feeding consecutive hour
//! windows, and day windows with one slot per service category.
//!
//! Hour rows are emitted as soon as the signal passes their end. Day rows (and
//! their slot rows) wait for the next morning's reset hour, because a door
//! room's `door_residual` is the count just before that reset.

use crate::flags::{FlagConfig, RoomFlags};
use crate::local_time::{day_end, day_start, hour_start, next_local_hour};
use crate::room_info::RoomInfo;
use crate::signal::{RoomSignal, SignalSink};
use crate::slots::RoomSlots;
use crate::window::WindowAcc;
use crate::{Output, StreamConfig};
use devices::{DeviceDay, Reading, Registry, RoomIdx, RoomWindow, VisitsMethod, WindowKind};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What one device did during one day.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct DeviceTally {
    offline: u32,
    reports: u32,
    min_battery: Option<u8>,
    /// First count inside opening hours, whether another value came, and how many.
    first_count: Option<u32>,
    count_changed: bool,
    counts_in_open: u32,
    /// Counting messages beyond what the entrance can pass.
    #[serde(default)]
    implausible: u32,
}

/// A finished day waiting for the next morning's reset.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingDay {
    release: i64,
    accs: Vec<WindowAcc>,
    residual: Option<u32>,
    devices: Vec<DeviceTally>,
}

/// Splits the signal at window boundaries and keeps the finished rows. A
/// checkpoint keeps it without the room's info, which comes from the registry.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Windows {
    #[serde(skip)]
    info: RoomInfo,
    hour: WindowAcc,
    /// The day window first, then its slots.
    day: Vec<WindowAcc>,
    day_end: i64,
    pending: Vec<PendingDay>,
    done: Vec<RoomWindow>,
    /// Devices of the room, in the signal's order.
    device_ids: Vec<devices::DeviceIdx>,
    /// This day's tally per device.
    tallies: Vec<DeviceTally>,
    /// Devices without a fresh report on the segment about to come.
    stale_mask: u64,
    done_devices: Vec<DeviceDay>,
}

impl Windows {
    fn roll_hour(&mut self) {
        let next = self.info.hour(self.hour.end(), self.hour.last_value());
        let old = std::mem::replace(&mut self.hour, next);
        self.done.push(old.finish());
    }

    fn roll_day(&mut self) {
        let prev = self.day.first().and_then(WindowAcc::last_value);
        let next = self.info.day(self.day_end, prev);
        let old = std::mem::replace(&mut self.day, next);
        let fresh = vec![DeviceTally::default(); self.device_ids.len()];
        self.pending.push(PendingDay {
            release: next_local_hour(self.info.tz, self.info.reset_hour, self.day_end),
            accs: old,
            residual: None,
            devices: std::mem::replace(&mut self.tallies, fresh),
        });
        self.day_end = day_end(self.info.tz, self.day_end);
    }

    fn device_rows(&self, day: &WindowAcc, tallies: &[DeviceTally]) -> Vec<DeviceDay> {
        let (start, end) = day.bounds();
        let open = day.open_within(start, end);
        self.device_ids
            .iter()
            .zip(tallies)
            .map(|(&device, t)| DeviceDay {
                device,
                room: self.info.shape.room,
                start,
                end,
                open_seconds: open,
                offline_seconds: t.offline,
                reports: t.reports,
                min_battery_pct: t.min_battery,
                constant_count: t
                    .first_count
                    .filter(|_| !t.count_changed && t.counts_in_open >= 2 && t.offline * 5 <= open),
                stuck: false,
                implausible_counts: t.implausible,
                revision: 0,
            })
            .collect()
    }

    /// Emits the days whose reset has passed by `t`.
    fn release(&mut self, t: i64) {
        let door = self.info.shape.method == VisitsMethod::Door;
        while self.pending.first().is_some_and(|p| p.release <= t) {
            let p = self.pending.remove(0);
            if let Some(day) = p.accs.first() {
                self.done_devices.extend(self.device_rows(day, &p.devices));
            }
            // Slots first, the day row last: the site sums know a room is complete at its day row.
            for mut acc in p.accs.into_iter().rev() {
                if door && acc.row_mut().kind == WindowKind::Day {
                    acc.row_mut().door_residual = Some(p.residual.unwrap_or(0));
                }
                self.done.push(acc.finish());
            }
        }
    }
}

impl SignalSink for Windows {
    fn segment(&mut self, a: i64, b: i64, value: Option<u32>) {
        let mut x = a;
        while x < b {
            let e = b.min(self.hour.end());
            self.hour.segment(x, e, value);
            x = e;
            if x >= self.hour.end() {
                self.roll_hour();
            }
        }
        let mut x = a;
        while x < b {
            let e = b.min(self.day_end);
            if self.stale_mask != 0
                && let Some(day) = self.day.first()
            {
                let open = day.open_within(x, e);
                for (i, t) in self.tallies.iter_mut().enumerate().take(64) {
                    if self.stale_mask & (1 << i) != 0 {
                        t.offline += open;
                    }
                }
            }
            for acc in &mut self.day {
                acc.segment(x, e, value);
            }
            x = e;
            if x >= self.day_end {
                self.roll_day();
            }
        }
    }

    fn door_in(&mut self, t: i64, inn: u64) {
        while t >= self.hour.end() {
            self.roll_hour();
        }
        while t >= self.day_end {
            self.roll_day();
        }
        self.hour.door_in(t, inn);
        for acc in &mut self.day {
            acc.door_in(t, inn);
        }
    }

    fn stale_devices(&mut self, _from: i64, _to: i64, stale: u64) {
        self.stale_mask = stale;
    }

    fn report(&mut self, t: i64, pos: usize, value: &devices::Value) {
        while t >= self.day_end {
            self.roll_day();
        }
        let open = self.day.first().is_some_and(|d| d.is_open(t));
        let Some(tally) = self.tallies.get_mut(pos) else {
            return;
        };
        tally.reports += 1;
        match value {
            devices::Value::Status(s) => {
                if let Some(b) = s.battery_pct {
                    tally.min_battery = Some(tally.min_battery.map_or(b, |m| m.min(b)));
                }
            }
            devices::Value::Count(n) if open => {
                tally.counts_in_open += 1;
                match tally.first_count {
                    None => tally.first_count = Some(*n),
                    Some(f) if f != *n => tally.count_changed = true,
                    Some(_) => {}
                }
            }
            _ => {}
        }
    }

    fn implausible(&mut self, t: i64, pos: usize) {
        while t >= self.day_end {
            self.roll_day();
        }
        if let Some(tally) = self.tallies.get_mut(pos) {
            tally.implausible += 1;
        }
    }

    fn reset(&mut self, t: i64, residual: u32) {
        if let Some(p) = self.pending.iter_mut().find(|p| p.release == t) {
            p.residual = Some(residual);
        }
    }
}

/// A tracker as a checkpoint keeps it ([`RoomTracker::to_form`]).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TrackerForm<'a> {
    signal: std::borrow::Cow<'a, RoomSignal>,
    windows: std::borrow::Cow<'a, Windows>,
    flag_days: Vec<u32>,
    slots: crate::slots::SlotsForm<'a>,
    stored_first: Option<Box<crate::SeedDay>>,
}

/// The lookback days of a worker's trackers while a checkpoint is written.
#[derive(Debug, Default)]
pub(crate) struct Pools {
    flag_days: crate::checkpoint::Pool<crate::flags::DayFacts>,
    slot_days: crate::checkpoint::Pool<[crate::slots::HourFacts]>,
}

/// The lookback days of a checkpoint, each once.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct SavedPools {
    flag_days: Vec<Arc<crate::flags::DayFacts>>,
    slot_days: Vec<Arc<[crate::slots::HourFacts]>>,
}

impl From<Pools> for SavedPools {
    fn from(p: Pools) -> SavedPools {
        SavedPools {
            flag_days: p.flag_days.into_items(),
            slot_days: p.slot_days.into_items(),
        }
    }
}

/// A room's signal, its windows and its flags.
#[derive(Debug, Clone)]
pub struct RoomTracker {
    signal: RoomSignal,
    windows: Windows,
    flags: RoomFlags,
    slots: RoomSlots,
    flag_config: Arc<FlagConfig>,
    /// The first day as the tables store it, after a restart ([`RoomTracker::seed`]).
    stored_first: Option<Box<crate::SeedDay>>,
}

impl RoomTracker {
    /// Follows `room` from `origin` (Unix seconds); the hour and the day containing it are the first windows.
    pub fn new(
        registry: &Registry,
        room: RoomIdx,
        origin: i64,
        config: &Arc<StreamConfig>,
    ) -> RoomTracker {
        let reset_hour = config.door_reset_hour;
        let r = registry.room(room);
        let info = RoomInfo::of(registry, room, reset_hour);
        let hour = info.hour(hour_start(info.tz, origin), None);
        let first_day = day_start(info.tz, origin);
        let day = info.day(first_day, None);
        RoomTracker {
            signal: RoomSignal::new(registry, room, origin, reset_hour),
            flags: RoomFlags::new(
                r.devices
                    .iter()
                    .map(|d| registry.device(*d).id.clone())
                    .collect(),
                info.tz,
            ),
            slots: RoomSlots::default(),
            flag_config: Arc::new(config.flags.for_room(registry, room)),
            stored_first: None,
            windows: Windows {
                day_end: day_end(info.tz, first_day),
                info,
                hour,
                day,
                pending: Vec::new(),
                done: Vec::new(),
                tallies: vec![DeviceTally::default(); r.devices.len()],
                device_ids: r.devices.clone(),
                stale_mask: 0,
                done_devices: Vec::new(),
            },
        }
    }

    /// The form a checkpoint keeps: what the registry and the configuration
    /// cannot give again, the lookback days put in `pools`.
    pub(crate) fn to_form(&self, pools: &mut Pools) -> TrackerForm<'_> {
        TrackerForm {
            signal: std::borrow::Cow::Borrowed(&self.signal),
            windows: std::borrow::Cow::Borrowed(&self.windows),
            flag_days: self.flags.days_into(&mut pools.flag_days),
            slots: self.slots.to_form(&mut pools.slot_days),
            stored_first: self.stored_first.clone(),
        }
    }

    /// Back from a checkpoint's form; `template` is a tracker of the same room
    /// (made once per room: the registry's view of it).
    pub(crate) fn from_form(
        registry: &Registry,
        template: &RoomTracker,
        form: TrackerForm<'_>,
        pools: &SavedPools,
    ) -> RoomTracker {
        let room = template.room();
        let mut signal = form.signal.into_owned();
        signal.attach(registry, room, template.windows.info.reset_hour);
        let mut windows = form.windows.into_owned();
        windows.info = template.windows.info.clone();
        let mut flags = template.flags.clone();
        flags.set_days(crate::checkpoint::take(&pools.flag_days, &form.flag_days));
        let mut t = RoomTracker {
            signal,
            windows,
            flags,
            slots: RoomSlots::from_form(form.slots, &pools.slot_days),
            flag_config: Arc::clone(&template.flag_config),
            stored_first: form.stored_first,
        };
        t.extend_devices(registry);
        t
    }

    /// Takes a changed registry (indices kept, [`devices::timeline`]): devices
    /// newly bound to the room, when each is bound, its schedules and capacities
    /// (for the windows that start from now on), its flag settings.
    pub fn attach(&mut self, registry: &Registry, config: &StreamConfig) {
        let room = self.room();
        let reset_hour = self.windows.info.reset_hour;
        self.signal.attach(registry, room, reset_hour);
        self.windows.info = RoomInfo::of(registry, room, reset_hour);
        self.flag_config = Arc::new(config.flags.for_room(registry, room));
        self.extend_devices(registry);
    }

    /// Makes the open hour and day windows again from the room's info (its
    /// schedule and capacity of their start). For a tracker as it stood at a
    /// snapshot, where nothing has been added to them yet.
    pub(crate) fn reopen_windows(&mut self) {
        let w = &mut self.windows;
        let (hour_start, _) = w.hour.bounds();
        w.hour = w.info.hour(hour_start, w.hour.last_value());
        if let Some(day) = w.day.first() {
            let (day_start, _) = day.bounds();
            let prev = day.last_value();
            w.day = w.info.day(day_start, prev);
        }
    }

    /// The room's devices in the windows and flags, as many as the signal has.
    fn extend_devices(&mut self, registry: &Registry) {
        let room = self.room();
        let w = &mut self.windows;
        for d in registry.room(room).devices.iter().skip(w.device_ids.len()) {
            w.device_ids.push(*d);
            w.tallies.push(DeviceTally::default());
        }
        // A checkpoint's tracker takes its flags from a tracker of the registry of now.
        for d in &w.device_ids[self.flags.devices().min(w.device_ids.len())..] {
            self.flags.add_device(registry.device(*d).id.clone());
        }
    }

    /// End of the hour window now open.
    pub fn window_end(&self) -> i64 {
        self.windows.hour.end()
    }

    /// The room followed.
    pub fn room(&self) -> devices::RoomIdx {
        self.windows.info.shape.room
    }

    /// Where the signal stands now (its origin before anything was applied).
    pub fn origin(&self) -> i64 {
        self.signal.now()
    }

    /// The same room followed from `origin` instead, with this tracker's lookback
    /// (flags and idle slots): for a backlog that reaches before where the room
    /// started. Call on the tracker as it stood at its origin.
    pub fn rewound(
        &self,
        registry: &Registry,
        origin: i64,
        config: &Arc<StreamConfig>,
    ) -> RoomTracker {
        let mut t = RoomTracker::new(registry, self.room(), origin, config);
        t.flags = self.flags.clone();
        t.slots = self.slots.clone();
        t
    }

    /// The earliest instant a correction may reach when the frontier is at `f`
    /// and `days` local days are kept: the local midnight `days - 1` days before
    /// the day holding `f`.
    pub fn horizon(&self, f: i64, days: usize) -> i64 {
        let tz = self.windows.info.tz;
        let mut midnight = day_start(tz, f);
        for _ in 1..days.max(1) {
            midnight = day_start(tz, midnight - 1);
        }
        midnight
    }

    /// End of the day window now open (the next local midnight).
    pub fn day_end(&self) -> i64 {
        self.windows.day_end
    }

    /// Seeds the flags' and idle slots' lookback with days the tables store (after a
    /// restart: the days before the readings replayed); call before anything is
    /// applied. Days before the first one (the local day holding the origin) and
    /// within the lookback are added as they are. The first day, which the stream
    /// closes from only part of its readings, counts as stored when it closes. Later
    /// days are left to the readings.
    pub fn seed(&mut self, mut days: Vec<crate::SeedDay>) {
        let tz = self.windows.info.tz;
        let first = day_start(tz, self.origin());
        let first_date = devices::schedule::local_date(tz, first);
        let lookback = i64::from(self.flag_config.lookback_days.max(1));
        days.sort_by_key(|d| d.start);
        for d in days {
            if d.start < first {
                let age = (first_date - devices::schedule::local_date(tz, d.start)).num_days();
                if age < lookback {
                    self.flags.remember(&self.flag_config, &d.facts);
                    self.slots.remember(&self.flag_config, &d.hours);
                }
            } else if d.start == first {
                self.stored_first = Some(Box::new(d));
            }
        }
    }

    /// Applies a reading in event-time order.
    pub fn apply(&mut self, reading: &Reading) {
        self.signal.apply(reading, &mut self.windows);
        self.windows.release(self.signal.now());
    }

    /// Integrates the signal up to `until`, closing the windows that end by then.
    pub fn advance(&mut self, until: i64) {
        self.signal.advance(until, &mut self.windows);
        self.windows.release(until);
    }

    /// Moves the windows closed so far to `out`; each day comes with its flags.
    pub fn drain_into(&mut self, out: &mut Vec<Output>) {
        let tz = self.windows.info.tz;
        for row in self.windows.done.drain(..) {
            if row.kind == WindowKind::Hour {
                self.slots.on_hour(tz, &row);
            }
            if row.kind == WindowKind::Day {
                let start = row.start;
                let (mine, rest): (Vec<_>, Vec<_>) = self
                    .windows
                    .done_devices
                    .drain(..)
                    .partition(|d| d.start == start);
                self.windows.done_devices = rest;
                let cfg = &self.flag_config;
                let stored = self.stored_first.take_if(|s| s.start == start);
                let (flags, status) = match &stored {
                    Some(s) => self.flags.on_stored_day(cfg, &row, &s.facts),
                    None => self.flags.on_day(cfg, &row, &mine),
                };
                // Rows of devices bound to the room that day (a moved device's
                // position stays for the flags, with nothing offline).
                let signal = &self.signal;
                out.extend(
                    mine.into_iter()
                        .filter(|d| signal.bound_during(d.device, d.start, d.end))
                        .map(Output::DeviceDay),
                );
                out.extend(flags.into_iter().map(Output::Flag));
                let slots = match &stored {
                    Some(s) => self.slots.on_stored_day(tz, cfg, &row, &s.hours),
                    None => self.slots.on_day(tz, cfg, &row),
                };
                out.extend(slots.into_iter().map(Output::IdleSlot));
                out.push(Output::Status(status));
            }
            out.push(Output::Window(row));
        }
    }
}
