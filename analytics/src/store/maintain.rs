//! Keeping the tables tidy: leftovers of a crash removed, the small files of
//! past days compacted into a few sorted ones, partitions past their retention
//! deleted.
//!
//! Compaction writes the merged file beside its inputs under a new name, with
//! an intent file (`compact-<name>.inputs`) listing the inputs, renames it into
//! place, deletes the inputs and then the intent. A crash in between is
//! finished at the next [`Store::tidy`]: with the merged file in place the
//! inputs still listed are deleted; without it, the intent is dropped. A reader
//! that lists a partition in the instant between the rename and the deletes
//! may see its rows twice; one that lists it any other time sees them once.

use super::error::{Error, Result, io};
use super::partition::{self, Table};
use super::{Store, device_day, flags, idle_slots, quarantine, raw_events, site_day};
use super::{room_day, room_hour, room_slot_day};
use arrow::array::RecordBatch;
use arrow::compute::{SortColumn, SortOptions, concat_batches, lexsort_to_indices};
use chrono::NaiveDate;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::reader::{FileReader, SerializedFileReader};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Every table of the store.
pub(crate) fn tables() -> [&'static Table; 9] {
    [
        &raw_events::SPEC,
        &quarantine::SPEC,
        &room_hour::LAYOUT.spec,
        &room_day::LAYOUT.spec,
        &room_slot_day::LAYOUT.spec,
        &flags::SPEC,
        &idle_slots::SPEC,
        &device_day::SPEC,
        &site_day::SPEC,
    ]
}

/// What [`Store::tidy`], [`Store::compact`] and [`Store::expire`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tidied {
    /// Half-written `.tmp` files removed.
    pub temporaries: usize,
    /// Interrupted compactions finished (inputs deleted) or dropped.
    pub intents: usize,
    /// Files merged away by compaction.
    pub merged: usize,
    /// Files written by compaction.
    pub written: usize,
    /// Date partitions deleted for retention.
    pub expired: usize,
}

/// The `date=` partitions of a table, by date.
fn partitions(root: &Path, table: &str) -> Vec<(NaiveDate, PathBuf)> {
    let Ok(entries) = fs::read_dir(root.join(table)) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let date = name.to_str()?.strip_prefix("date=")?;
            Some((NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// The Parquet files of a partition, in name (write) order.
fn parquet_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .map_err(io(dir))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    Ok(files)
}

fn intent_path(dir: &Path, merged: &Path) -> PathBuf {
    let name = merged.file_name().unwrap_or_default().to_string_lossy();
    dir.join(format!("compact-{name}.inputs"))
}

fn remove(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(path)(e)),
        _ => Ok(()),
    }
}

impl Store {
    /// Finishes what a crash interrupted: removes half-written `.tmp` files and
    /// completes or drops interrupted compactions. Call it only while holding the
    /// data directory (doorstep's journal lock): another writer's `.tmp` files
    /// are work in progress.
    pub fn tidy(&self) -> Result<Tidied> {
        self.tidy_older_than(std::time::Duration::ZERO)
    }

    /// As [`Store::tidy`], but leaves `.tmp` files younger than `age`: in a
    /// cluster, other processes may be writing theirs.
    pub fn tidy_older_than(&self, age: std::time::Duration) -> Result<Tidied> {
        let mut done = Tidied::default();
        for table in tables() {
            for (_, dir) in partitions(&self.root, table.name) {
                for entry in fs::read_dir(&dir).map_err(io(&dir))?.flatten() {
                    let path = entry.path();
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let young = || {
                        entry
                            .metadata()
                            .and_then(|m| m.modified())
                            .is_ok_and(|t| t.elapsed().unwrap_or_default() < age)
                    };
                    if name.ends_with(".tmp") {
                        if !age.is_zero() && young() {
                            continue;
                        }
                        remove(&path)?;
                        done.temporaries += 1;
                    } else if let Some(merged) = name
                        .strip_prefix("compact-")
                        .and_then(|n| n.strip_suffix(".inputs"))
                    {
                        if dir.join(merged).exists() {
                            let listed = fs::read_to_string(&path).map_err(io(&path))?;
                            for input in listed.lines().filter(|l| !l.is_empty()) {
                                remove(&dir.join(input))?;
                            }
                        }
                        remove(&path)?;
                        done.intents += 1;
                    }
                }
            }
        }
        if done != Tidied::default() {
            tracing::info!(
                temporaries = done.temporaries,
                compactions = done.intents,
                "finished what a crash interrupted in the tables"
            );
        }
        Ok(done)
    }

    /// Merges the files of every partition dated before `before` into files of
    /// up to `max_rows` rows, sorted by the table's sort columns.
    pub fn compact(&self, before: NaiveDate, max_rows: usize) -> Result<Tidied> {
        self.compact_except(before, max_rows, &|_| false)
    }

    /// As [`Store::compact`], leaving alone the files whose name `spare` takes (a
    /// restart from a checkpoint reads the journal segments' own files after it).
    pub fn compact_except(
        &self,
        before: NaiveDate,
        max_rows: usize,
        spare: &dyn Fn(&str) -> bool,
    ) -> Result<Tidied> {
        let mut done = Tidied::default();
        for table in tables() {
            for (date, dir) in partitions(&self.root, table.name) {
                if date >= before {
                    break;
                }
                compact_partition(&self.root, table, date, &dir, max_rows, spare, &mut done)?;
            }
        }
        if done.merged > 0 {
            tracing::info!(
                merged = done.merged,
                into = done.written,
                "compacted small Parquet files"
            );
        }
        Ok(done)
    }

    /// Deletes the partitions of each table in `keep_days` dated that many days
    /// or more before `today`: a table keeping 2 days keeps today and yesterday.
    pub fn expire(&self, keep_days: &BTreeMap<String, u32>, today: NaiveDate) -> Result<Tidied> {
        let mut done = Tidied::default();
        for (table, days) in keep_days {
            let cutoff = today - chrono::Duration::days(i64::from(*days));
            for (date, dir) in partitions(&self.root, table) {
                if date > cutoff {
                    break;
                }
                fs::remove_dir_all(&dir).map_err(io(&dir))?;
                done.expired += 1;
            }
        }
        if done.expired > 0 {
            tracing::info!(
                partitions = done.expired,
                "deleted partitions past their retention"
            );
        }
        Ok(done)
    }
}

/// Groups a partition's files into runs of up to `max_rows` rows and merges each run.
fn compact_partition(
    root: &Path,
    table: &Table,
    date: NaiveDate,
    dir: &Path,
    max_rows: usize,
    spare: &dyn Fn(&str) -> bool,
    done: &mut Tidied,
) -> Result<()> {
    // Imported files are replaced whole by a re-import, under the same name: left as they are.
    let mut files = parquet_files(dir)?;
    files.retain(|f| {
        !f.file_name().is_some_and(|n| {
            let n = n.to_string_lossy();
            n.starts_with("part-import-") || spare(&n)
        })
    });
    if files.len() < 2 {
        return Ok(());
    }
    let mut runs: Vec<(Vec<PathBuf>, usize)> = vec![(Vec::new(), 0)];
    for f in files {
        let rows = row_count(&f)?;
        let run = runs.last_mut().expect("a run");
        if run.1 + rows > max_rows && !run.0.is_empty() {
            runs.push((vec![f], rows));
        } else {
            run.0.push(f);
            run.1 += rows;
        }
    }
    for (inputs, _) in runs.into_iter().filter(|r| r.0.len() > 1) {
        let Some(batch) = read_sorted(table, &inputs)? else {
            continue;
        };
        let staged = partition::stage(root, table, date, &batch, None)?;
        let merged = staged.path().to_owned();
        let intent = intent_path(dir, &merged);
        let names: String = inputs
            .iter()
            .filter_map(|p| Some(format!("{}\n", p.file_name()?.to_str()?)))
            .collect();
        fs::write(&intent, names).map_err(io(&intent))?;
        partition::sync_dir(dir)?;
        partition::commit(vec![staged])?;
        for input in &inputs {
            remove(input)?;
        }
        remove(&intent)?;
        partition::sync_dir(dir)?;
        done.merged += inputs.len();
        done.written += 1;
    }
    Ok(())
}

fn row_count(path: &Path) -> Result<usize> {
    let file = fs::File::open(path).map_err(io(path))?;
    let reader = SerializedFileReader::new(file).map_err(|source| Error::Parquet {
        path: path.to_owned(),
        source,
    })?;
    Ok(reader.metadata().file_metadata().num_rows().max(0) as usize)
}

/// All rows of `inputs` in one batch, sorted; `None` (with a warning) when their
/// schemas differ (files of another doorstep version stay as they are).
fn read_sorted(table: &Table, inputs: &[PathBuf]) -> Result<Option<RecordBatch>> {
    let mut batches = Vec::new();
    for path in inputs {
        let parquet = |source| Error::Parquet {
            path: path.clone(),
            source,
        };
        let file = fs::File::open(path).map_err(io(path))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(parquet)?
            .build()
            .map_err(parquet)?;
        for b in reader {
            batches.push(b.map_err(|source| Error::Arrow {
                table: table.name,
                source,
            })?);
        }
    }
    let Some(first) = batches.first() else {
        return Ok(None);
    };
    let schema = first.schema();
    if batches.iter().any(|b| b.schema() != schema) {
        tracing::warn!(
            table = table.name,
            "files with different columns in one partition are not compacted"
        );
        return Ok(None);
    }
    let arrow = |source| Error::Arrow {
        table: table.name,
        source,
    };
    let all = concat_batches(&schema, &batches).map_err(arrow)?;
    let keys: Vec<SortColumn> = table
        .sort_by
        .iter()
        .filter_map(|name| all.column_by_name(name))
        .map(|c| SortColumn {
            values: c.clone(),
            options: Some(SortOptions {
                descending: false,
                nulls_first: false,
            }),
        })
        .collect();
    if keys.is_empty() {
        return Ok(Some(all));
    }
    let order = lexsort_to_indices(&keys, None).map_err(arrow)?;
    Ok(Some(
        arrow::compute::take_record_batch(&all, &order).map_err(arrow)?,
    ))
}
