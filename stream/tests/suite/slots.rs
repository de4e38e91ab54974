//! Idle slots (错时 candidates) of a time-shared room, worked by hand.

use devices::{DeviceIdx, Reading, Registry, RoomIdx, Value};
use std::path::Path;
use std::sync::Arc;
use stream::StreamConfig;

const REGISTRY: &str = r#"
[[site]]
id = "s1"
name = "测试社区"
[[site.room]]
id = "shared"
name = "儿童活动大厅"
capacity = 30
area_m2 = 120
schedule = ["daily 08:00-12:00 infant_care", "daily 14:00-18:00 elderly_care"]
[[site.device]]
id = "c"
room = "shared"
kind = "count"
interval_s = 300
"#;

/// 2026-11-02 (Monday) 00:00 in Shanghai, Unix seconds.
const D1: i64 = 1_793_548_800;
const DAY: i64 = 86_400;

/// Reports every 5 minutes for 14 days (and into the 15th morning):
/// mornings 08-12: 4 people every day; weekday afternoons: 3 people 14-16, then empty;
/// weekends: empty all afternoon; Wednesdays: 1 person from 17:00 to 17:05.
fn readings() -> Vec<Reading> {
    let mut out = Vec::new();
    let mut t = D1;
    while t <= D1 + 14 * DAY + 5 * 3600 {
        let day = (t - D1) / DAY;
        let weekday = day % 7; // 0 = Monday
        let min = (t - D1) % DAY / 60;
        let n = if (8 * 60..12 * 60).contains(&min) {
            4
        } else if weekday < 5 && (14 * 60..16 * 60).contains(&min) {
            3
        } else if weekday == 2 && min == 17 * 60 {
            1
        } else {
            0
        };
        out.push(Reading {
            device: DeviceIdx(0),
            room: RoomIdx(0),
            time_ms: t * 1000,
            received_ms: t * 1000,
            seq: None,
            clock_skew: false,
            value: Value::Count(n),
        });
        t += 300;
    }
    out
}

#[test]
fn idle_blocks_by_weekday() {
    let reg = Arc::new(Registry::from_toml(REGISTRY, Path::new("t.toml")).expect("registry"));
    let out = stream::replay(
        reg,
        &StreamConfig::default(),
        readings(),
        1000,
        D1 + 14 * DAY + 5 * 3600,
    )
    .expect("replay");
    let last = D1 + 13 * DAY; // Sunday 11-15, the 14th day: the lookback holds two of each weekday.
    let blocks: Vec<_> = out
        .idle_slots
        .iter()
        .filter(|s| s.day == last)
        .map(|s| {
            (
                s.weekday,
                s.start_hour,
                s.end_hour,
                s.open_seconds,
                s.measured_seconds,
                s.occupied_seconds,
            )
        })
        .collect();
    // Weekdays: 16:00-18:00 empty on both days of that weekday: 2 cells x 2 days x 3600 s.
    // Wednesday: the 17:00 cell has 2 x 300 s of 7200 s used (8% >= 5%), so 16:00 alone is
    // one hour, too short. Weekends: 14:00-18:00 empty, 4 cells x 2 days x 3600 s.
    // Mornings are used and 12:00-14:00 is closed: no cells there.
    assert_eq!(
        blocks,
        [
            (1, 16, 18, 14_400, 14_400, 0),
            (2, 16, 18, 14_400, 14_400, 0),
            (4, 16, 18, 14_400, 14_400, 0),
            (5, 16, 18, 14_400, 14_400, 0),
            (6, 14, 18, 28_800, 28_800, 0),
            (7, 14, 18, 28_800, 28_800, 0),
        ]
    );
    assert!(out.idle_slots.iter().all(|s| s.lookback_days <= 14));
    // On the first day only Monday has data: its afternoon block is there already.
    let first: Vec<_> = out
        .idle_slots
        .iter()
        .filter(|s| s.day == D1)
        .map(|s| (s.weekday, s.start_hour, s.end_hour))
        .collect();
    assert_eq!(first, [(1, 16, 18)]);
}
