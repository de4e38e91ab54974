//! Day and slot rows, `door_residual`, and dropping redelivered messages.

use devices::{Category, DeviceIdx, Reading, Registry, RoomIdx, Value, WindowKind};
use std::path::Path;
use std::sync::Arc;
use stream::StreamConfig;

const REGISTRY: &str = r#"
[[site]]
id = "s1"
name = "测试社区"
[[site.room]]
id = "canteen"
name = "食堂"
capacity = 20
area_m2 = 135
schedule = ["daily 09:00-10:00 meal_aid", "daily 17:00-18:00 culture"]
[[site.device]]
id = "d1"
room = "canteen"
kind = "door"
"#;

/// 2026-11-23 00:00 in Shanghai, Unix seconds.
const DAY: i64 = 1_795_363_200;

fn door(h: i64, m: i64, inn: u32, out: u32, seq: u64) -> Reading {
    Reading {
        device: DeviceIdx(0),
        room: RoomIdx(0),
        time_ms: (DAY + h * 3600 + m * 60) * 1000,
        received_ms: 0,
        seq: Some(seq),
        clock_skew: false,
        value: Value::Door { inn, out },
    }
}

#[test]
fn day_rows_wait_for_the_reset_and_carry_the_residual() {
    let reg = Arc::new(Registry::from_toml(REGISTRY, Path::new("t.toml")).expect("registry"));
    let readings = vec![
        door(9, 0, 5, 0, 1),
        door(9, 0, 5, 0, 1), // redelivered: dropped
        door(9, 30, 0, 3, 2),
        door(17, 10, 1, 0, 3),
        door(17, 10, 1, 0, 3), // redelivered: dropped
        door(29, 0, 0, 0, 4),  // 05:00 the next morning
    ];
    for workers in [1, 2] {
        let config = StreamConfig {
            workers,
            ..StreamConfig::default()
        };
        let out = stream::replay(
            Arc::clone(&reg),
            &config,
            readings.clone(),
            2,
            DAY + 30 * 3600,
        )
        .expect("replay");
        let days: Vec<_> = out
            .windows
            .iter()
            .filter(|w| w.kind == WindowKind::Day)
            .collect();
        assert_eq!(days.len(), 1, "11-24 is released only at 11-25 04:00");
        let d = days[0];
        // n: 5 at 09:00 (valid 180 s), 2 at 09:30, 3 at 17:10; nobody left after that,
        // so the counters say 3 people were still inside just before 04:00 on 11-24.
        assert_eq!(d.door_residual, Some(3));
        assert_eq!((d.start, d.end), (DAY, DAY + 86_400));
        assert_eq!(d.open_seconds, 7200);
        // Known: [09:00,09:03) n=5, [09:30,09:33) n=2, [17:10,17:13) n=3; all inside O.
        assert_eq!(d.measured_seconds, 540);
        assert_eq!(d.occupied_seconds, 540);
        assert_eq!(d.person_seconds, 5 * 180 + 2 * 180 + 3 * 180);
        assert_eq!(d.visits, 6, "5 + 1 ins; the redeliveries are not counted");
        assert_eq!(out.duplicates, 2, "both redeliveries dropped and counted");
        assert_eq!(d.peak_occupancy, Some(5));

        let slots: Vec<_> = out
            .windows
            .iter()
            .filter(|w| matches!(w.kind, WindowKind::SlotDay(_)))
            .collect();
        assert_eq!(slots.len(), 2);
        let meal = slots
            .iter()
            .find(|w| w.kind == WindowKind::SlotDay(Category::MealAid))
            .expect("meal slot");
        assert_eq!(
            (meal.open_seconds, meal.measured_seconds, meal.visits),
            (3600, 360, 5)
        );
        assert_eq!(meal.person_seconds, 5 * 180 + 2 * 180);
        assert_eq!(meal.door_residual, None);
        let culture = slots
            .iter()
            .find(|w| w.kind == WindowKind::SlotDay(Category::Culture))
            .expect("culture");
        assert_eq!(
            (
                culture.open_seconds,
                culture.measured_seconds,
                culture.visits
            ),
            (3600, 180, 1)
        );

        let hours = out
            .windows
            .iter()
            .filter(|w| w.kind == WindowKind::Hour)
            .count();
        assert_eq!(hours, 30 - 9, "09:00 on 11-23 to 06:00 on 11-24");
    }
}
