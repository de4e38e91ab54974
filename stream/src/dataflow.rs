//! The timely dataflow: readings exchanged to the worker that owns their room,
//! windows closed as the event-time frontier passes them.

use crate::correct::RoomState;
use crate::history::History;
use crate::room::RoomTracker;
use crate::signal::RoomSignal;
use crate::site::{Sites, room_of, site_of};
use crate::{Output, StreamConfig, StreamStats};
use devices::{LiveRoom, MessageKey, Reading, Registry, RoomIdx, Value};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use timely::dataflow::channels::pact::{Exchange, Pipeline};

mod saved;
mod switch;
pub(crate) use switch::Switches;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::{Input as _, Probe};
use timely::dataflow::{InputHandleVec, ProbeHandle};

/// What enters the dataflow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Input {
    /// Tells worker `worker` the time from which the sending input follows rooms;
    /// every input sends one, and the earliest is where the rooms start.
    Origin {
        /// The worker addressed.
        worker: u32,
        /// Unix seconds.
        at: i64,
    },
    /// A validated reading.
    Reading(Reading),
    /// A reading behind the watermark, for the correction path.
    Late(Reading),
    /// Tells worker `worker` that input `source` asks for checkpoint `mark`: the
    /// readings it sent before are in it, none after.
    Mark {
        /// The worker addressed.
        worker: u32,
        /// The input (the process of a cluster) that sent it.
        source: u32,
        /// The checkpoint.
        mark: crate::checkpoint::Mark,
    },
}

fn route(x: &Input) -> u64 {
    match x {
        Input::Origin { worker, .. } | Input::Mark { worker, .. } => u64::from(*worker),
        Input::Reading(r) | Input::Late(r) => u64::from(r.room.0),
    }
}

/// Door crossings the live view remembers per device, to know a repeat.
const DOOR_KEYS: usize = 16;

/// Whether the door crossings of `r` are new to the live view (and remembers them).
/// A repeat (same time and seq) is not, nor is one older than every remembered
/// one: it cannot be told from a repeat, and is left to the tables.
fn first_door_crossing(
    seen: &mut HashMap<devices::DeviceIdx, std::collections::VecDeque<(i64, MessageKey)>>,
    r: &Reading,
) -> bool {
    // Without a key (a door delta without `seq`) it is never the same message.
    let Some(key) = r.message_key() else {
        return true;
    };
    let keys = seen.entry(r.device).or_default();
    if keys.iter().any(|k| k.1 == key) {
        return false;
    }
    if keys.len() == DOOR_KEYS {
        if keys.iter().all(|k| k.0 > r.time_ms) {
            return false;
        }
        keys.pop_front();
    }
    keys.push_back((r.time_ms, key));
    true
}

/// What the live view remembers of a room besides its signal (Unix ms).
#[derive(Default, Serialize, Deserialize)]
struct LiveMarks {
    updated_ms: i64,
    idle_since: Option<i64>,
    over_since: Option<i64>,
}

/// The rooms one worker owns and their state.
struct Rooms {
    /// The registry of now; `current` is where a switch puts the next one.
    registry: Arc<Registry>,
    current: devices::Current,
    /// The registry switches, and how many of them this worker has taken.
    switches: Arc<switch::Switches>,
    switches_taken: u64,
    owned: Vec<RoomIdx>,
    config: Arc<StreamConfig>,
    stats: Arc<StreamStats>,
    /// The state of `owned[i]` at `i`: room `r` is at `r / peers`.
    rooms: Vec<RoomState>,
    peers: u32,
    /// The readings applied over the days a correction reaches.
    history: History,
    /// Late readings waiting for the next frontier.
    late: Vec<Reading>,
    live: HashMap<RoomIdx, RoomSignal>,
    /// The last message applied to the live view per device, to skip redeliveries.
    live_last: HashMap<devices::DeviceIdx, MessageKey>,
    /// The last door crossings applied to the live view per door device that
    /// sends them as deltas: a repeat of one would count its people twice.
    live_doors: HashMap<devices::DeviceIdx, std::collections::VecDeque<(i64, MessageKey)>>,
    /// Per room: when the live view last changed, empty since, over capacity since.
    live_marks: HashMap<RoomIdx, LiveMarks>,
    pending: Vec<Reading>,
    /// (end of open window, room), to close windows of rooms with no readings.
    ends: BTreeSet<(i64, RoomIdx)>,
    origin: Option<i64>,
    /// The earliest origin received so far, before the rooms start.
    origins: Option<i64>,
    /// An origin received after the rooms started, earlier than theirs: a
    /// backlog reaches before it, and the rooms start earlier at the next frontier.
    earlier: Option<i64>,
    frontier: i64,
    /// The UTC day of the frontier when the history was last pruned.
    pruned_day: i64,
    /// This worker's index among all workers.
    index: usize,
    /// Inputs that send readings (the processes of a cluster).
    sources: usize,
    /// The checkpoint being gathered: its marks so far, by input.
    marks: Option<(crate::checkpoint::Mark, BTreeSet<u32>)>,
    /// Rooms read back from a checkpoint whose live state is yet to be shown.
    announce: bool,
    /// Rooms of this worker to compute again from a time (a schedule changed
    /// from a past date), once the frontier reaches `recompute_after`.
    recompute: Vec<(RoomIdx, i64)>,
    /// Unix s: `config.recompute_after` at a start (the state rebuilt first),
    /// the beginning of time after a switch in place.
    recompute_after: i64,
}

impl Rooms {
    fn new(
        current: devices::Current,
        switches: Arc<switch::Switches>,
        index: usize,
        peers: usize,
        config: Arc<StreamConfig>,
        stats: Arc<StreamStats>,
    ) -> Rooms {
        let registry = current.get();
        let owned = (0..registry.rooms.len() as u32)
            .map(RoomIdx)
            .filter(|r| r.0 as usize % peers == index)
            .collect();
        let history_dir = config
            .history_dir
            .as_ref()
            .map(|d| d.join(format!("worker-{index}")));
        let history = History::open(
            history_dir
                .as_deref()
                .filter(|_| config.checkpoints.resume.is_none()),
        );
        let sources = config
            .cluster
            .as_ref()
            .map_or(1, |c| c.addresses.len().max(1));
        let mut rooms = Rooms {
            history,
            registry,
            current,
            switches_taken: switches.count(),
            switches,
            owned,
            config,
            stats,
            rooms: Vec::new(),
            peers: peers as u32,
            late: Vec::new(),
            live: HashMap::new(),
            live_last: HashMap::new(),
            live_doors: HashMap::new(),
            live_marks: HashMap::new(),
            pending: Vec::new(),
            ends: BTreeSet::new(),
            origin: None,
            origins: None,
            earlier: None,
            frontier: i64::MIN,
            pruned_day: i64::MIN,
            index,
            sources,
            marks: None,
            announce: false,
            recompute: Vec::new(),
            recompute_after: i64::MIN,
        };
        rooms.recompute_after = rooms.config.recompute_after;
        rooms.recompute = rooms
            .config
            .recompute
            .iter()
            .copied()
            .filter(|(r, _)| r.0 as usize % peers == index)
            .collect();
        if let Some(dir) = rooms.config.checkpoints.resume.clone() {
            rooms.resume(&dir, history_dir.as_deref());
        }
        rooms
    }

    fn receive(&mut self, x: Input, out: &mut Vec<Output>) {
        // A reading checked under a registry switched to just now may name its
        // new rooms: the switch comes first.
        self.follow();
        if let Input::Reading(r) | Input::Late(r) = &x
            && !self.knows(r)
        {
            return;
        }
        match x {
            Input::Origin { at, .. } => match self.origin {
                Some(o) if at < o => self.earlier = Some(self.earlier.map_or(at, |e| e.min(at))),
                Some(_) => {}
                None => self.origins = Some(self.origins.map_or(at, |o| o.min(at))),
            },
            Input::Reading(r) => {
                self.live_update(&r, out);
                self.pending.push(r);
            }
            Input::Late(r) => self.late.push(r),
            Input::Mark { source, mark, .. } => self.mark(source, mark, out),
        }
    }

    fn start(&mut self, origin: i64) {
        if self.origin.is_some() {
            return;
        }
        self.origin = Some(origin);
        self.rooms.reserve_exact(self.owned.len());
        for &room in &self.owned {
            let mut t = RoomTracker::new(&self.registry, room, origin, &self.config);
            if let Some(stored) = &self.config.lookback {
                t.seed(stored.take(room));
            }
            self.ends.insert((t.window_end(), room));
            debug_assert_eq!((room.0 / self.peers) as usize, self.rooms.len());
            self.rooms
                .push(RoomState::new(t, self.config.correction_days));
            // A reading may have reached the live view before the rooms started.
            self.live.entry(room).or_insert_with(|| {
                RoomSignal::new(&self.registry, room, origin, self.config.door_reset_hour)
            });
        }
    }

    /// Applies a reading to the live view at once, in arrival order: in a cluster the
    /// processes' readings arrive apart in time, and an older one still counts
    /// ([`RoomSignal::apply_late`]).
    fn live_update(&mut self, r: &Reading, out: &mut Vec<Output>) {
        let sig = self.live.entry(r.room).or_insert_with(|| {
            RoomSignal::new(
                &self.registry,
                r.room,
                r.time_s(),
                self.config.door_reset_hour,
            )
        });
        if let Some(key) = r.message_key()
            && self.live_last.insert(r.device, key) == Some(key)
        {
            return;
        }
        if matches!(r.value, Value::Door { .. }) && !first_door_crossing(&mut self.live_doors, r) {
            return;
        }
        sig.apply_late(r);
        let n = sig.value();
        let room = self.registry.room(r.room);
        let over = n.is_some_and(|n| n > room.capacity) && !room.sensors.presence_only();
        let marks = self.live_marks.entry(r.room).or_default();
        let at = marks.updated_ms.max(r.time_ms);
        marks.updated_ms = at;
        marks.idle_since = if n == Some(0) {
            marks.idle_since.or(Some(at))
        } else {
            None
        };
        marks.over_since = if over {
            marks.over_since.or(Some(at))
        } else {
            None
        };
        out.push(Output::Live(LiveRoom {
            room: r.room,
            occupancy: n,
            updated_ms: at,
            valid_until: sig.valid_until(),
            idle_since_ms: marks.idle_since,
            over_capacity_since_ms: marks.over_since,
        }));
    }

    /// The frontier reached `f`: every reading before `f` is here.
    fn advance(&mut self, f: i64, out: &mut Vec<Output>) {
        // Each input sends its origin at its own first time: once the frontier has
        // passed the earliest received, no input can send an earlier one (in a
        // cluster, the processes' inputs start apart; all runs start alike).
        if self.origin.is_none()
            && let Some(o) = self.origins.filter(|o| *o < f)
        {
            self.start(o);
        }
        if f <= self.frontier || self.origin.is_none() {
            return;
        }
        self.frontier = f;
        // Stable: among equal keys the first to arrive comes first, and is the one kept.
        self.pending.sort_by_key(|r| r.order_key());
        let ready = self.pending.partition_point(|r| r.time_s() < f);
        // Messages taken in among the readings of one (time, device, seq).
        let mut group: Vec<MessageKey> = Vec::new();
        let mut group_of = None;
        for r in self.pending.drain(..ready) {
            // A redelivered message (the same MessageKey): apply it once.
            if group_of != Some(r.order_key()) {
                group_of = Some(r.order_key());
                group.clear();
            }
            if let Some(key) = r.message_key() {
                if group.contains(&key) {
                    self.stats
                        .duplicates
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    continue;
                }
                group.push(key);
            }
            let room = r.room;
            let Some(state) = self.rooms.get_mut((room.0 / self.peers) as usize) else {
                continue;
            };
            let before = state.tracker.window_end();
            state.apply(r, &mut self.history, out);
            let after = state.tracker.window_end();
            if after != before {
                self.ends.remove(&(before, room));
                self.ends.insert((after, room));
            }
        }
        while let Some(&(end, room)) = self.ends.first() {
            if end > f {
                break;
            }
            self.ends.pop_first();
            if let Some(state) = self.rooms.get_mut((room.0 / self.peers) as usize) {
                state.advance(f, &mut self.history, out);
                self.ends.insert((state.tracker.window_end(), room));
            }
        }
        self.correct(f, out);
        // Once a day (UTC), what no room's correction reaches any more is deleted.
        if f.div_euclid(86_400) != self.pruned_day {
            self.pruned_day = f.div_euclid(86_400);
            if let Some(oldest) = self.rooms.iter().filter_map(RoomState::oldest).min() {
                self.history.forget_all_before(oldest);
            }
        }
    }

    /// Puts the late readings in their place, room by room. A backlog that reaches
    /// before where the rooms started starts every room earlier (back to the
    /// correction horizon at most), as a run that had it on time would have.
    fn correct(&mut self, f: i64, out: &mut Vec<Output>) {
        let earlier = self.earlier.take();
        let recompute = if f >= self.recompute_after && self.origin.is_some() {
            std::mem::take(&mut self.recompute)
        } else {
            Vec::new()
        };
        if self.late.is_empty() && earlier.is_none() && recompute.is_empty() {
            return;
        }
        let mut by_room: std::collections::BTreeMap<RoomIdx, Vec<Reading>> = Default::default();
        for r in self.late.drain(..) {
            by_room.entry(r.room).or_default().push(r);
        }
        let mut from: HashMap<RoomIdx, i64> = HashMap::new();
        if let Some(t) = earlier {
            let days = self.config.correction_days;
            for state in &mut self.rooms {
                let Some(at_origin) = state.at_origin() else {
                    continue;
                };
                let start = t.max(at_origin.horizon(f, days));
                if start < at_origin.origin() {
                    let tracker = at_origin.rewound(&self.registry, start, &self.config);
                    let room = tracker.room();
                    state.start_earlier(tracker);
                    from.insert(room, start);
                    by_room.entry(room).or_default();
                }
            }
            if let Some(o) = self.origin.as_mut() {
                *o = (*o).min(t);
            }
        }
        // A registry change from a past time: the room's snapshots from then on
        // take the new registry, and the room is replayed from there; days
        // before it are not emitted again.
        let mut days_from: HashMap<RoomIdx, i64> = HashMap::new();
        for (room, t) in recompute {
            let Some(state) = self.rooms.get_mut((room.0 / self.peers) as usize) else {
                continue;
            };
            // As far back as the snapshots reach; days before keep their numbers.
            let reach = state.oldest().map_or(t, |o| t.max(o));
            if reach > t {
                tracing::warn!(
                    room = room.0,
                    from = t,
                    reach,
                    "a registry change dates back further than corrections reach; earlier days keep the registry before"
                );
            }
            let t = reach;
            state.reattach_from(t, &self.registry, &self.config);
            days_from.insert(room, t);
            let at = from.entry(room).or_insert(t);
            *at = (*at).min(t);
            by_room.entry(room).or_default();
        }
        for (room, late) in by_room {
            let Some(state) = self.rooms.get_mut((room.0 / self.peers) as usize) else {
                continue;
            };
            let before = state.tracker.window_end();
            let start = from.get(&room).copied();
            let days = days_from.get(&room).copied();
            for r in state.correct(late, start, days, f, &mut self.history, out) {
                tracing::debug!(
                    room = room.0,
                    time_ms = r.time_ms,
                    "late reading too old to correct"
                );
                out.push(Output::Late(r));
            }
            let after = state.tracker.window_end();
            if after != before {
                self.ends.remove(&(before, room));
                self.ends.insert((after, room));
            }
        }
    }
}

/// Builds the dataflow on `worker`; returns its input handle and probe.
pub(crate) fn build(
    worker: &mut timely::worker::Worker,
    registry: devices::Current,
    switches: Arc<switch::Switches>,
    config: Arc<StreamConfig>,
    out: crate::OutputSender,
    stats: Arc<StreamStats>,
) -> (InputHandleVec<u64, Input>, ProbeHandle<u64>) {
    let index = worker.index();
    let peers = worker.peers();
    let mut input = InputHandleVec::new();
    let probe = ProbeHandle::new();
    let site_registry = registry.clone();
    let site_checkpoints = config.checkpoints.clone();
    let address = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let rooms_address = std::rc::Rc::clone(&address);
    let rooms_switches = Arc::clone(&switches);
    worker.dataflow::<u64, _, _>(|scope| {
        let rooms = scope
            .input_from(&mut input)
            .unary_frontier(Exchange::new(route), "Rooms", move |cap, info| {
                *rooms_address.borrow_mut() = info.address.to_vec();
                let mut cap = Some(cap);
                let mut rooms = Rooms::new(registry, rooms_switches, index, peers, config, stats);
                let mut buf = Vec::new();
                move |(input, frontier), output| {
                    rooms.follow();
                    input.for_each(|_, data| {
                        for x in data.drain(..) {
                            rooms.receive(x, &mut buf);
                        }
                    });
                    rooms.announce_live(&mut buf);
                    let f = frontier.frontier().first().copied();
                    if let Some(f) = f {
                        rooms.advance(f as i64, &mut buf);
                    }
                    if let Some(c) = &cap
                        && !buf.is_empty()
                    {
                        let mut session = output.session(c);
                        for o in buf.drain(..) {
                            session.give(o);
                        }
                    }
                    match f {
                        Some(f) => {
                            if let Some(c) = cap.as_mut()
                                && *c.time() < f
                            {
                                c.downgrade(&f);
                            }
                        }
                        None => cap = None,
                    }
                }
            })
            .container::<Vec<Output>>();
        let current = site_registry.clone();
        let mut reg = current.get();
        let sites = rooms
            .unary(
                // Sites by site; live changes all to worker 0 (in a cluster: the
                // process that serves the web page).
                Exchange::new(move |o: &Output| match o {
                    Output::Live(_) => 0,
                    _ => {
                        // A room a switch added: the registry of now has it (a
                        // room's site never changes: another site's is another room).
                        if room_of(o).is_some_and(|r| r.ix() >= reg.rooms.len()) {
                            reg = current.get();
                        }
                        site_of(&reg, o)
                    }
                }),
                "Sites",
                move |_cap, _info| {
                    let mut sites = Sites::new(site_registry, index, peers, &site_checkpoints);
                    let mut extra = Vec::new();
                    move |input, output| {
                        // Rooms a registry switch added may send rows from now on.
                        sites.follow();
                        input.for_each(|cap, data| {
                            let mut session = output.session(&cap);
                            for o in data.drain(..) {
                                if sites.receive(&o, &mut extra) {
                                    session.give(o);
                                }
                                for e in extra.drain(..) {
                                    session.give(e);
                                }
                            }
                        });
                    }
                },
            )
            .container::<Vec<Output>>()
            .probe_with(&probe);
        sites.sink(Pipeline, "Out", move |(input, _frontier)| {
            input.for_each(|_, data| {
                for o in data.drain(..) {
                    // The receiver is gone only when the pipeline shuts down.
                    out.send(o);
                }
            });
        });
    });
    // A switch wakes the rooms operator, readings or not.
    switches.wake_with(worker.sync_activator_for(address.take()));
    (input, probe)
}
