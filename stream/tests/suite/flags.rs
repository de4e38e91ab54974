//! Hand-worked flag scenarios over eight days, with the site day they feed.

use devices::{Category, DeviceIdx, FlagKind, Reading, Registry, RoomIdx, Value};
use std::path::Path;
use std::sync::Arc;
use stream::StreamConfig;

const REGISTRY: &str = r#"
[[site]]
id = "s1"
name = "测试社区"
[[site.room]]
id = "a-idle"
name = "书画室"
capacity = 20
area_m2 = 50
schedule = ["daily 09:00-11:00 culture"]
[[site.room]]
id = "b-crowded"
name = "健康小屋"
capacity = 10
area_m2 = 40
schedule = ["daily 09:00-11:00 health"]
[[site.room]]
id = "c-dead-sensor"
name = "健身房"
capacity = 15
area_m2 = 60
schedule = ["daily 09:00-11:00 fitness"]
[[site.room]]
id = "d-after-hours"
name = "儿童游戏区"
capacity = 12
area_m2 = 50
schedule = ["daily 09:00-11:00 children_play"]
[[site.device]]
id = "a"
room = "a-idle"
kind = "count"
interval_s = 900
[[site.device]]
id = "b"
room = "b-crowded"
kind = "count"
interval_s = 900
[[site.device]]
id = "c"
room = "c-dead-sensor"
kind = "count"
interval_s = 900
[[site.device]]
id = "d"
room = "d-after-hours"
kind = "count"
interval_s = 900
"#;

/// 2026-11-02 (Monday) 00:00 in Shanghai, Unix seconds.
const D1: i64 = 1_793_548_800;
const DAY: i64 = 86_400;

/// Every device reports every 15 minutes (valid for 900 s, so rooms are measured without gaps).
fn readings() -> Vec<Reading> {
    let mut out = Vec::new();
    let mut t = D1;
    while t <= D1 + 8 * DAY + 5 * 3600 {
        let day = (t - D1) / DAY;
        let hm = (t - D1) % DAY / 60;
        let open = (9 * 60..11 * 60).contains(&hm);
        // a: always empty.  b: 3 people whenever open, 12 from 09:00 to 09:30 on day 3 (11-04).
        // c: reports on day 1 only.  d: empty while open; 2 people 19:00-21:00 on day 2 (11-03).
        let b = match (open, day == 2 && hm < 9 * 60 + 30) {
            (true, true) => 12,
            (true, false) => 3,
            _ => 0,
        };
        let d = if day == 1 && (19 * 60..21 * 60).contains(&hm) {
            2
        } else {
            0
        };
        for (i, n) in [
            (0, Some(0)),
            (1, Some(b)),
            (2, (day == 0).then_some(0)),
            (3, Some(d)),
        ] {
            if let Some(n) = n {
                out.push(Reading {
                    device: DeviceIdx(i),
                    room: RoomIdx(i),
                    time_ms: t * 1000,
                    received_ms: t * 1000,
                    seq: None,
                    clock_skew: false,
                    value: Value::Count(n),
                });
            }
        }
        t += 900;
    }
    out
}

fn run() -> stream::Replayed {
    let reg = Arc::new(Registry::from_toml(REGISTRY, Path::new("t.toml")).expect("registry"));
    // Until 11-10 05:00: the days 11-02 .. 11-09 are released at 04:00 of the day after.
    stream::replay(
        reg,
        &StreamConfig::default(),
        readings(),
        500,
        D1 + 8 * DAY + 5 * 3600,
    )
    .expect("replay")
}

fn kinds(out: &stream::Replayed, room: u32, day: i64) -> Vec<FlagKind> {
    out.flags
        .iter()
        .filter(|f| f.room == RoomIdx(room) && f.day == D1 + day * DAY)
        .map(|f| f.kind)
        .collect()
}

#[test]
fn each_flag_with_its_numbers() {
    let out = run();
    let last = 7; // 11-09, the eighth day; the lookback holds all 8 days.

    // a: measured 7200 s of 7200 s open every day, never occupied: UNDERUSED from day 1
    // (utilization 0 < 0.25) and IDLE once 7 consecutive open days are empty (day 7, 11-08).
    assert_eq!(
        kinds(&out, 0, 5),
        [FlagKind::Underused],
        "6 empty days are not yet idle"
    );
    assert_eq!(kinds(&out, 0, 6), [FlagKind::Idle, FlagKind::Underused]);
    let idle = out
        .flags
        .iter()
        .find(|f| f.room == RoomIdx(0) && f.day == D1 + last * DAY && f.kind == FlagKind::Idle)
        .expect("idle");
    assert_eq!(
        (
            idle.idle_days,
            idle.lookback_days,
            idle.coverage,
            idle.time_utilization
        ),
        (Some(8), 8, Some(1.0), Some(0.0))
    );
    assert!(
        idle.reason_zh.contains("8个开放日无人使用"),
        "{}",
        idle.reason_zh
    );

    // b: occupied all 7200 s every day (utilization 1.0): not underused. On 11-04, 12 people
    // in a room for 10 from 09:00 to 09:30: 1800 s over capacity >= 900 -> OVERCROWDED from then on.
    assert_eq!(kinds(&out, 1, 1), []);
    assert_eq!(kinds(&out, 1, 2), [FlagKind::Overcrowded]);
    let crowded = out
        .flags
        .iter()
        .find(|f| f.room == RoomIdx(1) && f.day == D1 + last * DAY)
        .expect("crowded");
    assert_eq!(
        (crowded.worst_seconds, crowded.worst_day),
        (Some(1800), Some(D1 + 2 * DAY))
    );

    // c: data on day 1 only. Day 1: coverage 1, utilization 0 -> UNDERUSED. Later the coverage
    // over the lookback falls (day 2: 7200 / 14400 = 0.5) -> LOW_COVERAGE, and never IDLE.
    assert_eq!(kinds(&out, 2, 0), [FlagKind::Underused]);
    assert_eq!(kinds(&out, 2, 1), [FlagKind::LowCoverage]);
    assert_eq!(kinds(&out, 2, last), [FlagKind::LowCoverage]);
    let low = out
        .flags
        .iter()
        .find(|f| f.room == RoomIdx(2) && f.day == D1 + last * DAY)
        .expect("low");
    assert_eq!(low.coverage, Some(7200.0 / (8.0 * 7200.0)));

    // d: empty while open (so IDLE and UNDERUSED like a), but 2 people from 19:00 to 21:00 on
    // 11-03: 7200 s after hours >= 3600 -> AFTER_HOURS_USE.
    assert_eq!(
        kinds(&out, 3, last),
        [FlagKind::Idle, FlagKind::Underused, FlagKind::AfterHoursUse]
    );
    let after = out
        .flags
        .iter()
        .find(|f| {
            f.room == RoomIdx(3) && f.kind == FlagKind::AfterHoursUse && f.day == D1 + last * DAY
        })
        .expect("after hours");
    assert_eq!(
        (after.worst_seconds, after.worst_day),
        (Some(7200), Some(D1 + DAY))
    );
}

#[test]
fn site_day_sums_its_rooms() {
    let out = run();
    assert_eq!(out.site_days.len(), 8);
    let d = out.site_days.last().expect("day 8");
    assert_eq!(d.start, D1 + 7 * DAY);
    // Measured: a, b, d 7200 s each, c 0; occupied: b 7200 s.
    assert_eq!(
        (
            d.rooms,
            d.open_seconds,
            d.measured_seconds,
            d.occupied_seconds
        ),
        (4, 4 * 7200, 3 * 7200, 7200)
    );
    assert_eq!(d.time_utilization(), Some(1.0 / 3.0));
    assert_eq!(d.coverage(), Some(0.75));
    // Person-seconds: b 3 x 7200; capacity-seconds: 20x7200 + 10x7200 + 12x7200 (c measured 0).
    assert_eq!(
        d.capacity_utilization(),
        Some(3.0 * 7200.0 / (42.0 * 7200.0))
    );
    // Covered over the lookback: a, b, d; of those a and d are UNDERUSED/IDLE.
    assert_eq!(
        (
            d.rooms_covered,
            d.rooms_underused,
            d.share_rooms_underused()
        ),
        (3, 2, Some(2.0 / 3.0))
    );
    // Only health (b) reaches 10% utilization: 1 function, not the guideline's mix.
    assert_eq!(d.functions_in_use, [Category::Health]);
    assert!(!d.meets_function_mix());
    // Visits: b (a count room) goes 0 -> 3 at 09:00 each day (0 at 08:45): 3 increments.
    assert_eq!(d.visits, 3);
    assert_eq!(d.visits_per_100m2_day(), Some(3.0 / 2.0));
}

#[test]
fn device_health_feeds_the_reasons() {
    let out = run();
    let last = D1 + 7 * DAY;
    let day = |device: u32| {
        out.device_days
            .iter()
            .find(|d| d.device == DeviceIdx(device) && d.start == last)
            .cloned()
            .expect("device day")
    };
    // c has been silent since day 1: offline all 7200 s of opening time.
    let c = day(2);
    assert_eq!(
        (
            c.open_seconds,
            c.offline_seconds,
            c.reports,
            c.constant_count
        ),
        (7200, 7200, 0, None)
    );
    // Over the 8-day lookback c was offline 7 x 7200 of 8 x 7200 s: 87.5%, said in the reason.
    let low = out
        .flags
        .iter()
        .find(|f| f.room == RoomIdx(2) && f.day == last)
        .expect("low coverage");
    assert!(
        low.reason_en
            .ends_with("; devices: c offline 88% of opening time"),
        "{}",
        low.reason_en
    );
    assert!(
        low.reason_zh.ends_with("；设备：c开放时间内离线88%"),
        "{}",
        low.reason_zh
    );
    // a reported 0 all day (9 counts in opening time) while b's room changed (0 -> 3 at 09:00):
    // possibly stuck. b's count was 3 all through its opening time, but no other room changed.
    let a = day(0);
    assert_eq!(
        (a.offline_seconds, a.reports, a.constant_count, a.stuck),
        (0, 96, Some(0), true)
    );
    let b = day(1);
    assert_eq!((b.constant_count, b.stuck), (Some(3), false));
}

const DOOR_REGISTRY: &str = r#"
[[site]]
id = "s2"
name = "门禁社区"
[[site.room]]
id = "e-drift"
name = "阅览室"
capacity = 10
area_m2 = 40
schedule = ["daily 09:00-11:00 culture"]
[[site.room]]
id = "f-crowded"
name = "活动室"
capacity = 10
area_m2 = 40
schedule = ["daily 09:00-11:00 culture"]
[[site.device]]
id = "e"
room = "e-drift"
kind = "door"
[[site.device]]
id = "f"
room = "f-crowded"
kind = "door"
"#;

/// Door rooms: `e` lets 15 in at 09:00 and counts only 3 out at 10:59 every
/// day (12 never leave); `f` lets 12 in at 09:00 and all 12 out at 09:20.
fn door_readings() -> Vec<Reading> {
    let mut out = Vec::new();
    let mut t = D1;
    while t <= D1 + 8 * DAY + 5 * 3600 {
        let hm = (t - D1) % DAY / 60;
        let e = match hm {
            540 => (15, 0),
            659 => (0, 3),
            _ => (0, 0),
        };
        let f = match hm {
            540 => (12, 0),
            560 => (0, 12),
            _ => (0, 0),
        };
        for (i, (inn, o)) in [e, f].into_iter().enumerate() {
            out.push(Reading {
                device: DeviceIdx(i as u32),
                room: RoomIdx(i as u32),
                time_ms: t * 1000,
                received_ms: t * 1000,
                seq: None,
                clock_skew: false,
                value: Value::Door { inn, out: o },
            });
        }
        t += 60;
    }
    out
}

#[test]
fn door_drift_is_flagged_and_its_days_raise_no_overcrowding() {
    let reg = Arc::new(Registry::from_toml(DOOR_REGISTRY, Path::new("t.toml")).expect("registry"));
    let out = stream::replay(
        reg,
        &StreamConfig::default(),
        door_readings(),
        500,
        D1 + 8 * DAY + 5 * 3600,
    )
    .expect("replay");
    let last = D1 + 7 * DAY;
    let residuals: Vec<Option<u32>> = out
        .windows
        .iter()
        .filter(|w| w.kind == devices::WindowKind::Day && w.room == RoomIdx(0))
        .map(|w| w.door_residual)
        .collect();
    assert_eq!(residuals, vec![Some(12); 8]);
    // Two drifting days are not enough; the third raises the flag.
    assert!(!kinds(&out, 0, 1).contains(&FlagKind::DoorDrift));
    assert!(kinds(&out, 0, 2).contains(&FlagKind::DoorDrift));
    // Day 1 and 2 (no drift flag yet) still count their 2 h over capacity.
    assert!(kinds(&out, 0, 1).contains(&FlagKind::Overcrowded));
    assert!(!kinds(&out, 0, 7).contains(&FlagKind::Overcrowded));
    let drift = out
        .flags
        .iter()
        .find(|f| f.room == RoomIdx(0) && f.day == last && f.kind == FlagKind::DoorDrift)
        .expect("drift flag");
    assert!(
        drift.reason_en.contains("11-09 (12)"),
        "{}",
        drift.reason_en
    );
    assert!(
        drift.reason_zh.contains("11-09（12人）"),
        "{}",
        drift.reason_zh
    );
    // Thresholds from the config: a drift needs 9 days (the lookback holds 8).
    let mut config = StreamConfig::default();
    config.flags.door_drift_days = 9;
    let reg = Arc::new(Registry::from_toml(DOOR_REGISTRY, Path::new("t.toml")).expect("registry"));
    let strict = stream::replay(reg, &config, door_readings(), 500, D1 + 8 * DAY + 5 * 3600)
        .expect("replay");
    assert!(!kinds(&strict, 0, 7).contains(&FlagKind::DoorDrift));
    assert!(kinds(&strict, 0, 7).contains(&FlagKind::Overcrowded));
    // The balanced door room keeps its OVERCROWDED (20 minutes at 12 of 10) and drifts not
    // (used 20 of 120 minutes: underused too).
    assert_eq!(
        kinds(&out, 1, 7),
        [FlagKind::Underused, FlagKind::Overcrowded]
    );
}
