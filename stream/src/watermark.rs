//! The event-time watermark that drives the dataflow's input frontier.
//!
//! It is the event time the devices have reached minus the allowed lateness;
//! when no reading has arrived for `idle_after` of wall time, it also follows
//! the clock (clock time minus the allowed lateness), so windows close while
//! devices are quiet. It never goes back.
//!
//! "The event time the devices have reached" is each device's latest reading,
//! leaving out the 2 % of devices furthest ahead (at least one, once three
//! devices have reported; never half of them): a few devices whose clocks run
//! ahead cannot push every other reading onto the correction path. With one
//! or two devices it is the latest reading.

use devices::DeviceIdx;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Tracks the watermark, in Unix seconds.
#[derive(Debug, Clone)]
pub struct Watermark {
    lateness: i64,
    idle_after: Duration,
    last_arrival: Instant,
    current: Option<i64>,
    /// Each device's latest event time.
    latest: HashMap<DeviceIdx, i64>,
    /// How many devices stand at each latest time.
    times: BTreeMap<i64, u32>,
}

/// What a checkpoint keeps of the watermark.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct SavedWatermark {
    current: Option<i64>,
    latest: Vec<(DeviceIdx, i64)>,
}

impl Watermark {
    /// What a checkpoint keeps.
    pub fn save(&self) -> SavedWatermark {
        SavedWatermark {
            current: self.current,
            latest: self.latest.iter().map(|(d, t)| (*d, *t)).collect(),
        }
    }

    /// Takes back what a checkpoint kept.
    pub fn resume(&mut self, saved: SavedWatermark) {
        self.current = saved.current;
        for (d, t) in saved.latest {
            self.observe_device(d, t);
        }
    }

    /// A watermark with `lateness` seconds of allowed lateness.
    pub fn new(lateness: i64, idle_after: Duration) -> Watermark {
        Watermark {
            lateness,
            idle_after,
            last_arrival: Instant::now(),
            current: None,
            latest: HashMap::new(),
            times: BTreeMap::new(),
        }
    }

    /// The current watermark, once there is one.
    pub fn get(&self) -> Option<i64> {
        self.current
    }

    /// Whether a reading at `t` is behind the watermark (late).
    pub fn is_late(&self, t: i64) -> bool {
        self.current.is_some_and(|w| t < w)
    }

    /// Notes a reading of `device` at event time `t` (Unix s); [`Watermark::settle`] after a batch.
    pub fn observe_device(&mut self, device: DeviceIdx, t: i64) {
        let previous = self.latest.get(&device).copied();
        if previous.is_some_and(|p| p >= t) {
            return;
        }
        self.latest.insert(device, t);
        if let Some(p) = previous
            && let Some(n) = self.times.get_mut(&p)
        {
            *n -= 1;
            if *n == 0 {
                self.times.remove(&p);
            }
        }
        *self.times.entry(t).or_insert(0) += 1;
    }

    /// Readings arrived now: raises the watermark to where the devices have reached.
    pub fn settle(&mut self) {
        self.last_arrival = Instant::now();
        if let Some(reached) = self.reached() {
            self.raise(reached - self.lateness);
        }
    }

    /// The latest event time of the devices, leaving out those furthest ahead.
    fn reached(&self) -> Option<i64> {
        let n = self.latest.len();
        let skip = if n < 3 {
            0
        } else {
            (n * 2).div_ceil(100).min((n - 1) / 2)
        };
        let mut passed = 0usize;
        for (t, count) in self.times.iter().rev() {
            passed += *count as usize;
            if passed > skip {
                return Some(*t);
            }
        }
        None
    }

    /// Notes readings that arrived now with largest event time `max_t`, from one source.
    pub fn observe(&mut self, max_t: i64) {
        self.observe_device(DeviceIdx(u32::MAX), max_t);
        self.settle();
    }

    /// Follows the clock (`clock_now` in Unix seconds) if devices have been quiet.
    pub fn tick(&mut self, clock_now: i64) {
        if self.last_arrival.elapsed() >= self.idle_after {
            self.raise(clock_now - self.lateness);
        }
    }

    /// Raises the watermark to `to` (never lowers it).
    pub fn raise_to(&mut self, to: i64) {
        self.raise(to);
    }

    fn raise(&mut self, to: i64) {
        self.current = Some(self.current.map_or(to, |c| c.max(to)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_events_and_never_goes_back() {
        let mut w = Watermark::new(120, Duration::from_secs(3600));
        assert_eq!(w.get(), None);
        w.observe(1000);
        assert_eq!(w.get(), Some(880));
        w.observe(900);
        assert_eq!(w.get(), Some(880));
        assert!(w.is_late(879) && !w.is_late(880));
        w.tick(5000);
        assert_eq!(w.get(), Some(880), "not idle yet");
    }

    #[test]
    fn a_few_devices_ahead_do_not_push_it() {
        let mut w = Watermark::new(120, Duration::from_secs(3600));
        // 99 devices at 10,000 s, one 240 s ahead.
        for d in 0..99 {
            w.observe_device(DeviceIdx(d), 10_000);
        }
        w.observe_device(DeviceIdx(99), 10_240);
        w.settle();
        assert_eq!(w.get(), Some(9_880), "the device ahead is left out");
        // Three devices ahead of 100 are more than 2 %: the third counts.
        w.observe_device(DeviceIdx(98), 10_300);
        w.observe_device(DeviceIdx(97), 10_200);
        w.settle();
        assert_eq!(w.get(), Some(10_080));
        // Two devices: the latest reading.
        let mut w = Watermark::new(120, Duration::from_secs(3600));
        w.observe_device(DeviceIdx(0), 1_000);
        w.observe_device(DeviceIdx(1), 5_000);
        w.observe_device(DeviceIdx(1), 4_000);
        w.settle();
        assert_eq!(w.get(), Some(4_880));
    }

    #[test]
    fn follows_the_clock_when_quiet() {
        let mut w = Watermark::new(120, Duration::ZERO);
        w.tick(5000);
        assert_eq!(w.get(), Some(4880));
        w.observe(100);
        assert_eq!(w.get(), Some(4880));
    }
}
