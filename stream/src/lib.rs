//! The streaming stage of doorstep: a timely dataflow in event time that turns
//! validated [`devices::Reading`]s into each room's occupancy signal n(t),
//! live occupancy, and closed hourly windows ([`devices::RoomWindow`]) exactly
//! as METRICS.md defines them.
//!
//! Timely timestamps are event time in Unix seconds, one per batch; the input
//! frontier follows a [`watermark::Watermark`]. Readings are exchanged to the
//! worker that owns their room, applied in event-time order once the frontier
//! passes them, and a room's window is emitted once the frontier passes its end.
//!
//! ```no_run
//! use std::sync::{Arc, mpsc};
//! # fn run(registry: Arc<devices::Registry>, batch: Vec<devices::Reading>) -> Result<(), stream::Error> {
//! let (tx, rx) = mpsc::sync_channel(10_000);
//! let stream = stream::Stream::start(registry, devices::Clock::wall(), &stream::StreamConfig::default(), tx)?;
//! stream.send(batch)?;
//! for output in rx.try_iter() {
//!     if let stream::Output::Window(row) = output {
//!         println!("{:?}", row.time_utilization());
//!     }
//! }
//! stream.shutdown()
//! # }
//! ```

pub mod checkpoint;
mod correct;
mod dataflow;
mod driver;
mod feeder;
pub mod flags;
mod history;
pub mod local_time;
mod replay;
pub mod room;
mod room_info;
pub mod signal;
mod site;
pub mod slots;
pub mod watermark;
pub mod window;

pub use driver::{Stream, Switcher, Taking};

/// How long a worker waits for its process to switch to a registry that
/// another process of a cluster switched to first.
const SWITCH_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Looks again every 2 ms until `known` (which takes this process's
/// switches) holds, for at most [`SWITCH_WAIT`]; whether it came to hold.
pub(crate) fn wait_for_switch(mut known: impl FnMut() -> bool) -> bool {
    let began = std::time::Instant::now();
    while began.elapsed() < SWITCH_WAIT {
        std::thread::sleep(std::time::Duration::from_millis(2));
        if known() {
            return true;
        }
    }
    false
}
pub use replay::{Replayed, replay};

use devices::{
    DeviceDay, Flag, IdleSlot, LiveRoom, LookbackDay, Reading, RoomIdx, RoomWindow, SiteDay,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex};

/// What the stage produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Output {
    /// A closed hour, day or slot-day of one room.
    Window(RoomWindow),
    /// A flag raised for a room on a day.
    Flag(Flag),
    /// An idle block of a room over the lookback ending on a day.
    IdleSlot(IdleSlot),
    /// A device's day: offline time, battery, a count that never changed.
    DeviceDay(DeviceDay),
    /// A site's day, once every room of the site has closed it.
    SiteDay(SiteDay),
    /// What a room's day means for its site (used inside the dataflow).
    Status(flags::RoomDayStatus),
    /// A room's live occupancy changed.
    Live(LiveRoom),
    /// A reading too late to correct (before the oldest kept day); it is only in `raw_events`.
    Late(Reading),
    /// Every output of the stage's state at checkpoint `mark` came before this one
    /// (from worker `to`'s sites once they are in the checkpoint too).
    Mark {
        /// The worker of the sites stage it goes to.
        to: u32,
        /// The checkpoint.
        mark: checkpoint::Mark,
    },
}

/// Where the dataflow's outputs go: a bounded channel for live use (a slow
/// consumer holds the dataflow back, and so ingest), unbounded for replays.
#[derive(Debug, Clone)]
pub(crate) enum OutputSender {
    Bounded(std::sync::mpsc::SyncSender<Output>),
    Unbounded(std::sync::mpsc::Sender<Output>),
}

impl OutputSender {
    /// Sends, waiting while a bounded channel is full; false once the receiver is gone.
    pub(crate) fn send(&self, o: Output) -> bool {
        match self {
            OutputSender::Bounded(s) => s.send(o).is_ok(),
            OutputSender::Unbounded(s) => s.send(o).is_ok(),
        }
    }
}

/// Settings of the stream stage (`[stream]` in the config file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// Timely worker threads; rooms are spread over them.
    pub workers: usize,
    /// How late (event time) a reading may arrive and still count in its window, seconds.
    pub allowed_lateness_s: u32,
    /// After this many seconds with no reading, windows close by the clock.
    pub idle_after_s: u32,
    /// Local hour at which door rooms are reset to 0 each day.
    pub door_reset_hour: u32,
    /// Batches that may wait for the dataflow before ingest is held back.
    pub queue_batches: usize,
    /// Local days back that a late reading is still corrected (snapshots kept per room).
    pub correction_days: usize,
    /// Thresholds of the daily flags.
    pub flags: flags::FlagConfig,
    /// Where each worker keeps the readings the correction path may replay (a
    /// folder per worker is made under it); `None` keeps them in memory, which
    /// grows with the message rate and suits replays and short runs only.
    #[serde(skip)]
    pub history_dir: Option<std::path::PathBuf>,
    /// This process's place in a timely cluster; `None` runs alone.
    #[serde(skip)]
    pub cluster: Option<Cluster>,
    /// Stored days that seed the rooms' flag and idle-slot lookback when they start
    /// (after a restart; see [`room::RoomTracker::seed`]).
    #[serde(skip)]
    pub lookback: Option<Lookback>,
    /// Seconds between checkpoints of the state (the intake asks for them); 0: none.
    pub checkpoint_interval_s: u32,
    /// Where checkpoints are written and which one the workers start from.
    #[serde(skip)]
    pub checkpoints: Checkpoints,
    /// Rooms whose schedule or capacity changed from a time in the past, with
    /// that time (Unix s): once the frontier reaches `recompute_after` (the
    /// state rebuilt), their windows from then on are computed again and
    /// emitted with their revision raised, as far back as corrections reach.
    #[serde(skip)]
    pub recompute: Vec<(RoomIdx, i64)>,
    /// See `recompute` (Unix s).
    #[serde(skip)]
    pub recompute_after: i64,
}

/// Where the stage's checkpoints go ([`checkpoint`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoints {
    /// This process's checkpoint folders are made under it; `None` writes none.
    pub dir: Option<std::path::PathBuf>,
    /// The checkpoint folder whose state the workers start from.
    pub resume: Option<std::path::PathBuf>,
}

/// One stored day of a room, as compact as the rooms' lookback keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedDay {
    pub(crate) start: i64,
    pub(crate) facts: Arc<flags::DayFacts>,
    pub(crate) hours: Arc<[slots::HourFacts]>,
}

/// Stored days of rooms, each taken once by the worker that owns the room. Days
/// are made compact as they are added, so a national lookback can be read a
/// date at a time without holding the tables' rows.
#[derive(Clone, Default)]
pub struct Lookback(Arc<Mutex<HashMap<RoomIdx, Vec<SeedDay>>>>);

impl Lookback {
    /// The days, by room.
    pub fn new(
        registry: &devices::Registry,
        days: impl IntoIterator<Item = LookbackDay>,
    ) -> Lookback {
        let l = Lookback::default();
        l.add(registry, days);
        l
    }

    /// Adds days (of rooms in `registry`; others are left out).
    pub fn add(&self, registry: &devices::Registry, days: impl IntoIterator<Item = LookbackDay>) {
        let Ok(mut by_room) = self.0.lock() else {
            return;
        };
        for d in days {
            if d.room.ix() >= registry.rooms.len() {
                continue;
            }
            let tz = registry.site_of(d.room).timezone;
            by_room.entry(d.room).or_default().push(SeedDay {
                start: d.start,
                facts: Arc::new(flags::DayFacts::of_stored(&d)),
                hours: slots::hours_of(tz, &d),
            });
        }
    }

    /// Whether it holds no day.
    pub fn is_empty(&self) -> bool {
        self.0.lock().map(|m| m.is_empty()).unwrap_or(true)
    }

    /// Takes the days of `room` (none the second time).
    pub(crate) fn take(&self, room: RoomIdx) -> Vec<SeedDay> {
        self.0
            .lock()
            .map(|mut m| m.remove(&room).unwrap_or_default())
            .unwrap_or_default()
    }
}

impl std::fmt::Debug for Lookback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rooms = self.0.lock().map(|m| m.len()).unwrap_or_default();
        write!(f, "Lookback({rooms} rooms left)")
    }
}

/// The same days (one set is shared by every worker).
impl PartialEq for Lookback {
    fn eq(&self, other: &Lookback) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// A process of a timely cluster: rooms are spread over the workers of every
/// process, and readings taken in by one process are exchanged to the worker
/// that owns their room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// Index of this process, from 0.
    pub process: usize,
    /// `host:port` where each process listens for the others, in process order
    /// (the lines of timely's hosts file).
    pub addresses: Vec<String>,
}

impl Cluster {
    /// Whether process `process` with `threads` workers each owns `room` (rooms go to
    /// workers by `room % all workers`; worker `w` is in process `w / threads`).
    pub fn owns(process: usize, processes: usize, threads: usize, room: devices::RoomIdx) -> bool {
        let peers = (processes * threads).max(1);
        (room.0 as usize % peers) / threads.max(1) == process
    }
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            workers: 1,
            allowed_lateness_s: 120,
            idle_after_s: 10,
            door_reset_hour: 4,
            queue_batches: 64,
            correction_days: 2,
            flags: flags::FlagConfig::default(),
            history_dir: None,
            cluster: None,
            lookback: None,
            checkpoint_interval_s: 300,
            checkpoints: Checkpoints::default(),
            recompute: Vec::new(),
            recompute_after: i64::MIN,
        }
    }
}

/// Counters of the stream stage.
#[derive(Debug, Default)]
pub struct StreamStats {
    /// Readings sent into the dataflow.
    pub readings: AtomicU64,
    /// Readings that came behind the watermark (sent to the correction path).
    pub late: AtomicU64,
    /// Redelivered readings dropped (same device, seq and time).
    pub duplicates: AtomicU64,
    /// Current watermark, Unix seconds.
    pub watermark: AtomicI64,
    /// Checkpoints committed since the start.
    pub checkpoints: AtomicU64,
    /// Size of the last one, bytes.
    pub checkpoint_bytes: AtomicU64,
    /// From asking for the last one to its commit, milliseconds.
    pub checkpoint_write_ms: AtomicU64,
    /// When the last one was committed, Unix ms (0: none yet).
    pub checkpoint_at_ms: AtomicI64,
    /// The checkpoint this start resumed from (its epoch), 0 when it rebuilt from `raw_events`.
    pub resumed_from: AtomicI64,
    /// Registry switches taken in place, counted once per worker.
    pub switched: AtomicU64,
    /// The longest a worker took to take one, milliseconds.
    pub switch_ms: AtomicU64,
}

/// Errors of the stream stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Timely could not start or a worker failed.
    #[error("stream workers: {0}")]
    Timely(String),
    /// The stage has stopped.
    #[error("the stream stage has stopped")]
    Stopped,
}
