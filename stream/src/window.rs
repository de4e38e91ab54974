//! Accumulates the occupancy signal of one room into one window (METRICS.md room metrics).

use crate::signal::SignalSink;
use devices::{OpenSpan, RoomIdx, RoomWindow, VisitsMethod, WindowKind};

/// What a window needs to know about its room.
#[derive(Debug, Clone, Copy)]
pub struct RoomShape {
    /// The room.
    pub room: RoomIdx,
    /// Its capacity.
    pub capacity: u32,
    /// Watched by presence devices only (capacity metrics are null).
    pub presence_only: bool,
    /// How visits are counted.
    pub method: VisitsMethod,
}

/// The running sums of one room over `[start, end)`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct WindowAcc {
    row: RoomWindow,
    spans: Vec<OpenSpan>,
    /// Capacity for `over_capacity_seconds` (also counted for presence-only rooms, then hidden).
    capacity: u32,
    /// n just before the next segment, for empty-to-occupied transitions.
    prev: Option<u32>,
    /// Current stretch of n = 0: (span index, end of stretch, length).
    idle_run: Option<(usize, i64, u32)>,
}

impl WindowAcc {
    /// A window with its opening spans; `prev` is n just before `start`.
    pub fn new(
        shape: &RoomShape,
        kind: WindowKind,
        (start, end): (i64, i64),
        spans: Vec<OpenSpan>,
        prev: Option<u32>,
    ) -> WindowAcc {
        let open: i64 = spans.iter().map(|s| s.end - s.start).sum();
        WindowAcc {
            row: RoomWindow {
                kind,
                room: shape.room,
                start,
                end,
                open_seconds: open as u32,
                measured_seconds: 0,
                occupied_seconds: 0,
                person_seconds: 0,
                peak_occupancy: None,
                visits: 0,
                visits_method: shape.method,
                longest_idle_seconds: 0,
                after_hours_occupied_seconds: 0,
                over_capacity_seconds: 0,
                capacity: (!shape.presence_only).then_some(shape.capacity),
                door_residual: None,
                revision: 0,
            },
            spans,
            capacity: shape.capacity,
            prev,
            idle_run: None,
        }
    }

    /// Window end (exclusive).
    pub fn end(&self) -> i64 {
        self.row.end
    }

    /// n at the end of what has been added so far.
    pub fn last_value(&self) -> Option<u32> {
        self.prev
    }

    /// `(start, end)` of the window.
    pub fn bounds(&self) -> (i64, i64) {
        (self.row.start, self.row.end)
    }

    /// Opening seconds of this window within `[a, b)`.
    pub fn open_within(&self, a: i64, b: i64) -> u32 {
        self.spans
            .iter()
            .map(|s| (s.end.min(b) - s.start.max(a)).max(0) as u32)
            .sum()
    }

    /// Whether `t` is inside this window's opening time.
    pub fn is_open(&self, t: i64) -> bool {
        self.spans.iter().any(|s| s.start <= t && t < s.end)
    }

    /// The row so far.
    pub fn row_mut(&mut self) -> &mut RoomWindow {
        &mut self.row
    }

    /// The finished row.
    pub fn finish(mut self) -> RoomWindow {
        if matches!(self.row.kind, WindowKind::SlotDay(_)) {
            // A slot has no "after hours" of its own: outside its O the room may host another slot.
            self.row.after_hours_occupied_seconds = 0;
        }
        self.row
    }

    fn open_piece(&mut self, span: usize, x: i64, y: i64, v: Option<u32>) {
        let len = (y - x) as u32;
        let Some(n) = v else {
            self.idle_run = None;
            return;
        };
        let r = &mut self.row;
        r.measured_seconds += len;
        r.person_seconds += u64::from(n) * u64::from(len);
        r.peak_occupancy = Some(r.peak_occupancy.map_or(n, |p| p.max(n)));
        if n >= 1 {
            r.occupied_seconds += len;
            self.idle_run = None;
        } else {
            let run = match self.idle_run {
                Some((s, end, l)) if s == span && end == x => l + len,
                _ => len,
            };
            self.idle_run = Some((span, y, run));
            r.longest_idle_seconds = r.longest_idle_seconds.max(run);
        }
        if n > self.capacity {
            r.over_capacity_seconds += len;
        }
    }
}

impl SignalSink for WindowAcc {
    fn segment(&mut self, a: i64, b: i64, v: Option<u32>) {
        debug_assert!(self.row.start <= a && b <= self.row.end && a < b);
        let open_at_a = self.spans.iter().any(|s| s.start <= a && a < s.end);
        if open_at_a && let (Some(before), Some(now)) = (self.prev, v) {
            match self.row.visits_method {
                VisitsMethod::Transitions if before == 0 && now >= 1 => self.row.visits += 1,
                VisitsMethod::Increments => {
                    self.row.visits += u64::from(now.saturating_sub(before))
                }
                _ => {}
            }
        }
        let mut cursor = a;
        for i in 0..self.spans.len() {
            let s = self.spans[i];
            let (x, y) = (s.start.max(a), s.end.min(b));
            if x >= y {
                continue;
            }
            if x > cursor && v.is_some_and(|n| n >= 1) {
                self.row.after_hours_occupied_seconds += (x - cursor) as u32;
            }
            self.open_piece(i, x, y, v);
            cursor = y;
        }
        if b > cursor && v.is_some_and(|n| n >= 1) {
            self.row.after_hours_occupied_seconds += (b - cursor) as u32;
        }
        self.prev = v;
    }

    fn door_in(&mut self, t: i64, inn: u64) {
        let counts = match self.row.kind {
            WindowKind::SlotDay(_) => self.spans.iter().any(|s| s.start <= t && t < s.end),
            _ => true,
        };
        if self.row.visits_method == VisitsMethod::Door && counts {
            self.row.visits += inn;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devices::Category;

    fn span(start: i64, end: i64, opening: u16) -> OpenSpan {
        OpenSpan {
            start,
            end,
            opening,
            category: Category::Culture,
        }
    }

    #[test]
    fn sums_an_hour_by_hand() {
        // Open 0-1800 (opening 0) and 2400-3600 (opening 1) of a 3600 s window, capacity 2.
        let shape = RoomShape {
            room: RoomIdx(0),
            capacity: 2,
            presence_only: false,
            method: VisitsMethod::Transitions,
        };
        let mut w = WindowAcc::new(
            &shape,
            WindowKind::Hour,
            (0, 3600),
            vec![span(0, 1800, 0), span(2400, 3600, 1)],
            Some(0),
        );
        w.segment(0, 600, Some(0)); // idle 600
        w.segment(600, 900, Some(3)); // transition; 300 s over capacity
        w.segment(900, 1200, None); // unknown
        w.segment(1200, 2000, Some(0)); // idle 600 open (1200-1800), 200 closed
        w.segment(2000, 2500, Some(1)); // 400 after hours, 100 open (transition outside O: not counted)
        w.segment(2500, 3600, Some(0)); // idle 1100 in opening 1
        let r = w.finish();
        assert_eq!(r.open_seconds, 3000);
        assert_eq!(r.measured_seconds, 600 + 300 + 600 + 100 + 1100);
        assert_eq!(r.occupied_seconds, 300 + 100);
        assert_eq!(r.person_seconds, 900 + 100);
        assert_eq!(r.peak_occupancy, Some(3));
        assert_eq!(r.visits, 1);
        assert_eq!(r.longest_idle_seconds, 1100);
        assert_eq!(r.after_hours_occupied_seconds, 400);
        assert_eq!(r.over_capacity_seconds, 300);
        assert_eq!(r.coverage(), Some(0.9));
    }
}
