//! Flood limiting: a device whose readings come far more often than its report
//! interval is limited, so that it cannot crowd out the others. What it sends
//! over the limit is rejected as `flooding` and kept in `quarantine`.
//!
//! Two limits hold together. In event time, a device's readings may not be
//! closer together than `factor` times its report rate allows (plus a burst);
//! readings that arrive as a backlog (their time more than ten minutes behind
//! their arrival) only twice its rate, since a device that stored them while
//! offline measured them at its own cadence. In arrival time, a device may not
//! send more than a week of its reports (all that doorstep accepts) at once,
//! refilled at `factor` times its rate. A device flushing days of backlog
//! after an outage passes; one that back-dates its timestamps to slip a flood
//! through gets no more readings in than twice its rate over the time it
//! claims.

use devices::{DeviceIdx, Reading, Reason, Rejection};
use std::collections::HashMap;

/// Reports of backlog a device may send at once (in arrival time), in days:
/// everything within `max_age`.
const BACKLOG_DAYS: f64 = 7.0;
/// A reading this far behind its arrival is part of a backlog.
const BACKLOG_AFTER_MS: i64 = 10 * 60_000;
/// A backlog's readings may be this many times the device's report rate (in event time).
const BACKLOG_FACTOR: f64 = 2.0;

/// The two token buckets of one device.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Buckets {
    /// Tokens of the event-time bucket.
    event: f64,
    /// Latest event time seen, Unix ms.
    event_at: i64,
    /// Tokens of the arrival-time bucket.
    arrival: f64,
    /// Latest arrival time seen, Unix ms.
    arrival_at: i64,
}

/// Which limit refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    /// Too many readings in event time.
    EventTime,
    /// Too many readings arriving at once.
    ArrivalTime,
}

/// Token buckets per device, refilled at `factor` times the device's report rate:
/// one in event time, one in arrival time.
#[derive(Debug)]
pub struct FloodGuard {
    /// The registry of now (a registry switch changes intervals and adds devices).
    registry: devices::Current,
    factor: f64,
    burst: f64,
    buckets: HashMap<DeviceIdx, Buckets>,
    /// Readings older than their device's latest (a backlog or a resend), per (device, event hour).
    older: HashMap<(DeviceIdx, i64), u32>,
    /// The latest event hour seen, for pruning `older`.
    latest_hour: i64,
}

/// What a checkpoint keeps of a [`FloodGuard`]: its buckets.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct SavedFlood {
    buckets: Vec<(DeviceIdx, Buckets)>,
    older: Vec<((DeviceIdx, i64), u32)>,
    latest_hour: i64,
}

/// Event hours of older readings remembered: `max_age` (7 days) and a day.
const OLDER_HOURS: i64 = 8 * 24;

impl FloodGuard {
    /// A device may send `factor` times as often as its interval says, with bursts of `burst` messages
    /// (in event time) and of a day and a half of its reports, at least `burst` (in arrival time).
    pub fn new(registry: impl Into<devices::Current>, factor: f64, burst: u32) -> FloodGuard {
        FloodGuard {
            registry: registry.into(),
            factor,
            burst: f64::from(burst.max(1)),
            buckets: HashMap::new(),
            older: HashMap::new(),
            latest_hour: i64::MIN,
        }
    }

    /// The buckets, for a checkpoint.
    pub fn save(&self) -> SavedFlood {
        SavedFlood {
            buckets: self.buckets.iter().map(|(d, b)| (*d, *b)).collect(),
            older: self.older.iter().map(|(k, n)| (*k, *n)).collect(),
            latest_hour: self.latest_hour,
        }
    }

    /// Takes back the buckets a checkpoint kept (devices no longer in the registry are left out).
    pub fn resume(&mut self, saved: SavedFlood) {
        let devices = self.registry.get().devices.len();
        let known = |d: &DeviceIdx| (d.0 as usize) < devices;
        self.buckets = saved
            .buckets
            .into_iter()
            .filter(|(d, _)| known(d))
            .collect();
        self.older = saved
            .older
            .into_iter()
            .filter(|((d, _), _)| known(d))
            .collect();
        self.latest_hour = saved.latest_hour;
    }

    /// Whether the device may send one more message measured and received at `now_ms`:
    /// [`FloodGuard::allow_at`] with the same event and arrival time.
    pub fn allow(&mut self, device: DeviceIdx, now_ms: i64) -> bool {
        self.allow_at(device, now_ms, now_ms)
    }

    /// Whether the device may send one more message with event time `time_ms`, received at
    /// `received_ms`. A message that is refused draws on neither limit.
    ///
    /// In event time: a device flushing its backlog after an outage sends fast, but its
    /// readings are as far apart as when they were measured. A reading older than the
    /// device's latest (it resends, or flushes a backlog after newer readings) does not
    /// draw on the event-time bucket: it is counted against its own event hour, which may
    /// hold `factor` times the hour's reports plus a burst.
    ///
    /// In arrival time: a bucket of a day and a half of the device's reports (at least
    /// `burst`), refilled at `factor` times its report rate, so that timestamps made up to
    /// look far apart cannot carry an unbounded flood.
    pub fn allow_at(&mut self, device: DeviceIdx, time_ms: i64, received_ms: i64) -> bool {
        self.admit(device, time_ms, received_ms).is_ok()
    }

    /// Capacity of the arrival-time bucket of a device reporting every `interval_s`.
    fn arrival_capacity(&self, interval_s: f64) -> f64 {
        (BACKLOG_DAYS * 86_400.0 / interval_s).max(self.burst)
    }

    fn admit(&mut self, device: DeviceIdx, time_ms: i64, received_ms: i64) -> Result<(), Refused> {
        let interval = f64::from(self.registry.get().device(device).interval_s.max(1));
        let arrival_rate_per_ms = self.factor / (interval * 1000.0);
        let backlog = received_ms - time_ms > BACKLOG_AFTER_MS;
        let factor = if backlog { BACKLOG_FACTOR } else { self.factor };
        let rate_per_ms = factor / (interval * 1000.0);
        let burst = self.burst;
        let arrival_cap = self.arrival_capacity(interval);
        let hour = time_ms.div_euclid(3_600_000);
        let older = self
            .buckets
            .get(&device)
            .is_some_and(|b| time_ms < b.event_at);
        if !older && hour > self.latest_hour {
            self.latest_hour = hour;
            if self.older.len() > 4096 + 2 * self.buckets.len() {
                let keep_from = hour - OLDER_HOURS;
                self.older.retain(|k, _| k.1 >= keep_from);
            }
        }
        let b = self.buckets.entry(device).or_insert(Buckets {
            event: burst,
            event_at: time_ms,
            arrival: arrival_cap,
            arrival_at: received_ms,
        });
        let since_arrival = (received_ms - b.arrival_at).max(0) as f64;
        b.arrival = (b.arrival + since_arrival * arrival_rate_per_ms).min(arrival_cap);
        b.arrival_at = received_ms.max(b.arrival_at);
        let arrival_ok = b.arrival >= 1.0;
        if older {
            let cap = (factor * 3600.0 / interval + burst) as u32;
            let n = self.older.entry((device, hour)).or_insert(0);
            if *n >= cap {
                return Err(Refused::EventTime);
            }
            if !arrival_ok {
                return Err(Refused::ArrivalTime);
            }
            *n += 1;
            b.arrival -= 1.0;
            return Ok(());
        }
        let since_event = (time_ms - b.event_at).max(0) as f64;
        b.event = (b.event + since_event * rate_per_ms).min(burst);
        b.event_at = time_ms.max(b.event_at);
        if b.event < 1.0 {
            return Err(Refused::EventTime);
        }
        if !arrival_ok {
            return Err(Refused::ArrivalTime);
        }
        b.event -= 1.0;
        b.arrival -= 1.0;
        Ok(())
    }

    /// Passes a reading, or turns it into a `flooding` rejection (payload rebuilt from the reading).
    /// Event time is the reading's `time_ms`, arrival time its `received_ms`.
    pub fn check(
        &mut self,
        reading: Reading,
        topic: &str,
        payload: &[u8],
    ) -> Result<Reading, Rejection> {
        let refused = match self.admit(reading.device, reading.time_ms, reading.received_ms) {
            Ok(()) => return Ok(reading),
            Err(refused) => refused,
        };
        let registry = self.registry.get();
        let device = registry.device(reading.device);
        let interval = device.interval_s;
        let detail = match refused {
            Refused::EventTime if reading.received_ms - reading.time_ms > BACKLOG_AFTER_MS => {
                format!(
                    "device {} sends a backlog more than {BACKLOG_FACTOR} times as dense as its \
                     report interval of {interval} s",
                    device.id
                )
            }
            Refused::EventTime => format!(
                "device {} sends more than {} times its report interval of {interval} s",
                device.id, self.factor
            ),
            Refused::ArrivalTime => format!(
                "device {} sent more than {} messages at once (a week of reports at its \
                 interval of {interval} s) and goes on faster than {} times its report rate",
                device.id,
                self.arrival_capacity(f64::from(interval.max(1))) as u64,
                self.factor
            ),
        };
        Err(Rejection {
            reason: Reason::Flooding,
            detail,
            topic: topic.to_owned(),
            payload: payload.to_vec(),
            received_ms: reading.received_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devices::Registry;
    use std::path::Path;
    use std::sync::Arc;

    fn guard() -> FloodGuard {
        let reg = Registry::from_toml(
            "[[site]]\nid = \"s\"\nname = \"社区\"\n[[site.room]]\nid = \"r\"\nname = \"厅\"\ncapacity = 5\narea_m2 = 20\n\
             [[site.device]]\nid = \"d\"\nroom = \"r\"\nkind = \"count\"\ninterval_s = 60\n\
             [[site.device]]\nid = \"e\"\nroom = \"r\"\nkind = \"presence\"\ninterval_s = 60\n",
            Path::new("t.toml"),
        )
        .expect("registry");
        FloodGuard::new(Arc::new(reg), 10.0, 20)
    }

    #[test]
    fn a_flooding_device_is_limited_and_others_are_not() {
        let mut g = guard();
        let (d, e) = (DeviceIdx(0), DeviceIdx(1));
        // A burst of 20 passes, the 21st in the same instant does not.
        assert!((0..20).all(|_| g.allow(d, 0)));
        assert!(!g.allow(d, 0));
        // The other device is not slowed.
        assert!(g.allow(e, 0));
        // Refill: 10 messages a minute (10 x the 60 s interval): one every 6 s.
        assert!(!g.allow(d, 5_999));
        assert!(g.allow(d, 6_000));
        assert!(!g.allow(d, 6_000));
        // Older readings (a resend, a backlog) do not draw on the bucket: their own hour
        // may hold 10 x 60 reports + 20.
        assert!((0..620).all(|i| g.allow(d, -3_600_000 + i)));
        assert!(!g.allow(d, -3_600_000), "that hour is full");
        assert!(g.allow(d, -7_200_000), "another hour is not");
        assert!(!g.allow(d, 6_000), "the bucket is as it was");
        // Sending at its own interval never trips the limit.
        let mut g = guard();
        assert!((0..1000).all(|i| g.allow(d, i * 60_000)));
    }

    const NOW: i64 = 1_795_396_500_000;

    /// Regression: timestamps back-dated 6 s apart (10 x the 60 s interval) let 50,000
    /// messages of one device through at full speed; the event-time limit alone never ran dry.
    #[test]
    fn back_dated_flood_is_limited_in_arrival_time() {
        let mut g = guard();
        let d = DeviceIdx(0);
        let start = NOW - 7 * 24 * 3_600_000 + 60_000;
        // 50,000 messages within 5 s of arrival (10 a millisecond).
        let passed = (0..50_000i64)
            .filter(|i| g.allow_at(d, start + i * 6_000, NOW + i / 10))
            .count();
        // A backlog at 6 s spacing: twice the 60 s rate lets one in five through
        // (and the burst of 20), all within the week of reports (10,080) the arrival
        // bucket holds.
        assert!((9_990..=10_030).contains(&passed), "{passed} passed");
        // The same flood back-dated backwards (every reading older than the latest).
        let mut g = guard();
        assert!(g.allow_at(d, NOW, NOW));
        let passed = (1..=50_000i64)
            .filter(|i| g.allow_at(d, NOW - i * 6_000, NOW + i / 10))
            .count();
        // Each older hour holds 2 x 60 + 20 readings; the arrival bucket stops the rest.
        assert!(passed <= 10_081, "{passed} passed");
        // A flooding rejection says which limit it hit.
        let rej = g
            .check(
                reading(d, NOW - 3_600_000, NOW + 5_000),
                "doorstep/v1/s/d",
                b"{}",
            )
            .expect_err("still flooding");
        assert_eq!(rej.reason, Reason::Flooding);
        assert!(rej.detail.contains("backlog"), "{}", rej.detail);
        assert_eq!(rej.received_ms, NOW + 5_000);
    }

    fn reading(device: DeviceIdx, time_ms: i64, received_ms: i64) -> Reading {
        Reading {
            device,
            room: devices::RoomIdx(0),
            time_ms,
            received_ms,
            seq: None,
            clock_skew: false,
            value: devices::Value::Count(1),
        }
    }

    #[test]
    fn a_one_day_backlog_flushed_at_once_passes_whole() {
        let d = DeviceIdx(0);
        let day = 1_440i64;
        let outage_start = NOW - day * 60_000;
        // Live at its interval for a day before the outage.
        let live = |g: &mut FloodGuard| {
            (1..=day).all(|i| {
                let t = outage_start - (day - i) * 60_000 - 60_000;
                g.allow_at(d, t, t + 300)
            })
        };
        // Back: the backlog of the day comes first, within 2 s, then live again.
        let mut g = guard();
        assert!(live(&mut g));
        let backlog = (0..day)
            .filter(|i| {
                let r = reading(d, outage_start + i * 60_000, NOW + i * 2_000 / day);
                g.check(r, "doorstep/v1/s/d", b"{}").is_ok()
            })
            .count();
        assert_eq!(backlog, 1_440, "the whole day's backlog passes");
        assert!(g.allow_at(d, NOW + 2_000, NOW + 2_100), "and live goes on");
        // Back: a live reading first, then the backlog (older than the latest).
        let mut g = guard();
        assert!(live(&mut g));
        assert!(g.allow_at(d, NOW, NOW));
        let backlog = (0..day)
            .filter(|i| g.allow_at(d, outage_start + i * 60_000, NOW + i * 2_000 / day))
            .count();
        assert_eq!(backlog, 1_440, "the whole day's backlog passes");
        assert!(
            g.allow_at(d, NOW + 60_000, NOW + 60_000),
            "and live goes on"
        );
    }

    #[test]
    fn a_refused_message_draws_on_neither_limit() {
        let mut g = guard();
        let d = DeviceIdx(0);
        // Drain the arrival bucket with well-spaced event times.
        let sent = (0..12_000i64)
            .filter(|i| g.allow_at(d, i * 6_000, 0))
            .count();
        assert_eq!(sent, 10_080, "a week of reports at once");
        // The event bucket is still full: 20 readings in one event instant pass once
        // arrival refills (10 a minute: 2 minutes for 20).
        let t = 12_000 * 6_000;
        assert!(!g.allow_at(d, t, 0));
        assert!((0..20).all(|_| g.allow_at(d, t, 120_000)));
        assert!(!g.allow_at(d, t, 10_000_000), "event bucket empty");
    }
}
