//! Reading `quarantine` back: the rejected messages of some days, for the
//! device page after a restart (today's rejects and the devices waiting for
//! registration).

use super::error::{Error, Result};
use super::partition::partition_dir;
use super::quarantine::TABLE;
use arrow::array::{Array, AsArray};
use arrow::datatypes::TimestampMillisecondType;
use chrono::NaiveDate;
use devices::{Reason, Rejection};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::Path;

/// Every rejected message of the UTC `dates` (files in name order, the order
/// they were written), with a reason this doorstep knows.
pub(crate) fn read_quarantine(root: &Path, dates: &[NaiveDate]) -> Result<Vec<Rejection>> {
    let mut out = Vec::new();
    for date in dates {
        let dir = partition_dir(root, TABLE, *date);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .collect();
        files.sort();
        for path in files {
            let parquet = |source| Error::Parquet {
                path: path.clone(),
                source,
            };
            let file = std::fs::File::open(&path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(parquet)?
                .build()
                .map_err(parquet)?;
            for batch in reader {
                let b = batch.map_err(|source| Error::Arrow {
                    table: TABLE,
                    source,
                })?;
                let col = |name: &str| b.column_by_name(name);
                let (Some(at), Some(topic), Some(reason), Some(detail), Some(payload)) = (
                    col("received_time")
                        .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>()),
                    col("topic").and_then(|c| c.as_string_opt::<i32>()),
                    col("reason").and_then(|c| c.as_string_opt::<i32>()),
                    col("detail").and_then(|c| c.as_string_opt::<i32>()),
                    col("payload").and_then(|c| c.as_binary_opt::<i32>()),
                ) else {
                    continue;
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
            }
        }
    }
    Ok(out)
}
