//! The `alerts` table: one row for each change of an alert (opened, reopened,
//! acknowledged, ended), so the table is the alerts' whole history and a query
//! for the latest row of each `alert_id` gives their state.

use super::columns::{self, Column, instant_ms, opt_instant_ms, opt_utf8, req, utf8};
use super::error::{Error, Result};
use super::partition::Table;
use arrow::array::RecordBatch;
use arrow::datatypes::{SchemaRef, UInt32Type, UInt64Type};
use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// Directory name of the table under the store root.
pub const TABLE: &str = "alerts";

pub(crate) const SPEC: Table = Table {
    name: TABLE,
    sort_by: &["at", "alert_id"],
    plain: &[],
};

/// One change of one alert.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    /// When it changed, Unix ms (the pipeline's clock).
    pub at_ms: i64,
    /// `opened`, `reopened`, `acknowledged` or `ended`.
    pub event: String,
    /// The alert's id.
    pub alert_id: u64,
    /// Its kind, snake_case (`over_capacity`, `device_offline`, ...).
    pub kind: String,
    /// Site id; empty for an alert of the whole installation.
    pub site_id: String,
    /// Room id, when about a room.
    pub room_id: Option<String>,
    /// Device id, when about a device.
    pub device_id: Option<String>,
    /// Since when the condition held, Unix ms.
    pub since_ms: i64,
    /// When it ended, Unix ms.
    pub ended_ms: Option<i64>,
    /// Who acknowledged it.
    pub acked_by: Option<String>,
    /// Times it came back within the cooldown.
    pub reopened: u32,
    /// What it said, in Chinese.
    pub detail_zh: String,
    /// The same in English.
    pub detail_en: String,
}

fn columns<'a>() -> Vec<Column<'a, AlertEvent>> {
    vec![
        instant_ms("at", |r: &AlertEvent| r.at_ms),
        utf8("event", |r: &AlertEvent| &r.event),
        req::<_, UInt64Type>("alert_id", |r: &AlertEvent| r.alert_id),
        utf8("kind", |r: &AlertEvent| &r.kind),
        utf8("site_id", |r: &AlertEvent| &r.site_id),
        opt_utf8("room_id", |r: &AlertEvent| r.room_id.as_deref()),
        opt_utf8("device_id", |r: &AlertEvent| r.device_id.as_deref()),
        instant_ms("since", |r: &AlertEvent| r.since_ms),
        opt_instant_ms("ended", |r: &AlertEvent| r.ended_ms),
        opt_utf8("acked_by", |r: &AlertEvent| r.acked_by.as_deref()),
        req::<_, UInt32Type>("reopened", |r: &AlertEvent| r.reopened),
        utf8("detail_zh", |r: &AlertEvent| &r.detail_zh),
        utf8("detail_en", |r: &AlertEvent| &r.detail_en),
        columns::version(),
    ]
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| columns::schema(&columns()));

/// The Arrow schema of `alerts` (docs/SCHEMA.md describes each column).
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Groups events by the UTC date of the change (an alert may be of no site).
pub(crate) fn batches(events: &[AlertEvent]) -> Result<BTreeMap<NaiveDate, RecordBatch>> {
    let mut by_date: BTreeMap<NaiveDate, Vec<AlertEvent>> = BTreeMap::new();
    for e in events {
        let day = chrono::DateTime::from_timestamp_millis(e.at_ms)
            .ok_or(Error::TimeOutOfRange {
                table: TABLE,
                field: "at",
                value: e.at_ms,
            })?
            .date_naive();
        by_date.entry(day).or_default().push(e.clone());
    }
    columns::dated_batches(TABLE, schema(), &columns(), by_date, |a, b| {
        (a.at_ms, a.alert_id, &a.event).cmp(&(b.at_ms, b.alert_id, &b.event))
    })
}
