//! The intake: every message that comes in (through the embedded broker's door
//! or from an external broker) is checked against the redelivery filter, the
//! flood guard and the quarantine budget, journaled and synced, then
//! acknowledged, then handed downstream; every flush the journal segment goes
//! to the tables and a new one begins.
//!
//! What lies downstream (the stream and the tables) is the caller's, behind
//! [`Downstream`], so a message passes this crate once.

use crate::journal::{Entry, Journal, JournalError};
use crate::redeliveries::Redeliveries;
use crate::subscriber::{Acker, Incoming, Pending};
use crate::{FloodGuard, IngestStats, QuarantineBudget};
use devices::{Reading, Reason, Rejection};
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// An error of a downstream stage, passed through.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where taken-in messages go.
pub trait Downstream {
    /// Accepted readings, in arrival order (the stream).
    fn readings(&mut self, batch: Vec<Reading>) -> Result<(), BoxError>;
    /// A journal segment's messages, written to the tables under `tag`
    /// (replacing whatever was written under it before).
    fn store(
        &self,
        readings: &[Reading],
        rejected: &[Rejection],
        tag: &str,
    ) -> Result<(), BoxError>;
    /// A checkpoint is due: every message before `cover` (a journal segment's tag;
    /// segments before it, and none from it on, are in the tables) has gone
    /// downstream, and `state` is the intake's part of it.
    fn checkpoint(&mut self, cover: &str, state: IntakeState<'_>) -> Result<(), BoxError> {
        let _ = (cover, state);
        Ok(())
    }
    /// Whether a downstream stage has stopped: the intake stops taking messages.
    fn failed(&self) -> bool;
    /// Nothing more comes.
    fn finish(self) -> Result<(), BoxError>;
}

/// The intake's own part of a checkpoint.
#[derive(Debug, serde::Serialize)]
pub struct IntakeState<'a> {
    /// Recently taken-in messages.
    pub recent: &'a Redeliveries,
    /// The flood guard's buckets.
    pub flood: crate::SavedFlood,
}

/// The intake's part of a checkpoint, read back.
#[derive(Debug, Default, serde::Deserialize)]
pub struct SavedIntake {
    /// Recently taken-in messages.
    pub recent: Redeliveries,
    /// The flood guard's buckets.
    pub flood: crate::SavedFlood,
}

/// Errors of the intake.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The journal cannot be written.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A downstream stage failed.
    #[error("{0}")]
    Downstream(BoxError),
    /// A downstream stage stopped on its own.
    #[error(
        "the stream stage stopped (a worker failed, or a process of the cluster went away); \
         doorstep exits so that it can be restarted"
    )]
    Stopped,
}

/// Opens the journal folder `dir` and writes what a crash left in it through
/// `store` (under the segment's own name, so nothing is written twice).
/// Returns the journal and the messages it recovered, to recognise redeliveries.
/// `rebind` takes each recovered reading to the registry of now (the journal
/// holds it by device and room index); `None` leaves it out.
pub fn open_journal(
    dir: &Path,
    label: &str,
    rebind: impl Fn(&Reading) -> Option<Reading>,
    store: impl Fn(&[Reading], &[Rejection], &str) -> Result<(), BoxError>,
) -> Result<(Journal, Redeliveries), IntakeError> {
    let (journal, leftovers) = Journal::open_labelled(dir, label)?;
    let mut recent = Redeliveries::default();
    for leftover in leftovers {
        let (mut readings, mut rejected) = (Vec::new(), Vec::new());
        for e in &leftover.entries {
            match e {
                Entry::Accepted(r) => readings.extend(rebind(r)),
                Entry::Rejected(r) => rejected.push(r.clone()),
            }
        }
        if !(readings.is_empty() && rejected.is_empty()) {
            store(&readings, &rejected, &leftover.tag).map_err(IntakeError::Downstream)?;
            tracing::info!(
                readings = readings.len(),
                rejected = rejected.len(),
                segment = %leftover.tag,
                "recovered messages from the journal into raw_events and quarantine"
            );
        }
        for r in &readings {
            recent.is_new(r);
        }
        journal.done(leftover)?;
    }
    Ok((journal, recent))
}

/// Everything the intake works with.
pub struct Intake<D> {
    /// Messages from the door or the subscriber.
    pub rx: tokio::sync::mpsc::Receiver<Incoming>,
    /// Acknowledges them once journaled.
    pub acker: Acker,
    /// The stream and the tables.
    pub downstream: D,
    /// The open journal ([`open_journal`]).
    pub journal: Journal,
    /// Readings from `raw_events` to rebuild the stream's state from, before anything new.
    pub recover: Vec<Reading>,
    /// Recently taken-in messages ([`open_journal`]).
    pub recent: Redeliveries,
    /// Limits devices that send far more often than their interval.
    pub flood: FloodGuard,
    /// How much of the rejected messages is stored whole.
    pub budget: QuarantineBudget,
    /// Counters.
    pub stats: Arc<IngestStats>,
    /// Time between writes of the journal segment to the tables.
    pub flush: Duration,
    /// Set when doorstep stops: what is queued is taken in, then the intake ends.
    pub stop: Arc<AtomicBool>,
    /// Time between checkpoints, on the wall clock's multiples of it (so the
    /// processes of a cluster ask at once); `None`: none. One more is asked for
    /// when the intake stops.
    pub checkpoint_every: Option<Duration>,
    /// When the pipeline started (the restart's duration is counted from it).
    pub started: Instant,
}

/// The wall clock's slot of `every` (which checkpoint is due).
fn slot(every: Duration) -> u128 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.as_millis() / every.as_millis().max(1)
}

impl<D: Downstream> Intake<D> {
    /// Runs until every sender is gone or `stop` is set: journal, acknowledge,
    /// downstream; the tables every flush. `rt` waits for messages.
    pub fn run(mut self, rt: &tokio::runtime::Handle) -> Result<(), IntakeError> {
        self.replay()?;
        let mut items = Vec::with_capacity(4096);
        let mut entries = Vec::with_capacity(4096);
        let mut raw: Vec<Reading> = Vec::new();
        let mut rejected: Vec<Rejection> = Vec::new();
        let mut last_flush = Instant::now();
        let mut rejects = RejectLog::default();
        let mut unacked: VecDeque<Pending> = VecDeque::new();
        let mut slot_done = self.checkpoint_every.map(slot);
        loop {
            items.clear();
            let got = rt.block_on(async {
                tokio::time::timeout(
                    Duration::from_millis(200),
                    self.rx.recv_many(&mut items, 4096),
                )
                .await
            });
            if got == Ok(0) {
                break;
            }
            if self.stop.load(Ordering::Relaxed) {
                // No more messages come in; those queued still are (recv ends with them).
                self.rx.close();
            }
            // Messages stay unacknowledged (the sender keeps them) and journaled ones
            // are written to the tables at the next start.
            if self.downstream.failed() {
                return Err(IntakeError::Stopped);
            }
            ack_what_fits(&self.acker, &mut unacked);
            entries.clear();
            let mut pending = Vec::with_capacity(items.len());
            for incoming in items.drain(..) {
                if let Some(rej) = self.admit(incoming.item, &incoming.pending, &mut entries) {
                    rejects.note(&rej);
                    // Counted always; stored whole within the sender's and address's budget.
                    let sender = rej.topic.clone();
                    if let Some(kept) = self.budget.admit(rej, &sender, incoming.pending.peer()) {
                        entries.push(Entry::Rejected(kept));
                    }
                }
                pending.push(incoming.pending);
            }
            let counts = self.budget.counts();
            let s = &self.stats;
            s.quarantine_sampled
                .store(counts.sampled, Ordering::Relaxed);
            s.quarantine_counted_only
                .store(counts.counted_only, Ordering::Relaxed);
            // Durable first, then acknowledged: a crash before the sync means the
            // message is sent again.
            self.journal.append(&entries)?;
            // Never waiting on the MQTT client: while its queue is full (its event loop
            // waits for this thread to take more messages) the rest is acknowledged next round.
            unacked.extend(pending);
            ack_what_fits(&self.acker, &mut unacked);
            // The journaled messages move on to the table buffers; the stream gets a copy.
            let mut batch = Vec::with_capacity(entries.len());
            for e in entries.drain(..) {
                match e {
                    Entry::Accepted(r) => {
                        batch.push(r.clone());
                        raw.push(r);
                    }
                    Entry::Rejected(rej) => rejected.push(rej),
                }
            }
            self.downstream
                .readings(batch)
                .map_err(IntakeError::Downstream)?;
            if last_flush.elapsed() >= self.flush && !(raw.is_empty() && rejected.is_empty()) {
                self.flush(&mut raw, &mut rejected)?;
                last_flush = Instant::now();
            }
            if let Some(every) = self.checkpoint_every
                && slot_done != Some(slot(every))
            {
                slot_done = Some(slot(every));
                self.flush(&mut raw, &mut rejected)?;
                last_flush = Instant::now();
                self.checkpoint()?;
            }
        }
        self.flush(&mut raw, &mut rejected)?;
        if self.checkpoint_every.is_some() {
            self.checkpoint()?;
        }
        self.downstream.finish().map_err(IntakeError::Downstream)
    }

    /// Asks for a checkpoint: everything journaled so far is in the tables and
    /// downstream, the current segment is empty and its tag is the cover.
    fn checkpoint(&mut self) -> Result<(), IntakeError> {
        let state = IntakeState {
            recent: &self.recent,
            flood: self.flood.save(),
        };
        self.downstream
            .checkpoint(self.journal.tag(), state)
            .map_err(IntakeError::Downstream)
    }

    /// Rebuilds the stream's state from the recovered readings, in event-time order.
    fn replay(&mut self) -> Result<(), IntakeError> {
        let mut recover = std::mem::take(&mut self.recover);
        if recover.is_empty() {
            self.stats.replaying.store(false, Ordering::Relaxed);
            self.stats
                .restart_ms
                .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
            return Ok(());
        }
        self.stats.replaying.store(true, Ordering::Relaxed);
        let began = Instant::now();
        recover.sort_by_key(Reading::order_key);
        let n = recover.len();
        for chunk in recover.chunks(4096) {
            for r in chunk {
                self.recent.is_new(r);
            }
            self.downstream
                .readings(chunk.to_vec())
                .map_err(IntakeError::Downstream)?;
        }
        let took = began.elapsed();
        let s = &self.stats;
        s.replayed.store(n as u64, Ordering::Relaxed);
        s.replay_ms
            .store(took.as_millis() as u64, Ordering::Relaxed);
        s.restart_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
        s.replaying.store(false, Ordering::Relaxed);
        tracing::info!(
            readings = n,
            seconds = took.as_secs_f64(),
            "stream state rebuilt from raw_events"
        );
        Ok(())
    }

    /// Puts an accepted message into `entries`, or returns why it is rejected;
    /// a redelivery goes nowhere (it is acknowledged again, counted apart).
    fn admit(
        &mut self,
        item: Result<Reading, Rejection>,
        pending: &Pending,
        entries: &mut Vec<Entry>,
    ) -> Option<Rejection> {
        let s = &self.stats;
        match item {
            Ok(r) if !self.recent.is_new(&r) => {
                s.accepted.fetch_sub(1, Ordering::Relaxed);
                let n = s.redelivered.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::debug!(total = n, "redelivered message taken in once");
                None
            }
            // After the redelivery check: a device sending again what it sent is not flooding.
            Ok(r) => match self.flood.check(r, pending.topic(), pending.payload()) {
                Ok(r) => {
                    entries.push(Entry::Accepted(r));
                    None
                }
                Err(rej) => {
                    s.accepted.fetch_sub(1, Ordering::Relaxed);
                    s.rejected[rej.reason as usize].fetch_add(1, Ordering::Relaxed);
                    Some(rej)
                }
            },
            Err(rej) => Some(rej),
        }
    }

    /// Writes the current journal segment's messages to the tables, then starts a new segment.
    fn flush(
        &mut self,
        raw: &mut Vec<Reading>,
        rejected: &mut Vec<Rejection>,
    ) -> Result<(), IntakeError> {
        if raw.is_empty() && rejected.is_empty() {
            return Ok(());
        }
        self.downstream
            .store(raw, rejected, self.journal.tag())
            .map_err(IntakeError::Downstream)?;
        self.journal.rotate()?;
        raw.clear();
        rejected.clear();
        Ok(())
    }
}

/// Acknowledges journaled messages, oldest first, until the client's queue is full.
/// Whatever is left when doorstep stops is in the journal; the broker delivers it
/// again after the restart and it is taken in once.
fn ack_what_fits(acker: &Acker, unacked: &mut VecDeque<Pending>) {
    while let Some(p) = unacked.pop_front() {
        if let Err(p) = acker.try_ack(p) {
            unacked.push_front(p);
            return;
        }
    }
}

/// Logs rejected messages: the first of each reason at once, then a count per minute.
#[derive(Default)]
struct RejectLog {
    last: HashMap<Reason, (Instant, u64)>,
}

impl RejectLog {
    fn note(&mut self, r: &Rejection) {
        let now = Instant::now();
        let entry = self
            .last
            .entry(r.reason)
            .or_insert((now - Duration::from_secs(61), 0));
        entry.1 += 1;
        if now.duration_since(entry.0) >= Duration::from_secs(60) {
            tracing::warn!(
                reason = r.reason.as_str(),
                topic = %r.topic,
                detail = %r.detail,
                count = entry.1,
                "rejected device message"
            );
            *entry = (now, 0);
        }
    }
}
