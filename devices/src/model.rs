//! The domain model: sites, rooms and devices, addressed by dense indices.

use crate::schedule::Schedule;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

macro_rules! index_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(pub u32);

        impl $name {
            /// The index as a `usize`, for slices.
            pub fn ix(self) -> usize {
                self.0 as usize
            }
        }
    };
}

index_type!(
    /// Position of a site in [`Registry::sites`].
    SiteIdx
);
index_type!(
    /// Position of a room in [`Registry::rooms`].
    RoomIdx
);
index_type!(
    /// Position of a device in [`Registry::devices`].
    DeviceIdx
);

/// What a device measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// Reports how many people are in the room.
    Count,
    /// Reports whether anyone is in the room.
    Presence,
    /// Counts people going in and out of one entrance.
    Door,
}

impl DeviceKind {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Count => "count",
            DeviceKind::Presence => "presence",
            DeviceKind::Door => "door",
        }
    }
}

/// How a device's payloads are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Codec {
    /// The native format of DEVICES.md, version 1.
    #[default]
    #[serde(rename = "native-v1")]
    NativeV1,
    /// Milesight VS13x line counting and region counts (`door` or `count` devices).
    #[serde(rename = "milesight-vs13x")]
    MilesightVs13x,
    /// Milesight VS121 region people counting (`count` devices).
    #[serde(rename = "milesight-vs121")]
    MilesightVs121,
}

impl Codec {
    /// The registry's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Codec::NativeV1 => "native-v1",
            Codec::MilesightVs13x => "milesight-vs13x",
            Codec::MilesightVs121 => "milesight-vs121",
        }
    }
}

/// A pilot community (社区).
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    /// Stable id, `[A-Za-z0-9_-]{1,64}`; the MQTT topic names it.
    pub id: String,
    /// Display name (Chinese).
    pub name: String,
    /// City (市).
    pub city: String,
    /// District (区).
    pub district: String,
    /// Local timezone of the site.
    pub timezone: Tz,
    /// Its holiday calendar.
    pub calendar: crate::calendar::Calendar,
    /// Its rooms.
    pub rooms: Vec<RoomIdx>,
}

/// Hints for the fleet simulator; the pipeline ignores them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimHints {
    /// Scales how many visitors come, 1.0 for an ordinary room.
    #[serde(default = "one")]
    pub popularity: f64,
    /// Share of hours (0 to 1) in which the room's devices send nothing: a
    /// failing sensor, for demos of coverage, LOW_COVERAGE and offline alerts.
    #[serde(default)]
    pub outage: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for SimHints {
    fn default() -> Self {
        SimHints {
            popularity: 1.0,
            outage: 0.0,
        }
    }
}

/// Which kinds of device watch a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sensors {
    /// A count device.
    pub count: bool,
    /// One or more door devices (the room's visits are door ins).
    pub door: bool,
    /// A door device that counts both ways, so the doors give n(t).
    pub door_both: bool,
    /// A presence device.
    pub presence: bool,
}

impl Sensors {
    /// Only presence devices: capacity-based metrics are null (METRICS.md).
    pub fn presence_only(self) -> bool {
        self.presence && !self.count && !self.door_both
    }
}

/// A space in a site.
#[derive(Debug, Clone, PartialEq)]
pub struct Room {
    /// Id, unique within its site.
    pub id: String,
    /// Display name (Chinese).
    pub name: String,
    /// The site it belongs to.
    pub site: SiteIdx,
    /// Floor, when known.
    pub floor: Option<i32>,
    /// Persons it is built for.
    pub capacity: u32,
    /// Floor area in square metres.
    pub area_m2: f64,
    /// Weekly opening hours and the service hosted in each.
    pub schedule: Schedule,
    /// Devices bound to it.
    pub devices: Vec<DeviceIdx>,
    /// Kinds of device bound to it.
    pub sensors: Sensors,
    /// Simulator hints.
    pub sim: SimHints,
    /// Its schedules and capacities before the current ones, oldest first
    /// (registry versions that came into force later replaced them).
    pub earlier: Vec<RoomEra>,
    /// Taken out of the registry from this time (Unix ms) on; its past stays.
    pub gone_from_ms: Option<i64>,
}

/// A room's schedule and capacity until a later registry version replaced them.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomEra {
    /// The first millisecond (Unix ms) they no longer hold.
    pub until_ms: i64,
    /// The weekly opening hours then.
    pub schedule: Schedule,
    /// Persons it was built for then.
    pub capacity: u32,
}

/// Where a device was bound until a later registry version moved it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    /// The first millisecond (Unix ms) it no longer holds.
    pub until_ms: i64,
    /// The room then; `None` while it was taken out of the registry.
    pub room: Option<RoomIdx>,
}

/// A sensor bound to one room.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// Id, unique across the registry, `[A-Za-z0-9_-]{1,64}`.
    pub id: String,
    /// Its site (the topic must name this site).
    pub site: SiteIdx,
    /// Its room.
    pub room: RoomIdx,
    /// What it measures.
    pub kind: DeviceKind,
    /// How often it reports, in seconds, until it says otherwise.
    pub interval_s: u32,
    /// How its payloads are decoded.
    pub codec: Codec,
    /// Door devices: which crossings it counts.
    pub direction: Direction,
    /// Door devices: the value at which cumulative counters wrap to 0.
    pub rollover: Option<u64>,
    /// Door devices: the most crossings its entrance passes in a minute.
    pub max_per_minute: u32,
    /// Taken out of service (no offline or battery alerts; history kept).
    pub retired: bool,
    /// Its rooms before the current one, oldest first.
    pub earlier: Vec<Binding>,
    /// Taken out of the registry from this time (Unix ms) on; its past stays.
    pub gone_from_ms: Option<i64>,
}

/// Which crossings a door device counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Ins and outs: the doors give the room's occupancy.
    #[default]
    Both,
    /// Entries only: its ins are visits, but it says nothing about occupancy.
    In,
}

/// `max_per_minute` when the registry gives none (METRICS.md).
pub const DEFAULT_MAX_PER_MINUTE: u32 = 60;

/// Every site, room and device the pipeline knows.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// Sites, in file order.
    pub sites: Vec<Site>,
    /// Rooms, grouped by site.
    pub rooms: Vec<Room>,
    /// Devices, in file order.
    pub devices: Vec<Device>,
    pub(crate) device_ids: HashMap<String, DeviceIdx>,
    /// The time (Unix ms) from which the latest version merged into it holds
    /// ([`crate::timeline`]); `i64::MIN` for a registry read from one file.
    pub since_ms: i64,
}

impl Registry {
    /// The device with this id.
    pub fn device_by_id(&self, id: &str) -> Option<DeviceIdx> {
        self.device_ids.get(id).copied()
    }

    /// A site by index.
    pub fn site(&self, i: SiteIdx) -> &Site {
        &self.sites[i.ix()]
    }

    /// A room by index.
    pub fn room(&self, i: RoomIdx) -> &Room {
        &self.rooms[i.ix()]
    }

    /// A device by index.
    pub fn device(&self, i: DeviceIdx) -> &Device {
        &self.devices[i.ix()]
    }

    /// The room `device` was bound to at `t_ms`: `None` when a version had
    /// taken it out of the registry then. A device added by a later version
    /// counts as bound to its first room before that too.
    pub fn room_at(&self, device: DeviceIdx, t_ms: i64) -> Option<RoomIdx> {
        let d = self.device(device);
        if let Some(b) = d.earlier.iter().find(|b| t_ms < b.until_ms) {
            return b.room;
        }
        match d.gone_from_ms {
            Some(gone) if t_ms >= gone => None,
            _ => Some(d.room),
        }
    }

    /// The times (Unix ms, `[from, until)`, oldest first) `device` was bound to
    /// `room`; `i64::MIN` and `i64::MAX` stand for no start and no end.
    pub fn bound_spans(&self, device: DeviceIdx, room: RoomIdx) -> Vec<(i64, i64)> {
        let d = self.device(device);
        let mut out: Vec<(i64, i64)> = Vec::new();
        let mut push = |a: i64, b: i64| match out.last_mut() {
            Some(last) if last.1 == a => last.1 = b,
            _ if a < b => out.push((a, b)),
            _ => {}
        };
        let mut from = i64::MIN;
        for b in &d.earlier {
            if b.room == Some(room) {
                push(from, b.until_ms);
            }
            from = from.max(b.until_ms);
        }
        if d.gone_from_ms.is_none() && d.room == room {
            push(from, i64::MAX);
        }
        out
    }

    /// Whether the site is in the latest version: not all its rooms removed
    /// by a later one ([`crate::timeline`]).
    pub fn site_is_current(&self, site: SiteIdx) -> bool {
        let rooms = &self.site(site).rooms;
        rooms.is_empty() || rooms.iter().any(|r| self.room(*r).gone_from_ms.is_none())
    }

    /// The schedule and capacity `room` had at `t_ms`.
    pub fn room_era(&self, room: RoomIdx, t_ms: i64) -> (&Schedule, u32) {
        let r = self.room(room);
        match r.earlier.iter().find(|e| t_ms < e.until_ms) {
            Some(e) => (&e.schedule, e.capacity),
            None => (&r.schedule, r.capacity),
        }
    }

    /// The site a room belongs to.
    pub fn site_of(&self, room: RoomIdx) -> &Site {
        self.site(self.room(room).site)
    }

    /// The room with this id in the site with this id.
    pub fn room_by_ids(&self, site: &str, room: &str) -> Option<RoomIdx> {
        let s = self.sites.iter().find(|s| s.id == site)?;
        s.rooms.iter().copied().find(|r| self.room(*r).id == room)
    }

    /// A fingerprint of what the indices mean: each room's site and id and
    /// each device's id, room and kind, in index order (FNV-1a). State saved by
    /// index (checkpoints, the journal) is valid under another registry only
    /// when both have the same fingerprint; schedules, capacities and other
    /// fields do not enter it.
    pub fn layout_fingerprint(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |s: &str| {
            for b in s.bytes().chain([0xff]) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        for r in &self.rooms {
            eat(&self.site(r.site).id);
            eat(&r.id);
        }
        for d in &self.devices {
            eat(&d.id);
            eat(&self.room(d.room).id);
            eat(&self.site(d.site).id);
            eat(d.kind.as_str());
        }
        h
    }
}
