//! What a room's flags and idle slots keep of each day of their lookback
//! (METRICS.md "Flags", "Idle slots"), as the tables store it. After a restart
//! the stream replays only its last few days of readings; the days before come
//! back from `room_day`, `room_hour` and `device_day` in this form.

use crate::model::RoomIdx;
use crate::reading::{RoomWindow, WindowKind};
use crate::tables::DeviceDay;
use serde::{Deserialize, Serialize};

/// One stored day of a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookbackDay {
    /// The room.
    pub room: RoomIdx,
    /// Start of the local day, Unix seconds.
    pub start: i64,
    /// abs(O) of the day.
    pub open_seconds: u32,
    /// abs(M) of the day.
    pub measured_seconds: u32,
    /// Time in M with n >= 1.
    pub occupied_seconds: u32,
    /// Time in M over capacity; `None` for presence-only rooms (no capacity metrics).
    pub over_capacity_seconds: Option<u32>,
    /// Time outside opening hours with n >= 1.
    pub after_hours_occupied_seconds: u32,
    /// Door rooms: n just before the next morning's reset.
    #[serde(default)]
    pub door_residual: Option<u32>,
    /// Per device of the room, in the registry's order: offline seconds in opening
    /// time and lowest battery; `(0, None)` where the day has no row of the device.
    pub devices: Vec<(u32, Option<u8>)>,
    /// The day's hours with opening time, in order.
    pub hours: Vec<LookbackHour>,
}

/// One stored hour of a room, with opening time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookbackHour {
    /// Start of the hour, Unix seconds.
    pub start: i64,
    /// abs(O) of the hour.
    pub open_seconds: u32,
    /// abs(M) of the hour.
    pub measured_seconds: u32,
    /// Time in M with n >= 1.
    pub occupied_seconds: u32,
}

impl LookbackHour {
    /// The hour window `w`, when it has opening time.
    pub fn of(w: &RoomWindow) -> Option<LookbackHour> {
        (w.kind == WindowKind::Hour && w.open_seconds > 0).then_some(LookbackHour {
            start: w.start,
            open_seconds: w.open_seconds,
            measured_seconds: w.measured_seconds,
            occupied_seconds: w.occupied_seconds,
        })
    }
}

impl LookbackDay {
    /// The day window `day` with its devices' days (`devices[i]` is the room's device
    /// `i`, `None` when missing) and no hours yet.
    pub fn of(day: &RoomWindow, devices: &[Option<&DeviceDay>]) -> LookbackDay {
        LookbackDay {
            room: day.room,
            start: day.start,
            open_seconds: day.open_seconds,
            measured_seconds: day.measured_seconds,
            occupied_seconds: day.occupied_seconds,
            over_capacity_seconds: day.over_capacity(),
            after_hours_occupied_seconds: day.after_hours_occupied_seconds,
            door_residual: day.door_residual,
            devices: devices
                .iter()
                .map(|d| d.map_or((0, None), |d| (d.offline_seconds, d.min_battery_pct)))
                .collect(),
            hours: Vec::new(),
        }
    }
}
