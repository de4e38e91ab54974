//! Report tables as Arrow batches and Parquet files.

use super::table::{Kind, Table, Value, text};
use super::{Error, Lang, Result};
use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, RecordBatch,
    StringBuilder,
};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::NaiveDate;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The table as one Arrow batch: Utf8, Int64, Float64, Boolean and Date32 columns.
pub fn to_batch(t: &Table) -> Result<RecordBatch> {
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (i, c) in t.columns.iter().enumerate() {
        let cells = t.rows.iter().map(|r| r.get(i).unwrap_or(&Value::Null));
        let (dt, array): (DataType, ArrayRef) = match c.kind {
            Kind::Text => {
                let mut b = StringBuilder::new();
                for v in cells {
                    b.append_option(text(v, c.kind, false, Lang::En));
                }
                (DataType::Utf8, Arc::new(b.finish()))
            }
            Kind::Int => {
                let mut b = Int64Builder::new();
                cells.for_each(|v| {
                    b.append_option(if let Value::Int(i) = v {
                        Some(*i)
                    } else {
                        None
                    })
                });
                (DataType::Int64, Arc::new(b.finish()))
            }
            Kind::Float | Kind::Fraction => {
                let mut b = Float64Builder::new();
                cells.for_each(|v| {
                    b.append_option(match v {
                        Value::Float(f) => Some(*f),
                        Value::Int(i) => Some(*i as f64),
                        _ => None,
                    })
                });
                (DataType::Float64, Arc::new(b.finish()))
            }
            Kind::Bool => {
                let mut b = BooleanBuilder::new();
                cells.for_each(|v| {
                    b.append_option(if let Value::Bool(x) = v {
                        Some(*x)
                    } else {
                        None
                    })
                });
                (DataType::Boolean, Arc::new(b.finish()))
            }
            Kind::Date => {
                let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
                let mut b = Date32Builder::new();
                cells.for_each(|v| {
                    b.append_option(match v {
                        Value::Date(d) => i32::try_from((*d - epoch).num_days()).ok(),
                        _ => None,
                    })
                });
                (DataType::Date32, Arc::new(b.finish()))
            }
        };
        fields.push(Field::new(c.name.as_str(), dt, true));
        arrays.push(array);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|source| Error::Arrow {
        path: PathBuf::from(t.name),
        source,
    })
}

pub(super) fn write_parquet(t: &Table, path: &Path) -> Result<()> {
    let batch = to_batch(t)?;
    let parquet = |source| Error::Parquet {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::create(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .build();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(parquet)?;
    writer.write(&batch).map_err(parquet)?;
    writer.close().map_err(parquet)?;
    Ok(())
}
