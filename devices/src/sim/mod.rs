//! A simulated fleet: every device of a registry, reporting on simulated people
//! in native v1 messages (DEVICES.md), for the demo, tests and benchmarks.
//!
//! Each room holds a simulated number of people. Arrivals are Poisson per
//! minute with a rate set by the service category open at that moment, the
//! local hour (meal aid peaks at lunch, infant care in the morning, elderly
//! activities in the afternoon, classes in the evening, ...), the weekday and
//! the room's `sim.popularity`; each visitor stays for a dwell time drawn for
//! the category and leaves by closing time, bar a few who linger. Nobody
//! arrives while a room is closed, so public holidays (through the room's
//! schedule and the official calendar) are empty days.
//!
//! Devices report every `interval_s`, also while their room is closed: `count`
//! devices the number of people, `presence` devices whether anyone is there,
//! `door` devices the crossings of their entrance (every second door device
//! sends cumulative `door_total` counters instead of `door` deltas). Every
//! device also sends a `status` heartbeat every 10 minutes. Measurements carry
//! `seq` from 1 without gaps; heartbeats carry none, as in DEVICES.md.
//!
//! ```
//! use devices::{Registry, sim::Fleet};
//! use std::{path::Path, sync::Arc};
//!
//! let registry = Registry::from_toml(r#"
//!     [[site]]
//!     id = "s1"
//!     name = "示例社区"
//!     [[site.room]]
//!     id = "canteen"
//!     name = "长者食堂"
//!     capacity = 40
//!     area_m2 = 135
//!     schedule = ["daily 10:30-13:00 meal_aid"]
//!     [[site.device]]
//!     id = "canteen-counter"
//!     room = "canteen"
//!     kind = "count"
//! "#, Path::new("example.toml")).unwrap();
//! // Monday 2026-11-23 12:00 in Shanghai.
//! let start_ms = 1_795_406_400_000;
//! let mut fleet = Fleet::new(Arc::new(registry), 42, start_ms);
//! let published = fleet.step(start_ms + 600_000);
//! assert!(published.iter().all(|p| p.topic == "doorstep/v1/s1/canteen-counter"));
//! assert!(published.len() >= 10); // a count a minute, and one heartbeat
//! ```

mod fleet;
mod pattern;

pub use fleet::Fleet;

/// One MQTT message a simulated device publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// `doorstep/v1/{site_id}/{device_id}`.
    pub topic: String,
    /// A native v1 JSON payload.
    pub payload: Vec<u8>,
    /// When the device measured it (its `ts`), Unix milliseconds.
    pub time_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_v1;
    use crate::model::Registry;
    use crate::reading::Value;
    use crate::validate::{Limits, Validator};
    use std::collections::HashMap;
    use std::path::Path;
    use std::sync::Arc;

    const HOUR_MS: i64 = 3_600_000;
    const DAY_MS: i64 = 24 * HOUR_MS;

    fn registry(text: &str) -> Arc<Registry> {
        Arc::new(Registry::from_toml(text, Path::new("sim.toml")).expect("valid registry"))
    }

    /// Unix ms of a local time in Shanghai.
    fn at(local: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(&format!("{local}+08:00"))
            .expect("test time")
            .timestamp_millis()
    }

    fn device_of(p: &Publish) -> &str {
        p.topic.rsplit('/').next().unwrap_or_default()
    }

    fn value(p: &Publish) -> Value {
        decode_v1(&p.payload).expect("decodes").value
    }

    /// Second of the local (UTC+8) day.
    fn second_of_day(ms: i64) -> i64 {
        (ms / 1000 + 8 * 3600).rem_euclid(86_400)
    }

    const MIXED: &str = r#"
[[site]]
id = "s1"
name = "测试社区"
city = "上海市"
district = "徐汇区"

[[site.room]]
id = "hall"
name = "儿童活动大厅"
capacity = 40
area_m2 = 150
schedule = ["mon-fri 08:30-11:30 infant_care cap=20", "mon-fri 14:00-17:00 elderly_care", "mon-fri 18:00-20:30 child_care"]

[[site.room]]
id = "canteen"
name = "长者食堂"
capacity = 50
area_m2 = 135
schedule = ["daily 10:30-13:00 meal_aid", "daily 16:30-18:30 meal_aid"]

[[site.room]]
id = "gym"
name = "健身房"
capacity = 20
area_m2 = 80
schedule = ["daily 06:30-09:00 fitness", "daily 17:30-21:30 fitness"]

[[site.device]]
id = "hall-count"
room = "hall"
kind = "count"

[[site.device]]
id = "canteen-door-a"
room = "canteen"
kind = "door"
interval_s = 30

[[site.device]]
id = "canteen-door-b"
room = "canteen"
kind = "door"
interval_s = 30

[[site.device]]
id = "canteen-count"
room = "canteen"
kind = "count"
interval_s = 120

[[site.device]]
id = "gym-presence"
room = "gym"
kind = "presence"
"#;

    #[test]
    fn same_seed_same_messages_however_time_is_sliced() {
        let reg = registry(MIXED);
        let start = at("2026-11-23T06:00:00");
        let mut whole = Fleet::new(reg.clone(), 7, start);
        let all = whole.step(start + DAY_MS);
        let mut sliced = Fleet::new(reg.clone(), 7, start);
        let mut parts = Vec::new();
        let mut t = start;
        while t < start + DAY_MS {
            t = (t + 61_234).min(start + DAY_MS);
            parts.extend(sliced.step(t));
        }
        assert!(all.len() > 3000, "{}", all.len());
        assert_eq!(all, parts);
        let other = Fleet::new(reg, 8, start).step(start + DAY_MS);
        assert_ne!(all, other);
    }

    #[test]
    fn a_fleet_can_move_to_another_thread() {
        fn send<T: Send + Sync + std::fmt::Debug>() {}
        send::<Fleet>();
    }

    #[test]
    fn every_payload_decodes_passes_validation_and_counts_up() {
        let reg = registry(MIXED);
        let start = at("2026-11-23T00:00:00");
        let published = Fleet::new(reg.clone(), 1, start).step(start + 2 * DAY_MS);
        let validator = Validator::new(
            reg.clone(),
            Limits {
                max_age_ms: None,
                ..Limits::default()
            },
        );
        let mut last_seq: HashMap<String, u64> = HashMap::new();
        let mut kinds: HashMap<&'static str, usize> = HashMap::new();
        let mut previous = start;
        for p in &published {
            assert!(p.time_ms >= previous && p.time_ms > start);
            previous = p.time_ms;
            let m = decode_v1(&p.payload).expect("decodes");
            assert_eq!(m.ts_ms, Some(p.time_ms));
            let text = std::str::from_utf8(&p.payload).expect("UTF-8");
            assert!(text.starts_with("{\"type\":"), "{text}");
            assert!(text.contains("+08:00\""), "{text}");
            *kinds.entry(m.value.kind()).or_default() += 1;
            let r = validator
                .check(&p.topic, &p.payload, p.time_ms)
                .expect("valid reading");
            assert!(!r.clock_skew);
            match m.seq {
                Some(seq) => {
                    let before = last_seq.insert(p.topic.clone(), seq).unwrap_or(0);
                    assert_eq!(seq, before + 1, "{}", p.topic);
                }
                None => assert_eq!(m.value.kind(), "status"),
            }
        }
        assert_eq!(last_seq.len(), 5);
        assert_eq!(last_seq["doorstep/v1/s1/canteen-door-a"], 2 * 2880);
        for kind in ["count", "presence", "door", "door_total", "status"] {
            assert!(kinds.get(kind).copied().unwrap_or(0) > 0, "no {kind}");
        }
        // A heartbeat every 10 minutes from each of the 5 devices.
        assert_eq!(kinds["status"], 5 * 2 * 144);
    }

    #[test]
    fn meal_aid_is_busier_at_noon_than_mid_afternoon() {
        let reg = registry(
            r#"
[[site]]
id = "s1"
name = "测试社区"
[[site.room]]
id = "canteen"
name = "长者食堂"
capacity = 40
area_m2 = 135
schedule = ["daily 10:00-19:00 meal_aid"]
[[site.device]]
id = "c"
room = "canteen"
kind = "count"
"#,
        );
        let start = at("2026-11-02T00:00:00");
        let published = Fleet::new(reg, 3, start).step(start + 14 * DAY_MS);
        let (mut noon, mut afternoon, mut supper) = (Vec::new(), Vec::new(), Vec::new());
        for p in &published {
            if let Value::Count(n) = value(p) {
                match second_of_day(p.time_ms) / 60 {
                    720 => noon.push(n),
                    900 => afternoon.push(n),
                    1065 => supper.push(n),
                    _ => {}
                }
            }
        }
        assert_eq!(noon.len(), 14);
        let mean = |v: &[u32]| v.iter().sum::<u32>() as f64 / v.len() as f64;
        let (noon, afternoon, supper) = (mean(&noon), mean(&afternoon), mean(&supper));
        assert!(noon > 2.0 * afternoon, "{noon} vs {afternoon}");
        assert!(
            noon > supper && supper > afternoon,
            "{noon} {supper} {afternoon}"
        );
        assert!(noon > 10.0 && noon < 52.0, "{noon}");
    }

    #[test]
    fn nobody_arrives_in_a_closed_room() {
        let reg = registry(MIXED);
        let start = at("2026-11-20T00:00:00");
        let end = start + 7 * DAY_MS;
        let published = Fleet::new(reg.clone(), 11, start).step(end);
        let tz = chrono_tz::Asia::Shanghai;
        let mut previous: HashMap<&str, (i64, u64)> = HashMap::new();
        let mut arrivals = 0;
        for p in &published {
            let dev = device_of(p);
            let idx = reg.device_by_id(dev).expect("known device");
            let room = reg.room(reg.device(idx).room);
            let (inn, total) = match value(p) {
                Value::Door { inn, .. } => (u64::from(inn), None),
                Value::DoorTotal { in_total, .. } => (0, Some(in_total)),
                Value::Count(n) => {
                    // Stragglers leave within 45 minutes of closing.
                    let t = p.time_ms / 1000;
                    let open = room.schedule.open_spans(tz, t - 3600, t + 1);
                    if open.is_empty() {
                        assert_eq!(n, 0, "{dev} at {}", p.time_ms);
                    }
                    assert!(f64::from(n) <= 1.3 * f64::from(room.capacity));
                    continue;
                }
                _ => continue,
            };
            let (t, before) = previous.get(dev).copied().unwrap_or((start, 0));
            let inn = match total {
                Some(total) if before == 0 => {
                    previous.insert(dev, (p.time_ms, total));
                    continue;
                }
                Some(total) => total - before,
                None => inn,
            };
            previous.insert(dev, (p.time_ms, total.unwrap_or(0)));
            let open = room
                .schedule
                .open_spans(tz, t / 1000 + 1, p.time_ms / 1000 + 1);
            if open.is_empty() {
                assert_eq!(inn, 0, "{dev} let people in at {} while closed", p.time_ms);
            }
            arrivals += inn;
        }
        assert!(arrivals > 200, "{arrivals}");
    }

    #[test]
    fn national_day_closes_a_weekday_room() {
        let reg = registry(
            r#"
[[site]]
id = "s1"
name = "测试社区"
[[site.room]]
id = "day-care"
name = "日间照料中心"
capacity = 30
area_m2 = 180
schedule = ["mon-fri 08:00-18:00 elderly_care"]
[[site.device]]
id = "door"
room = "day-care"
kind = "door"
[[site.device]]
id = "count"
room = "day-care"
kind = "count"
"#,
        );
        let visitors = |day: &str| {
            let start = at(&format!("{day}T00:00:00"));
            let published = Fleet::new(reg.clone(), 5, start).step(start + DAY_MS);
            let mut inn_sum = 0;
            let mut peak = 0;
            for p in &published {
                match value(p) {
                    Value::Door { inn, .. } => inn_sum += inn,
                    Value::Count(n) => peak = peak.max(n),
                    _ => {}
                }
            }
            (inn_sum, peak)
        };
        // 2026-10-01 is a Thursday and National Day.
        assert_eq!(visitors("2026-10-01"), (0, 0));
        let (inn, peak) = visitors("2026-10-15");
        assert!(
            inn > 20 && peak > 5,
            "an ordinary Thursday: {inn} in, peak {peak}"
        );
    }

    #[test]
    fn the_sample_registry_runs_with_busy_quiet_and_idle_rooms() {
        let text = include_str!("../../../config/registry.toml");
        let reg = registry(text);
        let tz = chrono_tz::Asia::Shanghai;
        let start = at("2026-11-23T00:00:00");
        let published = Fleet::new(reg.clone(), 2026, start).step(start + 7 * DAY_MS);
        // Per room with a count device: (count reports while open, of them occupied, people summed).
        let mut seen: HashMap<usize, (u32, u32, u64)> = HashMap::new();
        for p in &published {
            let idx = reg.device_by_id(device_of(p)).expect("known device");
            let room = reg.device(idx).room;
            let t = p.time_ms / 1000;
            let open = !reg.room(room).schedule.open_spans(tz, t, t + 1).is_empty();
            if let (Value::Count(n), true) = (value(p), open) {
                let e = seen.entry(room.ix()).or_default();
                *e = (e.0 + 1, e.1 + u32::from(n > 0), e.2 + u64::from(n));
            }
        }
        assert!(seen.len() >= 10, "{}", seen.len());
        for (ix, (reports, occupied, people)) in seen {
            let room = &reg.rooms[ix];
            let used = f64::from(occupied) / f64::from(reports);
            let mean = people as f64 / f64::from(reports);
            let popularity = room.sim.popularity;
            if popularity == 0.0 {
                assert_eq!(occupied, 0, "{} is built but not used", room.name);
            } else if popularity < 0.1 {
                assert!(used < 0.25 && mean < 0.5, "{}: {used} {mean}", room.name);
            } else {
                assert!(used > 0.4 && mean > 0.8, "{}: {used} {mean}", room.name);
            }
        }
    }
}
