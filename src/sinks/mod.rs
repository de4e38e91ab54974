//! Where the stream's outputs go. Each sink has its own queue and its own
//! policy, so that none can stall another:
//!
//! - **tables** (Parquet): never lose a row. A thread of their own behind a
//!   bounded queue; when it is full the dispatcher waits, and through it the
//!   stream and ingest (backpressure, as between the other stages).
//! - **live board**: keeps the latest state of each room; an update is a write
//!   in memory and never waits.
//! - **InfluxDB**: points are handed to the writer task without waiting; it
//!   spools what the server does not take (`influx`).
//!
//! The dispatcher thread takes the stream's outputs, leaves out rows written
//! before a restart, and hands each to the sinks it is for.

pub mod influx;
mod tables;

use crate::checkpoint::Committer;
use crate::restart::AlreadyWritten;
use analytics::influx::Feed;
use dashboards::LiveBoard;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use stream::Output;

/// Rows that may wait for the tables writer: about a minute of national load
/// and a flush interval's worth at any smaller one.
const TABLES_QUEUE: usize = 262_144;

/// What the sinks are given at start.
pub struct Parts {
    /// The tables.
    pub store: Arc<analytics::Store>,
    /// The live board of the web app.
    pub board: Arc<LiveBoard>,
    /// How often the tables are written.
    pub flush: Duration,
    /// Rows the tables already hold (a restart recomputes them).
    pub already: AlreadyWritten,
    /// The InfluxDB writer's feed, when `[influx]` is configured.
    pub influx: Option<Feed>,
    /// Commits checkpoints once their rows are in the tables.
    pub committer: Committer,
    /// Where the flags go for the alerts.
    pub alert_flags: std::sync::mpsc::Sender<devices::Flag>,
}

/// The running sinks.
pub struct Sinks {
    dispatcher: JoinHandle<anyhow::Result<()>>,
    tables: JoinHandle<anyhow::Result<()>>,
}

impl Sinks {
    /// Starts the tables writer and the dispatcher reading `rx`.
    pub fn start(rx: Receiver<Output>, parts: Parts) -> anyhow::Result<Sinks> {
        let Parts {
            store,
            board,
            flush,
            already,
            influx,
            committer,
            alert_flags,
        } = parts;
        let (tables_tx, tables_rx) = std::sync::mpsc::sync_channel(TABLES_QUEUE);
        let tables = std::thread::Builder::new()
            .name("tables".into())
            .spawn(move || tables::run(&tables_rx, &store, flush, committer))?;
        let dispatcher = std::thread::Builder::new()
            .name("sinks".into())
            .spawn(move || {
                Dispatcher {
                    board,
                    already,
                    influx,
                    tables: tables_tx,
                    too_late: TooLate::default(),
                    alert_flags,
                }
                .run(&rx)
            })?;
        Ok(Sinks { dispatcher, tables })
    }

    /// Whether a sink has stopped on its own (an error).
    pub fn is_finished(&self) -> bool {
        self.dispatcher.is_finished() || self.tables.is_finished()
    }

    /// Waits until the stream's outputs have ended and every row is written.
    pub fn join(self) -> anyhow::Result<()> {
        let dispatched = self
            .dispatcher
            .join()
            .map_err(|_| anyhow::anyhow!("the sinks' dispatcher panicked"))?;
        let written = self
            .tables
            .join()
            .map_err(|_| anyhow::anyhow!("the tables writer panicked"))?;
        // The tables' error says why the dispatcher could not hand them rows.
        written.and(dispatched)
    }
}

struct Dispatcher {
    board: Arc<LiveBoard>,
    already: AlreadyWritten,
    influx: Option<Feed>,
    tables: SyncSender<Output>,
    too_late: TooLate,
    alert_flags: std::sync::mpsc::Sender<devices::Flag>,
}

impl Dispatcher {
    fn run(mut self, rx: &Receiver<Output>) -> anyhow::Result<()> {
        loop {
            let o = match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(o) => o,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            };
            if !self.already.keep(&o) {
                continue;
            }
            if let Some(feed) = &self.influx {
                influx::offer(feed, &o);
            }
            if let Output::Flag(f) = &o
                && matches!(
                    f.kind,
                    devices::FlagKind::Idle | devices::FlagKind::DoorDrift
                )
            {
                // The engine may have stopped first; the flag is in the tables all the same.
                let _ = self.alert_flags.send(f.clone());
            }
            match o {
                Output::Live(l) => self.board.update(l),
                Output::Late(r) => self.too_late.note(&r),
                Output::Status(_) => {}
                rows @ (Output::Window(_)
                | Output::Flag(_)
                | Output::SiteDay(_)
                | Output::IdleSlot(_)
                | Output::DeviceDay(_)
                | Output::Mark { .. }) => {
                    if self.tables.send(rows).is_err() {
                        anyhow::bail!("the tables writer stopped");
                    }
                }
            }
        }
    }
}

/// Readings older than the correction path reaches: in `raw_events`, not in
/// the windows. One log line a minute, with the count: a backlog brings thousands.
#[derive(Default)]
struct TooLate {
    count: u64,
    logged: Option<Instant>,
}

impl TooLate {
    fn note(&mut self, r: &devices::Reading) {
        self.count += 1;
        if self
            .logged
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
        {
            tracing::warn!(
                room = r.room.0,
                time_ms = r.time_ms,
                count = self.count,
                "readings too late to correct; kept in raw_events only"
            );
            self.logged = Some(Instant::now());
            self.count = 0;
        }
    }
}
