//! Helpers shared by the table tests: a two-timezone registry, times, file
//! listings, and a reader that turns a Parquet file back into named cells.

#![allow(dead_code)]

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Date32Type, Float64Type, TimeUnit, TimestampMillisecondType, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use chrono::NaiveDate;
use devices::{Registry, RoomIdx};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub mod window_cases;

pub const REGISTRY: &str = r#"
[[site]]
id = "sh-pudong"
name = "浦东新区塘桥社区综合体"
city = "上海市"
district = "浦东新区"
timezone = "Asia/Shanghai"

[[site.room]]
id = "hall"
name = "多功能活动厅"
capacity = 30
area_m2 = 120
schedule = [
  "mon-fri 08:30-11:30 infant_care",
  "daily 14:00-17:00 elderly_care",
  "daily 19:00-21:00 culture",
]

[[site.room]]
id = "nap"
name = "托育午休室"
capacity = 12
area_m2 = 40
schedule = ["mon-fri 12:00-15:00 infant_care"]

[[site.room]]
id = "canteen"
name = "长者食堂"
capacity = 40
area_m2 = 135
schedule = ["daily 10:30-13:00 meal_aid"]

[[site.device]]
id = "sh-hall-counter"
room = "hall"
kind = "count"

[[site.device]]
id = "sh-nap-pir"
room = "nap"
kind = "presence"

[[site.device]]
id = "sh-canteen-door"
room = "canteen"
kind = "door"

[[site]]
id = "de-berlin"
name = "柏林试点社区"
city = "柏林"
district = "米特区"
timezone = "Europe/Berlin"

[[site.room]]
id = "kiez"
name = "邻里客厅"
capacity = 20
area_m2 = 60
schedule = ["daily 09:00-23:00 shared_space"]

[[site.device]]
id = "de-kiez-counter"
room = "kiez"
kind = "count"
"#;

pub const HALL: RoomIdx = RoomIdx(0);
pub const NAP: RoomIdx = RoomIdx(1);
pub const CANTEEN: RoomIdx = RoomIdx(2);
pub const KIEZ: RoomIdx = RoomIdx(3);

pub fn registry() -> Arc<Registry> {
    Arc::new(Registry::from_toml(REGISTRY, Path::new("t.toml")).expect("test registry"))
}

/// Unix seconds of a UTC time written `2026-11-10T15:00:00`.
pub fn secs(utc: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(utc, "%Y-%m-%dT%H:%M:%S")
        .expect("test time")
        .and_utc()
        .timestamp()
}

pub fn date(ymd: &str) -> NaiveDate {
    NaiveDate::parse_from_str(ymd, "%Y-%m-%d").expect("test date")
}

/// Every file under `dir`, recursively, sorted.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                out.extend(files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `date=…` directory name of a file.
pub fn partition(file: &Path) -> String {
    let dir = file.parent().expect("partition dir");
    dir.file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned()
}

pub fn read(file: &Path) -> RecordBatch {
    let f = std::fs::File::open(file).expect("open parquet");
    let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(f)
        .expect("parquet footer")
        .build()
        .expect("reader")
        .collect::<Result<_, _>>()
        .expect("batches");
    arrow::compute::concat_batches(&batches[0].schema(), &batches).expect("concat")
}

pub fn assert_no_tmp(root: &Path) {
    let tmp: Vec<_> = files(root)
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".parquet"))
        .collect();
    assert!(tmp.is_empty(), "left behind: {tmp:?}");
}

/// One value as read back; the variant is the Arrow type, so a value of the
/// wrong type never compares equal.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Str(String),
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    F64(f64),
    Bool(bool),
    Date(NaiveDate),
    /// Unix milliseconds.
    Ts(i64),
}

pub use Cell::*;

pub fn s(v: &str) -> Cell {
    Str(v.to_owned())
}

/// A UTC instant as a timestamp cell.
pub fn ts(utc: &str) -> Cell {
    Ts(secs(utc) * 1000)
}

/// A row: every column of the file, by name, in schema order.
pub type Row = Vec<(String, Cell)>;

fn cell(a: &dyn Array, i: usize) -> Cell {
    if a.is_null(i) {
        return Null;
    }
    match a.data_type() {
        DataType::Utf8 => Str(a.as_string::<i32>().value(i).to_owned()),
        DataType::UInt8 => U8(a.as_primitive::<UInt8Type>().value(i)),
        DataType::UInt16 => U16(a.as_primitive::<UInt16Type>().value(i)),
        DataType::UInt32 => U32(a.as_primitive::<UInt32Type>().value(i)),
        DataType::UInt64 => U64(a.as_primitive::<UInt64Type>().value(i)),
        DataType::Float64 => F64(a.as_primitive::<Float64Type>().value(i)),
        DataType::Boolean => Bool(a.as_boolean().value(i)),
        DataType::Date32 => Date(
            Date32Type::to_naive_date_opt(a.as_primitive::<Date32Type>().value(i))
                .expect("date in range"),
        ),
        DataType::Timestamp(TimeUnit::Millisecond, Some(tz)) if tz.as_ref() == "UTC" => {
            Ts(a.as_primitive::<TimestampMillisecondType>().value(i))
        }
        other => panic!("unexpected column type {other}"),
    }
}

/// Every row of a batch, every column.
pub fn rows(b: &RecordBatch) -> Vec<Row> {
    let schema = b.schema();
    (0..b.num_rows())
        .map(|i| {
            schema
                .fields()
                .iter()
                .zip(b.columns())
                .map(|(f, a)| (f.name().clone(), cell(a.as_ref(), i)))
                .collect()
        })
        .collect()
}

/// `base` with the named cells replaced; panics on a name `base` lacks.
pub fn with(base: &Row, changes: Vec<(&str, Cell)>) -> Row {
    let mut row = base.clone();
    for (name, value) in changes {
        let slot = row
            .iter_mut()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no column {name}"));
        slot.1 = value;
    }
    row
}

/// A row from (name, value) pairs.
pub fn row(cells: Vec<(&str, Cell)>) -> Row {
    cells.into_iter().map(|(n, c)| (n.to_owned(), c)).collect()
}

/// Reads each written file back as `partition -> rows`, checking the schema
/// and that the files are exactly the ones under `table`.
pub fn read_table(
    root: &Path,
    table: &str,
    written: &[PathBuf],
    schema: &arrow::datatypes::SchemaRef,
) -> BTreeMap<String, Vec<Row>> {
    assert_eq!(files(&root.join(table)), written);
    assert_no_tmp(root);
    written
        .iter()
        .map(|f| {
            let batch = read(f);
            assert_eq!(&batch.schema(), schema, "{f:?}");
            (partition(f), rows(&batch))
        })
        .collect()
}

/// Asserts two tables equal partition by partition and row by row, naming
/// the first cell that differs.
pub fn assert_tables(got: &BTreeMap<String, Vec<Row>>, want: &BTreeMap<String, Vec<Row>>) {
    let parts = |t: &BTreeMap<String, Vec<Row>>| t.keys().cloned().collect::<Vec<_>>();
    assert_eq!(parts(got), parts(want), "partitions");
    for (p, want_rows) in want {
        let got_rows = &got[p];
        assert_eq!(got_rows.len(), want_rows.len(), "rows in {p}");
        for (i, (g, w)) in got_rows.iter().zip(want_rows).enumerate() {
            let names = |r: &Row| r.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
            assert_eq!(names(g), names(w), "columns of {p} row {i}");
            for ((name, gc), (_, wc)) in g.iter().zip(w) {
                assert_eq!(gc, wc, "{p} row {i} column {name}");
            }
        }
    }
}

/// The names of the dictionary-encoded columns of a file's first row group,
/// and the columns it records as its sort order.
pub fn dictionaries_and_sorting(file: &Path) -> (Vec<String>, Vec<String>) {
    let f = std::fs::File::open(file).expect("open");
    let builder = ParquetRecordBatchReaderBuilder::try_new(f).expect("footer");
    let rg = builder.metadata().row_group(0);
    let names: Vec<String> = rg
        .columns()
        .iter()
        .map(|c| c.column_path().string())
        .collect();
    let dict = rg
        .columns()
        .iter()
        .filter(|c| c.dictionary_page_offset().is_some())
        .map(|c| c.column_path().string())
        .collect();
    let sorting = rg
        .sorting_columns()
        .expect("sorting columns")
        .iter()
        .map(|s| names[s.column_idx as usize].clone())
        .collect();
    (dict, sorting)
}

/// Writes `rows` in two orders to two stores and asserts the files match byte for byte.
pub fn assert_same_bytes<T: Clone>(
    write: impl Fn(&analytics::Store, &[T]) -> Vec<PathBuf>,
    rows: &[T],
) {
    let reversed: Vec<T> = rows.iter().rev().cloned().collect();
    let (a, b) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let store = |d: &Path| analytics::Store::open(d, registry()).expect("store");
    let first = write(&store(a.path()), rows);
    let second = write(&store(b.path()), &reversed);
    assert_eq!(first.len(), second.len());
    assert!(!first.is_empty());
    for (x, y) in first.iter().zip(&second) {
        assert_eq!(partition(x), partition(y));
        assert_eq!(
            std::fs::read(x).expect("read"),
            std::fs::read(y).expect("read"),
            "{x:?} vs {y:?}"
        );
    }
}
