//! Feeds readings into the dataflow's input at the watermark.

use crate::StreamStats;
use crate::dataflow::Input;
use crate::watermark::Watermark;
use devices::Reading;
use std::sync::atomic::Ordering;
use timely::dataflow::InputHandleVec;

/// The input handle of worker 0 with its watermark.
pub(crate) struct Feeder {
    input: InputHandleVec<u64, Input>,
    wm: Watermark,
    started: bool,
    /// The earliest origin sent to the workers.
    origin: i64,
    workers: u32,
    /// This input's number among the inputs (the process of a cluster).
    source: u32,
    checkpoints: crate::Checkpoints,
}

/// What a checkpoint keeps of the feeder.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedFeeder {
    wm: crate::watermark::SavedWatermark,
    started: bool,
    origin: i64,
    input_time: u64,
}

impl Feeder {
    pub(crate) fn new(input: InputHandleVec<u64, Input>, wm: Watermark, workers: usize) -> Feeder {
        Feeder {
            input,
            wm,
            started: false,
            origin: i64::MAX,
            workers: workers as u32,
            source: 0,
            checkpoints: crate::Checkpoints::default(),
        }
    }

    /// Writes checkpoints under `checkpoints.dir` as input `source`, and starts from
    /// `checkpoints.resume` when given.
    pub(crate) fn with_checkpoints(
        mut self,
        source: u32,
        checkpoints: crate::Checkpoints,
    ) -> Feeder {
        self.source = source;
        if let Some(dir) = &checkpoints.resume {
            match crate::checkpoint::read_part::<SavedFeeder>(dir, crate::checkpoint::FEEDER_PART) {
                Ok(saved) => {
                    self.wm.resume(saved.wm);
                    self.started = saved.started;
                    self.origin = saved.origin;
                    self.input.advance_to(saved.input_time);
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the watermark's checkpoint; it starts anew")
                }
            }
        }
        self.checkpoints = checkpoints;
        self
    }

    /// Checkpoint `mark`: the watermark is written, and every worker is told
    /// that this input's readings so far are in it.
    pub(crate) fn mark(&mut self, mark: crate::checkpoint::Mark) {
        if let Some(dir) = &self.checkpoints.dir {
            let saved = SavedFeeder {
                wm: self.wm.save(),
                started: self.started,
                origin: self.origin,
                input_time: *self.input.time(),
            };
            let dir = dir.join(format!("{:013}", mark.epoch));
            if let Err(e) =
                crate::checkpoint::write_part(&dir, crate::checkpoint::FEEDER_PART, &saved)
            {
                tracing::error!(error = %e, "cannot write the watermark's checkpoint");
                return;
            }
        }
        for w in 0..self.workers {
            self.input.send(Input::Mark {
                worker: w,
                source: self.source,
                mark: mark.clone(),
            });
        }
        self.input.flush();
    }

    /// Rooms are followed from `at`: the first batch's earliest reading, or the first watermark.
    fn start(&mut self, at: i64) {
        if self.started {
            return;
        }
        self.started = true;
        self.input.advance_to(at.max(0) as u64);
        self.send_origin(at);
    }

    /// Tells every worker that rooms are followed from `at`.
    fn send_origin(&mut self, at: i64) {
        self.origin = self.origin.min(at);
        for w in 0..self.workers {
            self.input.send(Input::Origin { worker: w, at });
        }
    }

    /// Sends a batch at the current input time; readings behind the watermark go to the correction path.
    pub(crate) fn feed(&mut self, batch: Vec<Reading>, stats: &StreamStats) {
        let Some(max_t) = batch.iter().map(Reading::time_s).max() else {
            return;
        };
        let min_t = batch.iter().map(Reading::time_s).min().unwrap_or(max_t);
        self.start(min_t);
        // A backlog from before the rooms started: they start earlier (the workers
        // keep to the correction horizon).
        if min_t < self.origin {
            self.send_origin(min_t);
        }
        for r in batch {
            self.wm.observe_device(r.device, r.time_s());
            if self.wm.is_late(r.time_s()) {
                stats.late.fetch_add(1, Ordering::Relaxed);
                self.input.send(Input::Late(r));
            } else {
                stats.readings.fetch_add(1, Ordering::Relaxed);
                self.input.send(Input::Reading(r));
            }
        }
        self.wm.settle();
        // Delivered now, not when the watermark next moves: the live view shows them at once.
        self.input.flush();
    }

    /// Moves the input frontier up to the watermark (after `tick`ing it with the clock).
    pub(crate) fn advance(&mut self, clock_now_s: Option<i64>, stats: &StreamStats) {
        if let Some(now) = clock_now_s {
            self.wm.tick(now);
        }
        let Some(w) = self.wm.get() else {
            return;
        };
        self.start(w);
        if w.max(0) as u64 > *self.input.time() {
            self.input.advance_to(w as u64);
            stats.watermark.store(w, Ordering::Relaxed);
        }
    }

    /// Raises the watermark to `t` (end of a replay).
    pub(crate) fn finish_at(&mut self, t: i64, stats: &StreamStats) {
        self.wm.raise_to(t);
        self.advance(None, stats);
    }

    pub(crate) fn time(&self) -> &u64 {
        self.input.time()
    }
}
