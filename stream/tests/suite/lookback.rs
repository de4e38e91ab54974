//! After a restart the stream replays only its last days of readings; the flags'
//! and idle slots' lookback before them comes from the stored days. The flags and
//! idle slots of every day it closes then equal an uninterrupted run's.

use crate::common;
use crate::common::START_MS;
use devices::{DeviceDay, LookbackDay, LookbackHour, Reading, Registry, WindowKind};
use std::sync::Arc;
use stream::{Lookback, Replayed, StreamConfig};

const DAY_MS: i64 = 86_400_000;
/// Eight days of input.
const END_MS: i64 = START_MS + 8 * DAY_MS;
/// The stop: day 7 at 10:00, Shanghai; a restart replays the three days before.
const STOP_MS: i64 = START_MS + 7 * DAY_MS + 4 * 3_600_000;

fn setup() -> (Arc<Registry>, Vec<Reading>) {
    common::fleet(3, END_MS)
}

fn config(lookback: Option<Lookback>) -> StreamConfig {
    let mut config = StreamConfig {
        workers: 2,
        lookback,
        ..StreamConfig::default()
    };
    // A short lookback, so that the stored days fill it and the oldest fall out.
    config.flags.lookback_days = 4;
    config.flags.idle_days = 2;
    config
}

fn run(registry: &Arc<Registry>, readings: Vec<Reading>, lookback: Option<Lookback>) -> Replayed {
    stream::replay(
        Arc::clone(registry),
        &config(lookback),
        readings,
        64,
        END_MS / 1000,
    )
    .expect("replay")
}

/// The days `before` stored by the tables: each closed day with its hours and devices' days.
fn stored(registry: &Registry, before: &Replayed, stop_s: i64) -> Vec<LookbackDay> {
    let days = before
        .windows
        .iter()
        .filter(|w| w.kind == WindowKind::Day && w.end <= stop_s);
    days.map(|day| {
        let devices: Vec<Option<&DeviceDay>> = registry
            .room(day.room)
            .devices
            .iter()
            .map(|d| {
                before
                    .device_days
                    .iter()
                    .find(|x| x.device == *d && x.start == day.start)
            })
            .collect();
        let mut stored = LookbackDay::of(day, &devices);
        stored.hours = before
            .windows
            .iter()
            .filter(|h| h.room == day.room && h.start >= day.start && h.start < day.end)
            .filter_map(LookbackHour::of)
            .collect();
        stored
    })
    .collect()
}

/// Flags and idle slots of the days starting at or after `from` (revisions aside).
fn judged(r: &Replayed, from: i64) -> (Vec<devices::Flag>, Vec<devices::IdleSlot>) {
    let flags = r
        .flags
        .iter()
        .filter(|f| f.day >= from)
        .cloned()
        .map(|mut f| {
            f.revision = 0;
            f
        })
        .collect();
    let slots = r
        .idle_slots
        .iter()
        .filter(|s| s.day >= from)
        .cloned()
        .map(|mut s| {
            s.revision = 0;
            s
        })
        .collect();
    (flags, slots)
}

#[test]
fn a_restart_seeded_with_the_stored_days_flags_as_if_it_never_stopped() {
    let (registry, readings) = setup();
    let whole = run(&registry, readings.clone(), None);
    let stop_s = STOP_MS / 1000;
    let days = stored(&registry, &whole, stop_s);
    assert!(
        days.len() >= registry.rooms.len() * 6,
        "{} stored days",
        days.len()
    );

    // What a restart replays: the readings of the last three days before the stop,
    // then what arrives after it.
    let from_ms = STOP_MS - 3 * DAY_MS;
    let replayed: Vec<Reading> = readings
        .iter()
        .filter(|r| r.time_ms >= from_ms)
        .cloned()
        .collect();
    // The first day closed after the restart is day 4: it holds the first reading replayed.
    let first_day = (START_MS + 4 * DAY_MS - 6 * 3_600_000) / 1000;
    let want = judged(&whole, first_day);
    assert!(
        want.0.len() > registry.rooms.len(),
        "{} flags to compare",
        want.0.len()
    );
    assert!(!want.1.is_empty(), "idle slots to compare");
    assert!(
        want.0.iter().all(|f| f.lookback_days == 4),
        "the lookback is full on every day compared"
    );

    let seeded = run(
        &registry,
        replayed.clone(),
        Some(Lookback::new(&registry, days.clone())),
    );
    let got = judged(&seeded, first_day);
    assert_eq!(got.0, want.0, "flags");
    assert_eq!(got.1, want.1, "idle slots");

    // Without the stored days the restart's flags look back over fewer days.
    let alone = run(&registry, replayed, None);
    assert_ne!(judged(&alone, first_day).0, want.0);
}
