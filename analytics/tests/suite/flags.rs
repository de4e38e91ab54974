//! `flags`: every column read back exactly, local days in two timezones,
//! deterministic bytes, and flags of another registry refused.

use crate::common::*;
use analytics::{Error, METRICS_VERSION, Store};
use devices::{Flag, FlagKind, RoomIdx};
use std::collections::BTreeMap;

/// Starts of local 2026-11-10 and 2026-11-11 in Shanghai, 2026-11-10 in Berlin.
const SH_1110: &str = "2026-11-09T16:00:00";
const SH_1111: &str = "2026-11-10T16:00:00";
const DE_1110: &str = "2026-11-09T23:00:00";

fn flag(room: RoomIdx, day: &str, kind: FlagKind) -> Flag {
    Flag {
        room,
        day: secs(day),
        kind,
        lookback_days: 28,
        coverage: None,
        time_utilization: None,
        idle_days: None,
        worst_seconds: None,
        worst_day: None,
        reason_en: format!("{} test reason", kind.as_str()),
        reason_zh: "测试原因：连续七天无人使用".to_owned(),
        revision: 0,
    }
}

fn flag_row(
    site: &str,
    room: &str,
    day: &str,
    kind: &str,
    lookback: u16,
    numbers: [Cell; 5],
) -> Row {
    let [
        coverage,
        time_utilization,
        idle_days,
        worst_seconds,
        worst_day,
    ] = numbers;
    row(vec![
        ("site_id", s(site)),
        ("room_id", s(room)),
        ("day", Date(date(day))),
        ("flag", s(kind)),
        ("lookback_days", U16(lookback)),
        ("coverage", coverage),
        ("time_utilization", time_utilization),
        ("idle_days", idle_days),
        ("worst_seconds", worst_seconds),
        ("worst_day", worst_day),
        ("reason_en", s(&format!("{kind} test reason"))),
        ("reason_zh", s("测试原因：连续七天无人使用")),
        ("metrics_version", U16(METRICS_VERSION)),
        ("revision", U16(0)),
    ])
}

fn flag_cases() -> (Vec<Flag>, BTreeMap<String, Vec<Row>>) {
    let low = Flag {
        coverage: Some(0.5),
        ..flag(NAP, SH_1110, FlagKind::LowCoverage)
    };
    let idle = Flag {
        coverage: Some(0.95),
        time_utilization: Some(0.0),
        idle_days: Some(7),
        ..flag(HALL, SH_1110, FlagKind::Idle)
    };
    let underused = Flag {
        coverage: Some(0.95),
        time_utilization: Some(0.12),
        ..flag(HALL, SH_1110, FlagKind::Underused)
    };
    let underused_next = Flag {
        coverage: Some(0.96),
        time_utilization: Some(0.11),
        ..flag(HALL, SH_1111, FlagKind::Underused)
    };
    // 3 November in Shanghai starts on 2 November in UTC.
    let crowded = Flag {
        lookback_days: 14,
        coverage: Some(0.99),
        time_utilization: Some(0.8),
        worst_seconds: Some(1200),
        worst_day: Some(secs("2026-11-02T16:00:00")),
        ..flag(CANTEEN, SH_1110, FlagKind::Overcrowded)
    };
    // Berlin: the day and the worst day (25 October) both start the UTC day before.
    let after = Flag {
        coverage: Some(0.9),
        time_utilization: Some(0.3),
        worst_seconds: Some(5400),
        worst_day: Some(secs("2026-10-24T22:00:00")),
        ..flag(KIEZ, DE_1110, FlagKind::AfterHoursUse)
    };
    let sh = |room, day, kind, lookback, numbers| {
        flag_row("sh-pudong", room, day, kind, lookback, numbers)
    };
    let want = BTreeMap::from([
        (
            "date=2026-11-10".to_owned(),
            vec![
                flag_row(
                    "de-berlin",
                    "kiez",
                    "2026-11-10",
                    "AFTER_HOURS_USE",
                    28,
                    [
                        F64(0.9),
                        F64(0.3),
                        Null,
                        U32(5400),
                        Date(date("2026-10-25")),
                    ],
                ),
                sh(
                    "canteen",
                    "2026-11-10",
                    "OVERCROWDED",
                    14,
                    [
                        F64(0.99),
                        F64(0.8),
                        Null,
                        U32(1200),
                        Date(date("2026-11-03")),
                    ],
                ),
                sh(
                    "hall",
                    "2026-11-10",
                    "IDLE",
                    28,
                    [F64(0.95), F64(0.0), U16(7), Null, Null],
                ),
                sh(
                    "hall",
                    "2026-11-10",
                    "UNDERUSED",
                    28,
                    [F64(0.95), F64(0.12), Null, Null, Null],
                ),
                sh(
                    "nap",
                    "2026-11-10",
                    "LOW_COVERAGE",
                    28,
                    [F64(0.5), Null, Null, Null, Null],
                ),
            ],
        ),
        (
            "date=2026-11-11".to_owned(),
            vec![sh(
                "hall",
                "2026-11-11",
                "UNDERUSED",
                28,
                [F64(0.96), F64(0.11), Null, Null, Null],
            )],
        ),
    ]);
    let flags = vec![underused_next, low, after, underused, crowded, idle];
    (flags, want)
}

#[test]
fn flags_read_back_exactly_in_their_local_day() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), registry()).expect("store");
    let (flags, want) = flag_cases();
    let written = store.write_flags(&flags).expect("written");
    let got = read_table(store.root(), "flags", &written, &analytics::flags::schema());
    assert_tables(&got, &want);
    let (dict, sorting) = dictionaries_and_sorting(&written[0]);
    for c in ["flag", "reason_zh"] {
        assert!(dict.iter().any(|d| d == c), "{c} in {dict:?}");
    }
    assert_eq!(sorting, ["site_id", "room_id", "day", "flag"]);
}

#[test]
fn the_same_flags_in_another_order_make_the_same_bytes() {
    assert_same_bytes(|s, r| s.write_flags(r).expect("flags"), &flag_cases().0);
}

#[test]
fn flags_of_another_registry_or_beyond_the_calendar_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), registry()).expect("store");
    let (mut flags, _) = flag_cases();
    flags[2].room = RoomIdx(42);
    let err = store.write_flags(&flags).expect_err("refused");
    assert!(
        matches!(
            err,
            Error::NotInRegistry {
                what: "room",
                index: 42
            }
        ),
        "{err}"
    );
    let mut far = flag(HALL, SH_1110, FlagKind::Idle);
    far.worst_day = Some(i64::MAX);
    let err = store.write_flags(&[far]).expect_err("refused");
    assert!(
        matches!(
            err,
            Error::TimeOutOfRange {
                table: "flags",
                field: "worst_day",
                ..
            }
        ),
        "{err}"
    );
    assert!(files(dir.path()).is_empty());
    assert!(store.write_flags(&[]).expect("nothing").is_empty());
}
