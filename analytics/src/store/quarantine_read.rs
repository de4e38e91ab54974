//! Reading `quarantine` back: the rejected messages of some days, for the
//! device page after a restart (today's rejects and the devices waiting for
//! registration).

use super::error::Result;
use super::partition::read_batches;
use super::quarantine::TABLE;
use arrow::array::{Array, AsArray};
use arrow::datatypes::TimestampMillisecondType;
use chrono::NaiveDate;
use devices::{Reason, Rejection};
use std::path::Path;

/// Every rejected message of the UTC `dates` (files in name order, the order
/// they were written), with a reason this doorstep knows.
pub(crate) fn read_quarantine(root: &Path, dates: &[NaiveDate]) -> Result<Vec<Rejection>> {
    let mut out = Vec::new();
    read_batches(root, TABLE, dates, &|_| true, |b| {
        let col = |name: &str| b.column_by_name(name);
        let (Some(at), Some(topic), Some(reason), Some(detail), Some(payload)) = (
            col("received_time").and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>()),
            col("topic").and_then(|c| c.as_string_opt::<i32>()),
            col("reason").and_then(|c| c.as_string_opt::<i32>()),
            col("detail").and_then(|c| c.as_string_opt::<i32>()),
            col("payload").and_then(|c| c.as_binary_opt::<i32>()),
        ) else {
            return;
        };
        for i in 0..b.num_rows() {
            let Some(reason) = Reason::parse(reason.value(i)) else {
                continue;
            };
            out.push(Rejection {
                reason,
                detail: detail.value(i).to_owned(),
                topic: topic.value(i).to_owned(),
                payload: if payload.is_null(i) {
                    Vec::new()
                } else {
                    payload.value(i).to_vec()
                },
                received_ms: at.value(i),
            });
        }
    })?;
    Ok(out)
}
