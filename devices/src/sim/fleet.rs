//! The simulated world: people coming into and leaving rooms, and the devices
//! that report on them.
//!
//! Rooms are advanced lazily, each only when one of its devices reports, in
//! ticks of `TICK_S`. Reports are taken from one queue in (time, device)
//! order and every random draw comes from one seeded generator, so the output
//! depends on the seed and the start time only, not on how the caller slices
//! time into steps.

use super::Publish;
use super::pattern::{Profiles, dwell_s, poisson};
use crate::calendar::{DayKind, day_kind};
use crate::category::Category;
use crate::model::{DeviceKind, Registry, Room};
use crate::schedule::OpenSpan;
use chrono::Offset;
use chrono::TimeZone;
use chrono_tz::Tz;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

/// Arrivals are drawn per tick of this many seconds.
const TICK_S: i64 = 60;
const DAY_S: i64 = 86_400;
/// Days from 0001-01-01 (day 1 of the common era) to 1970-01-01.
const UNIX_EPOCH_CE_DAYS: i64 = 719_163;
/// Rooms are simulated from this long before the start, so that they are not
/// all empty at the first report.
const WARM_UP_S: i64 = 3 * 3600;
/// Heartbeat period, seconds.
const STATUS_EVERY_S: i64 = 600;
/// Nobody else gets in once a room holds this many times its capacity.
const CROWD_LIMIT: f64 = 1.3;
/// Chance that a visitor still inside at closing time stays on a while.
const OVERSTAY_P: f64 = 0.03;
const FIRMWARE: &str = "1.4.2";

/// One simulated person, from arrival to departure (Unix seconds).
#[derive(Debug, Clone, Copy)]
struct Visitor {
    arrive: i64,
    depart: i64,
    inside: bool,
    door_in: u8,
    door_out: u8,
}

/// The simulated state of one room.
struct RoomSim {
    tz: Tz,
    /// Visitors who have arrived or will within the current tick.
    visitors: Vec<Visitor>,
    /// People inside at the last [`RoomSim::settle`].
    present: u32,
    /// People in and out so far, per entrance (door devices of the room in order).
    in_total: Vec<u64>,
    out_total: Vec<u64>,
    /// Arrivals are drawn up to here (exclusive), Unix seconds.
    generated_until: i64,
    /// Opening spans from `spans_from` for two days.
    spans: Vec<OpenSpan>,
    spans_from: Option<i64>,
    cursor: usize,
    utc_offset_s: i64,
    /// Local day number of `day_factor`, which makes some days busier than others.
    day: i64,
    day_factor: f64,
    /// Whether `day` is a weekend day or a public holiday.
    day_off: bool,
}

/// What a device sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Count,
    Presence,
    DoorDelta,
    DoorTotal,
}

/// The simulated state of one device.
struct DeviceSim {
    room: usize,
    form: Form,
    entrance: usize,
    topic: String,
    interval_s: u32,
    seq: u64,
    /// Room counters of its entrance at its previous `door` message.
    last_in: u64,
    last_out: u64,
    /// Where its cumulative counters started.
    base_in: u64,
    base_out: u64,
    battery: f64,
    drain_per_beat: f64,
    rssi_dbm: i16,
}

/// A payload of DEVICES.md, serialized with `type` first.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Wire<'a> {
    Count {
        ts: &'a str,
        seq: u64,
        count: u32,
    },
    Presence {
        ts: &'a str,
        seq: u64,
        present: bool,
    },
    Door {
        ts: &'a str,
        seq: u64,
        #[serde(rename = "in")]
        inn: u64,
        out: u64,
    },
    DoorTotal {
        ts: &'a str,
        seq: u64,
        in_total: u64,
        out_total: u64,
    },
    Status {
        ts: &'a str,
        battery_pct: u8,
        rssi_dbm: i16,
        fw: &'a str,
        interval_s: u32,
    },
}

/// A queued message is `device << 1 | STATUS`, so that sorting the keys of
/// one second orders them by device, measurement before heartbeat.
const STATUS: u64 = 1;

/// A simulated fleet: every device of a registry, reporting on simulated people.
pub struct Fleet {
    registry: Arc<Registry>,
    rng: StdRng,
    profiles: Profiles,
    rooms: Vec<RoomSim>,
    devices: Vec<DeviceSim>,
    /// Messages due, by Unix second: every event falls on a whole second,
    /// and a map of a few hundred seconds is cheaper than a heap of every device.
    queue: BTreeMap<i64, Vec<u64>>,
    /// Emptied buckets of `queue`, reused.
    spare: Vec<Vec<u64>>,
    /// `ts` of the last message, and the second and zone it was written for.
    ts: String,
    ts_of: Option<(i64, Tz)>,
}

impl RoomSim {
    fn new(tz: Tz, entrances: usize, from: i64) -> RoomSim {
        RoomSim {
            tz,
            visitors: Vec::new(),
            present: 0,
            in_total: vec![0; entrances],
            out_total: vec![0; entrances],
            generated_until: from,
            spans: Vec::new(),
            spans_from: None,
            cursor: 0,
            utc_offset_s: 0,
            day: i64::MIN,
            day_factor: 1.0,
            day_off: false,
        }
    }

    /// Brings the room to second `t`: draws arrivals of every tick that starts
    /// at or before `t`, then counts who is inside.
    fn advance(&mut self, room: &Room, t: i64, rng: &mut StdRng, profiles: &Profiles) {
        while self.generated_until <= t {
            let g = self.generated_until;
            // Frees the places of those who left, so the crowd limit sees them gone.
            self.settle(g);
            self.generate(room, g, rng, profiles);
            self.generated_until = g + TICK_S;
        }
        self.settle(t);
    }

    /// Applies arrivals and departures up to second `t` to `present` and the
    /// door counters. Called with times that never decrease.
    fn settle(&mut self, t: i64) {
        let mut i = 0;
        while i < self.visitors.len() {
            let v = &mut self.visitors[i];
            if !v.inside && v.arrive <= t {
                v.inside = true;
                self.present += 1;
                self.in_total[usize::from(v.door_in)] += 1;
            }
            if v.inside && v.depart <= t {
                self.present = self.present.saturating_sub(1);
                self.out_total[usize::from(v.door_out)] += 1;
                self.visitors.swap_remove(i);
                continue;
            }
            i += 1;
        }
    }

    /// Draws the arrivals of the tick `[g, g + TICK_S)`.
    fn generate(&mut self, room: &Room, g: i64, rng: &mut StdRng, profiles: &Profiles) {
        let end = g + TICK_S;
        // Spans are cached for two days and refreshed after one, so a span that
        // begins before the refresh is never cut short by the cache.
        if self.spans_from.is_none_or(|from| end > from + DAY_S) {
            self.spans = room.schedule.open_spans(self.tz, g, g + 2 * DAY_S);
            self.spans_from = Some(g);
            self.cursor = 0;
            self.utc_offset_s = self
                .tz
                .offset_from_utc_datetime(
                    &chrono::DateTime::from_timestamp(g, 0)
                        .unwrap_or_default()
                        .naive_utc(),
                )
                .fix()
                .local_minus_utc()
                .into();
        }
        while self.spans.get(self.cursor).is_some_and(|s| s.end <= g) {
            self.cursor += 1;
        }
        let mut i = self.cursor;
        while let Some(&span) = self.spans.get(i) {
            if span.start >= end {
                break;
            }
            let (a, b) = (span.start.max(g), span.end.min(end));
            if a < b {
                self.arrivals(room, span, a, b, rng, profiles);
            }
            i += 1;
        }
    }

    /// Draws the arrivals in `[a, b)`, which lies inside `span`.
    fn arrivals(
        &mut self,
        room: &Room,
        span: OpenSpan,
        a: i64,
        b: i64,
        rng: &mut StdRng,
        profiles: &Profiles,
    ) {
        let local = (a + b) / 2 + self.utc_offset_s;
        let day = local.div_euclid(DAY_S);
        if day != self.day {
            self.day = day;
            self.day_factor = 0.7 + 0.6 * rng.random::<f64>();
            // Days off follow the official calendar: a make-up Saturday (调休)
            // is a working day, a holiday Thursday is not.
            self.day_off = i32::try_from(day + UNIX_EPOCH_CE_DAYS)
                .ok()
                .and_then(chrono::NaiveDate::from_num_days_from_ce_opt)
                .is_some_and(|date| matches!(day_kind(date), DayKind::Weekend | DayKind::Holiday));
        }
        let capacity = room
            .schedule
            .openings
            .get(usize::from(span.opening))
            .and_then(|o| o.capacity)
            .unwrap_or(room.capacity);
        let rate = profiles.rate(span.category, local.rem_euclid(DAY_S), self.day_off)
            * f64::from(capacity)
            * room.sim.popularity.max(0.0)
            * self.day_factor;
        let k = poisson(rng, rate * (b - a) as f64);
        let limit = (f64::from(capacity) * CROWD_LIMIT) as usize;
        let entrances = self.in_total.len();
        for _ in 0..k {
            if self.visitors.len() >= limit {
                break;
            }
            let arrive = rng.random_range(a..b);
            let depart = departure(rng, span.category, arrive, span.end);
            let door_in = door(rng, entrances);
            let door_out = door(rng, entrances);
            self.visitors.push(Visitor {
                arrive,
                depart,
                inside: false,
                door_in,
                door_out,
            });
        }
    }
}

/// When someone who arrives at `arrive` leaves a room that closes at `close`.
fn departure(rng: &mut StdRng, category: Category, arrive: i64, close: i64) -> i64 {
    let depart = arrive + dwell_s(rng, category);
    if depart <= close {
        depart
    } else if rng.random::<f64>() < OVERSTAY_P {
        close + rng.random_range(300..2700)
    } else {
        // Most leave in the last ten minutes before closing.
        (close - rng.random_range(0..600))
            .max(arrive + 60)
            .min(close)
    }
}

/// A number in [0, 1) fixed for device `d` and the hour of `t` (splitmix64), to
/// choose the hours a failing sensor is silent without touching the fleet's random stream.
fn silent_hour(d: usize, t: i64) -> f64 {
    let mut z = (d as u64) << 32 ^ (t.div_euclid(3600) as u64);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

fn door(rng: &mut StdRng, entrances: usize) -> u8 {
    if entrances > 1 {
        rng.random_range(0..entrances).min(255) as u8
    } else {
        0
    }
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("devices", &self.devices.len())
            .field("rooms", &self.rooms.len())
            .field("next_second", &self.queue.keys().next())
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// A simulated fleet for every device of `registry`, deterministic for a `seed`, starting at `start_ms` (Unix ms).
    pub fn new(registry: Arc<Registry>, seed: u64, start_ms: i64) -> Fleet {
        let mut rng = StdRng::seed_from_u64(seed);
        let profiles = Profiles::new();
        let start_s = start_ms.div_euclid(1000);
        let mut rooms: Vec<RoomSim> = registry
            .rooms
            .iter()
            .map(|r| {
                let doors = r
                    .devices
                    .iter()
                    .filter(|d| registry.device(**d).kind == DeviceKind::Door)
                    .count();
                let tz = registry.site(r.site).timezone;
                RoomSim::new(tz, doors.max(1), start_s - WARM_UP_S)
            })
            .collect();
        for (sim, room) in rooms.iter_mut().zip(&registry.rooms) {
            if !room.devices.is_empty() {
                sim.advance(room, start_s, &mut rng, &profiles);
            }
        }
        let mut devices = Vec::with_capacity(registry.devices.len());
        let mut queue: BTreeMap<i64, Vec<u64>> = BTreeMap::new();
        let mut door_ordinal = 0usize;
        for (i, d) in registry.devices.iter().enumerate() {
            let room = &registry.rooms[d.room.ix()];
            let sim = &rooms[d.room.ix()];
            let entrance = room
                .devices
                .iter()
                .filter(|x| registry.device(**x).kind == DeviceKind::Door)
                .position(|x| x.ix() == i)
                .unwrap_or(0);
            let form = match d.kind {
                DeviceKind::Count => Form::Count,
                DeviceKind::Presence => Form::Presence,
                DeviceKind::Door => {
                    door_ordinal += 1;
                    // Every second door device keeps cumulative counters.
                    if door_ordinal.is_multiple_of(2) {
                        Form::DoorTotal
                    } else {
                        Form::DoorDelta
                    }
                }
            };
            let base_in = rng.random_range(5_000..500_000);
            let base_out = base_in - rng.random_range(0..40);
            devices.push(DeviceSim {
                room: d.room.ix(),
                form,
                entrance,
                topic: format!("doorstep/v1/{}/{}", registry.site(d.site).id, d.id),
                interval_s: d.interval_s.max(1),
                seq: 0,
                last_in: sim.in_total[entrance],
                last_out: sim.out_total[entrance],
                base_in,
                base_out,
                battery: rng.random_range(60.0..100.0),
                drain_per_beat: rng.random_range(0.3..0.8) / 144.0,
                rssi_dbm: rng.random_range(-92..-55),
            });
            // Reports fall on whole seconds after the start, spread over the interval.
            let phase = rng.random_range(0..i64::from(d.interval_s.max(1)));
            let beat = rng.random_range(0..STATUS_EVERY_S);
            let key = (i as u64) << 1;
            queue.entry(start_s + 1 + phase).or_default().push(key);
            queue
                .entry(start_s + 1 + beat)
                .or_default()
                .push(key | STATUS);
        }
        Fleet {
            registry,
            rng,
            profiles,
            rooms,
            devices,
            queue,
            spare: Vec::new(),
            ts: String::with_capacity(32),
            ts_of: None,
        }
    }

    /// Advances the simulated world to `until_ms` and returns what devices publish in (previous, until_ms], ordered by time_ms.
    pub fn step(&mut self, until_ms: i64) -> Vec<Publish> {
        let until_s = until_ms.div_euclid(1000);
        let due: usize = self.queue.range(..=until_s).map(|(_, v)| v.len()).sum();
        let mut out = Vec::with_capacity(due);
        while let Some(entry) = self.queue.first_entry() {
            if *entry.key() > until_s {
                break;
            }
            let (t, mut keys) = entry.remove_entry();
            keys.sort_unstable();
            for &key in &keys {
                let d = (key >> 1) as usize;
                let status = key & STATUS != 0;
                let every_s = if status {
                    STATUS_EVERY_S
                } else {
                    i64::from(self.devices[d].interval_s)
                };
                // Every interval is at least a second, so this never lands in `keys`.
                let spare = &mut self.spare;
                self.queue
                    .entry(t + every_s)
                    .or_insert_with(|| spare.pop().unwrap_or_default())
                    .push(key);
                if let Some(p) = self.message(d, t, status) {
                    out.push(p);
                }
            }
            keys.clear();
            self.spare.push(keys);
        }
        out
    }

    /// What device `d` sends at second `t`: a heartbeat when `status`, else a measurement.
    fn message(&mut self, d: usize, t: i64, status: bool) -> Option<Publish> {
        let Fleet {
            registry,
            rng,
            profiles,
            rooms,
            devices,
            ts,
            ts_of,
            ..
        } = self;
        let dev = &mut devices[d];
        let outage = registry.rooms[dev.room].sim.outage;
        if outage > 0.0 && silent_hour(d, t) < outage {
            // A failing sensor: nothing this hour, the schedule goes on.
            return None;
        }
        let sim = &mut rooms[dev.room];
        // Thousands of devices report in the same second and zone: format it once.
        if *ts_of != Some((t, sim.tz)) {
            let local = chrono::DateTime::from_timestamp(t, 0)?.with_timezone(&sim.tz);
            ts.clear();
            write!(ts, "{}", local.format("%Y-%m-%dT%H:%M:%S%:z")).ok()?;
            *ts_of = Some((t, sim.tz));
        }
        let ts = ts.as_str();
        let wire = if status {
            dev.battery -= dev.drain_per_beat;
            if dev.battery < 5.0 {
                // Someone changed the battery.
                dev.battery = 100.0;
            }
            Wire::Status {
                ts,
                battery_pct: dev.battery.round().clamp(0.0, 100.0) as u8,
                rssi_dbm: dev.rssi_dbm + rng.random_range(-3..=3),
                fw: FIRMWARE,
                interval_s: dev.interval_s,
            }
        } else {
            sim.advance(&registry.rooms[dev.room], t, rng, profiles);
            dev.seq += 1;
            let seq = dev.seq;
            let (inn, out) = (sim.in_total[dev.entrance], sim.out_total[dev.entrance]);
            match dev.form {
                Form::Count => Wire::Count {
                    ts,
                    seq,
                    count: sim.present,
                },
                Form::Presence => Wire::Presence {
                    ts,
                    seq,
                    present: sim.present > 0,
                },
                Form::DoorDelta => {
                    let wire = Wire::Door {
                        ts,
                        seq,
                        inn: inn - dev.last_in,
                        out: out - dev.last_out,
                    };
                    (dev.last_in, dev.last_out) = (inn, out);
                    wire
                }
                Form::DoorTotal => Wire::DoorTotal {
                    ts,
                    seq,
                    in_total: dev.base_in + inn,
                    out_total: dev.base_out + out,
                },
            }
        };
        match serde_json::to_vec(&wire) {
            Ok(payload) => Some(Publish {
                topic: dev.topic.clone(),
                payload,
                time_ms: t * 1000,
            }),
            Err(e) => {
                tracing::error!(device = %dev.topic, error = %e, "cannot serialize a simulated message");
                None
            }
        }
    }
}
