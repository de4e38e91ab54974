//! After a restart, the stream closes again some windows that were written
//! before it stopped. Without a checkpoint its state starts empty, so they come
//! out partial: rows of revision 0 whose key is already in the tables are not
//! written again, and the complete row written before stays the only one.
//! Resumed from a checkpoint, it produces again exactly the rows written between
//! the checkpoint and the stop, revisions included: a row whose key the tables
//! hold at that revision or a later one is not written again.

use analytics::written::{KeyTable, Written};
use devices::WindowKind;
use stream::Output;

/// Decides which outputs to write.
pub struct AlreadyWritten {
    written: Written,
    skipped: u64,
    /// The stream resumed from a checkpoint (its revisions go on from there).
    resumed: bool,
}

impl AlreadyWritten {
    /// Reads the keys the tables hold for the local dates around `now_ms`.
    pub fn read(
        store: &analytics::Store,
        now_ms: i64,
        resumed: bool,
    ) -> anyhow::Result<AlreadyWritten> {
        let today = chrono::DateTime::from_timestamp_millis(now_ms)
            .unwrap_or_default()
            .date_naive();
        let dates: Vec<_> = (-3..=1)
            .map(|d| today + chrono::Duration::days(d))
            .collect();
        let written = Written::read(store.root(), &store.registry(), &dates)?;
        if !written.is_empty() {
            tracing::info!(
                rows = written.len(),
                "tables already hold rows from before this start"
            );
        }
        Ok(AlreadyWritten {
            written,
            skipped: 0,
            resumed,
        })
    }

    /// Nothing to leave out: the stream resumes from a checkpoint this process
    /// wrote as its pipeline stopped (a registry switch), so it writes no row
    /// again (its revised rows have higher revisions).
    pub fn none() -> AlreadyWritten {
        AlreadyWritten {
            written: Written::default(),
            skipped: 0,
            resumed: true,
        }
    }

    /// Whether to write `o`.
    pub fn keep(&mut self, o: &Output) -> bool {
        if self.written.is_empty() {
            return true;
        }
        let written = &self.written;
        let resumed = self.resumed;
        // Seen: written at this revision or later (resumed), or at all for a revision 0.
        let seen_at = |rev: u16, table, id: u32, start: i64, cat| {
            if resumed {
                written
                    .revision(table, id, start, cat)
                    .is_some_and(|w| w >= rev)
            } else {
                rev == 0 && written.contains(table, id, start, cat)
            }
        };
        let seen = match o {
            Output::Window(w) => {
                let (table, cat) = match w.kind {
                    WindowKind::Hour => (KeyTable::RoomHour, None),
                    WindowKind::Day => (KeyTable::RoomDay, None),
                    WindowKind::SlotDay(c) => (KeyTable::RoomSlotDay, Some(c)),
                };
                seen_at(w.revision, table, w.room.0, w.start, cat)
            }
            Output::Flag(f) => seen_at(f.revision, KeyTable::RoomDay, f.room.0, f.day, None),
            Output::IdleSlot(s) => seen_at(s.revision, KeyTable::RoomDay, s.room.0, s.day, None),
            Output::DeviceDay(d) => {
                seen_at(d.revision, KeyTable::DeviceDay, d.device.0, d.start, None)
            }
            Output::SiteDay(d) => seen_at(d.revision, KeyTable::SiteDay, d.site.0, d.start, None),
            _ => false,
        };
        if seen {
            self.skipped += 1;
            if self.skipped == 1 {
                tracing::info!(
                    "rows written before the restart are kept; the stream's partial repeats are not written"
                );
            }
        }
        !seen
    }
}

/// The stored days that seed the rooms' flag and idle-slot lookback after a restart:
/// the stream replays only the last few days of `raw_events` (`recover`), so the
/// days before come from the tables. `owns` picks this process's rooms.
pub fn stored_lookback(
    store: &analytics::Store,
    recover: &[devices::Reading],
    now_ms: i64,
    flags: &stream::flags::FlagConfig,
    owns: impl Fn(devices::RoomIdx) -> bool,
) -> anyhow::Result<Option<stream::Lookback>> {
    let longest = flags
        .category
        .values()
        .chain(flags.site.values())
        .filter_map(|o| o.lookback_days)
        .fold(flags.lookback_days, u16::max);
    let first_ms = recover.iter().map(|r| r.time_ms).min().unwrap_or(now_ms);
    let date = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .date_naive()
    };
    // Local dates are within a day of UTC ones.
    let from = date(first_ms) - chrono::Duration::days(i64::from(longest) + 1);
    let to = date(first_ms) + chrono::Duration::days(1);
    // A date at a time, each made compact as it comes: the tables' rows of a
    // national lookback (tens of millions of hours) are never held at once.
    let lookback = stream::Lookback::default();
    let mut room_days = 0usize;
    let mut date = from;
    while date <= to {
        let mut days = store.read_lookback(date, date)?;
        days.retain(|d| owns(d.room));
        room_days += days.len();
        lookback.add(&store.registry(), days);
        date += chrono::Duration::days(1);
    }
    if lookback.is_empty() {
        return Ok(None);
    }
    tracing::info!(
        room_days,
        from = %from,
        "the flags' lookback starts from the days stored before this start"
    );
    Ok(Some(lookback))
}
