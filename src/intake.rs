//! What comes in from the broker: journaled and synced, then acknowledged,
//! then handed to the stream; written to Parquet every flush.

use anyhow::Context;
use devices::{Reading, Reason, Rejection};
use ingest::{Acker, Entry, Incoming, Journal};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};
use stream::Stream;

/// Opens the journal under `data_dir` and writes what a crash left in it to
/// Parquet (under the segment's own name, so nothing is written twice).
pub fn open_journal(data_dir: &Path, store: &analytics::Store) -> anyhow::Result<Journal> {
    let dir = data_dir.join("journal");
    let (journal, leftovers) = Journal::open(&dir)
        .with_context(|| format!("cannot open the journal in {}", dir.display()))?;
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
        journal.done(leftover)?;
    }
    Ok(journal)
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
    pub flush: Duration,
}

/// Runs until the subscriber stops: journal, acknowledge, stream; Parquet every flush.
pub fn ingest_loop(mut i: Intake<'_>) -> anyhow::Result<()> {
    let mut items = Vec::with_capacity(4096);
    let mut entries = Vec::with_capacity(4096);
    let mut raw: Vec<Reading> = Vec::new();
    let mut rejected: Vec<Rejection> = Vec::new();
    let mut last_flush = Instant::now();
    let mut rejects = RejectLog::default();
    loop {
        items.clear();
        let got = i.rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(200), i.rx.recv_many(&mut items, 4096)).await
        });
        if got == Ok(0) {
            break;
        }
        entries.clear();
        let mut batch = Vec::with_capacity(items.len());
        let mut pending = Vec::with_capacity(items.len());
        for incoming in items.drain(..) {
            match incoming.item {
                Ok(r) => {
                    entries.push(Entry::Accepted(r.clone()));
                    batch.push(r);
                }
                Err(rej) => {
                    rejects.note(&rej);
                    entries.push(Entry::Rejected(rej.clone()));
                    rejected.push(rej);
                }
            }
            pending.push(incoming.pending);
        }
        // Durable first, then acknowledged: a crash before the sync means the broker sends it again.
        i.journal.append(&entries)?;
        let acker = &i.acker;
        i.rt.block_on(async {
            for p in pending {
                acker.ack(p).await?;
            }
            Ok::<_, ingest::Error>(())
        })?;
        raw.extend(batch.iter().cloned());
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
