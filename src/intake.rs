//! The intake's downstream: the stream and the tables, for `ingest::Intake`.

use std::sync::Arc;
use stream::Stream;

/// The stream and the `raw_events` / `quarantine` tables.
pub struct Sinks {
    pub stream: Stream,
    pub store: Arc<analytics::Store>,
}

impl ingest::Downstream for Sinks {
    fn readings(&mut self, batch: Vec<devices::Reading>) -> Result<(), ingest::BoxError> {
        Ok(self.stream.send(batch)?)
    }

    fn store(
        &self,
        readings: &[devices::Reading],
        rejected: &[devices::Rejection],
        tag: &str,
    ) -> Result<(), ingest::BoxError> {
        self.store.write_ingested(readings, rejected, tag)?;
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
