//! Daily rows above the room windows: flags with their reasons, and site days.

use crate::category::Category;
use crate::model::{RoomIdx, SiteIdx};
use serde::{Deserialize, Serialize};

/// The flags of METRICS.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum FlagKind {
    /// Coverage below 0.8 over the lookback: a device problem, never "idle".
    LowCoverage,
    /// 建而不用: no occupied second on each of the last D open days.
    Idle,
    /// Time utilization below 0.25 over the lookback.
    Underused,
    /// Over capacity for 15 minutes or more on a day of the lookback.
    Overcrowded,
    /// Used for an hour or more outside opening hours on a day of the lookback.
    AfterHoursUse,
    /// Door counters that do not balance: a residual over max(2, 10 % of
    /// capacity) on at least 3 days of the lookback.
    DoorDrift,
}

impl FlagKind {
    /// The name stored in the `flags` table.
    pub fn as_str(self) -> &'static str {
        match self {
            FlagKind::LowCoverage => "LOW_COVERAGE",
            FlagKind::Idle => "IDLE",
            FlagKind::Underused => "UNDERUSED",
            FlagKind::Overcrowded => "OVERCROWDED",
            FlagKind::AfterHoursUse => "AFTER_HOURS_USE",
            FlagKind::DoorDrift => "DOOR_DRIFT",
        }
    }
}

/// A flag raised for a room on a day, with the reason and the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    /// The room.
    pub room: RoomIdx,
    /// Start of the local day it was evaluated for (the last day of the lookback), Unix seconds.
    pub day: i64,
    /// Which flag.
    pub kind: FlagKind,
    /// Days of room data in the lookback (at most the configured lookback).
    pub lookback_days: u16,
    /// Coverage over the lookback.
    pub coverage: Option<f64>,
    /// Time utilization over the lookback.
    pub time_utilization: Option<f64>,
    /// IDLE: consecutive open days with no occupied second, ending on `day`.
    pub idle_days: Option<u16>,
    /// OVERCROWDED / AFTER_HOURS_USE: the largest daily seconds in the lookback.
    pub worst_seconds: Option<u32>,
    /// OVERCROWDED / AFTER_HOURS_USE: start of the day with `worst_seconds`.
    pub worst_day: Option<i64>,
    /// The reason in English.
    pub reason_en: String,
    /// The reason in Chinese.
    pub reason_zh: String,
    /// The revision of the room's day this flag belongs to (see `RoomWindow::revision`).
    pub revision: u16,
}

/// A site over one local day (METRICS.md site metrics), from its rooms' day and slot rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteDay {
    /// The site.
    pub site: SiteIdx,
    /// Day start, Unix seconds.
    pub start: i64,
    /// Day end (exclusive), Unix seconds.
    pub end: i64,
    /// Rooms of the site.
    pub rooms: u32,
    /// Sum of the rooms' open seconds.
    pub open_seconds: u64,
    /// Sum of the rooms' measured seconds.
    pub measured_seconds: u64,
    /// Sum of the rooms' occupied seconds.
    pub occupied_seconds: u64,
    /// Sum of the rooms' integral of n (person-seconds), all rooms.
    pub person_seconds: u64,
    /// Sum of person-seconds over rooms with a capacity (not presence-only).
    pub capacity_person_seconds: u64,
    /// Sum of capacity x measured seconds over rooms with a capacity.
    pub capacity_seconds: u64,
    /// Sum of the rooms' visits.
    pub visits: u64,
    /// Sum of the rooms' floor area, m2.
    pub area_m2: f64,
    /// Rooms with coverage >= 0.8 over the flags' lookback.
    pub rooms_covered: u32,
    /// Of those, rooms flagged UNDERUSED or IDLE on this day.
    pub rooms_underused: u32,
    /// Service categories whose slots reach time utilization >= 0.10 on this day, sorted.
    pub functions_in_use: Vec<Category>,
    /// 0 when first written; raised each time a room's day of the site is rewritten.
    pub revision: u16,
}

fn ratio(num: f64, den: f64) -> Option<f64> {
    (den > 0.0).then(|| num / den)
}

impl SiteDay {
    /// Sum of occupied seconds / sum of measured seconds.
    pub fn time_utilization(&self) -> Option<f64> {
        ratio(self.occupied_seconds as f64, self.measured_seconds as f64)
    }
    /// Sum of integrals of n / sum of capacity x measured seconds.
    pub fn capacity_utilization(&self) -> Option<f64> {
        ratio(
            self.capacity_person_seconds as f64,
            self.capacity_seconds as f64,
        )
    }
    /// Visits in the day (the window is one day).
    pub fn visits_per_day(&self) -> f64 {
        self.visits as f64
    }
    /// visits_per_day / (area / 100 m2).
    pub fn visits_per_100m2_day(&self) -> Option<f64> {
        ratio(self.visits_per_day(), self.area_m2 / 100.0)
    }
    /// Sum of measured seconds / sum of open seconds.
    pub fn coverage(&self) -> Option<f64> {
        ratio(self.measured_seconds as f64, self.open_seconds as f64)
    }
    /// Rooms flagged UNDERUSED or IDLE / rooms with coverage >= 0.8.
    pub fn share_rooms_underused(&self) -> Option<f64> {
        ratio(
            f64::from(self.rooms_underused),
            f64::from(self.rooms_covered),
        )
    }
    /// At least 3 functions in use, at least 2 of them elderly, infant or child care or meal aid.
    pub fn meets_function_mix(&self) -> bool {
        self.functions_in_use.len() >= 3
            && self.functions_in_use.iter().filter(|c| c.is_core()).count() >= 2
    }
}

/// An idle block (错时 candidate): contiguous weekday hours inside opening
/// hours that were measured but barely used over the lookback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdleSlot {
    /// The room.
    pub room: RoomIdx,
    /// Start of the local day it was evaluated for (the last day of the lookback), Unix seconds.
    pub day: i64,
    /// Local weekday, 1 = Monday ... 7 = Sunday.
    pub weekday: u8,
    /// First local hour of the block.
    pub start_hour: u8,
    /// Local hour after the block (at most 24).
    pub end_hour: u8,
    /// Days of room data in the lookback.
    pub lookback_days: u16,
    /// Opening seconds of the block's cells over the lookback.
    pub open_seconds: u64,
    /// Measured seconds of the block's cells over the lookback.
    pub measured_seconds: u64,
    /// Occupied seconds of the block's cells over the lookback.
    pub occupied_seconds: u64,
    /// The revision of the room's day it was evaluated with.
    pub revision: u16,
}

impl IdleSlot {
    /// occupied / measured over the block.
    pub fn time_utilization(&self) -> Option<f64> {
        ratio(self.occupied_seconds as f64, self.measured_seconds as f64)
    }
    /// measured / open over the block.
    pub fn coverage(&self) -> Option<f64> {
        ratio(self.measured_seconds as f64, self.open_seconds as f64)
    }
    /// Length in hours.
    pub fn hours(&self) -> u8 {
        self.end_hour - self.start_hour
    }
}

/// A device over one local day: how much of its room's opening time it covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceDay {
    /// The device.
    pub device: crate::model::DeviceIdx,
    /// Its room.
    pub room: RoomIdx,
    /// Day start, Unix seconds.
    pub start: i64,
    /// Day end (exclusive), Unix seconds.
    pub end: i64,
    /// The room's opening seconds that day.
    pub open_seconds: u32,
    /// Opening seconds with no fresh report from this device (offline: silent for 3 x interval).
    pub offline_seconds: u32,
    /// Messages of any type that day.
    pub reports: u32,
    /// Lowest battery level reported that day.
    pub min_battery_pct: Option<u8>,
    /// Count devices: the value every count inside opening hours had, when there were
    /// at least two and the device was offline for at most a fifth of the opening time.
    pub constant_count: Option<u32>,
    /// `constant_count` while another room of the site changed that day: probably stuck.
    pub stuck: bool,
    /// Door devices: messages that claimed more crossings than the entrance can
    /// pass (`implausible_count`, METRICS.md v2); they counted 0.
    #[serde(default)]
    pub implausible_counts: u32,
    /// The revision of the site's day it was written with.
    pub revision: u16,
}

impl DeviceDay {
    /// offline_seconds / open_seconds.
    pub fn offline_share(&self) -> Option<f64> {
        ratio(
            f64::from(self.offline_seconds),
            f64::from(self.open_seconds),
        )
    }
}
