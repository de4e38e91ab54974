//! Reading back what a restarted stream seeds its rooms' flag and idle-slot
//! lookback with: `room_day` with its `device_day` and `room_hour` rows, the
//! latest revision of each.
//!
//! The tables are read with the reports' reader (`report::read`); what it
//! fails with comes back as [`Error::Read`](super::Error::Read).

use super::Store;
use super::error::Result;
use crate::report::read::{self, get, prim, strings};
use arrow::datatypes::{TimestampMillisecondType, UInt8Type, UInt32Type};
use chrono::NaiveDate;
use devices::{LookbackDay, LookbackHour, RoomIdx};
use std::collections::HashMap;

impl Store {
    /// The stored days of the registry's rooms whose local date is within
    /// `from..=to`, each with its devices' days and its hours with opening time.
    /// Rows of rooms or devices the registry no longer has are left out.
    pub fn read_lookback(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<LookbackDay>> {
        let (root, reg) = (self.root(), self.registry());
        let reg = &*reg;
        let rooms: HashMap<(&str, &str), RoomIdx> = reg
            .rooms
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    (reg.site(r.site).id.as_str(), r.id.as_str()),
                    RoomIdx(i as u32),
                )
            })
            .collect();
        // (room, day start) -> the day and its end.
        let mut days: HashMap<(RoomIdx, i64), (LookbackDay, i64)> = HashMap::new();
        let t = "room_day";
        let cols = [
            "site_id",
            "room_id",
            "day_start",
            "day_end",
            "open_seconds",
            "measured_seconds",
            "occupied_seconds",
            "over_capacity_seconds",
            "after_hours_occupied_seconds",
            "door_residual",
            "revision",
        ];
        for date in read::dates_in(root, t, from, to)? {
            let part = read::partition(root, t, date, &cols, None)?;
            let rows = read::latest(&part, &["site_id", "room_id", "day_start"])?;
            for ((path, b), rows) in part.batches.iter().zip(&rows) {
                let (site, room) = (
                    strings(path, t, b, "site_id")?,
                    strings(path, t, b, "room_id")?,
                );
                let ms = |c| prim::<TimestampMillisecondType>(path, t, b, c);
                let (start, end) = (ms("day_start")?, ms("day_end")?);
                let u32s = |c| prim::<UInt32Type>(path, t, b, c);
                let (open, measured, occupied) = (
                    u32s("open_seconds")?,
                    u32s("measured_seconds")?,
                    u32s("occupied_seconds")?,
                );
                let (over, after, residual) = (
                    u32s("over_capacity_seconds")?,
                    u32s("after_hours_occupied_seconds")?,
                    u32s("door_residual")?,
                );
                for i in rows.iter() {
                    let Some(&r) = rooms.get(&(site.value(i), room.value(i))) else {
                        continue;
                    };
                    let day = LookbackDay {
                        room: r,
                        start: start.value(i).div_euclid(1000),
                        open_seconds: open.value(i),
                        measured_seconds: measured.value(i),
                        occupied_seconds: occupied.value(i),
                        over_capacity_seconds: get(over, i),
                        after_hours_occupied_seconds: after.value(i),
                        door_residual: get(residual, i),
                        devices: vec![(0, None); reg.room(r).devices.len()],
                        hours: Vec::new(),
                    };
                    days.insert((r, day.start), (day, end.value(i).div_euclid(1000)));
                }
            }
        }
        self.add_device_days(from, to, &mut days)?;
        self.add_hours(from, to, &rooms, &mut days)?;
        let mut out: Vec<LookbackDay> = days.into_values().map(|(d, _)| d).collect();
        out.sort_by_key(|d| (d.room, d.start));
        Ok(out)
    }

    fn add_device_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        days: &mut HashMap<(RoomIdx, i64), (LookbackDay, i64)>,
    ) -> Result<()> {
        let (root, reg) = (self.root(), self.registry());
        let reg = &*reg;
        let t = "device_day";
        let cols = [
            "site_id",
            "room_id",
            "device_id",
            "day_start",
            "offline_seconds",
            "min_battery_pct",
            "revision",
        ];
        for date in read::dates_in(root, t, from, to)? {
            let part = read::partition(root, t, date, &cols, None)?;
            // A device moved during a day has a row in each of its rooms.
            let rows = read::latest(&part, &["site_id", "room_id", "device_id", "day_start"])?;
            for ((path, b), rows) in part.batches.iter().zip(&rows) {
                let site = strings(path, t, b, "site_id")?;
                let room_id = strings(path, t, b, "room_id")?;
                let device = strings(path, t, b, "device_id")?;
                let start = prim::<TimestampMillisecondType>(path, t, b, "day_start")?;
                let offline = prim::<UInt32Type>(path, t, b, "offline_seconds")?;
                let battery = prim::<UInt8Type>(path, t, b, "min_battery_pct")?;
                for i in rows.iter() {
                    let Some(d) = reg.device_by_id(device.value(i)) else {
                        continue;
                    };
                    let Some(room) = reg.room_by_ids(site.value(i), room_id.value(i)) else {
                        continue;
                    };
                    let Some(pos) = reg.room(room).devices.iter().position(|x| *x == d) else {
                        continue;
                    };
                    if let Some((day, _)) = days.get_mut(&(room, start.value(i).div_euclid(1000))) {
                        day.devices[pos] = (offline.value(i), get(battery, i));
                    }
                }
            }
        }
        Ok(())
    }

    fn add_hours(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        rooms: &HashMap<(&str, &str), RoomIdx>,
        days: &mut HashMap<(RoomIdx, i64), (LookbackDay, i64)>,
    ) -> Result<()> {
        let root = self.root();
        // Each room's days in order, to find the one holding an hour.
        let mut spans: HashMap<RoomIdx, Vec<(i64, i64)>> = HashMap::new();
        for ((room, start), (_, end)) in days.iter() {
            spans.entry(*room).or_default().push((*start, *end));
        }
        for s in spans.values_mut() {
            s.sort_unstable();
        }
        let t = "room_hour";
        let cols = [
            "site_id",
            "room_id",
            "hour_start",
            "open_seconds",
            "measured_seconds",
            "occupied_seconds",
            "revision",
        ];
        for date in read::dates_in(root, t, from, to)? {
            let part = read::partition(root, t, date, &cols, None)?;
            let rows = read::latest(&part, &["site_id", "room_id", "hour_start"])?;
            for ((path, b), rows) in part.batches.iter().zip(&rows) {
                let (site, room) = (
                    strings(path, t, b, "site_id")?,
                    strings(path, t, b, "room_id")?,
                );
                let start = prim::<TimestampMillisecondType>(path, t, b, "hour_start")?;
                let u32s = |c| prim::<UInt32Type>(path, t, b, c);
                let (open, measured, occupied) = (
                    u32s("open_seconds")?,
                    u32s("measured_seconds")?,
                    u32s("occupied_seconds")?,
                );
                for i in rows.iter() {
                    if open.value(i) == 0 {
                        continue;
                    }
                    let Some(&r) = rooms.get(&(site.value(i), room.value(i))) else {
                        continue;
                    };
                    let h = start.value(i).div_euclid(1000);
                    let Some(&(day, _)) = spans
                        .get(&r)
                        .and_then(|s| s.iter().find(|(a, z)| *a <= h && h < *z))
                    else {
                        continue;
                    };
                    if let Some((d, _)) = days.get_mut(&(r, day)) {
                        d.hours.push(LookbackHour {
                            start: h,
                            open_seconds: open.value(i),
                            measured_seconds: measured.value(i),
                            occupied_seconds: occupied.value(i),
                        });
                    }
                }
            }
        }
        for (d, _) in days.values_mut() {
            d.hours.sort_by_key(|h| h.start);
        }
        Ok(())
    }
}
