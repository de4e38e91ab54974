//! Runs the dataflow on its own threads and feeds it batches of readings.

use crate::dataflow::build;
use crate::feeder::Feeder;
use crate::watermark::Watermark;
use crate::{Error, Output, StreamConfig, StreamStats};
use devices::{Clock, Reading, Registry};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

enum Command {
    Batch(Vec<Reading>),
    Checkpoint(crate::checkpoint::Mark),
}

/// The running stream stage. Dropping it (or [`Stream::shutdown`]) stops the workers.
pub struct Stream {
    commands: Option<SyncSender<Command>>,
    guards: Option<timely::communication::WorkerGuards<()>>,
    stats: Arc<StreamStats>,
}

impl Stream {
    /// Starts `config.workers` timely workers over `registry`; results go to `out`.
    pub fn start(
        registry: Arc<Registry>,
        clock: Clock,
        config: &StreamConfig,
        out: SyncSender<Output>,
    ) -> Result<Stream, Error> {
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
        let guards = timely::execute(timely_config, move |worker| {
            let out = out.lock().map(|o| o.clone());
            let Ok(out) = out else { return };
            let (input, probe) = build(
                worker,
                Arc::clone(&registry),
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
            commands: Some(tx),
            guards: Some(guards),
            stats,
        })
    }

    /// Hands a batch of readings to the dataflow; waits while the dataflow is behind.
    pub fn send(&self, batch: Vec<Reading>) -> Result<(), Error> {
        if batch.is_empty() {
            return Ok(());
        }
        let tx = self.commands.as_ref().ok_or(Error::Stopped)?;
        tx.send(Command::Batch(batch)).map_err(|_| Error::Stopped)
    }

    /// Asks for checkpoint `mark` after the batches sent so far: every stage writes
    /// its part of the state, and a [`crate::Output::Mark`] per worker follows
    /// the outputs that state has produced.
    pub fn checkpoint(&self, mark: crate::checkpoint::Mark) -> Result<(), Error> {
        let tx = self.commands.as_ref().ok_or(Error::Stopped)?;
        tx.send(Command::Checkpoint(mark))
            .map_err(|_| Error::Stopped)
    }

    /// Whether a worker has ended on its own (it panicked, or in a cluster
    /// another process went away: timely cannot go on without it).
    pub fn failed(&self) -> bool {
        self.commands.is_some()
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
        self.commands = None;
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
