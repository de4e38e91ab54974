//! The `flags` table: the flags of METRICS.md raised for a room on a local day,
//! with the numbers behind them and the reason in English and Chinese.

use super::columns::{self, Column, date, opt, opt_date, req, utf8};
use super::error::{Error, Result};
use super::partition::Table;
use super::room;
use arrow::array::RecordBatch;
use arrow::datatypes::{Float64Type, SchemaRef, UInt16Type, UInt32Type};
use chrono::NaiveDate;
use devices::{Flag, Registry, Site};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// Directory name of the table under the store root.
pub const TABLE: &str = "flags";

pub(crate) const SPEC: Table = Table {
    name: TABLE,
    sort_by: &["site_id", "room_id", "day", "flag"],
    plain: &[],
};

struct Row<'a> {
    site: &'a Site,
    room: &'a devices::Room,
    /// Local date of `f.day` at the site.
    day: NaiveDate,
    /// Local date of `f.worst_day` at the site.
    worst_day: Option<NaiveDate>,
    f: &'a Flag,
}

/// Every written value but the floats, then the floats' bits: a total order.
type Key<'a> = (
    (&'a str, &'a str, NaiveDate, &'static str, i64, u16),
    (u16, Option<u16>, Option<u32>, Option<NaiveDate>),
    (Option<u64>, Option<u64>, &'a str, &'a str),
);

impl Row<'_> {
    fn key(&self) -> Key<'_> {
        let f = self.f;
        (
            (
                &self.site.id,
                &self.room.id,
                self.day,
                f.kind.as_str(),
                f.day,
                f.revision,
            ),
            (
                f.lookback_days,
                f.idle_days,
                f.worst_seconds,
                self.worst_day,
            ),
            (
                f.coverage.map(f64::to_bits),
                f.time_utilization.map(f64::to_bits),
                &f.reason_en,
                &f.reason_zh,
            ),
        )
    }
}

fn columns<'a>() -> Vec<Column<'a, Row<'a>>> {
    vec![
        utf8("site_id", |r: &Row| &r.site.id),
        utf8("room_id", |r: &Row| &r.room.id),
        date("day", |r: &Row| r.day),
        utf8("flag", |r: &Row| r.f.kind.as_str()),
        req::<Row, UInt16Type>("lookback_days", |r| r.f.lookback_days),
        opt::<Row, Float64Type>("coverage", |r| r.f.coverage),
        opt::<Row, Float64Type>("time_utilization", |r| r.f.time_utilization),
        opt::<Row, UInt16Type>("idle_days", |r| r.f.idle_days),
        opt::<Row, UInt32Type>("worst_seconds", |r| r.f.worst_seconds),
        opt_date("worst_day", |r: &Row| r.worst_day),
        utf8("reason_en", |r: &Row| &r.f.reason_en),
        utf8("reason_zh", |r: &Row| &r.f.reason_zh),
        columns::version(),
        columns::revision(|r: &Row| r.f.revision),
    ]
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| columns::schema(&columns()));

/// The Arrow schema of `flags` (docs/SCHEMA.md describes each column).
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// The local date at the site of Unix second `t`, or an error naming the field.
fn local_date(site: &Site, field: &'static str, t: i64) -> Result<NaiveDate> {
    let instant = chrono::DateTime::from_timestamp(t, 0).ok_or(Error::TimeOutOfRange {
        table: TABLE,
        field,
        value: t,
    })?;
    Ok(instant.with_timezone(&site.timezone).date_naive())
}

/// Groups flags by their local day at their site, one sorted batch per date.
pub(crate) fn batches(
    registry: &Registry,
    flags: &[Flag],
) -> Result<BTreeMap<NaiveDate, RecordBatch>> {
    let mut by_date: BTreeMap<NaiveDate, Vec<Row>> = BTreeMap::new();
    for f in flags {
        let room = room(registry, f.room)?;
        let site = registry.site(room.site);
        let day = local_date(site, "day", f.day)?;
        let worst_day = f
            .worst_day
            .map(|t| local_date(site, "worst_day", t))
            .transpose()?;
        by_date.entry(day).or_default().push(Row {
            site,
            room,
            day,
            worst_day,
            f,
        });
    }
    columns::dated_batches(TABLE, schema(), &columns(), by_date, |a, b| {
        a.key().cmp(&b.key())
    })
}
