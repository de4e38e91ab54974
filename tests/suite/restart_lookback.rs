//! A restart keeps the flags' lookback: `doorstep run` starts on tables a
//! previous run left (eight days of a fleet up to the stop), replays only the last
//! three days of `raw_events`, takes the rest of the input over MQTT, and writes
//! the flags and idle slots of the day it closes exactly as a run that never
//! stopped (`stream/tests/suite/lookback.rs` tests the same in the stream alone).

use crate::common::fleet::*;
use crate::common::*;
use devices::sim::{Fleet, Publish};
use devices::{Limits, Reading, Registry, Validator, WindowKind};
use serde_json::{Map, Value};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 2026-11-23 (Monday) 06:00 in Shanghai, Unix ms.
const START_MS: i64 = 1_795_384_800_000;
const DAY_MS: i64 = 86_400_000;
/// Eight days of input, to 2026-12-01 06:00.
const END_MS: i64 = START_MS + 8 * DAY_MS;
/// The previous run stopped on 2026-11-30 at 10:00.
const STOP_MS: i64 = START_MS + 7 * DAY_MS + 4 * 3_600_000;

fn config() -> stream::StreamConfig {
    let mut c = stream::StreamConfig {
        idle_after_s: 86_400,
        ..stream::StreamConfig::default()
    };
    // A short lookback that the stored days fill, and thresholds that this busy
    // fleet meets: every room is flagged and has idle slots, with numbers over the
    // whole lookback.
    c.flags.lookback_days = 4;
    c.flags.idle_days = 2;
    c.flags.underused_below = 0.95;
    c.flags.idle_slot_below = 0.5;
    c
}

/// What the previous run left at the stop: `raw_events` before it, and every row
/// of what had closed by then.
fn previous_run(
    data: &Path,
    registry: &Arc<Registry>,
    readings: &[Reading],
    whole: &stream::Replayed,
) {
    let stop = STOP_MS / 1000;
    let store = analytics::Store::open(data, Arc::clone(registry)).expect("store");
    let before: Vec<Reading> = readings
        .iter()
        .filter(|r| r.time_ms < STOP_MS)
        .cloned()
        .collect();
    store.write_raw_events(&before).expect("raw_events");
    let windows: Vec<_> = whole
        .windows
        .iter()
        .filter(|w| w.end <= stop)
        .cloned()
        .collect();
    store.write_windows(&windows).expect("windows");
    let days: Vec<_> = whole
        .device_days
        .iter()
        .filter(|d| d.end <= stop)
        .cloned()
        .collect();
    store.write_device_days(&days).expect("device_day");
    let flags: Vec<_> = whole
        .flags
        .iter()
        .filter(|f| f.day + 86_400 <= stop)
        .cloned()
        .collect();
    store.write_flags(&flags).expect("flags");
    let slots: Vec<_> = whole
        .idle_slots
        .iter()
        .filter(|s| s.day + 86_400 <= stop)
        .cloned()
        .collect();
    store.write_idle_slots(&slots).expect("idle_slots");
    let sites: Vec<_> = whole
        .site_days
        .iter()
        .filter(|d| d.end <= stop)
        .cloned()
        .collect();
    store.write_site_days(&sites).expect("site_day");
}

/// Rows of `table` for the days in `days`, without `revision`, sorted.
fn rows_of_days(data: &Path, table: &str, days: &[Value]) -> Vec<Map<String, Value>> {
    let mut out: Vec<Map<String, Value>> = rows(data, table)
        .into_iter()
        .filter(|r| days.contains(&r["day"]))
        .map(|mut r| {
            r.remove("revision");
            r
        })
        .collect();
    out.sort_by_key(|r| serde_json::to_string(r).unwrap_or_default());
    out
}

#[test]
fn a_restart_flags_as_if_it_never_stopped() {
    require("mosquitto");
    // A fleet paced at 4,000 messages a second.
    let _turn = busy();
    let dir = Workdir(Some(tempfile::tempdir().expect("tempdir")));
    let text = registry_toml("r", "回看社区", 2, 60);
    std::fs::write(dir.path().join("registry.toml"), &text).expect("registry");
    let registry =
        Arc::new(Registry::from_toml(&text, Path::new("registry.toml")).expect("registry"));
    let messages: Vec<Publish> = Fleet::new(Arc::clone(&registry), 7, START_MS).step(END_MS);
    let validator = Validator::new(
        Arc::clone(&registry),
        Limits {
            max_age_ms: None,
            ..Limits::default()
        },
    );
    let readings: Vec<Reading> = messages
        .iter()
        .map(|p| {
            validator
                .check(&p.topic, &p.payload, p.time_ms)
                .expect("valid")
        })
        .collect();
    let whole = stream::replay(
        Arc::clone(&registry),
        &config(),
        readings.clone(),
        256,
        END_MS / 1000,
    )
    .expect("replay");
    let data = dir.path().join("data");
    previous_run(&data, &registry, &readings, &whole);

    // What the run after the stop writes for 2026-11-30, and what it has to equal.
    let reference = dir.path().join("reference");
    let store = analytics::Store::open(&reference, Arc::clone(&registry)).expect("store");
    let last_day = (STOP_MS - 10 * 3_600_000) / 1000;
    let flags: Vec<_> = whole
        .flags
        .iter()
        .filter(|f| f.day == last_day)
        .cloned()
        .collect();
    let slots: Vec<_> = whole
        .idle_slots
        .iter()
        .filter(|s| s.day == last_day)
        .cloned()
        .collect();
    assert!(
        flags.iter().any(|f| f.lookback_days == 4),
        "flags over a full lookback on the last day: {flags:?}"
    );
    assert!(!slots.is_empty(), "idle slots on the last day");
    store.write_flags(&flags).expect("flags");
    store.write_idle_slots(&slots).expect("idle_slots");
    let days: Vec<Value> = rows(&reference, "flags")
        .iter()
        .map(|r| r["day"].clone())
        .collect();

    // Every message waits at the broker while doorstep is behind: Mosquitto's
    // default queue of 1,000 per client drops the rest when the machine is busy.
    let broker = Mosquitto::start_with("max_queued_messages 0\n");
    let web = format!("127.0.0.1:{}", free_port());
    std::fs::write(
        dir.path().join("doorstep.toml"),
        format!(
            "registry = \"registry.toml\"\ndata_dir = \"data\"\n[mqtt]\n\
             broker = \"mqtt://127.0.0.1:{}\"\nclient_id = \"doorstep-lookback\"\n[web]\nlisten = \"{web}\"\n\
             [stream]\nidle_after_s = 86400\n[stream.flags]\nlookback_days = 4\nidle_days = 2\n\
             underused_below = 0.95\nidle_slot_below = 0.5\n\
             [store]\nflush_s = 1\n[clock]\nstart = \"2026-12-01T06:10:00+08:00\"\n",
            broker.port
        ),
    )
    .expect("config");
    let mut ours = Doorstep::start(dir.path(), 0);
    let web: std::net::SocketAddr = web.parse().expect("addr");
    wait_for(Duration::from_secs(60), "doorstep /healthz", || {
        http_get(web, "/healthz").filter(|(s, _)| *s == 200)
    });
    let after: Vec<Publish> = messages
        .into_iter()
        .filter(|p| p.time_ms >= STOP_MS)
        .collect();
    let progress = Arc::new(Progress::default());
    publish_all(broker.port, Arc::new(after), Arc::clone(&progress));

    // The last day's rows are written once its room_day rows are.
    let rooms = registry.rooms.len();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let closed = rows(&data, "room_day")
            .iter()
            .filter(|r| r["day_start"] == last_day * 1000)
            .count();
        if closed >= rooms {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{closed} of {rooms} rooms closed the last day"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(ours.0.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    let stopped = wait_for(Duration::from_secs(60), "doorstep to stop", || {
        ours.0.try_wait().expect("try_wait")
    });
    assert!(stopped.success(), "{stopped}");

    assert!(
        whole
            .windows
            .iter()
            .any(|w| w.kind == WindowKind::Day && w.start == last_day)
    );
    assert_eq!(
        rows_of_days(&data, "flags", &days),
        rows_of_days(&reference, "flags", &days)
    );
    assert_eq!(
        rows_of_days(&data, "idle_slots", &days),
        rows_of_days(&reference, "idle_slots", &days)
    );
}
