//! Bulk registries from two spreadsheets: one row per room, one row per device.
//!
//! A district rolling out counters to hundreds of communities keeps its rooms
//! in a spreadsheet; [`registry_from_csv`] reads the two sheets saved as CSV
//! into a [`RegistryFile`], and [`RegistryFile::to_toml`] writes the registry
//! file the pipeline loads.
//!
//! `rooms.csv` (site fields repeat on each room of the site):
//!
//! ```text
//! site_id,site_name,city,district,timezone,room_id,room_name,floor,capacity,area_m2,schedule,open_on_holidays
//! sh-xh-tianping,天平街道社区综合体,上海市,徐汇区,,canteen,长者食堂,1,40,135,daily 10:30-13:00 meal_aid; daily 16:30-18:30 meal_aid,true
//! ```
//!
//! `devices.csv`:
//!
//! ```text
//! site_id,device_id,room_id,kind,interval_s
//! sh-xh-tianping,tp-canteen-door,canteen,door,30
//! ```
//!
//! Empty `timezone`, `floor`, `open_on_holidays` and `interval_s` mean
//! Asia/Shanghai, no floor, false and 60 s. `rooms.csv` may also have a
//! `calendar` column (`cn`, the default, or `none`, the same on every row of a
//! site) and a `popularity` column (the simulator's `sim.popularity`);
//! `devices.csv` may have `direction` (`both` or `in`), `rollover` and
//! `max_per_minute` columns for door devices, a `codec` column
//! (`native-v1`, the default, `milesight-vs13x` or `milesight-vs121`) and a
//! `retired` column (true for a device taken out of service). Files may start with
//! a UTF-8 byte order mark and use CRLF line ends, as spreadsheets save them.
//! Errors name the file, the row (the header is row 1, as in a spreadsheet)
//! and the column.

use crate::calendar::Calendar;
use crate::model::{Codec, DeviceKind, Direction, SimHints};
use crate::registry::{DeviceEntry, RegistryError, RegistryFile, RoomEntry, SiteEntry, valid_id};
use crate::schedule::{Opening, Schedule};
use chrono_tz::Tz;
use csv::StringRecord;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const ROOM_COLUMNS: [&str; 12] = [
    "site_id",
    "site_name",
    "city",
    "district",
    "timezone",
    "room_id",
    "room_name",
    "floor",
    "capacity",
    "area_m2",
    "schedule",
    "open_on_holidays",
];
const ROOM_OPTIONAL: [&str; 2] = ["calendar", "popularity"];
const DEVICE_COLUMNS: [&str; 5] = ["site_id", "device_id", "room_id", "kind", "interval_s"];
const DEVICE_OPTIONAL: [&str; 5] = [
    "direction",
    "rollover",
    "max_per_minute",
    "codec",
    "retired",
];

/// Reads a rooms CSV (one row per room) and a devices CSV (one row per device) into a registry file.
///
/// Each row is checked as it is read, so that a mistake is reported with its
/// row and column; [`RegistryFile::build`] then checks the whole.
pub fn registry_from_csv(rooms: &Path, devices: &Path) -> Result<RegistryFile, RegistryError> {
    let rooms_table = Table::read(rooms, &ROOM_COLUMNS, &ROOM_OPTIONAL)?;
    let devices_table = Table::read(devices, &DEVICE_COLUMNS, &DEVICE_OPTIONAL)?;
    let mut file = RegistryFile::default();
    // Site id -> (position in `file.site`, row it first appeared on).
    let mut sites: HashMap<String, (usize, u64)> = HashMap::new();
    for row in rooms_table.rows() {
        let (site, room) = room_row(&row)?;
        let (at, first_row) = match sites.get(&site.id) {
            Some(&known) => known,
            None => {
                sites.insert(site.id.clone(), (file.site.len(), row.line));
                file.site.push(site.clone());
                (file.site.len() - 1, row.line)
            }
        };
        let known = &mut file.site[at];
        let fields = [
            ("site_name", &known.name, &site.name),
            ("city", &known.city, &site.city),
            ("district", &known.district, &site.district),
            ("timezone", &known.timezone, &site.timezone),
        ];
        if known.calendar != site.calendar {
            return Err(row.invalid(
                "calendar",
                format!(
                    "site {:?} has calendar {:?} on row {first_row} but {:?} here; a site's fields must agree on all its rows",
                    site.id,
                    known.calendar.as_str(),
                    site.calendar.as_str()
                ),
            ));
        }
        for (column, before, now) in fields {
            if before != now {
                return Err(row.invalid(
                    column,
                    format!(
                        "site {:?} has {column} {before:?} on row {first_row} but {now:?} here; a site's fields must agree on all its rows",
                        site.id
                    ),
                ));
            }
        }
        if known.room.iter().any(|r| r.id == room.id) {
            return Err(row.invalid(
                "room_id",
                format!("room {:?} appears twice in site {:?}", room.id, site.id),
            ));
        }
        known.room.push(room);
    }
    let mut device_rows: HashMap<String, u64> = HashMap::new();
    // (site position, room id) -> (has a count device, has a presence device).
    let mut sensors: HashMap<(usize, String), (bool, bool)> = HashMap::new();
    for row in devices_table.rows() {
        let site_id = row.id("site_id")?;
        let &(at, _) = sites.get(site_id).ok_or_else(|| {
            row.invalid(
                "site_id",
                format!("site {site_id:?} has no rooms in {}", rooms.display()),
            )
        })?;
        let device_id = row.id("device_id")?;
        if let Some(first) = device_rows.insert(device_id.to_owned(), row.line) {
            return Err(row.invalid(
                "device_id",
                format!("device {device_id:?} is also on row {first}; device ids must be unique"),
            ));
        }
        let room_id = row.id("room_id")?;
        if !file.site[at].room.iter().any(|r| r.id == room_id) {
            return Err(row.invalid(
                "room_id",
                format!("room {room_id:?} is not a room of site {site_id:?}"),
            ));
        }
        let entry = device_row(&row, room_id)?;
        let kind = entry.kind;
        let seen = sensors.entry((at, room_id.to_owned())).or_default();
        let twice = match kind {
            DeviceKind::Count => std::mem::replace(&mut seen.0, true),
            DeviceKind::Presence => std::mem::replace(&mut seen.1, true),
            DeviceKind::Door => false,
        };
        if twice {
            return Err(row.invalid(
                "kind",
                format!(
                    "room {room_id:?} already has a {} device; a room takes one count and one presence device (any number of door devices)",
                    kind.as_str()
                ),
            ));
        }
        file.site[at].device.push(entry);
    }
    Ok(file)
}

/// One row of a devices sheet: its device, in room `room_id` (the caller
/// checks that the site and the room are there).
fn device_row(row: &Row, room_id: &str) -> Result<DeviceEntry, RegistryError> {
    let device_id = row.id("device_id")?;
    let kind = match row.get("kind").to_ascii_lowercase().as_str() {
        "count" => DeviceKind::Count,
        "presence" => DeviceKind::Presence,
        "door" => DeviceKind::Door,
        other => {
            return Err(row.invalid(
                "kind",
                format!("{other:?} is not a device kind (count, presence or door)"),
            ));
        }
    };
    let interval_s = match row.get("interval_s") {
        "" => 60,
        text => text
            .parse::<u32>()
            .ok()
            .filter(|s| (1..=86_400).contains(s))
            .ok_or_else(|| {
                row.invalid(
                    "interval_s",
                    format!("{text:?} is not a whole number of seconds from 1 to 86400"),
                )
            })?,
    };
    let direction = match row.get("direction").to_ascii_lowercase().as_str() {
        "" | "both" => Direction::Both,
        "in" => Direction::In,
        other => {
            return Err(row.invalid(
                "direction",
                format!("{other:?} is not a direction (both or in)"),
            ));
        }
    };
    let rollover = row.number::<u64>("rollover", "a whole number of at least 2", |r| *r >= 2)?;
    let max_per_minute =
        row.number::<u32>("max_per_minute", "a whole number of at least 1", |m| {
            *m >= 1
        })?;
    let codec = match row.get("codec").to_ascii_lowercase().as_str() {
        "" | "native-v1" => Codec::NativeV1,
        "milesight-vs13x" => Codec::MilesightVs13x,
        "milesight-vs121" => Codec::MilesightVs121,
        other => {
            return Err(row.invalid(
                "codec",
                format!("{other:?} is not a codec (native-v1, milesight-vs13x or milesight-vs121)"),
            ));
        }
    };
    let retired = yes_no(row, "retired")?;
    Ok(DeviceEntry {
        id: device_id.to_owned(),
        room: room_id.to_owned(),
        kind,
        interval_s,
        codec,
        direction,
        rollover,
        max_per_minute,
        retired,
    })
}

/// A yes-or-no column (empty: no), in the words a spreadsheet may hold.
fn yes_no(row: &Row, column: &'static str) -> Result<bool, RegistryError> {
    match row.get(column).to_ascii_lowercase().as_str() {
        "" | "false" | "no" | "n" | "0" | "否" => Ok(false),
        "true" | "yes" | "y" | "1" | "是" => Ok(true),
        other => Err(row.invalid(column, format!("{other:?} is not true or false"))),
    }
}

/// Reads the site and room of one row of `rooms.csv`; the site has no rooms yet.
fn room_row(row: &Row) -> Result<(SiteEntry, RoomEntry), RegistryError> {
    let site_name = row.required("site_name")?;
    let timezone = match row.get("timezone") {
        "" => "Asia/Shanghai".to_owned(),
        tz => {
            tz.parse::<Tz>().map_err(|_| {
                row.invalid(
                    "timezone",
                    format!("{tz:?} is not an IANA name such as Asia/Shanghai"),
                )
            })?;
            tz.to_owned()
        }
    };
    let calendar = match row.get("calendar").to_ascii_lowercase().as_str() {
        "" | "cn" => Calendar::Cn,
        "none" => Calendar::None,
        other => {
            return Err(row.invalid(
                "calendar",
                format!("{other:?} is not a calendar (cn or none)"),
            ));
        }
    };
    let site = SiteEntry {
        id: row.id("site_id")?.to_owned(),
        name: site_name.to_owned(),
        city: row.get("city").to_owned(),
        district: row.get("district").to_owned(),
        timezone,
        calendar,
        room: Vec::new(),
        device: Vec::new(),
    };
    let floor = match row.get("floor") {
        "" => None,
        text => Some(
            text.parse::<i32>()
                .map_err(|_| row.invalid("floor", format!("{text:?} is not a whole number")))?,
        ),
    };
    let capacity = row.get("capacity");
    let capacity = capacity
        .parse::<u32>()
        .ok()
        .filter(|c| *c >= 1)
        .ok_or_else(|| {
            row.invalid(
                "capacity",
                format!("{capacity:?} is not a number of persons of at least 1"),
            )
        })?;
    let area = row.get("area_m2");
    let area_m2 = area
        .parse::<f64>()
        .ok()
        .filter(|a| a.is_finite() && *a > 0.0)
        .ok_or_else(|| {
            row.invalid(
                "area_m2",
                format!("{area:?} is not a positive number of square metres"),
            )
        })?;
    let open_on_holidays = yes_no(row, "open_on_holidays")?;
    let schedule: Vec<String> = row
        .get("schedule")
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let mut openings = Vec::with_capacity(schedule.len());
    for (i, line) in schedule.iter().enumerate() {
        let o = Opening::parse(line)
            .map_err(|e| row.invalid("schedule", format!("opening {}: {e}", i + 1)))?;
        openings.push(o);
    }
    Schedule {
        openings,
        open_on_holidays,
        overrides: Default::default(),
        calendar,
    }
    .check_overlaps()
    .map_err(|e| row.invalid("schedule", e))?;
    let sim = match row.get("popularity") {
        "" => None,
        text => Some(SimHints {
            popularity: text
                .parse::<f64>()
                .ok()
                .filter(|p| p.is_finite() && *p >= 0.0)
                .ok_or_else(|| {
                    row.invalid(
                        "popularity",
                        format!("{text:?} is not a number of at least 0"),
                    )
                })?,
            outage: 0.0,
        }),
    };
    let room = RoomEntry {
        id: row.id("room_id")?.to_owned(),
        name: row.required("room_name")?.to_owned(),
        floor,
        capacity,
        area_m2,
        schedule,
        open_on_holidays,
        overrides: Vec::new(),
        sim,
    };
    Ok((site, room))
}

/// A CSV file read whole, with its columns found by name.
struct Table {
    file: PathBuf,
    /// Column name -> position in the records.
    columns: HashMap<&'static str, usize>,
    /// Records with the row number they start on.
    records: Vec<(u64, StringRecord)>,
}

impl Table {
    fn read(
        path: &Path,
        required: &[&'static str],
        optional: &[&'static str],
    ) -> Result<Table, RegistryError> {
        let invalid = |entry: String, problem: String| RegistryError::Invalid {
            file: path.to_owned(),
            entry,
            problem,
        };
        let bytes = std::fs::read(path).map_err(|source| RegistryError::Io {
            file: path.to_owned(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            invalid(
                "file".into(),
                format!(
                    "is not UTF-8 text (byte {}); save the sheet as \"CSV UTF-8\", not GBK",
                    e.utf8_error().valid_up_to()
                ),
            )
        })?;
        // csv counts a record's line from where its terminator began, which
        // puts CRLF rows one line early; plain line feeds number them right.
        let text = text
            .strip_prefix('\u{feff}')
            .unwrap_or(&text)
            .replace("\r\n", "\n");
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let csv_error = |e: csv::Error| {
            let entry = match e.position() {
                Some(p) => format!("row {}", p.line()),
                None => "file".into(),
            };
            invalid(entry, e.to_string())
        };
        let headers = reader.headers().map_err(csv_error)?.clone();
        let mut columns = HashMap::new();
        for (i, name) in headers.iter().enumerate() {
            let known = required.iter().chain(optional).find(|c| **c == name);
            let Some(&column) = known else {
                let optional = match optional {
                    [] => String::new(),
                    some => format!(" (and optionally {})", some.join(",")),
                };
                return Err(invalid(
                    "row 1".into(),
                    format!(
                        "unknown column {name:?}; the columns are {}{optional}",
                        required.join(",")
                    ),
                ));
            };
            if columns.insert(column, i).is_some() {
                return Err(invalid(
                    "row 1".into(),
                    format!("column {name:?} appears twice"),
                ));
            }
        }
        if let Some(missing) = required.iter().find(|c| !columns.contains_key(*c)) {
            return Err(invalid(
                "row 1".into(),
                format!(
                    "column {missing:?} is missing; the columns are {}",
                    required.join(",")
                ),
            ));
        }
        let mut records = Vec::new();
        for record in reader.records() {
            let record = record.map_err(csv_error)?;
            let line = record.position().map_or(0, |p| p.line());
            records.push((line, record));
        }
        Ok(Table {
            file: path.to_owned(),
            columns,
            records,
        })
    }

    fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.records.iter().map(|(line, record)| Row {
            table: self,
            line: *line,
            record,
        })
    }
}

/// One record of a [`Table`].
struct Row<'a> {
    table: &'a Table,
    line: u64,
    record: &'a StringRecord,
}

impl Row<'_> {
    /// The trimmed cell of `column`, empty when the column is absent.
    fn get(&self, column: &str) -> &str {
        self.table
            .columns
            .get(column)
            .and_then(|i| self.record.get(*i))
            .unwrap_or("")
    }

    /// A cell that must not be empty.
    fn required(&self, column: &'static str) -> Result<&str, RegistryError> {
        match self.get(column) {
            "" => Err(self.invalid(column, "is empty".into())),
            text => Ok(text),
        }
    }

    /// An optional number; `what` says what it must be when `ok` refuses it.
    fn number<T: std::str::FromStr>(
        &self,
        column: &'static str,
        what: &str,
        ok: impl Fn(&T) -> bool,
    ) -> Result<Option<T>, RegistryError> {
        match self.get(column) {
            "" => Ok(None),
            text => text
                .parse::<T>()
                .ok()
                .filter(ok)
                .map(Some)
                .ok_or_else(|| self.invalid(column, format!("{text:?} is not {what}"))),
        }
    }

    /// A cell holding an id of DEVICES.md.
    fn id(&self, column: &'static str) -> Result<&str, RegistryError> {
        let id = self.required(column)?;
        if !valid_id(id) {
            return Err(self.invalid(column, format!("{id:?} must be 1-64 of A-Z a-z 0-9 _ -")));
        }
        Ok(id)
    }

    fn invalid(&self, column: &str, problem: String) -> RegistryError {
        RegistryError::Invalid {
            file: self.table.file.clone(),
            entry: format!("row {} column {column:?}", self.line),
            problem,
        }
    }
}

impl RegistryFile {
    /// The registry as pretty TOML that [`crate::Registry::from_toml`] reads back.
    pub fn to_toml(&self) -> String {
        // Every field is a string, number, boolean or table, which TOML can always hold.
        toml::to_string_pretty(self).expect("a registry file is plain TOML data")
    }
}

pub mod change;

#[cfg(test)]
mod tests;
