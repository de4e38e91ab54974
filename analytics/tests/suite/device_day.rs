//! `device_day`: columns read back and the local-date partition.

use crate::common::*;
use analytics::Store;
use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, UInt8Type, UInt32Type};
use devices::{DeviceDay, DeviceIdx};

#[test]
fn device_days_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = registry();
    let store = Store::open(dir.path(), registry.clone()).expect("store");
    let device = DeviceIdx(0);
    let row = DeviceDay {
        device,
        room: registry.device(device).room,
        // 2026-11-10 in Shanghai.
        start: secs("2026-11-09T16:00:00"),
        end: secs("2026-11-10T16:00:00"),
        open_seconds: 7200,
        offline_seconds: 1800,
        reports: 120,
        min_battery_pct: Some(15),
        constant_count: None,
        stuck: false,
        implausible_counts: 3,
        revision: 0,
    };
    let written = store.write_device_days(&[row]).expect("write");
    assert_eq!(partition(&written[0]), "date=2026-11-10");
    assert!(written[0].starts_with(dir.path().join("device_day")));
    let b = read(&written[0]);
    let col = |n: &str| b.column_by_name(n).unwrap_or_else(|| panic!("{n}")).clone();
    assert_eq!(
        col("device_id").as_string::<i32>().value(0),
        registry.device(device).id
    );
    assert_eq!(
        col("offline_seconds").as_primitive::<UInt32Type>().value(0),
        1800
    );
    assert_eq!(
        col("offline_share").as_primitive::<Float64Type>().value(0),
        0.25
    );
    assert_eq!(
        col("min_battery_pct").as_primitive::<UInt8Type>().value(0),
        15
    );
    assert!(col("constant_count").is_null(0));
    assert!(!col("stuck").as_boolean().value(0));
    assert_eq!(
        col("implausible_counts")
            .as_primitive::<UInt32Type>()
            .value(0),
        3
    );
    assert_no_tmp(dir.path());
}
