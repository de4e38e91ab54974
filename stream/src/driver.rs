//! Runs the dataflow on its own threads and feeds it batches of readings.

use crate::dataflow::{Switches, build};
use crate::feeder::Feeder;
use crate::watermark::Watermark;
use crate::{Error, Output, StreamConfig, StreamStats};
use devices::{Clock, Reading, RoomIdx};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

enum Command {
    Batch(Vec<Reading>),
    Checkpoint(crate::checkpoint::Mark),
}

/// The way in for commands; `None` once the stage stops (the workers see the
/// channel close).
type Commands = Arc<Mutex<Option<SyncSender<Command>>>>;

fn sender(commands: &Commands) -> Result<SyncSender<Command>, Error> {
    let guard = commands.lock().map_err(|_| Error::Stopped)?;
    guard.as_ref().cloned().ok_or(Error::Stopped)
}

/// The running stream stage. Dropping it (or [`Stream::shutdown`]) stops the workers.
pub struct Stream {
    commands: Commands,
    guards: Option<timely::communication::WorkerGuards<()>>,
    stats: Arc<StreamStats>,
    workers: usize,
    switches: Arc<Switches>,
}

/// Tells a running stream that the registry switched, from any thread.
#[derive(Clone)]
pub struct Switcher {
    switches: Arc<Switches>,
    stats: Arc<StreamStats>,
    workers: usize,
}

impl Switcher {
    /// The registry `Current` the stream was started with now holds a later
    /// version of the registry of all time: readings sent after this call may
    /// name its new rooms and devices (each worker takes the switch before the
    /// next reading it receives, or when woken by this call). `changed` are
    /// the rooms whose entry differs ([`devices::current::changed_rooms`]);
    /// `recompute` the rooms whose schedule or capacity changed from a past
    /// time (Unix s).
    pub fn switch(&self, changed: Vec<RoomIdx>, recompute: Vec<(RoomIdx, i64)>) -> Taking {
        let taking = Taking {
            began: Instant::now(),
            target: self.stats.switched.load(Ordering::Relaxed) + self.workers as u64,
            stats: Arc::clone(&self.stats),
        };
        self.switches.push(changed, recompute);
        taking
    }
}

/// A switch on its way to the workers.
pub struct Taking {
    began: Instant,
    target: u64,
    stats: Arc<StreamStats>,
}

impl Taking {
    /// Waits (at most `within`) until every worker has taken the switch;
    /// how long that took from [`Switcher::switch`].
    pub fn wait(self, within: Duration) -> Result<Duration, Error> {
        while self.stats.switched.load(Ordering::Relaxed) < self.target {
            if self.began.elapsed() > within {
                return Err(Error::Timely(format!(
                    "the workers did not take the new registry within {} s",
                    within.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(self.began.elapsed())
    }
}

impl Stream {
    /// Starts `config.workers` timely workers over `registry`; results go to `out`.
    /// Through a shared [`devices::Current`], the registry can be switched while
    /// the stream runs ([`Stream::switcher`]).
    pub fn start(
        registry: impl Into<devices::Current>,
        clock: Clock,
        config: &StreamConfig,
        out: SyncSender<Output>,
    ) -> Result<Stream, Error> {
        let registry: devices::Current = registry.into();
        let (tx, rx) = std::sync::mpsc::sync_channel::<Command>(config.queue_batches.max(1));
        let rx = Arc::new(Mutex::new(Some(rx)));
        let stats = Arc::new(StreamStats::default());
        let workers = config.workers.max(1);
        let lateness = i64::from(config.allowed_lateness_s);
        let idle_after = Duration::from_secs(config.idle_after_s.into());
        let shared = Arc::new(config.clone());
        let out = Mutex::new(crate::OutputSender::Bounded(out));
        let stats_in = Arc::clone(&stats);
        let checkpoints = config.checkpoints.clone();
        let source = config.cluster.as_ref().map_or(0, |c| c.process as u32);
        let communication = match &config.cluster {
            Some(c) if c.addresses.len() > 1 => timely::CommunicationConfig::Cluster {
                threads: workers,
                process: c.process,
                addresses: c.addresses.clone(),
                report: false,
                zerocopy: false,
            },
            _ => timely::CommunicationConfig::Process(workers),
        };
        let timely_config = timely::Config {
            communication,
            worker: timely::WorkerConfig::default(),
        };
        // In a cluster this waits until every process is up.
        let switches = Arc::new(Switches::default());
        let switched = Arc::clone(&switches);
        let guards = timely::execute(timely_config, move |worker| {
            let out = out.lock().map(|o| o.clone());
            let Ok(out) = out else { return };
            let (input, probe) = build(
                worker,
                registry.clone(),
                Arc::clone(&switched),
                Arc::clone(&shared),
                out.clone(),
                Arc::clone(&stats_in),
            );
            let taken = rx.lock().ok().and_then(|mut r| r.take());
            if let Some(rx) = taken {
                let peers = worker.peers();
                let feeder = Feeder::new(input, Watermark::new(lateness, idle_after), peers)
                    .with_checkpoints(source, checkpoints.clone());
                drive(worker, feeder, &probe, rx, clock, &stats_in);
            }
        })
        .map_err(Error::Timely)?;
        Ok(Stream {
            commands: Arc::new(Mutex::new(Some(tx))),
            guards: Some(guards),
            stats,
            workers,
            switches,
        })
    }

    /// A handle that switches the registry of the running stream. In a
    /// cluster each process switches its own workers; a worker that meets a
    /// room or device its process does not have yet waits for its switch.
    pub fn switcher(&self) -> Switcher {
        Switcher {
            switches: Arc::clone(&self.switches),
            stats: Arc::clone(&self.stats),
            workers: self.workers,
        }
    }

    /// Hands a batch of readings to the dataflow; waits while the dataflow is behind.
    pub fn send(&self, batch: Vec<Reading>) -> Result<(), Error> {
        if batch.is_empty() {
            return Ok(());
        }
        sender(&self.commands)?
            .send(Command::Batch(batch))
            .map_err(|_| Error::Stopped)
    }

    /// Asks for checkpoint `mark` after the batches sent so far: every stage writes
    /// its part of the state, and a [`crate::Output::Mark`] per worker follows
    /// the outputs that state has produced.
    pub fn checkpoint(&self, mark: crate::checkpoint::Mark) -> Result<(), Error> {
        sender(&self.commands)?
            .send(Command::Checkpoint(mark))
            .map_err(|_| Error::Stopped)
    }

    /// Whether a worker has ended on its own (it panicked, or in a cluster
    /// another process went away: timely cannot go on without it).
    pub fn failed(&self) -> bool {
        self.commands.lock().is_ok_and(|c| c.is_some())
            && self
                .guards
                .as_ref()
                .is_some_and(|g| g.guards().iter().any(std::thread::JoinHandle::is_finished))
    }

    /// Counters of the stage.
    pub fn stats(&self) -> Arc<StreamStats> {
        Arc::clone(&self.stats)
    }

    /// Stops taking readings and waits for the workers to finish.
    pub fn shutdown(mut self) -> Result<(), Error> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), Error> {
        if let Ok(mut c) = self.commands.lock() {
            *c = None;
        }
        if let Some(g) = self.guards.take() {
            for r in g.join() {
                r.map_err(Error::Timely)?;
            }
        }
        Ok(())
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::error!(error = %e, "stream workers ended badly");
        }
    }
}

fn drive(
    worker: &mut timely::worker::Worker,
    mut feeder: Feeder,
    probe: &timely::dataflow::ProbeHandle<u64>,
    rx: Receiver<Command>,
    clock: Clock,
    stats: &StreamStats,
) {
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Command::Batch(batch)) => feeder.feed(batch, stats),
            Ok(Command::Checkpoint(mark)) => feeder.mark(mark),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        feeder.advance(Some(clock.now_ms().div_euclid(1000)), stats);
        // One step even when the frontier stays: readings flushed at the current time
        // reach the live view without waiting for the watermark.
        worker.step();
        worker.step_while(|| probe.less_than(feeder.time()));
    }
}
