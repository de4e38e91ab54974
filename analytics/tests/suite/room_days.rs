//! `room_day` and `room_slot_day`: every column read back exactly, local-date
//! partitions in two timezones, deterministic bytes, wrong kinds refused, and
//! `write_windows` sending each kind to its table.

use crate::common::window_cases::*;
use crate::common::*;
use analytics::{Error, Store};
use devices::{Category, RoomWindow, WindowKind};

#[test]
fn room_days_read_back_exactly_in_their_local_date() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), registry()).expect("store");
    let (windows, want) = day_cases();
    let written = store.write_room_days(&windows).expect("written");
    let got = read_table(
        store.root(),
        "room_day",
        &written,
        &analytics::room_day::schema(),
    );
    assert_tables(&got, &want);
}

#[test]
fn room_slot_days_read_back_exactly_in_their_local_date() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), registry()).expect("store");
    let (windows, want) = slot_cases();
    let written = store.write_room_slot_days(&windows).expect("written");
    let got = read_table(
        store.root(),
        "room_slot_day",
        &written,
        &analytics::room_slot_day::schema(),
    );
    assert_tables(&got, &want);
}

/// The ratio columns of a window, as its `RoomWindow` methods give them.
fn ratios(w: &RoomWindow) -> Vec<(&'static str, Cell)> {
    let f = |v: Option<f64>| v.map_or(Null, F64);
    vec![
        ("coverage", f(w.coverage())),
        ("time_utilization", f(w.time_utilization())),
        ("mean_occupancy", f(w.mean_occupancy())),
        ("capacity_utilization", f(w.capacity_utilization())),
        ("mean_occupancy_when_used", f(w.mean_occupancy_when_used())),
        ("peak_utilization", f(w.peak_utilization())),
        ("mean_dwell_seconds", f(w.mean_dwell_seconds())),
        ("over_capacity_seconds", w.over_capacity().map_or(Null, U32)),
    ]
}

#[test]
fn window_ratios_are_the_room_window_methods() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), registry()).expect("store");
    let (days, _) = day_cases();
    let (slots, _) = slot_cases();
    for w in days.iter().chain(&slots) {
        let files = store
            .write_windows(std::slice::from_ref(w))
            .expect("written");
        let got = rows(&read(&files[0])).remove(0);
        assert_eq!(with(&got, ratios(w)), got, "{w:?}");
    }
}

#[test]
fn the_same_windows_in_another_order_make_the_same_bytes() {
    let (days, _) = day_cases();
    let (slots, _) = slot_cases();
    assert_same_bytes(|s, r| s.write_room_days(r).expect("days"), &days);
    assert_same_bytes(|s, r| s.write_room_slot_days(r).expect("slots"), &slots);
}

#[test]
fn window_files_use_dictionaries_and_record_their_sort_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), registry()).expect("store");
    let (days, _) = day_cases();
    let (slots, _) = slot_cases();
    let day = store.write_room_days(&days).expect("days");
    let slot = store.write_room_slot_days(&slots).expect("slots");
    let (dict, sorting) = dictionaries_and_sorting(&day[1]);
    for c in [
        "site_id",
        "room_id",
        "site_name",
        "room_name",
        "visits_method",
    ] {
        assert!(dict.iter().any(|d| d == c), "{c} in {dict:?}");
    }
    assert_eq!(sorting, ["site_id", "room_id", "day_start"]);
    let (dict, sorting) = dictionaries_and_sorting(&slot[1]);
    assert!(dict.iter().any(|d| d == "category"), "{dict:?}");
    assert_eq!(sorting, ["site_id", "room_id", "day_start", "category"]);
}

#[test]
fn a_window_of_the_wrong_kind_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), registry()).expect("store");
    let hour = win(
        WindowKind::Hour,
        HALL,
        ("2026-11-10T01:00:00", "2026-11-10T02:00:00"),
    );
    let day = win(WindowKind::Day, HALL, SH_1110);
    let slot = win(WindowKind::SlotDay(Category::Culture), HALL, SH_1110);
    let refused = [
        (
            "room_hour",
            store.write_room_hours(&[hour.clone(), day.clone()]),
        ),
        (
            "room_hour",
            store.write_room_hours(std::slice::from_ref(&slot)),
        ),
        (
            "room_day",
            store.write_room_days(&[day.clone(), hour.clone()]),
        ),
        (
            "room_day",
            store.write_room_days(std::slice::from_ref(&slot)),
        ),
        ("room_slot_day", store.write_room_slot_days(&[slot, day])),
        ("room_slot_day", store.write_room_slot_days(&[hour])),
    ];
    for (table, result) in refused {
        match result {
            Err(Error::WrongWindowKind {
                table: t,
                site,
                room,
                ..
            }) => {
                assert_eq!(
                    (t, site.as_str(), room.as_str()),
                    (table, "sh-pudong", "hall")
                );
            }
            other => panic!("{table}: {other:?}"),
        }
    }
    assert!(files(dir.path()).is_empty());
}

#[test]
fn write_windows_sends_each_kind_to_its_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), registry()).expect("store");
    let (days, _) = day_cases();
    let (slots, _) = slot_cases();
    let hour = win(
        WindowKind::Hour,
        KIEZ,
        ("2026-11-10T09:00:00", "2026-11-10T10:00:00"),
    );
    let mut all = vec![hour];
    all.extend(days.iter().cloned());
    all.extend(slots.iter().cloned());
    let written = store.write_windows(&all).expect("written");
    let tables: Vec<(String, String, usize)> = written
        .iter()
        .map(|f| {
            let table = f.parent().and_then(|p| p.parent()).expect("table dir");
            let name = table.file_name().expect("name").to_string_lossy();
            (name.into_owned(), partition(f), read(f).num_rows())
        })
        .collect();
    let row = |t: &str, p: &str, n| (t.to_owned(), format!("date={p}"), n);
    assert_eq!(
        tables,
        [
            row("room_hour", "2026-11-10", 1),
            row("room_day", "2026-10-25", 1),
            row("room_day", "2026-11-10", 4),
            row("room_slot_day", "2026-10-25", 1),
            row("room_slot_day", "2026-11-10", 5),
        ]
    );
    assert!(store.write_windows(&[]).expect("nothing").is_empty());
}

#[test]
fn an_empty_day_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), registry()).expect("store");
    let mut day = win(WindowKind::Day, HALL, SH_1110);
    day.end = day.start;
    let err = store.write_room_days(&[day]).expect_err("refused");
    assert!(
        matches!(
            err,
            Error::EmptyWindow {
                table: "room_day",
                ..
            }
        ),
        "{err}"
    );
    assert!(files(dir.path()).is_empty());
}

#[test]
fn window_tables_list_their_columns_in_order() {
    let names = |s: arrow::datatypes::SchemaRef| -> Vec<String> {
        s.fields().iter().map(|f| f.name().clone()).collect()
    };
    let head = ["site_id", "room_id", "site_name", "room_name"];
    let hour = names(analytics::room_hour::schema());
    let day = names(analytics::room_day::schema());
    let slot = names(analytics::room_slot_day::schema());
    assert_eq!(hour[..4], head);
    assert_eq!(day[..4], head);
    assert_eq!(slot[..5], [&head[..], &["category"]].concat());
    assert_eq!(hour[4..7], ["hour_start", "hour_end", "local_hour"]);
    assert_eq!(day[4..7], ["day_start", "day_end", "weekday"]);
    assert_eq!(slot[5..8], ["day_start", "day_end", "weekday"]);
    // The metric columns are one list in all three tables.
    assert_eq!(hour[7..hour.len() - 2], slot[8..slot.len() - 2]);
    assert_eq!(hour[7..hour.len() - 2], day[7..day.len() - 3]);
    assert_eq!(
        day[day.len() - 3..],
        ["door_residual", "metrics_version", "revision"]
    );
    let nullable = |s: arrow::datatypes::SchemaRef, c: &str| {
        s.field_with_name(c).expect("column").is_nullable()
    };
    assert!(!nullable(
        analytics::room_day::schema(),
        "after_hours_occupied_seconds"
    ));
    assert!(nullable(
        analytics::room_slot_day::schema(),
        "after_hours_occupied_seconds"
    ));
    assert!(nullable(analytics::room_day::schema(), "door_residual"));
}
