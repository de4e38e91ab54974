//! Runs the dataflow over readings that are all at hand (tests, imports, rebuilds):
//! deterministic, with no clock.

use crate::dataflow::build;
use crate::feeder::Feeder;
use crate::watermark::Watermark;
use crate::{Error, Output, StreamConfig, StreamStats};
use devices::{
    DeviceDay, Flag, IdleSlot, LiveRoom, Reading, Registry, RoomIdx, RoomWindow, SiteDay,
    WindowKind,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a replay produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replayed {
    /// Closed windows at their latest revision, sorted by (kind, room, start).
    pub windows: Vec<RoomWindow>,
    /// Readings too late to correct (before the oldest kept day), in arrival order.
    pub late: Vec<Reading>,
    /// Live updates, sorted by (room, time).
    pub live: Vec<LiveRoom>,
    /// Flags, sorted by (room, day, kind).
    pub flags: Vec<Flag>,
    /// Site days, sorted by (site, start).
    pub site_days: Vec<SiteDay>,
    /// Idle slots, sorted by (room, day, weekday, start hour).
    pub idle_slots: Vec<IdleSlot>,
    /// Device days, sorted by (device, start).
    pub device_days: Vec<DeviceDay>,
    /// Windows that were rewritten by late readings (rows with a revision above 0 written).
    pub revised: usize,
    /// Redelivered readings dropped.
    pub duplicates: u64,
    /// Readings that arrived behind the watermark (the correction path).
    pub corrected: u64,
}

impl Replayed {
    /// What a run produced followed by what a run resumed from its checkpoint
    /// produced, as the tables would hold both.
    pub fn then(mut self, later: Replayed) -> Replayed {
        self.windows.extend(later.windows);
        self.late.extend(later.late);
        self.live.extend(later.live);
        self.flags.extend(later.flags);
        self.site_days.extend(later.site_days);
        self.idle_slots.extend(later.idle_slots);
        self.device_days.extend(later.device_days);
        self.duplicates += later.duplicates;
        self.corrected += later.corrected;
        self.finish();
        self
    }

    fn finish(&mut self) {
        self.latest_only();
        self.windows.sort_by_key(|w| (w.kind, w.room, w.start));
        self.live.sort_by_key(|l| (l.room, l.updated_ms));
        self.flags.sort_by_key(|f| (f.room, f.day, f.kind));
        self.site_days.sort_by_key(|d| (d.site, d.start));
        self.idle_slots
            .sort_by_key(|s| (s.room, s.day, s.weekday, s.start_hour));
        self.device_days.sort_by_key(|d| (d.device, d.start));
    }

    /// Keeps the latest revision of every row, as a reader of the tables would: windows,
    /// device days and site days by key; flags and idle slots of the latest revision of
    /// their room's day (a rewrite may have dropped a flag).
    fn latest_only(&mut self) {
        fn keep<T, K: std::hash::Hash + Eq>(
            rows: &mut Vec<T>,
            key: impl Fn(&T) -> K,
            rev: impl Fn(&T) -> u16,
        ) {
            let mut best: HashMap<K, u16> = HashMap::new();
            for r in rows.iter() {
                let b = best.entry(key(r)).or_insert(0);
                *b = (*b).max(rev(r));
            }
            rows.retain(|r| best.get(&key(r)) == Some(&rev(r)));
        }
        self.revised = self.windows.iter().filter(|w| w.revision > 0).count();
        keep(
            &mut self.windows,
            |w| (w.kind, w.room, w.start),
            |w| w.revision,
        );
        keep(
            &mut self.device_days,
            |d| (d.device, d.start),
            |d| d.revision,
        );
        keep(&mut self.site_days, |d| (d.site, d.start), |d| d.revision);
        let day_rev: HashMap<(RoomIdx, i64), u16> = self
            .windows
            .iter()
            .filter(|w| w.kind == WindowKind::Day)
            .map(|w| ((w.room, w.start), w.revision))
            .collect();
        self.flags.retain(|f| {
            day_rev
                .get(&(f.room, f.day))
                .is_none_or(|r| *r == f.revision)
        });
        self.idle_slots.retain(|s| {
            day_rev
                .get(&(s.room, s.day))
                .is_none_or(|r| *r == s.revision)
        });
    }
}

/// Feeds `readings` in the given (arrival) order, `batch` at a time, each batch
/// at the watermark as live ingest would; then raises the watermark to `until`
/// (Unix seconds), closing every window that ends by then.
///
/// With `config.checkpoints.dir`, it writes checkpoint 1 there after the last
/// reading instead, and stops as a crash right after it would; with
/// `config.checkpoints.resume`, it starts from that checkpoint.
pub fn replay(
    registry: Arc<Registry>,
    config: &StreamConfig,
    readings: Vec<Reading>,
    batch: usize,
    until: i64,
) -> Result<Replayed, Error> {
    let workers = config.workers.max(1);
    let (tx, rx) = std::sync::mpsc::channel::<Output>();
    let tx = Mutex::new(crate::OutputSender::Unbounded(tx));
    let feed = Mutex::new(Some(readings));
    let lateness = i64::from(config.allowed_lateness_s);
    let shared = Arc::new(config.clone());
    let batch = batch.max(1);
    let stats = Arc::new(StreamStats::default());
    let stats_out = Arc::clone(&stats);
    let guards = timely::execute(timely::Config::process(workers), move |worker| {
        let Ok(out) = tx.lock().map(|t| t.clone()) else {
            return;
        };
        let (input, probe) = build(
            worker,
            devices::Current::new(Arc::clone(&registry)),
            Arc::default(),
            Arc::clone(&shared),
            out.clone(),
            Arc::clone(&stats),
        );
        let Some(readings) = feed.lock().ok().and_then(|mut f| f.take()) else {
            return;
        };
        let wm = Watermark::new(lateness, Duration::MAX);
        let mut feeder =
            Feeder::new(input, wm, workers).with_checkpoints(0, shared.checkpoints.clone());
        let mut rest = readings.into_iter().peekable();
        while rest.peek().is_some() {
            let chunk: Vec<Reading> = rest.by_ref().take(batch).collect();
            feeder.feed(chunk, &stats);
            feeder.advance(None, &stats);
            worker.step_while(|| probe.less_than(feeder.time()));
        }
        if shared.checkpoints.dir.is_some() {
            feeder.mark(crate::checkpoint::Mark {
                epoch: 1,
                at_ms: 0,
                covers: Vec::new(),
            });
            return;
        }
        feeder.finish_at(until, &stats);
        worker.step_while(|| probe.less_than(feeder.time()));
    })
    .map_err(Error::Timely)?;
    for r in guards.join() {
        r.map_err(Error::Timely)?;
    }
    let mut done = Replayed {
        duplicates: stats_out
            .duplicates
            .load(std::sync::atomic::Ordering::Relaxed),
        corrected: stats_out.late.load(std::sync::atomic::Ordering::Relaxed),
        ..Replayed::default()
    };
    for o in rx.try_iter() {
        match o {
            Output::Window(w) => done.windows.push(w),
            Output::Live(l) => done.live.push(l),
            Output::Late(r) => done.late.push(r),
            Output::Flag(f) => done.flags.push(f),
            Output::SiteDay(d) => done.site_days.push(d),
            Output::IdleSlot(s) => done.idle_slots.push(s),
            Output::DeviceDay(d) => done.device_days.push(d),
            Output::Status(_) | Output::Mark { .. } => {}
        }
    }
    done.finish();
    Ok(done)
}
