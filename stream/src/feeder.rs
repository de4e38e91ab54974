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
}

impl Feeder {
    pub(crate) fn new(input: InputHandleVec<u64, Input>, wm: Watermark, workers: usize) -> Feeder {
        Feeder {
            input,
            wm,
            started: false,
            origin: i64::MAX,
            workers: workers as u32,
        }
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
