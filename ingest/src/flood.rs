//! Flood limiting: a device whose readings come far more often than its report
//! interval (in event time) is limited, so that it cannot crowd out the others. What it sends
//! over the limit is rejected as `flooding` and kept in `quarantine`.

use devices::{DeviceIdx, Reading, Reason, Registry, Rejection};
use std::collections::HashMap;
use std::sync::Arc;

/// A token bucket per device, refilled at `factor` times the device's report rate.
#[derive(Debug)]
pub struct FloodGuard {
    registry: Arc<Registry>,
    factor: f64,
    burst: f64,
    buckets: HashMap<DeviceIdx, (f64, i64)>,
    /// Readings older than their device's latest (a backlog or a resend), per (device, event hour).
    older: HashMap<(DeviceIdx, i64), u32>,
    /// The latest event hour seen, for pruning `older`.
    latest_hour: i64,
}

/// Event hours of older readings remembered: `max_age` (7 days) and a day.
const OLDER_HOURS: i64 = 8 * 24;

impl FloodGuard {
    /// A device may send `factor` times as often as its interval says, with bursts of `burst` messages.
    pub fn new(registry: Arc<Registry>, factor: f64, burst: u32) -> FloodGuard {
        FloodGuard {
            registry,
            factor,
            burst: f64::from(burst.max(1)),
            buckets: HashMap::new(),
            older: HashMap::new(),
            latest_hour: i64::MIN,
        }
    }

    /// Whether the device may send one more message with event time `now_ms`. Event
    /// time, not arrival: a device flushing its backlog after an outage sends fast, but
    /// its readings are as far apart as when they were measured.
    ///
    /// A reading older than the device's latest (it resends, or flushes a backlog
    /// after newer readings) does not draw on the bucket: it is counted against
    /// its own event hour, which may hold `factor` times the hour's reports plus a burst.
    pub fn allow(&mut self, device: DeviceIdx, now_ms: i64) -> bool {
        let interval = f64::from(self.registry.device(device).interval_s.max(1));
        let rate_per_ms = self.factor / (interval * 1000.0);
        let burst = self.burst;
        let hour = now_ms.div_euclid(3_600_000);
        if self.buckets.get(&device).is_some_and(|b| now_ms < b.1) {
            let cap = (self.factor * 3600.0 / interval + burst) as u32;
            let n = self.older.entry((device, hour)).or_insert(0);
            if *n >= cap {
                return false;
            }
            *n += 1;
            return true;
        }
        if hour > self.latest_hour {
            self.latest_hour = hour;
            if self.older.len() > 4096 + 2 * self.buckets.len() {
                let keep_from = hour - OLDER_HOURS;
                self.older.retain(|k, _| k.1 >= keep_from);
            }
        }
        let (tokens, at) = self.buckets.entry(device).or_insert((burst, now_ms));
        let elapsed = (now_ms - *at).max(0) as f64;
        *tokens = (*tokens + elapsed * rate_per_ms).min(burst);
        *at = now_ms.max(*at);
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Passes a reading, or turns it into a `flooding` rejection (payload rebuilt from the reading).
    pub fn check(
        &mut self,
        reading: Reading,
        topic: &str,
        payload: &[u8],
    ) -> Result<Reading, Rejection> {
        if self.allow(reading.device, reading.time_ms) {
            return Ok(reading);
        }
        let interval = self.registry.device(reading.device).interval_s;
        Err(Rejection {
            reason: Reason::Flooding,
            detail: format!(
                "device {} sends more than {} times its report interval of {interval} s",
                self.registry.device(reading.device).id,
                self.factor
            ),
            topic: topic.to_owned(),
            payload: payload.to_vec(),
            received_ms: reading.received_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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
}
