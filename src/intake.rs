//! The intake's downstream: the stream and the tables, for `ingest::Intake`.

use std::sync::Arc;
use stream::Stream;

/// The stream and the `raw_events` / `quarantine` tables.
pub struct Sinks {
    /// The running stream.
    pub stream: Stream,
    /// The tables (`raw_events`, `quarantine`).
    pub store: Arc<analytics::Store>,
    /// Where checkpoints go, and the interval's length in a cluster (its processes
    /// name a checkpoint by the interval's slot, so that all ask for the same one).
    pub checkpoints: Option<(crate::checkpoint::Place, Option<std::time::Duration>)>,
    /// Each device's last word, for the alerts.
    pub watch: Arc<crate::alerts::DeviceLedger>,
}

impl ingest::Downstream for Sinks {
    fn readings(&mut self, batch: Vec<devices::Reading>) -> Result<(), ingest::BoxError> {
        self.watch.note(&batch);
        Ok(self.stream.send(batch)?)
    }

    fn store(
        &self,
        readings: &[devices::Reading],
        rejected: &[devices::Rejection],
        tag: &str,
    ) -> Result<(), ingest::BoxError> {
        self.watch.note_rejections(rejected);
        self.store.write_ingested(readings, rejected, tag)?;
        Ok(())
    }

    fn checkpoint(
        &mut self,
        cover: &str,
        state: ingest::IntakeState<'_>,
    ) -> Result<(), ingest::BoxError> {
        let Some((place, slot)) = &self.checkpoints else {
            return Ok(());
        };
        let at_ms = crate::checkpoint::now_ms();
        let epoch = match slot {
            Some(every) => {
                let every = every.as_millis().max(1) as i64;
                at_ms / every * every
            }
            None => at_ms,
        };
        let dir = place.epoch_dir(epoch);
        // In a cluster the stop's extra checkpoint may fall in a slot already asked for.
        if dir.exists() {
            return Ok(());
        }
        stream::checkpoint::write_part(&dir, crate::checkpoint::INTAKE_PART, &state)?;
        self.stream.checkpoint(stream::checkpoint::Mark {
            epoch,
            at_ms,
            covers: vec![(String::new(), cover.to_owned())],
        })?;
        Ok(())
    }

    fn failed(&self) -> bool {
        self.stream.failed()
    }

    fn finish(self) -> Result<(), ingest::BoxError> {
        Ok(self.stream.shutdown()?)
    }
}

/// Opens the journal folder `dir`, writing what a crash left in it to the tables.
pub fn open_journal(
    dir: &std::path::Path,
    label: &str,
    store: &analytics::Store,
) -> anyhow::Result<(ingest::Journal, ingest::Redeliveries)> {
    ingest::open_journal(dir, label, |readings, rejected, tag| {
        store.write_ingested(readings, rejected, tag)?;
        Ok(())
    })
    .map_err(|e| anyhow::anyhow!("cannot open the journal in {}: {e}", dir.display()))
}
