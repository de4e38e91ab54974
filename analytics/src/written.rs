//! What the window tables already hold: read back at start-up, so that rows a
//! restarted pipeline closes again are not written a second time.

use crate::error::{Error, Result};
use crate::partition::partition_dir;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{TimestampMillisecondType, UInt16Type};
use chrono::NaiveDate;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::HashMap;
use std::path::Path;

/// A row's identity: table, site id, room (or device) id, start (Unix seconds), category.
pub type WrittenKey = (&'static str, String, String, i64, String);

/// Keys of the rows already written to the window tables in the given local
/// dates, with the highest revision written of each.
#[derive(Debug, Default)]
pub struct Written {
    keys: HashMap<WrittenKey, u16>,
}

impl Written {
    /// Whether a row with this key is already in its table.
    pub fn contains(
        &self,
        table: &'static str,
        site: &str,
        id: &str,
        start: i64,
        category: &str,
    ) -> bool {
        self.revision(table, site, id, start, category).is_some()
    }

    /// The highest revision written of the row with this key, if any.
    pub fn revision(
        &self,
        table: &'static str,
        site: &str,
        id: &str,
        start: i64,
        category: &str,
    ) -> Option<u16> {
        self.keys
            .get(&(
                table,
                site.to_owned(),
                id.to_owned(),
                start,
                category.to_owned(),
            ))
            .copied()
    }

    /// How many keys were found.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Reads the keys of `room_hour`, `room_day`, `room_slot_day`, `device_day` and `site_day` for `dates`.
    pub fn read(root: &Path, dates: &[NaiveDate]) -> Result<Written> {
        let mut w = Written::default();
        for (table, id, start, category) in [
            ("room_hour", "room_id", "hour_start", None),
            ("room_day", "room_id", "day_start", None),
            ("room_slot_day", "room_id", "day_start", Some("category")),
            ("device_day", "device_id", "day_start", None),
            ("site_day", "site_id", "day_start", None),
        ] {
            for date in dates {
                let dir = partition_dir(root, table, *date);
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.extension().is_none_or(|e| e != "parquet") {
                        continue;
                    }
                    for batch in read_file(&path)? {
                        w.add(table, &batch, id, start, category);
                    }
                }
            }
        }
        Ok(w)
    }

    fn add(
        &mut self,
        table: &'static str,
        b: &RecordBatch,
        id: &str,
        start: &str,
        category: Option<&str>,
    ) {
        let text = |name: &str| {
            b.column_by_name(name)
                .and_then(|c| c.as_string_opt::<i32>().cloned())
        };
        let (Some(sites), Some(ids)) = (text("site_id"), text(id)) else {
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
            let key = (
                table,
                sites.value(i).to_owned(),
                ids.value(i).to_owned(),
                starts.value(i).div_euclid(1000),
                cat.to_owned(),
            );
            let r = self.keys.entry(key).or_insert(rev);
            *r = (*r).max(rev);
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
