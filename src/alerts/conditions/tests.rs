use super::*;
use std::path::Path;

/// Monday 2026-11-23 00:00 in Shanghai, Unix ms.
const MONDAY_MS: i64 = 1_795_363_200_000;
const MIN: i64 = 60_000;

fn registry() -> Registry {
    Registry::from_toml(
        r#"
        [[site]]
        id = "s1"
        name = "玉林社区"
        [[site.room]]
        id = "hall"
        name = "多功能厅"
        capacity = 10
        area_m2 = 50
        schedule = ["daily 08:00-20:00 culture"]
        [[site.device]]
        id = "c1"
        room = "hall"
        kind = "count"
        interval_s = 60
        [[site.device]]
        id = "p1"
        room = "hall"
        kind = "presence"
        interval_s = 1800
        "#,
        Path::new("t.toml"),
    )
    .expect("registry")
}

#[test]
fn offline_after_stale_after_of_each_interval_and_never_seen_from_the_start() {
    let reg = registry();
    let heard = Seen {
        heard_ms: MONDAY_MS,
        battery: Some((12, MONDAY_MS)),
    };
    // c1 (60 s: stale after 180 s) heard at 00:00; p1 never heard, watched since 00:00.
    let at = |now| device_conditions(&reg, &[Some(heard), None], MONDAY_MS, now, 20);
    let kinds = |cs: &[Condition]| -> Vec<(AlertKind, String)> {
        cs.iter()
            .map(|c| (c.kind, c.device_id.clone().unwrap_or_default()))
            .collect()
    };
    assert_eq!(
        kinds(&at(MONDAY_MS + 2 * MIN)),
        [(AlertKind::LowBattery, "c1".into())]
    );
    let three = at(MONDAY_MS + 3 * MIN);
    assert_eq!(three[0].kind, AlertKind::DeviceOffline);
    assert_eq!(three[0].since_ms, MONDAY_MS + 3 * MIN);
    assert!(
        three[0].detail_zh.contains("00:00"),
        "{}",
        three[0].detail_zh
    );
    // p1 reports every 30 min: stale after 35 min.
    assert_eq!(at(MONDAY_MS + 34 * MIN).len(), 2);
    let later = at(MONDAY_MS + 35 * MIN);
    let never = later
        .iter()
        .find(|c| c.device_id.as_deref() == Some("p1"))
        .expect("p1");
    assert_eq!(never.since_ms, MONDAY_MS + 35 * MIN);
    assert!(never.detail_zh.contains("从未上报"));
    assert_eq!(never.room_name, "多功能厅");
    // Retired: neither silent device raises anything any more, nor a low battery.
    let mut retired = reg.clone();
    for d in &mut retired.devices {
        d.retired = true;
    }
    let cs = device_conditions(
        &retired,
        &[Some(heard), None],
        MONDAY_MS,
        MONDAY_MS + 60 * MIN,
        20,
    );
    assert!(cs.is_empty(), "{cs:?}");
    // Removed by a later registry version (p1 gone): only c1 can still be offline.
    let mut without = reg.clone();
    let p1 = without.device_by_id("p1").expect("p1");
    without.devices[p1.ix()].gone_from_ms = Some(MONDAY_MS);
    let cs = device_conditions(
        &without,
        &[Some(heard), None],
        MONDAY_MS,
        MONDAY_MS + 60 * MIN,
        20,
    );
    let devices: Vec<_> = cs.iter().filter_map(|c| c.device_id.as_deref()).collect();
    assert!(!devices.contains(&"p1"), "{cs:?}");
    assert!(devices.contains(&"c1"), "{cs:?}");
}

#[test]
fn a_flag_holds_from_its_day_close_to_the_end_of_the_next_day() {
    let reg = registry();
    let note = FlagNote {
        site_id: "s1".into(),
        room_id: "hall".into(),
        kind: AlertKind::Idle,
        day_ms: MONDAY_MS,
        reason_zh: "连续 7 个开放日无人使用".into(),
        reason_en: "no use on 7 open days".into(),
    };
    let notes = [note.clone()];
    assert!(flag_conditions(&reg, &notes, MONDAY_MS + 23 * 60 * MIN).is_empty());
    let c = flag_conditions(&reg, &notes, MONDAY_MS + 25 * 60 * MIN);
    assert_eq!((c.len(), c[0].since_ms), (1, MONDAY_MS + DAY_MS));
    assert!(flag_conditions(&reg, &notes, MONDAY_MS + 2 * DAY_MS).is_empty());
    // Notes: the latest per room and kind, and only those that can still hold.
    let mut notes = vec![
        note.clone(),
        FlagNote {
            day_ms: MONDAY_MS + DAY_MS,
            ..note.clone()
        },
        FlagNote {
            day_ms: MONDAY_MS - 5 * DAY_MS,
            kind: AlertKind::DoorDrift,
            ..note
        },
    ];
    keep_notes(&mut notes, MONDAY_MS + DAY_MS + MIN);
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].day_ms, MONDAY_MS + DAY_MS);
}

#[test]
fn stalled_after_its_time() {
    assert!(stalled_condition(5, 59_000, 60_000).is_none());
    let c = stalled_condition(5, 61_000, 60_000).expect("stalled");
    assert_eq!(
        (c.kind, c.since_ms, c.site_id.as_str()),
        (AlertKind::IngestStalled, 5, "")
    );
}
