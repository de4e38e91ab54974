//! Table upkeep while doorstep runs: leftovers of a crash at start, then every
//! hour the small files of past days compacted and old partitions expired.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

/// What to keep tidy, from `[store]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upkeep {
    /// Partitions dated at least this many days before today are compacted.
    pub compact_after_days: u32,
    /// Rows per compacted file, at most.
    pub compact_rows: usize,
    /// Days each table keeps; tables not named keep everything.
    pub retention_days: BTreeMap<String, u32>,
}

impl Default for Upkeep {
    fn default() -> Self {
        Upkeep {
            compact_after_days: 2,
            compact_rows: 1_000_000,
            retention_days: BTreeMap::new(),
        }
    }
}

impl Upkeep {
    /// One round: compaction, then retention, relative to `now_ms`.
    pub fn round(&self, store: &analytics::Store, now_ms: i64) -> analytics::Result<()> {
        let today = chrono::DateTime::from_timestamp_millis(now_ms)
            .unwrap_or_default()
            .date_naive();
        // A restart from the oldest checkpoint kept replays the journal segments'
        // files from its cover on: they stay as they are until it is gone.
        let spare = crate::checkpoint::spare_from(store.root());
        store.compact_except(
            today - chrono::Duration::days(i64::from(self.compact_after_days)),
            self.compact_rows,
            &spare,
        )?;
        store.expire(&self.retention_days, today)?;
        Ok(())
    }

    /// Runs a round now and then every `every` until `stop` says so (or is dropped).
    pub fn run(
        self,
        store: &analytics::Store,
        clock: devices::Clock,
        every: Duration,
        stop: &Receiver<()>,
    ) {
        loop {
            if let Err(e) = self.round(store, clock.now_ms()) {
                tracing::error!(error = %e, "table upkeep failed; trying again later");
            }
            match stop.recv_timeout(every) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => return,
            }
        }
    }
}
