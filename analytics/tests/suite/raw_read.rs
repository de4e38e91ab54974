//! `raw_events` read back into readings equals what was written, for every kind of value.

use crate::common::*;
use analytics::Store;
use devices::{Reading, Status, Value};

fn reading(device: &str, utc: &str, seq: Option<u64>, value: Value) -> Reading {
    let reg = registry();
    let d = reg.device_by_id(device).expect("device");
    Reading {
        device: d,
        room: reg.device(d).room,
        time_ms: secs(utc) * 1000 + 250,
        received_ms: secs(utc) * 1000 + 900,
        seq,
        clock_skew: seq.is_none(),
        value,
    }
}

#[test]
fn readings_round_trip_through_raw_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), registry()).expect("store");
    let mut written = vec![
        reading(
            "sh-hall-counter",
            "2026-11-10T01:00:00",
            Some(1),
            Value::Count(7),
        ),
        reading(
            "sh-nap-pir",
            "2026-11-10T01:00:05",
            Some(2),
            Value::Presence(true),
        ),
        reading(
            "sh-canteen-door",
            "2026-11-10T01:00:10",
            None,
            Value::Door { inn: 3, out: 1 },
        ),
        reading(
            "sh-canteen-door",
            "2026-11-10T01:01:10",
            Some(4),
            Value::DoorTotal {
                in_total: 10_234,
                out_total: 10_190,
            },
        ),
        reading(
            "sh-hall-counter",
            "2026-11-10T01:02:00",
            Some(5),
            Value::Status(Status {
                battery_pct: Some(87),
                rssi_dbm: Some(-70),
                fw: Some("1.4.2".into()),
                interval_s: Some(60),
            }),
        ),
        reading(
            "sh-hall-counter",
            "2026-11-10T01:03:00",
            Some(6),
            Value::Status(Status::default()),
        ),
        // Berlin: a different local date partition for the same instant range.
        reading(
            "de-kiez-counter",
            "2026-11-10T23:30:00",
            Some(1),
            Value::Count(0),
        ),
    ];
    store.write_raw_events(&written).expect("write");
    let dates = [date("2026-11-10"), date("2026-11-11")];
    let mut read = store.read_raw_events(&dates).expect("read");
    written.sort_by_key(Reading::order_key);
    read.sort_by_key(Reading::order_key);
    assert_eq!(read, written);
    assert!(
        store
            .read_raw_events(&[date("2026-11-12")])
            .expect("read")
            .is_empty()
    );
}
