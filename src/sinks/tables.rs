//! The tables sink: the stream's rows go to Parquet every `flush` interval,
//! and a checkpoint is committed once every row of its state is written. It
//! runs on its own thread behind a bounded queue: when it falls behind, the
//! queue fills and the stream waits (no row is ever dropped).

use crate::checkpoint::Committer;
use devices::RoomWindow;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use stream::Output;

/// For tests: `DOORSTEP_SLOW_TABLES_MS=N` makes every flush take N ms longer,
/// as a slow disk would.
const SLOW_HOOK: &str = "DOORSTEP_SLOW_TABLES_MS";

/// Rows waiting for the next flush.
#[derive(Default)]
struct Rows {
    windows: Vec<RoomWindow>,
    flags: Vec<devices::Flag>,
    idle_slots: Vec<devices::IdleSlot>,
    device_days: Vec<devices::DeviceDay>,
    site_days: Vec<devices::SiteDay>,
}

impl Rows {
    fn is_empty(&self) -> bool {
        self.windows.is_empty()
            && self.flags.is_empty()
            && self.idle_slots.is_empty()
            && self.device_days.is_empty()
            && self.site_days.is_empty()
    }

    fn flush(&mut self, store: &analytics::Store, slow: Duration) -> anyhow::Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        std::thread::sleep(slow);
        if !self.windows.is_empty() {
            // room_hour, room_day and room_slot_day in one atomic write.
            store.write_windows(&self.windows)?;
            tracing::info!(rows = self.windows.len(), "room windows written");
        }
        if !self.flags.is_empty() {
            store.write_flags(&self.flags)?;
            tracing::info!(rows = self.flags.len(), "flags written");
        }
        if !self.idle_slots.is_empty() {
            store.write_idle_slots(&self.idle_slots)?;
        }
        if !self.device_days.is_empty() {
            store.write_device_days(&self.device_days)?;
        }
        if !self.site_days.is_empty() {
            store.write_site_days(&self.site_days)?;
        }
        *self = Rows::default();
        Ok(())
    }
}

/// Writes the rows that come on `rx` until it is closed, then what is left.
pub fn run(
    rx: &Receiver<Output>,
    store: &analytics::Store,
    flush: Duration,
    mut committer: Committer,
) -> anyhow::Result<()> {
    let slow = std::env::var(SLOW_HOOK)
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::ZERO, Duration::from_millis);
    let mut rows = Rows::default();
    let mut last_flush = Instant::now();
    loop {
        let wait = flush
            .saturating_sub(last_flush.elapsed())
            .max(Duration::from_millis(10));
        match rx.recv_timeout(wait) {
            Ok(Output::Window(w)) => rows.windows.push(w),
            Ok(Output::Flag(f)) => rows.flags.push(f),
            Ok(Output::SiteDay(d)) => rows.site_days.push(d),
            Ok(Output::IdleSlot(s)) => rows.idle_slots.push(s),
            Ok(Output::DeviceDay(d)) => rows.device_days.push(d),
            Ok(Output::Mark { mark, .. }) => {
                // Every row of the checkpoint's state is here: once in the tables, it is usable.
                if let Some(mark) = committer.on_mark(mark) {
                    rows.flush(store, slow)?;
                    last_flush = Instant::now();
                    if let Err(e) = committer.commit(&mark) {
                        tracing::error!(error = %e, "cannot commit the checkpoint; the previous one stays in use");
                    }
                }
            }
            // The dispatcher keeps the others.
            Ok(Output::Live(_) | Output::Late(_) | Output::Status(_)) => {}
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if last_flush.elapsed() >= flush {
            rows.flush(store, slow)?;
            last_flush = Instant::now();
        }
    }
    rows.flush(store, slow)
}
