//! The live board: the last [`LiveRoom`] of every room, the JSON views of it,
//! and the broadcast channel that pushes each change to the web clients.

use crate::time::{rfc3339_ms, rfc3339_s};
use devices::{Category, Clock, LiveRoom, Registry, Room, Site};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::{Stream, StreamExt};

/// Room changes buffered per subscriber; a client further behind than this
/// skips ahead and is told to reload the whole board.
const PUSH_BUFFER: usize = 1024;

/// Live occupancy of every room, shared between the stream (writer) and the
/// web server (readers).
///
/// [`LiveBoard::update`] is plain synchronous code: the timely workers call it
/// from their own threads, without a tokio runtime.
pub struct LiveBoard {
    /// The registry of now (a registry switch reaches it: rooms added show).
    registry: devices::Current,
    clock: Clock,
    /// Indexed by [`devices::RoomIdx`]; `None` until the room first reports.
    rooms: RwLock<Vec<Option<LiveRoom>>>,
    /// One pre-serialised [`RoomEvent`] per change, with the room's site index.
    push: broadcast::Sender<(usize, Arc<str>)>,
    /// Live changes applied since the start.
    updates: AtomicU64,
}

impl std::fmt::Debug for LiveBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveBoard")
            .field("rooms", &self.registry.get().rooms.len())
            .field("subscribers", &self.push.receiver_count())
            .finish_non_exhaustive()
    }
}

/// The JSON document served at `/api/live`.
#[derive(Debug, Clone, Serialize)]
pub struct LiveSnapshot {
    /// The board's clock, RFC 3339 (UTC).
    pub now: String,
    /// How many times faster than real time the clock runs (1 outside simulations),
    /// so the page can tell the time between polls.
    pub clock_speed: f64,
    /// Every site in registry order.
    pub sites: Vec<SiteView>,
}

/// One site of the snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct SiteView {
    /// Site id.
    pub id: String,
    /// Display name (Chinese).
    pub name: String,
    /// City (市).
    pub city: String,
    /// District (区).
    pub district: String,
    /// Its rooms in registry order.
    pub rooms: Vec<RoomView>,
}

/// One room as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RoomView {
    /// Room id, unique within its site.
    pub id: String,
    /// Display name (Chinese).
    pub name: String,
    /// Floor, when known.
    pub floor: Option<i32>,
    /// Persons the room takes now: the current opening's own capacity when
    /// the schedule gives one, else the room's.
    pub capacity: u32,
    /// Floor area, m².
    pub area_m2: f64,
    /// People present now; null when unknown (never reported, or stale: the
    /// value is not n(t) any more, METRICS.md).
    pub occupancy: Option<u32>,
    /// The last value reported, even when stale, for "last seen n people".
    pub last_occupancy: Option<u32>,
    /// Event time of the last reading applied, RFC 3339; null if never reported.
    pub updated: Option<String>,
    /// When the value goes stale if nothing more arrives, RFC 3339.
    pub valid_until: Option<String>,
    /// No valid value now: never reported, unknown, or the clock is at or past `valid_until`.
    pub stale: bool,
    /// occupancy / capacity; null when occupancy is unknown, the capacity is 0,
    /// or the room has only presence sensors (capacity metrics are undefined there).
    pub load: Option<f64>,
    /// The schedule has the room open now.
    pub open_now: bool,
    /// Only presence sensors watch the room: `occupancy` is 1 (someone there) or 0,
    /// not a head count.
    pub presence_only: bool,
    /// The service hosted now, snake_case; null when closed.
    pub category_now: Option<Category>,
    /// The same in Chinese, e.g. `社区助餐`.
    pub category_now_zh: Option<&'static str>,
    /// Device health: `ok` (a fresh value), `offline` (reported once, but
    /// nothing for `stale_after`, 3x the report interval) or `never`.
    pub health: &'static str,
    /// The devices bound to the room.
    pub devices: Vec<DeviceView>,
    /// Empty since (RFC 3339), while the value is fresh: the live idle streak.
    pub idle_since: Option<String>,
    /// Over capacity since (RFC 3339), while the value is fresh: a live OVERCROWDED alert.
    pub over_capacity_since: Option<String>,
}

/// A device of a room.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceView {
    /// Device id.
    pub id: String,
    /// `count`, `presence` or `door`.
    pub kind: &'static str,
    /// Report interval, seconds.
    pub interval_s: u32,
}

/// What `/api/live/events` sends for one change: the room and its site.
#[derive(Debug, Serialize)]
pub struct RoomEvent<'a> {
    /// Site id.
    pub site_id: &'a str,
    /// The room, as in the snapshot.
    #[serde(flatten)]
    pub room: &'a RoomView,
}

/// One item for a push subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Push {
    /// A room changed: its site's index in the registry, and its [`RoomEvent`] as JSON.
    Room(usize, Arc<str>),
    /// The subscriber fell behind and changes were skipped; reload `/api/live`.
    Resync,
}

impl LiveBoard {
    /// An empty board for every room of `registry`, telling time by `clock`.
    pub fn new(registry: impl Into<devices::Current>, clock: Clock) -> Arc<LiveBoard> {
        let registry: devices::Current = registry.into();
        let (push, _) = broadcast::channel(PUSH_BUFFER);
        Arc::new(LiveBoard {
            rooms: RwLock::new(vec![None; registry.get().rooms.len()]),
            registry,
            clock,
            push,
            updates: AtomicU64::new(0),
        })
    }

    /// Records a live change of a room and wakes the push subscribers.
    ///
    /// Never blocks on subscribers: a slow one loses the oldest changes.
    pub fn update(&self, live: LiveRoom) {
        let ix = live.room.ix();
        let registry = self.registry.get();
        let Some((room, site)) = room_and_site(&registry, ix) else {
            tracing::warn!(
                room = ix,
                "live update for a room the registry does not have"
            );
            return;
        };
        // Serialise only when someone listens; the pipeline calls this often.
        let event = (self.push.receiver_count() > 0).then(|| {
            let view = room_view(&registry, room, site, Some(&live), self.clock.now_ms());
            serde_json::to_string(&RoomEvent {
                site_id: &site.id,
                room: &view,
            })
        });
        {
            let mut rooms = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
            // A room a registry switch added.
            if rooms.len() <= ix {
                rooms.resize(registry.rooms.len().max(ix + 1), None);
            }
            rooms[ix] = Some(live);
        }
        self.updates.fetch_add(1, Ordering::Relaxed);
        match event {
            // Err only means nobody listens any more.
            Some(Ok(json)) => drop(self.push.send((room.site.ix(), json.into()))),
            Some(Err(e)) => tracing::warn!(room = ix, error = %e, "cannot encode a live event"),
            None => {}
        }
    }

    /// The JSON document served at `/api/live`.
    pub fn snapshot(&self) -> LiveSnapshot {
        let now_ms = self.clock.now_ms();
        // Copy out so the writers wait for a memcpy, not for the whole view.
        let live = self
            .rooms
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let registry = self.registry.get();
        let sites = registry
            .sites
            .iter()
            .enumerate()
            // Sites a later registry version removed keep their past, not a place here.
            .filter(|(n, _)| registry.site_is_current(devices::SiteIdx(*n as u32)))
            .map(|(_, site)| SiteView {
                id: site.id.clone(),
                name: site.name.clone(),
                city: site.city.clone(),
                district: site.district.clone(),
                rooms: site
                    .rooms
                    .iter()
                    .filter_map(|r| {
                        // Rooms taken out of the registry keep their past, not a place here.
                        let room = registry
                            .rooms
                            .get(r.ix())
                            .filter(|room| room.gone_from_ms.is_none())?;
                        let l = live.get(r.ix()).and_then(Option::as_ref);
                        Some(room_view(&registry, room, site, l, now_ms))
                    })
                    .collect(),
            })
            .collect();
        LiveSnapshot {
            now: rfc3339_ms(now_ms),
            clock_speed: self.clock.speed(),
            sites,
        }
    }

    /// Every change from now on, as [`Push`] items; ends never (the board
    /// owns the sender), so callers stop it themselves.
    pub fn subscribe(&self) -> impl Stream<Item = Push> + Send + 'static + use<> {
        BroadcastStream::new(self.push.subscribe()).map(|item| match item {
            Ok((site, json)) => Push::Room(site, json),
            Err(BroadcastStreamRecvError::Lagged(skipped)) => {
                tracing::debug!(skipped, "a live subscriber fell behind");
                Push::Resync
            }
        })
    }

    /// The registry the board shows (of now).
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.get()
    }

    /// The handle through which the board follows registry switches.
    pub fn current(&self) -> devices::Current {
        self.registry.clone()
    }

    /// The board's clock.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Event-stream clients connected now.
    pub fn subscribers(&self) -> usize {
        self.push.receiver_count()
    }

    /// Live changes applied since the start.
    pub fn updates(&self) -> u64 {
        self.updates.load(Ordering::Relaxed)
    }
}

fn room_and_site(registry: &Registry, ix: usize) -> Option<(&Room, &Site)> {
    let room = registry.rooms.get(ix)?;
    let site = registry.sites.get(room.site.ix())?;
    Some((room, site))
}

/// The view of one room at `now_ms`.
fn room_view(
    registry: &Registry,
    room: &Room,
    site: &Site,
    live: Option<&LiveRoom>,
    now_ms: i64,
) -> RoomView {
    let now_s = now_ms.div_euclid(1000);
    let span = room
        .schedule
        .open_spans(site.timezone, now_s, now_s + 1)
        .into_iter()
        .next();
    let capacity = span
        .and_then(|s| room.schedule.openings.get(usize::from(s.opening)))
        .and_then(|o| o.capacity)
        .unwrap_or(room.capacity);
    let fresh = live.is_some_and(|l| {
        l.occupancy.is_some()
            && l.valid_until
                .is_some_and(|v| now_ms < v.saturating_mul(1000))
    });
    let occupancy = live.and_then(|l| l.occupancy).filter(|_| fresh);
    let load = occupancy
        .filter(|_| capacity > 0 && !room.sensors.presence_only())
        .map(|n| f64::from(n) / f64::from(capacity));
    RoomView {
        id: room.id.clone(),
        name: room.name.clone(),
        floor: room.floor,
        capacity,
        area_m2: room.area_m2,
        occupancy,
        last_occupancy: live.and_then(|l| l.occupancy),
        updated: live.map(|l| rfc3339_ms(l.updated_ms)),
        valid_until: live.and_then(|l| l.valid_until).map(rfc3339_s),
        stale: !fresh,
        load,
        open_now: span.is_some(),
        presence_only: room.sensors.presence_only(),
        category_now: span.map(|s| s.category),
        category_now_zh: span.map(|s| s.category.zh()),
        health: match (live.is_some(), fresh) {
            (_, true) => "ok",
            (true, false) => "offline",
            (false, false) => "never",
        },
        devices: room
            .devices
            .iter()
            .filter_map(|d| registry.devices.get(d.ix()))
            .map(|d| DeviceView {
                id: d.id.clone(),
                kind: d.kind.as_str(),
                interval_s: d.interval_s,
            })
            .collect(),
        idle_since: live
            .and_then(|l| l.idle_since_ms)
            .filter(|_| fresh)
            .map(rfc3339_ms),
        over_capacity_since: live
            .and_then(|l| l.over_capacity_since_ms)
            .filter(|_| fresh)
            .map(rfc3339_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devices::RoomIdx;
    use std::path::Path;

    /// Monday 2026-11-23 10:00 in Shanghai.
    const MONDAY_10H_MS: i64 = 1_795_399_200_000;

    fn board(clock: Clock) -> Arc<LiveBoard> {
        let registry = Registry::from_toml(
            r#"
            [[site]]
            id = "s1"
            name = "示例社区"
            [[site.room]]
            id = "hall"
            name = "多功能厅"
            capacity = 10
            area_m2 = 80
            schedule = ["mon-fri 09:00-11:00 infant_care cap=8", "mon-fri 14:00-17:00 elderly_care"]
            [[site.room]]
            id = "nap"
            name = "午休室"
            capacity = 6
            area_m2 = 20
            schedule = ["sat,sun 09:00-12:00 culture"]
            [[site.device]]
            id = "hall-counter"
            room = "hall"
            kind = "count"
            [[site.device]]
            id = "nap-pir"
            room = "nap"
            kind = "presence"
            "#,
            Path::new("t.toml"),
        )
        .expect("test registry");
        LiveBoard::new(Arc::new(registry), clock)
    }

    fn live(room: u32, n: Option<u32>, valid_until: Option<i64>) -> LiveRoom {
        LiveRoom {
            room: RoomIdx(room),
            occupancy: n,
            updated_ms: MONDAY_10H_MS - 5_000,
            valid_until,
            idle_since_ms: None,
            over_capacity_since_ms: None,
        }
    }

    #[test]
    fn views_follow_updates_schedule_and_sensors() {
        let b = board(Clock::simulated(MONDAY_10H_MS, 1.0));
        let hall = &b.snapshot().sites[0].rooms[0];
        assert_eq!((hall.occupancy, hall.stale, hall.load), (None, true, None));
        // The morning opening has its own capacity.
        assert_eq!(hall.capacity, 8);
        assert_eq!(hall.category_now, Some(Category::InfantCare));

        let until = MONDAY_10H_MS / 1000 + 600;
        b.update(live(0, Some(6), Some(until)));
        b.update(live(1, Some(1), Some(until)));
        let s = b.snapshot();
        let (hall, nap) = (&s.sites[0].rooms[0], &s.sites[0].rooms[1]);
        assert_eq!(
            (hall.occupancy, hall.stale, hall.load),
            (Some(6), false, Some(0.75))
        );
        assert_eq!(hall.updated.as_deref(), Some("2026-11-23T01:59:55Z"));
        // Presence-only: no capacity metrics; closed on Monday.
        assert_eq!(
            (nap.occupancy, nap.load, nap.open_now),
            (Some(1), None, false)
        );
        assert_eq!(nap.category_now_zh, None);
    }

    #[test]
    fn a_value_past_valid_until_is_unknown() {
        let b = board(Clock::simulated(MONDAY_10H_MS, 1.0));
        b.update(live(0, Some(3), Some(MONDAY_10H_MS / 1000)));
        let hall = &b.snapshot().sites[0].rooms[0];
        assert_eq!((hall.occupancy, hall.last_occupancy), (None, Some(3)));
        assert!(hall.stale && hall.load.is_none());
        // Unknown with no expiry (what the pipeline sends when devices go quiet).
        b.update(live(0, None, None));
        assert!(b.snapshot().sites[0].rooms[0].stale);
    }

    #[test]
    fn unknown_rooms_are_ignored() {
        let b = board(Clock::simulated(MONDAY_10H_MS, 1.0));
        b.update(live(99, Some(3), None));
        assert!(b.snapshot().sites[0].rooms.iter().all(|r| r.stale));
    }

    #[tokio::test]
    async fn a_lagging_subscriber_skips_and_resyncs() {
        let b = board(Clock::simulated(MONDAY_10H_MS, 1.0));
        let mut stream = std::pin::pin!(b.subscribe());
        let until = Some(MONDAY_10H_MS / 1000 + 600);
        for n in 0..(PUSH_BUFFER as u32 + 10) {
            b.update(live(0, Some(n), until));
        }
        assert_eq!(stream.next().await, Some(Push::Resync));
        match stream.next().await {
            Some(Push::Room(0, json)) => {
                assert!(json.contains(r#""site_id":"s1""#), "{json}");
                assert!(json.contains(r#""occupancy":10,"#), "{json}");
            }
            other => panic!("expected a room, got {other:?}"),
        }
    }
}
