//! The `slots` grid: a room's weekday x hour sums over the window and its
//! stored idle blocks, as the report tables and the SVG heatmap show them.

use super::ratio;
use chrono::NaiveDate;

/// The sums of one (weekday, hour) cell over the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cell {
    /// Summed open seconds.
    pub open: u64,
    /// Summed measured seconds.
    pub measured: u64,
    /// Summed occupied seconds.
    pub occupied: u64,
    /// Summed person-seconds (the integral of n over the measured time) of the
    /// hours with a capacity.
    pub person: u64,
    /// Summed capacity x measured seconds of those hours (0 for presence-only rooms).
    pub capacity: u64,
    /// Stored hours summed (0: no data at all for this weekday and hour, which
    /// is not the same as closed).
    pub hours: u32,
}

impl Cell {
    /// occupied / measured.
    pub fn time_utilization(&self) -> Option<f64> {
        ratio(self.occupied, self.measured)
    }
    /// measured / open.
    pub fn coverage(&self) -> Option<f64> {
        ratio(self.measured, self.open)
    }
    /// METRICS.md "Idle slots": inside opening hours, coverage >= 0.8 and time utilization < 0.05.
    pub fn idle(&self) -> bool {
        self.coverage().is_some_and(|c| c >= 0.8)
            && self.time_utilization().is_some_and(|u| u < 0.05)
    }
}

/// A stored idle block (`idle_slots`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The day it was evaluated for.
    pub day: NaiveDate,
    /// 1 = Monday ... 7 = Sunday.
    pub weekday: u8,
    /// First hour.
    pub start_hour: u8,
    /// Hour after the block.
    pub end_hour: u8,
    /// Days of data in its lookback.
    pub lookback_days: u16,
    /// Summed open seconds of its cells over the lookback.
    pub open: u64,
    /// Summed measured seconds.
    pub measured: u64,
    /// Summed occupied seconds.
    pub occupied: u64,
}

/// A room's grid and idle blocks.
#[derive(Debug, Clone)]
pub struct Grid {
    /// Site id.
    pub site_id: String,
    /// Site name (Chinese).
    pub site_name: String,
    /// Room id.
    pub room_id: String,
    /// Room name (Chinese).
    pub room_name: String,
    /// First day of the window.
    pub from: NaiveDate,
    /// Last day of the window.
    pub to: NaiveDate,
    /// `cells[weekday - 1][hour]`.
    pub cells: [[Cell; 24]; 7],
    /// The stored idle blocks in force.
    pub blocks: Vec<Block>,
    /// `services[weekday - 1][hour]`: the service the weekly schedule hosts in
    /// most of that hour (from the registry; none without one, or when closed).
    pub services: [[Option<devices::Category>; 24]; 7],
}

/// The service each weekday hour hosts under `openings` (the one covering
/// most of the hour; none when closed all of it).
pub fn services_of(
    openings: &[devices::schedule::Opening],
) -> [[Option<devices::Category>; 24]; 7] {
    use chrono::Weekday::*;
    let mut out = [[None; 24]; 7];
    for (d, day) in [Mon, Tue, Wed, Thu, Fri, Sat, Sun].into_iter().enumerate() {
        for (h, slot) in out[d].iter_mut().enumerate() {
            let (s, e) = (h as u32 * 3600, (h as u32 + 1) * 3600);
            *slot = openings
                .iter()
                .filter(|o| o.days.contains(day))
                .map(|o| (o.end.min(e).saturating_sub(o.start.max(s)), o.category))
                .filter(|(overlap, _)| *overlap > 0)
                .max_by_key(|(overlap, _)| *overlap)
                .map(|(_, c)| c);
        }
    }
    out
}

impl Grid {
    /// The hours from the first to the last with opening time on any weekday.
    pub fn open_hours(&self) -> std::ops::Range<usize> {
        let open = |h: usize| self.cells.iter().any(|d| d[h].open > 0);
        let first = (0..24).find(|&h| open(h)).unwrap_or(0);
        let last = (0..24).rev().find(|&h| open(h)).map_or(0, |h| h + 1);
        first..last.max(first)
    }
}
