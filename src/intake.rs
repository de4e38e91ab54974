//! What comes in from the broker: journaled and synced, then acknowledged,
//! then handed to the stream; written to Parquet every flush.

use anyhow::Context;
use devices::{Reading, Reason, Rejection};
use ingest::{Acker, Entry, Incoming, Journal};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use stream::Stream;

/// Opens the journal folder `dir` and writes what a crash left in it to
/// Parquet (under the segment's own name, so nothing is written twice).
/// Returns the journal and the recent readings it recovered (to recognise redeliveries).
pub fn open_journal(
    dir: &Path,
    label: &str,
    store: &analytics::Store,
) -> anyhow::Result<(Journal, Redeliveries)> {
    let (journal, leftovers) = Journal::open_labelled(dir, label)
        .with_context(|| format!("cannot open the journal in {}", dir.display()))?;
    let mut recent = Redeliveries::default();
    for leftover in leftovers {
        let (mut readings, mut rejected) = (Vec::new(), Vec::new());
        for e in &leftover.entries {
            match e {
                Entry::Accepted(r) => readings.push(r.clone()),
                Entry::Rejected(r) => rejected.push(r.clone()),
            }
        }
        if !(readings.is_empty() && rejected.is_empty()) {
            store.write_ingested(&readings, &rejected, &leftover.tag)?;
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

/// Recognises a message the broker (or a device) delivers again: one journaled but
/// not yet acknowledged when doorstep stopped comes back after the restart; a device
/// resends its last messages after reconnecting. Keyed by device, time and `seq`;
/// a message without `seq` by its content, except `door` deltas: two crossings in
/// the same instant cannot be told from one sent twice, so those are never dropped.
#[derive(Debug, Default)]
pub struct Redeliveries {
    seen: std::collections::HashSet<Key>,
    order: std::collections::VecDeque<Key>,
}

/// (device, time, seq or content fingerprint, whether it is a fingerprint).
type Key = (devices::DeviceIdx, i64, u64, bool);

/// How many recent keys are remembered: about 50 s at national load (5,000
/// messages a second), hours for a city; resends come within seconds. 17 MB.
const REMEMBERED: usize = 1 << 18;

impl Redeliveries {
    /// False when the reading was taken in before (a redelivery).
    pub fn is_new(&mut self, r: &Reading) -> bool {
        let key = match (r.seq, &r.value) {
            (Some(seq), _) => (r.device, r.time_ms, seq, false),
            (None, devices::Value::Door { .. }) => return true,
            (None, value) => {
                use std::hash::{BuildHasher, BuildHasherDefault};
                let fingerprint =
                    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
                        .hash_one(value);
                (r.device, r.time_ms, fingerprint, true)
            }
        };
        if !self.seen.insert(key) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > REMEMBERED
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
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

/// Everything the intake thread works with.
pub struct Intake<'a> {
    pub rt: tokio::runtime::Handle,
    pub rx: tokio::sync::mpsc::Receiver<Incoming>,
    pub acker: Acker,
    pub stream: Stream,
    pub store: &'a analytics::Store,
    pub journal: Journal,
    /// Readings from `raw_events` to rebuild the stream's state from, before anything new.
    pub recover: Vec<Reading>,
    pub recent: Redeliveries,
    /// Limits devices that send far more often than their interval.
    pub flood: ingest::FloodGuard,
    /// How much of the rejected messages is stored whole.
    pub budget: ingest::QuarantineBudget,
    /// Ingest counters (flood rejections are counted here).
    pub stats: std::sync::Arc<ingest::IngestStats>,
    pub flush: Duration,
    /// Set when doorstep stops: what is queued is taken in, then the intake ends.
    pub stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Runs until the subscriber stops: journal, acknowledge, stream; Parquet every flush.
pub fn ingest_loop(mut i: Intake<'_>) -> anyhow::Result<()> {
    let mut recover = std::mem::take(&mut i.recover);
    if !recover.is_empty() {
        recover.sort_by_key(Reading::order_key);
        let n = recover.len();
        for chunk in recover.chunks(4096) {
            for r in chunk {
                i.recent.is_new(r);
            }
            i.stream.send(chunk.to_vec())?;
        }
        tracing::info!(readings = n, "stream state rebuilt from raw_events");
    }
    let mut items = Vec::with_capacity(4096);
    let mut entries = Vec::with_capacity(4096);
    let mut raw: Vec<Reading> = Vec::new();
    let mut rejected: Vec<Rejection> = Vec::new();
    let mut last_flush = Instant::now();
    let mut rejects = RejectLog::default();
    let mut unacked: std::collections::VecDeque<ingest::Pending> = Default::default();
    loop {
        items.clear();
        let got = i.rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(200), i.rx.recv_many(&mut items, 4096)).await
        });
        if got == Ok(0) {
            break;
        }
        if i.stop.load(Ordering::Relaxed) {
            // No more messages come in; those queued still are (recv ends with them).
            i.rx.close();
        }
        // Messages stay unacknowledged (the broker keeps them) and journaled ones are
        // written to Parquet at the next start.
        anyhow::ensure!(
            !i.stream.failed(),
            "the stream stage stopped (a worker failed, or a process of the cluster went away); \
             doorstep exits so that it can be restarted"
        );
        ack_what_fits(&i.acker, &mut unacked);
        entries.clear();
        let mut pending = Vec::with_capacity(items.len());
        for incoming in items.drain(..) {
            let peer = incoming.pending.peer();
            let rejected = match incoming.item {
                // Taken in before: acknowledge it again, journal and count it once.
                Ok(r) if !i.recent.is_new(&r) => {
                    i.stats.accepted.fetch_sub(1, Ordering::Relaxed);
                    let n = i.stats.redelivered.fetch_add(1, Ordering::Relaxed) + 1;
                    tracing::debug!(total = n, "redelivered message taken in once");
                    None
                }
                // After the redelivery check: a device sending again what it sent is not flooding.
                Ok(r) => {
                    match i
                        .flood
                        .check(r, incoming.pending.topic(), incoming.pending.payload())
                    {
                        Ok(r) => {
                            entries.push(Entry::Accepted(r));
                            None
                        }
                        Err(rej) => {
                            i.stats.accepted.fetch_sub(1, Ordering::Relaxed);
                            i.stats.rejected[rej.reason as usize].fetch_add(1, Ordering::Relaxed);
                            Some(rej)
                        }
                    }
                }
                Err(rej) => Some(rej),
            };
            if let Some(rej) = rejected {
                rejects.note(&rej);
                // Counted always; stored whole within the sender's and address's budget.
                let sender = rej.topic.clone();
                if let Some(kept) = i.budget.admit(rej, &sender, peer) {
                    entries.push(Entry::Rejected(kept));
                }
            }
            pending.push(incoming.pending);
        }
        let counts = i.budget.counts();
        i.stats
            .quarantine_sampled
            .store(counts.sampled, Ordering::Relaxed);
        i.stats
            .quarantine_counted_only
            .store(counts.counted_only, Ordering::Relaxed);
        // Durable first, then acknowledged: a crash before the sync means the broker sends it again.
        i.journal.append(&entries)?;
        // Never waiting on the MQTT client: while its queue is full (its event loop waits
        // for this thread to take more messages) the rest is acknowledged next round.
        unacked.extend(pending);
        ack_what_fits(&i.acker, &mut unacked);
        // The journaled messages move on to the Parquet buffers; the stream gets a copy.
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
        i.stream.send(batch)?;
        if last_flush.elapsed() >= i.flush && !(raw.is_empty() && rejected.is_empty()) {
            flush(&mut i, &mut raw, &mut rejected)?;
            last_flush = Instant::now();
        }
    }
    flush(&mut i, &mut raw, &mut rejected)?;
    i.stream.shutdown()?;
    Ok(())
}

/// Acknowledges journaled messages, oldest first, until the client's queue is full.
/// Whatever is left when doorstep stops is in the journal; the broker delivers it
/// again after the restart and it is taken in once.
fn ack_what_fits(acker: &Acker, unacked: &mut std::collections::VecDeque<ingest::Pending>) {
    while let Some(p) = unacked.pop_front() {
        if let Err(p) = acker.try_ack(p) {
            unacked.push_front(p);
            return;
        }
    }
}

/// Writes the current journal segment's messages to Parquet, then starts a new segment.
fn flush(
    i: &mut Intake<'_>,
    raw: &mut Vec<Reading>,
    rejected: &mut Vec<Rejection>,
) -> anyhow::Result<()> {
    if raw.is_empty() && rejected.is_empty() {
        return Ok(());
    }
    i.store.write_ingested(raw, rejected, i.journal.tag())?;
    i.journal.rotate()?;
    raw.clear();
    rejected.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use devices::{DeviceIdx, RoomIdx, Value};

    fn reading(seq: Option<u64>, t: i64) -> Reading {
        Reading {
            device: DeviceIdx(0),
            room: RoomIdx(0),
            time_ms: t,
            received_ms: t,
            seq,
            clock_skew: false,
            value: Value::Count(1),
        }
    }

    #[test]
    fn a_redelivered_message_is_taken_in_once() {
        let mut r = Redeliveries::default();
        assert!(r.is_new(&reading(Some(1), 1000)));
        assert!(!r.is_new(&reading(Some(1), 1000)), "the same message again");
        assert!(
            r.is_new(&reading(Some(1), 2000)),
            "a restarted device reusing seq 1 later"
        );
        assert!(
            !r.is_new(&reading(None, 1000)) || !r.is_new(&reading(None, 1000)),
            "no seq: the same content at the same time is the same message"
        );
        assert!(r.is_new(&Reading {
            value: Value::Count(2),
            ..reading(None, 1000)
        }));
        let door = Reading {
            value: Value::Door { inn: 1, out: 0 },
            ..reading(None, 1000)
        };
        assert!(
            r.is_new(&door) && r.is_new(&door),
            "door deltas without seq: never dropped"
        );
    }
}
