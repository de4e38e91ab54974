//! The `quarantine` table: every message rejected at ingest, kept whole with
//! its reason code, so that nothing a device sent is lost.

use super::columns::{self, Column, binary, instant_ms, opt_utf8, utf8};
use super::error::{Error, Result};
use super::partition::Table;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use chrono::NaiveDate;
use devices::Rejection;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// Directory name of the table under the store root.
pub const TABLE: &str = "quarantine";

pub(crate) const SPEC: Table = Table {
    name: TABLE,
    sort_by: &["received_time", "topic", "reason"],
    plain: &["payload"],
};

struct Row<'a> {
    site_id: Option<&'a str>,
    device_id: Option<&'a str>,
    r: &'a Rejection,
}

/// `doorstep/v1/{site}/{device}`: the ids a topic names, when it has that shape.
fn topic_ids(topic: &str) -> (Option<&str>, Option<&str>) {
    let mut parts = topic.split('/');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("doorstep"), Some("v1"), Some(site), Some(device), None) => {
            (Some(site), Some(device))
        }
        _ => (None, None),
    }
}

fn columns<'a>() -> Vec<Column<'a, Row<'a>>> {
    vec![
        instant_ms("received_time", |r: &Row| r.r.received_ms),
        utf8("topic", |r: &Row| &r.r.topic),
        opt_utf8("site_id", |r: &Row| r.site_id),
        opt_utf8("device_id", |r: &Row| r.device_id),
        utf8("reason", |r: &Row| r.r.reason.as_str()),
        utf8("detail", |r: &Row| &r.r.detail),
        binary("payload", |r: &Row| &r.r.payload),
        columns::version(),
    ]
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| columns::schema(&columns()));

/// The Arrow schema of `quarantine` (docs/SCHEMA.md describes each column).
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// Groups rejections by the UTC date they were received (a rejected message may name no known site).
pub(crate) fn batches(rejections: &[Rejection]) -> Result<BTreeMap<NaiveDate, RecordBatch>> {
    let mut by_date: BTreeMap<NaiveDate, Vec<Row>> = BTreeMap::new();
    for r in rejections {
        let day = chrono::DateTime::from_timestamp_millis(r.received_ms)
            .ok_or(Error::TimeOutOfRange {
                table: TABLE,
                field: "received_time",
                value: r.received_ms,
            })?
            .date_naive();
        let (site_id, device_id) = topic_ids(&r.topic);
        by_date.entry(day).or_default().push(Row {
            site_id,
            device_id,
            r,
        });
    }
    columns::dated_batches(TABLE, schema(), &columns(), by_date, |a, b| {
        (
            a.r.received_ms,
            &a.r.topic,
            a.r.reason,
            &a.r.payload,
            &a.r.detail,
        )
            .cmp(&(
                b.r.received_ms,
                &b.r.topic,
                b.r.reason,
                &b.r.payload,
                &b.r.detail,
            ))
    })
}
