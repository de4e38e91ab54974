//! The traps a new user fell into with `doorstep import`, each through the real
//! binary: a re-import with a corrected timezone, a file of mostly bad rows, a
//! row from the future, one unreadable cell, two files at once, a cumulative
//! counter that glitches, steps back and wraps, history in bursts, batches
//! listed and removed.

use crate::common;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

type Row = Map<String, Value>;

const REGISTRY: &str = r#"
[[site]]
id = "lib"
name = "Library"
timezone = "America/Toronto"
calendar = "none"

[[site.room]]
id = "hall"
name = "Reading hall"
capacity = 200
area_m2 = 400
schedule = ["daily 08:00-22:00 culture"]

[[site.device]]
id = "gate"
room = "hall"
kind = "door"
interval_s = 3600
rollover = 65536
max_per_minute = 30

[[site.room]]
id = "gym"
name = "Gym"
capacity = 40
area_m2 = 200
schedule = ["daily 06:00-23:00 fitness"]

[[site.device]]
id = "gym-count"
room = "gym"
kind = "count"
interval_s = 600
"#;

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    reg: PathBuf,
    data: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().to_owned();
    let reg = root.join("registry.toml");
    std::fs::write(&reg, REGISTRY).expect("registry");
    let data = root.join("data");
    Setup {
        _dir: dir,
        root,
        reg,
        data,
    }
}

/// Runs `doorstep import` with `args`: (success, stdout, stderr).
fn doorstep(s: &Setup, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .arg("import")
        .args(args)
        .args(["--registry", s.reg.to_str().expect("path")])
        .args(["--data", s.data.to_str().expect("path")])
        .output()
        .expect("run doorstep");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(s: &Setup, args: &[&str]) -> String {
    let (good, stdout, stderr) = doorstep(s, args);
    assert!(good, "import {args:?} failed:\n{stdout}\n{stderr}");
    stdout
}

fn file(s: &Setup, name: &str, text: &str) -> String {
    let p = s.root.join(name);
    std::fs::write(&p, text).expect("write input");
    p.to_str().expect("path").to_owned()
}

fn rows(s: &Setup, table: &str) -> Vec<Row> {
    common::rows(&s.data, table)
}

/// The local (Toronto) date of a row's `day_start`.
fn day_of(r: &Row) -> String {
    let ms = r["day_start"].as_i64().expect("day_start");
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("time")
        .with_timezone(&chrono_tz::America::Toronto)
        .format("%Y-%m-%d")
        .to_string()
}

fn gym_csv(lines: &[(&str, &str)]) -> String {
    let mut t = String::from("time,people\n");
    for (time, n) in lines {
        t.push_str(&format!("{time},{n}\n"));
    }
    t
}

/// A gym day from 06:00 to 22:50 local, a count every 10 minutes; people
/// from 09:00 to 16:50 only.
fn gym_day(date: &str) -> String {
    let mut t = String::from("time,people\n");
    for i in 0..102 {
        let (h, m) = (6 + i / 6, (i % 6) * 10);
        let people = if (9..17).contains(&h) { (i % 7) + 1 } else { 0 };
        t.push_str(&format!("{date} {h:02}:{m:02},{people}\n"));
    }
    t
}

fn gym_args<'a>(path: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "--format",
        "csv",
        "--device",
        "gym-count",
        "--time-column",
        "time",
        "--count",
        "people",
    ];
    a.extend_from_slice(extra);
    a.push(path);
    a
}

#[test]
fn a_re_import_with_a_corrected_timezone_leaves_one_copy() {
    let s = setup();
    let path = file(&s, "gym.csv", &gym_day("2026-03-10"));
    // Read as Shanghai time by mistake: the gym looks busy at night in Toronto.
    let first = ok(&s, &gym_args(&path, &["--timezone", "Asia/Shanghai"]));
    assert!(
        first.contains("only 25 % of the readings with people in them fall inside"),
        "{first}"
    );
    assert!(first.contains("shifted by -6 h, 100 % would"), "{first}");
    let again = ok(&s, &gym_args(&path, &[]));
    assert!(again.contains("replaced the earlier batch"), "{again}");
    assert!(!again.contains("warning"), "{again}");
    let raw = rows(&s, "raw_events");
    assert_eq!(raw.len(), 102, "one copy of the readings");
    let days: Vec<Row> = rows(&s, "room_day")
        .into_iter()
        .filter(|r| r["room_id"] == "gym")
        .collect();
    assert_eq!(days.len(), 1, "{days:?}");
    assert_eq!(day_of(&days[0]), "2026-03-10");
    let (_, list, _) = doorstep(&s, &["list"]);
    assert_eq!(list.matches("gym.csv-").count(), 1, "{list}");
    assert!(list.contains("America/Toronto"), "{list}");
}

#[test]
fn mostly_bad_rows_write_nothing_and_fail_with_a_summary() {
    let s = setup();
    let mut lines = vec![("2026-03-10 09:00", "3")];
    lines.extend(std::iter::repeat_n(("2026-03-10 09:10", "lots"), 99));
    let path = file(&s, "bad.csv", &gym_csv(&lines));
    let (good, stdout, stderr) = doorstep(&s, &gym_args(&path, &[]));
    assert!(!good, "{stdout}");
    assert!(
        stdout.contains("wrong_type") && stdout.contains("99"),
        "{stdout}"
    );
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert!(rows(&s, "raw_events").is_empty());
    assert!(rows(&s, "quarantine").is_empty());
    // Asked to, it imports what it can and keeps the rest in quarantine.
    ok(&s, &gym_args(&path, &["--max-rejected", "1"]));
    assert_eq!(rows(&s, "raw_events").len(), 1);
    assert_eq!(rows(&s, "quarantine").len(), 99);
}

#[test]
fn one_unreadable_row_is_quarantined_with_its_line_and_a_future_row_is_refused() {
    let s = setup();
    let mut text = gym_day("2026-03-10");
    text = text.replace("2026-03-10 12:30,", "2026-03-10 12:3O,");
    let future = chrono::Utc::now() + chrono::Duration::days(21);
    text.push_str(&format!("{},5\n", future.format("%Y-%m-%d %H:%M")));
    let path = file(&s, "gym.csv", &text);
    let out = ok(&s, &gym_args(&path, &[]));
    assert!(out.contains("101 accepted, 2 rejected"), "{out}");
    // Line 1 is the header; 12:30 is the 40th reading.
    assert!(out.contains("gym.csv:41:"), "{out}");
    let reasons: Vec<String> = rows(&s, "quarantine")
        .iter()
        .map(|r| r["reason"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(reasons.contains(&"bad_timestamp".to_owned()), "{reasons:?}");
    assert!(
        reasons.contains(&"future_timestamp".to_owned()),
        "{reasons:?}"
    );
    // The reports' window did not move three weeks ahead: the last day is the data's.
    let last = rows(&s, "room_day").iter().map(day_of).max();
    assert_eq!(last.as_deref(), Some("2026-03-10"));
    // --strict stops at the unreadable row, naming it, and writes nothing more.
    let (good, _, stderr) = doorstep(&s, &gym_args(&path, &["--strict", "--name", "strict"]));
    assert!(!good);
    assert!(stderr.contains("gym.csv:41:"), "{stderr}");
}

#[test]
fn two_files_in_one_command_are_one_batch_and_can_be_removed() {
    let s = setup();
    let a = file(&s, "day1.csv", &gym_day("2026-03-10"));
    let b = file(&s, "day2.csv", &gym_day("2026-03-11"));
    let mut args = gym_args(&a, &[]);
    args.push(&b);
    let out = ok(&s, &args);
    assert!(out.contains("204 accepted, 0 rejected"), "{out}");
    let gym_days = |s: &Setup| {
        rows(s, "room_day")
            .into_iter()
            .filter(|r| r["room_id"] == "gym")
            .count()
    };
    assert_eq!(gym_days(&s), 2);
    let (_, list, _) = doorstep(&s, &["list"]);
    let name = list
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("day1.csv+1-"))
        .unwrap_or_else(|| panic!("{list}"))
        .to_owned();
    let removed = ok(&s, &["remove", &name]);
    assert!(removed.contains("removed batch"), "{removed}");
    assert!(rows(&s, "raw_events").is_empty());
    assert_eq!(gym_days(&s), 0);
    let (good, _, stderr) = doorstep(&s, &["remove", &name]);
    assert!(!good && stderr.contains("no import batch"), "{stderr}");
}

#[test]
fn a_cumulative_counter_that_glitches_steps_back_and_wraps_counts_as_a_person_would() {
    let s = setup();
    // Hourly reads of a library gate's cumulative counters (in, out), 16 bits wide.
    let reads = [
        ("2026-03-10 08:00", 30_000, 29_900), // the baseline
        ("2026-03-10 09:00", 30_120, 29_950), // 120 in, 50 out
        ("2026-03-10 10:00", 0, 0),           // a glitch to 0: taken as a restart, counts 0
        ("2026-03-10 11:00", 30_200, 30_040), // back: 30,200 in an hour is implausible
        ("2026-03-10 12:00", 30_190, 30_035), // a step back: a restart, 30,190 implausible
        ("2026-03-10 13:00", 30_260, 30_110), // 70 in, 75 out
        ("2026-03-10 22:00", 30_480, 30_490), // 220 in, 380 out
        ("2026-03-11 08:00", 65_450, 65_400), // 34,970 in 10 hours: implausible
        ("2026-03-11 09:00", 65_500, 65_480), // 50 in, 80 out
        ("2026-03-11 10:00", 140, 120),       // wrapped at 65,536: 176 in, 176 out
    ];
    let mut text = String::from("time,in,out\n");
    for (t, i, o) in reads {
        text.push_str(&format!("{t},{i},{o}\n"));
    }
    let path = file(&s, "gate.csv", &text);
    ok(
        &s,
        &[
            "--format",
            "csv",
            "--device",
            "gate",
            "--time-column",
            "time",
            "--in-total",
            "in",
            "--out-total",
            "out",
            &path,
        ],
    );
    let mut days: Vec<(String, Value)> = rows(&s, "room_day")
        .into_iter()
        .filter(|r| r["room_id"] == "hall")
        .map(|r| (day_of(&r), r["visits"].clone()))
        .collect();
    days.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        days,
        [
            ("2026-03-10".to_owned(), Value::from(120 + 70 + 220)),
            ("2026-03-11".to_owned(), Value::from(50 + 176)),
        ]
    );
    let mut implausible: Vec<(String, Value)> = rows(&s, "device_day")
        .into_iter()
        .filter(|r| r["device_id"] == "gate")
        .map(|r| (day_of(&r), r["implausible_counts"].clone()))
        .collect();
    implausible.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        implausible,
        [
            ("2026-03-10".to_owned(), Value::from(2)),
            ("2026-03-11".to_owned(), Value::from(1)),
        ]
    );
}

#[test]
fn history_in_bursts_is_not_refused_as_a_flood() {
    let s = setup();
    // A real 30-second burst: a reading a second for half a minute.
    let mut lines = Vec::new();
    for i in 0..30 {
        lines.push((format!("2026-03-10 10:00:{i:02}"), format!("{}", i % 5)));
    }
    let refs: Vec<(&str, &str)> = lines
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let path = file(&s, "burst.csv", &gym_csv(&refs));
    let out = ok(&s, &gym_args(&path, &[]));
    assert!(out.contains("30 accepted, 0 rejected"), "{out}");
}

#[test]
fn batches_are_listed_with_what_they_hold() {
    let s = setup();
    let (_, empty, _) = doorstep(&s, &["list"]);
    assert!(empty.contains("no import batches"), "{empty}");
    let path = file(&s, "健身房.csv", &gym_day("2026-03-10"));
    ok(&s, &gym_args(&path, &["--name", "健身房三月"]));
    let (good, list, _) = doorstep(&s, &["list"]);
    assert!(good);
    assert!(list.contains("健身房三月"), "{list}");
    assert!(list.contains("102 accepted, 0 rejected"), "{list}");
    assert!(list.contains("健身房.csv"), "{list}");
    assert!(Path::new(&s.data).join("imports").is_dir());
}

#[test]
fn a_room_fed_live_and_by_import_has_one_set_of_rows_holding_both() {
    let s = setup();
    // A live run wrote 2026-03-11: readings every 10 minutes and its rows.
    let registry = std::sync::Arc::new(devices::Registry::load(&s.reg).expect("registry"));
    let device = registry.device_by_id("gym-count").expect("device");
    let room = registry.device(device).room;
    let store = analytics::Store::open(&s.data, std::sync::Arc::clone(&registry)).expect("store");
    let tz = chrono_tz::America::Toronto;
    let live: Vec<devices::Reading> = (0..102)
        .map(|i| {
            use chrono::TimeZone;
            let local = chrono::NaiveDate::from_ymd_opt(2026, 3, 11)
                .and_then(|d| d.and_hms_opt(6 + i / 6, (i % 6) * 10, 0))
                .expect("time");
            let t = tz
                .from_local_datetime(&local)
                .single()
                .expect("local")
                .timestamp_millis();
            devices::Reading {
                device,
                room,
                time_ms: t,
                received_ms: t + 500,
                seq: Some(u64::from(i)),
                clock_skew: false,
                value: devices::Value::Count(if (9..17).contains(&(6 + i / 6)) { 2 } else { 0 }),
            }
        })
        .collect();
    store.write_raw_events(&live).expect("live readings");
    let out = stream::replay(
        std::sync::Arc::clone(&registry),
        &stream::StreamConfig::default(),
        live.clone(),
        4096,
        live.last().expect("last").time_s() + 86_400,
    )
    .expect("live run");
    store.write_windows(&out.windows).expect("live rows");
    // Then the days before and after it are imported.
    let a = file(&s, "day1.csv", &gym_day("2026-03-10"));
    let b = file(&s, "day3.csv", &gym_day("2026-03-12"));
    let mut args = gym_args(&a, &[]);
    args.push(&b);
    ok(&s, &args);
    let mut days: Vec<(String, u64)> = rows(&s, "room_day")
        .into_iter()
        .filter(|r| r["room_id"] == "gym")
        .map(|r| {
            (
                day_of(&r),
                r["occupied_seconds"].as_u64().expect("occupied"),
            )
        })
        .collect();
    days.sort();
    let dates: Vec<&str> = days.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(
        dates,
        ["2026-03-10", "2026-03-11", "2026-03-12"],
        "one row a day: {days:?}"
    );
    // 09:00-17:00 occupied each day, the live day included.
    assert!(days.iter().all(|(_, occ)| *occ == 8 * 3600), "{days:?}");
}
