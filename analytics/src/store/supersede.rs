//! One set of window rows for a site's day: when an import recomputes a site's
//! days (from every reading of those days, live and imported), the rows a live
//! run wrote for that site on those days are taken out of its files.
//!
//! A live file holds many sites; it is rewritten without the site's rows under
//! its own name (a new file renamed over it, so a reader sees the old file or
//! the new one, never both), or removed when nothing else is left in it. Files
//! whose `site_id` statistics exclude the site are not opened.

use super::error::{Error, Result, io};
use super::partition::{self, Table, partition_dir};
use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::compute::{concat_batches, filter_record_batch};
use chrono::NaiveDate;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::BTreeSet;
use std::path::Path;

/// Whether a file's `site_id` statistics allow a row of one of `sites`.
fn may_hold(meta: &parquet::file::metadata::ParquetMetaData, sites: &BTreeSet<String>) -> bool {
    let schema = meta.file_metadata().schema_descr();
    let Some(index) = (0..schema.num_columns()).find(|&i| schema.column(i).name() == "site_id")
    else {
        return false;
    };
    meta.row_groups().iter().any(|g| {
        let Some(stats) = g.column(index).statistics() else {
            return true;
        };
        sites.iter().any(|s| {
            let v = s.as_bytes();
            let below = stats.min_bytes_opt().is_some_and(|min| v < min);
            let above = stats.max_bytes_opt().is_some_and(|max| v > max);
            !(below || above)
        })
    })
}

/// Removes the rows of `sites` from the files of `table`'s partition `date`
/// that no import wrote; returns how many rows went.
pub(crate) fn drop_site_rows(
    root: &Path,
    table: &Table,
    date: NaiveDate,
    sites: &BTreeSet<String>,
) -> Result<usize> {
    let dir = partition_dir(root, table.name, date);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(0);
    };
    let mut dropped = 0;
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".parquet") && !n.starts_with("part-import-"))
        .collect();
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let parquet = |source| Error::Parquet {
            path: path.clone(),
            source,
        };
        let file = std::fs::File::open(&path).map_err(io(&path))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet)?;
        if !may_hold(builder.metadata(), sites) {
            continue;
        }
        let mut kept = Vec::new();
        let mut gone = 0;
        let arrow = |source| Error::Arrow {
            table: table.name,
            source,
        };
        for batch in builder.build().map_err(parquet)? {
            let batch = batch.map_err(arrow)?;
            let Some(ids) = batch
                .column_by_name("site_id")
                .and_then(|c| c.as_string_opt::<i32>())
            else {
                kept.push(batch);
                continue;
            };
            let keep: BooleanArray = (0..ids.len())
                .map(|i| Some(ids.is_null(i) || !sites.contains(ids.value(i))))
                .collect();
            let rest = filter_record_batch(&batch, &keep).map_err(arrow)?;
            gone += batch.num_rows() - rest.num_rows();
            kept.push(rest);
        }
        if gone == 0 {
            continue;
        }
        dropped += gone;
        let remaining: usize = kept.iter().map(RecordBatch::num_rows).sum();
        if remaining == 0 {
            std::fs::remove_file(&path).map_err(io(&path))?;
            partition::sync_dir(&dir)?;
            continue;
        }
        let schema = kept[0].schema();
        let all = concat_batches(&schema, &kept).map_err(arrow)?;
        // The same name: the rewritten file replaces the old one in one rename.
        let tag = name
            .strip_prefix("part-")
            .and_then(|n| n.strip_suffix(".parquet"))
            .unwrap_or(&name);
        let staged = partition::stage(root, table, date, &all, Some(tag))?;
        partition::commit(vec![staged])?;
    }
    if dropped > 0 {
        tracing::info!(
            table = table.name,
            %date,
            rows = dropped,
            "rows of live runs superseded by an import's recomputation"
        );
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use crate::store::Store;
    use crate::store::imported::ImportedRows;
    use devices::{Registry, RoomIdx, RoomWindow, VisitsMethod, WindowKind};
    use std::path::Path;
    use std::sync::Arc;

    fn store(dir: &Path) -> Store {
        let text = r#"
[[site]]
id = "s1"
name = "甲"
[[site.room]]
id = "r"
name = "厅"
capacity = 10
area_m2 = 50
schedule = ["daily 09:00-17:00 culture"]
[[site]]
id = "s2"
name = "乙"
[[site.room]]
id = "r"
name = "厅"
capacity = 10
area_m2 = 50
schedule = ["daily 09:00-17:00 culture"]
"#;
        let reg = Registry::from_toml(text, Path::new("t.toml")).expect("valid");
        Store::open(dir, Arc::new(reg)).expect("store")
    }

    fn hour(room: u32, start: i64, occupied: u32) -> RoomWindow {
        RoomWindow {
            kind: WindowKind::Hour,
            room: RoomIdx(room),
            start,
            end: start + 3600,
            open_seconds: 3600,
            measured_seconds: 3600,
            occupied_seconds: occupied,
            person_seconds: u64::from(occupied),
            peak_occupancy: Some(1),
            visits: 1,
            visits_method: VisitsMethod::Increments,
            longest_idle_seconds: 0,
            after_hours_occupied_seconds: 0,
            over_capacity_seconds: 0,
            capacity: Some(10),
            door_residual: None,
            revision: 0,
        }
    }

    /// (site_id, occupied_seconds) of every room_hour row, sorted.
    fn rows(dir: &Path) -> Vec<(String, u32)> {
        use arrow::array::AsArray;
        use arrow::datatypes::UInt32Type;
        let mut out = Vec::new();
        for part in std::fs::read_dir(dir.join("room_hour"))
            .expect("table")
            .flatten()
        {
            for f in std::fs::read_dir(part.path()).expect("partition").flatten() {
                let file = std::fs::File::open(f.path()).expect("file");
                let reader =
                    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                        .expect("footer")
                        .build()
                        .expect("reader");
                for b in reader {
                    let b = b.expect("batch");
                    let sites = b
                        .column_by_name("site_id")
                        .expect("site")
                        .as_string::<i32>();
                    let occ = b
                        .column_by_name("occupied_seconds")
                        .expect("occupied")
                        .as_primitive::<UInt32Type>();
                    for i in 0..b.num_rows() {
                        out.push((sites.value(i).to_owned(), occ.value(i)));
                    }
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn an_import_replaces_the_live_rows_of_its_site_and_keeps_the_others() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = store(dir.path());
        // 2026-11-10 09:00 and 10:00 in Shanghai.
        let t = 1_794_272_400;
        s.write_windows(&[hour(0, t, 100), hour(1, t, 200), hour(0, t + 3600, 300)])
            .expect("live");
        s.write_windows(&[hour(0, t + 7200, 400)])
            .expect("live, a file of s1 only");
        let imported = [
            hour(0, t, 150),
            hour(0, t + 3600, 350),
            hour(0, t + 7200, 450),
        ];
        s.write_imported(
            ImportedRows {
                windows: &imported,
                ..ImportedRows::default()
            },
            "import-site-s1",
        )
        .expect("imported");
        assert_eq!(
            rows(dir.path()),
            [
                ("s1".to_owned(), 150),
                ("s1".to_owned(), 350),
                ("s1".to_owned(), 450),
                ("s2".to_owned(), 200),
            ],
            "one set of rows: the import's for s1, the live one for s2"
        );
        let files: Vec<String> = std::fs::read_dir(dir.path().join("room_hour/date=2026-11-10"))
            .expect("partition")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(files.len(), 2, "the s1-only live file is gone: {files:?}");
    }
}
