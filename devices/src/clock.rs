//! Wall clock or simulated clock, shared by the simulator and the pipeline.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A clock that reads Unix milliseconds, running `speed` times faster than real time from `origin_ms`.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    real_origin: Instant,
    origin_ms: i64,
    speed: f64,
}

fn system_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Clock {
    /// The real time.
    pub fn wall() -> Clock {
        Clock::simulated(system_now_ms(), 1.0)
    }

    /// A clock that starts at `origin_ms` now and runs `speed` times real time.
    pub fn simulated(origin_ms: i64, speed: f64) -> Clock {
        Clock {
            real_origin: Instant::now(),
            origin_ms,
            speed: if speed.is_finite() && speed > 0.0 {
                speed
            } else {
                1.0
            },
        }
    }

    /// Current time, Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        let real = self.real_origin.elapsed().as_secs_f64() * 1000.0;
        self.origin_ms + (real * self.speed) as i64
    }

    /// How many times faster than real time it runs.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Real time to wait for `sim_ms` of clock time to pass.
    pub fn real_duration(&self, sim_ms: i64) -> std::time::Duration {
        std::time::Duration::from_secs_f64((sim_ms.max(0) as f64 / 1000.0) / self.speed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_clock_runs_faster() {
        let c = Clock::simulated(1_000_000, 1000.0);
        std::thread::sleep(std::time::Duration::from_millis(20));
        let elapsed = c.now_ms() - 1_000_000;
        assert!(elapsed >= 20_000, "{elapsed}");
        assert_eq!(
            c.real_duration(60_000),
            std::time::Duration::from_millis(60)
        );
    }
}
