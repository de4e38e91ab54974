//! The registry of all time: every version merged into one index space.
//!
//! A registry file says how things are now. doorstep keeps every version it
//! was given, each with the time from which it holds, and merges them into
//! one [`Registry`] whose indices never change from one version to the next:
//! a room or device keeps its index for good, new ones are appended, removed
//! ones stay (marked gone, so their past can be told). What a version changed
//! is kept as eras: a device's earlier rooms ([`crate::model::Binding`]) and a
//! room's earlier schedules and capacities ([`crate::model::RoomEra`]). A
//! reading is bound to the room its device had at the reading's event time
//! ([`Registry::room_at`]), so a device moved on 1 December leaves November in
//! the room it was in then.
//!
//! A room's device list is every device it ever had; the stream treats a
//! device as the room's only while bound to it. A device added by a later
//! version is taken as bound to its first room before that too (readings a
//! device took before it was registered, or imported later, land there).

use crate::model::{Binding, Device, Registry, Room, RoomEra, RoomIdx, Sensors, SiteIdx};
use std::collections::HashMap;

/// Why a version cannot follow the ones before it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimelineError {
    /// The version would hold from before the latest one.
    #[error(
        "the change would hold from {from}, before the latest version's {latest}; a change can date back to the latest version's time at most"
    )]
    Backdated {
        /// The new version's time (RFC 3339).
        from: String,
        /// The latest version's time (RFC 3339).
        latest: String,
    },
    /// A device id changes what it measures.
    #[error(
        "device {id:?} changes kind from {was} to {now}; a device that measures something else needs a new id"
    )]
    KindChanged {
        /// The device.
        id: String,
        /// Its kind so far.
        was: &'static str,
        /// Its kind in the new version.
        now: &'static str,
    },
}

/// What state saved by index (checkpoints, the journal) needs of the registry
/// it was saved under: the ids of its first rooms and devices, in index order.
/// The registry of all time only appends, so state saved under an earlier
/// version of it is valid under a later one ([`Layout::fits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Layout {
    /// Rooms then.
    pub rooms: u32,
    /// Devices then.
    pub devices: u32,
    /// FNV-1a of their ids (each room's site and id, each device's id).
    pub ids: u64,
}

impl Layout {
    /// The layout of `registry`.
    pub fn of(registry: &Registry) -> Layout {
        let (rooms, devices) = (registry.rooms.len() as u32, registry.devices.len() as u32);
        Layout {
            rooms,
            devices,
            ids: ids_fingerprint(registry, rooms, devices),
        }
    }

    /// Whether `registry` gives every index of this layout the same meaning.
    pub fn fits(&self, registry: &Registry) -> bool {
        registry.rooms.len() >= self.rooms as usize
            && registry.devices.len() >= self.devices as usize
            && ids_fingerprint(registry, self.rooms, self.devices) == self.ids
    }

    /// One line of text (`rooms devices ids-hex`).
    pub fn to_line(&self) -> String {
        format!("{} {} {:016x}", self.rooms, self.devices, self.ids)
    }

    /// Read back from [`Layout::to_line`].
    pub fn from_line(line: &str) -> Option<Layout> {
        let mut it = line.split_whitespace();
        let rooms = it.next()?.parse().ok()?;
        let devices = it.next()?.parse().ok()?;
        let ids = u64::from_str_radix(it.next()?, 16).ok()?;
        it.next().is_none().then_some(Layout {
            rooms,
            devices,
            ids,
        })
    }
}

fn ids_fingerprint(registry: &Registry, rooms: u32, devices: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |s: &str| {
        for b in s.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for r in &registry.rooms[..rooms as usize] {
        eat(&registry.site(r.site).id);
        eat(&r.id);
    }
    for d in &registry.devices[..devices as usize] {
        eat(&d.id);
    }
    h
}

/// RFC 3339 for a Unix ms time, for messages.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// `all` (every version so far) followed by `next` from `from_ms` on. `all`
/// may be a registry read from one file: that is its first version.
pub fn merge(all: &Registry, next: &Registry, from_ms: i64) -> Result<Registry, TimelineError> {
    if from_ms < all.since_ms {
        return Err(TimelineError::Backdated {
            from: rfc3339(from_ms),
            latest: rfc3339(all.since_ms),
        });
    }
    let mut out = all.clone();
    out.since_ms = from_ms;
    let sites = merge_sites(&mut out, next);
    let rooms = merge_rooms(&mut out, next, &sites, from_ms);
    merge_devices(&mut out, next, &sites, &rooms, from_ms)?;
    Ok(out)
}

/// The index in `out` of each site of `next`.
fn merge_sites(out: &mut Registry, next: &Registry) -> Vec<SiteIdx> {
    let by_id: HashMap<String, SiteIdx> = out
        .sites
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.clone(), SiteIdx(i as u32)))
        .collect();
    next.sites
        .iter()
        .map(|s| match by_id.get(&s.id) {
            Some(&i) => {
                let o = &mut out.sites[i.ix()];
                o.name.clone_from(&s.name);
                o.city.clone_from(&s.city);
                o.district.clone_from(&s.district);
                o.timezone = s.timezone;
                o.calendar = s.calendar;
                i
            }
            None => {
                out.sites.push(crate::model::Site {
                    rooms: Vec::new(),
                    ..s.clone()
                });
                SiteIdx(out.sites.len() as u32 - 1)
            }
        })
        .collect()
}

/// The index in `out` of each room of `next`; rooms `next` lacks are gone from `from_ms`.
fn merge_rooms(
    out: &mut Registry,
    next: &Registry,
    sites: &[SiteIdx],
    from_ms: i64,
) -> Vec<RoomIdx> {
    let mut by_key: HashMap<(SiteIdx, String), RoomIdx> = out
        .rooms
        .iter()
        .enumerate()
        .map(|(i, r)| ((r.site, r.id.clone()), RoomIdx(i as u32)))
        .collect();
    let mut kept = vec![false; out.rooms.len()];
    let map: Vec<RoomIdx> = next
        .rooms
        .iter()
        .map(|r| {
            let site = sites[r.site.ix()];
            if let Some(&i) = by_key.get(&(site, r.id.clone())) {
                kept[i.ix()] = true;
                let o = &mut out.rooms[i.ix()];
                if o.schedule != r.schedule || o.capacity != r.capacity {
                    o.earlier.push(RoomEra {
                        until_ms: from_ms,
                        schedule: std::mem::replace(&mut o.schedule, r.schedule.clone()),
                        capacity: std::mem::replace(&mut o.capacity, r.capacity),
                    });
                }
                o.name.clone_from(&r.name);
                o.floor = r.floor;
                o.area_m2 = r.area_m2;
                o.sim = r.sim;
                o.gone_from_ms = None;
                return i;
            }
            let i = RoomIdx(out.rooms.len() as u32);
            out.rooms.push(Room {
                site,
                devices: Vec::new(),
                sensors: Sensors::default(),
                earlier: Vec::new(),
                gone_from_ms: None,
                ..r.clone()
            });
            out.sites[site.ix()].rooms.push(i);
            by_key.insert((site, r.id.clone()), i);
            i
        })
        .collect();
    for (room, kept) in out.rooms.iter_mut().zip(kept) {
        if !kept && room.gone_from_ms.is_none() {
            room.gone_from_ms = Some(from_ms);
        }
    }
    // Each site lists its rooms as the new version does, the gone ones after.
    let mut rank = vec![usize::MAX; out.rooms.len()];
    for (i, r) in map.iter().enumerate() {
        rank[r.ix()] = i;
    }
    for site in &mut out.sites {
        site.rooms.sort_by_key(|r| (rank[r.ix()], *r));
    }
    map
}

/// Moves, adds and removes devices as `next` says, from `from_ms`.
fn merge_devices(
    out: &mut Registry,
    next: &Registry,
    sites: &[SiteIdx],
    rooms: &[RoomIdx],
    from_ms: i64,
) -> Result<(), TimelineError> {
    let mut kept = vec![false; out.devices.len()];
    for d in &next.devices {
        let room = rooms[d.room.ix()];
        let idx = match out.device_by_id(&d.id) {
            Some(i) => {
                let o = &mut out.devices[i.ix()];
                if o.kind != d.kind {
                    return Err(TimelineError::KindChanged {
                        id: d.id.clone(),
                        was: o.kind.as_str(),
                        now: d.kind.as_str(),
                    });
                }
                let was = o.gone_from_ms.is_none().then_some(o.room);
                if was != Some(room) {
                    o.earlier.push(Binding {
                        until_ms: from_ms,
                        room: was,
                    });
                }
                *o = Device {
                    site: sites[d.site.ix()],
                    room,
                    earlier: std::mem::take(&mut o.earlier),
                    gone_from_ms: None,
                    ..d.clone()
                };
                kept[i.ix()] = true;
                i
            }
            None => {
                let i = crate::model::DeviceIdx(out.devices.len() as u32);
                // A device's first room holds for all time before it was
                // registered too: its backlog and imports of its past land there.
                out.devices.push(Device {
                    site: sites[d.site.ix()],
                    room,
                    earlier: Vec::new(),
                    gone_from_ms: None,
                    ..d.clone()
                });
                out.device_ids.insert(d.id.clone(), i);
                i
            }
        };
        let r = &mut out.rooms[room.ix()];
        if !r.devices.contains(&idx) {
            r.devices.push(idx);
        }
        let dev = &out.devices[idx.ix()];
        add_sensor(&mut r.sensors, dev);
    }
    for (d, kept) in out.devices.iter_mut().zip(kept) {
        if !kept && d.gone_from_ms.is_none() {
            d.earlier.push(Binding {
                until_ms: from_ms,
                room: Some(d.room),
            });
            d.gone_from_ms = Some(from_ms);
        }
    }
    Ok(())
}

/// What a room can tell once `dev` has been bound to it (at any time).
fn add_sensor(s: &mut Sensors, dev: &Device) {
    match dev.kind {
        crate::DeviceKind::Count => s.count = true,
        crate::DeviceKind::Presence => s.presence = true,
        crate::DeviceKind::Door => {
            s.door = true;
            s.door_both |= dev.direction == crate::Direction::Both;
        }
    }
}

#[cfg(test)]
mod tests;
