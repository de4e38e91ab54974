//! The stream stage end to end on a hand-worked scenario.

use devices::{Clock, DeviceIdx, Reading, Registry, RoomIdx, Value};
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::Duration;
use stream::{Output, Stream, StreamConfig};

const REGISTRY: &str = r#"
[[site]]
id = "s1"
name = "测试社区"
[[site.room]]
id = "hall"
name = "活动室"
capacity = 10
area_m2 = 60
schedule = ["mon-fri 09:00-11:00 elderly_care"]
[[site.device]]
id = "c1"
room = "hall"
kind = "count"
"#;

/// 2026-11-23 (a Monday) 09:00 in Shanghai, Unix seconds.
const NINE: i64 = 1_795_396_500 - 15 * 60;

fn count(min: i64, n: u32) -> Reading {
    Reading {
        device: DeviceIdx(0),
        room: RoomIdx(0),
        time_ms: (NINE + min * 60) * 1000,
        received_ms: 0,
        seq: None,
        clock_skew: false,
        value: Value::Count(n),
    }
}

fn run(workers: usize, batch: Vec<Reading>) -> Vec<devices::RoomWindow> {
    let reg = Arc::new(Registry::from_toml(REGISTRY, Path::new("t.toml")).expect("registry"));
    let (tx, rx) = mpsc::sync_channel(1024);
    let config = StreamConfig {
        workers,
        idle_after_s: 0,
        ..StreamConfig::default()
    };
    // The clock stands at 12:00, so the windows up to 11:58 close once the batch is in.
    let clock = Clock::simulated((NINE + 3 * 3600) * 1000, 1.0);
    let stream = Stream::start(reg, clock, &config, tx).expect("start");
    stream.send(batch).expect("send");
    let mut rows = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while rows.len() < 2 && std::time::Instant::now() < deadline {
        if let Ok(Output::Window(w)) = rx.recv_timeout(Duration::from_millis(100)) {
            rows.push(w);
        }
    }
    stream.shutdown().expect("shutdown");
    rows.sort_by_key(|r| r.start);
    rows
}

#[test]
fn count_room_hour_worked_by_hand() {
    let batch = vec![
        count(0, 0),
        count(2, 2),
        count(4, 2),
        count(6, 0),
        // quiet from 09:06: the report is stale (3 x 60 s) from 09:09 to 09:20
        count(20, 1),
        count(22, 0),
        // stale again from 09:25
    ];
    let rows = run(1, batch.clone());
    assert_eq!(rows.len(), 2, "{rows:?}");
    let h = &rows[0];
    assert_eq!((h.start, h.end), (NINE, NINE + 3600));
    assert_eq!(h.open_seconds, 3600);
    assert_eq!(h.measured_seconds, 540 + 300);
    assert_eq!(h.occupied_seconds, 240 + 120);
    assert_eq!(h.person_seconds, 2 * 240 + 120);
    assert_eq!(h.peak_occupancy, Some(2));
    // Increments (METRICS.md v2): 0 -> 2 at 09:02 counts 2; unknown -> 1 at 09:20 adds nothing.
    assert_eq!(h.visits_method, devices::VisitsMethod::Increments);
    assert_eq!(h.visits, 2);
    assert_eq!(h.longest_idle_seconds, 180);
    assert_eq!(h.time_utilization(), Some(360.0 / 840.0));
    assert_eq!(h.coverage(), Some(840.0 / 3600.0));
    let next = &rows[1];
    assert_eq!(
        (next.open_seconds, next.measured_seconds, next.coverage()),
        (3600, 0, Some(0.0))
    );
    assert_eq!(next.peak_occupancy, None);

    // Same rows with two workers and with the readings in another order.
    let mut shuffled = batch;
    shuffled.reverse();
    assert_eq!(run(2, shuffled), rows);
}

#[test]
fn replay_gives_the_same_rows_as_the_live_driver() {
    let reg = Arc::new(Registry::from_toml(REGISTRY, Path::new("t.toml")).expect("registry"));
    let batch = vec![
        count(0, 0),
        count(2, 2),
        count(4, 2),
        count(6, 0),
        count(20, 1),
        count(22, 0),
    ];
    let live = run(1, batch.clone());
    for workers in [1, 2, 4] {
        let config = StreamConfig {
            workers,
            ..StreamConfig::default()
        };
        // The driver closed the windows up to 11:58 (clock 12:00 minus 120 s lateness).
        let replayed = stream::replay(
            Arc::clone(&reg),
            &config,
            batch.clone(),
            2,
            NINE + 3 * 3600 - 120,
        )
        .expect("replay");
        assert_eq!(replayed.windows, live, "{workers} workers");
        assert!(replayed.late.is_empty());
    }
}

#[test]
fn live_idle_streak_and_over_capacity_alert() {
    let reg = Arc::new(Registry::from_toml(REGISTRY, Path::new("t.toml")).expect("registry"));
    // Capacity 10: empty from 09:00, 2 people at 09:02, empty again at 09:06,
    // 12 at 09:10 and 13 at 09:12 (over capacity since 09:10), 4 at 09:14.
    let batch = vec![
        count(0, 0),
        count(1, 0),
        count(2, 2),
        count(6, 0),
        count(10, 12),
        count(12, 13),
        count(14, 4),
    ];
    let out = stream::replay(reg, &StreamConfig::default(), batch, 1, NINE + 3600).expect("replay");
    let at = |min: i64| (NINE + min * 60) * 1000;
    let seen: Vec<_> = out
        .live
        .iter()
        .map(|l| (l.occupancy, l.idle_since_ms, l.over_capacity_since_ms))
        .collect();
    assert_eq!(
        seen,
        [
            (Some(0), Some(at(0)), None),
            (Some(0), Some(at(0)), None),
            (Some(2), None, None),
            (Some(0), Some(at(6)), None),
            (Some(12), None, Some(at(10))),
            (Some(13), None, Some(at(10))),
            (Some(4), None, None),
        ]
    );
}
