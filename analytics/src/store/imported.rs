//! Tables written by `doorstep import`: files with fixed names, so that an
//! import run again replaces what it wrote instead of adding to it.
//!
//! An import writes its readings and rejections with [`Store::write_ingested`]
//! under a tag made from the input (file contents, format, binding). Its
//! windows, flags, idle slots, device days and site days are recomputed for the
//! whole site from the site's `raw_events` and written with
//! [`Store::write_imported`] under a tag made from the site: each partition
//! holds one `part-<tag>.parquet` per table, and a partition the recomputation
//! no longer reaches loses its file. Running the same import twice gives the
//! same files; importing a second file of the same room recomputes the days
//! both touch from all the readings.

use super::error::{Result, io};
use super::partition::{self, partition_dir};
use super::{Store, device_day, flags, idle_slots, room_day, room_hour, room_slot_day, site_day};
use chrono::NaiveDate;
use devices::{DeviceDay, Flag, IdleSlot, RoomWindow, SiteDay};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// What an import recomputed for one site: every row is written.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportedRows<'a> {
    /// Closed windows of every kind (hours, days, slot days).
    pub windows: &'a [RoomWindow],
    /// Flags.
    pub flags: &'a [Flag],
    /// Idle blocks.
    pub idle_slots: &'a [IdleSlot],
    /// Device days.
    pub device_days: &'a [DeviceDay],
    /// Site days.
    pub site_days: &'a [SiteDay],
}

/// The tables [`Store::write_imported`] writes.
const DERIVED: [&str; 7] = [
    room_hour::TABLE,
    room_day::TABLE,
    room_slot_day::TABLE,
    flags::TABLE,
    idle_slots::TABLE,
    device_day::TABLE,
    site_day::TABLE,
];

fn dates_of(root: &std::path::Path, table: &str) -> Result<Vec<NaiveDate>> {
    let dir = root.join(table);
    let mut dates = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(dates),
        Err(e) => return Err(io(&dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io(&dir))?;
        let name = entry.file_name();
        if let Some(date) = name
            .to_str()
            .and_then(|n| n.strip_prefix("date="))
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        {
            dates.push(date);
        }
    }
    dates.sort();
    Ok(dates)
}

/// The ids of the sites `rows` are of.
fn sites_of(reg: &devices::Registry, rows: &ImportedRows<'_>) -> BTreeSet<String> {
    let site_of_room = |r: devices::RoomIdx| {
        reg.rooms
            .get(r.ix())
            .map(|room| reg.site(room.site).id.clone())
    };
    let mut out: BTreeSet<String> = BTreeSet::new();
    out.extend(rows.windows.iter().filter_map(|w| site_of_room(w.room)));
    out.extend(rows.flags.iter().filter_map(|f| site_of_room(f.room)));
    out.extend(rows.idle_slots.iter().filter_map(|s| site_of_room(s.room)));
    out.extend(rows.device_days.iter().filter_map(|d| site_of_room(d.room)));
    out.extend(
        rows.site_days
            .iter()
            .filter_map(|d| reg.sites.get(d.site.ix()).map(|s| s.id.clone())),
    );
    out
}

impl Store {
    /// Local dates whose `raw_events` partition holds a file written under a tag
    /// starting with `prefix` (`part-<prefix>…parquet`): the days imports put readings in.
    pub fn tagged_raw_dates(&self, prefix: &str) -> Result<Vec<NaiveDate>> {
        let start = format!("part-{prefix}");
        let mut found = Vec::new();
        for date in dates_of(self.root(), super::raw_events::TABLE)? {
            let dir = partition_dir(self.root(), super::raw_events::TABLE, date);
            let entries = std::fs::read_dir(&dir).map_err(io(&dir))?;
            for entry in entries {
                let name = entry.map_err(io(&dir))?.file_name();
                let name = name.to_string_lossy();
                if name.starts_with(&start) && name.ends_with(".parquet") {
                    found.push(date);
                    break;
                }
            }
        }
        Ok(found)
    }

    /// Local dates within `[from, to]` whose `raw_events` partition exists.
    pub fn raw_dates_between(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<NaiveDate>> {
        Ok(dates_of(self.root(), super::raw_events::TABLE)?
            .into_iter()
            .filter(|d| (from..=to).contains(d))
            .collect())
    }

    /// Removes the `raw_events` and `quarantine` files written under `tag` in
    /// every partition (an import batch being replaced or removed); returns how
    /// many files went.
    pub fn remove_ingested(&self, tag: &str) -> Result<usize> {
        let name = format!("part-{tag}.parquet");
        let mut removed = 0;
        for table in [super::raw_events::TABLE, super::quarantine::TABLE] {
            for date in dates_of(self.root(), table)? {
                let dir = partition_dir(self.root(), table, date);
                let file = dir.join(&name);
                match std::fs::remove_file(&file) {
                    Ok(()) => {
                        partition::sync_dir(&dir)?;
                        removed += 1;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io(&file)(e)),
                }
            }
        }
        Ok(removed)
    }

    /// Writes recomputed rows to `room_hour`, `room_day`, `room_slot_day`, `flags`,
    /// `idle_slots`, `device_day` and `site_day` as `part-<tag>.parquet` in each
    /// partition (replacing a file of that name), takes the rows of the same
    /// sites out of the other files of those partitions (what live runs wrote:
    /// the recomputation holds their readings too, so a room's day has one set
    /// of rows), then removes the `part-<tag>` files of partitions these rows no
    /// longer reach. Returns the files written.
    ///
    /// Every file is staged before any is renamed, as [`Store::write_windows`] does.
    pub fn write_imported(&self, rows: ImportedRows<'_>, tag: &str) -> Result<Vec<PathBuf>> {
        let reg = self.registry();
        let reg = &*reg;
        let of =
            |f: fn(devices::WindowKind) -> bool| rows.windows.iter().filter(move |w| f(w.kind));
        let tables = vec![
            (
                &room_hour::LAYOUT.spec,
                room_hour::batches(reg, of(room_hour::LAYOUT.accepts))?,
            ),
            (
                &room_day::LAYOUT.spec,
                room_day::batches(reg, of(room_day::LAYOUT.accepts))?,
            ),
            (
                &room_slot_day::LAYOUT.spec,
                room_slot_day::batches(reg, of(room_slot_day::LAYOUT.accepts))?,
            ),
            (&flags::SPEC, flags::batches(reg, rows.flags)?),
            (
                &idle_slots::SPEC,
                idle_slots::batches(reg, rows.idle_slots)?,
            ),
            (
                &device_day::SPEC,
                device_day::batches(reg, rows.device_days)?,
            ),
            (&site_day::SPEC, site_day::batches(reg, rows.site_days)?),
        ];
        let written: BTreeSet<(&str, NaiveDate)> = tables
            .iter()
            .flat_map(|(t, b)| b.keys().map(move |d| (t.name, *d)))
            .collect();
        let specs: Vec<(&partition::Table, Vec<NaiveDate>)> = tables
            .iter()
            .map(|(t, b)| (*t, b.keys().copied().collect()))
            .collect();
        let files = self.write_tagged(tables, Some(tag))?;
        // The recomputed days replace what live runs wrote for these sites on them.
        let sites = sites_of(reg, &rows);
        for (table, dates) in specs {
            for date in dates {
                super::supersede::drop_site_rows(self.root(), table, date, &sites)?;
            }
        }
        let name = format!("part-{tag}.parquet");
        for table in DERIVED {
            for date in dates_of(self.root(), table)? {
                if written.contains(&(table, date)) {
                    continue;
                }
                let dir = partition_dir(self.root(), table, date);
                let stale = dir.join(&name);
                match std::fs::remove_file(&stale) {
                    Ok(()) => partition::sync_dir(&dir)?,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io(&stale)(e)),
                }
            }
        }
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devices::{Registry, RoomIdx, VisitsMethod, WindowKind};
    use std::path::Path;
    use std::sync::Arc;

    fn store(dir: &Path) -> Store {
        let reg = Registry::from_toml(
            r#"
[[site]]
id = "s1"
name = "社区"
[[site.room]]
id = "r"
name = "厅"
capacity = 10
area_m2 = 50
schedule = ["daily 09:00-17:00 culture"]
[[site.device]]
id = "d1"
room = "r"
kind = "count"
"#,
            Path::new("t.toml"),
        )
        .expect("valid");
        Store::open(dir, Arc::new(reg)).expect("store")
    }

    fn hour(start: i64) -> RoomWindow {
        RoomWindow {
            kind: WindowKind::Hour,
            room: RoomIdx(0),
            start,
            end: start + 3600,
            open_seconds: 3600,
            measured_seconds: 3600,
            occupied_seconds: 60,
            person_seconds: 60,
            peak_occupancy: Some(1),
            visits: 1,
            visits_method: VisitsMethod::Transitions,
            longest_idle_seconds: 3540,
            after_hours_occupied_seconds: 0,
            over_capacity_seconds: 0,
            capacity: Some(10),
            door_residual: None,
            revision: 0,
        }
    }

    fn listing(root: &Path) -> Vec<String> {
        let mut v = Vec::new();
        for table in DERIVED {
            for date in dates_of(root, table).expect("dates") {
                let dir = partition_dir(root, table, date);
                for e in std::fs::read_dir(&dir).expect("dir") {
                    let e = e.expect("entry");
                    v.push(format!(
                        "{table}/{date}/{}",
                        e.file_name().to_string_lossy()
                    ));
                }
            }
        }
        v.sort();
        v
    }

    #[test]
    fn writing_again_replaces_and_drops_partitions_no_longer_reached() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = store(dir.path());
        // 2026-11-10 and 2026-11-11, 09:00 in Shanghai.
        let (a, b) = (1_794_272_400, 1_794_272_400 + 86_400);
        let both = [hour(a), hour(b)];
        let rows = ImportedRows {
            windows: &both,
            ..ImportedRows::default()
        };
        s.write_imported(rows, "import-s1").expect("written");
        let first = listing(dir.path());
        assert_eq!(
            first,
            vec![
                "room_hour/2026-11-10/part-import-s1.parquet",
                "room_hour/2026-11-11/part-import-s1.parquet"
            ]
        );
        s.write_imported(rows, "import-s1").expect("written again");
        assert_eq!(listing(dir.path()), first);
        let one = [hour(b)];
        s.write_imported(
            ImportedRows {
                windows: &one,
                ..ImportedRows::default()
            },
            "import-s1",
        )
        .expect("written");
        assert_eq!(
            listing(dir.path()),
            vec!["room_hour/2026-11-11/part-import-s1.parquet"]
        );
    }

    #[test]
    fn finds_the_dates_of_tagged_raw_events() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = store(dir.path());
        assert!(s.tagged_raw_dates("import-").expect("none").is_empty());
        let reading = devices::Reading {
            device: devices::DeviceIdx(0),
            room: RoomIdx(0),
            time_ms: 1_794_272_400_000,
            received_ms: 1_794_272_401_000,
            seq: None,
            clock_skew: false,
            value: devices::Value::Count(1),
        };
        s.write_raw_events(std::slice::from_ref(&reading))
            .expect("untagged");
        assert!(s.tagged_raw_dates("import-").expect("none").is_empty());
        s.write_ingested(&[reading], &[], "import-abc")
            .expect("tagged");
        assert_eq!(
            s.tagged_raw_dates("import-").expect("one"),
            vec![NaiveDate::from_ymd_opt(2026, 11, 10).expect("date")]
        );
    }
}
