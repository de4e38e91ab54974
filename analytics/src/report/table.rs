//! A report's data: tables of typed cells with their columns, and a cell as text.

use super::Lang;
use chrono::NaiveDate;

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text.
    Text,
    /// A whole number.
    Int,
    /// A number.
    Float,
    /// A fraction (0-1, capacity-based ones may exceed 1): a percentage in the text table.
    Fraction,
    /// Yes or no.
    Bool,
    /// A local date.
    Date,
}

/// A cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value (a ratio with a zero denominator, a flag without that number).
    Null,
    /// Text.
    Text(String),
    /// A whole number.
    Int(i64),
    /// A number.
    Float(f64),
    /// Yes or no.
    Bool(bool),
    /// A local date.
    Date(NaiveDate),
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}
impl From<Option<f64>> for Value {
    fn from(v: Option<f64>) -> Value {
        v.map_or(Value::Null, Value::Float)
    }
}
impl From<NaiveDate> for Value {
    fn from(d: NaiveDate) -> Value {
        Value::Date(d)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl Value {
    /// The cell as data, as CSV and Parquet write it: fractions as fractions,
    /// numbers in full, dates as `YYYY-MM-DD`; `None` for null.
    pub fn data_text(&self) -> Option<String> {
        text(self, Kind::Text, false, Lang::En)
    }

    /// The cell for people, as the text table and the web pages show it
    /// (`kind` is its column's): fractions as percentages with one decimal,
    /// other numbers with two, yes or no in `lang`; `None` for null.
    pub fn human_text(&self, kind: Kind, lang: Lang) -> Option<String> {
        text(self, kind, true, lang)
    }
}

/// Whole numbers of any unsigned or signed width.
pub(crate) fn int<T: TryInto<i64>>(v: T) -> Value {
    v.try_into().map_or(Value::Null, Value::Int)
}

/// A column: its name in CSV, JSON and Parquet, and its header in the Chinese table.
#[derive(Debug, Clone)]
pub struct Column {
    /// `snake_case` name (the METRICS.md name where there is one).
    pub name: String,
    /// Header of the Chinese text table.
    pub zh: String,
    /// What it holds.
    pub kind: Kind,
}

impl Column {
    /// A column named `name`, headed `zh` in Chinese, holding `kind`.
    pub fn new(name: &str, zh: &str, kind: Kind) -> Column {
        Column {
            name: name.to_owned(),
            zh: zh.to_owned(),
            kind,
        }
    }
}

/// A column, for the report modules.
pub(crate) fn col(name: &str, zh: &str, kind: Kind) -> Column {
    Column::new(name, zh, kind)
}

/// A table of a report.
#[derive(Debug, Clone)]
pub struct Table {
    /// Its name: the JSON key, and the suffix of its extra CSV or Parquet file.
    pub name: &'static str,
    /// The heading shown above it in the text table.
    pub title: String,
    /// The columns.
    pub columns: Vec<Column>,
    /// The rows, each with one value per column.
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    /// The index of column `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

/// A report: facts about it (window, room, ...), its data tables, and what the
/// text table shows (the data tables unless a report draws something else).
#[derive(Debug, Clone)]
pub struct Output {
    /// `underuse`, `slots` or `compare`.
    pub report: &'static str,
    /// Facts about the report, in order: `from`, `to`, ...
    pub facts: Vec<(&'static str, String)>,
    /// The data tables; the first is the main one.
    pub tables: Vec<Table>,
    /// What the text table shows instead of `tables`, when set.
    pub display: Option<Vec<Table>>,
    /// Lines printed under the text table (e.g. how many sites were left out).
    pub notes: Vec<String>,
}

/// A cell as text: `None` for null; fractions as fractions (CSV) or percentages (text table).
pub(super) fn text(v: &Value, kind: Kind, human: bool, lang: Lang) -> Option<String> {
    Some(match v {
        Value::Null => return None,
        Value::Text(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if human && kind == Kind::Fraction => format!("{:.1}%", f * 100.0),
        Value::Float(f) if human => format!("{f:.2}"),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) if human => lang
            .pick(if *b { "是" } else { "否" }, if *b { "yes" } else { "no" })
            .to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Date(d) => d.format("%Y-%m-%d").to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_keeps_values_and_people_get_percentages() {
        let f = Value::Float(0.125);
        assert_eq!(f.data_text().as_deref(), Some("0.125"));
        assert_eq!(
            f.human_text(Kind::Fraction, Lang::Zh).as_deref(),
            Some("12.5%")
        );
        let visits = Value::Float(30.456);
        assert_eq!(
            visits.human_text(Kind::Float, Lang::Zh).as_deref(),
            Some("30.46")
        );
        let yes = Value::Bool(true);
        assert_eq!(yes.data_text().as_deref(), Some("true"));
        assert_eq!(yes.human_text(Kind::Bool, Lang::Zh).as_deref(), Some("是"));
        assert_eq!(yes.human_text(Kind::Bool, Lang::En).as_deref(), Some("yes"));
        let day = Value::from(NaiveDate::from_ymd_opt(2026, 11, 3).expect("date"));
        assert_eq!(day.data_text().as_deref(), Some("2026-11-03"));
        assert_eq!(Value::Null.data_text(), None);
        assert_eq!(Value::Null.human_text(Kind::Fraction, Lang::En), None);
    }
}
