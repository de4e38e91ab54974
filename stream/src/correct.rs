//! The correction path: a reading later than the allowed lateness is put in
//! its place by replaying the room from the last local midnight before it.
//!
//! Each room keeps its tracker as it stood at the start of each of the last
//! `correction_days` local days (snapshots) and the readings it applied since
//! the oldest. A late reading rebuilds the room from the snapshot of its day:
//! the snapshot, the kept readings and the late ones, in event-time order,
//! give exactly the state a run that had the reading on time would have. The
//! windows that closed again are emitted with their revision raised.

use crate::Output;
use crate::StreamConfig;
use crate::history::History;
use crate::room::{Pools, RoomTracker, SavedPools, TrackerForm};
use devices::{Reading, Registry, RoomIdx, WindowKind};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// A room's tracker with what a correction needs.
#[derive(Debug, Clone)]
pub(crate) struct RoomState {
    pub(crate) tracker: RoomTracker,
    /// (local day start, the tracker at that instant), oldest first; boxed, as
    /// most rooms hold fewer than the deque's smallest allocation.
    snapshots: VecDeque<(i64, Box<RoomTracker>)>,
    keep_days: usize,
    /// Where the room started (Unix s): the first snapshot until a midnight replaces it.
    origin: i64,
    /// Revisions already written: hour windows by start, days (and all that hangs on them) by start.
    hour_revisions: HashMap<i64, u16>,
    day_revisions: HashMap<i64, u16>,
}

/// The start of the day an output belongs to (none: hour rows, live and others).
fn day_of(o: &Output) -> Option<i64> {
    match o {
        Output::Window(w) if w.kind != WindowKind::Hour => Some(w.start),
        Output::Flag(f) => Some(f.day),
        Output::IdleSlot(s) => Some(s.day),
        Output::DeviceDay(d) => Some(d.start),
        Output::Status(s) => Some(s.day),
        _ => None,
    }
}

/// A room's state as a checkpoint keeps it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct StateForm<'a> {
    tracker: TrackerForm<'a>,
    snapshots: Vec<(i64, TrackerForm<'a>)>,
    keep_days: usize,
    origin: i64,
    hour_revisions: Vec<(i64, u16)>,
    day_revisions: Vec<(i64, u16)>,
}

impl RoomState {
    /// The form a checkpoint keeps.
    pub(crate) fn to_form(&self, pools: &mut Pools) -> StateForm<'_> {
        StateForm {
            tracker: self.tracker.to_form(pools),
            snapshots: self
                .snapshots
                .iter()
                .map(|(t, s)| (*t, s.to_form(pools)))
                .collect(),
            keep_days: self.keep_days,
            origin: self.origin,
            hour_revisions: self.hour_revisions.iter().map(|(k, v)| (*k, *v)).collect(),
            day_revisions: self.day_revisions.iter().map(|(k, v)| (*k, *v)).collect(),
        }
    }

    /// Back from a checkpoint's form.
    pub(crate) fn from_form(
        registry: &Registry,
        room: RoomIdx,
        config: &Arc<StreamConfig>,
        form: StateForm<'_>,
        pools: &SavedPools,
    ) -> RoomState {
        let template = RoomTracker::new(registry, room, form.origin, config);
        let tracker = |f| Box::new(RoomTracker::from_form(registry, &template, f, pools));
        RoomState {
            tracker: *tracker(form.tracker),
            snapshots: form
                .snapshots
                .into_iter()
                .map(|(t, f)| (t, tracker(f)))
                .collect(),
            keep_days: form.keep_days,
            origin: form.origin,
            hour_revisions: form.hour_revisions.into_iter().collect(),
            day_revisions: form.day_revisions.into_iter().collect(),
        }
    }

    /// Follows a room from the tracker's origin, which is the first snapshot.
    pub(crate) fn new(tracker: RoomTracker, keep_days: usize) -> RoomState {
        let mut snapshots = VecDeque::with_capacity(keep_days + 1);
        let origin = tracker.origin();
        if keep_days > 0 {
            snapshots.push_back((origin, Box::new(tracker.clone())));
        }
        RoomState {
            tracker,
            snapshots,
            keep_days,
            origin,
            hour_revisions: HashMap::new(),
            day_revisions: HashMap::new(),
        }
    }

    /// The start of the oldest snapshot: no correction reaches before it.
    pub(crate) fn oldest(&self) -> Option<i64> {
        self.snapshots.front().map(|(t, _)| *t)
    }

    /// The tracker as it stood at the room's origin, while no midnight has replaced it:
    /// the room could still have started earlier (a backlog reaching before it).
    pub(crate) fn at_origin(&self) -> Option<&RoomTracker> {
        self.snapshots
            .front()
            .filter(|(t, _)| *t == self.origin)
            .map(|(_, tracker)| &**tracker)
    }

    /// Starts the room earlier: `tracker` follows it from an origin before the
    /// current one ([`RoomTracker::rewound`]); the next correction replays from it.
    pub(crate) fn start_earlier(&mut self, tracker: RoomTracker) {
        let origin = tracker.origin();
        if self.at_origin().is_none() || origin >= self.origin {
            return;
        }
        self.snapshots[0] = (origin, Box::new(tracker));
        self.origin = origin;
    }

    /// Takes a snapshot at every local midnight up to `until`.
    fn cross_days(&mut self, until: i64, history: &mut History, out: &mut Vec<Output>) {
        if self.keep_days == 0 {
            return;
        }
        while self.tracker.day_end() <= until {
            let midnight = self.tracker.day_end();
            self.tracker.advance(midnight);
            self.tracker.drain_into(out);
            self.snapshots
                .push_back((midnight, Box::new(self.tracker.clone())));
            while self.snapshots.len() > self.keep_days {
                self.snapshots.pop_front();
            }
            if let Some((oldest, _)) = self.snapshots.front() {
                let oldest = *oldest;
                history.forget(self.tracker.room(), oldest);
                // Rows from before the oldest snapshot can no longer be revised.
                self.hour_revisions.retain(|t, _| *t >= oldest - 86_400);
                self.day_revisions.retain(|t, _| *t >= oldest - 2 * 86_400);
            }
        }
    }

    /// Applies a reading in event-time order.
    pub(crate) fn apply(&mut self, r: Reading, history: &mut History, out: &mut Vec<Output>) {
        self.cross_days(r.time_s(), history, out);
        self.step(&r, out);
        if self.keep_days > 0 {
            history.record(r);
        }
    }

    fn step(&mut self, r: &Reading, out: &mut Vec<Output>) {
        self.tracker.apply(r);
        self.tracker.drain_into(out);
    }

    /// Integrates up to `until`, closing what ends by then.
    pub(crate) fn advance(&mut self, until: i64, history: &mut History, out: &mut Vec<Output>) {
        self.cross_days(until, history, out);
        self.tracker.advance(until);
        self.tracker.drain_into(out);
    }

    /// Puts late readings in their place; the frontier is at `f`. Returns the
    /// readings too old to correct (before the oldest snapshot).
    ///
    /// `from`: replay from this instant even without late readings (the room was
    /// started earlier, [`RoomState::start_earlier`], or changed from then).
    /// `days_from`: days that start before it are not emitted again (a change
    /// of the registry from a midnight leaves the day before as it was).
    pub(crate) fn correct(
        &mut self,
        mut late: Vec<Reading>,
        from: Option<i64>,
        days_from: Option<i64>,
        f: i64,
        history: &mut History,
        out: &mut Vec<Output>,
    ) -> Vec<Reading> {
        let oldest = self.snapshots.front().map(|(t, _)| *t);
        let (fixable, too_old): (Vec<Reading>, Vec<Reading>) = late
            .drain(..)
            .partition(|r| oldest.is_some_and(|o| r.time_s() >= o));
        let earliest = fixable.iter().map(Reading::time_s).min();
        let Some(t0) = earliest.into_iter().chain(from).min() else {
            return too_old;
        };
        // The latest snapshot at or before the earliest late reading.
        let Some(pos) = self.snapshots.iter().rposition(|(t, _)| *t <= t0) else {
            return too_old;
        };
        let start = self.snapshots[pos].0;
        self.tracker = (*self.snapshots[pos].1).clone();
        self.snapshots.truncate(pos + 1);
        let mut rebuilt = Vec::new();
        for r in history.rebuild(self.tracker.room(), start, fixable) {
            // Crossing a midnight here takes the snapshot again; the history already holds r.
            self.cross_days(r.time_s(), history, &mut rebuilt);
            self.step(&r, &mut rebuilt);
        }
        self.advance(f, history, &mut rebuilt);
        if let Some(d) = days_from {
            rebuilt.retain(|o| day_of(o).is_none_or(|start| start >= d));
        }
        self.revise(t0, rebuilt, out);
        too_old
    }

    /// Takes a later version of the registry of all time in the tracker and
    /// every snapshot (devices added, bindings and eras), the windows staying
    /// as they were opened: for a change from now on.
    pub(crate) fn attach_all(&mut self, registry: &Registry, config: &StreamConfig) {
        for (_, s) in &mut self.snapshots {
            s.attach(registry, config);
        }
        self.tracker.attach(registry, config);
    }

    /// The snapshots from the one holding `t` on take the registry again (a
    /// version changed the room from `t`), their open windows made anew.
    pub(crate) fn reattach_from(&mut self, t: i64, registry: &Registry, config: &StreamConfig) {
        let from = self
            .snapshots
            .iter()
            .rposition(|(at, _)| *at <= t)
            .unwrap_or(0);
        for (_, s) in self.snapshots.iter_mut().skip(from) {
            s.attach(registry, config);
            s.reopen_windows();
        }
        self.tracker.attach(registry, config);
    }

    /// Emits what closed again, with revisions raised; hours that ended before the
    /// earliest late reading cannot have changed and are left out.
    fn revise(&mut self, t0: i64, rows: Vec<Output>, out: &mut Vec<Output>) {
        let mut days_seen: HashMap<i64, u16> = HashMap::new();
        let mut day_rev = |revs: &mut HashMap<i64, u16>, day: i64| {
            *days_seen.entry(day).or_insert_with(|| {
                let r = revs.entry(day).or_insert(0);
                *r += 1;
                *r
            })
        };
        for o in rows {
            match o {
                Output::Window(mut w) => {
                    match w.kind {
                        WindowKind::Hour if w.end <= t0 => continue,
                        WindowKind::Hour => {
                            let r = self.hour_revisions.entry(w.start).or_insert(0);
                            *r += 1;
                            w.revision = *r;
                        }
                        _ => w.revision = day_rev(&mut self.day_revisions, w.start),
                    }
                    out.push(Output::Window(w));
                }
                Output::Flag(mut f) => {
                    f.revision = day_rev(&mut self.day_revisions, f.day);
                    out.push(Output::Flag(f));
                }
                Output::IdleSlot(mut s) => {
                    s.revision = day_rev(&mut self.day_revisions, s.day);
                    out.push(Output::IdleSlot(s));
                }
                Output::DeviceDay(mut d) => {
                    d.revision = day_rev(&mut self.day_revisions, d.start);
                    out.push(Output::DeviceDay(d));
                }
                Output::Status(mut s) => {
                    s.revision = day_rev(&mut self.day_revisions, s.day);
                    out.push(Output::Status(s));
                }
                other => out.push(other),
            }
        }
    }
}
