//! The tables are plain Parquet: DuckDB, pyarrow and pandas read every one of
//! them without doorstep, agree with doorstep's own reader on every row and
//! column, and `site_day.time_utilization` recomputed from `room_day` in SQL
//! (METRICS.md site metrics) equals the value doorstep stored.
//!
//! Runs `tests/interop.py` with `python3`; scripts/test installs duckdb,
//! pyarrow and pandas from PyPI when they are missing.

use crate::common;
use arrow::array::{Array, Float64Array};
use arrow::datatypes::DataType;
use devices::{Limits, Reading, Registry, Rejection, Validator};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use stream::StreamConfig;

/// 2026-11-23 (Monday) 06:00 in Shanghai, Unix ms.
const START_MS: i64 = 1_795_384_800_000;
const DAYS: i64 = 3;

const TABLES: [&str; 10] = [
    "alerts",
    "device_day",
    "flags",
    "idle_slots",
    "quarantine",
    "raw_events",
    "room_day",
    "room_hour",
    "room_slot_day",
    "site_day",
];

fn registry() -> Arc<Registry> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/registry.toml"))
            .expect("sample registry");
    Arc::new(Registry::from_toml(&text, Path::new("config/registry.toml")).expect("registry"))
}

fn fleet_readings(registry: &Arc<Registry>) -> Vec<Reading> {
    let mut fleet = devices::sim::Fleet::new(Arc::clone(registry), 11, START_MS);
    let validator = Validator::new(Arc::clone(registry), Limits::default());
    fleet
        .step(START_MS + DAYS * 86_400_000)
        .into_iter()
        .map(|p| {
            validator
                .check(&p.topic, &p.payload, p.time_ms)
                .expect("simulated messages are valid")
        })
        .collect()
}

/// Bad messages, rejected by the validator as ingest would, on two UTC dates
/// (quarantine is partitioned by the UTC date of receipt).
fn rejections(registry: &Arc<Registry>) -> Vec<Rejection> {
    let validator = Validator::new(Arc::clone(registry), Limits::default());
    let good = "doorstep/v1/sh-xh-tianping/tp-lounge-count";
    let cases: [(&str, &[u8], i64, &str); 5] = [
        (good, b"{\"type\":\"count\",", 0, "malformed_json"),
        (good, b"{\"count\":\"\xff\xfe\"}", 60_000, "invalid_utf8"),
        (
            "doorstep/v1/sh-xh-tianping",
            br#"{"type":"count","count":1}"#,
            3 * 3_600_000,
            "bad_topic",
        ),
        (
            "doorstep/v1/sh-xh-tianping/nobody",
            br#"{"type":"count","ts":"2026-11-23T09:00:00+08:00","count":1}"#,
            3 * 3_600_000,
            "unknown_device",
        ),
        (
            good,
            br#"{"type":"smell","ts":"2026-11-23T09:00:00+08:00","count":1}"#,
            4 * 3_600_000,
            "unknown_type",
        ),
    ];
    cases
        .iter()
        .map(|(topic, payload, after, reason)| {
            let r = validator
                .check(topic, payload, START_MS + after)
                .expect_err("a bad message is rejected");
            assert_eq!(r.reason.as_str(), *reason, "{topic} {payload:?}");
            r
        })
        .collect()
}

/// Writes every table the way a run does; returns the number of readings and rejections.
fn write_tables(dir: &Path) -> (usize, usize) {
    let registry = registry();
    let readings = fleet_readings(&registry);
    assert!(readings.len() > 10_000, "{}", readings.len());
    let rejected = rejections(&registry);
    let until = START_MS / 1000 + DAYS * 86_400;
    let out = stream::replay(
        Arc::clone(&registry),
        &StreamConfig::default(),
        readings.clone(),
        64,
        until,
    )
    .expect("replay");
    let store = analytics::Store::open(dir, Arc::clone(&registry)).expect("store");
    store.write_raw_events(&readings).expect("raw events");
    store.write_quarantine(&rejected).expect("quarantine");
    store.write_windows(&out.windows).expect("windows");
    store.write_flags(&out.flags).expect("flags");
    store.write_site_days(&out.site_days).expect("site days");
    store.write_idle_slots(&out.idle_slots).expect("idle slots");
    store
        .write_device_days(&out.device_days)
        .expect("device days");
    // Two changes of one alert, as the alert engine records them.
    let opened = analytics::alerts::AlertEvent {
        at_ms: START_MS + 3_600_000,
        event: "opened".into(),
        alert_id: 1,
        kind: "device_offline".into(),
        site_id: registry.sites[0].id.clone(),
        room_id: None,
        device_id: Some(registry.devices[0].id.clone()),
        since_ms: START_MS + 3_600_000,
        ended_ms: None,
        acked_by: None,
        reopened: 0,
        detail_zh: "设备从未上报".into(),
        detail_en: "never reported".into(),
    };
    let ended = analytics::alerts::AlertEvent {
        at_ms: START_MS + 7_200_000,
        event: "ended".into(),
        ended_ms: Some(START_MS + 7_200_000),
        acked_by: Some("值班员".into()),
        ..opened.clone()
    };
    store
        .write_alert_events(&[opened, ended])
        .expect("alert events");
    (readings.len(), rejected.len())
}

/// What doorstep's own reader (arrow-rs) sees in a table: rows, non-null values
/// per column, and each column's Arrow type.
struct Seen {
    rows: u64,
    non_null: BTreeMap<String, u64>,
    types: BTreeMap<String, DataType>,
}

fn seen(dir: &Path, table: &str) -> Seen {
    let mut s = Seen {
        rows: 0,
        non_null: BTreeMap::new(),
        types: BTreeMap::new(),
    };
    for b in common::read_table(dir, table) {
        s.rows += b.num_rows() as u64;
        for (field, col) in b.schema().fields().iter().zip(b.columns()) {
            *s.non_null.entry(field.name().clone()).or_default() +=
                (col.len() - col.null_count()) as u64;
            s.types
                .insert(field.name().clone(), field.data_type().clone());
        }
    }
    s
}

/// Runs tests/interop.py over `dir` and parses what it prints.
fn python(dir: &Path) -> Value {
    let have = Command::new("python3")
        .args(["-c", "import duckdb, pyarrow, pandas"])
        .output();
    match &have {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "python3 cannot import duckdb, pyarrow and pandas; run scripts/test, which installs \
             them (python3 -m pip install duckdb pyarrow pandas): {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!(
            "python3 is not installed ({e}); run scripts/test, which installs it with duckdb, \
             pyarrow and pandas"
        ),
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(dir)
        .output()
        .expect("run python3 tests/interop.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tests/interop.py failed ({}):\n{stderr}\n{stdout}",
        out.status
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("tests/interop.py printed no JSON ({e}):\n{stdout}\n{stderr}"))
}

/// The DuckDB type an Arrow column of doorstep's should read as.
fn duckdb_type(t: &DataType) -> Option<&'static str> {
    match t {
        DataType::Timestamp(_, Some(_)) => Some("TIMESTAMP WITH TIME ZONE"),
        DataType::Date32 => Some("DATE"),
        DataType::Utf8 => Some("VARCHAR"),
        DataType::Float64 => Some("DOUBLE"),
        DataType::Boolean => Some("BOOLEAN"),
        DataType::Binary => Some("BLOB"),
        _ => None,
    }
}

#[test]
fn duckdb_pyarrow_and_pandas_read_every_table_and_recompute_site_utilization() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (readings, rejected) = write_tables(dir.path());
    let report = python(dir.path());
    eprintln!("readers: {}", report["versions"]);

    // Every table, read by each reader, with the rows and values doorstep wrote.
    let tables = report["tables"].as_object().expect("tables");
    assert_eq!(
        tables.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        TABLES.into_iter().collect::<BTreeSet<_>>(),
        "every table is written and read"
    );
    for table in TABLES {
        let ours = seen(dir.path(), table);
        assert!(ours.rows > 0, "{table} has rows");
        match table {
            "raw_events" => assert_eq!(ours.rows, readings as u64, "raw_events"),
            "quarantine" => assert_eq!(ours.rows, rejected as u64, "quarantine"),
            _ => {}
        }
        for reader in ["duckdb", "pyarrow", "pandas"] {
            let theirs = &tables[table][reader];
            assert_eq!(
                theirs["rows"].as_u64(),
                Some(ours.rows),
                "{table}: rows read by {reader}"
            );
            let non_null = theirs["non_null"].as_object().expect("non_null");
            for (column, n) in &ours.non_null {
                assert_eq!(
                    non_null.get(column).and_then(Value::as_u64),
                    Some(*n),
                    "{table}.{column}: values read by {reader}"
                );
            }
            // Theirs has one more column: `date`, from the partition directories.
            assert_eq!(
                non_null.get("date").and_then(Value::as_u64),
                Some(ours.rows),
                "{table}: {reader} reads the hive partition column `date`"
            );
            assert_eq!(non_null.len(), ours.non_null.len() + 1, "{table}: {reader}");
        }
        let types = &tables[table]["duckdb"]["types"];
        for (column, t) in &ours.types {
            if let Some(expected) = duckdb_type(t) {
                assert_eq!(
                    types[column].as_str(),
                    Some(expected),
                    "{table}.{column} ({t}) in DuckDB"
                );
            }
        }
        eprintln!("{table}: {} rows", ours.rows);
    }

    // site_day.time_utilization recomputed from room_day with SQL equals doorstep's.
    // The doubles come as their IEEE 754 bits (serde_json may round a decimal by an ulp).
    let bits = |v: &Value| v.as_u64().map(f64::from_bits);
    let stored: BTreeMap<(String, i64), Option<f64>> = common::read_table(dir.path(), "site_day")
        .iter()
        .flat_map(|b| {
            (0..b.num_rows()).map(move |row| {
                let key = (
                    common::cell(b, "site_id", row)
                        .as_str()
                        .expect("site_id")
                        .to_owned(),
                    common::cell(b, "day_start", row)
                        .as_i64()
                        .expect("day_start"),
                );
                let col = b.column_by_name("time_utilization").expect("column");
                let value = col
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .expect("Float64");
                (key, (!value.is_null(row)).then(|| value.value(row)))
            })
        })
        .collect();
    let recomputed = report["site_day"].as_array().expect("site_day rows");
    assert!(recomputed.len() > 10, "{} site days", recomputed.len());
    assert_eq!(recomputed.len(), stored.len(), "one row per site day");
    let mut compared = 0;
    let mut max_diff = 0f64;
    for row in recomputed {
        let key = (
            row["site_id"].as_str().expect("site_id").to_owned(),
            row["day_start_ms"].as_i64().expect("day_start_ms"),
        );
        let ours = *stored
            .get(&key)
            .unwrap_or_else(|| panic!("{key:?} not written by doorstep"));
        assert_eq!(
            ours.map(f64::to_bits),
            row["stored_bits"].as_u64(),
            "{key:?}: DuckDB reads the stored value"
        );
        assert_eq!(
            row["rooms"], row["rooms_in_room_day"],
            "{key:?}: every room of the site has its room_day row"
        );
        match (ours, bits(&row["recomputed_bits"])) {
            (Some(a), Some(b)) => {
                assert!((a - b).abs() <= 1e-12, "{key:?}: doorstep {a}, SQL {b}");
                max_diff = max_diff.max((a - b).abs());
            }
            (None, None) => {}
            (a, b) => panic!("{key:?}: doorstep {a:?}, SQL {b:?}"),
        }
        compared += 1;
    }
    let non_null = recomputed.iter().filter(|r| !r["stored"].is_null()).count();
    assert!(non_null > 10, "{non_null} site days with a utilization");
    eprintln!(
        "site_day: {compared} rows compared, {non_null} with a utilization, largest difference {max_diff:e}"
    );
}
