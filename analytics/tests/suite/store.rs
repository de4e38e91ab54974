//! Writes both tables for two sites in different timezones, reads the files
//! back with the parquet crate and compares every column.

use analytics::{Error, METRICS_VERSION, Store};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Float64Type, Int16Type, TimeUnit, TimestampMillisecondType, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use devices::{Reading, Registry, RoomIdx, RoomWindow, Status, Value, VisitsMethod};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const REGISTRY: &str = r#"
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
schedule = ["daily 08:00-22:00 culture"]

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

const HALL: RoomIdx = RoomIdx(0);
const NAP: RoomIdx = RoomIdx(1);
const CANTEEN: RoomIdx = RoomIdx(2);
const KIEZ: RoomIdx = RoomIdx(3);

fn registry() -> Arc<Registry> {
    Arc::new(Registry::from_toml(REGISTRY, Path::new("t.toml")).expect("test registry"))
}

/// Unix milliseconds of a UTC time written `2026-11-10T15:59:59.500`.
fn ms(utc: &str) -> i64 {
    let fmt = if utc.contains('.') {
        "%Y-%m-%dT%H:%M:%S%.3f"
    } else {
        "%Y-%m-%dT%H:%M:%S"
    };
    chrono::NaiveDateTime::parse_from_str(utc, fmt)
        .expect("test time")
        .and_utc()
        .timestamp_millis()
}

fn secs(utc: &str) -> i64 {
    ms(utc) / 1000
}

fn reading(reg: &Registry, device: &str, utc: &str, value: Value) -> Reading {
    let device = reg.device_by_id(device).expect("test device");
    let time_ms = ms(utc);
    Reading {
        device,
        room: reg.device(device).room,
        time_ms,
        received_ms: time_ms + 1234,
        seq: None,
        clock_skew: false,
        value,
    }
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
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
fn partition(file: &Path) -> String {
    let dir = file.parent().expect("partition dir");
    dir.file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned()
}

fn read(file: &Path) -> RecordBatch {
    let f = std::fs::File::open(file).expect("open parquet");
    let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(f)
        .expect("parquet footer")
        .build()
        .expect("reader")
        .collect::<Result<_, _>>()
        .expect("batches");
    arrow::compute::concat_batches(&batches[0].schema(), &batches).expect("concat")
}

fn assert_no_tmp(root: &Path) {
    let tmp: Vec<_> = files(root)
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".parquet"))
        .collect();
    assert!(tmp.is_empty(), "left behind: {tmp:?}");
}

// Column readers: one Vec<Option<_>> per column, nulls included.
fn strs(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    col(b, name)
        .as_string::<i32>()
        .iter()
        .map(|s| s.map(str::to_owned))
        .collect()
}
fn col<'a>(b: &'a RecordBatch, name: &str) -> &'a Arc<dyn Array> {
    b.column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
}
fn times(b: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    col(b, name)
        .as_primitive::<TimestampMillisecondType>()
        .iter()
        .collect()
}
fn bools(b: &RecordBatch, name: &str) -> Vec<Option<bool>> {
    col(b, name).as_boolean().iter().collect()
}
macro_rules! prim {
    ($b:expr, $name:expr, $t:ty) => {
        col($b, $name)
            .as_primitive::<$t>()
            .iter()
            .collect::<Vec<_>>()
    };
}

/// A `raw_events` row as read back.
#[derive(Debug, Clone, PartialEq, Default)]
struct Raw {
    event_time: Option<i64>,
    received_time: Option<i64>,
    site_id: Option<String>,
    room_id: Option<String>,
    device_id: Option<String>,
    seq: Option<u64>,
    kind: Option<String>,
    count: Option<u32>,
    present: Option<bool>,
    door_in: Option<u32>,
    door_out: Option<u32>,
    in_total: Option<u64>,
    out_total: Option<u64>,
    battery_pct: Option<u8>,
    rssi_dbm: Option<i16>,
    fw: Option<String>,
    interval_s: Option<u32>,
    clock_skew: Option<bool>,
    metrics_version: Option<u16>,
}

fn raw_rows(b: &RecordBatch) -> Vec<Raw> {
    let cols = (
        times(b, "event_time"),
        times(b, "received_time"),
        strs(b, "site_id"),
        strs(b, "room_id"),
        strs(b, "device_id"),
        prim!(b, "seq", UInt64Type),
        strs(b, "kind"),
        prim!(b, "count", UInt32Type),
        bools(b, "present"),
        prim!(b, "door_in", UInt32Type),
        prim!(b, "door_out", UInt32Type),
        prim!(b, "in_total", UInt64Type),
        prim!(b, "out_total", UInt64Type),
        prim!(b, "battery_pct", UInt8Type),
        prim!(b, "rssi_dbm", Int16Type),
        strs(b, "fw"),
        prim!(b, "interval_s", UInt32Type),
        bools(b, "clock_skew"),
        prim!(b, "metrics_version", UInt16Type),
    );
    (0..b.num_rows())
        .map(|i| Raw {
            event_time: cols.0[i],
            received_time: cols.1[i],
            site_id: cols.2[i].clone(),
            room_id: cols.3[i].clone(),
            device_id: cols.4[i].clone(),
            seq: cols.5[i],
            kind: cols.6[i].clone(),
            count: cols.7[i],
            present: cols.8[i],
            door_in: cols.9[i],
            door_out: cols.10[i],
            in_total: cols.11[i],
            out_total: cols.12[i],
            battery_pct: cols.13[i],
            rssi_dbm: cols.14[i],
            fw: cols.15[i].clone(),
            interval_s: cols.16[i],
            clock_skew: cols.17[i],
            metrics_version: cols.18[i],
        })
        .collect()
}

/// The expected row of a reading: ids, times and version filled in; value columns null.
fn raw(site: &str, room: &str, device: &str, utc: &str, kind: &str) -> Raw {
    Raw {
        event_time: Some(ms(utc)),
        received_time: Some(ms(utc) + 1234),
        site_id: Some(site.into()),
        room_id: Some(room.into()),
        device_id: Some(device.into()),
        kind: Some(kind.into()),
        clock_skew: Some(false),
        metrics_version: Some(METRICS_VERSION),
        ..Raw::default()
    }
}

const FW: &str = "固件-2.1（测试版）";

fn sample_readings(reg: &Registry) -> Vec<Reading> {
    let mut skewed = reading(
        reg,
        "sh-nap-pir",
        "2026-11-10T04:00:00",
        Value::Presence(true),
    );
    skewed.clock_skew = true;
    let mut door = reading(
        reg,
        "sh-canteen-door",
        "2026-11-10T20:00:00",
        Value::Door { inn: 3, out: 1 },
    );
    door.seq = Some(7);
    vec![
        // Shanghai is UTC+8: local midnight is 16:00 UTC.
        reading(
            reg,
            "sh-hall-counter",
            "2026-11-10T16:00:00",
            Value::Count(2),
        ),
        reading(
            reg,
            "sh-hall-counter",
            "2026-11-10T15:59:59.500",
            Value::Count(4),
        ),
        door,
        reading(
            reg,
            "sh-canteen-door",
            "2026-11-10T02:00:00",
            Value::DoorTotal {
                in_total: 10_000_000_000,
                out_total: 9_999_999_990,
            },
        ),
        skewed,
        reading(
            reg,
            "sh-nap-pir",
            "2026-11-10T00:30:00",
            Value::Status(Status {
                battery_pct: Some(87),
                rssi_dbm: Some(-71),
                fw: Some(FW.into()),
                interval_s: Some(60),
            }),
        ),
        reading(
            reg,
            "sh-nap-pir",
            "2026-11-10T00:31:00",
            Value::Status(Status::default()),
        ),
        // Berlin is UTC+1 in November: local midnight is 23:00 UTC.
        reading(
            reg,
            "de-kiez-counter",
            "2026-11-10T23:00:00",
            Value::Count(0),
        ),
        reading(
            reg,
            "de-kiez-counter",
            "2026-11-10T22:59:59",
            Value::Count(5),
        ),
        // The same instant as the Shanghai reading at 16:00 UTC, but still 10 November here.
        reading(
            reg,
            "de-kiez-counter",
            "2026-11-10T16:00:00",
            Value::Count(1),
        ),
    ]
}

fn expected_raw() -> BTreeMap<&'static str, Vec<Raw>> {
    let sh = |room, device, utc, kind| raw("sh-pudong", room, device, utc, kind);
    let de = |utc| raw("de-berlin", "kiez", "de-kiez-counter", utc, "count");
    let nov10 = vec![
        Raw {
            count: Some(1),
            ..de("2026-11-10T16:00:00")
        },
        Raw {
            count: Some(5),
            ..de("2026-11-10T22:59:59")
        },
        Raw {
            in_total: Some(10_000_000_000),
            out_total: Some(9_999_999_990),
            ..sh(
                "canteen",
                "sh-canteen-door",
                "2026-11-10T02:00:00",
                "door_total",
            )
        },
        Raw {
            count: Some(4),
            ..sh(
                "hall",
                "sh-hall-counter",
                "2026-11-10T15:59:59.500",
                "count",
            )
        },
        Raw {
            battery_pct: Some(87),
            rssi_dbm: Some(-71),
            fw: Some(FW.into()),
            interval_s: Some(60),
            ..sh("nap", "sh-nap-pir", "2026-11-10T00:30:00", "status")
        },
        sh("nap", "sh-nap-pir", "2026-11-10T00:31:00", "status"),
        Raw {
            present: Some(true),
            clock_skew: Some(true),
            ..sh("nap", "sh-nap-pir", "2026-11-10T04:00:00", "presence")
        },
    ];
    let nov11 = vec![
        Raw {
            count: Some(0),
            ..de("2026-11-10T23:00:00")
        },
        // 04:00 local on 11 November, though still 10 November in UTC.
        Raw {
            seq: Some(7),
            door_in: Some(3),
            door_out: Some(1),
            ..sh("canteen", "sh-canteen-door", "2026-11-10T20:00:00", "door")
        },
        Raw {
            count: Some(2),
            ..sh("hall", "sh-hall-counter", "2026-11-10T16:00:00", "count")
        },
    ];
    BTreeMap::from([("date=2026-11-10", nov10), ("date=2026-11-11", nov11)])
}

#[test]
fn raw_events_land_in_the_local_date_of_their_site_and_read_back_exactly() {
    let reg = registry();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("data"), reg.clone()).expect("store");
    let written = store
        .write_raw_events(&sample_readings(&reg))
        .expect("written");

    assert_eq!(written.len(), 2);
    assert_eq!(files(store.root()), written);
    let got: BTreeMap<String, Vec<Raw>> = written
        .iter()
        .map(|f| {
            assert!(f.starts_with(store.root().join("raw_events")), "{f:?}");
            let batch = read(f);
            assert_eq!(batch.schema(), analytics::raw_events::schema());
            (partition(f), raw_rows(&batch))
        })
        .collect();
    let want: BTreeMap<String, Vec<Raw>> = expected_raw()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    assert_eq!(got, want);
    assert_no_tmp(store.root());
}

#[test]
fn raw_events_schema_keeps_utc_millisecond_timestamps() {
    let schema = analytics::raw_events::schema();
    let f = schema.field_with_name("event_time").expect("event_time");
    assert_eq!(
        f.data_type(),
        &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
    );
    assert!(!f.is_nullable());
    assert!(
        schema
            .field_with_name("count")
            .expect("count")
            .is_nullable()
    );
}

#[test]
fn the_same_rows_in_any_order_make_the_same_bytes() {
    let reg = registry();
    let rows = sample_readings(&reg);
    let mut reversed = rows.clone();
    reversed.reverse();
    let a = tempfile::tempdir().expect("tempdir");
    let b = tempfile::tempdir().expect("tempdir");
    let fa = Store::open(a.path(), reg.clone())
        .expect("store")
        .write_raw_events(&rows)
        .expect("written");
    let fb = Store::open(b.path(), reg.clone())
        .expect("store")
        .write_raw_events(&reversed)
        .expect("written");
    assert_eq!(fa.len(), fb.len());
    for (x, y) in fa.iter().zip(&fb) {
        assert_eq!(partition(x), partition(y));
        assert_eq!(
            std::fs::read(x).expect("read"),
            std::fs::read(y).expect("read"),
            "{x:?} vs {y:?}"
        );
    }
}

#[test]
fn appending_adds_a_file_that_sorts_after_the_first() {
    let reg = registry();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), reg.clone()).expect("store");
    let one = [reading(
        &reg,
        "sh-hall-counter",
        "2026-11-10T03:00:00",
        Value::Count(3),
    )];
    let first = store.write_raw_events(&one).expect("first");
    let before = std::fs::read(&first[0]).expect("read");
    let second = store.write_raw_events(&one).expect("second");
    assert_eq!(first.len(), 1);
    assert_eq!(second.len(), 1);
    assert_eq!(first[0].parent(), second[0].parent());
    assert!(first[0].file_name() < second[0].file_name());
    assert_eq!(std::fs::read(&first[0]).expect("read"), before);
    assert_eq!(files(dir.path()), vec![first[0].clone(), second[0].clone()]);
}

#[test]
fn files_use_zstd_dictionaries_statistics_and_record_their_sort_order() {
    let reg = registry();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), reg.clone()).expect("store");
    // A file of a few rows is written uncompressed: a compression context per
    // column would cost more than it saves.
    let small = store
        .write_raw_events(&sample_readings(&reg))
        .expect("written");
    let f = std::fs::File::open(&small[0]).expect("open");
    let builder = ParquetRecordBatchReaderBuilder::try_new(f).expect("footer");
    for c in builder.metadata().row_group(0).columns() {
        assert_eq!(
            c.compression(),
            Compression::UNCOMPRESSED,
            "{}",
            c.column_path()
        );
    }
    // Hundreds of rows are compressed.
    let mut many = Vec::new();
    for k in 0..200 {
        for mut r in sample_readings(&reg) {
            r.time_ms += k * 1000;
            many.push(r);
        }
    }
    assert!(many.len() >= 512);
    let written = store.write_raw_events(&many).expect("written");
    let f = std::fs::File::open(&written[0]).expect("open");
    let builder = ParquetRecordBatchReaderBuilder::try_new(f).expect("footer");
    let rg = builder.metadata().row_group(0);
    let names: Vec<String> = rg
        .columns()
        .iter()
        .map(|c| c.column_path().string())
        .collect();
    for c in rg.columns() {
        assert!(
            matches!(c.compression(), Compression::ZSTD(_)),
            "{}",
            c.column_path()
        );
        assert!(c.statistics().is_some(), "{}", c.column_path());
    }
    for s in ["site_id", "room_id", "device_id", "kind", "fw"] {
        let i = names.iter().position(|n| n == s).expect("column");
        assert!(rg.column(i).dictionary_page_offset().is_some(), "{s}");
    }
    let sorting: Vec<&str> = rg
        .sorting_columns()
        .expect("sorting columns")
        .iter()
        .map(|s| names[s.column_idx as usize].as_str())
        .collect();
    assert_eq!(sorting, ["site_id", "device_id", "event_time"]);
}

#[test]
fn nothing_is_written_for_rows_of_another_registry() {
    let reg = registry();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), reg.clone()).expect("store");
    let mut stray = reading(
        &reg,
        "sh-hall-counter",
        "2026-11-10T03:00:00",
        Value::Count(3),
    );
    stray.room = RoomIdx(99);
    let ok = reading(
        &reg,
        "sh-hall-counter",
        "2026-11-11T03:00:00",
        Value::Count(3),
    );
    let err = store.write_raw_events(&[ok, stray]).expect_err("refused");
    assert!(
        matches!(
            err,
            Error::NotInRegistry {
                what: "room",
                index: 99
            }
        ),
        "{err}"
    );
    let mut hour = window(KIEZ, "2026-11-10T10:00:00");
    hour.room = RoomIdx(7);
    assert!(store.write_room_hours(&[hour]).is_err());
    assert!(files(dir.path()).is_empty());
}

#[test]
fn empty_input_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), registry()).expect("store");
    assert!(store.write_raw_events(&[]).expect("ok").is_empty());
    assert!(store.write_room_hours(&[]).expect("ok").is_empty());
    assert!(files(dir.path()).is_empty());
}

#[test]
fn an_empty_window_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), registry()).expect("store");
    let mut w = window(HALL, "2026-11-10T10:00:00");
    w.end = w.start;
    let err = store.write_room_hours(&[w]).expect_err("refused");
    assert!(matches!(err, Error::EmptyWindow { .. }), "{err}");
    assert!(files(dir.path()).is_empty());
}

/// A fully measured, empty hour starting at `utc`.
fn window(room: RoomIdx, utc: &str) -> RoomWindow {
    let start = secs(utc);
    RoomWindow {
        kind: devices::WindowKind::Hour,
        room,
        start,
        end: start + 3600,
        open_seconds: 3600,
        measured_seconds: 3600,
        occupied_seconds: 0,
        person_seconds: 0,
        peak_occupancy: Some(0),
        visits: 0,
        visits_method: VisitsMethod::Transitions,
        longest_idle_seconds: 3600,
        after_hours_occupied_seconds: 0,
        over_capacity_seconds: 0,
        capacity: Some(30),
        door_residual: None,
        revision: 0,
    }
}

/// A `room_hour` row as read back.
#[derive(Debug, Clone, PartialEq, Default)]
struct Hour {
    site_id: Option<String>,
    room_id: Option<String>,
    site_name: Option<String>,
    room_name: Option<String>,
    hour_start: Option<i64>,
    hour_end: Option<i64>,
    local_hour: Option<u8>,
    open_seconds: Option<u32>,
    measured_seconds: Option<u32>,
    coverage: Option<f64>,
    occupied_seconds: Option<u32>,
    time_utilization: Option<f64>,
    mean_occupancy: Option<f64>,
    capacity_utilization: Option<f64>,
    mean_occupancy_when_used: Option<f64>,
    peak_occupancy: Option<u32>,
    peak_utilization: Option<f64>,
    visits: Option<u64>,
    visits_method: Option<String>,
    mean_dwell_seconds: Option<f64>,
    longest_idle_seconds: Option<u32>,
    after_hours_occupied_seconds: Option<u32>,
    over_capacity_seconds: Option<u32>,
    person_seconds: Option<u64>,
    capacity: Option<u32>,
    metrics_version: Option<u16>,
}

fn hour_rows(b: &RecordBatch) -> Vec<Hour> {
    let f = |name| prim!(b, name, Float64Type);
    let u = |name| prim!(b, name, UInt32Type);
    let names = (strs(b, "site_name"), strs(b, "room_name"));
    let c = (
        strs(b, "site_id"),
        strs(b, "room_id"),
        times(b, "hour_start"),
        times(b, "hour_end"),
        prim!(b, "local_hour", UInt8Type),
        u("open_seconds"),
        u("measured_seconds"),
        f("coverage"),
        u("occupied_seconds"),
        f("time_utilization"),
        f("mean_occupancy"),
        f("capacity_utilization"),
    );
    let d = (
        f("mean_occupancy_when_used"),
        u("peak_occupancy"),
        f("peak_utilization"),
        prim!(b, "visits", UInt64Type),
        strs(b, "visits_method"),
        f("mean_dwell_seconds"),
        u("longest_idle_seconds"),
        u("after_hours_occupied_seconds"),
        u("over_capacity_seconds"),
        prim!(b, "person_seconds", UInt64Type),
        u("capacity"),
        prim!(b, "metrics_version", UInt16Type),
    );
    (0..b.num_rows())
        .map(|i| Hour {
            site_id: c.0[i].clone(),
            room_id: c.1[i].clone(),
            site_name: names.0[i].clone(),
            room_name: names.1[i].clone(),
            hour_start: c.2[i],
            hour_end: c.3[i],
            local_hour: c.4[i],
            open_seconds: c.5[i],
            measured_seconds: c.6[i],
            coverage: c.7[i],
            occupied_seconds: c.8[i],
            time_utilization: c.9[i],
            mean_occupancy: c.10[i],
            capacity_utilization: c.11[i],
            mean_occupancy_when_used: d.0[i],
            peak_occupancy: d.1[i],
            peak_utilization: d.2[i],
            visits: d.3[i],
            visits_method: d.4[i].clone(),
            mean_dwell_seconds: d.5[i],
            longest_idle_seconds: d.6[i],
            after_hours_occupied_seconds: d.7[i],
            over_capacity_seconds: d.8[i],
            person_seconds: d.9[i],
            capacity: d.10[i],
            metrics_version: d.11[i],
        })
        .collect()
}

/// The Chinese display names of the registry, which every window row carries.
fn site_name(id: &str) -> &'static str {
    match id {
        "sh-pudong" => "浦东新区塘桥社区综合体",
        _ => "柏林试点社区",
    }
}

fn room_name(id: &str) -> &'static str {
    match id {
        "hall" => "多功能活动厅",
        "nap" => "托育午休室",
        "canteen" => "长者食堂",
        _ => "邻里客厅",
    }
}

/// The windows of the room_hour test and, written out by hand, the rows they must give.
fn hour_cases() -> (Vec<RoomWindow>, BTreeMap<String, Vec<Hour>>) {
    let base = |site: &str, room: &str, utc: &str, local_hour: u8| Hour {
        site_id: Some(site.into()),
        room_id: Some(room.into()),
        site_name: Some(site_name(site).into()),
        room_name: Some(room_name(room).into()),
        hour_start: Some(ms(utc)),
        hour_end: Some(ms(utc) + 3_600_000),
        local_hour: Some(local_hour),
        metrics_version: Some(METRICS_VERSION),
        ..Hour::default()
    };
    // A count room at 23:00 local, partly measured and partly used.
    let hall_late = RoomWindow {
        kind: devices::WindowKind::Hour,
        measured_seconds: 3000,
        occupied_seconds: 1200,
        person_seconds: 6000,
        peak_occupancy: Some(9),
        visits: 3,
        longest_idle_seconds: 1500,
        ..window(HALL, "2026-11-10T15:00:00")
    };
    let hall_late_row = Hour {
        open_seconds: Some(3600),
        measured_seconds: Some(3000),
        coverage: Some(3000.0 / 3600.0),
        occupied_seconds: Some(1200),
        time_utilization: Some(0.4),
        mean_occupancy: Some(2.0),
        capacity_utilization: Some(2.0 / 30.0),
        mean_occupancy_when_used: Some(5.0),
        peak_occupancy: Some(9),
        peak_utilization: Some(0.3),
        visits: Some(3),
        visits_method: Some("transitions".into()),
        mean_dwell_seconds: None,
        longest_idle_seconds: Some(1500),
        after_hours_occupied_seconds: Some(0),
        over_capacity_seconds: Some(0),
        person_seconds: Some(6000),
        capacity: Some(30),
        ..base("sh-pudong", "hall", "2026-11-10T15:00:00", 23)
    };
    // The next hour is 00:00 local on 11 November: closed, yet someone stayed.
    let hall_night = RoomWindow {
        kind: devices::WindowKind::Hour,
        open_seconds: 0,
        measured_seconds: 0,
        peak_occupancy: None,
        longest_idle_seconds: 0,
        after_hours_occupied_seconds: 600,
        ..window(HALL, "2026-11-10T16:00:00")
    };
    let hall_night_row = Hour {
        open_seconds: Some(0),
        measured_seconds: Some(0),
        occupied_seconds: Some(0),
        visits: Some(0),
        visits_method: Some("transitions".into()),
        longest_idle_seconds: Some(0),
        after_hours_occupied_seconds: Some(600),
        over_capacity_seconds: Some(0),
        person_seconds: Some(0),
        capacity: Some(30),
        ..base("sh-pudong", "hall", "2026-11-10T16:00:00", 0)
    };
    // Presence-only: every capacity-based column is null, never 0.
    let nap = RoomWindow {
        kind: devices::WindowKind::Hour,
        occupied_seconds: 1800,
        person_seconds: 1800,
        peak_occupancy: Some(1),
        visits: 2,
        longest_idle_seconds: 1200,
        capacity: None,
        ..window(NAP, "2026-11-10T06:00:00")
    };
    let nap_row = Hour {
        open_seconds: Some(3600),
        measured_seconds: Some(3600),
        coverage: Some(1.0),
        occupied_seconds: Some(1800),
        time_utilization: Some(0.5),
        mean_occupancy: Some(0.5),
        mean_occupancy_when_used: Some(1.0),
        peak_occupancy: Some(1),
        visits: Some(2),
        visits_method: Some("transitions".into()),
        longest_idle_seconds: Some(1200),
        after_hours_occupied_seconds: Some(0),
        person_seconds: Some(1800),
        ..base("sh-pudong", "nap", "2026-11-10T06:00:00", 14)
    };
    // A door room at lunch, crowded for five minutes.
    let canteen = RoomWindow {
        kind: devices::WindowKind::Hour,
        occupied_seconds: 3600,
        person_seconds: 72_000,
        peak_occupancy: Some(45),
        visits: 50,
        visits_method: VisitsMethod::Door,
        longest_idle_seconds: 0,
        over_capacity_seconds: 300,
        capacity: Some(40),
        ..window(CANTEEN, "2026-11-10T03:00:00")
    };
    let canteen_row = Hour {
        open_seconds: Some(3600),
        measured_seconds: Some(3600),
        coverage: Some(1.0),
        occupied_seconds: Some(3600),
        time_utilization: Some(1.0),
        mean_occupancy: Some(20.0),
        capacity_utilization: Some(0.5),
        mean_occupancy_when_used: Some(20.0),
        peak_occupancy: Some(45),
        peak_utilization: Some(1.125),
        visits: Some(50),
        visits_method: Some("door".into()),
        mean_dwell_seconds: Some(1440.0),
        longest_idle_seconds: Some(0),
        after_hours_occupied_seconds: Some(0),
        over_capacity_seconds: Some(300),
        person_seconds: Some(72_000),
        capacity: Some(40),
        ..base("sh-pudong", "canteen", "2026-11-10T03:00:00", 11)
    };
    let empty_row = |site, room, utc, local_hour, capacity: u32| Hour {
        open_seconds: Some(3600),
        measured_seconds: Some(3600),
        coverage: Some(1.0),
        occupied_seconds: Some(0),
        time_utilization: Some(0.0),
        mean_occupancy: Some(0.0),
        capacity_utilization: Some(0.0),
        mean_occupancy_when_used: None,
        peak_occupancy: Some(0),
        peak_utilization: Some(0.0),
        visits: Some(0),
        visits_method: Some("transitions".into()),
        longest_idle_seconds: Some(3600),
        after_hours_occupied_seconds: Some(0),
        over_capacity_seconds: Some(0),
        person_seconds: Some(0),
        capacity: Some(capacity),
        ..base(site, room, utc, local_hour)
    };
    let kiez = |utc| RoomWindow {
        kind: devices::WindowKind::Hour,
        capacity: Some(20),
        ..window(KIEZ, utc)
    };
    let windows = vec![
        // Berlin: 23:00 local on 10 November, then 00:00 local on 11 November.
        kiez("2026-11-10T23:00:00"),
        kiez("2026-11-10T22:00:00"),
        // Berlin leaves summer time on 25 October 2026: 02:00 local happens twice.
        kiez("2026-10-25T01:00:00"),
        kiez("2026-10-25T00:00:00"),
        canteen,
        hall_night,
        nap,
        hall_late,
    ];
    let de = |utc, h| empty_row("de-berlin", "kiez", utc, h, 20);
    let want = BTreeMap::from([
        (
            "date=2026-10-25".to_owned(),
            vec![de("2026-10-25T00:00:00", 2), de("2026-10-25T01:00:00", 2)],
        ),
        (
            "date=2026-11-10".to_owned(),
            vec![
                de("2026-11-10T22:00:00", 23),
                canteen_row,
                hall_late_row,
                nap_row,
            ],
        ),
        (
            "date=2026-11-11".to_owned(),
            vec![de("2026-11-10T23:00:00", 0), hall_night_row],
        ),
    ]);
    (windows, want)
}

#[test]
fn room_hours_land_in_the_local_date_of_their_start_and_read_back_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("data"), registry()).expect("store");
    let (windows, want) = hour_cases();
    let written = store.write_room_hours(&windows).expect("written");
    assert_eq!(files(store.root()), written);
    let got: BTreeMap<String, Vec<Hour>> = written
        .iter()
        .map(|f| {
            assert!(f.starts_with(store.root().join("room_hour")), "{f:?}");
            let batch = read(f);
            assert_eq!(batch.schema(), analytics::room_hour::schema());
            (partition(f), hour_rows(&batch))
        })
        .collect();
    assert_eq!(got, want);
    assert_no_tmp(store.root());
}

#[test]
fn room_hour_ratios_are_the_room_window_methods() {
    let (windows, _) = hour_cases();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), registry()).expect("store");
    for w in &windows {
        let files = store
            .write_room_hours(std::slice::from_ref(w))
            .expect("written");
        let row = hour_rows(&read(&files[0])).remove(0);
        assert_eq!(row.coverage, w.coverage());
        assert_eq!(row.time_utilization, w.time_utilization());
        assert_eq!(row.mean_occupancy, w.mean_occupancy());
        assert_eq!(row.capacity_utilization, w.capacity_utilization());
        assert_eq!(row.mean_occupancy_when_used, w.mean_occupancy_when_used());
        assert_eq!(row.peak_utilization, w.peak_utilization());
        assert_eq!(row.mean_dwell_seconds, w.mean_dwell_seconds());
        assert_eq!(row.over_capacity_seconds, w.over_capacity());
    }
}
