//! One room followed through time: its signal feeding consecutive hour windows.

use crate::signal::{RoomSignal, SignalSink};
use crate::window::{RoomShape, WindowAcc, hour_end, hour_start};
use chrono_tz::Tz;
use devices::{Reading, Registry, RoomIdx, RoomWindow, Schedule, VisitsMethod};

/// What a room's windows need from the registry.
#[derive(Debug, Clone)]
struct RoomInfo {
    shape: RoomShape,
    tz: Tz,
    schedule: Schedule,
}

impl RoomInfo {
    fn window(&self, start: i64, prev: Option<u32>) -> WindowAcc {
        let end = hour_end(self.tz, start);
        WindowAcc::new(
            &self.shape,
            start,
            end,
            self.schedule.open_spans(self.tz, start, end),
            prev,
        )
    }
}

/// Splits the signal at window boundaries and keeps the finished rows.
#[derive(Debug, Clone)]
struct Windows {
    info: RoomInfo,
    acc: WindowAcc,
    done: Vec<RoomWindow>,
}

impl Windows {
    fn roll(&mut self) {
        let next = self.info.window(self.acc.end(), self.acc.last_value());
        let old = std::mem::replace(&mut self.acc, next);
        self.done.push(old.finish());
    }
}

impl SignalSink for Windows {
    fn segment(&mut self, mut a: i64, b: i64, value: Option<u32>) {
        while a < b {
            let e = b.min(self.acc.end());
            self.acc.segment(a, e, value);
            a = e;
            if a >= self.acc.end() {
                self.roll();
            }
        }
    }

    fn door_in(&mut self, t: i64, inn: u64) {
        while t >= self.acc.end() {
            self.roll();
        }
        self.acc.door_in(t, inn);
    }
}

/// A room's signal and its hour windows.
#[derive(Debug, Clone)]
pub struct RoomTracker {
    signal: RoomSignal,
    windows: Windows,
}

impl RoomTracker {
    /// Follows `room` from `origin` (Unix seconds); the hour containing it is the first window.
    pub fn new(registry: &Registry, room: RoomIdx, origin: i64, reset_hour: u32) -> RoomTracker {
        let r = registry.room(room);
        let info = RoomInfo {
            shape: RoomShape {
                room,
                capacity: r.capacity,
                presence_only: r.sensors.presence_only(),
                method: if r.sensors.door {
                    VisitsMethod::Door
                } else {
                    VisitsMethod::Transitions
                },
            },
            tz: registry.site_of(room).timezone,
            schedule: r.schedule.clone(),
        };
        let acc = info.window(hour_start(info.tz, origin), None);
        RoomTracker {
            signal: RoomSignal::new(registry, room, origin, reset_hour),
            windows: Windows {
                info,
                acc,
                done: Vec::new(),
            },
        }
    }

    /// End of the window now open.
    pub fn window_end(&self) -> i64 {
        self.windows.acc.end()
    }

    /// Applies a reading in event-time order.
    pub fn apply(&mut self, reading: &Reading) {
        self.signal.apply(reading, &mut self.windows);
    }

    /// Integrates the signal up to `until`, closing the windows that end by then.
    pub fn advance(&mut self, until: i64) {
        self.signal.advance(until, &mut self.windows);
    }

    /// Takes the windows closed so far.
    pub fn take_closed(&mut self) -> std::vec::Drain<'_, RoomWindow> {
        self.windows.done.drain(..)
    }
}
