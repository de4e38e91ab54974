//! `site_day`: every column read back exactly, local dates in two timezones,
//! the ratios from the `SiteDay` methods, deterministic bytes, and site days
//! of another registry refused.

use crate::common::*;
use analytics::{Error, METRICS_VERSION, Store};
use devices::{Category, SiteDay, SiteIdx};
use std::collections::BTreeMap;

/// Starts of local 2026-11-10 and 2026-11-11 in Shanghai, 2026-11-10 in Berlin.
const SH_1110: &str = "2026-11-09T16:00:00";
const SH_1111: &str = "2026-11-10T16:00:00";
const DE_1110: &str = "2026-11-09T23:00:00";

fn site_day(site: SiteIdx, start: &str) -> SiteDay {
    SiteDay {
        site,
        start: secs(start),
        end: secs(start) + 86_400,
        rooms: 0,
        open_seconds: 0,
        measured_seconds: 0,
        occupied_seconds: 0,
        person_seconds: 0,
        capacity_person_seconds: 0,
        capacity_seconds: 0,
        visits: 0,
        area_m2: 0.0,
        rooms_covered: 0,
        rooms_underused: 0,
        functions_in_use: Vec::new(),
        revision: 0,
    }
}

/// The expected row of a site: names, span, then the numbers in schema order.
fn site_row(site: usize, start: &str, numbers: [Cell; 20]) -> Row {
    let [id, name, city, district] = [
        ["sh-pudong", "浦东新区塘桥社区综合体", "上海市", "浦东新区"],
        ["de-berlin", "柏林试点社区", "柏林", "米特区"],
    ][site];
    let names = [
        "rooms",
        "open_seconds",
        "measured_seconds",
        "occupied_seconds",
        "person_seconds",
        "capacity_person_seconds",
        "capacity_seconds",
        "coverage",
        "time_utilization",
        "capacity_utilization",
        "visits",
        "visits_per_day",
        "visits_per_100m2_day",
        "area_m2",
        "rooms_covered",
        "rooms_underused",
        "share_rooms_underused",
        "functions_in_use",
        "functions",
        "meets_function_mix",
    ];
    let mut r = row(vec![
        ("site_id", s(id)),
        ("site_name", s(name)),
        ("city", s(city)),
        ("district", s(district)),
        ("day_start", ts(start)),
        ("day_end", Ts((secs(start) + 86_400) * 1000)),
    ]);
    r.extend(row(names.into_iter().zip(numbers).collect()));
    r.extend(row(vec![
        ("metrics_version", U16(METRICS_VERSION)),
        ("revision", U16(0)),
    ]));
    r
}

fn site_cases() -> (Vec<SiteDay>, BTreeMap<String, Vec<Row>>) {
    // Three functions in use, two of them core: the guideline's mix is met.
    // Stored by name, so culture comes first.
    let pudong = SiteDay {
        rooms: 3,
        open_seconds: 100_000,
        measured_seconds: 90_000,
        occupied_seconds: 30_000,
        person_seconds: 150_000,
        capacity_person_seconds: 120_000,
        capacity_seconds: 2_000_000,
        visits: 80,
        area_m2: 295.0,
        rooms_covered: 2,
        rooms_underused: 1,
        functions_in_use: vec![Category::ElderlyCare, Category::MealAid, Category::Culture],
        ..site_day(SiteIdx(0), SH_1110)
    };
    #[rustfmt::skip]
    let pudong_row = site_row(0, SH_1110, [
        U32(3), U64(100_000), U64(90_000), U64(30_000), U64(150_000), U64(120_000),
        U64(2_000_000), F64(0.9), F64(30_000.0 / 90_000.0), F64(0.06), U64(80), F64(80.0),
        F64(80.0 / (295.0 / 100.0)), F64(295.0), U32(2), U32(1), F64(0.5), U32(3),
        s("culture,elderly_care,meal_aid"), Bool(true),
    ]);
    // Three functions, one core: not the mix. No area: no visits per 100 m2.
    let pudong_next = SiteDay {
        rooms: 3,
        open_seconds: 50_000,
        measured_seconds: 50_000,
        occupied_seconds: 10_000,
        person_seconds: 20_000,
        visits: 7,
        rooms_covered: 3,
        functions_in_use: vec![Category::InfantCare, Category::Health, Category::Fitness],
        ..site_day(SiteIdx(0), SH_1111)
    };
    #[rustfmt::skip]
    let pudong_next_row = site_row(0, SH_1111, [
        U32(3), U64(50_000), U64(50_000), U64(10_000), U64(20_000), U64(0), U64(0),
        F64(1.0), F64(0.2), Null, U64(7), F64(7.0), Null, F64(0.0), U32(3), U32(0),
        F64(0.0), U32(3), s("fitness,health,infant_care"), Bool(false),
    ]);
    // Berlin, closed all day: every ratio over an empty denominator is null.
    let berlin = SiteDay {
        rooms: 1,
        area_m2: 60.0,
        ..site_day(SiteIdx(1), DE_1110)
    };
    #[rustfmt::skip]
    let berlin_row = site_row(1, DE_1110, [
        U32(1), U64(0), U64(0), U64(0), U64(0), U64(0), U64(0), Null, Null, Null, U64(0),
        F64(0.0), F64(0.0), F64(60.0), U32(0), U32(0), Null, U32(0), s(""), Bool(false),
    ]);
    let want = BTreeMap::from([
        ("date=2026-11-10".to_owned(), vec![berlin_row, pudong_row]),
        ("date=2026-11-11".to_owned(), vec![pudong_next_row]),
    ]);
    (vec![pudong_next, pudong, berlin], want)
}

#[test]
fn site_days_read_back_exactly_in_their_local_date() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), registry()).expect("store");
    let (days, want) = site_cases();
    let written = store.write_site_days(&days).expect("written");
    let got = read_table(
        store.root(),
        "site_day",
        &written,
        &analytics::site_day::schema(),
    );
    assert_tables(&got, &want);
    let (dict, sorting) = dictionaries_and_sorting(&written[0]);
    for c in ["site_name", "city", "district", "functions"] {
        assert!(dict.iter().any(|d| d == c), "{c} in {dict:?}");
    }
    assert_eq!(sorting, ["site_id", "day_start"]);
}

#[test]
fn site_day_ratios_are_the_site_day_methods() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), registry()).expect("store");
    let f = |v: Option<f64>| v.map_or(Null, F64);
    for d in site_cases().0 {
        let files = store
            .write_site_days(std::slice::from_ref(&d))
            .expect("written");
        let got = rows(&read(&files[0])).remove(0);
        let methods = vec![
            ("coverage", f(d.coverage())),
            ("time_utilization", f(d.time_utilization())),
            ("capacity_utilization", f(d.capacity_utilization())),
            ("visits_per_day", F64(d.visits_per_day())),
            ("visits_per_100m2_day", f(d.visits_per_100m2_day())),
            ("share_rooms_underused", f(d.share_rooms_underused())),
            ("meets_function_mix", Bool(d.meets_function_mix())),
        ];
        assert_eq!(with(&got, methods), got, "{d:?}");
    }
}

#[test]
fn the_same_site_days_in_another_order_make_the_same_bytes() {
    assert_same_bytes(|s, r| s.write_site_days(r).expect("sites"), &site_cases().0);
}

#[test]
fn site_days_of_another_registry_or_empty_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), registry()).expect("store");
    let (mut days, _) = site_cases();
    days[1].site = SiteIdx(9);
    let err = store.write_site_days(&days).expect_err("refused");
    assert!(
        matches!(
            err,
            Error::NotInRegistry {
                what: "site",
                index: 9
            }
        ),
        "{err}"
    );
    let mut empty = site_day(SiteIdx(0), SH_1110);
    empty.end = empty.start;
    let err = store.write_site_days(&[empty]).expect_err("refused");
    assert!(
        matches!(
            err,
            Error::EmptyWindow {
                table: "site_day",
                room: None,
                ..
            }
        ),
        "{err}"
    );
    assert!(files(dir.path()).is_empty());
    assert!(store.write_site_days(&[]).expect("nothing").is_empty());
}
