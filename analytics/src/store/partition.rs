//! Atomic, date-partitioned Parquet files, shared by every table.
//!
//! A table lives in `<root>/<table>/date=YYYY-MM-DD/part-*.parquet`. Files are
//! only ever added: each write makes new files and never touches old ones, so a
//! reader listing a partition sees whole files only. A file is written as
//! `part-….parquet.tmp`, synced, and renamed; the `.tmp` name does not match
//! `*.parquet`, so globs skip files in progress.

use super::error::{Error, Result, io};
use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Schema};
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// How a table is stored.
#[derive(Debug)]
pub(crate) struct Table {
    /// Directory name under the store root.
    pub name: &'static str,
    /// Columns the rows of each file are sorted by, recorded in the footer.
    pub sort_by: &'static [&'static str],
    /// Columns with near-unique values, written without a dictionary.
    pub plain: &'static [&'static str],
}

/// Rows per row group; a day of one busy site's readings fits in a few.
const ROW_GROUP_ROWS: usize = 128 * 1024;
/// Rows handed to the writer at a time, so memory stays bounded.
const SLICE_ROWS: usize = 16 * 1024;
/// Flush a row group early once this much is buffered.
const MAX_BUFFERED_BYTES: usize = 64 * 1024 * 1024;

/// `<root>/<table>/date=YYYY-MM-DD`.
pub(crate) fn partition_dir(root: &Path, table: &str, date: NaiveDate) -> PathBuf {
    root.join(table)
        .join(format!("date={}", date.format("%Y-%m-%d")))
}

/// Every batch of `table`'s files for the `dates` whose file name `keep` takes, in
/// date order and, within a date, name order (the order they were written).
pub(crate) fn read_batches(
    root: &Path,
    table: &'static str,
    dates: &[NaiveDate],
    keep: &dyn Fn(&str) -> bool,
    mut each: impl FnMut(&RecordBatch),
) -> Result<()> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    for date in dates {
        let Ok(entries) = std::fs::read_dir(partition_dir(root, table, *date)) else {
            continue;
        };
        let mut files: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(keep))
            .collect();
        files.sort();
        for path in files {
            let parquet = |source| Error::Parquet {
                path: path.clone(),
                source,
            };
            let file = std::fs::File::open(&path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(parquet)?
                .build()
                .map_err(parquet)?;
            for batch in reader {
                each(&batch.map_err(|source| Error::Arrow { table, source })?);
            }
        }
    }
    Ok(())
}

/// zstd, dictionaries for the string columns, page statistics, and the sort order.
pub(crate) fn writer_properties(table: &Table, schema: &Schema) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_dictionary_enabled(true);
    for field in schema.fields() {
        let col = ColumnPath::from(field.name().as_str());
        if matches!(field.data_type(), DataType::Utf8) {
            // Ids, kinds and methods repeat on every row: dictionaries make them nearly free.
            b = b.set_column_dictionary_enabled(col, true);
        } else if table.plain.contains(&field.name().as_str()) {
            b = b.set_column_dictionary_enabled(col.clone(), false);
            // Sorted times and counters step by nearly the same amount row after row:
            // delta encoding stores those steps in a few bits.
            if field.data_type().is_integer()
                || matches!(field.data_type(), DataType::Timestamp(..))
            {
                b = b.set_column_encoding(col, Encoding::DELTA_BINARY_PACKED);
            }
        }
    }
    let sorting = table
        .sort_by
        .iter()
        .filter_map(|name| schema.index_of(name).ok())
        .map(|i| SortingColumn {
            column_idx: i as i32,
            descending: false,
            nulls_first: false,
        })
        .collect();
    b.set_sorting_columns(Some(sorting)).build()
}

/// A fresh file name: `part-{unix_ms:013}-{counter:06}-{pid}.parquet`.
///
/// The millisecond never goes backwards within a process (a clock step back
/// reuses the last one) and the counter breaks ties, so a process's files sort
/// in the order they were written; the pid keeps processes apart.
fn file_name() -> String {
    static LAST_MS: AtomicI64 = AtomicI64::new(0);
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = chrono::Utc::now().timestamp_millis().max(0);
    let ms = LAST_MS.fetch_max(now, Ordering::SeqCst).max(now);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("part-{ms:013}-{n:06}-{}.parquet", std::process::id())
}

/// A file written and synced under its `.tmp` name, not yet visible.
///
/// Dropping it without [`commit`] removes the `.tmp` file.
#[derive(Debug)]
pub(crate) struct Staged {
    tmp: PathBuf,
    path: PathBuf,
    table: &'static str,
    committed: bool,
}

impl Staged {
    /// Where the file goes when committed.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: the write already failed, and that error is the one to report.
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `batch` to a new `.tmp` file in its partition and syncs it.
pub(crate) fn stage(
    root: &Path,
    table: &Table,
    date: NaiveDate,
    batch: &RecordBatch,
    tag: Option<&str>,
) -> Result<Staged> {
    let dir = partition_dir(root, table.name, date);
    fs::create_dir_all(&dir).map_err(io(&dir))?;
    // A tagged file has a fixed name: writing it again replaces it (idempotent).
    let name = match tag {
        Some(tag) => {
            let name = format!("part-{tag}.parquet");
            let _ = fs::remove_file(dir.join(format!("{name}.tmp")));
            name
        }
        None => file_name(),
    };
    let staged = Staged {
        tmp: dir.join(format!("{name}.tmp")),
        path: dir.join(name),
        table: table.name,
        committed: false,
    };
    let tmp = &staged.tmp;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(io(tmp))?;
    let parquet = |source| Error::Parquet {
        path: tmp.clone(),
        source,
    };
    let mut props = writer_properties(table, &batch.schema());
    if batch.num_rows() < SMALL_ROWS {
        // A few rows gain nothing from compression, and a compression context
        // per column costs more than the write (an import writes thousands).
        props = WriterProperties::into_builder(props)
            .set_compression(Compression::UNCOMPRESSED)
            .build();
    }
    let mut writer =
        ArrowWriter::try_new(&mut file, batch.schema(), Some(props)).map_err(parquet)?;
    let mut offset = 0;
    while offset < batch.num_rows() {
        let len = SLICE_ROWS.min(batch.num_rows() - offset);
        writer.write(&batch.slice(offset, len)).map_err(parquet)?;
        if writer.in_progress_size() > MAX_BUFFERED_BYTES {
            writer.flush().map_err(parquet)?;
        }
        offset += len;
    }
    writer.close().map_err(parquet)?;
    file.sync_all().map_err(io(tmp))?;
    Ok(staged)
}

/// Files of fewer rows are written uncompressed.
const SMALL_ROWS: usize = 512;

/// Renames staged files to their final names and syncs their directories.
///
/// Staging every partition first means a failure while writing leaves nothing
/// visible; only a failing rename (rare: same directory, same disk) can leave
/// part of a write in place.
pub(crate) fn commit(staged: Vec<Staged>) -> Result<Vec<PathBuf>> {
    let mut done = Vec::with_capacity(staged.len());
    let mut dirs = std::collections::BTreeSet::new();
    for mut s in staged {
        crash_point(s.table);
        fs::rename(&s.tmp, &s.path).map_err(io(&s.path))?;
        s.committed = true;
        if let Some(dir) = s.path.parent() {
            dirs.insert(dir.to_owned());
            // A new partition directory must itself be recorded in the table directory.
            if let Some(table_dir) = dir.parent() {
                dirs.insert(table_dir.to_owned());
            }
        }
        done.push(s.path.clone());
    }
    // Each directory once, after all its renames.
    for dir in dirs {
        sync_dir(&dir)?;
    }
    Ok(done)
}

/// Makes a rename durable: fsync the directory holding the entry.
/// For crash tests: `DOORSTEP_CRASH_BEFORE_COMMIT=<table>` aborts the process
/// when a file of that table is written but not yet renamed into place.
fn crash_point(table: &str) {
    if std::env::var_os("DOORSTEP_CRASH_BEFORE_COMMIT").is_some_and(|t| t == table) {
        eprintln!("DOORSTEP_CRASH_BEFORE_COMMIT: aborting before a {table} file is committed");
        std::process::abort();
    }
}

#[cfg(unix)]
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

#[cfg(not(unix))]
pub(crate) fn sync_dir(_dir: &Path) -> Result<()> {
    // Directories cannot be opened for syncing here; NTFS journals renames.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, StringArray, UInt32Array};
    use std::sync::Arc;

    const T: Table = Table {
        name: "t",
        sort_by: &["k"],
        plain: &["v"],
    };

    fn batch() -> RecordBatch {
        RecordBatch::try_from_iter([
            ("k", Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef),
            ("v", Arc::new(UInt32Array::from(vec![1, 2])) as ArrayRef),
        ])
        .expect("valid batch")
    }

    fn date() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 10).expect("valid date")
    }

    #[test]
    fn file_names_are_unique_and_sort_in_write_order() {
        let names: Vec<String> = (0..1000).map(|_| file_name()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, names);
        assert!(names[0].starts_with("part-") && names[0].ends_with(".parquet"));
    }

    #[test]
    fn staged_file_is_invisible_until_commit() {
        let root = tempfile::tempdir().expect("tempdir");
        let staged = stage(root.path(), &T, date(), &batch(), None).expect("staged");
        let dir = root.path().join("t/date=2026-11-10");
        let listing = || -> Vec<String> {
            let mut v: Vec<String> = fs::read_dir(&dir)
                .expect("dir")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        let before = listing();
        assert_eq!(before.len(), 1);
        assert!(before[0].ends_with(".parquet.tmp"), "{before:?}");
        let paths = commit(vec![staged]).expect("committed");
        let after = listing();
        assert_eq!(after.len(), 1);
        assert!(after[0].ends_with(".parquet"), "{after:?}");
        assert_eq!(paths, vec![dir.join(&after[0])]);
    }

    #[test]
    fn dropping_a_staged_file_removes_the_tmp() {
        let root = tempfile::tempdir().expect("tempdir");
        drop(stage(root.path(), &T, date(), &batch(), None).expect("staged"));
        let dir = root.path().join("t/date=2026-11-10");
        assert_eq!(fs::read_dir(&dir).expect("dir").count(), 0);
    }

    #[test]
    fn properties_follow_the_contract() {
        let b = batch();
        let props = writer_properties(&T, &b.schema());
        let k = ColumnPath::from("k");
        let v = ColumnPath::from("v");
        assert!(matches!(props.compression(&k), Compression::ZSTD(_)));
        assert!(props.dictionary_enabled(&k));
        assert!(!props.dictionary_enabled(&v));
        assert_eq!(props.statistics_enabled(&v), EnabledStatistics::Page);
        let sorting = props.sorting_columns().expect("sorting columns");
        assert_eq!(sorting.len(), 1);
        assert_eq!(sorting[0].column_idx, 0);
    }
}
