//! Reading the stored tables for reports: one date partition at a time, only
//! the columns asked for, skipping row groups of other sites, and keeping the
//! highest `revision` of each key.

use super::{Error, Result};
use arrow::array::{Array, ArrowPrimitiveType, AsArray, PrimitiveArray, RecordBatch, StringArray};
use chrono::NaiveDate;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Rows per batch read.
const BATCH_ROWS: usize = 8192;

/// The dates of a table's `date=YYYY-MM-DD` partitions, sorted; empty when the table is missing.
pub(crate) fn dates(root: &Path, table: &str) -> Result<Vec<NaiveDate>> {
    let dir = root.join(table);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(Error::Io { path: dir, source }),
    };
    let mut out: Vec<NaiveDate> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let text = name.to_str()?.strip_prefix("date=")?.to_owned();
            NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok()
        })
        .collect();
    out.sort();
    Ok(out)
}

/// The partition dates of `table` within `[from, to]`.
pub(crate) fn dates_in(
    root: &Path,
    table: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<NaiveDate>> {
    Ok(dates(root, table)?
        .into_iter()
        .filter(|d| (from..=to).contains(d))
        .collect())
}

/// One partition's batches, with the file each came from (for error messages).
pub(crate) struct Partition {
    pub table: &'static str,
    pub batches: Vec<(PathBuf, RecordBatch)>,
    /// The `metrics_version`s of the row groups read (from their statistics).
    pub versions: BTreeSet<u16>,
}

/// A note for a report whose rows come from more than one version of the
/// metric definitions (rows written before an upgrade keep their version).
pub(crate) fn versions_note(versions: &BTreeSet<u16>, lang: super::Lang) -> Option<String> {
    if versions.len() < 2 {
        return None;
    }
    let list: Vec<String> = versions.iter().map(u16::to_string).collect();
    Some(match lang {
        super::Lang::Zh => format!(
            "本窗口的数据混合了第 {} 版指标定义（metrics_version）：升级前写入的行按旧定义计算，前后数字不完全可比。",
            list.join("、")
        ),
        super::Lang::En => format!(
            "This window mixes rows of metric definitions version {} (metrics_version): rows written before an upgrade keep the old definitions, so numbers before and after are not fully comparable.",
            list.join(" and ")
        ),
    })
}

/// Reads the `columns` of every file of `table`'s partition `date`; with `site`,
/// row groups whose `site_id` statistics exclude it are skipped (rows of other
/// sites may remain: filter them).
pub(crate) fn partition(
    root: &Path,
    table: &'static str,
    date: NaiveDate,
    columns: &[&str],
    site: Option<&str>,
) -> Result<Partition> {
    let dir = root
        .join(table)
        .join(format!("date={}", date.format("%Y-%m-%d")));
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => return Err(Error::Io { path: dir, source }),
    };
    files.sort();
    let mut batches = Vec::new();
    let mut versions = BTreeSet::new();
    for path in files {
        read_file(&path, columns, site, &mut batches, &mut versions)?;
    }
    Ok(Partition {
        table,
        batches,
        versions,
    })
}

fn read_file(
    path: &Path,
    columns: &[&str],
    site: Option<&str>,
    out: &mut Vec<(PathBuf, RecordBatch)>,
    versions: &mut BTreeSet<u16>,
) -> Result<()> {
    let parquet = |source| Error::Parquet {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet)?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
    let mut builder = builder.with_projection(mask).with_batch_size(BATCH_ROWS);
    if let Some(site) = site {
        let groups = row_groups_with(builder.metadata(), "site_id", site.as_bytes());
        if groups.is_empty() {
            return Ok(());
        }
        builder = builder.with_row_groups(groups);
    }
    versions.extend(versions_of(builder.metadata()));
    for batch in builder.build().map_err(parquet)? {
        let batch = batch.map_err(|source| Error::Arrow {
            path: path.to_owned(),
            source,
        })?;
        if batch.num_rows() > 0 {
            out.push((path.to_owned(), batch));
        }
    }
    Ok(())
}

/// The `metrics_version`s a file's statistics name (every row group's min and max).
fn versions_of(meta: &parquet::file::metadata::ParquetMetaData) -> BTreeSet<u16> {
    use parquet::file::statistics::Statistics;
    let schema = meta.file_metadata().schema_descr();
    let Some(index) =
        (0..schema.num_columns()).find(|&i| schema.column(i).name() == "metrics_version")
    else {
        return BTreeSet::new();
    };
    let mut out = BTreeSet::new();
    for g in meta.row_groups() {
        if let Some(Statistics::Int32(s)) = g.column(index).statistics() {
            out.extend(
                [s.min_opt(), s.max_opt()]
                    .into_iter()
                    .flatten()
                    .filter_map(|v| u16::try_from(*v).ok()),
            );
        }
    }
    out
}

/// Row groups whose min/max statistics of string column `column` may hold `value`.
///
/// Truncated statistics stay bounds (a shortened min is smaller, a shortened max
/// is rounded up), so a group is only skipped when it cannot hold the value.
fn row_groups_with(
    meta: &parquet::file::metadata::ParquetMetaData,
    column: &str,
    value: &[u8],
) -> Vec<usize> {
    let schema = meta.file_metadata().schema_descr();
    let index = (0..schema.num_columns()).find(|&i| schema.column(i).name() == column);
    (0..meta.num_row_groups())
        .filter(|&g| {
            let Some(stats) = index.and_then(|i| meta.row_group(g).column(i).statistics()) else {
                return true;
            };
            let below = stats.min_bytes_opt().is_some_and(|min| value < min);
            let above = stats.max_bytes_opt().is_some_and(|max| value > max);
            !(below || above)
        })
        .collect()
}

/// A string column, or an error naming the file.
pub(crate) fn strings<'b>(
    path: &Path,
    table: &'static str,
    batch: &'b RecordBatch,
    column: &'static str,
) -> Result<&'b StringArray> {
    batch
        .column_by_name(column)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| Error::Column {
            path: path.to_owned(),
            table,
            column,
            expected: "Utf8",
        })
}

/// A primitive column of Arrow type `T`, or an error naming the file.
pub(crate) fn prim<'b, T: ArrowPrimitiveType>(
    path: &Path,
    table: &'static str,
    batch: &'b RecordBatch,
    column: &'static str,
) -> Result<&'b PrimitiveArray<T>> {
    batch
        .column_by_name(column)
        .and_then(|c| c.as_primitive_opt::<T>())
        .ok_or_else(|| Error::Column {
            path: path.to_owned(),
            table,
            column,
            expected: std::any::type_name::<T>()
                .rsplit("::")
                .next()
                .unwrap_or("primitive"),
        })
}

/// The value at `i`, `None` when null.
pub(crate) fn get<T: ArrowPrimitiveType>(a: &PrimitiveArray<T>, i: usize) -> Option<T::Native> {
    (!a.is_null(i)).then(|| a.value(i))
}

/// One part of a row's key.
#[derive(Debug, PartialEq, Eq, Hash)]
enum KeyPart<'a> {
    Text(&'a str),
    Number(i64),
}

/// The rows of one batch to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rows {
    /// Every row of a batch of this many rows.
    All(usize),
    /// These rows, ascending.
    Some(Vec<usize>),
}

impl Rows {
    /// The row indices.
    pub fn iter(
        &self,
    ) -> std::iter::Chain<std::ops::Range<usize>, std::iter::Copied<std::slice::Iter<'_, usize>>>
    {
        match self {
            Rows::All(n) => (0..*n).chain([].iter().copied()),
            Rows::Some(v) => (0..0).chain(v.iter().copied()),
        }
    }
}

/// For each batch of a partition, the rows to use: for each key (the `keys`
/// columns, strings or millisecond timestamps; the date is the partition's)
/// the row with the highest `revision`, the first one stored on a tie. When no
/// row of the partition has a revision above 0 (the usual case) every row is
/// used, without building keys.
pub(crate) fn latest(part: &Partition, keys: &[&'static str]) -> Result<Vec<Rows>> {
    use arrow::datatypes::{TimestampMillisecondType, UInt16Type};
    let mut revised = false;
    for (path, b) in &part.batches {
        let rev = prim::<UInt16Type>(path, part.table, b, "revision")?;
        revised |= rev.values().iter().any(|&r| r > 0);
    }
    if !revised {
        return Ok(part
            .batches
            .iter()
            .map(|(_, b)| Rows::All(b.num_rows()))
            .collect());
    }
    let mut best: HashMap<Vec<KeyPart>, (u16, usize, usize)> = HashMap::new();
    for (bi, (path, b)) in part.batches.iter().enumerate() {
        let rev = prim::<UInt16Type>(path, part.table, b, "revision")?;
        let mut cols = Vec::with_capacity(keys.len());
        for &k in keys {
            let c = b.column_by_name(k);
            if let Some(s) = c.and_then(|c| c.as_string_opt::<i32>()) {
                cols.push((Some(s), None));
            } else {
                let t = prim::<TimestampMillisecondType>(path, part.table, b, k)?;
                cols.push((None, Some(t)));
            }
        }
        for ri in 0..b.num_rows() {
            let key: Vec<KeyPart> = cols
                .iter()
                .map(|c| match c {
                    (Some(s), _) => KeyPart::Text(s.value(ri)),
                    (_, Some(t)) => KeyPart::Number(t.value(ri)),
                    _ => KeyPart::Number(0),
                })
                .collect();
            let r = rev.value(ri);
            match best.entry(key) {
                Entry::Vacant(e) => {
                    e.insert((r, bi, ri));
                }
                Entry::Occupied(mut e) if e.get().0 < r => {
                    e.insert((r, bi, ri));
                }
                Entry::Occupied(_) => {}
            }
        }
    }
    let mut out = vec![Vec::new(); part.batches.len()];
    for (_, bi, ri) in best.into_values() {
        out[bi].push(ri);
    }
    Ok(out
        .into_iter()
        .map(|mut v| {
            v.sort_unstable();
            Rows::Some(v)
        })
        .collect())
}

/// Numbers strings (site or room ids) in order of first sight; consecutive rows
/// of a sorted file mostly repeat the previous one, which costs no hashing.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    ids: HashMap<String, usize>,
    pub names: Vec<String>,
    last: Option<usize>,
}

impl Interner {
    /// The number of `name`, new or old.
    pub fn get(&mut self, name: &str) -> usize {
        if let Some(last) = self.last
            && self.names[last] == name
        {
            return last;
        }
        let i = match self.ids.get(name) {
            Some(&i) => i,
            None => {
                let i = self.names.len();
                self.names.push(name.to_owned());
                self.ids.insert(name.to_owned(), i);
                i
            }
        };
        self.last = Some(i);
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, StringArray, UInt16Array, UInt32Array};
    use std::sync::Arc;

    fn batch(sites: &[&str], revs: &[u16], values: &[u32]) -> (PathBuf, RecordBatch) {
        let b = RecordBatch::try_from_iter([
            (
                "site_id",
                Arc::new(StringArray::from(sites.to_vec())) as ArrayRef,
            ),
            ("revision", Arc::new(UInt16Array::from(revs.to_vec())) as _),
            ("v", Arc::new(UInt32Array::from(values.to_vec())) as _),
        ])
        .expect("batch");
        (PathBuf::from("test.parquet"), b)
    }

    fn used(part: &Partition) -> Vec<u32> {
        use arrow::datatypes::UInt32Type;
        let mut out = Vec::new();
        let rows = latest(part, &["site_id"]).expect("rows");
        for ((path, b), rows) in part.batches.iter().zip(&rows) {
            let v = prim::<UInt32Type>(path, "t", b, "v").expect("v");
            out.extend(rows.iter().map(|i| v.value(i)));
        }
        out
    }

    #[test]
    fn highest_revision_of_each_key_wins_across_files() {
        let part = Partition {
            table: "t",
            batches: vec![
                batch(&["a", "b", "c"], &[0, 0, 0], &[1, 2, 3]),
                batch(&["b", "a"], &[2, 1], &[20, 10]),
                batch(&["b"], &[1], &[99]),
            ],
            versions: BTreeSet::new(),
        };
        let mut got = used(&part);
        got.sort();
        assert_eq!(got, vec![3, 10, 20]);
    }

    #[test]
    fn without_revisions_every_row_counts() {
        let part = Partition {
            table: "t",
            batches: vec![batch(&["a", "b"], &[0, 0], &[1, 2])],
            versions: BTreeSet::new(),
        };
        assert_eq!(used(&part), vec![1, 2]);
    }

    #[test]
    fn a_window_of_two_versions_says_so() {
        let one: BTreeSet<u16> = [2].into();
        assert_eq!(versions_note(&one, crate::report::Lang::En), None);
        let two: BTreeSet<u16> = [1, 2].into();
        let note = versions_note(&two, crate::report::Lang::En).expect("note");
        assert!(note.contains("version 1 and 2"), "{note}");
        let zh = versions_note(&two, crate::report::Lang::Zh).expect("note");
        assert!(zh.contains("第 1、2 版"), "{zh}");
    }

    #[test]
    fn interner_numbers_in_order_of_sight() {
        let mut i = Interner::default();
        assert_eq!(i.get("x"), 0);
        assert_eq!(i.get("x"), 0);
        assert_eq!(i.get("y"), 1);
        assert_eq!(i.get("x"), 0);
        assert_eq!(i.names, ["x", "y"]);
    }
}
