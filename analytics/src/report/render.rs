//! Report output: an aligned text table for people, or CSV, JSON or Parquet.

pub use super::columnar::to_batch;
use super::columnar::write_parquet;
use super::table::{Kind, Output, Table, Value, text};
use super::{Error, Lang, Result};
use serde::ser::{SerializeMap, SerializeSeq};
use std::io::Write;
use std::path::{Path, PathBuf};
use unicode_width::UnicodeWidthStr;

/// How a report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Aligned columns for a terminal (fractions shown as percentages).
    #[default]
    Table,
    /// Comma-separated values with a header line, one table after another.
    Csv,
    /// One JSON object: the report's facts, then each table as an array of objects.
    Json,
    /// Parquet files (needs an output file).
    Parquet,
}

/// Writes `out` as `format` to `dest` (standard output when `None`); returns the files written.
///
/// CSV and Parquet hold one table per file: the main table goes to `dest`, each
/// other one next to it as `<stem>.<table>.<ext>`. On standard output, CSV
/// tables follow each other, separated by an empty line.
pub fn write(
    out: &Output,
    format: Format,
    dest: Option<&Path>,
    lang: Lang,
) -> Result<Vec<PathBuf>> {
    if format == Format::Parquet {
        let Some(dest) = dest else {
            return Err(Error::ParquetNeedsFile);
        };
        let mut files = Vec::new();
        for (i, t) in out.tables.iter().enumerate() {
            let path = table_path(dest, t, i);
            write_parquet(t, &path)?;
            files.push(path);
        }
        return Ok(files);
    }
    match (format, dest) {
        (Format::Csv, Some(dest)) => {
            let mut files = Vec::new();
            for (i, t) in out.tables.iter().enumerate() {
                let path = table_path(dest, t, i);
                let mut f = create(&path)?;
                write_csv(t, &mut f)?;
                finish(f, &path)?;
                files.push(path);
            }
            Ok(files)
        }
        (_, Some(dest)) => {
            let mut f = create(dest)?;
            write_one(out, format, lang, &mut f).map_err(|e| with_path(e, dest))?;
            finish(f, dest)?;
            Ok(vec![dest.to_owned()])
        }
        (_, None) => {
            let mut stdout = std::io::stdout().lock();
            write_one(out, format, lang, &mut stdout).map_err(|e| with_path(e, Path::new("-")))?;
            Ok(Vec::new())
        }
    }
}

fn with_path(e: Error, path: &Path) -> Error {
    match e {
        Error::Io { source, .. } => Error::Io {
            path: path.to_owned(),
            source,
        },
        other => other,
    }
}

fn create(path: &Path) -> Result<std::io::BufWriter<std::fs::File>> {
    let f = std::fs::File::create(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(std::io::BufWriter::new(f))
}

fn finish(f: std::io::BufWriter<std::fs::File>, path: &Path) -> Result<()> {
    f.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })
}

/// `dest` for the main table, `<stem>.<table>.<ext>` beside it for the others.
fn table_path(dest: &Path, t: &Table, i: usize) -> PathBuf {
    if i == 0 {
        return dest.to_owned();
    }
    let stem = dest.file_stem().map(|s| s.to_string_lossy().into_owned());
    let ext = dest.extension().map(|s| s.to_string_lossy().into_owned());
    let name = match (stem, ext) {
        (Some(stem), Some(ext)) => format!("{stem}.{}.{ext}", t.name),
        (Some(stem), None) => format!("{stem}.{}", t.name),
        _ => t.name.to_owned(),
    };
    dest.with_file_name(name)
}

fn io_err(source: std::io::Error) -> Error {
    Error::Io {
        path: PathBuf::new(),
        source,
    }
}

fn write_one(out: &Output, format: Format, lang: Lang, w: &mut dyn Write) -> Result<()> {
    match format {
        Format::Table => write_text(out, lang, w).map_err(io_err),
        Format::Csv => {
            for (i, t) in out.tables.iter().enumerate() {
                if i > 0 {
                    writeln!(w).map_err(io_err)?;
                }
                write_csv(t, w)?;
            }
            Ok(())
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut *w, &JsonOutput(out))?;
            writeln!(w).map_err(io_err)
        }
        Format::Parquet => Err(Error::ParquetNeedsFile),
    }
}

fn write_csv(t: &Table, w: &mut dyn Write) -> Result<()> {
    let mut csv = csv::Writer::from_writer(w);
    csv.write_record(t.columns.iter().map(|c| c.name.as_str()))?;
    for row in &t.rows {
        csv.write_record(
            row.iter()
                .zip(&t.columns)
                .map(|(v, c)| text(v, c.kind, false, Lang::En).unwrap_or_default()),
        )?;
    }
    csv.flush().map_err(io_err)
}

fn write_text(out: &Output, lang: Lang, w: &mut dyn Write) -> std::io::Result<()> {
    let facts: Vec<String> = out.facts.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    writeln!(w, "{}", facts.join("  "))?;
    for t in out.display.as_ref().unwrap_or(&out.tables) {
        writeln!(w)?;
        writeln!(w, "{}", t.title)?;
        if t.rows.is_empty() {
            writeln!(w, "  {}", lang.pick("(无)", "(none)"))?;
            continue;
        }
        let header: Vec<&str> = t
            .columns
            .iter()
            .map(|c| match lang {
                Lang::Zh => c.zh.as_str(),
                Lang::En => c.name.as_str(),
            })
            .collect();
        let cells: Vec<Vec<String>> = t
            .rows
            .iter()
            .map(|r| {
                r.iter()
                    .zip(&t.columns)
                    .map(|(v, c)| text(v, c.kind, true, lang).unwrap_or_else(|| "-".into()))
                    .collect()
            })
            .collect();
        let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
        for row in &cells {
            for (wd, cell) in widths.iter_mut().zip(row) {
                *wd = (*wd).max(cell.width());
            }
        }
        let right: Vec<bool> = t
            .columns
            .iter()
            .map(|c| matches!(c.kind, Kind::Int | Kind::Float | Kind::Fraction))
            .collect();
        line(w, header.iter().copied(), &widths, &right)?;
        let rule: Vec<String> = widths.iter().map(|&n| "-".repeat(n)).collect();
        line(w, rule.iter().map(String::as_str), &widths, &[])?;
        for row in &cells {
            line(w, row.iter().map(String::as_str), &widths, &right)?;
        }
    }
    for note in &out.notes {
        writeln!(w)?;
        writeln!(w, "{note}")?;
    }
    Ok(())
}

/// One line of cells padded to their display width (CJK characters count 2).
fn line<'a>(
    w: &mut dyn Write,
    cells: impl Iterator<Item = &'a str>,
    widths: &[usize],
    right: &[bool],
) -> std::io::Result<()> {
    let mut s = String::new();
    for (i, (cell, &width)) in cells.zip(widths).enumerate() {
        if i > 0 {
            s.push_str("  ");
        }
        let pad = " ".repeat(width.saturating_sub(cell.width()));
        if right.get(i).copied().unwrap_or(false) {
            s.push_str(&pad);
            s.push_str(cell);
        } else {
            s.push_str(cell);
            s.push_str(&pad);
        }
    }
    writeln!(w, "{}", s.trim_end())
}

/// The JSON form: `{"report": .., <facts>.., <table name>: [{column: value}, ..], ..}`.
struct JsonOutput<'a>(&'a Output);
struct JsonRows<'a>(&'a Table);
struct JsonRow<'a>(&'a Table, &'a [Value]);

impl serde::Serialize for JsonOutput<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let out = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("report", out.report)?;
        for (k, v) in &out.facts {
            m.serialize_entry(k, v)?;
        }
        for t in &out.tables {
            m.serialize_entry(t.name, &JsonRows(t))?;
        }
        m.end()
    }
}

impl serde::Serialize for JsonRows<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.rows.len()))?;
        for row in &self.0.rows {
            seq.serialize_element(&JsonRow(self.0, row))?;
        }
        seq.end()
    }
}

impl serde::Serialize for JsonRow<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.1.len()))?;
        for (c, v) in self.0.columns.iter().zip(self.1) {
            match v {
                Value::Null => m.serialize_entry(&c.name, &())?,
                Value::Text(t) => m.serialize_entry(&c.name, t)?,
                Value::Int(i) => m.serialize_entry(&c.name, i)?,
                Value::Float(f) => m.serialize_entry(&c.name, f)?,
                Value::Bool(b) => m.serialize_entry(&c.name, b)?,
                Value::Date(d) => m.serialize_entry(&c.name, &d.format("%Y-%m-%d").to_string())?,
            }
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::table::{col, int};
    use arrow::datatypes::DataType;

    fn sample() -> Output {
        Output {
            report: "test",
            facts: vec![("from", "2026-11-01".into())],
            tables: vec![Table {
                name: "rooms",
                title: "房间".into(),
                columns: vec![
                    col("room_name", "房间", Kind::Text),
                    col("time_utilization", "时间利用率", Kind::Fraction),
                    col("days", "天数", Kind::Int),
                ],
                rows: vec![
                    vec!["多功能活动厅".into(), Some(0.125).into(), int(3u32)],
                    vec!["hall".into(), None.into(), int(12u32)],
                ],
            }],
            display: None,
            notes: vec![],
        }
    }

    fn render(format: Format, lang: Lang) -> String {
        let mut buf = Vec::new();
        write_one(&sample(), format, lang, &mut buf).expect("write");
        String::from_utf8(buf).expect("utf-8")
    }

    #[test]
    fn text_table_aligns_by_display_width() {
        let text = render(Format::Table, Lang::Zh);
        let lines: Vec<&str> = text.lines().skip(3).collect();
        // Header, rule, two rows: the percentage column ends at the same display column.
        let ends: Vec<usize> = lines
            .iter()
            .map(|l| {
                let cut = l.rfind("  ").expect("columns");
                l[..cut].trim_end().width()
            })
            .collect();
        assert!(ends.windows(2).all(|w| w[0] == w[1]), "{text}");
        assert!(text.contains("12.5%"), "{text}");
        assert!(lines[3].contains(" - "), "null shown as -: {text}");
    }

    #[test]
    fn csv_keeps_fractions_and_empties_nulls() {
        let text = render(Format::Csv, Lang::Zh);
        assert_eq!(
            text,
            "room_name,time_utilization,days\n多功能活动厅,0.125,3\nhall,,12\n"
        );
    }

    #[test]
    fn json_keeps_column_order_and_nulls() {
        let text = render(Format::Json, Lang::Zh);
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["report"], "test");
        assert_eq!(v["rooms"][0]["time_utilization"], 0.125);
        assert!(v["rooms"][1]["time_utilization"].is_null());
        let first = text.find("room_name").expect("name");
        let second = text.find("time_utilization").expect("tu");
        assert!(first < second, "column order kept");
    }

    #[test]
    fn batch_types_follow_kinds() {
        let b = to_batch(&sample().tables[0]).expect("batch");
        assert_eq!(b.schema().field(0).data_type(), &DataType::Utf8);
        assert_eq!(b.schema().field(1).data_type(), &DataType::Float64);
        assert_eq!(b.schema().field(2).data_type(), &DataType::Int64);
        assert_eq!(b.num_rows(), 2);
    }

    #[test]
    fn extra_tables_go_beside_the_main_file() {
        let t = &sample().tables[0];
        assert_eq!(
            table_path(Path::new("/x/out.csv"), t, 0),
            Path::new("/x/out.csv")
        );
        assert_eq!(
            table_path(Path::new("/x/out.csv"), t, 1),
            Path::new("/x/out.rooms.csv")
        );
    }
}
