//! The `site_day` table: the site metrics of METRICS.md for one site over one
//! local day, for evaluators comparing sites.

use super::columns::{self, Column, boolean, instant, opt, req, utf8};
use super::error::{Error, Result};
use super::partition::Table;
use arrow::array::RecordBatch;
use arrow::datatypes::{Float64Type, SchemaRef, UInt32Type, UInt64Type};
use chrono::NaiveDate;
use devices::{Registry, Site, SiteDay};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// Directory name of the table under the store root.
pub const TABLE: &str = "site_day";

pub(crate) const SPEC: Table = Table {
    name: TABLE,
    sort_by: &["site_id", "day_start"],
    plain: &[],
};

struct Row<'a> {
    site: &'a Site,
    /// The categories in use, by name, comma-joined.
    functions: String,
    d: &'a SiteDay,
}

/// Every written value, floats by their bits: a total order.
type Key<'a> = (
    (&'a str, i64, i64, u32, u16),
    (u64, u64, u64, u64, u64, u64, u64),
    (u64, u32, u32, &'a str),
);

impl Row<'_> {
    fn key(&self) -> Key<'_> {
        let d = self.d;
        (
            (&self.site.id, d.start, d.end, d.rooms, d.revision),
            (
                d.open_seconds,
                d.measured_seconds,
                d.occupied_seconds,
                d.person_seconds,
                d.capacity_person_seconds,
                d.capacity_seconds,
                d.visits,
            ),
            (
                d.area_m2.to_bits(),
                d.rooms_covered,
                d.rooms_underused,
                &self.functions,
            ),
        )
    }
}

fn columns<'a>() -> Vec<Column<'a, Row<'a>>> {
    type U32 = UInt32Type;
    type U64 = UInt64Type;
    type F64 = Float64Type;
    vec![
        utf8("site_id", |r: &Row| &r.site.id),
        utf8("site_name", |r: &Row| &r.site.name),
        utf8("city", |r: &Row| &r.site.city),
        utf8("district", |r: &Row| &r.site.district),
        instant("day_start", |r: &Row| r.d.start),
        instant("day_end", |r: &Row| r.d.end),
        req::<Row, U32>("rooms", |r| r.d.rooms),
        req::<Row, U64>("open_seconds", |r| r.d.open_seconds),
        req::<Row, U64>("measured_seconds", |r| r.d.measured_seconds),
        req::<Row, U64>("occupied_seconds", |r| r.d.occupied_seconds),
        req::<Row, U64>("person_seconds", |r| r.d.person_seconds),
        req::<Row, U64>("capacity_person_seconds", |r| r.d.capacity_person_seconds),
        req::<Row, U64>("capacity_seconds", |r| r.d.capacity_seconds),
        opt::<Row, F64>("coverage", |r| r.d.coverage()),
        opt::<Row, F64>("time_utilization", |r| r.d.time_utilization()),
        opt::<Row, F64>("capacity_utilization", |r| r.d.capacity_utilization()),
        req::<Row, U64>("visits", |r| r.d.visits),
        req::<Row, F64>("visits_per_day", |r| r.d.visits_per_day()),
        opt::<Row, F64>("visits_per_100m2_day", |r| r.d.visits_per_100m2_day()),
        req::<Row, F64>("area_m2", |r| r.d.area_m2),
        req::<Row, U32>("rooms_covered", |r| r.d.rooms_covered),
        req::<Row, U32>("rooms_underused", |r| r.d.rooms_underused),
        opt::<Row, F64>("share_rooms_underused", |r| r.d.share_rooms_underused()),
        req::<Row, U32>("functions_in_use", |r| r.d.functions_in_use.len() as u32),
        utf8("functions", |r: &Row| &r.functions),
        boolean("meets_function_mix", |r: &Row| r.d.meets_function_mix()),
        columns::version(),
        columns::revision(|r: &Row| r.d.revision),
    ]
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| columns::schema(&columns()));

/// The Arrow schema of `site_day` (docs/SCHEMA.md describes each column).
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Groups site days by the local date of their start, one sorted batch per date.
pub(crate) fn batches(
    registry: &Registry,
    days: &[SiteDay],
) -> Result<BTreeMap<NaiveDate, RecordBatch>> {
    let mut by_date: BTreeMap<NaiveDate, Vec<Row>> = BTreeMap::new();
    for d in days {
        let site = registry
            .sites
            .get(d.site.ix())
            .ok_or(Error::NotInRegistry {
                what: "site",
                index: d.site.0,
            })?;
        if d.end <= d.start {
            return Err(Error::EmptyWindow {
                table: TABLE,
                site: site.id.clone(),
                room: None,
                start: d.start,
                end: d.end,
            });
        }
        let out_of_range = |field, value| Error::TimeOutOfRange {
            table: TABLE,
            field,
            value,
        };
        let start = chrono::DateTime::from_timestamp(d.start, 0)
            .ok_or_else(|| out_of_range("day_start", d.start))?;
        chrono::DateTime::from_timestamp(d.end, 0).ok_or_else(|| out_of_range("day_end", d.end))?;
        let mut names: Vec<&str> = d.functions_in_use.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        let date = start.with_timezone(&site.timezone).date_naive();
        by_date.entry(date).or_default().push(Row {
            site,
            functions: names.join(","),
            d,
        });
    }
    columns::dated_batches(TABLE, schema(), &columns(), by_date, |a, b| {
        a.key().cmp(&b.key())
    })
}
