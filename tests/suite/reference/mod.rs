//! A reference implementation of METRICS.md version 2 (with the choices of
//! DESIGN.md and the project's v2 decisions), written plainly and apart from
//! the dataflow: it shares no code with the `stream` crate, nor the schedule
//! and calendar helpers of `devices` (only its data types).
//!
//! Version 2 in short: the site calendar (`cn` or `none`); `stale_after` =
//! min(3 x interval, max(15 min, interval + 5 min)); cumulative door counters
//! that wrap at their `rollover` or restart; implausible counts (more than
//! `max_per_minute` x the minutes since the device's previous `door` or
//! `door_total`, at least one) count 0 and move the baseline; in-only door
//! devices give visits but no occupancy; visits of count rooms without a door
//! device are `increments`; slot rows count door ins inside their opening time
//! only.
//!
//! Given the registry, every reading (in arrival order), `origin` and `until`,
//! [`room_windows`] computes the rows `stream::replay` should produce: hour,
//! day and slot-day windows of every room, sorted by `(kind, room, start)`.
//!
//! - [`local`]: local time, hours and days, the calendar, opening intervals;
//! - [`signal`]: n(t) of a room as constant pieces, door crossings, door residuals;
//! - this file: which windows exist and the sums of one window.

pub mod local;
pub mod signal;

use devices::{
    DeviceKind, Direction, Reading, Registry, Room, RoomIdx, RoomWindow, Sensors, VisitsMethod,
    WindowKind,
};
use local::Interval;
use signal::Signal;
use std::collections::HashSet;

/// Rows of every room from `origin` (Unix s, the earliest reading) to `until`
/// (Unix s), sorted by `(kind, room, start)`:
///
/// - an hour row for every local hour from the one containing `origin` that ends by `until`;
/// - a day row and its slot-day rows for every local day from the one
///   containing `origin` that ends by `until`, once `until` has reached the
///   door reset (`door_reset_hour`, local) of the next morning.
///
/// `readings` are in arrival order: a reading repeating the `(device, seq,
/// time_ms)` of an earlier one is a duplicate and dropped. Readings at or
/// after `until` do not matter.
pub fn room_windows(
    registry: &Registry,
    readings: &[Reading],
    origin: i64,
    until: i64,
    door_reset_hour: u32,
) -> Vec<RoomWindow> {
    assert!(
        readings.iter().all(|r| r.time_s() >= origin),
        "a reading before origin"
    );
    let mut seen = HashSet::new();
    let mut kept: Vec<&Reading> = readings
        .iter()
        .filter(|r| match r.seq {
            Some(seq) => seen.insert((r.device, seq, r.time_ms)),
            None => true,
        })
        .filter(|r| r.time_s() < until)
        .collect();
    // Stable: readings with equal keys keep their arrival order.
    kept.sort_by_key(|r| (r.time_ms, r.device, r.seq));

    let mut rows = Vec::new();
    for ix in 0..registry.rooms.len() {
        let room = RoomIdx(ix as u32);
        let mine: Vec<&Reading> = kept.iter().copied().filter(|r| r.room == room).collect();
        let signal = signal::room_signal(registry, room, &mine, origin, until, door_reset_hour);
        rows.extend(windows_of_room(
            registry,
            room,
            &signal,
            origin,
            until,
            door_reset_hour,
        ));
    }
    rows.sort_by_key(|w| (w.kind, w.room, w.start));
    rows
}

/// The kinds of device bound to `room`, worked out from the device list
/// itself rather than taken from the registry's own summary (`Room::sensors`).
pub fn sensors_of(registry: &Registry, room: RoomIdx) -> Sensors {
    let mut s = Sensors::default();
    for &d in &registry.room(room).devices {
        let d = registry.device(d);
        match d.kind {
            DeviceKind::Count => s.count = true,
            DeviceKind::Presence => s.presence = true,
            DeviceKind::Door => {
                s.door = true;
                s.door_both |= d.direction == Direction::Both;
            }
        }
    }
    s
}

/// Every closed window of one room.
fn windows_of_room(
    registry: &Registry,
    room: RoomIdx,
    signal: &Signal,
    origin: i64,
    until: i64,
    door_reset_hour: u32,
) -> Vec<RoomWindow> {
    let site = registry.site_of(room);
    let (tz, calendar) = (site.timezone, site.calendar);
    let r = registry.room(room);
    let sensors = sensors_of(registry, room);
    let mut rows = Vec::new();

    for (start, end) in local::local_hours(tz, origin, until) {
        let opens = local::openings_in(tz, calendar, r, start, end);
        rows.push(sum_window(
            r,
            sensors,
            room,
            signal,
            WindowKind::Hour,
            (start, end),
            &opens,
        ));
    }

    let mut date = local::date_of(tz, origin);
    loop {
        let next = date + chrono::Duration::days(1);
        let (start, end) = (local::midnight(tz, date), local::midnight(tz, next));
        let reset = local::at_hour(tz, next, door_reset_hour);
        if end > until || reset > until {
            break;
        }
        let opens = local::openings_in(tz, calendar, r, start, end);
        let mut day = sum_window(
            r,
            sensors,
            room,
            signal,
            WindowKind::Day,
            (start, end),
            &opens,
        );
        // Every door room has a residual: in-only door devices never move the
        // door n, so with no both-ways one it is 0.
        if sensors.door {
            let residual = signal.residuals.iter().find(|(at, _)| *at == reset);
            day.door_residual = Some(residual.expect("the reset after the day").1);
        }
        rows.push(day);

        let mut categories = Vec::new();
        for o in &opens {
            if !categories.contains(&o.category) {
                categories.push(o.category);
            }
        }
        for c in categories {
            let slot: Vec<Interval> = opens.iter().copied().filter(|o| o.category == c).collect();
            rows.push(sum_window(
                r,
                sensors,
                room,
                signal,
                WindowKind::SlotDay(c),
                (start, end),
                &slot,
            ));
        }
        date = next;
    }
    rows
}

/// The sums of one window `[start, end)` whose opening time O is `opens`
/// (separate intervals, clipped to the window).
///
/// Visits: door ins (door rooms), increments of n (count rooms without a door
/// device) or empty-to-occupied transitions (the rest: presence-only rooms).
///
/// Slot-day windows count door ins only inside their O and have no
/// after-hours time (null in the tables; 0 in a `RoomWindow`, whose field is
/// not optional). Capacity is `None` when n can only come from presence.
fn sum_window(
    r: &Room,
    sensors: Sensors,
    room: RoomIdx,
    signal: &Signal,
    kind: WindowKind,
    (start, end): (i64, i64),
    opens: &[Interval],
) -> RoomWindow {
    let slot = matches!(kind, WindowKind::SlotDay(_));
    let method = if sensors.door {
        VisitsMethod::Door
    } else if sensors.count {
        VisitsMethod::Increments
    } else {
        VisitsMethod::Transitions
    };
    let presence_only = sensors.presence && !sensors.count && !sensors.door_both;
    let mut row = RoomWindow {
        kind,
        room,
        start,
        end,
        open_seconds: 0,
        measured_seconds: 0,
        occupied_seconds: 0,
        person_seconds: 0,
        peak_occupancy: None,
        visits: 0,
        visits_method: method,
        longest_idle_seconds: 0,
        after_hours_occupied_seconds: 0,
        over_capacity_seconds: 0,
        capacity: (!presence_only).then_some(r.capacity),
        door_residual: None,
        revision: 0,
    };

    // Over M = O ∩ V, one opening interval at a time.
    for o in opens {
        row.open_seconds += (o.end - o.start) as u32;
        let mut idle_run = 0;
        for p in signal.pieces_in(o.start, o.end) {
            let len = (p.end - p.start) as u32;
            let Some(n) = p.n else {
                idle_run = 0;
                continue;
            };
            row.measured_seconds += len;
            row.person_seconds += u64::from(n) * u64::from(len);
            row.peak_occupancy = Some(row.peak_occupancy.map_or(n, |m| m.max(n)));
            if n >= 1 {
                row.occupied_seconds += len;
                idle_run = 0;
            } else {
                idle_run += len;
                row.longest_idle_seconds = row.longest_idle_seconds.max(idle_run);
            }
            if n > r.capacity {
                row.over_capacity_seconds += len;
            }
            // n is constant inside a piece, so it can only rise at p.start;
            // n(p.start - 1) may lie outside O, and an unknown one adds nothing.
            let before = signal.at(p.start - 1);
            match method {
                // An empty-to-occupied transition.
                VisitsMethod::Transitions if n >= 1 && before == Some(0) => row.visits += 1,
                // The rise of n.
                VisitsMethod::Increments => {
                    row.visits += before.map_or(0, |b| u64::from(n.saturating_sub(b)));
                }
                _ => {}
            }
        }
    }

    if method == VisitsMethod::Door {
        let counted = |t: i64| {
            if slot {
                opens.iter().any(|o| o.start <= t && t < o.end)
            } else {
                start <= t && t < end
            }
        };
        row.visits = signal
            .door_ins
            .iter()
            .filter(|(t, _)| counted(*t))
            .map(|(_, inn)| inn)
            .sum();
    }

    if !slot {
        // Occupied seconds of the whole window, less those inside O.
        let occupied_in_window: u32 = signal
            .pieces_in(start, end)
            .iter()
            .filter(|p| p.n.is_some_and(|n| n >= 1))
            .map(|p| (p.end - p.start) as u32)
            .sum();
        row.after_hours_occupied_seconds = occupied_in_window - row.occupied_seconds;
    }
    row
}
