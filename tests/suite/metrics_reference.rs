//! The dataflow (`stream::replay`) against a plain reference implementation
//! of METRICS.md version 2 (`tests/suite/reference`), on seeded random
//! scenarios: every device kind, door counter restarts, gaps, duplicates,
//! out-of-order and late readings, Chinese holidays and make-up working days,
//! sites with no holiday calendar (`calendar = "none"`), time-shared rooms,
//! and sites in timezones with odd offsets and with daylight saving. Version 2
//! cases: in-only door devices, counters that wrap at their `rollover`,
//! implausible counts (a `door_total` glitch to 0 and back, counter jumps, a
//! `door` message with a huge `in`, small `max_per_minute`), slow count
//! devices (reports every 30 or 60 minutes) and count rooms, whose visits are
//! increments.
//!
//! `DOORSTEP_PROP_CASES=N` sets the number of cases (default 1,000);
//! `DOORSTEP_PROP_SEED=S` runs the one case with seed `S` and prints it;
//! `DOORSTEP_PROP_STATS=1` prints one line per case (readings, rows per kind).
//! A failure names, per kind of row, how many cases differ and the first
//! difference: seed, both rows, the room and its readings around the window.

use crate::reference;
use chrono::{Duration, NaiveDate, NaiveDateTime};
use chrono_tz::Tz;
use devices::{
    Calendar, Category, DeviceKind, Direction, Reading, Registry, RoomIdx, RoomWindow, Status,
    Value, WindowKind,
};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use stream::StreamConfig;

/// Local hour of the daily door reset (the default of `StreamConfig`).
const DOOR_RESET_HOUR: u32 = 4;

/// Timezones of the generated sites: China's two, a +5:45 one, and two with daylight saving.
const ZONES: [&str; 5] = [
    "Asia/Shanghai",
    "Asia/Urumqi",
    "Asia/Kathmandu",
    "Europe/Berlin",
    "America/New_York",
];

/// Dates worth covering, with the timezone a site must have for them to matter.
const DATES: [(u32, u32, Option<&str>); 16] = [
    (1, 4, None),   // Sunday worked for New Year (make-up working day)
    (2, 14, None),  // Saturday worked for the Spring Festival
    (2, 16, None),  // Spring Festival holiday, a Monday
    (2, 28, None),  // Saturday worked after the Spring Festival
    (5, 1, None),   // Labour Day holiday
    (9, 20, None),  // Sunday worked for National Day
    (9, 25, None),  // Mid-Autumn holiday, Friday to Sunday
    (9, 27, None),  // Mid-Autumn holiday on a Sunday
    (10, 1, None),  // National Day holiday, to 10-07
    (10, 7, None),  // last day of it
    (10, 10, None), // Saturday worked for National Day
    (3, 29, Some("Europe/Berlin")),
    (10, 25, Some("Europe/Berlin")),
    (3, 8, Some("America/New_York")),
    (11, 1, Some("America/New_York")),
    (6, 19, None), // Dragon Boat holiday, a Friday
];

/// Weekday sets of the generated schedule lines.
const DAYS: [&str; 7] = [
    "daily",
    "daily",
    "mon-fri",
    "sat,sun",
    "mon,wed,fri",
    "tue-sat",
    "sun",
];

/// Report intervals of the generated devices (stale after 3, 6, 15, 15, 15
/// and 20 minutes: from 300 s to 600 s the 15-minute floor of v2 holds).
const INTERVALS: [u32; 6] = [60, 120, 300, 400, 600, 900];

/// Report intervals of slow count devices, as counter exports often are
/// (stale after 35 and 65 minutes).
const SLOW_INTERVALS: [u32; 2] = [1800, 3600];

/// Cumulative counters of the generated door devices that wrap.
const ROLLOVERS: [u64; 2] = [65_536, 1_000_000];

/// Small `max_per_minute` of some generated door devices (the default is 60).
const SMALL_MAX_PER_MINUTE: [u32; 3] = [2, 3, 5];

/// What the readings of a scenario may contain.
#[derive(Debug, Clone, Copy)]
struct Mix {
    /// Re-sent readings (same device, seq and time) later in arrival order.
    duplicates: bool,
    /// Backlogs that arrive later than the allowed lateness.
    too_late: bool,
}

/// One generated case.
struct Scenario {
    seed: u64,
    registry_toml: String,
    registry: Arc<Registry>,
    /// In arrival order; the first one is the earliest.
    readings: Vec<Reading>,
    origin: i64,
    until: i64,
    lateness: u32,
    workers: usize,
    batch: usize,
}

/// A device as the generator sees it.
struct GenDevice {
    kind: DeviceKind,
    room: RoomIdx,
    interval_s: u32,
    /// Door devices: counts entries only.
    in_only: bool,
    /// Door devices: where the cumulative counters wrap to 0.
    rollover: Option<u64>,
    /// Instants (Unix s) where a report is worth placing exactly: the room's
    /// door resets and the bounds of its opening intervals.
    special: Vec<i64>,
}

fn zone(name: &str) -> Tz {
    name.parse().expect("a known timezone")
}

fn local_to_utc(tz: Tz, t: NaiveDateTime) -> i64 {
    reference::local::to_utc(tz, t)
}

fn hhmm(quarter_hours: u32) -> String {
    format!("{:02}:{:02}", quarter_hours / 4, quarter_hours % 4 * 15)
}

/// A random time-shared weekly schedule: 1 to 3 non-overlapping openings with different categories.
fn schedule(rng: &mut StdRng) -> Vec<String> {
    let openings = rng.random_range(1..=3);
    // Mostly daytime hours; sometimes any time, to reach the daylight-saving gaps at night.
    let (lo, hi) = if rng.random_bool(0.7) {
        (24, 88)
    } else {
        (0, 96)
    };
    let mut cuts: Vec<u32> = (0..2 * openings)
        .map(|_| rng.random_range(lo..=hi))
        .collect();
    if rng.random_bool(0.25) {
        // Into the small hours, where clocks change (01:00-03:00).
        cuts[0] = rng.random_range(4..12);
    }
    cuts.sort_unstable();
    if cuts.len() >= 4 && rng.random_bool(0.3) {
        // Two openings that touch: the second starts when the first ends.
        cuts[2] = cuts[1];
    }
    if rng.random_bool(0.15) {
        // Open until midnight (24:00).
        *cuts.last_mut().expect("cuts") = 96;
    }
    let mut categories = Category::ALL.to_vec();
    categories.shuffle(rng);
    let mut lines = Vec::new();
    for (i, pair) in cuts.chunks(2).enumerate() {
        if pair[0] < pair[1] {
            lines.push(format!(
                "{} {}-{} {}",
                DAYS.choose(rng).expect("days"),
                hhmm(pair[0]),
                hhmm(pair[1]),
                categories[i].as_str()
            ));
        }
    }
    lines
}

/// Sometimes a per-date override near `date`: closed, or one special opening.
fn overrides(rng: &mut StdRng, date: NaiveDate) -> Vec<String> {
    if !rng.random_bool(0.2) {
        return Vec::new();
    }
    let day = date + Duration::days(rng.random_range(-1..=2));
    if rng.random_bool(0.4) {
        return vec![format!("{day} closed")];
    }
    let from = rng.random_range(0..95);
    let to = rng.random_range(from + 1..=96);
    let category = Category::ALL.choose(rng).expect("categories");
    vec![format!(
        "{day} {}-{} {}",
        hhmm(from),
        hhmm(to),
        category.as_str()
    )]
}

/// The registry of a scenario as TOML; `first_zone` forces the first site's
/// timezone; per-date overrides fall near `date`.
fn registry_toml(rng: &mut StdRng, first_zone: Option<&str>, date: NaiveDate) -> String {
    const KINDS: [&[&str]; 11] = [
        &["count"],
        &["count"],
        &["presence"],
        &["door", "count"],
        &["door"],
        &["door", "door"],
        &["count", "door"],
        &["door", "presence"],
        &["door", "door", "presence"],
        &["count", "presence"],
        &["count", "door", "presence"],
    ];
    let mut text = String::new();
    for s in 0..rng.random_range(1..=3) {
        let tz = match (s, first_zone) {
            (0, Some(z)) => z,
            _ => ZONES.choose(rng).expect("zones"),
        };
        // Some sites have no holiday calendar: holidays are plain weekdays there.
        let calendar = if rng.random_bool(0.3) {
            "calendar = \"none\"\n"
        } else {
            ""
        };
        writeln!(
            text,
            "[[site]]\nid = \"s{s}\"\nname = \"社区{s}\"\ntimezone = \"{tz}\"\n{calendar}"
        )
        .expect("write");
        let rooms = rng.random_range(1..=4);
        let mut devices = String::new();
        for r in 0..rooms {
            let quoted = |lines: Vec<String>| {
                let q: Vec<String> = lines.iter().map(|l| format!("{l:?}")).collect();
                q.join(", ")
            };
            writeln!(
                text,
                "[[site.room]]\nid = \"r{r}\"\nname = \"房间{r}\"\ncapacity = {}\narea_m2 = 50\nschedule = [{}]\noverrides = [{}]\nopen_on_holidays = {}\n",
                rng.random_range(1..=12),
                quoted(schedule(rng)),
                quoted(overrides(rng, date)),
                rng.random_bool(0.3)
            )
            .expect("write");
            for (d, kind) in KINDS.choose(rng).expect("kinds").iter().enumerate() {
                let interval = if *kind == "count" && rng.random_bool(0.25) {
                    SLOW_INTERVALS.choose(rng)
                } else {
                    INTERVALS.choose(rng)
                };
                let mut door = String::new();
                if *kind == "door" {
                    if rng.random_bool(0.25) {
                        door.push_str("direction = \"in\"\n");
                    }
                    if rng.random_bool(0.3) {
                        let r = ROLLOVERS.choose(rng).expect("rollovers");
                        writeln!(door, "rollover = {r}").expect("write");
                    }
                    if rng.random_bool(0.2) {
                        let m = SMALL_MAX_PER_MINUTE.choose(rng).expect("max_per_minute");
                        writeln!(door, "max_per_minute = {m}").expect("write");
                    }
                }
                writeln!(
                    devices,
                    "[[site.device]]\nid = \"s{s}-r{r}-d{d}\"\nroom = \"r{r}\"\nkind = \"{kind}\"\ninterval_s = {}\n{door}",
                    interval.expect("intervals")
                )
                .expect("write");
            }
        }
        text.push_str(&devices);
    }
    text
}

/// A room's true occupancy over time: `(from, people)` steps.
fn occupancy_steps(rng: &mut StdRng, capacity: u32, from: i64, until: i64) -> Vec<(i64, u32)> {
    let mut steps = Vec::new();
    let mut t = from;
    while t < until {
        let people = if rng.random_bool(0.4) {
            0
        } else {
            rng.random_range(1..=capacity + 2)
        };
        steps.push((t, people));
        t += rng.random_range(60..=1800);
    }
    steps
}

fn people_at(steps: &[(i64, u32)], t: i64) -> u32 {
    let i = steps.partition_point(|(at, _)| *at <= t);
    if i == 0 { 0 } else { steps[i - 1].1 }
}

/// The readings of one device from `start_ms` to `until_ms`, in event-time order.
fn device_readings(
    rng: &mut StdRng,
    index: u32,
    dev: &GenDevice,
    truth: &[(i64, u32)],
    start_ms: i64,
    until_ms: i64,
) -> Vec<Reading> {
    let mut out = Vec::new();
    let mut interval = dev.interval_s;
    let mut seq: Option<u64> = rng.random_bool(0.85).then(|| rng.random_range(0..1000));
    // Door devices send per-message crossings, cumulative counters, or both.
    let door_mode = rng.random_range(0..3);
    // Counters that wrap start near the wrap, so that they do wrap.
    let mut totals: (u64, u64) = match dev.rollover {
        Some(r) => (r - rng.random_range(1..=300), r - rng.random_range(1..=300)),
        None => (rng.random_range(0..5000), rng.random_range(0..5000)),
    };
    let wrap = |v: u64| dev.rollover.map_or(v, |r| v % r);
    // Some in-only devices report outs all the same (to be ignored).
    let outs = !dev.in_only || rng.random_bool(0.5);
    // The last door_total was a glitch to 0: the next one is the real counters again.
    let mut glitched = false;
    let mut t = start_ms + rng.random_range(0..i64::from(interval) * 1000);
    let mut push = |t: i64, seq: &mut Option<u64>, value: Value| {
        out.push(Reading {
            device: devices::DeviceIdx(index),
            room: dev.room,
            time_ms: t,
            received_ms: t,
            seq: *seq,
            clock_skew: false,
            value,
        });
        if let Some(s) = seq {
            *s += 1;
        }
    };
    while t < until_ms {
        if rng.random_bool(0.02) {
            // The device goes quiet for a while.
            t += rng.random_range(300_000..=7_200_000);
            continue;
        }
        let people = people_at(truth, t.div_euclid(1000));
        let value = match dev.kind {
            DeviceKind::Count => Value::Count(people),
            DeviceKind::Presence => Value::Presence(people > 0),
            DeviceKind::Door => {
                let cumulative = match door_mode {
                    0 => false,
                    1 => true,
                    _ => rng.random_bool(0.5),
                };
                let inn = rng.random_range(0..=3);
                let out = if outs { rng.random_range(0..=4) } else { 0 };
                if cumulative {
                    if rng.random_bool(0.03) {
                        // Restart: counters (and sequence numbers) begin again from zero.
                        totals = (0, 0);
                        seq = seq.map(|_| 0);
                    } else if rng.random_bool(0.02) {
                        // A counter jumps far beyond what the entrance can pass.
                        let jump = rng.random_range(1000..=50_000);
                        match rng.random_bool(0.5) {
                            true => totals.0 += jump,
                            false => totals.1 += jump,
                        }
                    }
                    totals = (wrap(totals.0 + inn), wrap(totals.1 + out));
                    if !glitched && rng.random_bool(0.02) {
                        // A glitch to 0; the next report is back at the real counters.
                        glitched = true;
                        Value::DoorTotal {
                            in_total: 0,
                            out_total: 0,
                        }
                    } else {
                        glitched = false;
                        Value::DoorTotal {
                            in_total: totals.0,
                            out_total: totals.1,
                        }
                    }
                } else {
                    // Now and then a message with a huge `in` (a swapped or corrupted count).
                    let inn = match rng.random_bool(0.01) {
                        true => rng.random_range(500..=20_000),
                        false => inn,
                    };
                    Value::Door {
                        inn: inn as u32,
                        out: out as u32,
                    }
                }
            }
        };
        push(t, &mut seq, value);
        let mut after = t;
        let step = i64::from(interval) * 1000;
        if rng.random_bool(0.05) {
            // A heartbeat between two reports, sometimes with a new report interval.
            let at = t + rng.random_range(1..step / 2);
            let new = rng.random_bool(0.6).then(|| {
                let slow = dev.kind == DeviceKind::Count && rng.random_bool(0.2);
                let intervals: &[u32] = if slow { &SLOW_INTERVALS } else { &INTERVALS };
                *intervals.choose(rng).expect("intervals")
            });
            if at < until_ms {
                push(
                    at,
                    &mut seq,
                    Value::Status(Status {
                        battery_pct: Some(80),
                        interval_s: new,
                        ..Status::default()
                    }),
                );
                interval = new.unwrap_or(interval);
                after = at;
            }
        }
        let step = i64::from(interval) * 1000;
        let mut next = t + step + rng.random_range(-step / 10..=step / 10);
        // Sometimes the next report falls in the very second of a reset or an opening bound.
        let s = dev.special.partition_point(|s| *s * 1000 <= t);
        if let Some(&at) = dev.special.get(s)
            && at * 1000 < next
            && rng.random_bool(0.3)
        {
            next = at * 1000 + rng.random_range(0..1000);
        }
        t = next.max(after + 1);
    }
    out
}

impl Scenario {
    fn generate(seed: u64, mix: Mix) -> Scenario {
        let mut rng = StdRng::seed_from_u64(seed);

        // When: an interesting date (holidays, make-up days, daylight-saving
        // switches) or any date of 2026 that the calendar covers.
        let (date, forced) = if rng.random_bool(0.6) {
            let (m, d, z) = *DATES.choose(&mut rng).expect("dates");
            (NaiveDate::from_ymd_opt(2026, m, d).expect("date"), z)
        } else {
            let day = rng.random_range(2..=340);
            (
                NaiveDate::from_yo_opt(2026, day).expect("date"),
                None::<&str>,
            )
        };
        let registry_toml = registry_toml(&mut rng, forced, date);
        let registry = Arc::new(
            Registry::from_toml(&registry_toml, Path::new("generated.toml"))
                .expect("generated registry"),
        );
        let tz = registry.sites[0].timezone;
        let midnight = local_to_utc(tz, date.and_hms_opt(0, 0, 0).expect("midnight"));
        let start = midnight + rng.random_range(-20 * 3600..=12 * 3600);
        let hours = if rng.random_bool(0.1) {
            rng.random_range(30..=72)
        } else {
            rng.random_range(6..=30)
        };
        let end = start + hours * 3600 + rng.random_range(0..3600);
        let lateness = *[30u32, 120, 120, 300].choose(&mut rng).expect("lateness");

        // What every device said, in event time.
        let truths: Vec<Vec<(i64, u32)>> = registry
            .rooms
            .iter()
            .map(|r| occupancy_steps(&mut rng, r.capacity, start, end))
            .collect();
        let mut readings = Vec::new();
        for (i, d) in registry.devices.iter().enumerate() {
            let room_tz = registry.site_of(d.room).timezone;
            let calendar = registry.site_of(d.room).calendar;
            let mut special: Vec<i64> =
                reference::local::openings_in(room_tz, calendar, registry.room(d.room), start, end)
                    .iter()
                    .flat_map(|o| [o.start, o.end])
                    .collect();
            let mut day = reference::local::date_of(room_tz, start);
            while day <= reference::local::date_of(room_tz, end) {
                special.push(reference::local::at_hour(room_tz, day, DOOR_RESET_HOUR));
                day += Duration::days(1);
            }
            special.sort_unstable();
            let dev = GenDevice {
                kind: d.kind,
                room: d.room,
                interval_s: d.interval_s,
                in_only: d.direction == Direction::In,
                rollover: d.rollover,
                special,
            };
            readings.extend(device_readings(
                &mut rng,
                i as u32,
                &dev,
                &truths[d.room.ix()],
                start * 1000,
                end * 1000,
            ));
        }
        if readings.is_empty() {
            readings.push(Reading {
                device: devices::DeviceIdx(0),
                room: registry.devices[0].room,
                time_ms: start * 1000,
                received_ms: start * 1000,
                seq: None,
                clock_skew: false,
                value: Value::Status(Status::default()),
            });
        }

        // In what order it arrives: each reading up to `lateness` behind
        // (so never behind the watermark), a few re-sent, and with `too_late`
        // some devices flushing a backlog long after.
        let max_delay = i64::from(lateness) * 1000;
        let mut backlog = Vec::new();
        if mix.too_late {
            for _ in 0..rng.random_range(1..=3) {
                let device = rng.random_range(0..registry.devices.len()) as u32;
                let from = rng.random_range(start..end) * 1000;
                let to = from + rng.random_range(600..=5400) * 1000;
                backlog.push((device, from, to));
            }
        }
        let mut arrivals: Vec<(i64, Reading)> = Vec::new();
        for r in readings {
            let delay = if rng.random_bool(0.3) {
                rng.random_range(0..=max_delay)
            } else {
                rng.random_range(0..=max_delay.min(1000))
            };
            let mut arrive = r.time_ms + delay;
            if let Some((_, _, to)) = backlog
                .iter()
                .find(|(d, from, to)| r.device.0 == *d && (*from..*to).contains(&r.time_ms))
            {
                arrive = to + max_delay + rng.random_range(2000..=1_800_000);
            }
            if mix.duplicates && rng.random_bool(0.03) {
                let again = arrive + rng.random_range(0..=(r.time_ms + max_delay - arrive).max(0));
                arrivals.push((again, r.clone()));
            }
            arrivals.push((arrive, r));
        }
        arrivals.sort_by_key(|(at, _)| *at);
        let mut readings: Vec<Reading> = arrivals
            .into_iter()
            .map(|(at, r)| Reading {
                received_ms: at,
                ..r
            })
            .collect();
        // The earliest reading comes first: it fixes the origin.
        let first = (0..readings.len())
            .min_by_key(|&i| readings[i].time_ms)
            .expect("readings");
        let earliest = readings.remove(first);
        let origin = earliest.time_s();
        readings.insert(0, earliest);

        // Mostly one worker; several workers cost a round of coordination per
        // batch, so they get the larger batches.
        let workers = *[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 4]
            .choose(&mut rng)
            .expect("workers");
        let batch = if workers == 1 {
            rng.random_range(1..=50)
        } else {
            rng.random_range(20..=50)
        };
        Scenario {
            seed,
            registry_toml,
            registry,
            readings,
            origin,
            until: end,
            lateness,
            workers,
            batch,
        }
    }

    /// The rows the reference computes.
    fn reference(&self) -> Vec<RoomWindow> {
        reference::room_windows(
            &self.registry,
            &self.readings,
            self.origin,
            self.until,
            DOOR_RESET_HOUR,
        )
    }

    /// The rows the dataflow computes.
    fn replay(&self) -> Vec<RoomWindow> {
        let config = StreamConfig {
            workers: self.workers,
            allowed_lateness_s: self.lateness,
            door_reset_hour: DOOR_RESET_HOUR,
            ..StreamConfig::default()
        };
        stream::replay(
            Arc::clone(&self.registry),
            &config,
            self.readings.clone(),
            self.batch,
            self.until,
        )
        .expect("replay")
        .windows
    }

    /// One line about the case.
    fn summary(&self) -> String {
        let zones: Vec<String> = self
            .registry
            .sites
            .iter()
            .map(|s| s.timezone.to_string())
            .collect();
        format!(
            "seed {}: {} readings from {} to {} UTC ({} s), zones {zones:?}, lateness {} s, {} workers, batches of {}",
            self.seed,
            self.readings.len(),
            utc(self.origin),
            utc(self.until),
            self.until - self.origin,
            self.lateness,
            self.workers,
            self.batch
        )
    }

    /// The readings of `room` (or of all rooms) in `[from, to)` in the order they apply, one a line.
    fn readings_of(&self, room: Option<RoomIdx>, from: i64, to: i64) -> String {
        let mut rs: Vec<&Reading> = self
            .readings
            .iter()
            .filter(|r| room.is_none_or(|x| r.room == x) && (from..to).contains(&r.time_s()))
            .collect();
        rs.sort_by_key(|r| r.order_key());
        rs.iter()
            .map(|r| {
                format!(
                    "  {} ({}) room {} dev {} seq {:?} {:?} arrived {}\n",
                    utc(r.time_s()),
                    r.time_ms,
                    r.room.0,
                    self.registry.device(r.device).id,
                    r.seq,
                    r.value,
                    utc(r.received_ms.div_euclid(1000))
                )
            })
            .collect()
    }
}

fn utc(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// The groups of rows compared separately: hour, day and slot-day windows.
const GROUPS: [&str; 3] = ["hour", "day", "slot_day"];

fn group(kind: WindowKind) -> &'static str {
    match kind {
        WindowKind::Hour => "hour",
        WindowKind::Day => "day",
        WindowKind::SlotDay(_) => "slot_day",
    }
}

/// `field: reference x, dataflow y` for every field in which two rows differ.
fn differing_fields(a: &RoomWindow, b: &RoomWindow) -> Vec<String> {
    let mut out = Vec::new();
    macro_rules! compare {
        ($($field:ident),*) => {
            $(
                if a.$field != b.$field {
                    out.push(format!(
                        "{}: reference {:?}, dataflow {:?}",
                        stringify!($field),
                        a.$field,
                        b.$field
                    ));
                }
            )*
        };
    }
    compare!(
        open_seconds,
        measured_seconds,
        occupied_seconds,
        person_seconds,
        peak_occupancy,
        visits,
        visits_method,
        longest_idle_seconds,
        after_hours_occupied_seconds,
        over_capacity_seconds,
        capacity,
        door_residual,
        revision
    );
    out
}

/// Counts, into `tally`, the rows of two sorted tables that differ per field
/// (`only in the reference` and `only in the dataflow` for rows with no match).
fn tally_fields(want: &[RoomWindow], got: &[RoomWindow], tally: &mut BTreeMap<String, usize>) {
    let key = |w: &RoomWindow| (w.kind, w.room, w.start);
    let (mut i, mut j) = (0, 0);
    let mut count = |name: &str| *tally.entry(name.to_string()).or_default() += 1;
    while i < want.len() || j < got.len() {
        match (want.get(i), got.get(j)) {
            (Some(a), Some(b)) if key(a) == key(b) => {
                for d in differing_fields(a, b) {
                    count(d.split(':').next().unwrap_or_default());
                }
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if key(a) < key(b) => {
                count("only in the reference");
                i += 1;
            }
            (Some(_), None) => {
                count("only in the reference");
                i += 1;
            }
            _ => {
                count("only in the dataflow");
                j += 1;
            }
        }
    }
}

/// The first row in which two sorted tables differ, described, or `None` when equal.
fn first_difference(sc: &Scenario, want: &[RoomWindow], got: &[RoomWindow]) -> Option<String> {
    if want == got {
        return None;
    }
    let key = |w: &RoomWindow| (w.kind, w.room, w.start);
    let (mut i, mut j) = (0, 0);
    loop {
        let (a, b) = (want.get(i), got.get(j));
        let row = match (a, b) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                j += 1;
                continue;
            }
            (Some(a), Some(b)) if key(a) == key(b) => {
                let tz = sc.registry.site_of(a.room).timezone;
                let mut text = format!(
                    "{:?} of room {} from {} local: {}\nreference: {a:?}\ndataflow:  {b:?}\n",
                    a.kind,
                    a.room.0,
                    reference::local::local_time(tz, a.start),
                    differing_fields(a, b).join(", ")
                );
                // What a hand analysis needs: the room and its readings around the window.
                let room = sc.registry.room(a.room);
                writeln!(
                    text,
                    "room {} (site {}, {}, calendar {:?}), capacity {}, schedule {:?}, open on holidays {}, sensors {:?}",
                    room.id,
                    sc.registry.site_of(a.room).id,
                    sc.registry.site_of(a.room).timezone,
                    sc.registry.site_of(a.room).calendar,
                    room.capacity,
                    room.schedule.openings,
                    room.schedule.open_on_holidays,
                    room.sensors
                )
                .expect("write");
                for &d in &room.devices {
                    let d = sc.registry.device(d);
                    writeln!(
                        text,
                        "  device {}: {:?}, every {} s, {:?}, rollover {:?}, max {} a minute",
                        d.id, d.kind, d.interval_s, d.direction, d.rollover, d.max_per_minute
                    )
                    .expect("write");
                }
                let readings = sc.readings_of(Some(a.room), a.start - 900, a.end);
                let lines: Vec<&str> = readings.lines().collect();
                if lines.len() > 80 {
                    writeln!(text, "  ({} readings, the first 80:)", lines.len()).expect("write");
                }
                for line in lines.iter().take(80) {
                    writeln!(text, "{line}").expect("write");
                }
                return Some(text);
            }
            (Some(a), Some(b)) if key(a) < key(b) => format!("only in the reference: {a:?}"),
            (Some(a), None) => format!("only in the reference: {a:?}"),
            (_, Some(b)) => format!("only in the dataflow: {b:?}"),
            (None, None) => return None,
        };
        return Some(format!(
            "{row}\n({} rows in the reference, {} in the dataflow)",
            want.len(),
            got.len()
        ));
    }
}

/// The latest revision of every window, with its revision number cleared
/// (the reference knows every reading from the start).
fn latest(rows: Vec<RoomWindow>) -> Vec<RoomWindow> {
    let mut by_key: BTreeMap<(WindowKind, RoomIdx, i64), RoomWindow> = BTreeMap::new();
    for row in rows {
        let key = (row.kind, row.room, row.start);
        if by_key.get(&key).is_none_or(|r| r.revision <= row.revision) {
            by_key.insert(key, row);
        }
    }
    by_key
        .into_values()
        .map(|r| RoomWindow { revision: 0, ..r })
        .collect()
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Runs cases `seeds` with readings of `mix`; panics with the first difference of each group.
fn compare_cases(seeds: impl Iterator<Item = u64>, mix: Mix) {
    let single = env_number("DOORSTEP_PROP_SEED");
    let seeds: Vec<u64> = match single {
        Some(s) => vec![s],
        None => seeds.collect(),
    };
    let mut failed: BTreeMap<&str, (usize, String)> = BTreeMap::new();
    // Per group, in how many rows each field differs (over all cases).
    let mut fields: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    for &seed in &seeds {
        let sc = Scenario::generate(seed, mix);
        if single.is_some() {
            eprintln!(
                "{}\n{}\n{}",
                sc.summary(),
                sc.registry_toml,
                sc.readings_of(None, i64::MIN, i64::MAX)
            );
        }
        let want = sc.reference();
        let got = match mix.too_late {
            true => latest(sc.replay()),
            false => sc.replay(),
        };
        if std::env::var_os("DOORSTEP_PROP_STATS").is_some() {
            let n = |g| want.iter().filter(|w| group(w.kind) == g).count();
            eprintln!(
                "{} | rows {} {} {}",
                sc.summary(),
                n("hour"),
                n("day"),
                n("slot_day")
            );
        }
        for g in GROUPS {
            let pick = |rows: &[RoomWindow]| -> Vec<RoomWindow> {
                rows.iter()
                    .filter(|w| group(w.kind) == g)
                    .cloned()
                    .collect()
            };
            let (want, got) = (pick(&want), pick(&got));
            if let Some(diff) = first_difference(&sc, &want, &got) {
                tally_fields(&want, &got, fields.entry(g).or_default());
                let entry = failed.entry(g).or_insert((0, String::new()));
                if entry.0 == 0 {
                    entry.1 = format!("{}\n{diff}\nregistry:\n{}", sc.summary(), sc.registry_toml);
                }
                entry.0 += 1;
            }
        }
    }
    if failed.is_empty() {
        return;
    }
    let mut report = String::new();
    for g in GROUPS {
        let n = failed.get(g).map_or(0, |f| f.0);
        let tally: Vec<String> = fields
            .get(g)
            .into_iter()
            .flatten()
            .map(|(field, rows)| format!("{field} {rows}"))
            .collect();
        writeln!(
            report,
            "{g} rows: {n} of {} cases differ; rows per differing field: {}",
            seeds.len(),
            tally.join(", ")
        )
        .expect("write");
    }
    for (g, (_, first)) in &failed {
        writeln!(report, "\nfirst difference in {g} rows, {first}").expect("write");
    }
    panic!("the dataflow and the reference disagree\n{report}");
}

fn cases() -> u64 {
    env_number("DOORSTEP_PROP_CASES").unwrap_or(1000)
}

/// Readings at most the allowed lateness late, duplicates included: the
/// dataflow's tables equal the reference's.
#[test]
fn dataflow_equals_reference() {
    // A minute or more of one core.
    let _turn = crate::common::busy();
    compare_cases(
        0..cases(),
        Mix {
            duplicates: true,
            too_late: false,
        },
    );
}

/// Backlogs later than the allowed lateness are corrected into their windows:
/// the latest rows equal the reference over all readings.
#[test]
fn late_readings_are_corrected() {
    // A minute or more of one core.
    let _turn = crate::common::busy();
    compare_cases(
        (0..cases()).map(|c| 1_000_000 + c),
        Mix {
            duplicates: true,
            too_late: true,
        },
    );
}

/// Days of 2026 and timezones the reference must get right by itself, in
/// both calendars.
#[test]
fn reference_local_time() {
    use chrono::Weekday::{Mon, Sat, Thu};
    use reference::local;
    let berlin = zone("Europe/Berlin");
    let d = |m, d| NaiveDate::from_ymd_opt(2026, m, d).expect("date");
    // Spring forward in Berlin: 02:30 does not exist and moves to 03:00 CEST (01:00 UTC).
    let t = local::to_utc(berlin, d(3, 29).and_hms_opt(2, 30, 0).expect("time"));
    assert_eq!(utc(t), "2026-03-29 01:00:00");
    // Fall back: 02:30 happens twice; the first is 00:30 UTC (CEST).
    let t = local::to_utc(berlin, d(10, 25).and_hms_opt(2, 30, 0).expect("time"));
    assert_eq!(utc(t), "2026-10-25 00:30:00");
    // That day has 25 local hours, the spring one 23.
    let day = |date: NaiveDate| {
        let from = local::midnight(berlin, date);
        local::local_hours(
            berlin,
            from,
            local::midnight(berlin, date + Duration::days(1)),
        )
        .len()
    };
    assert_eq!((day(d(10, 25)), day(d(3, 29)), day(d(3, 30))), (25, 23, 24));
    // Kathmandu hours start at a quarter past the UTC hour.
    let ktm = local::local_hours(zone("Asia/Kathmandu"), 1_795_396_500, 1_795_396_500 + 7200);
    assert_eq!(ktm[0].0 % 3600, 15 * 60);
    // The Chinese calendar: holiday, make-up Saturday (Monday hours), plain Saturday.
    let cn = |date, on_holidays| local::hours_weekday(Calendar::Cn, date, on_holidays);
    assert_eq!(cn(d(10, 1), false), None);
    assert_eq!(cn(d(10, 1), true), Some(Thu));
    assert_eq!(cn(d(10, 10), false), Some(Mon));
    assert_eq!(cn(d(10, 17), false), Some(Sat));
    // No calendar: National Day is a plain Thursday, open on holidays or not;
    // the make-up Saturday is a plain Saturday.
    let none = |date, on_holidays| local::hours_weekday(Calendar::None, date, on_holidays);
    assert_eq!(none(d(10, 1), false), Some(Thu));
    assert_eq!(none(d(10, 1), true), Some(Thu));
    assert_eq!(none(d(10, 10), false), Some(Sat));
    assert_eq!(none(d(2, 16), false), Some(chrono::Weekday::Mon));

    // The same room in a site of each calendar on 2026-10-01 and 2026-10-10.
    let registry = Registry::from_toml(
        r#"
[[site]]
id = "plain"
name = "无假日社区"
calendar = "none"
[[site.room]]
id = "r"
name = "房间"
capacity = 5
area_m2 = 20
schedule = ["mon-fri 09:00-11:00 culture", "sat 14:00-15:00 fitness"]
[[site]]
id = "china"
name = "社区"
[[site.room]]
id = "r"
name = "房间"
capacity = 5
area_m2 = 20
schedule = ["mon-fri 09:00-11:00 culture", "sat 14:00-15:00 fitness"]
"#,
        Path::new("t.toml"),
    )
    .expect("registry");
    let shanghai = zone("Asia/Shanghai");
    let opens = |room: usize, date: NaiveDate| -> Vec<(String, Category)> {
        let site = registry.site_of(RoomIdx(room as u32));
        local::openings_on(shanghai, site.calendar, &registry.rooms[room], date)
            .iter()
            .map(|i| (utc(i.start), i.category))
            .collect()
    };
    assert_eq!(registry.sites[0].calendar, Calendar::None);
    // National Day: open 09:00-11:00 (01:00 UTC) as a plain Thursday, closed in China.
    assert_eq!(
        opens(0, d(10, 1)),
        [("2026-10-01 01:00:00".to_string(), Category::Culture)]
    );
    assert_eq!(opens(1, d(10, 1)), []);
    // Saturday 10-10: Saturday hours, or Monday's for the make-up working day.
    assert_eq!(
        opens(0, d(10, 10)),
        [("2026-10-10 06:00:00".to_string(), Category::Fitness)]
    );
    assert_eq!(
        opens(1, d(10, 10)),
        [("2026-10-10 01:00:00".to_string(), Category::Culture)]
    );
}

/// How long a report stays valid under v2: min(3 x interval, max(15 min,
/// interval + 5 min)), with the examples of METRICS.md.
#[test]
fn reference_stale_after() {
    let stale = [60, 120, 300, 400, 600, 900, 1800, 3600].map(reference::signal::stale);
    assert_eq!(stale, [180, 360, 900, 900, 900, 1200, 2100, 3900]);
}

/// A row of `kind` for `room` on `[start, end)` with nothing in it yet.
fn empty_row(kind: WindowKind, room: u32, start: i64, end: i64) -> RoomWindow {
    RoomWindow {
        kind,
        room: RoomIdx(room),
        start,
        end,
        open_seconds: 0,
        measured_seconds: 0,
        occupied_seconds: 0,
        person_seconds: 0,
        peak_occupancy: None,
        visits: 0,
        visits_method: devices::VisitsMethod::Transitions,
        longest_idle_seconds: 0,
        after_hours_occupied_seconds: 0,
        over_capacity_seconds: 0,
        capacity: None,
        door_residual: None,
        revision: 0,
    }
}

/// A scenario worked out by hand: the registry, the readings in arrival
/// order, `until`, and the rows expected: every day and slot-day row, and the
/// hour rows that start before `hours_before`.
struct ByHand {
    registry: Arc<Registry>,
    readings: Vec<Reading>,
    until: i64,
    want: Vec<RoomWindow>,
    hours_before: i64,
}

/// `sums` in the frame of `row`: the window, its opening time, after-hours
/// time and door residual from `row`, every other sum from `sums`.
fn like(sums: &RoomWindow, row: RoomWindow) -> RoomWindow {
    RoomWindow {
        kind: row.kind,
        room: row.room,
        start: row.start,
        end: row.end,
        open_seconds: row.open_seconds,
        after_hours_occupied_seconds: row.after_hours_occupied_seconds,
        door_residual: row.door_residual,
        ..sums.clone()
    }
}

impl ByHand {
    fn check(&self, got: Vec<RoomWindow>) {
        let got: Vec<RoomWindow> = got
            .into_iter()
            .filter(|w| w.kind != WindowKind::Hour || w.start < self.hours_before)
            .collect();
        let mut want = self.want.clone();
        want.sort_by_key(|w| (w.kind, w.room, w.start));
        assert_eq!(got.len(), want.len(), "rows: {got:#?}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "room {} {:?} from {}", w.room.0, w.kind, utc(w.start));
        }
    }

    fn reference(&self) {
        let origin = self
            .readings
            .iter()
            .map(Reading::time_s)
            .min()
            .expect("readings");
        self.check(reference::room_windows(
            &self.registry,
            &self.readings,
            origin,
            self.until,
            DOOR_RESET_HOUR,
        ));
    }

    fn dataflow(&self) {
        let config = StreamConfig {
            door_reset_hour: DOOR_RESET_HOUR,
            ..StreamConfig::default()
        };
        let replayed = stream::replay(
            Arc::clone(&self.registry),
            &config,
            self.readings.clone(),
            3,
            self.until,
        )
        .expect("replay")
        .windows;
        self.check(replayed);
    }
}

/// The reference on the scenario of [`by_hand`].
#[test]
fn reference_worked_by_hand() {
    by_hand().reference();
}

/// The dataflow on the scenario of [`by_hand`].
#[test]
fn dataflow_worked_by_hand() {
    by_hand().dataflow();
}

/// The reference on the version-2 scenario of [`by_hand_v2`].
#[test]
fn reference_worked_by_hand_v2() {
    by_hand_v2().reference();
}

/// The dataflow on the version-2 scenario of [`by_hand_v2`].
#[test]
fn dataflow_worked_by_hand_v2() {
    by_hand_v2().dataflow();
}

/// A two-hour scenario worked out by hand.
///
/// Monday 2026-11-23 in Shanghai, 09:00 to 11:00, three rooms:
/// - `hall`, a count device (60 s, stale after 180 s), capacity 2, open
///   09:00-09:30 (elderly care) and 09:30-10:30 (culture), two openings that
///   touch; a count room, so its visits are increments;
/// - `gym`, two door devices (60 s), capacity 3, open 10:00-11:00;
/// - `nook`, a presence device (300 s, stale after 900 s), capacity 4, open 09:00-10:00.
fn by_hand() -> ByHand {
    use devices::{DeviceIdx, VisitsMethod};
    const REGISTRY: &str = r#"
[[site]]
id = "s1"
name = "测试社区"
[[site.room]]
id = "hall"
name = "活动室"
capacity = 2
area_m2 = 60
schedule = ["mon-fri 09:00-09:30 elderly_care", "mon-fri 09:30-10:30 culture"]
[[site.room]]
id = "gym"
name = "健身房"
capacity = 3
area_m2 = 80
schedule = ["daily 10:00-11:00 fitness"]
[[site.room]]
id = "nook"
name = "儿童角"
capacity = 4
area_m2 = 20
schedule = ["daily 09:00-10:00 children_play"]
[[site.device]]
id = "hall-count"
room = "hall"
kind = "count"
[[site.device]]
id = "gym-door-1"
room = "gym"
kind = "door"
[[site.device]]
id = "gym-door-2"
room = "gym"
kind = "door"
[[site.device]]
id = "nook-presence"
room = "nook"
kind = "presence"
interval_s = 300
"#;
    let registry = Arc::new(Registry::from_toml(REGISTRY, Path::new("t.toml")).expect("registry"));
    let nine = local_to_utc(
        zone("Asia/Shanghai"),
        NaiveDate::from_ymd_opt(2026, 11, 23)
            .and_then(|d| d.and_hms_opt(9, 0, 0))
            .expect("time"),
    );
    assert_eq!(nine, 1_795_395_600);
    // Readings at 09:00 + `min` minutes, with sequence numbers in arrival order.
    let mut seq = 0;
    let mut reading = |device: u32, min: i64, value: Value| {
        seq += 1;
        let room = match device {
            0 => 0,
            1 | 2 => 1,
            _ => 2,
        };
        Reading {
            device: DeviceIdx(device),
            room: RoomIdx(room),
            time_ms: (nine + min * 60) * 1000,
            received_ms: (nine + min * 60) * 1000,
            seq: Some(seq),
            clock_skew: false,
            value,
        }
    };
    let total = |i, o| Value::DoorTotal {
        in_total: i,
        out_total: o,
    };
    let door = |inn, out| Value::Door { inn, out };
    let status = |interval_s| {
        Value::Status(Status {
            interval_s,
            ..Status::default()
        })
    };
    let mut readings = Vec::new();
    // hall: n = 0 [09:00, 09:04), 3 [09:04, 09:08), 0 [09:08, 09:11), unknown
    // [09:11, 09:20), 1 [09:20, 09:24), 0 [09:24, 09:35), unknown [09:35, 10:10),
    // 2 [10:10, 10:15), unknown [10:15, 10:40), 1 [10:40, 10:43), unknown after.
    for (min, n) in [
        (0, 0),
        (2, 0),
        (4, 3),
        (6, 3),
        (8, 0),
        (20, 1),
        (22, 1),
        (24, 0),
        (26, 0),
        (28, 0),
        (30, 0),
        (32, 0),
        (70, 2),
        (72, 2),
        (100, 1),
    ] {
        readings.push(reading(0, min, Value::Count(n)));
    }
    // gym: door 1 reports at 09:50 (2 in), then a status at 09:52 raises its
    // interval to 600 s (stale after 900 s: fresh to 10:07); door 2 sends
    // cumulative counters every 2 minutes from 09:51 (fresh to 10:10), with a
    // restart at 09:59. Known while both are fresh: [09:51, 10:07) and [10:09, 10:10).
    readings.push(reading(1, 50, door(2, 0))); // n 2
    readings.push(reading(2, 51, total(100, 90))); // baseline: n 2
    readings.push(reading(1, 52, status(Some(600))));
    readings.push(reading(2, 53, total(101, 90))); // +1 in: n 3
    readings.push(reading(2, 55, total(101, 92))); // +2 out: n 1
    readings.push(reading(2, 57, total(101, 92))); // n 1
    readings.push(reading(2, 59, total(3, 1))); // restart: +3 in, +1 out: n 3
    readings.push(reading(2, 61, total(4, 1))); // +1 in: n 4
    readings.push(reading(2, 63, total(4, 4))); // +3 out: n 1
    readings.push(reading(2, 65, total(4, 6))); // +2 out: n max(0, -1) = 0
    readings.push(reading(2, 67, status(None))); // a report: door 2 fresh to 10:10
    let late_in = reading(1, 69, door(1, 0)); // n 1
    readings.push(late_in.clone());
    // nook: 1 [09:10, 09:20), 0 [09:20, 09:30), 1 [09:30, 09:45), unknown
    // [09:45, 09:58), 1 [09:58, 10:13), unknown after.
    for (min, p) in [(10, true), (20, false), (30, true), (58, true)] {
        readings.push(reading(3, min, Value::Presence(p)));
    }
    readings.sort_by_key(|r| r.time_ms);
    // Door 1's 10:09 message is delivered again a minute later: applied once.
    readings.push(late_in);

    let row = |room: u32, hour: i64| {
        let start = nine + hour * 3600;
        empty_row(WindowKind::Hour, room, start, start + 3600)
    };
    let want = vec![
        // hall 09:00-10:00, all open (two openings). M = [09:00, 09:11) + [09:20, 09:35).
        RoomWindow {
            open_seconds: 3600,
            measured_seconds: 660 + 900,
            occupied_seconds: 240 + 240,
            person_seconds: 3 * 240 + 240,
            peak_occupancy: Some(3),
            // Increments: 0 -> 3 at 09:04; 1 at 09:20 after an unknown
            // stretch adds nothing (nor does 2 at 10:10 in the next hour).
            visits: 3,
            visits_method: VisitsMethod::Increments,
            // 0 on [09:24, 09:35), but the openings touch at 09:30: 360 + 300, not 660.
            longest_idle_seconds: 360,
            // n = 3 > capacity 2 for 240 s.
            over_capacity_seconds: 240,
            capacity: Some(2),
            ..row(0, 0)
        },
        // hall 10:00-11:00: open until 10:30; 2 on [10:10, 10:15) after unknown;
        // 1 on [10:40, 10:43) after hours.
        RoomWindow {
            open_seconds: 1800,
            measured_seconds: 300,
            occupied_seconds: 300,
            person_seconds: 600,
            peak_occupancy: Some(2),
            visits_method: VisitsMethod::Increments,
            after_hours_occupied_seconds: 180,
            capacity: Some(2),
            ..row(0, 1)
        },
        // gym 09:00-10:00: closed. Ins 2 + 0 (baseline) + 1 + 3 (after the
        // restart); n >= 1 on all of [09:51, 10:00), after hours.
        RoomWindow {
            visits: 6,
            visits_method: VisitsMethod::Door,
            after_hours_occupied_seconds: 540,
            capacity: Some(3),
            ..row(1, 0)
        },
        // gym 10:00-11:00: n 3 [10:00, 10:01), 4 [10:01, 10:03), 1 [10:03, 10:05),
        // 0 [10:05, 10:07), unknown [10:07, 10:09), 1 [10:09, 10:10).
        RoomWindow {
            open_seconds: 3600,
            measured_seconds: 420 + 60,
            occupied_seconds: 300 + 60,
            person_seconds: 3 * 60 + 4 * 120 + 120 + 60,
            peak_occupancy: Some(4),
            // 1 in at 10:01 and 1 at 10:09 (its redelivery dropped).
            visits: 2,
            visits_method: VisitsMethod::Door,
            longest_idle_seconds: 120,
            over_capacity_seconds: 120,
            capacity: Some(3),
            ..row(1, 1)
        },
        // nook 09:00-10:00: M = [09:10, 09:45) + [09:58, 10:00); presence only.
        RoomWindow {
            open_seconds: 3600,
            measured_seconds: 600 + 600 + 900 + 120,
            occupied_seconds: 600 + 900 + 120,
            person_seconds: 600 + 900 + 120,
            peak_occupancy: Some(1),
            // 0 -> 1 at 09:30; unknown -> 1 at 09:10 and 09:58 are not visits.
            visits: 1,
            longest_idle_seconds: 600,
            ..row(2, 0)
        },
        // nook 10:00-11:00: closed; present [10:00, 10:13).
        RoomWindow {
            after_hours_occupied_seconds: 780,
            ..row(2, 1)
        },
    ];
    ByHand {
        registry,
        readings,
        until: nine + 2 * 3600,
        want,
        hours_before: i64::MAX,
    }
}

/// A version-2 scenario worked out by hand: Thursday 2026-10-01, National
/// Day, in Shanghai, readings from 09:00 to 10:50, rows up to the door reset
/// at 04:00 the next morning (the hour rows of 09:00 and 10:00, the day and
/// slot-day rows).
///
/// Site `s1` has no holiday calendar (`calendar = "none"`): its rooms keep
/// their Thursday hours.
/// - `lobby` (capacity 10, open 09:00-10:00 culture and 10:30-11:00 elderly
///   care): `lobby-main`, a both-ways door device whose cumulative counters
///   wrap at 65536 and later restart; `lobby-side`, an in-only door device
///   (its ins are visits, its outs mean nothing, it never moves n);
/// - `shop` (4, 09:00-11:00 meal aid): `shop-in`, an in-only door device with
///   `max_per_minute = 5`, and a presence device: n from presence only, so no
///   capacity; door visits, and a door residual of 0 (the door n never moves);
/// - `office` (3, 09:00-11:00 housekeeping): `office-door`, both ways,
///   `max_per_minute = 10`: a glitch to 0 and back, a `door` message with a
///   huge `in`, a jump allowed by a longer gap, and one that is not;
/// - `reading` (6, 09:00-11:00 culture): a count device reporting every hour
///   (stale after 65 min); its visits are increments;
/// - `clinic` (5, 09:30-11:00 health): a count device (60 s): increments,
///   including one at the opening whose n(t - 1) lies before it.
///
/// Site `s2` keeps the Chinese calendar: its `annex` (8, 09:00-11:00 other,
/// presence device) is closed all day.
fn by_hand_v2() -> ByHand {
    use devices::VisitsMethod;
    const REGISTRY: &str = r#"
[[site]]
id = "s1"
name = "无假日社区"
calendar = "none"
[[site.room]]
id = "lobby"
name = "大厅"
capacity = 10
area_m2 = 100
schedule = ["mon-fri 09:00-10:00 culture", "mon-fri 10:30-11:00 elderly_care"]
[[site.room]]
id = "shop"
name = "助餐点"
capacity = 4
area_m2 = 30
schedule = ["mon-fri 09:00-11:00 meal_aid"]
[[site.room]]
id = "office"
name = "家政服务站"
capacity = 3
area_m2 = 20
schedule = ["mon-fri 09:00-11:00 housekeeping"]
[[site.room]]
id = "reading"
name = "阅览室"
capacity = 6
area_m2 = 40
schedule = ["mon-fri 09:00-11:00 culture"]
[[site.room]]
id = "clinic"
name = "健康小屋"
capacity = 5
area_m2 = 25
schedule = ["mon-fri 09:30-11:00 health"]
[[site.device]]
id = "lobby-main"
room = "lobby"
kind = "door"
rollover = 65536
[[site.device]]
id = "lobby-side"
room = "lobby"
kind = "door"
direction = "in"
[[site.device]]
id = "shop-in"
room = "shop"
kind = "door"
direction = "in"
max_per_minute = 5
[[site.device]]
id = "shop-presence"
room = "shop"
kind = "presence"
interval_s = 300
[[site.device]]
id = "office-door"
room = "office"
kind = "door"
max_per_minute = 10
[[site.device]]
id = "reading-count"
room = "reading"
kind = "count"
interval_s = 3600
[[site.device]]
id = "clinic-count"
room = "clinic"
kind = "count"

[[site]]
id = "s2"
name = "中国日历社区"
[[site.room]]
id = "annex"
name = "配楼"
capacity = 8
area_m2 = 50
schedule = ["mon-fri 09:00-11:00 other"]
[[site.device]]
id = "annex-presence"
room = "annex"
kind = "presence"
interval_s = 300
"#;
    let registry = Arc::new(Registry::from_toml(REGISTRY, Path::new("t.toml")).expect("registry"));
    let rooms: Vec<&str> = registry.rooms.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        rooms,
        ["lobby", "shop", "office", "reading", "clinic", "annex"]
    );
    let nine = local_to_utc(
        zone("Asia/Shanghai"),
        NaiveDate::from_ymd_opt(2026, 10, 1)
            .and_then(|d| d.and_hms_opt(9, 0, 0))
            .expect("time"),
    );
    assert_eq!(utc(nine), "2026-10-01 01:00:00");
    let min = |m: i64| nine + m * 60;
    // Readings at 09:00 + `m` minutes, with sequence numbers in time order.
    let mut seq = 0;
    let mut readings = Vec::new();
    let mut add = |device: &str, m: i64, value: Value| {
        let d = registry.device_by_id(device).expect("device");
        seq += 1;
        readings.push(Reading {
            device: d,
            room: registry.device(d).room,
            time_ms: min(m) * 1000,
            received_ms: min(m) * 1000,
            seq: Some(seq),
            clock_skew: false,
            value,
        });
    };
    let total = |i, o| Value::DoorTotal {
        in_total: i,
        out_total: o,
    };
    let door = |inn, out| Value::Door { inn, out };

    // lobby-main (60 s: stale after 180 s). Known [09:00, 09:13), [09:40, 09:43),
    // [10:10, 10:13), [10:35, 10:38).
    add("lobby-main", 0, total(65530, 65528)); // baseline: n 0
    add("lobby-main", 2, total(65534, 65530)); // +4 in, +2 out: n 2
    add("lobby-main", 4, total(3, 65531)); // in wraps: 3 + 65536 - 65534 = +5; +1 out: n 6
    add("lobby-main", 6, total(5, 1)); // +2 in; out wraps: +6: n 2
    add("lobby-main", 8, total(2, 0)); // drops of 3 and 1 (<= 32768): a restart, +2 in, +0 out: n 4
    add("lobby-main", 10, total(3, 4)); // +1, +4: n 1
    add("lobby-main", 40, total(5, 5)); // +2, +1: n 2
    add("lobby-main", 70, total(8, 5)); // +3 (closed time): n 5
    add("lobby-main", 95, total(9, 9)); // +1, +4: n 2, the residual at 04:00
    // lobby-side: ins only. Its 5000 outs are neither counted nor checked
    // (limit 60 x 36 min = 2160), and it never makes n known or unknown.
    add("lobby-side", 1, door(3, 2));
    add("lobby-side", 5, door(1, 0));
    add("lobby-side", 41, door(2, 5000));
    add("lobby-side", 71, door(1, 0));

    // shop-in: in-only, at most 5 a minute.
    add("shop-in", 0, total(100, 7)); // baseline
    add("shop-in", 1, total(103, 0)); // +3
    add("shop-in", 2, total(110, 0)); // +7 > 5 x 1 min: implausible, 0; baseline 110
    add("shop-in", 5, total(118, 0)); // +8 <= 5 x 3 min
    add("shop-in", 6, total(119, 9999)); // +1; the out jump is not checked
    // shop-presence (stale after 900 s): 1 [09:00, 09:10), 0 [09:10, 09:20),
    // 1 [09:20, 09:35), unknown after.
    add("shop-presence", 0, Value::Presence(true));
    add("shop-presence", 10, Value::Presence(false));
    add("shop-presence", 20, Value::Presence(true));

    // office-door: at most 10 a minute. Fresh [09:00, 09:09), [09:10, 09:13), [09:20, 09:25).
    add("office-door", 0, total(50, 48)); // baseline: n 0
    add("office-door", 1, total(52, 48)); // +2: n 2
    add("office-door", 2, total(0, 0)); // glitch to 0: a restart, +0 +0; baseline (0, 0)
    add("office-door", 3, total(53, 49)); // and back: +53 > 10: implausible, 0; baseline (53, 49)
    add("office-door", 4, total(54, 49)); // +1: n 3
    add("office-door", 5, door(500, 0)); // 500 > 10: implausible, 0
    add("office-door", 6, door(0, 2)); // n 1
    add("office-door", 10, total(66, 60)); // +12, +11 <= 10 x 4 min: n 2
    add("office-door", 20, total(76, 68)); // +10, +8 <= 10 x 10 min: n 4
    add("office-door", 21, total(110, 68)); // +34 > 10: implausible; baseline (110, 68)
    add("office-door", 22, total(111, 72)); // +1, +4: n 1, the residual at 04:00

    // reading-count (every hour: stale after 3900 s): 2 [09:00, 09:30),
    // 3 [09:30, 10:35), unknown [10:35, 10:50), 1 [10:50, 11:55).
    add("reading-count", 0, Value::Count(2));
    add("reading-count", 30, Value::Count(3)); // +1
    add("reading-count", 110, Value::Count(1));

    // clinic-count (stale after 180 s): 1 [09:20, 09:26), 0 [09:26, 09:30),
    // 3, 5, 4, 4, 6, 2 from 09:30 every 2 minutes to 09:43, unknown [09:43, 09:50),
    // 4 [09:50, 09:52), 5 [09:52, 09:57), unknown after.
    for (m, n) in [
        (20, 1),
        (22, 1),
        (24, 1),
        (26, 0),
        (28, 0),
        (30, 3),
        (32, 5),
        (34, 4),
        (36, 4),
        (38, 6),
        (40, 2),
        (50, 4),
        (52, 5),
        (54, 5),
    ] {
        add("clinic-count", m, Value::Count(n));
    }

    // annex-presence: present [09:00, 09:15).
    add("annex-presence", 0, Value::Presence(true));
    readings.sort_by_key(|r| r.time_ms);

    let midnight = min(-9 * 60);
    let hour = |room: u32, h: i64| empty_row(WindowKind::Hour, room, min(h * 60), min(h * 60 + 60));
    let day = |room: u32| empty_row(WindowKind::Day, room, midnight, midnight + 86_400);
    let slot = |room: u32, c: Category| {
        empty_row(WindowKind::SlotDay(c), room, midnight, midnight + 86_400)
    };
    let door = VisitsMethod::Door;
    let increments = VisitsMethod::Increments;

    // lobby, hour 09: all open; M = [09:00, 09:13) + [09:40, 09:43), n 0 2 6 2 4 1
    // for 2 min each (the 1 for 3) and 2 for 3 min.
    let lobby_9 = RoomWindow {
        open_seconds: 3600,
        measured_seconds: 780 + 180,
        occupied_seconds: 660 + 180,
        person_seconds: 2 * 120 + 6 * 120 + 2 * 120 + 4 * 120 + 180 + 2 * 180,
        peak_occupancy: Some(6),
        // lobby-main 4 + 5 + 2 + 2 + 1 + 2, lobby-side 3 + 1 + 2.
        visits: 22,
        visits_method: door,
        longest_idle_seconds: 120,
        capacity: Some(10),
        ..hour(0, 0)
    };
    // lobby, 10:30-11:00 (elderly care): n 2 on [10:35, 10:38), 1 in at 10:35.
    let lobby_1030 = RoomWindow {
        open_seconds: 1800,
        measured_seconds: 180,
        occupied_seconds: 180,
        person_seconds: 360,
        peak_occupancy: Some(2),
        visits: 1,
        visits_method: door,
        capacity: Some(10),
        ..hour(0, 1)
    };
    // shop: presence only (its door counts ins only): no capacity; door visits 3 + 8 + 1.
    let shop = RoomWindow {
        open_seconds: 3600,
        measured_seconds: 2100,
        occupied_seconds: 1500,
        person_seconds: 1500,
        peak_occupancy: Some(1),
        visits: 12,
        visits_method: door,
        longest_idle_seconds: 600,
        ..hour(1, 0)
    };
    // office: n 0 [09:00, 09:01), 2 [09:01, 09:04), 3 [09:04, 09:06), 1 [09:06, 09:09),
    // 2 [09:10, 09:13), 4 [09:20, 09:22), 1 [09:22, 09:25).
    let office = RoomWindow {
        open_seconds: 3600,
        measured_seconds: 540 + 180 + 300,
        occupied_seconds: 480 + 180 + 300,
        person_seconds: 2 * 180 + 3 * 120 + 180 + 2 * 180 + 4 * 120 + 180,
        peak_occupancy: Some(4),
        // 2 + 1 + 12 + 10 + 1; the glitch's return, the huge door message and the jump count 0.
        visits: 26,
        visits_method: door,
        longest_idle_seconds: 60,
        over_capacity_seconds: 120,
        capacity: Some(3),
        ..hour(2, 0)
    };
    // reading: known all hour, 2 then 3; +1 at 09:30.
    let reading_9 = RoomWindow {
        open_seconds: 3600,
        measured_seconds: 3600,
        occupied_seconds: 3600,
        person_seconds: 2 * 1800 + 3 * 1800,
        peak_occupancy: Some(3),
        visits: 1,
        visits_method: increments,
        capacity: Some(6),
        ..hour(3, 0)
    };
    // reading, hour 10: 3 [10:00, 10:35), 1 [10:50, 11:00) after an unknown stretch (no visit).
    let reading_10 = RoomWindow {
        open_seconds: 3600,
        measured_seconds: 2100 + 600,
        occupied_seconds: 2100 + 600,
        person_seconds: 3 * 2100 + 600,
        peak_occupancy: Some(3),
        visits_method: increments,
        capacity: Some(6),
        ..hour(3, 1)
    };
    // clinic, 09:30-10:00: M = [09:30, 09:43) + [09:50, 09:57). Increments
    // +3 at 09:30 (n was 0 at 09:29:59, before the opening), +2, +2, and +1
    // at 09:52 (4 at 09:50 follows an unknown stretch).
    let clinic = RoomWindow {
        open_seconds: 1800,
        measured_seconds: 780 + 420,
        occupied_seconds: 780 + 420,
        person_seconds: 3 * 120 + 5 * 120 + 4 * 240 + 6 * 120 + 2 * 180 + 4 * 120 + 5 * 300,
        peak_occupancy: Some(6),
        visits: 8,
        visits_method: increments,
        over_capacity_seconds: 120,
        capacity: Some(5),
        ..hour(4, 0)
    };

    let want = vec![
        lobby_9.clone(),
        // lobby, hour 10: besides 10:30-11:00, 5 on [10:10, 10:13) while
        // closed, and the ins at 10:10 and 10:11.
        RoomWindow {
            visits: 3 + 1 + 1,
            after_hours_occupied_seconds: 180,
            ..lobby_1030.clone()
        },
        RoomWindow {
            open_seconds: 5400,
            measured_seconds: 960 + 180,
            occupied_seconds: 840 + 180,
            person_seconds: 2220 + 360,
            peak_occupancy: Some(6),
            visits: 22 + 5,
            visits_method: door,
            longest_idle_seconds: 120,
            after_hours_occupied_seconds: 180,
            capacity: Some(10),
            door_residual: Some(2),
            ..day(0)
        },
        // The slots count only the ins inside their own hours (not the 4 of 10:10-10:11).
        like(
            &lobby_9,
            RoomWindow {
                open_seconds: 3600,
                ..slot(0, Category::Culture)
            },
        ),
        like(
            &lobby_1030,
            RoomWindow {
                open_seconds: 1800,
                ..slot(0, Category::ElderlyCare)
            },
        ),
        // shop: nothing in hour 10; a door room, but no door device counts
        // both ways: the door n never moves, the residual is 0.
        shop.clone(),
        RoomWindow {
            open_seconds: 3600,
            visits_method: door,
            ..hour(1, 1)
        },
        like(
            &shop,
            RoomWindow {
                open_seconds: 7200,
                door_residual: Some(0),
                ..day(1)
            },
        ),
        like(
            &shop,
            RoomWindow {
                open_seconds: 7200,
                ..slot(1, Category::MealAid)
            },
        ),
        // office: nothing in hour 10.
        office.clone(),
        RoomWindow {
            open_seconds: 3600,
            visits_method: door,
            capacity: Some(3),
            ..hour(2, 1)
        },
        like(
            &office,
            RoomWindow {
                open_seconds: 7200,
                door_residual: Some(1),
                ..day(2)
            },
        ),
        like(
            &office,
            RoomWindow {
                open_seconds: 7200,
                ..slot(2, Category::Housekeeping)
            },
        ),
        // reading: the day adds 1 on [11:00, 11:55), after hours.
        reading_9.clone(),
        reading_10.clone(),
        RoomWindow {
            open_seconds: 7200,
            measured_seconds: 3600 + 2700,
            occupied_seconds: 3600 + 2700,
            person_seconds: 9000 + 6900,
            after_hours_occupied_seconds: 3300,
            ..like(&reading_9, day(3))
        },
        RoomWindow {
            open_seconds: 7200,
            measured_seconds: 3600 + 2700,
            occupied_seconds: 3600 + 2700,
            person_seconds: 9000 + 6900,
            ..like(&reading_9, slot(3, Category::Culture))
        },
        // clinic: 1 on [09:20, 09:26) before it opens; nothing known in hour 10.
        RoomWindow {
            after_hours_occupied_seconds: 360,
            ..clinic.clone()
        },
        RoomWindow {
            open_seconds: 3600,
            visits_method: increments,
            capacity: Some(5),
            ..hour(4, 1)
        },
        like(
            &clinic,
            RoomWindow {
                open_seconds: 5400,
                after_hours_occupied_seconds: 360,
                ..day(4)
            },
        ),
        like(
            &clinic,
            RoomWindow {
                open_seconds: 5400,
                ..slot(4, Category::Health)
            },
        ),
        // annex: closed for National Day in the Chinese calendar; present
        // [09:00, 09:15), all after hours; presence only: no capacity, transitions.
        RoomWindow {
            after_hours_occupied_seconds: 900,
            ..hour(5, 0)
        },
        hour(5, 1),
        RoomWindow {
            after_hours_occupied_seconds: 900,
            ..day(5)
        },
    ];
    ByHand {
        registry,
        readings,
        until: min(19 * 60),
        want,
        hours_before: min(120),
    }
}
