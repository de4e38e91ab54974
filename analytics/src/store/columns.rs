//! Columns defined once, with their Arrow field and how to build them from rows.
//!
//! A table is a list of [`Column`]s: its schema is their fields, a batch is
//! their arrays, so the two cannot drift apart.

use super::METRICS_VERSION;
use super::error::{Error, Result};
use arrow::array::{
    ArrayRef, BooleanArray, PrimitiveArray, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Field, Schema, SchemaRef, TimeUnit, UInt16Type,
};
use chrono::NaiveDate;
use std::sync::Arc;

/// Builds one column of a batch from the batch's rows.
type Build<'f, R> = Box<dyn Fn(&[R]) -> ArrayRef + 'f>;

/// One column of a table: its field and how to build it.
pub(crate) struct Column<'f, R> {
    pub field: Field,
    build: Build<'f, R>,
}

/// A non-null primitive column.
pub(crate) fn req<'f, R: 'f, T: ArrowPrimitiveType>(
    name: &str,
    f: fn(&R) -> T::Native,
) -> Column<'f, R> {
    Column {
        field: Field::new(name, T::DATA_TYPE, false),
        build: Box::new(move |rows| {
            Arc::new(PrimitiveArray::<T>::from_iter_values(rows.iter().map(f)))
        }),
    }
}

/// A nullable primitive column.
pub(crate) fn opt<'f, R: 'f, T: ArrowPrimitiveType>(
    name: &str,
    f: fn(&R) -> Option<T::Native>,
) -> Column<'f, R> {
    Column {
        field: Field::new(name, T::DATA_TYPE, true),
        build: Box::new(move |rows| Arc::new(PrimitiveArray::<T>::from_iter(rows.iter().map(f)))),
    }
}

/// A non-null string column (dictionary-encoded in the file).
pub(crate) fn utf8<'f, R: 'f>(name: &str, f: fn(&R) -> &str) -> Column<'f, R> {
    Column {
        field: Field::new(name, DataType::Utf8, false),
        build: Box::new(move |rows| Arc::new(StringArray::from_iter_values(rows.iter().map(f)))),
    }
}

/// A nullable string column.
pub(crate) fn opt_utf8<'f, R: 'f>(name: &str, f: fn(&R) -> Option<&str>) -> Column<'f, R> {
    Column {
        field: Field::new(name, DataType::Utf8, true),
        build: Box::new(move |rows| Arc::new(StringArray::from_iter(rows.iter().map(f)))),
    }
}

/// A non-null byte-string column (kept as received, valid UTF-8 or not).
pub(crate) fn binary<'f, R: 'f>(name: &str, f: fn(&R) -> &[u8]) -> Column<'f, R> {
    Column {
        field: Field::new(name, DataType::Binary, false),
        build: Box::new(move |rows| {
            Arc::new(arrow::array::BinaryArray::from_iter_values(
                rows.iter().map(f),
            ))
        }),
    }
}

/// A non-null instant given in Unix milliseconds, stored as `Timestamp(ms, "UTC")`.
pub(crate) fn instant_ms<'f, R: 'f>(name: &str, f: fn(&R) -> i64) -> Column<'f, R> {
    Column {
        field: Field::new(
            name,
            DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        build: Box::new(move |rows| {
            Arc::new(
                arrow::array::TimestampMillisecondArray::from_iter_values(rows.iter().map(f))
                    .with_timezone("UTC"),
            )
        }),
    }
}

/// A nullable instant given in Unix milliseconds, stored as `Timestamp(ms, "UTC")`.
pub(crate) fn opt_instant_ms<'f, R: 'f>(name: &str, f: fn(&R) -> Option<i64>) -> Column<'f, R> {
    Column {
        field: Field::new(
            name,
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
        build: Box::new(move |rows| {
            Arc::new(TimestampMillisecondArray::from_iter(rows.iter().map(f)).with_timezone("UTC"))
        }),
    }
}

/// A non-null boolean column.
pub(crate) fn boolean<'f, R: 'f>(name: &str, f: fn(&R) -> bool) -> Column<'f, R> {
    Column {
        field: Field::new(name, DataType::Boolean, false),
        build: Box::new(move |rows| {
            Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(f(r)))))
        }),
    }
}

/// A non-null instant, given in Unix seconds, stored as `Timestamp(ms, "UTC")`.
pub(crate) fn instant<'f, R: 'f>(name: &str, f: fn(&R) -> i64) -> Column<'f, R> {
    Column {
        field: Field::new(
            name,
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        build: Box::new(move |rows| {
            Arc::new(
                TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| f(r) * 1000))
                    .with_timezone("UTC"),
            )
        }),
    }
}

/// A local calendar date, stored as `Date32`.
pub(crate) fn date<'f, R: 'f>(name: &str, f: fn(&R) -> NaiveDate) -> Column<'f, R> {
    Column {
        field: Field::new(name, DataType::Date32, false),
        build: Box::new(move |rows| {
            Arc::new(PrimitiveArray::<Date32Type>::from_iter_values(
                rows.iter().map(|r| Date32Type::from_naive_date(f(r))),
            ))
        }),
    }
}

/// A local calendar date that may be missing, stored as `Date32`.
pub(crate) fn opt_date<'f, R: 'f>(name: &str, f: fn(&R) -> Option<NaiveDate>) -> Column<'f, R> {
    Column {
        field: Field::new(name, DataType::Date32, true),
        build: Box::new(move |rows| {
            Arc::new(PrimitiveArray::<Date32Type>::from_iter(
                rows.iter().map(|r| f(r).map(Date32Type::from_naive_date)),
            ))
        }),
    }
}

/// `metrics_version`: [`METRICS_VERSION`] on every row.
pub(crate) fn version<'f, R: 'f>() -> Column<'f, R> {
    req::<R, UInt16Type>("metrics_version", |_| METRICS_VERSION)
}

/// `revision`: 0 when a row is first written, raised each time a late reading
/// rewrites it; readers keep the highest revision of each key.
pub(crate) fn revision<'f, R: 'f>(f: fn(&R) -> u16) -> Column<'f, R> {
    req::<R, UInt16Type>("revision", f)
}

/// One batch per local date, the rows of each sorted by `order` so the bytes written
/// do not depend on the order rows came in.
pub(crate) fn dated_batches<'r, R>(
    table: &'static str,
    schema: SchemaRef,
    columns: &[Column<'r, R>],
    by_date: std::collections::BTreeMap<chrono::NaiveDate, Vec<R>>,
    order: impl Fn(&R, &R) -> std::cmp::Ordering,
) -> super::error::Result<std::collections::BTreeMap<chrono::NaiveDate, arrow::array::RecordBatch>>
{
    by_date
        .into_iter()
        .map(|(date, mut rows)| {
            rows.sort_unstable_by(&order);
            Ok((date, batch(table, schema.clone(), columns, &rows)?))
        })
        .collect()
}

/// The schema of a table made of `columns`.
pub(crate) fn schema<R>(columns: &[Column<'_, R>]) -> SchemaRef {
    Arc::new(Schema::new(
        columns.iter().map(|c| c.field.clone()).collect::<Vec<_>>(),
    ))
}

/// A batch of `rows`, in the order given, with the schema of `columns`.
pub(crate) fn batch<R>(
    table: &'static str,
    schema: SchemaRef,
    columns: &[Column<'_, R>],
    rows: &[R],
) -> Result<RecordBatch> {
    let arrays = columns.iter().map(|c| (c.build)(rows)).collect();
    RecordBatch::try_new(schema, arrays).map_err(|source| Error::Arrow { table, source })
}
