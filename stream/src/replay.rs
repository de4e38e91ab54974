//! Runs the dataflow over readings that are all at hand (tests, imports, rebuilds):
//! deterministic, with no clock.

use crate::dataflow::build;
use crate::feeder::Feeder;
use crate::watermark::Watermark;
use crate::{Error, Output, StreamConfig, StreamStats};
use devices::{DeviceDay, Flag, IdleSlot, LiveRoom, Reading, Registry, RoomWindow, SiteDay};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a replay produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replayed {
    /// Closed windows, sorted by (kind, room, start).
    pub windows: Vec<RoomWindow>,
    /// Readings that came behind the watermark, in arrival order.
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
}

/// Feeds `readings` in the given (arrival) order, `batch` at a time, each batch
/// at the watermark as live ingest would; then raises the watermark to `until`
/// (Unix seconds), closing every window that ends by then.
pub fn replay(
    registry: Arc<Registry>,
    config: &StreamConfig,
    readings: Vec<Reading>,
    batch: usize,
    until: i64,
) -> Result<Replayed, Error> {
    let workers = config.workers.max(1);
    let (tx, rx) = std::sync::mpsc::channel::<Output>();
    let tx = Mutex::new(tx);
    let feed = Mutex::new(Some(readings));
    let lateness = i64::from(config.allowed_lateness_s);
    let shared = Arc::new(config.clone());
    let batch = batch.max(1);
    let guards = timely::execute(timely::Config::process(workers), move |worker| {
        let Ok(out) = tx.lock().map(|t| t.clone()) else {
            return;
        };
        let (input, probe) = build(
            worker,
            Arc::clone(&registry),
            Arc::clone(&shared),
            out.clone(),
        );
        let Some(readings) = feed.lock().ok().and_then(|mut f| f.take()) else {
            return;
        };
        let stats = StreamStats::default();
        let wm = Watermark::new(lateness, Duration::MAX);
        let mut feeder = Feeder::new(input, wm, workers);
        let mut rest = readings.into_iter().peekable();
        while rest.peek().is_some() {
            let chunk: Vec<Reading> = rest.by_ref().take(batch).collect();
            feeder.feed(chunk, &stats, |o| {
                let _ = out.send(o);
            });
            feeder.advance(None, &stats);
            worker.step_while(|| probe.less_than(feeder.time()));
        }
        feeder.finish_at(until, &stats);
        worker.step_while(|| probe.less_than(feeder.time()));
    })
    .map_err(Error::Timely)?;
    for r in guards.join() {
        r.map_err(Error::Timely)?;
    }
    let mut done = Replayed::default();
    for o in rx.try_iter() {
        match o {
            Output::Window(w) => done.windows.push(w),
            Output::Live(l) => done.live.push(l),
            Output::Late(r) => done.late.push(r),
            Output::Flag(f) => done.flags.push(f),
            Output::SiteDay(d) => done.site_days.push(d),
            Output::IdleSlot(s) => done.idle_slots.push(s),
            Output::DeviceDay(d) => done.device_days.push(d),
            Output::Status(_) => {}
        }
    }
    done.windows.sort_by_key(|w| (w.kind, w.room, w.start));
    done.live.sort_by_key(|l| (l.room, l.updated_ms));
    done.flags.sort_by_key(|f| (f.room, f.day, f.kind));
    done.site_days.sort_by_key(|d| (d.site, d.start));
    done.idle_slots
        .sort_by_key(|s| (s.room, s.day, s.weekday, s.start_hour));
    Ok(done)
}
