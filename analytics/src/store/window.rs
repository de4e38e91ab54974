//! What `room_hour`, `room_day` and `room_slot_day` share: the checks, the
//! partitioning and sort order of [`RoomWindow`] rows, and the one definition
//! of each id and metric column. Each table module adds its own few columns.

use super::columns::{self, Column, instant, opt, req, utf8};
use super::error::{Error, Result};
use super::partition::Table;
use super::room;
use arrow::array::RecordBatch;
use arrow::datatypes::{Float64Type, SchemaRef, UInt32Type, UInt64Type};
use chrono::{NaiveDate, NaiveDateTime};
use devices::{Registry, RoomWindow, Site, WindowKind};
use std::collections::BTreeMap;

/// How one window table differs from the others.
pub(crate) struct Layout {
    /// Name, sort order and encodings.
    pub spec: Table,
    /// Names of the start and end columns (`hour_start`, `day_start`, ...).
    pub start: &'static str,
    pub end: &'static str,
    /// The window kinds the table holds.
    pub accepts: fn(WindowKind) -> bool,
}

/// A window with the registry entries it points to.
pub(crate) struct Row<'a> {
    pub site: &'a Site,
    pub room: &'a devices::Room,
    /// The window start in the site's local time.
    pub local_start: NaiveDateTime,
    pub w: &'a RoomWindow,
}

/// The integer fields of a window, for a total order that needs no float compare.
type Key<'a> = (
    (&'a str, &'a str, i64, Option<&'static str>, i64, u16),
    (u32, u32, u32, u64, Option<u32>, u64, &'static str),
    (u32, u32, u32, Option<u32>, Option<u32>),
);

impl Row<'_> {
    /// The slot's service category, `None` for whole-room windows.
    pub fn category(&self) -> Option<&'static str> {
        match self.w.kind {
            WindowKind::SlotDay(c) => Some(c.as_str()),
            WindowKind::Hour | WindowKind::Day => None,
        }
    }

    /// Sorts by the table's sort columns (ids, start, category), then by every other field.
    fn key(&self) -> Key<'_> {
        let w = self.w;
        (
            (
                &self.site.id,
                &self.room.id,
                w.start,
                self.category(),
                w.end,
                w.revision,
            ),
            (
                w.open_seconds,
                w.measured_seconds,
                w.occupied_seconds,
                w.person_seconds,
                w.peak_occupancy,
                w.visits,
                w.visits_method.as_str(),
            ),
            (
                w.longest_idle_seconds,
                w.after_hours_occupied_seconds,
                w.over_capacity_seconds,
                w.capacity,
                w.door_residual,
            ),
        )
    }
}

/// Checks every window, then groups them by the local date of their start at
/// their site, one sorted batch per date.
pub(crate) fn batches<'a>(
    layout: &Layout,
    schema: SchemaRef,
    columns: &[Column<'_, Row<'a>>],
    registry: &'a Registry,
    windows: impl IntoIterator<Item = &'a RoomWindow>,
) -> Result<BTreeMap<NaiveDate, RecordBatch>> {
    let table = layout.spec.name;
    let mut by_date: BTreeMap<NaiveDate, Vec<Row<'a>>> = BTreeMap::new();
    for w in windows {
        let room = room(registry, w.room)?;
        let site = registry.site(room.site);
        if !(layout.accepts)(w.kind) {
            return Err(Error::WrongWindowKind {
                table,
                site: site.id.clone(),
                room: room.id.clone(),
                start: w.start,
                kind: w.kind,
            });
        }
        if w.end <= w.start {
            return Err(Error::EmptyWindow {
                table,
                site: site.id.clone(),
                room: Some(room.id.clone()),
                start: w.start,
                end: w.end,
            });
        }
        let out_of_range = |field, value| Error::TimeOutOfRange {
            table,
            field,
            value,
        };
        let start = chrono::DateTime::from_timestamp(w.start, 0)
            .ok_or_else(|| out_of_range(layout.start, w.start))?;
        chrono::DateTime::from_timestamp(w.end, 0)
            .ok_or_else(|| out_of_range(layout.end, w.end))?;
        let local_start = start.with_timezone(&site.timezone).naive_local();
        by_date.entry(local_start.date()).or_default().push(Row {
            site,
            room,
            local_start,
            w,
        });
    }
    by_date
        .into_iter()
        .map(|(date, mut rows)| {
            rows.sort_unstable_by(|a, b| a.key().cmp(&b.key()));
            let batch = columns::batch(table, schema.clone(), columns, &rows)?;
            Ok((date, batch))
        })
        .collect()
}

/// `site_id`, `room_id`, then the Chinese display names `site_name`, `room_name`.
pub(crate) fn ids<'a>() -> Vec<Column<'a, Row<'a>>> {
    vec![
        utf8("site_id", |r: &Row| &r.site.id),
        utf8("room_id", |r: &Row| &r.room.id),
        utf8("site_name", |r: &Row| &r.site.name),
        utf8("room_name", |r: &Row| &r.room.name),
    ]
}

/// The window's start and end instants, under the table's column names.
pub(crate) fn span<'a>(layout: &Layout) -> Vec<Column<'a, Row<'a>>> {
    vec![
        instant(layout.start, |r: &Row| r.w.start),
        instant(layout.end, |r: &Row| r.w.end),
    ]
}

/// Whether the window has after-hours time of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterHours {
    /// Whole-room windows: `after_hours_occupied_seconds` is never null.
    Own,
    /// Slots: outside a slot's hours may be another slot, so the column is null.
    None,
}

/// The METRICS.md room metrics, `open_seconds` to `capacity`. Every ratio is
/// the [`RoomWindow`] method of the same name: one definition.
pub(crate) fn metrics<'a>(after_hours: AfterHours) -> Vec<Column<'a, Row<'a>>> {
    type U32 = UInt32Type;
    type F64 = Float64Type;
    vec![
        req::<Row, U32>("open_seconds", |r| r.w.open_seconds),
        req::<Row, U32>("measured_seconds", |r| r.w.measured_seconds),
        opt::<Row, F64>("coverage", |r| r.w.coverage()),
        req::<Row, U32>("occupied_seconds", |r| r.w.occupied_seconds),
        opt::<Row, F64>("time_utilization", |r| r.w.time_utilization()),
        opt::<Row, F64>("mean_occupancy", |r| r.w.mean_occupancy()),
        opt::<Row, F64>("capacity_utilization", |r| r.w.capacity_utilization()),
        opt::<Row, F64>("mean_occupancy_when_used", |r| {
            r.w.mean_occupancy_when_used()
        }),
        opt::<Row, U32>("peak_occupancy", |r| r.w.peak_occupancy),
        opt::<Row, F64>("peak_utilization", |r| r.w.peak_utilization()),
        req::<Row, UInt64Type>("visits", |r| r.w.visits),
        utf8("visits_method", |r: &Row| r.w.visits_method.as_str()),
        opt::<Row, F64>("mean_dwell_seconds", |r| r.w.mean_dwell_seconds()),
        req::<Row, U32>("longest_idle_seconds", |r| r.w.longest_idle_seconds),
        match after_hours {
            AfterHours::Own => req::<Row, U32>("after_hours_occupied_seconds", |r| {
                r.w.after_hours_occupied_seconds
            }),
            AfterHours::None => opt::<Row, U32>("after_hours_occupied_seconds", |_| None),
        },
        opt::<Row, U32>("over_capacity_seconds", |r| r.w.over_capacity()),
        req::<Row, UInt64Type>("person_seconds", |r| r.w.person_seconds),
        opt::<Row, U32>("capacity", |r| r.w.capacity),
    ]
}
