//! `doorstep import` on the three public datasets of docs/DATASETS.md and on
//! generic CSV and Milesight exports, through the real binary. Every expected
//! number is worked out here from the raw files with the METRICS.md rules
//! written out, never by calling doorstep code.

use crate::common;
use chrono::{NaiveDate, NaiveDateTime, TimeZone, Timelike};
use chrono_tz::Tz;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

type Row = Map<String, Value>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn datasets() -> PathBuf {
    root().join("config/datasets.toml")
}

fn data_file(rel: &str) -> PathBuf {
    root().join("tests/data").join(rel)
}

/// Runs `doorstep import ARGS`; returns (success, stdout, stderr).
fn import(registry: &Path, data: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .arg("import")
        .arg("--registry")
        .arg(registry)
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("run doorstep");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn import_ok(registry: &Path, data: &Path, args: &[&str]) -> String {
    let (ok, stdout, stderr) = import(registry, data, args);
    assert!(ok, "import {args:?} failed:\n{stdout}\n{stderr}");
    stdout
}

fn u64_of(r: &Row, k: &str) -> u64 {
    r[k].as_u64().unwrap_or_else(|| panic!("{k} is {:?}", r[k]))
}

fn local_date(tz: Tz, ms: i64) -> NaiveDate {
    tz.timestamp_millis_opt(ms)
        .single()
        .expect("time")
        .date_naive()
}

/// `room_day` rows of a site, by local date.
fn days(data: &Path, site: &str, tz: Tz) -> BTreeMap<NaiveDate, Row> {
    let mut out = BTreeMap::new();
    for r in common::rows(data, "room_day") {
        if r["site_id"] == site {
            let d = local_date(tz, r["day_start"].as_i64().expect("day_start"));
            assert!(out.insert(d, r).is_none(), "one room_day row per day: {d}");
        }
    }
    out
}

/// Local midnight of `d` in `tz`, Unix seconds.
fn midnight(tz: Tz, d: NaiveDate) -> i64 {
    tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
        .earliest()
        .expect("local midnight")
        .timestamp()
}

/// METRICS.md, count and presence devices: a report's value holds until the next
/// report and for at most stale_after = min(3 x interval, 15 min); then n(t) is
/// unknown. The rooms are open all day, so M = V. Per local day: (measured
/// seconds, occupied seconds, person-seconds, peak).
fn held_per_day(
    readings: &[(i64, u32)],
    interval_s: i64,
    tz: Tz,
) -> BTreeMap<NaiveDate, (u64, u64, u64, Option<u32>)> {
    let stale = (3 * interval_s).min(900);
    let mut out: BTreeMap<NaiveDate, (u64, u64, u64, Option<u32>)> = BTreeMap::new();
    for (i, (t, n)) in readings.iter().enumerate() {
        let end = readings
            .get(i + 1)
            .map_or(t + stale, |(next, _)| (*next).min(t + stale));
        let mut a = *t;
        while a < end {
            let day = local_date(tz, a * 1000);
            let b = end.min(midnight(tz, day + chrono::Duration::days(1)));
            let e = out.entry(day).or_default();
            let len = (b - a) as u64;
            e.0 += len;
            if *n >= 1 {
                e.1 += len;
            }
            e.2 += len * u64::from(*n);
            e.3 = Some(e.3.map_or(*n, |p| p.max(*n)));
            a = b;
        }
    }
    out
}

#[test]
fn calit2_visits_door_residuals_and_events() {
    let la: Tz = chrono_tz::America::Los_Angeles;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let file = data_file("calit2/CalIt2.data");
    let out = import_ok(
        &datasets(),
        &data,
        &[
            "--format",
            "calit2",
            "--site",
            "uci-calit2",
            "--room",
            "main-entrance",
            file.to_str().expect("path"),
        ],
    );
    assert!(out.contains("5,040 accepted, 0 rejected"), "{out}");

    // Where "out" lands: raw_events.door_out; room_day has visits (ins) and door_residual.
    let raw = common::rows(&data, "raw_events");
    let sum = |k: &str| raw.iter().map(|r| u64_of(r, k)).sum::<u64>();
    assert_eq!(
        (raw.len(), sum("door_in"), sum("door_out")),
        (5040, 19_597, 18_837)
    );
    let days = days(&data, "uci-calit2", la);
    let visits: u64 = days.values().map(|r| u64_of(r, "visits")).sum();
    assert_eq!(visits, 19_597, "total visits over the period");
    assert!(days.values().all(|r| r["visits_method"] == "door"));
    // Half-hourly rows stay valid for 35 minutes (stale_after of a 30-minute
    // device), so whole days are measured: no day but the first and the last
    // (partly before and after the data) falls below coverage 0.8.
    let low: Vec<NaiveDate> = days
        .iter()
        .filter(|(_, r)| r["coverage"].as_f64().is_none_or(|c| c < 0.8))
        .map(|(d, _)| *d)
        .collect();
    let (first_day, last_day) = (
        *days.keys().next().expect("days"),
        *days.keys().last().expect("days"),
    );
    assert!(
        low.iter().all(|d| *d == first_day || *d == last_day),
        "days below coverage 0.8: {low:?}"
    );
    eprintln!(
        "CalIt2: {} of {} days below coverage 0.8",
        low.len(),
        days.len()
    );

    // door_residual, worked out from the file: n = max(0, n + in - out) at each
    // half hour (a row counts the half hour before its time), reset to 0 at 04:00
    // local; day D's residual is n just before the reset on the morning of D+1.
    let text = std::fs::read_to_string(&file).expect("CalIt2.data");
    let mut slots: BTreeMap<NaiveDateTime, (i64, i64)> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.trim().split(',').collect();
        let t = NaiveDateTime::parse_from_str(&format!("{} {}", f[1], f[2]), "%m/%d/%y %H:%M:%S")
            .expect("time");
        let n: i64 = f[3].parse().expect("count");
        let e = slots.entry(t).or_default();
        if f[0] == "9" { e.0 += n } else { e.1 += n }
    }
    let mut residual: BTreeMap<NaiveDate, u32> = BTreeMap::new();
    let mut n: i64 = 0;
    for (t, (inn, out)) in &slots {
        // The crossings of the half hour ending at t happened before t.
        let before = *t - chrono::Duration::seconds(1);
        let reset_day = if before.hour() >= 4 {
            before.date()
        } else {
            before.date() - chrono::Duration::days(1)
        };
        // Apply resets up to `before`: the residual of the previous day is n now.
        let key = reset_day - chrono::Duration::days(1);
        residual.entry(key).or_insert_with(|| {
            let r = n as u32;
            n = 0;
            r
        });
        n = (n + inn - out).max(0);
    }
    let last = *slots.keys().last().expect("rows");
    let last_day = (last - chrono::Duration::seconds(1)).date();
    let final_day = if (last - chrono::Duration::seconds(1)).hour() >= 4 {
        last_day
    } else {
        last_day - chrono::Duration::days(1)
    };
    residual.insert(final_day, n as u32);
    let first = (*slots.keys().next().expect("rows") - chrono::Duration::seconds(1)).date();
    let expected_days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= final_day).collect();
    assert_eq!(
        days.keys().copied().collect::<Vec<_>>(),
        expected_days,
        "a row for every day"
    );
    let mut residuals = Vec::new();
    for (d, r) in &days {
        let got = r["door_residual"]
            .as_u64()
            .unwrap_or_else(|| panic!("{d}: door_residual is null"));
        let want = residual.get(d).copied().unwrap_or(0);
        assert_eq!(got, u64::from(want), "door_residual of {d}");
        residuals.push(got);
    }
    eprintln!(
        "CalIt2: {} days, visits {visits}, out {}, door_residual mean {:.1}, max {}",
        days.len(),
        sum("door_out"),
        residuals.iter().sum::<u64>() as f64 / residuals.len() as f64,
        residuals.iter().max().copied().unwrap_or(0)
    );

    // Events: visits in the event hours against the same weekday and hour on days
    // without a listed event.
    let mut hours: BTreeMap<(NaiveDate, u32), u64> = BTreeMap::new();
    for r in common::rows(&data, "room_hour") {
        if r["site_id"] == "uci-calit2" {
            let t = la
                .timestamp_millis_opt(r["hour_start"].as_i64().expect("hour_start"))
                .single()
                .expect("time");
            *hours.entry((t.date_naive(), t.hour())).or_default() += u64_of(&r, "visits");
        }
    }
    let events = std::fs::read_to_string(data_file("calit2/CalIt2.events")).expect("events");
    let mut cells: HashSet<(NaiveDate, u32)> = HashSet::new();
    for line in events.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let d = NaiveDate::parse_from_str(f[0], "%m/%d/%y").expect("event date");
        let clock = |s: &str| {
            let t = chrono::NaiveTime::parse_from_str(s, "%H:%M:%S").expect("event time");
            t.hour() * 60 + t.minute()
        };
        let (a, b) = (clock(f[1]), clock(f[2]));
        for h in a / 60..b.div_ceil(60) {
            cells.insert((d, h));
        }
    }
    let event_days: HashSet<NaiveDate> = cells.iter().map(|(d, _)| *d).collect();
    assert_eq!(events.lines().filter(|l| !l.trim().is_empty()).count(), 30);
    assert_eq!(event_days.len(), 27, "30 events on 27 days");
    let (mut on, mut base) = (0.0, 0.0);
    for (d, h) in &cells {
        use chrono::Datelike;
        let same: Vec<u64> = hours
            .iter()
            .filter(|((dd, hh), _)| {
                hh == h && dd.weekday() == d.weekday() && !event_days.contains(dd)
            })
            .map(|(_, v)| *v)
            .collect();
        assert!(!same.is_empty(), "{d} {h}: no comparison day");
        on += hours.get(&(*d, *h)).copied().unwrap_or(0) as f64;
        base += same.iter().sum::<u64>() as f64 / same.len() as f64;
    }
    let (on, base) = (on / cells.len() as f64, base / cells.len() as f64);
    eprintln!(
        "CalIt2 events: {} event hours, {on:.2} visits an hour against {base:.2} on the same weekday-hour of other days",
        cells.len()
    );
    assert!(on > base, "event hours {on:.2} vs {base:.2}");
}

/// The UCI Occupancy Detection files: (Unix seconds, occupied 0/1), sorted.
fn occupancy_labels() -> Vec<(i64, u32)> {
    let brussels: Tz = chrono_tz::Europe::Brussels;
    let mut out = Vec::new();
    for f in ["datatest.txt", "datatraining.txt", "datatest2.txt"] {
        let text = std::fs::read_to_string(data_file(&format!("occupancy_detection/{f}")))
            .expect("dataset");
        for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let cols: Vec<&str> = line
                .split(',')
                .map(|c| c.trim().trim_matches('"'))
                .collect();
            let t = NaiveDateTime::parse_from_str(cols[1], "%Y-%m-%d %H:%M:%S").expect("date");
            let t = brussels
                .from_local_datetime(&t)
                .earliest()
                .expect("local")
                .timestamp();
            out.push((t, cols[cols.len() - 1].parse::<u32>().expect("label")));
        }
    }
    out.sort();
    out
}

#[test]
fn uci_occupancy_occupied_seconds_per_day_match_the_labels() {
    let brussels: Tz = chrono_tz::Europe::Brussels;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // One file at a time: each import recomputes the days the earlier ones touched.
    for f in ["datatest2.txt", "datatest.txt", "datatraining.txt"] {
        let path = data_file(&format!("occupancy_detection/{f}"));
        import_ok(
            &datasets(),
            &data,
            &[
                "--format",
                "uci-occupancy",
                "--site",
                "uci-occupancy-mons",
                "--room",
                "office",
                path.to_str().expect("path"),
            ],
        );
    }
    let labels = occupancy_labels();
    assert_eq!(labels.len(), 8_143 + 2_665 + 9_752);
    let want = held_per_day(&labels, 60, brussels);
    let got = days(&data, "uci-occupancy-mons", brussels);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "the days with labels"
    );
    let mut total = (0, 0);
    for (d, (measured, occupied, _, _)) in &want {
        let r = &got[d];
        assert_eq!(
            u64_of(r, "occupied_seconds"),
            *occupied,
            "occupied_seconds of {d}"
        );
        assert_eq!(
            u64_of(r, "measured_seconds"),
            *measured,
            "measured_seconds of {d}"
        );
        assert!(
            r["capacity_utilization"].is_null(),
            "presence-only: null, not 0"
        );
        total.0 += occupied;
        total.1 += measured;
    }
    eprintln!(
        "Occupancy Detection: {} days, occupied {} s of {} s measured ({:.1} %)",
        want.len(),
        total.0,
        total.1,
        100.0 * total.0 as f64 / total.1 as f64
    );
}

#[test]
fn uci_room_estimation_peak_and_mean_occupancy_match_the_labels() {
    let kolkata: Tz = chrono_tz::Asia::Kolkata;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let file = data_file("room_occupancy_estimation/Occupancy_Estimation.csv");
    import_ok(
        &datasets(),
        &data,
        &[
            "--format",
            "uci-room-estimation",
            "--site",
            "uci-room-estimation",
            "--room",
            "lab",
            file.to_str().expect("path"),
        ],
    );
    let text = std::fs::read_to_string(&file).expect("dataset");
    let mut labels: Vec<(i64, u32)> = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            let t =
                NaiveDateTime::parse_from_str(&format!("{} {}", c[0], c[1]), "%Y/%m/%d %H:%M:%S")
                    .expect("time");
            let t = kolkata
                .from_local_datetime(&t)
                .single()
                .expect("local")
                .timestamp();
            (t, c[c.len() - 1].trim().parse().expect("count"))
        })
        .collect();
    labels.sort();
    assert_eq!(labels.len(), 10_129);
    let want = held_per_day(&labels, 30, kolkata);
    let got = days(&data, "uci-room-estimation", kolkata);
    // The days between the two recording periods are open and unmeasured.
    for (d, r) in got.iter().filter(|(d, _)| !want.contains_key(d)) {
        assert_eq!(u64_of(r, "measured_seconds"), 0, "{d}");
        assert!(
            r["peak_occupancy"].is_null() && r["mean_occupancy"].is_null(),
            "{d}"
        );
    }
    assert!(
        want.keys().all(|d| got.contains_key(d)),
        "a row for every day with labels"
    );
    for (d, (measured, _, person, peak)) in &want {
        let r = &got[d];
        assert_eq!(
            r["peak_occupancy"].as_u64(),
            peak.map(u64::from),
            "peak of {d}"
        );
        assert_eq!(
            u64_of(r, "person_seconds"),
            *person,
            "person-seconds of {d}"
        );
        assert_eq!(u64_of(r, "measured_seconds"), *measured, "measured of {d}");
        let mean = *person as f64 / *measured as f64;
        let got_mean = r["mean_occupancy"].as_f64().expect("mean");
        assert!((got_mean - mean).abs() < 1e-12, "{d}: {got_mean} vs {mean}");
        eprintln!(
            "Room Occupancy Estimation {d}: peak {peak:?}, mean {mean:.3}, measured {measured} s"
        );
    }
}

const CSV_REGISTRY: &str = r#"
[[site]]
id = "s1"
name = "测试社区"
timezone = "Asia/Shanghai"

[[site.room]]
id = "hall"
name = "活动厅"
capacity = 20
area_m2 = 60
schedule = ["daily 08:00-20:00 culture"]
open_on_holidays = true

[[site.device]]
id = "hall-door"
room = "hall"
kind = "door"
interval_s = 300

[[site.room]]
id = "class"
name = "教室"
capacity = 20
area_m2 = 40
schedule = ["daily 08:00-20:00 child_care"]
open_on_holidays = true

[[site.device]]
id = "class-count"
room = "class"
kind = "count"
interval_s = 300

[[site.device]]
id = "class-vs133"
room = "class"
kind = "door"
interval_s = 300
"#;

fn csv_setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let reg = dir.path().join("registry.toml");
    std::fs::write(&reg, CSV_REGISTRY).expect("registry");
    let data = dir.path().join("data");
    (dir, reg, data)
}

fn room_day(data: &Path, room: &str) -> Vec<Row> {
    common::rows(data, "room_day")
        .into_iter()
        .filter(|r| r["room_id"] == room)
        .collect()
}

#[test]
fn generic_csv_with_bom_crlf_iso_dates_and_a_counter_that_rolls_over() {
    let (dir, reg, data) = csv_setup();
    // A cumulative counter that restarts (drops) at 10:30: METRICS.md takes the new
    // value as the delta. The first value is the baseline.
    let file = dir.path().join("totals.csv");
    let text = "\u{feff}Time;In total;Out total\r\n\
        2026-11-23 09:00:00;100;50\r\n\
        2026-11-23 09:30:00;105;52\r\n\
        2026-11-23 10:00:00;112;60\r\n\
        2026-11-23 10:30:00;3;1\r\n\
        2026-11-23 11:00:00;10;4\r\n";
    std::fs::write(&file, text).expect("csv");
    let out = import_ok(
        &reg,
        &data,
        &[
            "--format",
            "csv",
            "--device",
            "hall-door",
            "--time-column",
            "Time",
            "--in-total",
            "In total",
            "--out-total",
            "Out total",
            "--delimiter",
            ";",
            file.to_str().expect("path"),
        ],
    );
    assert!(out.contains("5 accepted, 0 rejected"), "{out}");
    let days = room_day(&data, "hall");
    assert_eq!(days.len(), 1, "{days:?}");
    // ins: 5 + 7 + 3 (restart) + 7; outs: 2 + 8 + 1 + 3; n: 3, 2, 4, 8.
    assert_eq!(u64_of(&days[0], "visits"), 22);
    assert_eq!(days[0]["door_residual"], 8);
    let raw = common::rows(&data, "raw_events");
    assert_eq!(
        raw.iter()
            .map(|r| u64_of(r, "in_total"))
            .collect::<Vec<_>>(),
        vec![100, 105, 112, 3, 10]
    );
}

#[test]
fn generic_csv_with_us_dates_negative_counts_and_bad_lines() {
    let (dir, reg, data) = csv_setup();
    let file = dir.path().join("counts.csv");
    let text = "Date,Time,People\r\n\
        11/23/2026,09:00,2\r\n\
        11/23/2026,09:05,5\r\n\
        11/23/2026,09:10,-1\r\n\
        11/23/2026,09:15,many\r\n\
        11/23/2026,09:20,3\r\n";
    std::fs::write(&file, text).expect("csv");
    let out = import_ok(
        &reg,
        &data,
        &[
            "--format",
            "csv",
            "--site",
            "s1",
            "--room",
            "class",
            "--time-column",
            "Date,Time",
            "--count",
            "People",
            "--max-rejected",
            "0.5",
            file.to_str().expect("path"),
        ],
    );
    assert!(out.contains("3 accepted, 2 rejected"), "{out}");
    assert!(
        out.contains("negative_count") && out.contains("counts.csv:4:"),
        "{out}"
    );
    assert!(
        out.contains("wrong_type") && out.contains("counts.csv:5:"),
        "{out}"
    );
    let q = common::rows(&data, "quarantine");
    let mut reasons: Vec<&str> = q
        .iter()
        .map(|r| r["reason"].as_str().expect("reason"))
        .collect();
    reasons.sort();
    assert_eq!(reasons, vec!["negative_count", "wrong_type"]);
    let days = room_day(&data, "class");
    assert_eq!(days[0]["peak_occupancy"], 5);
    // 09:00-09:05 2 people, 09:05-09:20 5 (held 15 min: the rejected rows change nothing),
    // 09:20-09:35 3, stale after 15 min.
    assert_eq!(
        u64_of(&days[0], "person_seconds"),
        300 * 2 + 900 * 5 + 900 * 3
    );

    // ISO dates the same way, and one with an hour that does not parse: with
    // --strict a bad file (tests/suite/import_traps.rs has the default).
    let iso = dir.path().join("iso.csv");
    std::fs::write(&iso, "when,n\n2026-11-24T09:00,1\n2026-11-24T25:00,1\n").expect("csv");
    let (ok, _, stderr) = import(
        &reg,
        &data,
        &[
            "--format",
            "csv",
            "--device",
            "class-count",
            "--time-column",
            "when",
            "--count",
            "n",
            "--strict",
            iso.to_str().expect("path"),
        ],
    );
    assert!(!ok);
    let line = stderr.trim();
    assert_eq!(line.lines().count(), 1, "{stderr}");
    assert!(
        line.contains("iso.csv:3:") && line.contains("2026-11-24T25:00"),
        "{stderr}"
    );
    // Nothing of the bad file was written.
    assert!(
        !common::rows(&data, "raw_events").iter().any(|r| local_date(
            chrono_tz::Asia::Shanghai,
            r["event_time"].as_i64().expect("t")
        ) == NaiveDate::from_ymd_opt(
            2026, 11, 24
        )
        .expect("date"))
    );
    std::fs::write(&iso, "when,n\n2026-11-24T09:00,1\n2026-11-24T09:30,0\n").expect("csv");
    import_ok(
        &reg,
        &data,
        &[
            "--format",
            "csv",
            "--device",
            "class-count",
            "--time-column",
            "when",
            "--count",
            "n",
            iso.to_str().expect("path"),
        ],
    );
    assert_eq!(room_day(&data, "class").len(), 2, "both files' days");
}

#[test]
fn milesight_vs13x_lines_through_the_vendor_codec() {
    let (dir, reg, data) = csv_setup();
    let file = dir.path().join("vs133.jsonl");
    let lines = [
        r#"{"line_trigger_data":[{"line_uuid":"a","total":{"in":2,"out":0}},{"line_uuid":"b","total":{"in":1,"out":0}}],"time":"2026-11-23T09:00:00+08:00"}"#,
        r#"{"line_trigger_data":[{"line_uuid":"a","total":{"in":0,"out":1}}],"time":"2026-11-23T09:05:00+08:00"}"#,
        r#"{"line_trigger_data":[{"line_uuid":"a","total":{"in":"x","out":1}}],"time":"2026-11-23T09:06:00+08:00"}"#,
        r#"not json"#,
        r#"{"line_trigger_data":[{"line_uuid":"a","total":{"in":4,"out":2}}],"time":"2026-11-23 09:10:00","timezone":"UTC+8:00"}"#,
    ];
    std::fs::write(&file, lines.join("\r\n")).expect("jsonl");
    let out = import_ok(
        &reg,
        &data,
        &[
            "--format",
            "milesight-vs13x",
            "--device",
            "class-vs133",
            "--max-rejected",
            "0.5",
            file.to_str().expect("path"),
        ],
    );
    assert!(out.contains("3 accepted, 2 rejected"), "{out}");
    assert!(out.contains("vs133.jsonl:4:"), "{out}");
    let raw = common::rows(&data, "raw_events");
    assert_eq!(raw.iter().map(|r| u64_of(r, "door_in")).sum::<u64>(), 7);
    let q = common::rows(&data, "quarantine");
    assert_eq!(q.len(), 2);
    assert!(
        q.iter()
            .any(|r| r["reason"] == "malformed_json" && r["payload"] == "6e6f74206a736f6e")
    );
}

#[test]
fn milesight_vs121_lines_as_counts() {
    let (dir, reg, data) = csv_setup();
    let file = dir.path().join("vs121.jsonl");
    let lines = [
        r#"{"event":"Region People Counting","time_info":{"timezone":"UTC+8:00","dst_status":false,"end_time":"2026/11/23 09:00:00"},"current_total":2}"#,
        r#"{"event":"Region People Counting","time_info":{"timezone":"UTC+8:00","dst_status":false,"end_time":"2026/11/23 09:05:00"},"current_total":6}"#,
        r#"{"event":"Line Crossing","current_total":1}"#,
    ];
    std::fs::write(&file, lines.join("\n")).expect("jsonl");
    let out = import_ok(
        &reg,
        &data,
        &[
            "--format",
            "milesight-vs121",
            "--site",
            "s1",
            "--room",
            "class",
            "--max-rejected",
            "0.5",
            file.to_str().expect("path"),
        ],
    );
    assert!(out.contains("2 accepted, 1 rejected"), "{out}");
    let raw = common::rows(&data, "raw_events");
    let counts: Vec<u64> = raw.iter().map(|r| u64_of(r, "count")).collect();
    assert_eq!(counts, [2, 6]);
    // 09:00 Shanghai is 01:00 UTC.
    assert_eq!(raw[0]["event_time"], 1_795_395_600_000_i64);
}

/// Every file of every table: (table/partition/name) -> rows, as JSON.
fn snapshot(data: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for table in std::fs::read_dir(data).expect("data").flatten() {
        if table.file_name() == "journal" {
            continue;
        }
        for f in common::table_files(data, &table.file_name().to_string_lossy()) {
            let key = f.strip_prefix(data).expect("inside").display().to_string();
            out.insert(key, std::fs::read(&f).expect("file"));
        }
    }
    out
}

#[test]
fn importing_the_same_file_twice_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let file = data_file("room_occupancy_estimation/Occupancy_Estimation.csv");
    let args = [
        "--format",
        "uci-room-estimation",
        "--site",
        "uci-room-estimation",
        "--room",
        "lab",
        file.to_str().expect("path"),
    ];
    import_ok(&datasets(), &data, &args);
    let calit2 = data_file("calit2/CalIt2.data");
    let calit2_args = [
        "--format",
        "calit2",
        "--device",
        "calit2-main-door",
        calit2.to_str().expect("path"),
    ];
    import_ok(&datasets(), &data, &calit2_args);
    let before = snapshot(&data);
    let count = |data: &Path| -> usize {
        analytics::TABLES
            .iter()
            .flat_map(|t| common::read_table(data, t))
            .map(|b| b.num_rows())
            .sum()
    };
    let rows_before = count(&data);
    import_ok(&datasets(), &data, &args);
    import_ok(&datasets(), &data, &calit2_args);
    let after = snapshot(&data);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "the same files"
    );
    assert!(before == after, "the same bytes");
    let rows_after = count(&data);
    assert_eq!(rows_before, rows_after);
    assert!(
        before.keys().any(|k| k.starts_with("room_day/"))
            && before.keys().any(|k| k.starts_with("raw_events/"))
    );
}

#[test]
fn refuses_a_data_directory_that_a_running_doorstep_holds() {
    refuses_while_held("journal");
}

#[test]
fn refuses_a_data_directory_that_a_process_of_a_cluster_holds() {
    refuses_while_held("journal-p1");
}

/// `doorstep import` fails, writing nothing, while the lock of `journal` (a
/// `doorstep run` alone, or process N of a cluster: `journal-pN`) is held.
fn refuses_while_held(journal: &str) {
    let (dir, reg, data) = csv_setup();
    std::fs::create_dir_all(data.join(journal)).expect("journal dir");
    let lock = std::fs::File::create(data.join(journal).join(".lock")).expect("lock file");
    lock.try_lock().expect("take the lock as doorstep run does");
    let file = dir.path().join("c.csv");
    std::fs::write(&file, "t,n\n2026-11-23 09:00,1\n").expect("csv");
    let (ok, _, stderr) = import(
        &reg,
        &data,
        &[
            "--format",
            "csv",
            "--device",
            "class-count",
            "--time-column",
            "t",
            "--count",
            "n",
            file.to_str().expect("path"),
        ],
    );
    assert!(!ok);
    assert!(stderr.contains("another doorstep is using"), "{stderr}");
    assert!(!data.join("raw_events").exists(), "nothing written");
}
