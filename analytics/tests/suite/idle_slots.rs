//! `idle_slots`: columns read back, the local-date partition, deterministic order.

use crate::common::*;
use analytics::Store;
use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, UInt8Type, UInt64Type};
use devices::{IdleSlot, RoomIdx};

fn slot(weekday: u8, start_hour: u8, end_hour: u8, occupied: u64) -> IdleSlot {
    IdleSlot {
        room: RoomIdx(0),
        // 2026-11-10 in Shanghai.
        day: secs("2026-11-09T16:00:00"),
        weekday,
        start_hour,
        end_hour,
        lookback_days: 28,
        open_seconds: 28_800,
        measured_seconds: 25_200,
        occupied_seconds: occupied,
        revision: 0,
    }
}

#[test]
fn idle_slots_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), registry()).expect("store");
    let written = store
        .write_idle_slots(&[slot(6, 14, 18, 0), slot(2, 16, 18, 360)])
        .expect("write");
    assert_eq!(written.len(), 1);
    assert_eq!(partition(&written[0]), "date=2026-11-10");
    assert!(written[0].starts_with(dir.path().join("idle_slots")));
    let b = read(&written[0]);
    assert_eq!(b.num_rows(), 2);
    let u8s = |name: &str| -> Vec<u8> {
        b.column_by_name(name)
            .expect(name)
            .as_primitive::<UInt8Type>()
            .values()
            .to_vec()
    };
    // Sorted by weekday within the room and day.
    assert_eq!(u8s("weekday"), [2, 6]);
    assert_eq!(u8s("start_hour"), [16, 14]);
    assert_eq!(u8s("end_hour"), [18, 18]);
    assert_eq!(u8s("hours"), [2, 4]);
    let occupied = b
        .column_by_name("occupied_seconds")
        .expect("col")
        .as_primitive::<UInt64Type>()
        .values()
        .to_vec();
    assert_eq!(occupied, [360, 0]);
    let tu = b
        .column_by_name("time_utilization")
        .expect("col")
        .as_primitive::<Float64Type>();
    assert_eq!((tu.value(0), tu.value(1)), (360.0 / 25_200.0, 0.0));
    let cov = b
        .column_by_name("coverage")
        .expect("col")
        .as_primitive::<Float64Type>();
    assert_eq!(cov.value(0), 25_200.0 / 28_800.0);
    assert!(!cov.is_null(1));
    let names = b
        .column_by_name("room_name")
        .expect("col")
        .as_string::<i32>();
    assert!(!names.value(0).is_empty());
    assert_no_tmp(dir.path());
}
