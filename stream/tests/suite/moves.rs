//! Registry versions in the stream: a device moved mid-day counts in each room
//! while bound to it; a new timetable holds from its time on.

use devices::timeline::merge;
use devices::{Reading, Registry, Value, WindowKind};
use std::path::Path;
use std::sync::Arc;
use stream::StreamConfig;

const V1: &str = r#"
[[site]]
id = "s1"
name = "测试社区"
[[site.room]]
id = "canteen"
name = "食堂"
capacity = 20
area_m2 = 80
schedule = ["daily 08:00-18:00 meal_aid"]
[[site.room]]
id = "reading"
name = "阅览室"
capacity = 20
area_m2 = 40
schedule = ["daily 08:00-18:00 culture"]
[[site.device]]
id = "c1"
room = "canteen"
kind = "count"
interval_s = 60
"#;

/// 2026-11-23 00:00 in Shanghai, Unix seconds.
const DAY: i64 = 1_795_363_200;

fn reg(text: &str) -> Registry {
    Registry::from_toml(text, Path::new("t.toml")).expect("registry")
}

/// Count 2 every minute from `from` to `to` (seconds), bound as the validator binds.
fn counts(reg: &Registry, from: i64, to: i64) -> Vec<Reading> {
    let c1 = reg.device_by_id("c1").expect("c1");
    (from..to)
        .step_by(60)
        .enumerate()
        .map(|(i, t)| Reading {
            device: c1,
            room: reg.room_at(c1, t * 1000).expect("bound"),
            time_ms: t * 1000,
            received_ms: t * 1000,
            seq: Some(i as u64),
            clock_skew: false,
            value: Value::Count(2),
        })
        .collect()
}

#[test]
fn a_device_moved_at_noon_counts_in_each_room_while_bound_to_it() {
    let moved = V1.replace("room = \"canteen\"\nkind", "room = \"reading\"\nkind");
    let all = Arc::new(merge(&reg(V1), &reg(&moved), (DAY + 12 * 3600) * 1000).expect("merge"));
    let readings = counts(&all, DAY + 9 * 3600, DAY + 15 * 3600);
    let out = stream::replay(
        Arc::clone(&all),
        &StreamConfig::default(),
        readings,
        2,
        DAY + 30 * 3600,
    )
    .expect("replay");
    let day = |room: &str| {
        let r = all.room_by_ids("s1", room).expect("room");
        out.windows
            .iter()
            .find(|w| w.kind == WindowKind::Day && w.room == r && w.start == DAY)
            .cloned()
            .expect("day row")
    };
    // 09:00-12:00 in the canteen: the 11:59 count would hold to 12:02, but c1 left at noon.
    assert_eq!(day("canteen").measured_seconds, 3 * 3600);
    assert_eq!(day("canteen").person_seconds, 2 * 3 * 3600);
    // 12:00 to the last count's end (14:59 + 180 s) in the reading room.
    assert_eq!(day("reading").measured_seconds, 3 * 3600 + 120);
    // One device row in each room, offline only while bound there.
    let rows: Vec<_> = out.device_days.iter().filter(|d| d.start == DAY).collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let offline = |room: &str| {
        let r = all.room_by_ids("s1", room).expect("room");
        rows.iter()
            .find(|d| d.room == r)
            .expect("row")
            .offline_seconds
    };
    // The room is followed from its first reading (09:00); it was measured until c1 left.
    assert_eq!(offline("canteen"), 0);
    assert_eq!(offline("reading"), 3 * 3600 - 120, "15:02-18:00");
    // The day before the move (no readings) has c1's row in the canteen only.
    let hours_in_reading_before_noon = out.windows.iter().filter(|w| {
        w.kind == WindowKind::Hour
            && w.room == all.room_by_ids("s1", "reading").expect("room")
            && w.start < DAY + 12 * 3600
            && w.measured_seconds > 0
    });
    assert_eq!(hours_in_reading_before_noon.count(), 0);
}

#[test]
fn a_new_timetable_holds_from_its_day_on() {
    let later = V1.replace("daily 08:00-18:00 meal_aid", "daily 08:00-10:00 meal_aid");
    let all = Arc::new(merge(&reg(V1), &reg(&later), (DAY + 86_400) * 1000).expect("merge"));
    let out = stream::replay(
        Arc::clone(&all),
        &StreamConfig::default(),
        counts(&all, DAY + 9 * 3600, DAY + 86_400 + 15 * 3600),
        3,
        DAY + 3 * 86_400,
    )
    .expect("replay");
    let canteen = all.room_by_ids("s1", "canteen").expect("canteen");
    let open: Vec<(i64, u32)> = out
        .windows
        .iter()
        .filter(|w| w.kind == WindowKind::Day && w.room == canteen)
        .map(|w| ((w.start - DAY) / 86_400, w.open_seconds))
        .collect();
    assert_eq!(open[..2], [(0, 10 * 3600), (1, 2 * 3600)]);
}

/// The windows a running stream emits, at their latest revision, by (room, kind, start).
type Rows = std::collections::BTreeMap<(u32, String, i64), devices::RoomWindow>;

fn collect(rx: &std::sync::mpsc::Receiver<stream::Output>, rows: &mut Rows) {
    while let Ok(o) = rx.recv_timeout(std::time::Duration::from_millis(50)) {
        if let stream::Output::Window(w) = o {
            let key = (w.room.0, format!("{:?}", w.kind), w.start);
            if rows.get(&key).is_none_or(|had| had.revision <= w.revision) {
                rows.insert(key, w);
            }
        }
    }
}

#[test]
fn a_registry_switched_in_place_counts_as_if_it_had_held_from_the_start() {
    // At noon c1 moves to a room added then, and the reading room's capacity changes.
    let later = V1
        .replace("room = \"canteen\"\nkind", "room = \"gym\"\nkind")
        .replace("capacity = 20\narea_m2 = 40", "capacity = 8\narea_m2 = 40")
        .replace(
            "[[site.device]]",
            "[[site.room]]\nid = \"gym\"\nname = \"健身房\"\ncapacity = 10\narea_m2 = 30\nschedule = [\"daily 08:00-18:00 fitness\"]\n[[site.device]]",
        );
    let v1 = Arc::new(reg(V1));
    let noon = DAY + 12 * 3600;
    let all = Arc::new(merge(&v1, &reg(&later), noon * 1000).expect("merge"));
    let before = counts(&all, DAY + 9 * 3600, noon);
    let after = counts(&all, noon, DAY + 15 * 3600);
    // The next morning: the watermark passes the day's end.
    let next = counts(&all, DAY + 31 * 3600, DAY + 31 * 3600 + 60);
    for workers in [1, 2] {
        let config = StreamConfig {
            workers,
            ..StreamConfig::default()
        };
        let current = devices::Current::new(Arc::clone(&v1));
        let (tx, rx) = std::sync::mpsc::sync_channel(100_000);
        let clock = devices::Clock::simulated(noon * 1000, 1.0);
        let running = stream::Stream::start(current.clone(), clock, &config, tx).expect("start");
        let switcher = running.switcher();
        running.send(before.clone()).expect("send");
        let mut rows = Rows::new();
        collect(&rx, &mut rows);
        current.set(Arc::clone(&all));
        let changed = devices::current::changed_rooms(&v1, &all);
        let took = switcher
            .switch(changed, Vec::new())
            .wait(std::time::Duration::from_secs(20))
            .expect("switch");
        assert!(took < std::time::Duration::from_secs(20));
        running.send(after.clone()).expect("send");
        running.send(next.clone()).expect("send");
        let gym = all.room_by_ids("s1", "gym").expect("gym");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !rows.contains_key(&(gym.0, "Day".into(), DAY))
            && std::time::Instant::now() < deadline
        {
            collect(&rx, &mut rows);
        }
        running.shutdown().expect("shutdown");
        collect(&rx, &mut rows);

        let all_readings: Vec<_> = before.iter().chain(&after).chain(&next).cloned().collect();
        let want = stream::replay(Arc::clone(&all), &config, all_readings, 2, DAY + 31 * 3600)
            .expect("replay");
        let mut compared = 0;
        for w in want
            .windows
            .iter()
            .filter(|w| w.start >= DAY && w.end <= DAY + 86_400)
        {
            let key = (w.room.0, format!("{:?}", w.kind), w.start);
            // The gym is followed from the switch on: its rows from noon are compared.
            if w.room == gym && (w.kind != WindowKind::Hour || w.start < noon) {
                continue;
            }
            let got = rows.get(&key).unwrap_or_else(|| panic!("no row {key:?}"));
            assert_eq!(got, w, "{workers} workers, {key:?}");
            compared += 1;
        }
        // Both old rooms' hours from 09:00 and day rows, the gym's hours from noon.
        assert!(compared >= 15 + 1 + 15 + 1 + 12, "{compared} rows compared");
        let gym_day = &rows[&(gym.0, "Day".into(), DAY)];
        assert_eq!(gym_day.measured_seconds, 3 * 3600 + 120, "12:00 to 15:02");
        let reading = all.room_by_ids("s1", "reading").expect("reading");
        let afternoon = &rows[&(reading.0, "Hour".into(), noon)];
        assert_eq!(afternoon.capacity, Some(8), "the new capacity from noon");
        let morning = &rows[&(reading.0, "Hour".into(), noon - 3600)];
        assert_eq!(morning.capacity, Some(20));
    }
}
