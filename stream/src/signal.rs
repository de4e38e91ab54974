//! The occupancy signal n(t) of one room (METRICS.md, "The occupancy signal").
//!
//! Readings are applied in event-time order; between readings the signal is
//! piecewise constant and changes only when a device goes stale or at the
//! daily reset of door rooms, so it is integrated lazily, one constant
//! segment at a time.

use devices::{DeviceKind, Direction, Reading, Registry, RoomIdx, Value};
use serde::{Deserialize, Serialize};

pub use devices::reading::stale_after;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct DeviceState {
    kind: DeviceKind,
    interval_s: u32,
    /// Event time (s) of the last message of any type.
    last_seen: Option<i64>,
    /// Count or presence value and when it was reported.
    value: Option<(u32, i64)>,
    /// Last cumulative door counters, to turn them into deltas, and their time.
    totals: Option<(u64, u64, i64)>,
    /// Door devices: what they count, where their counters wrap, and the most
    /// crossings a minute that are plausible.
    #[serde(default)]
    door: DoorRule,
    /// Time (s) of the last counting message (`door` or `door_total`).
    #[serde(default)]
    last_count: Option<i64>,
}

/// The registry's door fields of one device.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct DoorRule {
    direction: Direction,
    rollover: Option<u64>,
    max_per_minute: u32,
}

impl Default for DoorRule {
    fn default() -> Self {
        DoorRule {
            direction: Direction::Both,
            rollover: None,
            max_per_minute: devices::DEFAULT_MAX_PER_MINUTE,
        }
    }
}

/// The crossings one counting message stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crossings {
    /// People in.
    pub inn: u64,
    /// People out (0 for a device that counts entries only).
    pub out: u64,
    /// The message claimed more than the entrance can pass; it counts 0.
    pub implausible: bool,
}

impl DeviceState {
    fn stale(&self) -> i64 {
        stale_after(self.interval_s)
    }

    /// Whether this door device's counts move the room's occupancy.
    fn counts_both_ways(&self) -> bool {
        self.kind == DeviceKind::Door && self.door.direction == Direction::Both
    }

    /// The value this device gives at `t`, if it has a fresh one.
    fn fresh_value(&self, t: i64) -> Option<u32> {
        self.value
            .filter(|(_, at)| *at <= t && t < at + self.stale())
            .map(|(v, _)| v)
    }

    fn fresh_door(&self, t: i64) -> bool {
        self.last_seen
            .is_some_and(|s| s <= t && t < s + self.stale())
    }

    /// When this device's current report expires, if after `t`.
    fn expiry_after(&self, t: i64) -> Option<i64> {
        let at = match self.kind {
            DeviceKind::Door => self.last_seen?,
            _ => self.value?.1,
        };
        Some(at + self.stale()).filter(|e| *e > t)
    }

    /// The crossings of a `door` or `door_total` message at `t` (METRICS.md v2):
    /// cumulative counters become deltas (the first is the baseline, a drop of
    /// more than half the rollover is a wrap, any other drop a restart), and a
    /// message claiming more than `max_per_minute` times the minutes since the
    /// device's previous counting message (at least one) counts 0. Moves the
    /// baseline and the time of the last counting message.
    fn crossings(&mut self, t: i64, value: &Value) -> Crossings {
        let (inn, out) = match value {
            Value::Door { inn, out } => (u64::from(*inn), u64::from(*out)),
            Value::DoorTotal {
                in_total,
                out_total,
            } => {
                let previous = self.totals.replace((*in_total, *out_total, t));
                match previous {
                    None => (0, 0),
                    Some((pi, po, _)) => (
                        self.counter_delta(*in_total, pi),
                        self.counter_delta(*out_total, po),
                    ),
                }
            }
            _ => (0, 0),
        };
        let out = if self.door.direction == Direction::In {
            0
        } else {
            out
        };
        let minutes = self
            .last_count
            .map_or(1.0, |p| ((t - p) as f64 / 60.0).max(1.0));
        self.last_count = Some(self.last_count.map_or(t, |p| p.max(t)));
        let limit = f64::from(self.door.max_per_minute) * minutes;
        if inn as f64 > limit || out as f64 > limit {
            return Crossings {
                inn: 0,
                out: 0,
                implausible: true,
            };
        }
        Crossings {
            inn,
            out,
            implausible: false,
        }
    }

    /// The crossings between two readings of one cumulative counter.
    fn counter_delta(&self, now: u64, before: u64) -> u64 {
        if now >= before {
            return now - before;
        }
        match self.door.rollover {
            Some(r) if before - now > r / 2 => (u128::from(now) + u128::from(r)
                - u128::from(before))
            .min(u128::from(u64::MAX)) as u64,
            _ => now,
        }
    }
}

/// Bound spans in Unix seconds; "always" as none.
fn bound_seconds(ms: &[(i64, i64)]) -> Vec<(i64, i64)> {
    if ms == [(i64::MIN, i64::MAX)] {
        return Vec::new();
    }
    if ms.is_empty() {
        return vec![(i64::MAX, i64::MAX)];
    }
    let s = |t: i64| match t {
        i64::MIN | i64::MAX => t,
        t => t.div_euclid(1000),
    };
    ms.iter().map(|(a, b)| (s(*a), s(*b))).collect()
}

/// A sink that keeps nothing (the live view needs only the current value).
pub struct NoSink;

impl SignalSink for NoSink {
    fn segment(&mut self, _: i64, _: i64, _: Option<u32>) {}
    fn door_in(&mut self, _: i64, _: u64) {}
}

/// Receives the signal as constant segments and the door crossings.
pub trait SignalSink {
    /// n(t) = `value` on `[from, to)`; `None` is unknown.
    fn segment(&mut self, from: i64, to: i64, value: Option<u32>);
    /// `inn` people came in through a door at `t`.
    fn door_in(&mut self, t: i64, inn: u64);
    /// The daily reset of a door room at `t`; `residual` is the door count just before.
    fn reset(&mut self, _t: i64, _residual: u32) {}
    /// On `[from, to)` the devices whose bit is set in `stale` (positions in the room's
    /// device list) have no fresh report; called before the matching `segment`.
    fn stale_devices(&mut self, _from: i64, _to: i64, _stale: u64) {}
    /// Device number `pos` of the room reported `value` at `t`.
    fn report(&mut self, _t: i64, _pos: usize, _value: &Value) {}
    /// Device number `pos` sent counts at `t` beyond what its entrance can pass.
    fn implausible(&mut self, _t: i64, _pos: usize) {}
}

/// The state of one room's occupancy signal. Saved in checkpoints without the
/// reset rule, which comes from the registry again ([`RoomSignal::attach`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomSignal {
    devices: Vec<(devices::DeviceIdx, DeviceState)>,
    /// A door device counts both ways: the doors give n(t).
    has_door: bool,
    door_n: u32,
    /// Local 04:00 resets of door rooms, Unix seconds.
    next_reset: i64,
    #[serde(skip)]
    reset_rule: Option<(chrono_tz::Tz, u32)>,
    /// Per device (same order): when it was bound to the room, Unix seconds
    /// `[from, until)`; empty (or missing) is always. From the registry again
    /// after a checkpoint ([`RoomSignal::attach`]).
    #[serde(skip)]
    bound: Vec<Vec<(i64, i64)>>,
    /// Value of n just before the most recent daily reset.
    pub last_residual: Option<(i64, u32)>,
    now: i64,
}

impl RoomSignal {
    /// The signal of `room`, starting (unknown) at `start`.
    pub fn new(registry: &Registry, room: RoomIdx, start: i64, reset_hour: u32) -> RoomSignal {
        let mut s = RoomSignal {
            devices: Vec::new(),
            has_door: false,
            door_n: 0,
            next_reset: i64::MAX,
            reset_rule: None,
            bound: Vec::new(),
            last_residual: None,
            now: start,
        };
        s.attach(registry, room, reset_hour);
        s.next_reset = s.reset_after(start);
        s
    }

    /// Takes what the registry says of the room: its reset rule, the devices
    /// bound to it since the signal was made (added at the end, so positions
    /// keep their meaning) and when each device was bound to it. For a signal
    /// read back from a checkpoint, and when the registry changes.
    pub fn attach(&mut self, registry: &Registry, room: RoomIdx, reset_hour: u32) {
        let r = registry.room(room);
        for d in &r.devices {
            if self.devices.iter().any(|(x, _)| x == d) {
                continue;
            }
            let dev = registry.device(*d);
            self.devices.push((
                *d,
                DeviceState {
                    kind: dev.kind,
                    interval_s: dev.interval_s,
                    last_seen: None,
                    value: None,
                    totals: None,
                    door: DoorRule {
                        direction: dev.direction,
                        rollover: dev.rollover,
                        max_per_minute: dev.max_per_minute,
                    },
                    last_count: None,
                },
            ));
        }
        self.bound = self
            .devices
            .iter()
            .map(|(d, _)| bound_seconds(&registry.bound_spans(*d, room)))
            .collect();
        let had_door = self.has_door;
        self.has_door = r.sensors.door_both;
        self.reset_rule = self
            .has_door
            .then(|| (registry.site_of(room).timezone, reset_hour));
        if self.has_door && !had_door {
            self.next_reset = self.reset_after(self.now);
        }
    }

    /// Whether device `pos` was bound to the room at `t`.
    fn is_bound(&self, pos: usize, t: i64) -> bool {
        self.bound
            .get(pos)
            .is_none_or(|s| s.is_empty() || s.iter().any(|(a, b)| *a <= t && t < *b))
    }

    /// Whether `device` was bound to the room at some time in `[a, b)`.
    pub(crate) fn bound_during(&self, device: devices::DeviceIdx, a: i64, b: i64) -> bool {
        let Some(pos) = self.devices.iter().position(|(d, _)| *d == device) else {
            return false;
        };
        self.bound
            .get(pos)
            .is_none_or(|s| s.is_empty() || s.iter().any(|(x, y)| *x < b && a < *y))
    }

    /// The next time after `t` a device is bound to the room or stops being.
    fn next_binding_change(&self, t: i64) -> Option<i64> {
        self.bound
            .iter()
            .flatten()
            .flat_map(|(a, b)| [*a, *b])
            .filter(|x| *x > t && *x != i64::MAX)
            .min()
    }

    /// Time up to which the signal has been integrated.
    pub fn now(&self) -> i64 {
        self.now
    }

    fn reset_after(&self, t: i64) -> i64 {
        match self.reset_rule {
            Some((tz, hour)) => crate::local_time::next_local_hour(tz, hour, t),
            None => i64::MAX,
        }
    }

    /// n(t) at the current time, by device priority: count, then door, then presence.
    pub fn value(&self) -> Option<u32> {
        self.value_at(self.now)
    }

    fn value_at(&self, t: i64) -> Option<u32> {
        let of = |kind| {
            self.devices
                .iter()
                .enumerate()
                .filter(move |(i, (_, d))| d.kind == kind && self.is_bound(*i, t))
                .map(|(_, (_, d))| d)
        };
        if let Some(v) = of(DeviceKind::Count).find_map(|d| d.fresh_value(t)) {
            return Some(v);
        }
        if self.has_door {
            let mut doors = of(DeviceKind::Door).filter(|d| d.counts_both_ways());
            let first = doors.next();
            if first.is_some_and(|d| d.fresh_door(t)) && doors.all(|d| d.fresh_door(t)) {
                return Some(self.door_n);
            }
        }
        of(DeviceKind::Presence).find_map(|d| d.fresh_value(t))
    }

    /// When the value would next change with no new reading, if before `i64::MAX`.
    pub fn next_change(&self) -> Option<i64> {
        let expiry = self
            .devices
            .iter()
            .filter_map(|(_, d)| d.expiry_after(self.now))
            .min();
        let next = expiry.map_or(self.next_reset, |e| e.min(self.next_reset));
        let next = self
            .next_binding_change(self.now)
            .map_or(next, |b| b.min(next));
        (next != i64::MAX).then_some(next)
    }

    /// Integrates the signal up to `until`, emitting segments.
    pub fn advance(&mut self, until: i64, sink: &mut impl SignalSink) {
        while self.now < until {
            self.reset_if_due(sink);
            let v = self.value_at(self.now);
            let next = self.next_change().map_or(until, |n| n.min(until));
            sink.stale_devices(self.now, next, self.stale_mask(self.now));
            sink.segment(self.now, next, v);
            self.now = next;
        }
        self.reset_if_due(sink);
    }

    /// Bit i set: device i of the room has no fresh report at `t`.
    fn stale_mask(&self, t: i64) -> u64 {
        let mut mask = 0u64;
        for (i, (_, d)) in self.devices.iter().enumerate().take(64) {
            if !self.is_bound(i, t) {
                continue;
            }
            let fresh = match d.kind {
                DeviceKind::Door => d.fresh_door(t),
                _ => d.fresh_value(t).is_some(),
            };
            if !fresh {
                mask |= 1 << i;
            }
        }
        mask
    }

    fn reset_if_due(&mut self, sink: &mut impl SignalSink) {
        if self.now >= self.next_reset {
            self.last_residual = Some((self.next_reset, self.door_n));
            sink.reset(self.next_reset, self.door_n);
            self.door_n = 0;
            self.next_reset = self.reset_after(self.now);
        }
    }

    /// Applies a reading; the signal is first advanced to its time.
    pub fn apply(&mut self, reading: &Reading, sink: &mut impl SignalSink) {
        let t = reading.time_s();
        if t < self.now {
            return;
        }
        self.advance(t, sink);
        let Some(pos) = self.devices.iter().position(|(d, _)| *d == reading.device) else {
            return;
        };
        sink.report(t, pos, &reading.value);
        let dev = &mut self.devices[pos].1;
        dev.last_seen = Some(t);
        match &reading.value {
            Value::Count(n) => dev.value = Some((*n, t)),
            Value::Presence(p) => dev.value = Some((u32::from(*p), t)),
            Value::Door { .. } | Value::DoorTotal { .. } => {
                let c = dev.crossings(t, &reading.value);
                let both = dev.counts_both_ways();
                if c.implausible {
                    sink.implausible(t, pos);
                }
                if both {
                    self.add_door(i128::from(c.inn) - i128::from(c.out));
                }
                sink.door_in(t, c.inn);
            }
            Value::Status(s) => {
                if let Some(i) = s.interval_s {
                    dev.interval_s = i;
                }
            }
        }
    }

    fn add_door(&mut self, delta: i128) {
        let n = i128::from(self.door_n) + delta;
        self.door_n = n.clamp(0, i128::from(u32::MAX)) as u32;
    }

    /// Applies a reading that may be older than [`now`](Self::now), for a live view whose
    /// readings arrive out of event-time order (a cluster's processes drain the broker
    /// apart in time). A reading at or after `now` is applied as by [`apply`](Self::apply).
    /// An older one changes only what it can without rewriting the past: its device's
    /// last-seen time and value when newer than the device's own, the door crossings of a
    /// door room since its last daily reset, and cumulative door totals newer than the
    /// device's last (an older total's crossings are already in the newer one's delta).
    /// Once every reading has arrived the devices' freshness is the in-order one; a door
    /// room's count may differ from it where the order moved a clamp at zero.
    pub fn apply_late(&mut self, reading: &Reading) {
        let t = reading.time_s();
        if t >= self.now {
            self.apply(reading, &mut NoSink);
            return;
        }
        let Some(pos) = self.devices.iter().position(|(d, _)| *d == reading.device) else {
            return;
        };
        let since_reset = self.last_residual.is_none_or(|(reset, _)| t >= reset);
        let dev = &mut self.devices[pos].1;
        let newest = dev.last_seen.is_none_or(|s| t >= s);
        dev.last_seen = dev.last_seen.max(Some(t));
        let delta = match &reading.value {
            Value::Count(n) => {
                if dev.value.is_none_or(|(_, at)| t >= at) {
                    dev.value = Some((*n, t));
                }
                None
            }
            Value::Presence(p) => {
                if dev.value.is_none_or(|(_, at)| t >= at) {
                    dev.value = Some((u32::from(*p), t));
                }
                None
            }
            Value::Door { .. } => {
                let c = dev.crossings(t, &reading.value);
                (since_reset && dev.counts_both_ways())
                    .then(|| i128::from(c.inn) - i128::from(c.out))
            }
            Value::DoorTotal { .. } => match dev.totals {
                Some((_, _, at)) if t < at => None,
                previous => {
                    let c = dev.crossings(t, &reading.value);
                    (previous.is_some() && since_reset && dev.counts_both_ways())
                        .then(|| i128::from(c.inn) - i128::from(c.out))
                }
            },
            Value::Status(s) => {
                if newest && let Some(i) = s.interval_s {
                    dev.interval_s = i;
                }
                None
            }
        };
        if let Some(delta) = delta {
            self.add_door(delta);
        }
    }

    /// When the current value stops being valid if nothing else arrives.
    pub fn valid_until(&self) -> Option<i64> {
        self.value()?;
        self.devices
            .iter()
            .filter_map(|(_, d)| d.expiry_after(self.now))
            .max()
    }
}

#[cfg(test)]
#[path = "signal_tests.rs"]
mod tests;
