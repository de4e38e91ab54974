//! The door rules of METRICS.md v2 worked by hand on one room's signal.

use super::*;
use devices::{DeviceIdx, Reading, Value};
use std::path::Path;

const REGISTRY: &str = r#"
[[site]]
id = "s"
name = "测试"
timezone = "UTC"

[[site.room]]
id = "hall"
name = "大厅"
capacity = 40
area_m2 = 100
schedule = ["daily 00:00-24:00 culture"]

[[site.device]]
id = "both"
room = "hall"
kind = "door"
interval_s = 60
rollover = 1000

[[site.device]]
id = "entry"
room = "hall"
kind = "door"
interval_s = 60
direction = "in"
max_per_minute = 10
"#;

/// Records the door ins and the implausible messages.
#[derive(Default)]
struct Seen {
    ins: Vec<(i64, u64)>,
    implausible: Vec<(i64, usize)>,
}

impl SignalSink for Seen {
    fn segment(&mut self, _: i64, _: i64, _: Option<u32>) {}
    fn door_in(&mut self, t: i64, inn: u64) {
        if inn > 0 {
            self.ins.push((t, inn));
        }
    }
    fn implausible(&mut self, t: i64, pos: usize) {
        self.implausible.push((t, pos));
    }
}

fn reading(device: u32, t: i64, value: Value) -> Reading {
    Reading {
        device: DeviceIdx(device),
        room: RoomIdx(0),
        time_ms: t * 1000,
        received_ms: t * 1000,
        seq: None,
        clock_skew: false,
        value,
    }
}

fn total(t: i64, inn: u64, out: u64) -> Reading {
    reading(
        0,
        t,
        Value::DoorTotal {
            in_total: inn,
            out_total: out,
        },
    )
}

fn signal() -> (RoomSignal, Seen) {
    let reg = Registry::from_toml(REGISTRY, Path::new("r.toml")).expect("registry");
    (RoomSignal::new(&reg, RoomIdx(0), 0, 4), Seen::default())
}

#[test]
fn stale_after_follows_slow_devices() {
    assert_eq!(stale_after(60), 180);
    assert_eq!(stale_after(300), 900);
    assert_eq!(stale_after(600), 900);
    assert_eq!(stale_after(1800), 2100);
    assert_eq!(stale_after(3600), 3900);
}

#[test]
fn counters_wrap_restart_and_refuse_implausible_jumps() {
    let (mut s, mut seen) = signal();
    s.apply(&total(60, 990, 985), &mut seen); // baseline
    s.apply(&total(120, 3, 0), &mut seen); // wrap at 1000: 13 in, 15 out
    s.apply(&total(180, 8, 2), &mut seen); // 5 in, 2 out
    s.apply(&total(240, 0, 0), &mut seen); // drop of 8 < 500: a restart, delta 0
    s.apply(&total(300, 4, 1), &mut seen); // 4 in, 1 out
    s.apply(&total(360, 900, 1), &mut seen); // 896 in within a minute: implausible
    s.apply(&total(420, 902, 2), &mut seen); // from the new baseline: 2 in, 1 out
    assert_eq!(seen.ins, [(120, 13), (180, 5), (300, 4), (420, 2)]);
    assert_eq!(seen.implausible, [(360, 0)]);
    // The in-only device is not stale-free yet, but the both-ways one gives n.
    // n: 0 +13-15 -> 0 (clamped), +5-2 = 3, +4-1 = 6, +2-1 = 7.
    assert_eq!(s.value(), Some(7));
}

#[test]
fn an_entry_counter_gives_visits_but_no_occupancy() {
    let (mut s, mut seen) = signal();
    let door = |t, inn, out| reading(1, t, Value::Door { inn, out });
    s.apply(&door(60, 5, 0), &mut seen);
    s.apply(&door(120, 8, 9), &mut seen); // its outs are ignored
    s.apply(&door(180, 11, 0), &mut seen); // 11 > 10 a minute: implausible
    s.apply(&door(780, 30, 0), &mut seen); // 30 in 10 minutes: plausible
    assert_eq!(seen.ins, [(60, 5), (120, 8), (780, 30)]);
    assert_eq!(seen.implausible, [(180, 1)]);
    // The both-ways door never reported: the doors do not give n.
    assert_eq!(s.value(), None);
}
