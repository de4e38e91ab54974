//! Site days: the rows of every room of a site for a day, summed (METRICS.md site metrics).
//!
//! A site's day is complete when every room of the site has released that
//! day. The rooms' rows are kept for a few days after, so that a room day
//! rewritten by a late reading (a higher revision) rewrites the site day too.

use crate::Output;
use crate::flags::RoomDayStatus;
use devices::{Category, DeviceDay, Registry, RoomIdx, RoomWindow, SiteDay, SiteIdx, WindowKind};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Days a completed site day is kept to take rewrites.
const KEEP_DAYS: i64 = 4;

/// The site an output belongs to, for the exchange.
pub(crate) fn site_of(registry: &Registry, o: &Output) -> u64 {
    let room = match o {
        Output::Window(w) => w.room,
        Output::Flag(f) => f.room,
        Output::IdleSlot(s) => s.room,
        Output::DeviceDay(d) => d.room,
        Output::Status(s) => s.room,
        Output::Live(l) => l.room,
        Output::Late(r) => r.room,
        Output::SiteDay(d) => return u64::from(d.site.0),
    };
    u64::from(registry.room(room).site.0)
}

/// One room's rows for one day, at one revision.
#[derive(Debug, Default)]
struct RoomPart {
    revision: u16,
    day: Option<RoomWindow>,
    slots: Vec<RoomWindow>,
    status: Option<RoomDayStatus>,
    devices: Vec<DeviceDay>,
}

#[derive(Debug, Default)]
struct SiteParts {
    rooms: BTreeMap<RoomIdx, RoomPart>,
    /// Revision of the site day written last.
    written: Option<u16>,
}

/// Sums the day rows of the sites one worker owns.
pub(crate) struct Sites {
    registry: Arc<Registry>,
    min_slot_utilization: f64,
    days: HashMap<(SiteIdx, i64), SiteParts>,
}

impl Sites {
    pub(crate) fn new(registry: Arc<Registry>) -> Sites {
        Sites {
            registry,
            min_slot_utilization: 0.10,
            days: HashMap::new(),
        }
    }

    /// The part of `room` for the day starting at `day`, cleared if `revision` is newer.
    fn part(&mut self, room: RoomIdx, day: i64, revision: u16) -> &mut RoomPart {
        let site = self.registry.room(room).site;
        let part = self
            .days
            .entry((site, day))
            .or_default()
            .rooms
            .entry(room)
            .or_default();
        if revision > part.revision {
            *part = RoomPart {
                revision,
                ..RoomPart::default()
            };
        }
        part
    }

    /// Takes in one output; a room's slot rows, device days, flags and status come
    /// before its day row. Returns false for outputs it keeps (device days, passed
    /// on with the site day once the site's rooms are known).
    pub(crate) fn receive(&mut self, o: &Output, out: &mut Vec<Output>) -> bool {
        match o {
            Output::DeviceDay(d) => {
                self.part(d.room, d.start, d.revision)
                    .devices
                    .push(d.clone());
                false
            }
            Output::Status(s) => {
                self.part(s.room, s.day, s.revision).status = Some(*s);
                true
            }
            Output::Window(w) if matches!(w.kind, WindowKind::SlotDay(_)) => {
                self.part(w.room, w.start, w.revision).slots.push(w.clone());
                true
            }
            Output::Window(w) if w.kind == WindowKind::Day => {
                self.part(w.room, w.start, w.revision).day = Some(w.clone());
                let site = self.registry.room(w.room).site;
                self.emit_if_complete(site, w.start, w.end, out);
                true
            }
            _ => true,
        }
    }

    fn emit_if_complete(&mut self, site: SiteIdx, start: i64, end: i64, out: &mut Vec<Output>) {
        let registry = Arc::clone(&self.registry);
        let rooms = registry.site(site).rooms.len();
        let Some(parts) = self.days.get_mut(&(site, start)) else {
            return;
        };
        let complete = parts.rooms.len() >= rooms
            && parts
                .rooms
                .values()
                .all(|p| p.day.is_some() && p.status.is_some());
        if !complete {
            return;
        }
        let revision = parts.written.map_or(0, |r| r + 1);
        parts.written = Some(revision);
        let mut day = SiteDay {
            site,
            start,
            end,
            rooms: 0,
            open_seconds: 0,
            measured_seconds: 0,
            occupied_seconds: 0,
            person_seconds: 0,
            capacity_person_seconds: 0,
            capacity_seconds: 0,
            visits: 0,
            area_m2: 0.0,
            rooms_covered: 0,
            rooms_underused: 0,
            functions_in_use: Vec::new(),
            revision,
        };
        let mut slots: BTreeMap<Category, (u64, u64)> = BTreeMap::new();
        let mut changed = Vec::new();
        for (room, part) in &parts.rooms {
            let (Some(w), Some(s)) = (&part.day, &part.status) else {
                continue;
            };
            day.rooms += 1;
            day.open_seconds += u64::from(w.open_seconds);
            day.measured_seconds += u64::from(w.measured_seconds);
            day.occupied_seconds += u64::from(w.occupied_seconds);
            day.person_seconds += w.person_seconds;
            if let Some(cap) = w.capacity {
                day.capacity_person_seconds += w.person_seconds;
                day.capacity_seconds += u64::from(cap) * u64::from(w.measured_seconds);
            }
            day.visits += w.visits;
            day.area_m2 += registry.room(*room).area_m2;
            day.rooms_covered += u32::from(s.covered);
            day.rooms_underused += u32::from(s.covered && s.underused);
            // Something happened in the room: people came, or it was used part of the time.
            if w.visits > 0 || (w.occupied_seconds > 0 && w.occupied_seconds < w.measured_seconds) {
                changed.push(*room);
            }
            for slot in &part.slots {
                if let WindowKind::SlotDay(c) = slot.kind {
                    let e = slots.entry(c).or_default();
                    e.0 += u64::from(slot.occupied_seconds);
                    e.1 += u64::from(slot.measured_seconds);
                }
            }
        }
        day.functions_in_use = slots
            .iter()
            .filter(|(_, (occ, meas))| {
                *meas > 0 && *occ as f64 / *meas as f64 >= self.min_slot_utilization
            })
            .map(|(c, _)| *c)
            .collect();
        for part in parts.rooms.values() {
            for d in &part.devices {
                let mut d = d.clone();
                d.stuck = d.constant_count.is_some() && changed.iter().any(|r| *r != d.room);
                d.revision = revision;
                out.push(Output::DeviceDay(d));
            }
        }
        out.push(Output::SiteDay(day));
        // Site days well before this one will take no more rewrites.
        self.days.retain(|(s, d), p| {
            *s != site || *d > start - KEEP_DAYS * 86_400 || p.written.is_none()
        });
    }
}
