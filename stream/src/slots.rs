//! Idle slots (错时 candidates): weekday x hour cells of a room over the lookback.
//!
//! A cell (local weekday, local hour) inside opening hours with coverage >= 0.8
//! is idle when its time utilization is below 0.05; two or more contiguous
//! idle cells of one weekday form an idle block, reported as a candidate slot
//! to host another service.

use crate::flags::FlagConfig;
use chrono::{Datelike, TimeZone, Timelike};
use chrono_tz::Tz;
use devices::{IdleSlot, LookbackDay, RoomWindow};
use std::collections::{BTreeMap, VecDeque};

/// One open hour of one day, compact (a room keeps its lookback of these).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub(crate) struct HourFacts {
    weekday: u8,
    hour: u8,
    open: u16,
    measured: u16,
    occupied: u16,
}

/// The open hours of a day as the tables store it, compact.
pub(crate) fn hours_of(tz: Tz, stored: &LookbackDay) -> std::sync::Arc<[HourFacts]> {
    stored
        .hours
        .iter()
        .filter_map(|h| {
            HourFacts::of(
                tz,
                h.start,
                h.open_seconds,
                h.measured_seconds,
                h.occupied_seconds,
            )
        })
        .collect()
}

impl HourFacts {
    /// The hour starting at `start` (Unix seconds) in `tz`.
    fn of(tz: Tz, start: i64, open: u32, measured: u32, occupied: u32) -> Option<HourFacts> {
        let local = tz.timestamp_opt(start, 0).single()?;
        let clip = |s: u32| s.min(u32::from(u16::MAX)) as u16;
        Some(HourFacts {
            weekday: local.weekday().number_from_monday() as u8,
            hour: local.hour() as u8,
            open: clip(open),
            measured: clip(measured),
            occupied: clip(occupied),
        })
    }
}

/// The open hours of a room over its lookback.
#[derive(Debug, Clone, Default)]
pub struct RoomSlots {
    /// Hours of days not yet released, by local date.
    filling: BTreeMap<chrono::NaiveDate, Vec<HourFacts>>,
    /// Released days, oldest first; shared with the correction path's snapshots.
    days: VecDeque<std::sync::Arc<[HourFacts]>>,
}

/// A room's slots as a checkpoint holds them: the released days by index into a pool.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct SlotsForm<'a> {
    filling: std::borrow::Cow<'a, BTreeMap<chrono::NaiveDate, Vec<HourFacts>>>,
    days: Vec<u32>,
}

impl RoomSlots {
    /// The form a checkpoint keeps, the days put in `pool`.
    pub(crate) fn to_form(&self, pool: &mut crate::checkpoint::Pool<[HourFacts]>) -> SlotsForm<'_> {
        SlotsForm {
            filling: std::borrow::Cow::Borrowed(&self.filling),
            days: self.days.iter().map(|d| pool.put(d)).collect(),
        }
    }

    /// Back from a checkpoint's form.
    pub(crate) fn from_form(
        form: SlotsForm<'_>,
        pool: &[std::sync::Arc<[HourFacts]>],
    ) -> RoomSlots {
        RoomSlots {
            filling: form.filling.into_owned(),
            days: crate::checkpoint::take(pool, &form.days).into(),
        }
    }

    /// Notes a closed hour; only hours with opening time matter.
    pub fn on_hour(&mut self, tz: Tz, row: &RoomWindow) {
        if row.open_seconds == 0 {
            return;
        }
        let date = devices::schedule::local_date(tz, row.start);
        if let Some(h) = HourFacts::of(
            tz,
            row.start,
            row.open_seconds,
            row.measured_seconds,
            row.occupied_seconds,
        ) {
            self.filling.entry(date).or_default().push(h);
        }
    }

    /// The day starting at `day` was released: returns the idle blocks over the lookback ending with it.
    pub fn on_day(&mut self, tz: Tz, cfg: &FlagConfig, day: &RoomWindow) -> Vec<IdleSlot> {
        let date = devices::schedule::local_date(tz, day.start);
        let hours = self.filling.remove(&date).unwrap_or_default();
        self.filling.retain(|d, _| *d > date);
        self.push(cfg, hours.into());
        self.evaluate(cfg, day)
    }

    /// As [`on_day`](Self::on_day), with the day's hours as stored (the stream closed
    /// the day from part of its readings after a restart; the tables have it whole).
    pub(crate) fn on_stored_day(
        &mut self,
        tz: Tz,
        cfg: &FlagConfig,
        day: &RoomWindow,
        stored: &std::sync::Arc<[HourFacts]>,
    ) -> Vec<IdleSlot> {
        let date = devices::schedule::local_date(tz, day.start);
        self.filling.retain(|d, _| *d > date);
        self.remember(cfg, stored);
        self.evaluate(cfg, day)
    }

    /// Adds a stored day's hours to the lookback without evaluating it (seeding after a restart).
    pub(crate) fn remember(&mut self, cfg: &FlagConfig, stored: &std::sync::Arc<[HourFacts]>) {
        self.push(cfg, std::sync::Arc::clone(stored));
    }

    fn push(&mut self, cfg: &FlagConfig, hours: std::sync::Arc<[HourFacts]>) {
        self.days.push_back(hours);
        while self.days.len() > usize::from(cfg.lookback_days.max(1)) {
            self.days.pop_front();
        }
    }

    /// The idle blocks over the lookback ending with `day`.
    fn evaluate(&self, cfg: &FlagConfig, day: &RoomWindow) -> Vec<IdleSlot> {
        let mut cells: BTreeMap<(u8, u8), (u64, u64, u64)> = BTreeMap::new();
        for h in self.days.iter().flat_map(|d| d.iter()) {
            let c = cells.entry((h.weekday, h.hour)).or_default();
            c.0 += u64::from(h.open);
            c.1 += u64::from(h.measured);
            c.2 += u64::from(h.occupied);
        }
        let idle = |&(open, measured, occupied): &(u64, u64, u64)| {
            open > 0
                && measured as f64 >= cfg.min_coverage * open as f64
                && (occupied as f64) < cfg.idle_slot_below * measured as f64
        };
        let mut out = Vec::new();
        let mut run: Option<IdleSlot> = None;
        for (&(weekday, hour), sums) in &cells {
            let extends = run
                .as_ref()
                .is_some_and(|r| r.weekday == weekday && r.end_hour == hour);
            if !extends && let Some(done) = run.take() {
                out.extend(self.keep(cfg, done));
            }
            if !idle(sums) {
                continue;
            }
            let r = run.get_or_insert(IdleSlot {
                room: day.room,
                day: day.start,
                weekday,
                start_hour: hour,
                end_hour: hour,
                lookback_days: self.days.len() as u16,
                open_seconds: 0,
                measured_seconds: 0,
                occupied_seconds: 0,
                revision: 0,
            });
            r.end_hour = hour + 1;
            r.open_seconds += sums.0;
            r.measured_seconds += sums.1;
            r.occupied_seconds += sums.2;
        }
        if let Some(done) = run.take() {
            out.extend(self.keep(cfg, done));
        }
        out
    }

    fn keep(&self, cfg: &FlagConfig, slot: IdleSlot) -> Option<IdleSlot> {
        (slot.hours() >= cfg.idle_slot_min_hours).then_some(slot)
    }
}
