//! A worker's rooms take a new version of the registry of all time in place,
//! between two readings: nothing stops, nothing is read back from disk.

use super::Rooms;
use crate::correct::RoomState;
use crate::room::RoomTracker;
use devices::RoomIdx;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use timely::scheduling::SyncActivator;

/// One registry switch: what it changed.
struct Switch {
    changed: Vec<RoomIdx>,
    recompute: Vec<(RoomIdx, i64)>,
}

/// The registry switches of a running stream, shared by its workers: each
/// takes those it has not taken yet before its next reading, or when woken.
#[derive(Default)]
pub(crate) struct Switches {
    /// How many there have been (the length of `log`).
    count: AtomicU64,
    log: Mutex<Vec<Arc<Switch>>>,
    /// Wake each worker's rooms operator.
    wake: Mutex<Vec<SyncActivator>>,
}

impl Switches {
    /// How many switches there have been.
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    /// Records a switch (the registry `Current` already holds it) and wakes the workers.
    pub(crate) fn push(&self, changed: Vec<RoomIdx>, recompute: Vec<(RoomIdx, i64)>) {
        {
            let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
            log.push(Arc::new(Switch { changed, recompute }));
            self.count.store(log.len() as u64, Ordering::Release);
        }
        for w in self.wake.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            // A worker that has ended takes nothing any more.
            let _ = w.activate();
        }
    }

    /// Switches from the `from`-th on.
    fn since(&self, from: u64) -> Vec<Arc<Switch>> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.iter().skip(from as usize).cloned().collect()
    }

    /// Wakes a worker's rooms operator at each switch.
    pub(crate) fn wake_with(&self, activator: SyncActivator) {
        self.wake
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(activator);
    }
}

impl Rooms {
    /// Whether the registry of now has the room and device of `r`. In a
    /// cluster, another process may have switched to a registry first and
    /// checked `r` under it: this process's switch follows within seconds,
    /// and is waited for (at most `SWITCH_WAIT`; then `r` is left to the
    /// tables, which have it).
    pub(super) fn knows(&mut self, r: &devices::Reading) -> bool {
        let has = |s: &Rooms| {
            r.room.ix() < s.registry.rooms.len() && r.device.ix() < s.registry.devices.len()
        };
        if has(self) {
            return true;
        }
        let known = crate::wait_for_switch(|| {
            self.follow();
            has(self)
        });
        if !known {
            tracing::error!(
                room = r.room.0,
                device = r.device.0,
                "a reading of a room or device this process's registry does not have (another process switched to a registry this one did not take); it is in raw_events only"
            );
        }
        known
    }

    /// Takes the switches made since the last look.
    pub(super) fn follow(&mut self) {
        if self.switches.count() == self.switches_taken {
            return;
        }
        for s in self.switches.since(self.switches_taken) {
            self.switch(&s.changed, s.recompute.clone());
            self.switches_taken += 1;
        }
    }

    /// The registry switched: rooms it added are followed from the frontier
    /// on (as a room a checkpoint did not know), the `changed` ones take their
    /// new entry (devices, bindings, schedule and capacity eras) in their
    /// tracker and every snapshot a correction starts from, and the rooms of
    /// `recompute` are computed again from their time at the next frontier.
    pub(super) fn switch(&mut self, changed: &[RoomIdx], recompute: Vec<(RoomIdx, i64)>) {
        let began = Instant::now();
        let registry = self.current.get();
        let before = self.registry.rooms.len();
        self.registry = Arc::clone(&registry);
        let mine = |r: &RoomIdx| r.0 % self.peers == self.index as u32;
        let added: Vec<RoomIdx> = (before..registry.rooms.len())
            .map(|i| RoomIdx(i as u32))
            .filter(mine)
            .collect();
        for &room in &added {
            self.owned.push(room);
            // Not started yet: `start` makes every owned room's tracker.
            let Some(origin) = self.origin else {
                continue;
            };
            let at = self.frontier.max(origin);
            let t = RoomTracker::new(&registry, room, at, &self.config);
            self.ends.insert((t.window_end(), room));
            debug_assert_eq!((room.0 / self.peers) as usize, self.rooms.len());
            self.rooms
                .push(RoomState::new(t, self.config.correction_days));
        }
        let mut attached = 0;
        for room in changed.iter().filter(|r| mine(r) && r.ix() < before) {
            if let Some(state) = self.rooms.get_mut((room.0 / self.peers) as usize) {
                state.attach_all(&registry, &self.config);
                attached += 1;
            }
            if let Some(sig) = self.live.get_mut(room) {
                sig.attach(&registry, *room, self.config.door_reset_hour);
            }
        }
        let again: Vec<_> = recompute.into_iter().filter(|(r, _)| mine(r)).collect();
        if !again.is_empty() {
            self.recompute.extend(again);
            // The state is where it was: no rebuild to wait for.
            self.recompute_after = i64::MIN;
        }
        let ms = began.elapsed().as_millis() as u64;
        self.stats.switch_ms.fetch_max(ms, Ordering::Relaxed);
        self.stats.switched.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            worker = self.index,
            added = added.len(),
            attached,
            ms,
            "the worker's rooms took the new registry"
        );
    }
}
