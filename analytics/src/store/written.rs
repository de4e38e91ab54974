//! What the window tables already hold: read back at start-up, so that rows a
//! restarted pipeline closes again are not written a second time.

use super::error::{Error, Result};
use super::partition::partition_dir;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{TimestampMillisecondType, UInt16Type};
use chrono::NaiveDate;
use devices::Registry;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::HashMap;
use std::path::Path;

/// The tables whose keys are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum KeyTable {
    /// `room_hour`, by room and hour start.
    RoomHour = 0,
    /// `room_day`, by room and day start.
    RoomDay = 1,
    /// `room_slot_day`, by room, day start and category.
    RoomSlotDay = 2,
    /// `device_day`, by device and day start.
    DeviceDay = 3,
    /// `site_day`, by site and day start.
    SiteDay = 4,
}

/// A row's identity in 64 bits: table (3 bits), category (5), the room's,
/// device's or site's index in the registry (24), start in minutes (32). At
/// national scale the tables of the last days hold millions of keys.
fn key(table: KeyTable, id: u32, start: i64, category: Option<devices::Category>) -> u64 {
    let cat = category.map_or(0, |c| c as u64 + 1) & 0x1f;
    let minutes = (start.div_euclid(60) as u64) & 0xffff_ffff;
    (table as u64) << 61 | cat << 56 | (u64::from(id) & 0xff_ffff) << 32 | minutes
}

/// Keys of the rows already written to the window tables in the given local
/// dates, with the highest revision written of each.
#[derive(Debug, Default)]
pub struct Written {
    keys: HashMap<u64, u16>,
}

impl Written {
    /// Whether a row with this key is already in its table (`id`: the room's,
    /// device's or site's index; `start`: Unix seconds).
    pub fn contains(
        &self,
        table: KeyTable,
        id: u32,
        start: i64,
        category: Option<devices::Category>,
    ) -> bool {
        self.revision(table, id, start, category).is_some()
    }

    /// The highest revision written of the row with this key, if any.
    pub fn revision(
        &self,
        table: KeyTable,
        id: u32,
        start: i64,
        category: Option<devices::Category>,
    ) -> Option<u16> {
        self.keys.get(&key(table, id, start, category)).copied()
    }

    /// How many keys were found.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Reads the keys of `room_hour`, `room_day`, `room_slot_day`, `device_day`
    /// and `site_day` for `dates`; rows of ids `registry` does not know are left out.
    pub fn read(root: &Path, registry: &Registry, dates: &[NaiveDate]) -> Result<Written> {
        let ids = Ids::of(registry);
        let mut w = Written::default();
        for (table, id, start, category) in [
            (KeyTable::RoomHour, "room_id", "hour_start", None),
            (KeyTable::RoomDay, "room_id", "day_start", None),
            (
                KeyTable::RoomSlotDay,
                "room_id",
                "day_start",
                Some("category"),
            ),
            (KeyTable::DeviceDay, "device_id", "day_start", None),
            (KeyTable::SiteDay, "site_id", "day_start", None),
        ] {
            let name = match table {
                KeyTable::RoomHour => "room_hour",
                KeyTable::RoomDay => "room_day",
                KeyTable::RoomSlotDay => "room_slot_day",
                KeyTable::DeviceDay => "device_day",
                KeyTable::SiteDay => "site_day",
            };
            for date in dates {
                let dir = partition_dir(root, name, *date);
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.extension().is_none_or(|e| e != "parquet") {
                        continue;
                    }
                    for batch in read_file(&path)? {
                        w.add(table, &ids, &batch, id, start, category);
                    }
                }
            }
        }
        Ok(w)
    }

    fn add(
        &mut self,
        table: KeyTable,
        ids: &Ids<'_>,
        b: &RecordBatch,
        id: &str,
        start: &str,
        category: Option<&str>,
    ) {
        let text = |name: &str| {
            b.column_by_name(name)
                .and_then(|c| c.as_string_opt::<i32>().cloned())
        };
        let (Some(sites), Some(names)) = (text("site_id"), text(id)) else {
            return;
        };
        let Some(starts) = b
            .column_by_name(start)
            .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>().cloned())
        else {
            return;
        };
        let categories = category.and_then(text);
        let revisions = b
            .column_by_name("revision")
            .and_then(|c| c.as_primitive_opt::<UInt16Type>().cloned());
        for i in 0..b.num_rows() {
            let cat = categories
                .as_ref()
                .filter(|c| !c.is_null(i))
                .map_or("", |c| c.value(i));
            let rev = revisions.as_ref().map_or(0, |r| r.value(i));
            let (site, name) = (sites.value(i), names.value(i));
            let Some(idx) = ids.find(table, site, name) else {
                continue;
            };
            let category = cat.parse::<devices::Category>().ok();
            let k = key(table, idx, starts.value(i).div_euclid(1000), category);
            let r = self.keys.entry(k).or_insert(rev);
            *r = (*r).max(rev);
        }
    }
}

/// The registry's indices by (site id, room / device id) and by site id.
struct Ids<'r> {
    rooms: HashMap<(&'r str, &'r str), u32>,
    devices: HashMap<(&'r str, &'r str), u32>,
    sites: HashMap<&'r str, u32>,
}

impl<'r> Ids<'r> {
    fn of(registry: &'r Registry) -> Ids<'r> {
        let site = |i: devices::SiteIdx| registry.site(i).id.as_str();
        Ids {
            rooms: (registry.rooms.iter().enumerate())
                .map(|(i, r)| ((site(r.site), r.id.as_str()), i as u32))
                .collect(),
            devices: (registry.devices.iter().enumerate())
                .map(|(i, d)| ((site(d.site), d.id.as_str()), i as u32))
                .collect(),
            sites: (registry.sites.iter().enumerate())
                .map(|(i, s)| (s.id.as_str(), i as u32))
                .collect(),
        }
    }

    fn find(&self, table: KeyTable, site: &str, id: &str) -> Option<u32> {
        match table {
            KeyTable::DeviceDay => self.devices.get(&(site, id)).copied(),
            KeyTable::SiteDay => self.sites.get(site).copied(),
            _ => self.rooms.get(&(site, id)).copied(),
        }
    }
}

fn read_file(path: &Path) -> Result<Vec<RecordBatch>> {
    let table = "written";
    let parquet = |source| Error::Parquet {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(parquet)?
        .build()
        .map_err(parquet)?;
    reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|source| Error::Arrow { table, source })
}
