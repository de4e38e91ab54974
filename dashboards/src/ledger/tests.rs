use super::*;
use devices::Registry;
use devices::Status;
use std::sync::Arc;

const REGISTRY: &str = r#"
[[site]]
id = "s1"
name = "一"
district = "徐汇区"
[[site.room]]
id = "hall"
name = "厅"
capacity = 10
area_m2 = 40
schedule = ["daily 08:00-20:00 culture"]
[[site.device]]
id = "s1-a"
room = "hall"
kind = "count"
"#;

/// 2026-11-23 10:00 in Shanghai, Unix ms.
const T: i64 = 1_795_399_200_000;

fn ledger() -> DeviceLedger {
    let reg = Registry::from_toml(REGISTRY, std::path::Path::new("r.toml")).expect("registry");
    DeviceLedger::new(Arc::new(reg))
}

fn reading(at: i64, value: Value) -> Reading {
    Reading {
        device: DeviceIdx(0),
        room: devices::RoomIdx(0),
        time_ms: at,
        received_ms: at,
        seq: None,
        clock_skew: false,
        value,
    }
}

fn rejection(topic: &str, reason: Reason, payload: &str, at: i64) -> Rejection {
    Rejection {
        reason,
        detail: "what was wrong".into(),
        topic: topic.into(),
        payload: payload.as_bytes().to_vec(),
        received_ms: at,
    }
}

#[test]
fn a_device_status_and_its_day_counts() {
    let l = ledger();
    assert_eq!(l.seen(), [None]);
    let status = Status {
        battery_pct: Some(12),
        rssi_dbm: Some(-97),
        fw: Some("2.1.0".into()),
        interval_s: Some(300),
    };
    l.note(&[
        reading(T, Value::Count(3)),
        reading(T + 1000, Value::Status(status)),
    ]);
    l.note_rejections(&[rejection(
        "doorstep/v1/s1/s1-a",
        Reason::MalformedJson,
        "{",
        T + 2000,
    )]);
    let life = &l.lives()[0];
    assert_eq!(life.messages, 2);
    assert_eq!(life.rejected.get("malformed_json"), Some(&1));
    assert_eq!(
        (life.rssi_dbm, life.fw.as_deref(), life.interval_s),
        (Some(-97), Some("2.1.0"), Some(300))
    );
    assert_eq!(
        l.seen()[0],
        Some(Seen {
            heard_ms: T + 1000,
            battery: Some((12, T + 1000))
        })
    );
    // The next local day starts its counts afresh; the last word stays.
    l.note(&[reading(T + 86_400_000, Value::Count(0))]);
    let life = &l.lives()[0];
    assert_eq!((life.messages, life.rejected.len()), (1, 0));
    assert_eq!(life.fw.as_deref(), Some("2.1.0"));
    // A message of the day before, replayed or re-read after a restart, is not today's.
    l.note(&[reading(T, Value::Count(1))]);
    assert_eq!(l.lives()[0].messages, 1);
}

#[test]
fn unregistered_devices_wait_with_their_first_messages() {
    let l = ledger();
    let long = "x".repeat(SAMPLE_CHARS + 10);
    for (i, payload) in ["{\"type\":\"count\"}", "b", &long, "d"].iter().enumerate() {
        l.note_rejections(&[rejection(
            "doorstep/v1/s1/new-1",
            Reason::UnknownDevice,
            payload,
            T + i as i64,
        )]);
    }
    // Not a device topic, or an id no topic could carry: not listed.
    l.note_rejections(&[
        rejection("other/topic", Reason::BadTopic, "x", T),
        rejection("doorstep/v1/s1/bad id", Reason::UnknownDevice, "x", T),
    ]);
    let (waiting, more) = l.waiting("s1");
    assert_eq!((waiting.len(), more), (1, 0));
    let w = &waiting[0];
    assert_eq!(
        (w.device_id.as_str(), w.messages, w.first_ms, w.last_ms),
        ("new-1", 4, T, T + 3)
    );
    assert_eq!(w.samples.len(), SAMPLES);
    assert_eq!(w.samples[0], "{\"type\":\"count\"}");
    assert_eq!(
        w.samples[2].chars().count(),
        SAMPLE_CHARS + 1,
        "cut, with an ellipsis"
    );
    assert!(l.waiting("s2").0.is_empty());
    // A flood of invented ids fills the list, then is only counted.
    for i in 0..MAX_WAITING + 5 {
        l.note_rejections(&[rejection(
            &format!("doorstep/v1/s2/x{i}"),
            Reason::UnknownDevice,
            "x",
            T,
        )]);
    }
    let (s2, more) = l.waiting("s2");
    assert_eq!((s2.len(), more), (MAX_WAITING - 1, 6));
}
