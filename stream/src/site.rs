//! Site days: the rows of every room of a site for a day, summed (METRICS.md site metrics).
//!
//! A site's day is complete when every room of the site has released that
//! day. The rooms' rows are kept for a few days after, so that a room day
//! rewritten by a late reading (a higher revision) rewrites the site day too.
//!
//! A row that comes twice (after a restart from a checkpoint, a room sends
//! again what it sent after the checkpoint) changes nothing: slot rows and
//! device days replace their like, and a day row equal to the one held does
//! not write the site day again.

use crate::Output;
use crate::flags::RoomDayStatus;
use devices::{Category, DeviceDay, Registry, RoomIdx, RoomWindow, SiteDay, SiteIdx, WindowKind};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Days a completed site day is kept to take rewrites.
const KEEP_DAYS: i64 = 4;

/// The room an output is of (none: site days and markers).
pub(crate) fn room_of(o: &Output) -> Option<RoomIdx> {
    match o {
        Output::Window(w) => Some(w.room),
        Output::Flag(f) => Some(f.room),
        Output::IdleSlot(s) => Some(s.room),
        Output::DeviceDay(d) => Some(d.room),
        Output::Status(s) => Some(s.room),
        Output::Live(l) => Some(l.room),
        Output::Late(r) => Some(r.room),
        Output::SiteDay(_) | Output::Mark { .. } => None,
    }
}

/// The site an output belongs to, for the exchange.
pub(crate) fn site_of(registry: &Registry, o: &Output) -> u64 {
    match (room_of(o), o) {
        (Some(room), _) => u64::from(registry.room(room).site.0),
        (None, Output::Mark { to, .. }) => u64::from(*to),
        (None, Output::SiteDay(d)) => u64::from(d.site.0),
        (None, _) => 0,
    }
}

/// One room's rows for one day, at one revision.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct RoomPart {
    revision: u16,
    day: Option<RoomWindow>,
    slots: Vec<RoomWindow>,
    status: Option<RoomDayStatus>,
    devices: Vec<DeviceDay>,
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct SiteParts {
    rooms: BTreeMap<RoomIdx, RoomPart>,
    /// Revision of the site day written last.
    written: Option<u16>,
}

/// Sums the day rows of the sites one worker owns.
pub(crate) struct Sites {
    /// The registry of now, taken from `current` before each batch.
    registry: Arc<Registry>,
    current: devices::Current,
    min_slot_utilization: f64,
    days: HashMap<(SiteIdx, i64), SiteParts>,
    /// This worker's index, and how many workers' rooms send markers.
    index: usize,
    peers: usize,
    /// Where checkpoints go.
    checkpoints: Option<std::path::PathBuf>,
    /// The checkpoint being gathered and how many rooms' markers have come.
    marks: Option<(crate::checkpoint::Mark, usize)>,
}

impl Sites {
    pub(crate) fn new(
        current: devices::Current,
        index: usize,
        peers: usize,
        checkpoints: &crate::Checkpoints,
    ) -> Sites {
        let mut sites = Sites {
            registry: current.get(),
            current,
            min_slot_utilization: 0.10,
            days: HashMap::new(),
            index,
            peers,
            checkpoints: checkpoints.dir.clone(),
            marks: None,
        };
        if let Some(dir) = &checkpoints.resume {
            match crate::checkpoint::read_part::<Vec<((SiteIdx, i64), SiteParts)>>(
                dir,
                &crate::checkpoint::sites_part(index),
            ) {
                Ok(days) => sites.days = days.into_iter().collect(),
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the sites' checkpoint; their open days start empty");
                }
            }
        }
        sites
    }

    /// Takes the registry of now (a switch may have added rooms and sites).
    pub(crate) fn follow(&mut self) {
        self.registry = self.current.get();
    }

    /// Whether the registry of now has `room`. A room it does not have was
    /// added by a switch made since (its rows may arrive within one batch) or,
    /// in a cluster, by a switch another process made first: this one's
    /// follows within seconds, and is waited for (at most `SWITCH_WAIT`).
    fn knows(&mut self, room: RoomIdx) -> bool {
        if room.ix() < self.registry.rooms.len() {
            return true;
        }
        let known = crate::wait_for_switch(|| {
            self.follow();
            room.ix() < self.registry.rooms.len()
        });
        if !known {
            tracing::error!(
                room = room.0,
                "a row of a room this process's registry does not have (another process switched to a registry this one did not take); the row is not written"
            );
        }
        known
    }

    fn site_of_room(&self, room: RoomIdx) -> SiteIdx {
        self.registry.room(room).site
    }

    /// A marker from one worker's rooms: once every worker's has come, the sites
    /// are written to the checkpoint and the marker goes on to the tables.
    fn mark(&mut self, mark: &crate::checkpoint::Mark, out: &mut Vec<Output>) {
        let seen = match self.marks.take() {
            Some((m, n)) if m.epoch == mark.epoch => n + 1,
            Some(newer) if newer.0.epoch > mark.epoch => {
                self.marks = Some(newer);
                return;
            }
            _ => 1,
        };
        if seen < self.peers {
            self.marks = Some((mark.clone(), seen));
            return;
        }
        if let Some(dir) = &self.checkpoints {
            let dir = dir.join(format!("{:013}", mark.epoch));
            let days: Vec<_> = self.days.iter().collect();
            if let Err(e) = crate::checkpoint::write_part(
                &dir,
                &crate::checkpoint::sites_part(self.index),
                &days,
            ) {
                tracing::error!(error = %e, "cannot write the sites' checkpoint");
                return;
            }
        }
        out.push(Output::Mark {
            to: self.index as u32,
            mark: mark.clone(),
        });
    }

    /// The part of `room` for the day starting at `day`, cleared if `revision` is newer.
    fn part(&mut self, room: RoomIdx, day: i64, revision: u16) -> &mut RoomPart {
        let site = self.site_of_room(room);
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
        let room = match o {
            Output::Window(w) => Some(w.room),
            Output::DeviceDay(d) => Some(d.room),
            Output::Status(s) => Some(s.room),
            _ => None,
        };
        if room.is_some_and(|r| !self.knows(r)) {
            return false;
        }
        match o {
            Output::Mark { mark, .. } => {
                self.mark(mark, out);
                false
            }
            Output::DeviceDay(d) => {
                let devices = &mut self.part(d.room, d.start, d.revision).devices;
                devices.retain(|x| x.device != d.device);
                devices.push(d.clone());
                false
            }
            Output::Status(s) => {
                self.part(s.room, s.day, s.revision).status = Some(*s);
                true
            }
            Output::Window(w) if matches!(w.kind, WindowKind::SlotDay(_)) => {
                let slots = &mut self.part(w.room, w.start, w.revision).slots;
                slots.retain(|x| x.kind != w.kind);
                slots.push(w.clone());
                true
            }
            Output::Window(w) if w.kind == WindowKind::Day => {
                let part = self.part(w.room, w.start, w.revision);
                if part.day.as_ref() == Some(w) {
                    return true;
                }
                part.day = Some(w.clone());
                let site = self.site_of_room(w.room);
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
