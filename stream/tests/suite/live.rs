//! The live view when readings arrive out of event-time order, as they do in a
//! cluster whose processes drain the broker apart in time: once every reading has
//! arrived, each room reads what it reads when they arrive in order.

use crate::common;
use crate::common::START_MS;
use devices::{DeviceKind, Reading, Registry, RoomIdx, Value};
use std::sync::Arc;
use stream::signal::{NoSink, RoomSignal};

/// Event-time skew of the second input, seconds: what a lagging process adds.
const SKEW_S: i64 = 120;

fn setup() -> (Arc<Registry>, Vec<Reading>) {
    let (registry, mut readings) = common::fleet(5, START_MS + 86_400_000 + 11 * 3_600_000);
    readings.sort_by_key(|r| r.time_ms);
    (registry, readings)
}

/// Each room's live value after `readings` arrive in the order given.
fn live(registry: &Registry, readings: &[&Reading], in_order: bool) -> Vec<Option<u32>> {
    let start = readings[0].time_s();
    let mut rooms: Vec<RoomSignal> = (0..registry.rooms.len() as u32)
        .map(|r| RoomSignal::new(registry, RoomIdx(r), start, 4))
        .collect();
    for r in readings {
        let signal = &mut rooms[r.room.0 as usize];
        if in_order {
            signal.apply(r, &mut NoSink);
        } else {
            signal.apply_late(r);
        }
    }
    let end = readings.iter().map(|r| r.time_s()).max().expect("readings");
    rooms
        .iter_mut()
        .map(|s| {
            // Every room up to the last reading of all, as the in-order run is.
            s.advance(end, &mut NoSink);
            s.value()
        })
        .collect()
}

/// The readings in the order they arrive when `second` picks those of the lagging
/// input, `SKEW_S` behind the other.
fn skewed(readings: &[Reading], second: impl Fn(usize, &Reading) -> bool) -> Vec<&Reading> {
    let mut order: Vec<(i64, usize, &Reading)> = readings
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let lag = if second(i, r) { SKEW_S * 1000 } else { 0 };
            (r.time_ms + lag, i, r)
        })
        .collect();
    order.sort_by_key(|(arrival, i, _)| (*arrival, *i));
    order.into_iter().map(|(_, _, r)| r).collect()
}

fn assert_like_in_order(registry: &Registry, readings: &[Reading], got: &[&Reading]) {
    let want = live(registry, &readings.iter().collect::<Vec<_>>(), true);
    let doors = registry
        .rooms
        .iter()
        .filter(|r| {
            r.devices
                .iter()
                .any(|d| registry.device(*d).kind == DeviceKind::Door)
        })
        .count();
    assert!(doors >= 2, "{doors} door rooms in the test registry");
    assert!(
        want.iter().filter(|v| v.is_some()).count() >= registry.rooms.len() - 1,
        "in order, rooms known at the end: {want:?}"
    );
    let moved = got
        .windows(2)
        .filter(|w| w[1].time_ms < w[0].time_ms)
        .count();
    assert!(moved > 100, "only {moved} readings out of order");
    assert_eq!(live(registry, got, false), want);
}

#[test]
fn a_lagging_input_with_some_devices_ends_in_the_in_order_values() {
    let (registry, readings) = setup();
    // The broker gives each device to one process (EMQX's hash by client id).
    let got = skewed(&readings, |_, r| r.device.0 % 2 == 1);
    assert_like_in_order(&registry, &readings, &got);
}

#[test]
fn a_lagging_input_with_every_other_message_ends_in_the_in_order_values() {
    let (registry, readings) = setup();
    // Mosquitto's shared subscriptions hand messages round-robin.
    let got = skewed(&readings, |i, _| i % 2 == 1);
    assert_like_in_order(&registry, &readings, &got);
}

#[test]
fn applying_in_order_through_apply_late_is_apply() {
    let (registry, readings) = setup();
    let all: Vec<&Reading> = readings.iter().collect();
    assert_eq!(live(&registry, &all, false), live(&registry, &all, true));
}

/// Each room's last live value in a replay of `readings` in the order given.
fn replayed_live(registry: &Arc<Registry>, readings: Vec<Reading>) -> Vec<(RoomIdx, Option<u32>)> {
    let end = readings.iter().map(|r| r.time_s()).max().expect("readings");
    let config = stream::StreamConfig {
        workers: 1,
        ..stream::StreamConfig::default()
    };
    let out = stream::replay(Arc::clone(registry), &config, readings, 64, end).expect("replay");
    let mut last: std::collections::BTreeMap<RoomIdx, Option<u32>> = Default::default();
    for l in &out.live {
        last.insert(l.room, l.occupancy);
    }
    last.into_iter().collect()
}

#[test]
fn a_door_message_repeated_later_counts_once_in_the_live_view() {
    let (registry, readings) = setup();
    let want = replayed_live(&registry, readings.clone());
    // Every 3rd door message with crossings comes again 40 messages later, as a
    // device's resend after a reconnect, through another process of a cluster.
    let mut order: Vec<(usize, Reading)> = Vec::new();
    let mut repeated = 0;
    for (i, r) in readings.iter().enumerate() {
        order.push((2 * i, r.clone()));
        let crossing = matches!(r.value, Value::Door { inn, out } if inn + out > 0);
        if crossing && i % 3 == 0 {
            order.push((2 * (i + 40) + 1, r.clone()));
            repeated += 1;
        }
    }
    assert!(repeated > 100, "{repeated} repeated");
    order.sort_by_key(|(at, _)| *at);
    let got = replayed_live(&registry, order.into_iter().map(|(_, r)| r).collect());
    assert_eq!(got, want);
}
