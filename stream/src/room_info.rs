//! What a room's windows take from the registry: its shape, timezone, reset
//! hour, and its schedules and capacities over time (one per registry version
//! that changed them; a window takes the one holding at its start).

use crate::local_time::{day_end, hour_end};
use crate::window::{RoomShape, WindowAcc};
use chrono_tz::Tz;
use devices::{Category, Registry, RoomIdx, Schedule, VisitsMethod, WindowKind};
use std::sync::Arc;

/// What a room's windows need from the registry.
#[derive(Debug, Clone)]
pub(crate) struct RoomInfo {
    pub(crate) shape: RoomShape,
    pub(crate) tz: Tz,
    /// The room's schedules and capacities, each with the first second it no
    /// longer holds (the last: `i64::MAX`); shared by the room's snapshots. A
    /// window takes the one holding at its start.
    eras: Arc<[(i64, Schedule, u32)]>,
    pub(crate) reset_hour: u32,
}

/// Stands in for a room's info in a tracker read back from a checkpoint, until
/// [`RoomTracker::from_form`] puts the registry's back.
impl Default for RoomInfo {
    fn default() -> Self {
        RoomInfo {
            shape: RoomShape {
                room: RoomIdx(0),
                capacity: 0,
                presence_only: false,
                method: VisitsMethod::Transitions,
            },
            tz: chrono_tz::UTC,
            eras: Arc::new([(i64::MAX, Schedule::default(), 0)]),
            reset_hour: 0,
        }
    }
}

impl RoomInfo {
    /// What the registry says of `room`.
    pub(crate) fn of(registry: &Registry, room: RoomIdx, reset_hour: u32) -> RoomInfo {
        let r = registry.room(room);
        let secs = |ms: i64| ms.div_euclid(1000);
        let eras: Vec<(i64, Schedule, u32)> = r
            .earlier
            .iter()
            .map(|e| (secs(e.until_ms), e.schedule.clone(), e.capacity))
            .chain([(i64::MAX, r.schedule.clone(), r.capacity)])
            .collect();
        RoomInfo {
            shape: RoomShape {
                room,
                capacity: r.capacity,
                presence_only: r.sensors.presence_only(),
                method: if r.sensors.door {
                    VisitsMethod::Door
                } else if r.sensors.count {
                    VisitsMethod::Increments
                } else {
                    VisitsMethod::Transitions
                },
            },
            tz: registry.site_of(room).timezone,
            eras: eras.into(),
            reset_hour,
        }
    }

    /// The schedule and the shape (with its capacity) holding at `t`.
    fn at(&self, t: i64) -> (&Schedule, RoomShape) {
        let (_, schedule, capacity) = self
            .eras
            .iter()
            .find(|(until, _, _)| t < *until)
            .unwrap_or(&self.eras[self.eras.len() - 1]);
        let shape = RoomShape {
            capacity: *capacity,
            ..self.shape
        };
        (schedule, shape)
    }

    pub(crate) fn hour(&self, start: i64, prev: Option<u32>) -> WindowAcc {
        let end = hour_end(self.tz, start);
        let (schedule, shape) = self.at(start);
        let spans = schedule.open_spans(self.tz, start, end);
        WindowAcc::new(&shape, WindowKind::Hour, (start, end), spans, prev)
    }

    /// The day window starting at `start` and one slot window per category open that day.
    pub(crate) fn day(&self, start: i64, prev: Option<u32>) -> Vec<WindowAcc> {
        let end = day_end(self.tz, start);
        let (schedule, shape) = self.at(start);
        let spans = schedule.open_spans(self.tz, start, end);
        let mut categories: Vec<Category> = spans.iter().map(|s| s.category).collect();
        categories.sort();
        categories.dedup();
        let mut accs = Vec::with_capacity(1 + categories.len());
        for c in categories {
            let mine = spans.iter().filter(|s| s.category == c).copied().collect();
            accs.push(WindowAcc::new(
                &shape,
                WindowKind::SlotDay(c),
                (start, end),
                mine,
                prev,
            ));
        }
        accs.insert(
            0,
            WindowAcc::new(&shape, WindowKind::Day, (start, end), spans, prev),
        );
        accs
    }
}
