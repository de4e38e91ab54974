//! The occupancy signal n(t) of one room under METRICS.md v2, worked out
//! event by event.
//!
//! n(t) only changes at a reading, when a report goes stale, or at the daily
//! door reset. So the signal is evaluated from scratch at every instant where
//! it *could* change and is constant in between; the result is a list of
//! pieces `[start, end)` tiling `[origin, until)`.

use super::local;
use devices::{DeviceIdx, DeviceKind, Direction, Reading, Registry, RoomIdx, Value};
use std::collections::{BTreeSet, HashMap};

/// n(t) = `n` on `[start, end)`; `None` is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// First second.
    pub start: i64,
    /// First second after.
    pub end: i64,
    /// People present, if known.
    pub n: Option<u32>,
}

/// A room's signal from `origin` to `until` and what the door devices said.
#[derive(Debug, Clone, Default)]
pub struct Signal {
    /// Pieces in time order, tiling `[origin, until)`.
    pub pieces: Vec<Piece>,
    /// `(time, people in)` of every `door` and `door_total` message of every
    /// door device (both-ways and in-only), after wraps, resets and the
    /// plausibility check (an implausible message has 0).
    pub door_ins: Vec<(i64, u64)>,
    /// `(reset instant, door n just before it)` of every daily door reset up
    /// to `until` (door rooms; the door n stays 0 without a both-ways device).
    pub residuals: Vec<(i64, u32)>,
}

impl Signal {
    /// n at second `t` (unknown outside `[origin, until)`).
    pub fn at(&self, t: i64) -> Option<u32> {
        let i = self.pieces.partition_point(|p| p.end <= t);
        self.pieces
            .get(i)
            .filter(|p| p.start <= t && t < p.end)
            .and_then(|p| p.n)
    }

    /// The pieces that meet `[from, to)`, clipped to it.
    pub fn pieces_in(&self, from: i64, to: i64) -> Vec<Piece> {
        let first = self.pieces.partition_point(|p| p.end <= from);
        self.pieces[first..]
            .iter()
            .take_while(|p| p.start < to)
            .map(|p| Piece {
                start: p.start.max(from),
                end: p.end.min(to),
                n: p.n,
            })
            .collect()
    }
}

/// How long a report stays valid: min(3 x interval, max(15 min, interval + 5 min)).
pub fn stale(interval_s: u32) -> i64 {
    let interval = i64::from(interval_s);
    (3 * interval).min((interval + 300).max(900))
}

/// What is known about one device at some instant.
#[derive(Debug, Clone)]
struct DeviceNow {
    id: DeviceIdx,
    kind: DeviceKind,
    interval_s: u32,
    /// Door devices: counts outs too, so it takes part in the door n (`direction = "both"`).
    both_ways: bool,
    /// Door devices: where the cumulative counters wrap to 0.
    rollover: Option<u64>,
    /// Door devices: the most crossings its entrance passes in a minute.
    max_per_minute: u32,
    /// Last message of any type (door devices report with every message).
    last_message: Option<i64>,
    /// Last count or presence value and its time.
    value: Option<(u32, i64)>,
    /// Last cumulative door counters (the baseline of the next `door_total`).
    totals: Option<(u64, u64)>,
    /// Time of the last counting message (`door` or `door_total`, plausible or not).
    last_count: Option<i64>,
}

impl DeviceNow {
    fn fresh_value(&self, t: i64) -> Option<u32> {
        let (v, at) = self.value?;
        (at <= t && t < at + stale(self.interval_s)).then_some(v)
    }

    fn door_fresh(&self, t: i64) -> bool {
        self.last_message
            .is_some_and(|at| at <= t && t < at + stale(self.interval_s))
    }

    /// People counted by a cumulative counter going from `old` to `new`: the
    /// rise; after a drop, a wrap when the device has a rollover R and the drop
    /// is more than R / 2 (`new + R - old`), otherwise a restart from zero (`new`).
    ///
    /// Counters live below R, so a drop larger than R cannot be a wrap: a restart.
    fn counted(&self, new: u64, old: u64) -> u64 {
        if new >= old {
            return new - old;
        }
        let drop = old - new;
        match self.rollover {
            // new + R - old, which is R - drop.
            Some(r) if 2 * u128::from(drop) > u128::from(r) && drop <= r => r - drop,
            _ => new,
        }
    }

    /// Whether `crossings` at second `t` are more than `max_per_minute` x the
    /// minutes since the previous counting message (at least one minute; one
    /// minute for the first). Exact: 60 x crossings > max_per_minute x seconds.
    fn implausible(&self, crossings: u64, t: i64) -> bool {
        let seconds = self.last_count.map_or(60, |prev| (t - prev).max(60));
        60 * u128::from(crossings) > u128::from(self.max_per_minute) * seconds as u128
    }
}

/// Everything about a room at some instant.
struct RoomNow {
    devices: Vec<DeviceNow>,
    door_n: u32,
}

impl RoomNow {
    /// n(t): a fresh count, else the door n if the room has a both-ways door
    /// device and every both-ways door device is fresh (in-only ones do not
    /// matter), else a fresh presence.
    fn n(&self, t: i64) -> Option<u32> {
        let of = |kind| self.devices.iter().filter(move |d| d.kind == kind);
        if let Some(v) = of(DeviceKind::Count).find_map(|d| d.fresh_value(t)) {
            return Some(v);
        }
        let mut doors = of(DeviceKind::Door).filter(|d| d.both_ways).peekable();
        if doors.peek().is_some() && doors.all(|d| d.door_fresh(t)) {
            return Some(self.door_n);
        }
        of(DeviceKind::Presence).find_map(|d| d.fresh_value(t))
    }

    /// Applies one reading at second `t`; returns the people it saw come in
    /// through a door (0 for an implausible message).
    fn apply(&mut self, r: &Reading, t: i64) -> u64 {
        let Some(dev) = self.devices.iter_mut().find(|d| d.id == r.device) else {
            return 0;
        };
        dev.last_message = Some(t);
        let (inn, out) = match &r.value {
            Value::Count(n) => {
                dev.value = Some((*n, t));
                return 0;
            }
            Value::Presence(p) => {
                dev.value = Some((u32::from(*p), t));
                return 0;
            }
            Value::Status(s) => {
                if let Some(i) = s.interval_s {
                    dev.interval_s = i;
                }
                return 0;
            }
            Value::Door { inn, out } => (u64::from(*inn), u64::from(*out)),
            Value::DoorTotal {
                in_total,
                out_total,
            } => {
                // First value: the baseline. Then the rise, a wrap or a restart,
                // ins and outs each on their own. The values are the next
                // baseline whatever comes of them below.
                let d = match dev.totals {
                    None => (0, 0),
                    Some((i, o)) => (dev.counted(*in_total, i), dev.counted(*out_total, o)),
                };
                dev.totals = Some((*in_total, *out_total));
                d
            }
        };
        // An in-only device's outs mean nothing: not checked, never counted.
        let both_ways = dev.both_ways;
        let out = if both_ways { out } else { 0 };
        let implausible = dev.implausible(inn, t) || dev.implausible(out, t);
        dev.last_count = Some(t);
        if implausible {
            return 0;
        }
        if both_ways {
            let n = i128::from(self.door_n) + i128::from(inn) - i128::from(out);
            self.door_n = n.max(0) as u32;
        }
        inn
    }
}

/// The signal of `room` on `[origin, until)` from its readings, which must be
/// free of duplicates and sorted in the order they apply.
pub fn room_signal(
    registry: &Registry,
    room: RoomIdx,
    readings: &[&Reading],
    origin: i64,
    until: i64,
    door_reset_hour: u32,
) -> Signal {
    let r = registry.room(room);
    let tz = registry.site_of(room).timezone;
    let mut now = RoomNow {
        devices: r
            .devices
            .iter()
            .map(|&id| {
                let d = registry.device(id);
                DeviceNow {
                    id,
                    kind: d.kind,
                    interval_s: d.interval_s,
                    both_ways: d.direction == Direction::Both,
                    rollover: d.rollover,
                    max_per_minute: d.max_per_minute,
                    last_message: None,
                    value: None,
                    totals: None,
                    last_count: None,
                }
            })
            .collect(),
        door_n: 0,
    };

    // Daily door resets after origin, up to and including until (door rooms).
    let mut resets = Vec::new();
    if super::sensors_of(registry, room).door {
        let mut date = local::date_of(tz, origin);
        while date <= local::date_of(tz, until) + chrono::Duration::days(1) {
            let at = local::at_hour(tz, date, door_reset_hour);
            if origin < at && at <= until {
                resets.push(at);
            }
            date += chrono::Duration::days(1);
        }
    }

    // Every instant at which n could change: readings, resets, and each report
    // plus each staleness its device could ever have.
    let mut points = BTreeSet::from([origin, until]);
    points.extend(resets.iter().copied());
    let mut intervals: HashMap<DeviceIdx, BTreeSet<u32>> = r
        .devices
        .iter()
        .map(|&d| (d, BTreeSet::from([registry.device(d).interval_s])))
        .collect();
    for reading in readings {
        if let (Value::Status(s), Some(set)) = (&reading.value, intervals.get_mut(&reading.device))
        {
            set.extend(s.interval_s);
        }
    }
    for reading in readings {
        let t = reading.time_s();
        points.insert(t);
        for &i in intervals.get(&reading.device).into_iter().flatten() {
            points.insert(t + stale(i));
        }
    }
    let points: Vec<i64> = points
        .into_iter()
        .filter(|p| (origin..=until).contains(p))
        .collect();

    let mut signal = Signal::default();
    let (mut next_reading, mut next_reset) = (0, 0);
    for (i, &p) in points.iter().enumerate() {
        // Apply what happens up to p in time order; a reset comes before readings at its second.
        loop {
            let reading_t = readings.get(next_reading).map(|r| r.time_s());
            let reset_t = resets.get(next_reset).copied();
            match (reading_t, reset_t) {
                (_, Some(rt)) if rt <= p && reading_t.is_none_or(|t| rt <= t) => {
                    signal.residuals.push((rt, now.door_n));
                    now.door_n = 0;
                    next_reset += 1;
                }
                (Some(t), _) if t <= p => {
                    let inn = now.apply(readings[next_reading], t);
                    if matches!(
                        readings[next_reading].value,
                        Value::Door { .. } | Value::DoorTotal { .. }
                    ) {
                        signal.door_ins.push((t, inn));
                    }
                    next_reading += 1;
                }
                _ => break,
            }
        }
        if let Some(&q) = points.get(i + 1) {
            signal.pieces.push(Piece {
                start: p,
                end: q,
                n: now.n(p),
            });
        }
    }
    signal
}
