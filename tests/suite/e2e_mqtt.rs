//! End to end: the `doorstep` binary, a real MQTT client (`mosquitto_pub`) over
//! loopback, exact `room_hour` rows in Parquet and live values from the API.
//!
//! The scenario runs once against the embedded broker and once against an
//! external Mosquitto. Every expected number is worked out in the comments.

use crate::common::*;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const REGISTRY: &str = r#"
[[site]]
id = "e2e"
name = "测试社区服务中心"
city = "上海市"
district = "徐汇区"

[[site.room]]
id = "reading"
name = "阅览室"
capacity = 10
area_m2 = 60
schedule = ["daily 09:00-11:00 culture"]

[[site.room]]
id = "clinic"
name = "健康小屋"
capacity = 8
area_m2 = 30
schedule = ["daily 09:00-11:00 health"]

[[site.room]]
id = "canteen"
name = "长者食堂"
capacity = 20
area_m2 = 135
schedule = ["daily 09:00-11:00 meal_aid"]

[[site.device]]
id = "c1"
room = "reading"
kind = "count"

[[site.device]]
id = "p1"
room = "clinic"
kind = "presence"

[[site.device]]
id = "d1"
room = "canteen"
kind = "door"

[[site.device]]
id = "d2"
room = "canteen"
kind = "door"
"#;

/// (local time on 2026-11-23, device, payload without ts), in time order.
/// All devices report every 60 s, so a report is valid for 180 s.
const SCRIPT: &[(&str, &str, &str)] = &[
    ("09:00:00", "c1", r#""type":"count","count":0"#),
    ("09:00:00", "p1", r#""type":"presence","present":false"#),
    ("09:00:00", "d1", r#""type":"door","in":0,"out":0"#),
    (
        "09:00:00",
        "d2",
        r#""type":"door_total","in_total":1000,"out_total":990"#,
    ),
    ("09:02:00", "c1", r#""type":"count","count":0"#),
    ("09:02:00", "p1", r#""type":"presence","present":false"#),
    ("09:02:00", "d1", r#""type":"door","in":3,"out":0"#),
    (
        "09:02:00",
        "d2",
        r#""type":"door_total","in_total":1002,"out_total":990"#,
    ),
    ("09:04:00", "c1", r#""type":"count","count":0"#),
    ("09:04:00", "p1", r#""type":"presence","present":true"#),
    ("09:04:00", "d1", r#""type":"door","in":0,"out":1"#),
    (
        "09:04:00",
        "d2",
        r#""type":"door_total","in_total":1002,"out_total":993"#,
    ),
    ("09:06:00", "c1", r#""type":"count","count":0"#),
    ("09:06:00", "p1", r#""type":"presence","present":true"#),
    ("09:06:00", "d1", r#""type":"door","in":0,"out":2"#),
    // d2 restarted: its counters began again from zero.
    (
        "09:06:00",
        "d2",
        r#""type":"door_total","in_total":5,"out_total":0"#,
    ),
    ("09:08:00", "c1", r#""type":"count","count":0"#),
    ("09:08:00", "p1", r#""type":"presence","present":false"#),
    ("09:08:00", "d1", r#""type":"door","in":0,"out":5"#),
    (
        "09:08:00",
        "d2",
        r#""type":"status","battery_pct":80,"interval_s":60"#,
    ),
    ("09:10:00", "c1", r#""type":"count","count":3"#),
    ("09:10:00", "p1", r#""type":"presence","present":false"#),
    ("09:10:00", "d1", r#""type":"door","in":0,"out":0"#),
    ("09:12:00", "c1", r#""type":"count","count":3"#),
    ("09:12:00", "p1", r#""type":"presence","present":true"#),
    ("09:12:00", "d1", r#""type":"door","in":0,"out":0"#),
    ("09:14:00", "c1", r#""type":"count","count":5"#),
    ("09:16:00", "c1", r#""type":"count","count":0"#),
    // A quiet period: c1 says nothing from 09:16 to 09:40.
    ("09:20:00", "d1", r#""type":"door","in":1,"out":0"#),
    (
        "09:20:00",
        "d2",
        r#""type":"door_total","in_total":10,"out_total":5"#,
    ),
    ("09:22:00", "d1", r#""type":"door","in":0,"out":1"#),
    (
        "09:22:00",
        "d2",
        r#""type":"door_total","in_total":10,"out_total":5"#,
    ),
    ("09:40:00", "c1", r#""type":"count","count":2"#),
    ("09:42:00", "c1", r#""type":"count","count":0"#),
    ("09:44:00", "c1", r#""type":"count","count":1"#),
    ("09:46:00", "c1", r#""type":"count","count":1"#),
    ("10:30:00", "c1", r#""type":"count","count":12"#),
    ("10:32:00", "c1", r#""type":"count","count":0"#),
    ("10:58:00", "p1", r#""type":"presence","present":true"#),
    ("11:00:00", "p1", r#""type":"presence","present":true"#),
];

/// Unix seconds of 2026-11-23 09:00 in Shanghai.
const NINE: i64 = 1_795_395_600;

fn expected() -> Vec<(&'static str, i64, Value)> {
    vec![
        // reading room (count device), 09:00-10:00, open all hour (3600 s):
        //   [09:00,09:10) n=0 600 s | [09:10,09:14) n=3 240 s | [09:14,09:16) n=5 120 s
        //   [09:16,09:19) n=0 180 s, then stale (last report 09:16 + 180 s) until 09:40
        //   [09:40,09:42) n=2 120 s | [09:42,09:44) n=0 120 s | [09:44,09:49) n=1 300 s, stale after.
        // measured 600+240+120+180+120+120+300 = 1680; occupied 240+120+120+300 = 780;
        // person-seconds 3*240+5*120+2*120+1*300 = 1860; visits are the rises of the count
        // (METRICS.md v2 increments): 0->3 at 09:10, 3->5 at 09:14 and 0->1 at 09:44
        // (unknown->2 at 09:40 adds nothing) = 6; longest idle 600.
        (
            "reading",
            NINE,
            json!({
                "open_seconds": 3600, "measured_seconds": 1680, "coverage": 1680.0 / 3600.0,
                "occupied_seconds": 780, "time_utilization": 780.0 / 1680.0,
                "mean_occupancy": 1860.0 / 1680.0, "capacity_utilization": 1860.0 / 1680.0 / 10.0,
                "peak_occupancy": 5, "visits": 6, "visits_method": "increments",
                "mean_dwell_seconds": 1860.0 / 6.0,
                "longest_idle_seconds": 600, "over_capacity_seconds": 0,
                "after_hours_occupied_seconds": 0, "person_seconds": 1860, "local_hour": 9,
            }),
        ),
        // 10:00-11:00: [10:30,10:32) n=12 (over capacity 10) | [10:32,10:35) n=0, else unknown.
        (
            "reading",
            NINE + 3600,
            json!({
                "open_seconds": 3600, "measured_seconds": 300, "coverage": 300.0 / 3600.0,
                "occupied_seconds": 120, "time_utilization": 120.0 / 300.0,
                "mean_occupancy": 1440.0 / 300.0, "peak_occupancy": 12, "visits": 0,
                "longest_idle_seconds": 180, "over_capacity_seconds": 120, "person_seconds": 1440,
            }),
        ),
        // 11:00-12:00: closed (O = 0): coverage and ratios are null.
        (
            "reading",
            NINE + 7200,
            json!({
                "open_seconds": 0, "measured_seconds": 0, "coverage": null,
                "time_utilization": null, "mean_occupancy": null, "peak_occupancy": null, "visits": 0,
            }),
        ),
        // clinic (presence only), 09:00-10:00:
        //   [09:00,09:04) 0 240 s | [09:04,09:08) 1 240 s | [09:08,09:12) 0 240 s
        //   [09:12,09:15) 1 180 s, then stale.  measured 900, occupied 420, visits 0->1 twice,
        //   longest idle 240; capacity metrics null for presence-only rooms.
        (
            "clinic",
            NINE,
            json!({
                "open_seconds": 3600, "measured_seconds": 900, "occupied_seconds": 420,
                "time_utilization": 420.0 / 900.0, "mean_occupancy": 420.0 / 900.0,
                "capacity_utilization": null, "peak_utilization": null, "over_capacity_seconds": null,
                "peak_occupancy": 1, "visits": 2, "visits_method": "transitions",
                "longest_idle_seconds": 240,
            }),
        ),
        // 10:00-11:00: [10:58,11:00) present, 120 s.
        (
            "clinic",
            NINE + 3600,
            json!({
                "measured_seconds": 120, "occupied_seconds": 120, "time_utilization": 1.0, "visits": 0,
            }),
        ),
        // 11:00-12:00: closed, but present [11:00,11:03): 180 s after hours.
        (
            "clinic",
            NINE + 7200,
            json!({
                "open_seconds": 0, "measured_seconds": 0, "after_hours_occupied_seconds": 180,
            }),
        ),
        // canteen (two door devices; d2 sends cumulative totals), 09:00-10:00:
        //   09:00 n=0 (d2 1000/990 is its baseline) | 09:02 d1 +3, d2 +2 -> 5 | 09:04 d1 -1, d2 -3 -> 1
        //   09:06 d1 -2 -> max(0,-1) = 0, d2 restart 5/0 -> +5 -> 5 | 09:08 d1 -5 -> 0
        //   d2 last heard 09:08 (status), so n is unknown from 09:11 | 09:20 d1 +1, d2 +5 -5 -> 1
        //   09:22 d1 -1 -> 0 | both silent from 09:22: unknown from 09:25.
        // measured 120*4 + 180 + 120 + 180 = 960; occupied 480; person 5*120+1*120+5*120+1*120 = 1440;
        // visits = door ins: d1 3+1, d2 2+5+5 = 16; longest idle 180; mean dwell 1440/16 = 90 s.
        (
            "canteen",
            NINE,
            json!({
                "open_seconds": 3600, "measured_seconds": 960, "occupied_seconds": 480,
                "person_seconds": 1440, "peak_occupancy": 5, "visits": 16, "visits_method": "door",
                "mean_dwell_seconds": 90.0, "longest_idle_seconds": 180, "over_capacity_seconds": 0,
                "time_utilization": 0.5, "mean_occupancy": 1.5, "capacity_utilization": 1.5 / 20.0,
            }),
        ),
        (
            "canteen",
            NINE + 3600,
            json!({
                "open_seconds": 3600, "measured_seconds": 0, "coverage": 0.0, "visits": 0,
                "time_utilization": null, "mean_dwell_seconds": null,
            }),
        ),
    ]
}

fn write_config(dir: &Path, mqtt: &str, web: SocketAddr) -> std::path::PathBuf {
    std::fs::write(dir.join("registry.toml"), REGISTRY).expect("registry");
    let config = dir.join("doorstep.toml");
    std::fs::write(
        &config,
        format!(
            r#"registry = "registry.toml"
data_dir = "data"
[mqtt]
{mqtt}
client_id = "doorstep-e2e"
[web]
listen = "{web}"
[stream]
allowed_lateness_s = 120
idle_after_s = 5
[store]
flush_s = 1
[clock]
start = "2026-11-23T12:30:00+08:00"
"#
        ),
    )
    .expect("config");
    config
}

fn scenario(external: Option<&Mosquitto>) {
    require("mosquitto_pub");
    let dir = tempfile::tempdir().expect("tempdir");
    let web: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let (mqtt, port) = match external {
        Some(m) => (format!("broker = \"mqtt://127.0.0.1:{}\"", m.port), m.port),
        None => {
            let p = free_port();
            (
                format!("broker = \"embedded\"\nlisten = \"127.0.0.1:{p}\""),
                p,
            )
        }
    };
    let config = write_config(dir.path(), &mqtt, web);
    let doorstep = Proc::spawn(
        "doorstep",
        Command::new(env!("CARGO_BIN_EXE_doorstep"))
            .args(["run", "--config"])
            .arg(&config),
    );
    wait_for(Duration::from_secs(30), "doorstep's web server", || {
        http_get(web, "/healthz").filter(|(s, _)| *s == 200)
    });

    for (time, device, body) in SCRIPT {
        let payload = format!(r#"{{"ts":"2026-11-23T{time}+08:00",{body}}}"#);
        mosquitto_pub(port, &format!("doorstep/v1/e2e/{device}"), &payload);
    }

    // Live values come at once, in arrival order; the clock stands at 12:30, so all are stale.
    let live = wait_for(Duration::from_secs(20), "live values", || {
        let (_, body) = http_get(web, "/api/live")?;
        let v: Value = serde_json::from_str(&body).ok()?;
        let rooms = v["sites"][0]["rooms"].as_array()?.clone();
        (rooms.iter().all(|r| !r["last_occupancy"].is_null())
            && rooms[0]["last_occupancy"] == json!(0))
        .then_some(rooms)
    });
    let by_id = |id: &str| {
        live.iter()
            .find(|r| r["id"] == id)
            .cloned()
            .expect("room in API")
    };
    assert_eq!(by_id("reading")["name"], "阅览室");
    assert_eq!(
        by_id("reading")["last_occupancy"],
        0,
        "last count 0 at 10:32"
    );
    assert_eq!(by_id("clinic")["last_occupancy"], 1, "present at 11:00");
    assert_eq!(
        by_id("canteen")["last_occupancy"],
        0,
        "1 in, 1 out by 09:22"
    );
    for r in &live {
        assert_eq!(r["stale"], true, "{r}");
        assert_eq!(
            r["occupancy"],
            Value::Null,
            "stale rooms show no current value: {r}"
        );
    }

    // Once devices are quiet for 5 s the watermark follows the clock (12:28), closing 09-12.
    let data = dir.path().join("data");
    let rows = wait_for(
        Duration::from_secs(60),
        "room_hour rows for 09:00-12:00",
        || {
            let rows = rows(&data, "room_hour");
            (rows.len() >= 9).then_some(rows)
        },
    );
    let (status, _out, err) = doorstep.terminate();
    assert!(status.success(), "doorstep exited with {status}: {err}");
    assert!(!err.contains("panicked"), "{err}");

    assert_eq!(rows.len(), 9, "3 rooms x 3 closed hours: {rows:#?}");
    for (room, start, want) in expected() {
        let row = rows
            .iter()
            .find(|r| r["room_id"] == room && r["hour_start"] == json!(start * 1000))
            .unwrap_or_else(|| panic!("no room_hour row for {room} at {start}"));
        assert_eq!(row["site_id"], "e2e");
        assert_eq!(row["metrics_version"], 2);
        for (column, value) in want.as_object().expect("object") {
            assert_eq!(&row[column], value, "{room} {start} {column}");
        }
    }

    // raw_events holds every message once.
    let raw = rows_of_raw(&data);
    assert_eq!(raw, SCRIPT.len());
}

fn rows_of_raw(data: &Path) -> usize {
    read_table(data, "raw_events")
        .iter()
        .map(|b| b.num_rows())
        .sum()
}

#[test]
fn scripted_messages_through_the_embedded_broker() {
    scenario(None);
}

#[test]
fn scripted_messages_through_mosquitto() {
    let m = Mosquitto::start();
    scenario(Some(&m));
}
