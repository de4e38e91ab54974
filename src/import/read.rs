//! Reads the input files into rows: one device message each (native v1 fields,
//! or a vendor payload already decoded or rejected), with where it came from.
//!
//! A file that cannot be read as its format says (a missing column, no header)
//! is an error naming file and line: nothing is imported then. In a CSV table a
//! row that cannot be read (a time that does not parse, too few fields) becomes
//! a rejected row with its line (`bad_timestamp`, `missing_field`) and the rest
//! goes on, unless `strict` asks to stop there. A value that breaks the device
//! rules (a negative count, a word where a number belongs) goes into the
//! message as written, and validation rejects it with its reason code, as it
//! would live.

use super::args::{Format, ImportArgs};
use super::formats::{calit2, milesight};
use super::rows::{Body, Row, bad, count_cell, fields, line_of, reader, text_of};
use super::time::TimeFormat;
use anyhow::{Context, anyhow, bail};
use chrono_tz::Tz;
use devices::{DeviceKind, Reason};
use serde_json::Value as Json;
use std::path::Path;

/// How the rows of a CSV table map to a message.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// Columns joined (with a space) into the time.
    pub time: Vec<String>,
    /// How the time is written; guessed from the first row when `None`.
    pub format: Option<TimeFormat>,
    /// What each row reports.
    pub value: ValueColumns,
    /// Subtracted from each time (ms): a row stamped at the end of its interval.
    pub shift_ms: i64,
}

/// Which columns carry the reading.
#[derive(Debug, Clone)]
pub enum ValueColumns {
    /// Crossings since the previous row.
    Door {
        /// People in.
        inn: Option<String>,
        /// People out.
        out: Option<String>,
    },
    /// Cumulative counters.
    DoorTotal {
        /// In counter.
        inn: Option<String>,
        /// Out counter.
        out: Option<String>,
    },
    /// People in the room.
    Count(String),
    /// Anyone in the room.
    Presence(String),
}

impl ValueColumns {
    /// The device kind these readings come from.
    pub fn kind(&self) -> DeviceKind {
        match self {
            ValueColumns::Door { .. } | ValueColumns::DoorTotal { .. } => DeviceKind::Door,
            ValueColumns::Count(_) => DeviceKind::Count,
            ValueColumns::Presence(_) => DeviceKind::Presence,
        }
    }
}

/// The mapping of a format; for `csv`, from the options.
pub fn mapping(args: &ImportArgs) -> anyhow::Result<Option<Mapping>> {
    let m = match args.format() {
        Format::Calit2 | Format::MilesightVs13x | Format::MilesightVs121 => return Ok(None),
        Format::UciOccupancy => Mapping {
            time: vec!["date".into()],
            format: Some(TimeFormat::from_option("%Y-%m-%d %H:%M:%S")),
            value: ValueColumns::Presence("Occupancy".into()),
            shift_ms: 0,
        },
        Format::UciRoomEstimation => Mapping {
            time: vec!["Date".into(), "Time".into()],
            format: Some(TimeFormat::from_option("%Y/%m/%d %H:%M:%S")),
            value: ValueColumns::Count("Room_Occupancy_Count".into()),
            shift_ms: 0,
        },
        Format::Csv => {
            let Some(time) = &args.time_column else {
                bail!("--format csv needs --time-column NAME (the column holding the time)");
            };
            let value = match (
                (&args.inn, &args.out),
                (&args.in_total, &args.out_total),
                &args.count,
                &args.presence,
            ) {
                ((i, o), (None, None), None, None) if i.is_some() || o.is_some() => {
                    ValueColumns::Door {
                        inn: i.clone(),
                        out: o.clone(),
                    }
                }
                ((None, None), (i, o), None, None) if i.is_some() || o.is_some() => {
                    ValueColumns::DoorTotal {
                        inn: i.clone(),
                        out: o.clone(),
                    }
                }
                ((None, None), (None, None), Some(c), None) => ValueColumns::Count(c.clone()),
                ((None, None), (None, None), None, Some(p)) => ValueColumns::Presence(p.clone()),
                _ => bail!(
                    "--format csv needs exactly one kind of value column: --in/--out, \
                     --in-total/--out-total, --count or --presence"
                ),
            };
            Mapping {
                time: time.split(',').map(|s| s.trim().to_owned()).collect(),
                format: args.time_format.as_deref().map(TimeFormat::from_option),
                value,
                shift_ms: 0,
            }
        }
    };
    Ok(Some(m))
}

/// A presence cell as JSON: a boolean for 1/0, true/false, yes/no, else the text.
fn presence_cell(text: &str) -> Option<Json> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    let lower = t.to_ascii_lowercase();
    Some(match lower.as_str() {
        "1" | "1.0" | "true" | "yes" | "y" | "occupied" | "present" => Json::Bool(true),
        "0" | "0.0" | "false" | "no" | "n" | "empty" | "vacant" | "absent" => Json::Bool(false),
        _ => Json::from(t),
    })
}

/// A CSV table with a header, mapped by column names.
pub fn table(
    file: usize,
    path: &Path,
    bytes: &[u8],
    m: &Mapping,
    tz: Tz,
    delimiter: u8,
    strict: bool,
) -> anyhow::Result<Vec<Row>> {
    let text = text_of(path, bytes)?;
    let mut rd = reader(&text, true, delimiter);
    let header = rd
        .headers()
        .map_err(|e| bad(path, 1, format!("cannot read the header: {e}")))?
        .clone();
    let names: Vec<&str> = header.iter().collect();
    let col = |name: &str| -> anyhow::Result<usize> {
        names
            .iter()
            .position(|h| *h == name)
            .or_else(|| names.iter().position(|h| h.eq_ignore_ascii_case(name)))
            .ok_or_else(|| {
                bad(
                    path,
                    1,
                    format!(
                        "no column {name:?} in the header (it has {})",
                        names.join(", ")
                    ),
                )
            })
    };
    let time_cols = m
        .time
        .iter()
        .map(|c| col(c))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let opt_col = |c: &Option<String>| c.as_deref().map(col).transpose();
    let (kind, value_cols): (&str, Vec<(&str, Option<usize>)>) = match &m.value {
        ValueColumns::Door { inn, out } => {
            ("door", vec![("in", opt_col(inn)?), ("out", opt_col(out)?)])
        }
        ValueColumns::DoorTotal { inn, out } => (
            "door_total",
            vec![("in_total", opt_col(inn)?), ("out_total", opt_col(out)?)],
        ),
        ValueColumns::Count(c) => ("count", vec![("count", Some(col(c)?))]),
        ValueColumns::Presence(c) => ("presence", vec![("present", Some(col(c)?))]),
    };
    let mut format = m.format.clone();
    let mut rows = Vec::new();
    // A row that cannot be read: an error with --strict, else a rejected row.
    let mut unreadable = |line: u64, reason: Reason, what: String, raw: String| {
        if strict {
            return Err(bad(path, line, what));
        }
        rows.push(Row {
            file,
            line,
            time_ms: None,
            body: Body::Rejected {
                reason,
                detail: format!("line {line}: {what}"),
                payload: raw.into_bytes(),
            },
        });
        Ok(())
    };
    let mut read = Vec::new();
    for record in rd.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                unreadable(
                    line,
                    Reason::MissingField,
                    format!("not CSV: {e}"),
                    String::new(),
                )?;
                continue;
            }
        };
        let line = line_of(&record);
        if record.iter().all(str::is_empty) {
            continue;
        }
        let raw = || {
            record
                .iter()
                .collect::<Vec<_>>()
                .join(&char::from(delimiter).to_string())
        };
        // R's write.csv: the header has no name for the leading row id.
        let shift = usize::from(record.len() == names.len() + 1);
        if record.len() < names.len() {
            let what = format!("{} fields, the header has {}", record.len(), names.len());
            unreadable(line, Reason::MissingField, what, raw())?;
            continue;
        }
        let cell = |i: usize| record.get(i + shift).unwrap_or("");
        let when = time_cols
            .iter()
            .map(|i| cell(*i))
            .collect::<Vec<_>>()
            .join(" ");
        if format.is_none() {
            format = TimeFormat::guess(&when, tz);
        }
        let Some(f) = &format else {
            let what = format!("cannot tell how the time {when:?} is written; give --time-format");
            unreadable(line, Reason::BadTimestamp, what, raw())?;
            continue;
        };
        let Some(time_ms) = f.parse(&when, tz) else {
            let what = format!("time {when:?} does not match {}", f.describe());
            unreadable(line, Reason::BadTimestamp, what, raw())?;
            continue;
        };
        let time_ms = time_ms - m.shift_ms;
        let pairs: Vec<(&str, Option<Json>)> = value_cols
            .iter()
            .map(|(name, i)| {
                let v = match i {
                    // A door column not mapped counts nobody.
                    None => Some(Json::from(0)),
                    Some(i) if kind == "presence" => presence_cell(cell(*i)),
                    Some(i) => count_cell(cell(*i)),
                };
                (*name, v)
            })
            .collect();
        read.push(Row {
            file,
            line,
            time_ms: Some(time_ms),
            body: Body::Native(fields(kind, &pairs)),
        });
    }
    rows.extend(read);
    rows.sort_by_key(|r| (r.file, r.line));
    Ok(rows)
}

/// How to read the input files.
pub struct ReadOptions<'a> {
    /// What the files are.
    pub format: Format,
    /// The columns of a CSV table.
    pub mapping: Option<&'a Mapping>,
    /// The timezone of times written without an offset.
    pub tz: Tz,
    /// The field separator.
    pub delimiter: u8,
    /// Stop at the first row that cannot be read.
    pub strict: bool,
}

/// Reads one file (number `file` of the command line) as `o` says.
pub fn read_file(
    file: usize,
    path: &Path,
    bytes: &[u8],
    o: &ReadOptions,
) -> anyhow::Result<Vec<Row>> {
    match (o.format, o.mapping) {
        (Format::Calit2, _) => calit2(file, path, bytes, o.tz),
        (Format::MilesightVs13x, _) => Ok(milesight(file, bytes, false)),
        (Format::MilesightVs121, _) => Ok(milesight(file, bytes, true)),
        (_, Some(m)) => table(file, path, bytes, m, o.tz, o.delimiter, o.strict),
        (_, None) => Err(anyhow!("no column mapping for {}", o.format.name()))
            .with_context(|| path.display().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn door(rows: &[Row]) -> Vec<(i64, Json, Json)> {
        rows.iter()
            .map(|r| match &r.body {
                Body::Native(m) => (
                    r.time_ms.unwrap_or_default(),
                    m.get("in").cloned().unwrap_or(Json::Null),
                    m.get("out").cloned().unwrap_or(Json::Null),
                ),
                Body::Rejected { .. } => (0, Json::Null, Json::Null),
            })
            .collect()
    }

    #[test]
    fn calit2_pairs_the_flows_and_stamps_the_end_of_the_half_hour() {
        let data = b"7,07/24/05,00:00:00,0\n9,07/24/05,00:00:00,2\n7,07/24/05,00:30:00,1\n9,07/24/05,00:30:00,0\n";
        let rows = calit2(0, Path::new("c"), data, chrono_tz::America::Los_Angeles).expect("valid");
        // 2005-07-24 00:00 PDT = 07:00 UTC.
        assert_eq!(
            door(&rows),
            vec![
                (1_122_188_400_000 - 1000, Json::from(2), Json::from(0)),
                (1_122_190_200_000 - 1000, Json::from(0), Json::from(1)),
            ]
        );
        assert_eq!((rows[0].line, rows[1].line), (1, 3));
    }

    #[test]
    fn calit2_bad_rows_name_their_line() {
        let e = calit2(
            0,
            Path::new("c.data"),
            b"7,07/24/05,00:00:00,0\n8,07/24/05,00:00:00,2\n",
            chrono_tz::UTC,
        )
        .expect_err("bad flow");
        assert_eq!(
            e.to_string(),
            "c.data:2: flow \"8\" is neither 9 (in) nor 7 (out)"
        );
        let e = calit2(
            0,
            Path::new("c.data"),
            b"7,13/44/05,00:00:00,0\n",
            chrono_tz::UTC,
        )
        .expect_err("bad date");
        assert!(e.to_string().starts_with("c.data:1: time"), "{e}");
    }

    #[test]
    fn cells_keep_what_validation_must_judge() {
        assert_eq!(count_cell(" 3 "), Some(Json::from(3)));
        assert_eq!(count_cell("3.0"), Some(Json::from(3)));
        assert_eq!(count_cell("-2"), Some(Json::from(-2)));
        assert_eq!(count_cell("three"), Some(Json::from("three")));
        assert_eq!(count_cell(""), None);
        assert_eq!(presence_cell("1"), Some(Json::Bool(true)));
        assert_eq!(presence_cell("False"), Some(Json::Bool(false)));
        assert_eq!(presence_cell("maybe"), Some(Json::from("maybe")));
    }

    #[test]
    fn an_unnamed_leading_row_id_column_is_skipped() {
        let text = "\"date\",\"Light\",\"Occupancy\"\n\"1\",\"2015-02-04 17:51:00\",426,1\n\"2\",2015-02-04 17:52:00,429,0\n";
        let m = Mapping {
            time: vec!["date".into()],
            format: None,
            value: ValueColumns::Presence("Occupancy".into()),
            shift_ms: 0,
        };
        let rows = table(
            0,
            Path::new("t"),
            text.as_bytes(),
            &m,
            chrono_tz::UTC,
            b',',
            true,
        )
        .expect("valid");
        let got: Vec<_> = rows
            .iter()
            .map(|r| match &r.body {
                Body::Native(m) => (r.time_ms, m.get("present").cloned()),
                Body::Rejected { .. } => (None, None),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (Some(1_423_072_260_000), Some(Json::Bool(true))),
                (Some(1_423_072_320_000), Some(Json::Bool(false)))
            ]
        );
    }
}
