//! The Parquet store: accepted readings, closed room windows (hours, days,
//! service-category slots), flags and site days, written as Hive-partitioned
//! Parquet that DuckDB, Polars or Spark read directly.
//!
//! Each table lives in `<root>/<table>/date=YYYY-MM-DD/part-*.parquet`, where
//! the date is the **local date of the row's site** (so a Shanghai evening and a
//! Berlin evening both land on their own day). Writes only add files, each file
//! appears whole (written to `.tmp`, synced, renamed), and the rows inside a
//! file are sorted, so the same rows give the same file whatever order they came
//! in. Every row carries [`METRICS_VERSION`]. `docs/SCHEMA.md` lists the columns.
//!
//! Which module does what:
//!
//! - here, [`Store`]: the data directory, with a method to write each table
//!   (staging every file of a write before renaming any);
//! - one module per table ([`raw_events`], [`quarantine`], [`room_hour`],
//!   [`room_day`], [`room_slot_day`], [`flags`], [`idle_slots`],
//!   [`device_day`], [`site_day`]): its name, schema and rows to batches, with
//!   each column defined once in `columns` and what the three room-window
//!   tables share in `window`;
//! - `partition`: the `date=` directories and the atomic file write;
//! - reading back: `raw_read` (readings a restart replays), [`written`] (the
//!   window keys already stored) and `lookback` (the days that seed a
//!   restarted stream's flags and idle slots);
//! - [`imported`]: the files of `doorstep import`, replaced when it runs again;
//! - `maintain`: crash leftovers removed, old days compacted, expired
//!   partitions deleted ([`Tidied`]);
//! - `error`: the store's one [`Error`].
//!
//! ```
//! use analytics::store::Store;
//! use devices::{Registry, RoomIdx, RoomWindow, VisitsMethod};
//! use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
//! use arrow::array::{AsArray, RecordBatch};
//! use arrow::datatypes::Float64Type;
//! use std::{path::Path, sync::Arc};
//!
//! let registry = Registry::from_toml(r#"
//!     [[site]]
//!     id = "s1"
//!     name = "示例社区"
//!     [[site.room]]
//!     id = "hall"
//!     name = "多功能厅"
//!     capacity = 30
//!     area_m2 = 80
//!     schedule = ["daily 09:00-17:00 culture"]
//!     [[site.device]]
//!     id = "hall-counter"
//!     room = "hall"
//!     kind = "count"
//! "#, Path::new("example.toml")).unwrap();
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(&dir.path().join("data"), Arc::new(registry)).unwrap();
//!
//! // 2026-11-10 09:00-10:00 in Shanghai, half of it with 6 people in the room.
//! let hour = RoomWindow {
//!     kind: devices::WindowKind::Hour,
//!     room: RoomIdx(0),
//!     start: 1_794_272_400,
//!     end: 1_794_276_000,
//!     open_seconds: 3600,
//!     measured_seconds: 3600,
//!     occupied_seconds: 1800,
//!     person_seconds: 10_800,
//!     peak_occupancy: Some(6),
//!     visits: 2,
//!     visits_method: VisitsMethod::Transitions,
//!     longest_idle_seconds: 1800,
//!     after_hours_occupied_seconds: 0,
//!     over_capacity_seconds: 0,
//!     capacity: Some(30),
//!     door_residual: None,
//!     revision: 0,
//! };
//! let files = store.write_room_hours(&[hour]).unwrap();
//! assert!(files[0].parent().unwrap().ends_with("room_hour/date=2026-11-10"));
//!
//! let file = std::fs::File::open(&files[0]).unwrap();
//! let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(file)
//!     .unwrap()
//!     .build()
//!     .unwrap()
//!     .collect::<Result<_, _>>()
//!     .unwrap();
//! let utilization = batches[0].column_by_name("time_utilization").unwrap();
//! assert_eq!(utilization.as_primitive::<Float64Type>().value(0), 0.5);
//! ```

pub mod alerts;
mod columns;
pub mod device_day;
mod error;
pub mod flags;
pub mod idle_slots;
pub mod imported;
mod lookback;
mod maintain;
mod partition;
pub mod quarantine;
mod quarantine_read;
pub mod raw_events;
mod raw_read;
pub mod room_day;
pub mod room_hour;
pub mod room_slot_day;
pub mod site_day;
mod supersede;
mod window;
pub mod written;

pub use error::{Error, Result};
pub use maintain::Tidied;

/// The names of every table, as their directories are named.
pub const TABLES: [&str; 10] = [
    raw_events::TABLE,
    quarantine::TABLE,
    room_hour::TABLE,
    room_day::TABLE,
    room_slot_day::TABLE,
    flags::TABLE,
    idle_slots::TABLE,
    device_day::TABLE,
    site_day::TABLE,
    alerts::TABLE,
];

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use devices::{
    DeviceDay, Flag, IdleSlot, Reading, Registry, Rejection, RoomIdx, RoomWindow, SiteDay,
    WindowKind,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One table's batches, one per date partition.
type Batches = BTreeMap<NaiveDate, RecordBatch>;

/// The version of METRICS.md that the stored numbers follow; every row carries it.
pub const METRICS_VERSION: u16 = 2;

/// Where the Parquet tables live: `<root>/<table>/date=YYYY-MM-DD/part-*.parquet`.
///
/// A `Store` is cheap to share between threads: writes from several threads or
/// processes go to distinct files.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// Shared with the running pipeline's other stages: a registry switch reaches it.
    registry: devices::Current,
}

impl Store {
    /// Opens (creating if needed) the data directory `root`; `registry` gives
    /// the ids and timezones of the rooms and devices the rows point to.
    pub fn open(root: &Path, registry: impl Into<devices::Current>) -> Result<Store> {
        std::fs::create_dir_all(root).map_err(error::io(root))?;
        Ok(Store {
            root: root.to_owned(),
            registry: registry.into(),
        })
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The registry rows are resolved against (of now).
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.get()
    }

    /// Appends accepted readings to `raw_events`, one new file per date partition touched; returns the files written.
    ///
    /// The partition is the local date of the event at the reading's site.
    /// Either every file appears or, if writing fails, none does (barring a
    /// failed rename). An empty slice writes nothing.
    pub fn write_raw_events(&self, readings: &[Reading]) -> Result<Vec<PathBuf>> {
        let batches = raw_events::batches(&self.registry.get(), readings)?;
        self.write(vec![(&raw_events::SPEC, batches)])
    }

    /// Writes what ingest took in, readings to `raw_events` and rejected messages
    /// to `quarantine`, in files named after `tag` (a journal segment): writing the
    /// same tag again replaces those files, so a replay after a crash adds nothing twice.
    pub fn write_ingested(
        &self,
        readings: &[Reading],
        rejected: &[Rejection],
        tag: &str,
    ) -> Result<Vec<PathBuf>> {
        let tables = vec![
            (
                &raw_events::SPEC,
                raw_events::batches(&self.registry.get(), readings)?,
            ),
            (&quarantine::SPEC, quarantine::batches(rejected)?),
        ];
        self.write_tagged(tables, Some(tag))
    }

    /// Every reading `raw_events` holds for the local `dates` (in file order), bound to
    /// its device's room in the registry: what a restart replays through the stream.
    pub fn read_raw_events(&self, dates: &[NaiveDate]) -> Result<Vec<Reading>> {
        raw_read::read_raw_events(&self.root, &self.registry.get(), dates, &|_| true)
    }

    /// As [`Store::read_raw_events`], from the files whose name `keep` takes only
    /// (a restart from a checkpoint reads the files written after it).
    pub fn read_raw_events_where(
        &self,
        dates: &[NaiveDate],
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<Reading>> {
        raw_read::read_raw_events(&self.root, &self.registry.get(), dates, keep)
    }

    /// Every rejected message `quarantine` holds for the UTC `dates`, in the order written.
    pub fn read_quarantine(&self, dates: &[NaiveDate]) -> Result<Vec<Rejection>> {
        quarantine_read::read_quarantine(&self.root, dates)
    }

    /// Appends rejected messages to `quarantine`; returns the files written.
    ///
    /// The partition is the UTC date of receipt (a rejected message may name no known site).
    pub fn write_quarantine(&self, rows: &[Rejection]) -> Result<Vec<PathBuf>> {
        let batches = quarantine::batches(rows)?;
        self.write(vec![(&quarantine::SPEC, batches)])
    }

    /// Appends closed hour windows to `room_hour`; returns the files written.
    ///
    /// The partition is the local date of the window start at the room's site.
    /// Windows must have `start < end` and kind [`WindowKind::Hour`]
    /// ([`Error::WrongWindowKind`] otherwise; nothing is written then).
    pub fn write_room_hours(&self, rows: &[RoomWindow]) -> Result<Vec<PathBuf>> {
        let batches = room_hour::batches(&self.registry.get(), rows)?;
        self.write(vec![(&room_hour::LAYOUT.spec, batches)])
    }

    /// Appends closed day windows ([`WindowKind::Day`]) to `room_day`; returns the files written.
    ///
    /// The partition is the local date of the day's start at the room's site.
    pub fn write_room_days(&self, rows: &[RoomWindow]) -> Result<Vec<PathBuf>> {
        let batches = room_day::batches(&self.registry.get(), rows)?;
        self.write(vec![(&room_day::LAYOUT.spec, batches)])
    }

    /// Appends closed slot-day windows ([`WindowKind::SlotDay`]) to `room_slot_day`;
    /// returns the files written.
    pub fn write_room_slot_days(&self, rows: &[RoomWindow]) -> Result<Vec<PathBuf>> {
        let batches = room_slot_day::batches(&self.registry.get(), rows)?;
        self.write(vec![(&room_slot_day::LAYOUT.spec, batches)])
    }

    /// Appends closed windows of any kind, each to its table (`room_hour`,
    /// `room_day`, `room_slot_day`); returns the files written.
    ///
    /// Every file of every table is staged before any is renamed, so a failed
    /// write leaves nothing behind.
    pub fn write_windows(&self, rows: &[RoomWindow]) -> Result<Vec<PathBuf>> {
        let of = |f: fn(WindowKind) -> bool| rows.iter().filter(move |w| f(w.kind));
        let registry = self.registry.get();
        let hours = room_hour::batches(&registry, of(room_hour::LAYOUT.accepts))?;
        let days = room_day::batches(&registry, of(room_day::LAYOUT.accepts))?;
        let slots = room_slot_day::batches(&registry, of(room_slot_day::LAYOUT.accepts))?;
        self.write(vec![
            (&room_hour::LAYOUT.spec, hours),
            (&room_day::LAYOUT.spec, days),
            (&room_slot_day::LAYOUT.spec, slots),
        ])
    }

    /// Appends flags to `flags`; returns the files written.
    ///
    /// The partition is the flag's local day at the room's site.
    pub fn write_flags(&self, rows: &[Flag]) -> Result<Vec<PathBuf>> {
        let batches = flags::batches(&self.registry.get(), rows)?;
        self.write(vec![(&flags::SPEC, batches)])
    }

    /// Appends device days to `device_day`; returns the files written.
    ///
    /// The partition is the local date of the day at the device's site.
    pub fn write_device_days(&self, rows: &[DeviceDay]) -> Result<Vec<PathBuf>> {
        let batches = device_day::batches(&self.registry.get(), rows)?;
        self.write(vec![(&device_day::SPEC, batches)])
    }

    /// Appends idle slots to `idle_slots`; returns the files written.
    ///
    /// The partition is the local date the slots were evaluated for.
    pub fn write_idle_slots(&self, rows: &[IdleSlot]) -> Result<Vec<PathBuf>> {
        let batches = idle_slots::batches(&self.registry.get(), rows)?;
        self.write(vec![(&idle_slots::SPEC, batches)])
    }

    /// Appends site days to `site_day`; returns the files written.
    ///
    /// The partition is the local date of the day's start at the site.
    pub fn write_site_days(&self, rows: &[SiteDay]) -> Result<Vec<PathBuf>> {
        let batches = site_day::batches(&self.registry.get(), rows)?;
        self.write(vec![(&site_day::SPEC, batches)])
    }

    /// Appends alert changes to `alerts`; returns the files written.
    ///
    /// The partition is the UTC date of the change.
    pub fn write_alert_events(&self, rows: &[alerts::AlertEvent]) -> Result<Vec<PathBuf>> {
        let batches = alerts::batches(rows)?;
        self.write(vec![(&alerts::SPEC, batches)])
    }

    /// Stages every batch of every table, then renames them all.
    fn write(&self, tables: Vec<(&partition::Table, Batches)>) -> Result<Vec<PathBuf>> {
        self.write_tagged(tables, None)
    }

    fn write_tagged(
        &self,
        tables: Vec<(&partition::Table, Batches)>,
        tag: Option<&str>,
    ) -> Result<Vec<PathBuf>> {
        let jobs: Vec<(&partition::Table, NaiveDate, &RecordBatch)> = tables
            .iter()
            .flat_map(|(table, batches)| batches.iter().map(move |(d, b)| (*table, *d, b)))
            .collect();
        let stage = |job: &[(&partition::Table, NaiveDate, &RecordBatch)]| {
            job.iter()
                .map(|(table, date, batch)| partition::stage(&self.root, table, *date, batch, tag))
                .collect::<Result<Vec<_>>>()
        };
        // Many partitions (an import, a backfill) are staged on two threads.
        let staged = if jobs.len() >= 16 {
            let (a, b) = jobs.split_at(jobs.len() / 2);
            let (a, b) = std::thread::scope(|s| {
                let other = s.spawn(|| stage(b));
                (stage(a), other.join())
            });
            // A panic while staging is a bug: carry it on.
            let b = b.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            let mut all = a?;
            all.extend(b?);
            all
        } else {
            stage(&jobs)?
        };
        let files = partition::commit(staged)?;
        let written = tables
            .iter()
            .flat_map(|(table, batches)| batches.values().map(move |b| (table.name, b)));
        for (file, (table, batch)) in files.iter().zip(written) {
            tracing::debug!(
                table,
                rows = batch.num_rows(),
                file = %file.display(),
                "wrote parquet file"
            );
        }
        Ok(files)
    }
}

/// A room of the registry, or an error when the index is from another registry.
fn room(registry: &Registry, idx: RoomIdx) -> Result<&devices::Room> {
    registry.rooms.get(idx.ix()).ok_or(Error::NotInRegistry {
        what: "room",
        index: idx.0,
    })
}
