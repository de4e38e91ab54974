//! Plain data passed between the stages: validated readings, window rows, live state.

use crate::category::Category;
use crate::model::{DeviceIdx, RoomIdx};
use serde::{Deserialize, Serialize};

/// What a device reported, decoded and checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Value {
    /// People in the room.
    Count(u32),
    /// Anyone in the room.
    Presence(bool),
    /// Crossings since the device's previous `door` message.
    Door {
        /// People who came in.
        inn: u32,
        /// People who went out.
        out: u32,
    },
    /// Cumulative counters since the device started.
    DoorTotal {
        /// All people in so far.
        in_total: u64,
        /// All people out so far.
        out_total: u64,
    },
    /// A heartbeat.
    Status(Status),
}

/// A device heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Status {
    /// Battery level, percent.
    pub battery_pct: Option<u8>,
    /// Radio signal, dBm.
    pub rssi_dbm: Option<i16>,
    /// Firmware version.
    pub fw: Option<String>,
    /// How often the device now reports, seconds.
    pub interval_s: Option<u32>,
}

impl Value {
    /// The `type` name of DEVICES.md.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Count(_) => "count",
            Value::Presence(_) => "presence",
            Value::Door { .. } => "door",
            Value::DoorTotal { .. } => "door_total",
            Value::Status(_) => "status",
        }
    }
}

/// How long a report stays valid, seconds: 3 x the report interval, but at
/// most 15 minutes or the interval + 5 minutes, whichever is longer (METRICS.md
/// v2: a device reporting every 30 minutes stays valid for 35).
pub fn stale_after(interval_s: u32) -> i64 {
    let interval = i64::from(interval_s);
    (3 * interval).min((interval + 300).max(900))
}

/// A message accepted from a device and bound to its room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    /// The device.
    pub device: DeviceIdx,
    /// The room the registry binds the device to.
    pub room: RoomIdx,
    /// Event time, Unix milliseconds (the device's timestamp, or receive time).
    pub time_ms: i64,
    /// When doorstep received it, Unix milliseconds.
    pub received_ms: i64,
    /// The device's sequence number.
    pub seq: Option<u64>,
    /// The timestamp was too far ahead and was replaced by the receive time.
    pub clock_skew: bool,
    /// What was reported.
    pub value: Value,
}

/// What makes two readings one message: a broker delivering it again after a
/// restart, or a device resending it after a reconnect. The one definition every
/// stage uses (ingest's redelivery filter, the stream, the correction path).
///
/// A message with `seq` is the same as another of its device with the same time
/// and `seq`; one without `seq` the same as another of its device with the same
/// time and content. A `door` delta without `seq` has no key: two crossings in
/// the same instant cannot be told from one message sent twice, so it is never
/// dropped.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct MessageKey {
    device: DeviceIdx,
    time_ms: i64,
    /// The `seq`, or a fingerprint of the content.
    tag: u64,
    by_content: bool,
}

impl Reading {
    /// This reading's [`MessageKey`]; `None` for a `door` delta without `seq`.
    pub fn message_key(&self) -> Option<MessageKey> {
        let (tag, by_content) = match (self.seq, &self.value) {
            (Some(seq), _) => (seq, false),
            (None, Value::Door { .. }) => return None,
            (None, value) => {
                use std::hash::{BuildHasher, BuildHasherDefault};
                // SipHash with fixed keys: the same fingerprint in every process.
                let hasher =
                    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
                (hasher.hash_one(value), true)
            }
        };
        Some(MessageKey {
            device: self.device,
            time_ms: self.time_ms,
            tag,
            by_content,
        })
    }

    /// Whether `other` is this same message (see [`MessageKey`]).
    pub fn same_message(&self, other: &Reading) -> bool {
        self.message_key()
            .is_some_and(|k| other.message_key() == Some(k))
    }

    /// Event time in whole seconds; n(t) changes on whole seconds.
    pub fn time_s(&self) -> i64 {
        self.time_ms.div_euclid(1000)
    }

    /// The order in which readings apply: time, then device, then sequence.
    pub fn order_key(&self) -> (i64, DeviceIdx, Option<u64>) {
        (self.time_ms, self.device, self.seq)
    }
}

/// How `visits` were counted (METRICS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VisitsMethod {
    /// Sum of door `in` counts.
    Door,
    /// Empty-to-occupied transitions of n(t) (presence-only rooms).
    Transitions,
    /// Sum of the rises of n(t) while it stays known (count rooms without a door device).
    Increments,
}

impl VisitsMethod {
    /// The name stored in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            VisitsMethod::Door => "door",
            VisitsMethod::Transitions => "transitions",
            VisitsMethod::Increments => "increments",
        }
    }
}

/// Which window a [`RoomWindow`] covers.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub enum WindowKind {
    /// A local hour (`room_hour`).
    #[default]
    Hour,
    /// A local day (`room_day`).
    Day,
    /// The part of a local day whose opening intervals host one service category (`room_slot_day`).
    SlotDay(Category),
}

/// Sums of one room over one window; the ratios of METRICS.md derive from them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomWindow {
    /// Which window.
    pub kind: WindowKind,
    /// The room.
    pub room: RoomIdx,
    /// Window start, Unix seconds.
    pub start: i64,
    /// Window end (exclusive), Unix seconds.
    pub end: i64,
    /// abs(O).
    pub open_seconds: u32,
    /// abs(M), M = O ∩ V.
    pub measured_seconds: u32,
    /// Time in M with n >= 1.
    pub occupied_seconds: u32,
    /// Integral of n(t) over M, person-seconds.
    pub person_seconds: u64,
    /// Max n over M.
    pub peak_occupancy: Option<u32>,
    /// Visits, counted as `visits_method` says.
    pub visits: u64,
    /// How visits were counted.
    pub visits_method: VisitsMethod,
    /// Longest stretch of n = 0 within one opening interval of M.
    pub longest_idle_seconds: u32,
    /// Time in V outside O with n >= 1.
    pub after_hours_occupied_seconds: u32,
    /// Time in M with n > capacity.
    pub over_capacity_seconds: u32,
    /// Room capacity used for the capacity metrics; `None` for presence-only rooms.
    pub capacity: Option<u32>,
    /// Day windows of door rooms: n just before the next morning's reset.
    pub door_residual: Option<u32>,
    /// 0 when first written; raised each time a late reading rewrites the window.
    pub revision: u16,
}

fn ratio(num: f64, den: f64) -> Option<f64> {
    (den > 0.0).then(|| num / den)
}

impl RoomWindow {
    /// abs(M) / abs(O).
    pub fn coverage(&self) -> Option<f64> {
        ratio(self.measured_seconds.into(), self.open_seconds.into())
    }
    /// occupied_seconds / measured_seconds.
    pub fn time_utilization(&self) -> Option<f64> {
        ratio(self.occupied_seconds.into(), self.measured_seconds.into())
    }
    /// Integral of n over M / measured_seconds.
    pub fn mean_occupancy(&self) -> Option<f64> {
        ratio(self.person_seconds as f64, self.measured_seconds.into())
    }
    /// mean_occupancy / capacity.
    pub fn capacity_utilization(&self) -> Option<f64> {
        let cap = self.capacity?;
        ratio(self.mean_occupancy()?, cap.into())
    }
    /// Integral of n over M / occupied_seconds.
    pub fn mean_occupancy_when_used(&self) -> Option<f64> {
        ratio(self.person_seconds as f64, self.occupied_seconds.into())
    }
    /// peak_occupancy / capacity.
    pub fn peak_utilization(&self) -> Option<f64> {
        ratio(self.peak_occupancy?.into(), self.capacity?.into())
    }
    /// Integral of n over M / visits, for door and increments visits (Little's law).
    pub fn mean_dwell_seconds(&self) -> Option<f64> {
        if self.visits_method == VisitsMethod::Transitions {
            return None;
        }
        ratio(self.person_seconds as f64, self.visits as f64)
    }
    /// over_capacity_seconds, null for presence-only rooms.
    pub fn over_capacity(&self) -> Option<u32> {
        self.capacity.map(|_| self.over_capacity_seconds)
    }
}

/// The live state of a room, pushed on every change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveRoom {
    /// The room.
    pub room: RoomIdx,
    /// People present now; `None` when unknown (no fresh device).
    pub occupancy: Option<u32>,
    /// Event time of the last reading applied, Unix milliseconds.
    pub updated_ms: i64,
    /// When the value goes stale if nothing more arrives, Unix seconds.
    pub valid_until: Option<i64>,
    /// Since when the room has been empty (event time, Unix ms); `None` while occupied or unknown.
    pub idle_since_ms: Option<i64>,
    /// Since when more people than its capacity have been in the room (Unix ms): raised live.
    pub over_capacity_since_ms: Option<i64>,
}
