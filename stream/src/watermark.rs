//! The event-time watermark that drives the dataflow's input frontier.
//!
//! It is the largest event time seen minus the allowed lateness; when no
//! reading has arrived for `idle_after` of wall time, it also follows the
//! clock (clock time minus the allowed lateness), so windows close while
//! devices are quiet. It never goes back.

use std::time::{Duration, Instant};

/// Tracks the watermark, in Unix seconds.
#[derive(Debug, Clone)]
pub struct Watermark {
    lateness: i64,
    idle_after: Duration,
    last_arrival: Instant,
    max_event: Option<i64>,
    current: Option<i64>,
}

impl Watermark {
    /// A watermark with `lateness` seconds of allowed lateness.
    pub fn new(lateness: i64, idle_after: Duration) -> Watermark {
        Watermark {
            lateness,
            idle_after,
            last_arrival: Instant::now(),
            max_event: None,
            current: None,
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

    /// Notes readings that arrived now with largest event time `max_t`.
    pub fn observe(&mut self, max_t: i64) {
        self.last_arrival = Instant::now();
        self.max_event = Some(self.max_event.map_or(max_t, |m| m.max(max_t)));
        self.raise(max_t - self.lateness);
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
    fn follows_the_clock_when_quiet() {
        let mut w = Watermark::new(120, Duration::ZERO);
        w.tick(5000);
        assert_eq!(w.get(), Some(4880));
        w.observe(100);
        assert_eq!(w.get(), Some(4880));
    }
}
