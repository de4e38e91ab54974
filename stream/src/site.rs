//! Site days: the rows of every room of a site for a day, summed (METRICS.md site metrics).

use crate::Output;
use devices::{Category, DeviceDay, Registry, RoomIdx, SiteDay, SiteIdx, WindowKind};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

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

#[derive(Debug)]
struct Acc {
    day: SiteDay,
    days: u32,
    statuses: u32,
    slots: BTreeMap<Category, (u64, u64)>,
    /// Device days held until the site is complete, to tell which counts are stuck.
    devices: Vec<DeviceDay>,
    /// Rooms whose numbers changed during the day.
    changed: BTreeSet<RoomIdx>,
}

/// Sums the day rows of the sites one worker owns.
pub(crate) struct Sites {
    registry: Arc<Registry>,
    min_slot_utilization: f64,
    open: HashMap<(SiteIdx, i64), Acc>,
}

impl Sites {
    pub(crate) fn new(registry: Arc<Registry>) -> Sites {
        Sites {
            registry,
            min_slot_utilization: 0.10,
            open: HashMap::new(),
        }
    }

    fn acc(&mut self, site: SiteIdx, start: i64, end: i64) -> &mut Acc {
        self.open.entry((site, start)).or_insert_with(|| Acc {
            day: SiteDay {
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
            },
            days: 0,
            statuses: 0,
            slots: BTreeMap::new(),
            devices: Vec::new(),
            changed: BTreeSet::new(),
        })
    }

    /// Takes in one output; a room's slot rows, device days, flags and status come before
    /// its day row. Returns false for outputs it keeps (device days, passed on with the site day).
    pub(crate) fn receive(&mut self, o: &Output, out: &mut Vec<Output>) -> bool {
        let registry = Arc::clone(&self.registry);
        match o {
            Output::DeviceDay(d) => {
                let site = registry.room(d.room).site;
                self.acc(site, d.start, d.end).devices.push(d.clone());
                return false;
            }
            Output::Window(w) if w.kind != WindowKind::Hour => {
                let room = registry.room(w.room);
                let acc = self.acc(room.site, w.start, w.end);
                if let WindowKind::SlotDay(c) = w.kind {
                    let e = acc.slots.entry(c).or_default();
                    e.0 += u64::from(w.occupied_seconds);
                    e.1 += u64::from(w.measured_seconds);
                    return true;
                }
                // Something happened in the room: people came, or it was used part of the time.
                if w.visits > 0
                    || (w.occupied_seconds > 0 && w.occupied_seconds < w.measured_seconds)
                {
                    acc.changed.insert(w.room);
                }
                let d = &mut acc.day;
                d.rooms += 1;
                d.open_seconds += u64::from(w.open_seconds);
                d.measured_seconds += u64::from(w.measured_seconds);
                d.occupied_seconds += u64::from(w.occupied_seconds);
                d.person_seconds += w.person_seconds;
                if let Some(cap) = w.capacity {
                    d.capacity_person_seconds += w.person_seconds;
                    d.capacity_seconds += u64::from(cap) * u64::from(w.measured_seconds);
                }
                d.visits += w.visits;
                d.area_m2 += room.area_m2;
                acc.days += 1;
                self.emit_if_complete(room.site, w.start, out);
            }
            Output::Status(s) => {
                let room = registry.room(s.room);
                let end = crate::window::day_end(registry.site(room.site).timezone, s.day);
                let acc = self.acc(room.site, s.day, end);
                acc.statuses += 1;
                acc.day.rooms_covered += u32::from(s.covered);
                acc.day.rooms_underused += u32::from(s.covered && s.underused);
            }
            _ => {}
        }
        true
    }

    fn emit_if_complete(&mut self, site: SiteIdx, start: i64, out: &mut Vec<Output>) {
        let rooms = self.registry.site(site).rooms.len() as u32;
        let done = self
            .open
            .get(&(site, start))
            .is_some_and(|a| a.days >= rooms && a.statuses >= rooms);
        if !done {
            return;
        }
        if let Some(mut acc) = self.open.remove(&(site, start)) {
            acc.day.functions_in_use = acc
                .slots
                .iter()
                .filter(|(_, (occ, meas))| {
                    *meas > 0 && *occ as f64 / *meas as f64 >= self.min_slot_utilization
                })
                .map(|(c, _)| *c)
                .collect();
            for mut d in acc.devices {
                d.stuck = d.constant_count.is_some() && acc.changed.iter().any(|r| *r != d.room);
                out.push(Output::DeviceDay(d));
            }
            out.push(Output::SiteDay(acc.day));
        }
    }
}
