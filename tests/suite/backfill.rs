//! Backfill from the first second (METRICS.md v2, "Late data and backfill"):
//! two days of readings from four days ago, reaching a `doorstep run` that has
//! sat idle until its watermark follows the clock, give the tables of a run
//! that had them on time; and a device whose clock runs four minutes ahead
//! sends hardly anything through the correction path.

use crate::common::mqtt::{Device, publish_packet};
use crate::common::run::*;
use crate::common::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

const DEVICES: usize = 21;
const MINUTES: i64 = 2 * 24 * 60;

/// Two days of readings of every device, one a minute, from `from_ms`, in the
/// order a gateway would forward them; device `ahead` stamps its 4 minutes ahead.
fn backlog(from_ms: i64, ahead: Option<usize>) -> Vec<u8> {
    let mut out = Vec::new();
    for minute in 0..MINUTES {
        for d in 0..DEVICES {
            let shift = if ahead == Some(d) { 240_000 } else { 0 };
            let ts = from_ms + minute * 60_000 + d as i64 * 1_000 + shift;
            let count = (minute / 7 + d as i64) % 6;
            let payload = format!(r#"{{"type":"count","ts":{ts},"seq":{minute},"count":{count}}}"#);
            out.extend(publish_packet(
                &format!("doorstep/v1/fd/d{d:02}"),
                payload.as_bytes(),
                0,
                0,
            ));
        }
    }
    out
}

/// Sends the backlog through one connection and waits until every message is taken in.
fn send(run: &Run, bytes: &[u8]) {
    let mut gateway = Device::connect(run.mqtt, "gateway", None).expect("connect");
    gateway.stream.write_all(bytes).expect("send");
    let total = (MINUTES as usize * DEVICES) as f64;
    wait_for(Duration::from_secs(120), "every reading accepted", || {
        (run.metric("doorstep_ingest_accepted_total", "") >= total).then_some(())
    });
}

/// `room_hour` and `room_day` rows at their highest revision, without it, by key.
fn tables(run: &Run) -> BTreeMap<String, serde_json::Map<String, serde_json::Value>> {
    let data = run.dir.path().join("data");
    let mut out: BTreeMap<String, serde_json::Map<String, serde_json::Value>> = BTreeMap::new();
    for table in ["room_hour", "room_day"] {
        for r in rows(&data, table) {
            let start = if table == "room_hour" {
                "hour_start"
            } else {
                "day_start"
            };
            let key = format!("{table}/{}/{}", r["room_id"], r[start]);
            let newer = out
                .get(&key)
                .is_none_or(|o| o["revision"].as_u64() < r["revision"].as_u64());
            if newer {
                out.insert(key, r);
            }
        }
    }
    for r in out.values_mut() {
        r.remove("revision");
    }
    out
}

/// A timestamp cell in Unix seconds (stored in seconds or milliseconds).
fn secs(v: &serde_json::Value) -> Option<i64> {
    let v = v.as_i64()?;
    Some(if v > 100_000_000_000 { v / 1000 } else { v })
}

/// Hour rows of the backlog's span (but its last hour) in which someone was
/// counted (the rooms have no opening hours: all of it is after hours).
fn covered_hours(run: &Run, from_ms: i64) -> usize {
    let (from, to) = (from_ms / 1000, from_ms / 1000 + (MINUTES - 60) * 60);
    tables(run)
        .iter()
        .filter(|(k, r)| {
            k.starts_with("room_hour/")
                && secs(&r["hour_start"]).is_some_and(|t| t >= from && t < to)
                && r["after_hours_occupied_seconds"]
                    .as_i64()
                    .is_some_and(|s| s > 0)
        })
        .count()
}

#[test]
fn a_backlog_after_a_quiet_start_counts_as_if_on_time() {
    // Four days ago, on a whole hour: the last reading of the backlog is then
    // near the end of its last hour, and the watermark (the allowed lateness
    // behind it) closes every hour before. On a whole minute a few minutes past
    // an hour, the last hour counted below would wait for a watermark that
    // never comes (this test failed at 18:02).
    let from_ms = (now_ms() - 4 * 86_400_000) / 3_600_000 * 3_600_000;
    let bytes = backlog(from_ms, None);
    let config = "[stream]\ncorrection_days = 7\n";

    // The run that had the readings on time: they arrive right at start, before
    // the watermark follows the clock.
    let on_time = Run::with(DEVICES, None, &format!("{config}idle_after_s = 3600\n"));
    on_time.ready();
    send(&on_time, &bytes);
    let hours = (MINUTES as usize / 60 - 1) * DEVICES;
    wait_for(Duration::from_secs(60), "the on-time hours written", || {
        (covered_hours(&on_time, from_ms) >= hours).then_some(())
    });
    assert_eq!(on_time.metric("doorstep_stream_late_total", ""), 0.0);
    let want = tables(&on_time);
    drop(on_time);

    // The run that sits idle until its watermark follows the clock (its rooms
    // start at the clock, the whole backlog behind them), then gets the same
    // readings.
    let quiet = Run::with(DEVICES, None, config);
    quiet.ready();
    let backlog_end_s = (from_ms + MINUTES * 60_000) / 1000;
    wait_for(
        Duration::from_secs(90),
        "the watermark to follow the clock past the backlog",
        || {
            (quiet.metric("doorstep_stream_watermark_seconds", "") > backlog_end_s as f64)
                .then_some(())
        },
    );
    send(&quiet, &bytes);
    wait_for(
        Duration::from_secs(90),
        "the backlog's hours written",
        || (covered_hours(&quiet, from_ms) >= hours).then_some(()),
    );
    let got = tables(&quiet);
    let mut compared = 0;
    for (key, row) in &want {
        let Some(other) = got.get(key) else {
            panic!("{key}: no row after the quiet start");
        };
        assert_eq!(other, row, "{key}");
        compared += 1;
    }
    assert!(compared >= hours, "{compared} rows compared");
}

#[test]
fn a_device_ahead_of_the_others_sends_hardly_anything_to_correction() {
    let from_ms = (now_ms() - 3 * 86_400_000) / 60_000 * 60_000;
    let run = Run::with(
        DEVICES,
        None,
        "[stream]\ncorrection_days = 7\nidle_after_s = 3600\n",
    );
    run.ready();
    send(&run, &backlog(from_ms, Some(0)));
    let total = (MINUTES as usize * DEVICES) as f64;
    let late = run.metric("doorstep_stream_late_total", "");
    assert!(late / total < 0.05, "{late} of {total} readings corrected");
}
