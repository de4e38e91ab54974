//! A worker's rooms in a checkpoint: written when every input's marker has
//! arrived, read back when the worker starts from one.

use super::{LiveMarks, Rooms};
use crate::Output;
use crate::checkpoint::{self, Mark};
use crate::correct::{RoomState, StateForm};
use crate::history::{History, SavedHistory};
use crate::room::{Pools, SavedPools};
use crate::signal::RoomSignal;
use devices::{DeviceIdx, LiveRoom, MessageKey, Reading, RoomIdx};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeSet, VecDeque};
use std::path::Path;

/// Everything a worker's rooms need to go on.
#[derive(Serialize, Deserialize)]
struct RoomsForm<'a> {
    pools: SavedPools,
    rooms: Vec<(RoomIdx, StateForm<'a>)>,
    late: Cow<'a, [Reading]>,
    pending: Cow<'a, [Reading]>,
    live: Vec<(RoomIdx, Cow<'a, RoomSignal>)>,
    live_last: Vec<(DeviceIdx, MessageKey)>,
    live_doors: Vec<(DeviceIdx, Vec<(i64, MessageKey)>)>,
    live_marks: Vec<(RoomIdx, LiveMarks)>,
    origin: Option<i64>,
    origins: Option<i64>,
    earlier: Option<i64>,
    frontier: i64,
    pruned_day: i64,
    history: SavedHistory,
}

impl Rooms {
    /// A marker of input `source`: once every input's has come, the state is checkpoint `mark`.
    pub(super) fn mark(&mut self, source: u32, mark: Mark, out: &mut Vec<Output>) {
        let gathering = match self.marks.take() {
            Some((mut m, mut seen)) if m.epoch == mark.epoch => {
                m.covers.extend(mark.covers);
                seen.insert(source);
                (m, seen)
            }
            // A marker of a checkpoint already replaced by a newer one.
            Some(newer) if newer.0.epoch > mark.epoch => {
                self.marks = Some(newer);
                return;
            }
            // A newer checkpoint replaces one an input never finished.
            _ => (mark, BTreeSet::from([source])),
        };
        if gathering.1.len() < self.sources {
            self.marks = Some(gathering);
            return;
        }
        let (mut mark, _) = gathering;
        mark.covers.sort();
        mark.covers.dedup();
        if let Some(dir) = self.config.checkpoints.dir.as_ref() {
            let dir = dir.join(format!("{:013}", mark.epoch));
            match checkpoint::write_part(&dir, &checkpoint::rooms_part(self.index), &self.save()) {
                Ok(bytes) => tracing::debug!(worker = self.index, bytes, "rooms checkpointed"),
                // No marker goes on: the checkpoint is never committed.
                Err(e) => {
                    tracing::error!(error = %e, "cannot write the rooms' checkpoint");
                    return;
                }
            }
        }
        for to in 0..self.peers {
            out.push(Output::Mark {
                to,
                mark: mark.clone(),
            });
        }
    }

    fn save(&mut self) -> RoomsForm<'_> {
        // The history first: it writes its buffers out (the rest only borrows).
        let history = self.history.save();
        let mut pools = Pools::default();
        let rooms = self
            .owned
            .iter()
            .zip(&self.rooms)
            .map(|(room, state)| (*room, state.to_form(&mut pools)))
            .collect();
        RoomsForm {
            pools: pools.into(),
            rooms,
            late: Cow::Borrowed(&self.late),
            pending: Cow::Borrowed(&self.pending),
            live: self
                .live
                .iter()
                .map(|(r, s)| (*r, Cow::Borrowed(s)))
                .collect(),
            live_last: self.live_last.iter().map(|(d, k)| (*d, *k)).collect(),
            live_doors: self
                .live_doors
                .iter()
                .map(|(d, k)| (*d, k.iter().copied().collect()))
                .collect(),
            live_marks: self
                .live_marks
                .iter()
                .map(|(r, m)| {
                    let m = LiveMarks {
                        updated_ms: m.updated_ms,
                        idle_since: m.idle_since,
                        over_since: m.over_since,
                    };
                    (*r, m)
                })
                .collect(),
            origin: self.origin,
            origins: self.origins,
            earlier: self.earlier,
            frontier: self.frontier,
            pruned_day: self.pruned_day,
            history,
        }
    }

    /// Takes the rooms' state from the checkpoint folder `dir`.
    pub(super) fn resume(&mut self, dir: &Path, history_dir: Option<&Path>) {
        let form: RoomsForm<'static> = match checkpoint::read_part(
            dir,
            &checkpoint::rooms_part(self.index),
        ) {
            Ok(f) => f,
            // The caller checked every part before choosing the checkpoint.
            Err(e) => {
                tracing::error!(error = %e, "cannot read the rooms' checkpoint; this worker's rooms start empty");
                self.history = History::open(history_dir);
                return;
            }
        };
        let registry = std::sync::Arc::clone(&self.registry);
        let mut states = std::collections::HashMap::new();
        for (room, f) in form.rooms {
            if (room.0 as usize) < registry.rooms.len() {
                states.insert(
                    room,
                    RoomState::from_form(&registry, room, &self.config, f, &form.pools),
                );
            }
        }
        self.rooms = Vec::with_capacity(self.owned.len());
        // Rooms that had not started when the checkpoint was written start as usual.
        let owned = if form.origin.is_some() {
            self.owned.clone()
        } else {
            Vec::new()
        };
        for &room in &owned {
            let state = states.remove(&room).unwrap_or_else(|| {
                // A room the checkpoint does not know: it starts at the checkpoint's frontier.
                let at = form.frontier.max(form.origin.unwrap_or(form.frontier));
                let t = crate::room::RoomTracker::new(&registry, room, at, &self.config);
                RoomState::new(t, self.config.correction_days)
            });
            self.ends.insert((state.tracker.window_end(), room));
            self.rooms.push(state);
        }
        self.late = form.late.into_owned();
        self.pending = form.pending.into_owned();
        self.live = form
            .live
            .into_iter()
            .map(|(room, sig)| {
                let mut sig = sig.into_owned();
                sig.attach(&registry, room, self.config.door_reset_hour);
                (room, sig)
            })
            .collect();
        self.live_last = form.live_last.into_iter().collect();
        self.live_doors = form
            .live_doors
            .into_iter()
            .map(|(d, k)| (d, k.into_iter().collect::<VecDeque<_>>()))
            .collect();
        self.live_marks = form.live_marks.into_iter().collect();
        self.origin = form.origin;
        self.origins = form.origins;
        self.earlier = form.earlier;
        self.frontier = form.frontier;
        self.pruned_day = form.pruned_day;
        self.history = History::resume(history_dir, form.history);
        self.announce = true;
    }

    /// After a resume: the live view of every room as the checkpoint left it.
    pub(super) fn announce_live(&mut self, out: &mut Vec<Output>) {
        if !std::mem::take(&mut self.announce) {
            return;
        }
        for (room, marks) in &self.live_marks {
            let Some(sig) = self.live.get(room) else {
                continue;
            };
            out.push(Output::Live(LiveRoom {
                room: *room,
                occupancy: sig.value(),
                updated_ms: marks.updated_ms,
                valid_until: sig.valid_until(),
                idle_since_ms: marks.idle_since,
                over_capacity_since_ms: marks.over_since,
            }));
        }
    }
}
