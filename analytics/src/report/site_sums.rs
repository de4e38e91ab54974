//! The per-site sums of `compare` and how they are read from the tables:
//! `site_day` (highest revision of each site day), `room_slot_day` for the
//! functions in use, `device_day` for the implausible door counts.

use super::read::{self, Interner, prim, strings};
use super::{Result, ratio};
use arrow::datatypes::{Float64Type, UInt32Type, UInt64Type};
use chrono::NaiveDate;
use devices::Category;
use std::path::Path;

/// METRICS.md: a category is in use when its slots reach this time utilization.
const FUNCTION_IN_USE: f64 = 0.10;

/// One site's sums over the window.
#[derive(Debug, Clone, Default)]
pub(crate) struct Site {
    pub id: String,
    pub name: String,
    pub city: String,
    pub district: String,
    pub days: u32,
    pub open: u64,
    pub measured: u64,
    pub occupied: u64,
    pub capacity_person_seconds: u64,
    pub capacity_seconds: u64,
    pub visits: u64,
    pub area_m2: f64,
    /// (date, rooms_covered, rooms_underused) of the latest site day.
    pub latest: Option<(NaiveDate, u32, u32)>,
    /// Per category (METRICS.md order): summed (occupied, measured) seconds of its slots.
    pub slots: [(u64, u64); 11],
    /// Per category: the other sums of its slots, for a comparison of one category.
    pub slot_sums: [SlotSums; 11],
    /// Categories the site hosts (bit per category).
    pub hosts: u16,
    /// Door messages that claimed more crossings than an entrance can pass
    /// (`device_day.implausible_counts`) over the window.
    pub implausible: u64,
    /// How its rooms count visits in the window (`visits_method` of their
    /// slot rows): bit 0 door entries, bit 1 increments, bit 2 transitions.
    pub methods: u8,
    /// Rooms flagged DOOR_DRIFT on a day of the window.
    pub drift_rooms: std::collections::BTreeSet<String>,
}

/// One category's sums over a site's slot rows (`room_slot_day`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct SlotSums {
    pub open: u64,
    pub person_seconds: u64,
    /// person_seconds of the rows with a capacity.
    pub capacity_person_seconds: u64,
    /// capacity x measured_seconds of the rows with a capacity.
    pub capacity_seconds: u64,
    pub visits: u64,
    /// `visits_method` bits, as [`Site::methods`].
    pub methods: u8,
}

impl Site {
    /// The site as seen through category `c`'s slots only: open, measured and
    /// occupied time, capacity use and visits of those slots; no area (rooms
    /// are shared between categories), the rest of the site as it is.
    pub fn only(&self, c: Category) -> Site {
        let i = c as usize;
        let sums = self.slot_sums[i];
        Site {
            open: sums.open,
            measured: self.slots[i].1,
            occupied: self.slots[i].0,
            capacity_person_seconds: sums.capacity_person_seconds,
            capacity_seconds: sums.capacity_seconds,
            visits: sums.visits,
            methods: sums.methods,
            area_m2: 0.0,
            ..self.clone()
        }
    }
}

/// The `visits_method` names, in the order of [`Site::methods`]' bits.
const METHODS: [&str; 3] = ["door", "increments", "transitions"];

impl Site {
    pub fn coverage(&self) -> Option<f64> {
        ratio(self.measured, self.open)
    }
    pub fn time_utilization(&self) -> Option<f64> {
        ratio(self.occupied, self.measured)
    }
    /// Categories whose slots reach 0.10 over the window, sorted by name.
    pub fn functions(&self) -> Vec<Category> {
        let mut f: Vec<Category> = Category::ALL
            .into_iter()
            .filter(|&c| {
                let (occ, meas) = self.slots[c as usize];
                ratio(occ, meas).is_some_and(|u| u >= FUNCTION_IN_USE)
            })
            .collect();
        f.sort_by_key(|c| c.as_str());
        f
    }
    pub fn share_rooms_underused(&self) -> Option<f64> {
        self.latest
            .and_then(|(_, covered, under)| ratio(under.into(), covered.into()))
    }
    pub fn visits_per_day(&self) -> Option<f64> {
        ratio(self.visits, self.days.into())
    }
    pub fn visits_per_100m2_day(&self) -> Option<f64> {
        (self.area_m2 > 0.0).then(|| self.visits as f64 / (self.area_m2 / 100.0))
    }
    /// How visits are counted: `door`, `increments`, `transitions`, or several joined by `+`.
    pub fn visits_method(&self) -> String {
        METHODS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.methods & (1 << i) != 0)
            .map(|(_, m)| *m)
            .collect::<Vec<_>>()
            .join("+")
    }
}

/// Rooms flagged DOOR_DRIFT in the window, per site.
pub(crate) fn read_drift(
    root: &Path,
    from: NaiveDate,
    to: NaiveDate,
    ids: &mut Interner,
    sites: &mut [Site],
) -> Result<()> {
    let t = "flags";
    for date in read::dates_in(root, t, from, to)? {
        let part = read::partition(root, t, date, &["site_id", "room_id", "flag"], None)?;
        for (path, b) in &part.batches {
            let (id, room, flag) = (
                strings(path, t, b, "site_id")?,
                strings(path, t, b, "room_id")?,
                strings(path, t, b, "flag")?,
            );
            for i in 0..b.num_rows() {
                if flag.value(i) != "DOOR_DRIFT" {
                    continue;
                }
                if let Some(s) = sites.get_mut(ids.get(id.value(i))) {
                    s.drift_rooms.insert(room.value(i).to_owned());
                }
            }
        }
    }
    Ok(())
}

/// At least 3 functions in use, at least 2 of them elderly, infant or child care or meal aid.
pub(crate) fn meets_function_mix(functions: &[Category]) -> bool {
    functions.len() >= 3 && functions.iter().filter(|c| c.is_core()).count() >= 2
}

pub(crate) fn read_site_days(
    root: &Path,
    from: NaiveDate,
    to: NaiveDate,
    ids: &mut Interner,
    sites: &mut Vec<Site>,
) -> Result<std::collections::BTreeSet<u16>> {
    let mut versions = std::collections::BTreeSet::new();
    let cols = [
        "site_id",
        "site_name",
        "city",
        "district",
        "open_seconds",
        "measured_seconds",
        "occupied_seconds",
        "capacity_person_seconds",
        "capacity_seconds",
        "visits",
        "area_m2",
        "rooms_covered",
        "rooms_underused",
        "revision",
    ];
    let t = "site_day";
    for date in read::dates_in(root, t, from, to)? {
        let part = read::partition(root, t, date, &cols, None)?;
        versions.extend(part.versions.iter().copied());
        let rows = read::latest(&part, &["site_id"])?;
        for ((path, b), rows) in part.batches.iter().zip(&rows) {
            let text = |c| strings(path, t, b, c);
            let (id, name, city, district) = (
                text("site_id")?,
                text("site_name")?,
                text("city")?,
                text("district")?,
            );
            let u64s = |c| prim::<UInt64Type>(path, t, b, c);
            let (open, measured, occupied) = (
                u64s("open_seconds")?,
                u64s("measured_seconds")?,
                u64s("occupied_seconds")?,
            );
            let (cap_ps, cap_s, visits) = (
                u64s("capacity_person_seconds")?,
                u64s("capacity_seconds")?,
                u64s("visits")?,
            );
            let area = prim::<Float64Type>(path, t, b, "area_m2")?;
            let covered = prim::<UInt32Type>(path, t, b, "rooms_covered")?;
            let under = prim::<UInt32Type>(path, t, b, "rooms_underused")?;
            for i in rows.iter() {
                let ix = ids.get(id.value(i));
                if ix == sites.len() {
                    sites.push(Site {
                        id: id.value(i).to_owned(),
                        ..Site::default()
                    });
                }
                let s = &mut sites[ix];
                s.days += 1;
                s.open += open.value(i);
                s.measured += measured.value(i);
                s.occupied += occupied.value(i);
                s.capacity_person_seconds += cap_ps.value(i);
                s.capacity_seconds += cap_s.value(i);
                s.visits += visits.value(i);
                s.area_m2 += area.value(i);
                if s.latest.is_none_or(|(d, ..)| d <= date) {
                    s.latest = Some((date, covered.value(i), under.value(i)));
                    for (mine, theirs) in [
                        (&mut s.name, name.value(i)),
                        (&mut s.city, city.value(i)),
                        (&mut s.district, district.value(i)),
                    ] {
                        if mine != theirs {
                            theirs.clone_into(mine);
                        }
                    }
                }
            }
        }
    }
    Ok(versions)
}

/// Adds each site's implausible door counts over the window (`device_day`, its
/// latest revision; files written before the column existed count none).
pub(crate) fn read_implausible(
    root: &Path,
    from: NaiveDate,
    to: NaiveDate,
    ids: &mut Interner,
    sites: &mut [Site],
) -> Result<()> {
    let t = "device_day";
    let cols = [
        "site_id",
        "device_id",
        "day_start",
        "implausible_counts",
        "revision",
    ];
    for date in read::dates_in(root, t, from, to)? {
        let part = read::partition(root, t, date, &cols, None)?;
        let rows = read::latest(&part, &["site_id", "device_id", "day_start"])?;
        for ((path, b), rows) in part.batches.iter().zip(&rows) {
            if b.column_by_name("implausible_counts").is_none() {
                continue;
            }
            let id = strings(path, t, b, "site_id")?;
            let n = prim::<UInt32Type>(path, t, b, "implausible_counts")?;
            for i in rows.iter() {
                let ix = ids.get(id.value(i));
                if let Some(s) = sites.get_mut(ix) {
                    s.implausible += u64::from(n.value(i));
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn read_slots(
    root: &Path,
    from: NaiveDate,
    to: NaiveDate,
    ids: &mut Interner,
    sites: &mut Vec<Site>,
) -> Result<()> {
    let cols = [
        "site_id",
        "room_id",
        "category",
        "occupied_seconds",
        "measured_seconds",
        "open_seconds",
        "person_seconds",
        "capacity",
        "visits",
        "visits_method",
        "revision",
    ];
    let t = "room_slot_day";
    let mut unknown = 0usize;
    for date in read::dates_in(root, t, from, to)? {
        let part = read::partition(root, t, date, &cols, None)?;
        let rows = read::latest(&part, &["site_id", "room_id", "category"])?;
        for ((path, b), rows) in part.batches.iter().zip(&rows) {
            let (id, category) = (
                strings(path, t, b, "site_id")?,
                strings(path, t, b, "category")?,
            );
            let occupied = prim::<UInt32Type>(path, t, b, "occupied_seconds")?;
            let measured = prim::<UInt32Type>(path, t, b, "measured_seconds")?;
            let method = strings(path, t, b, "visits_method").ok();
            let open = prim::<UInt32Type>(path, t, b, "open_seconds")?;
            let person = prim::<UInt64Type>(path, t, b, "person_seconds")?;
            let capacity = prim::<UInt32Type>(path, t, b, "capacity")?;
            let visits = prim::<UInt64Type>(path, t, b, "visits")?;
            for i in rows.iter() {
                let Some(c) = Category::ALL
                    .iter()
                    .position(|c| c.as_str() == category.value(i))
                else {
                    unknown += 1;
                    continue;
                };
                let ix = ids.get(id.value(i));
                if ix == sites.len() {
                    sites.push(Site {
                        id: id.value(i).to_owned(),
                        ..Site::default()
                    });
                }
                let s = &mut sites[ix];
                s.slots[c].0 += u64::from(occupied.value(i));
                s.slots[c].1 += u64::from(measured.value(i));
                s.hosts |= 1 << c;
                let sums = &mut s.slot_sums[c];
                sums.open += u64::from(open.value(i));
                sums.person_seconds += person.value(i);
                sums.visits += visits.value(i);
                if let Some(cap) = read::get(capacity, i) {
                    sums.capacity_person_seconds += person.value(i);
                    sums.capacity_seconds += u64::from(cap) * u64::from(measured.value(i));
                }
                if let Some(m) = method.and_then(|m| METHODS.iter().position(|x| *x == m.value(i)))
                {
                    s.methods |= 1 << m;
                    sums.methods |= 1 << m;
                }
            }
        }
    }
    if unknown > 0 {
        tracing::warn!(
            rows = unknown,
            "room_slot_day rows with an unknown category were left out"
        );
    }
    Ok(())
}
