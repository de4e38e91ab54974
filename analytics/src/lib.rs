//! The doorstep data store: accepted readings and closed room windows, written
//! as Hive-partitioned Parquet that DuckDB, Polars or Spark read directly.
//!
//! Each table lives in `<root>/<table>/date=YYYY-MM-DD/part-*.parquet`, where
//! the date is the **local date of the row's site** (so a Shanghai evening and a
//! Berlin evening both land on their own day). Writes only add files, each file
//! appears whole (written to `.tmp`, synced, renamed), and the rows inside a
//! file are sorted, so the same rows give the same file whatever order they came
//! in. Every row carries [`METRICS_VERSION`]. `docs/SCHEMA.md` lists the columns.
//!
//! ```
//! use analytics::Store;
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

mod error;
mod partition;
pub mod raw_events;
pub mod room_hour;

pub use error::{Error, Result};

use devices::{Reading, Registry, RoomIdx, RoomWindow};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The version of METRICS.md that the stored numbers follow; every row carries it.
pub const METRICS_VERSION: u16 = 1;

/// Where the Parquet tables live: `<root>/<table>/date=YYYY-MM-DD/part-*.parquet`.
///
/// A `Store` is cheap to share between threads: writes from several threads or
/// processes go to distinct files.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    registry: Arc<Registry>,
}

impl Store {
    /// Opens (creating if needed) the data directory `root`; `registry` gives
    /// the ids and timezones of the rooms and devices the rows point to.
    pub fn open(root: &Path, registry: Arc<Registry>) -> Result<Store> {
        std::fs::create_dir_all(root).map_err(error::io(root))?;
        Ok(Store {
            root: root.to_owned(),
            registry,
        })
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The registry rows are resolved against.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Appends accepted readings to `raw_events`, one new file per date partition touched; returns the files written.
    ///
    /// The partition is the local date of the event at the reading's site.
    /// Either every file appears or, if writing fails, none does (barring a
    /// failed rename). An empty slice writes nothing.
    pub fn write_raw_events(&self, readings: &[Reading]) -> Result<Vec<PathBuf>> {
        let batches = raw_events::batches(&self.registry, readings)?;
        self.write(&raw_events::SPEC, batches)
    }

    /// Appends closed windows to `room_hour`; returns the files written.
    ///
    /// The partition is the local date of the window start at the room's site.
    /// Windows must have `start < end`; they are written as given (the stream
    /// stage closes them on whole hours).
    pub fn write_room_hours(&self, rows: &[RoomWindow]) -> Result<Vec<PathBuf>> {
        let batches = room_hour::batches(&self.registry, rows)?;
        self.write(&room_hour::SPEC, batches)
    }

    fn write(
        &self,
        table: &partition::Table,
        batches: std::collections::BTreeMap<chrono::NaiveDate, arrow::array::RecordBatch>,
    ) -> Result<Vec<PathBuf>> {
        let mut staged = Vec::with_capacity(batches.len());
        for (date, batch) in &batches {
            staged.push(partition::stage(&self.root, table, *date, batch)?);
        }
        let files = partition::commit(staged)?;
        for (file, batch) in files.iter().zip(batches.values()) {
            tracing::debug!(
                table = table.name,
                rows = batch.num_rows(),
                file = %file.display(),
                "wrote parquet file"
            );
        }
        Ok(files)
    }
}

/// A room of the registry, or an error when the index is from another registry.
pub(crate) fn room(registry: &Registry, idx: RoomIdx) -> Result<&devices::Room> {
    registry.rooms.get(idx.ix()).ok_or(Error::NotInRegistry {
        what: "room",
        index: idx.0,
    })
}
