//! Report tables as HTML: the one renderer of every table on the pages.
//!
//! A page shows an `analytics::report::Table`, the same one its CSV download
//! writes, and each cell reads as in the text table of `doorstep report`
//! ([`Value::human_text`]: fractions as percentages, yes or no in the page's
//! language), so the page, the terminal and the file show the same values.

use crate::i18n::{Lang, t};
use analytics::report::{Column, Table, Value};
use maud::{Markup, Render, html};

/// What a cell without a value shows.
const UNKNOWN: &str = "—";

/// A header instead of the column's own, where it gives one.
type Header<'a> = Box<dyn Fn(&Column) -> Option<&'static str> + 'a>;
/// Markup instead of a cell's text (row index, column), where it gives some.
type Cell<'a> = Box<dyn Fn(usize, &Column) -> Option<Markup> + 'a>;
/// The address a row's "details" link leads to, where it has one.
type Link<'a> = Box<dyn Fn(&[Value]) -> Option<String> + 'a>;

/// A report table on a page: all its columns under their Chinese headers (the
/// column names in English) unless told otherwise. A row carries its
/// `site_id` and `room_id` as `data-site` and `data-room` when the table has
/// those columns.
pub(crate) struct HtmlTable<'a> {
    table: &'a Table,
    lang: Lang,
    /// The columns shown, with their index in a row.
    shown: Vec<(usize, &'a Column)>,
    header: Option<Header<'a>>,
    cell: Option<Cell<'a>>,
    link: Option<Link<'a>>,
}

impl<'a> HtmlTable<'a> {
    /// Every column of `table`, cells as text in `lang`.
    pub(crate) fn new(table: &'a Table, lang: Lang) -> Self {
        HtmlTable {
            table,
            lang,
            shown: table.columns.iter().enumerate().collect(),
            header: None,
            cell: None,
            link: None,
        }
    }

    /// Only the columns named, in that order (one the table lacks is left out).
    pub(crate) fn columns(mut self, names: &[&str]) -> Self {
        let table = self.table;
        self.shown = names
            .iter()
            .filter_map(|n| table.columns.iter().enumerate().find(|(_, c)| c.name == *n))
            .collect();
        self
    }

    /// Headers from `header` where it gives one.
    pub(crate) fn headers(mut self, header: impl Fn(&Column) -> Option<&'static str> + 'a) -> Self {
        self.header = Some(Box::new(header));
        self
    }

    /// Markup from `cell` (row index, column) where it gives some, instead of the text.
    pub(crate) fn cells(mut self, cell: impl Fn(usize, &Column) -> Option<Markup> + 'a) -> Self {
        self.cell = Some(Box::new(cell));
        self
    }

    /// A last column with a "details" link in each row that `link` gives an address.
    pub(crate) fn links(mut self, link: impl Fn(&[Value]) -> Option<String> + 'a) -> Self {
        self.link = Some(Box::new(link));
        self
    }

    fn head_text(&self, c: &'a Column) -> std::borrow::Cow<'a, str> {
        match self.header.as_ref().and_then(|h| h(c)) {
            Some(h) => h.into(),
            None => match (self.lang, unit(&c.name)) {
                (Lang::Zh, None) => c.zh.as_str().into(),
                (Lang::Zh, Some((zh, _))) => format!("{}（{zh}）", c.zh).into(),
                (Lang::En, None) => english_header(&c.name).into(),
                (Lang::En, Some((_, en))) => format!("{} ({en})", english_header(&c.name)).into(),
            },
        }
    }

    fn cell_markup(&self, r: usize, i: usize, c: &Column, row: &[Value]) -> Markup {
        if let Some(m) = self.cell.as_ref().and_then(|f| f(r, c)) {
            return m;
        }
        let text = row.get(i).and_then(|v| v.human_text(c.kind, self.lang));
        html! { (text.as_deref().unwrap_or(UNKNOWN)) }
    }
}

/// The unit of a column of plain numbers, in Chinese and English, for its
/// header (fractions show as percentages and need none; ranks and
/// percentiles have none).
fn unit(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "capacity" => ("人", "people"),
        "visits_per_day" => ("人次/天", "visits/day"),
        "visits_per_100m2_day" => ("人次/百平方米·天", "visits/100 m²·day"),
        "hours" => ("小时", "h"),
        "battery" => ("%", "%"),
        "signal" => ("dBm", "dBm"),
        "report_interval" => ("秒", "s"),
        "messages_today" | "rejected_today" => ("条", "messages"),
        "free_hours_per_week" => ("小时/周", "h/week"),
        "days_per_week" => ("天/周", "days/week"),
        n if n.ends_with("_hours") => ("小时/周", "h/week"),
        "start_hour" | "end_hour" => ("时", "o'clock"),
        "functions_in_use" => ("项", "services"),
        "door_drift_rooms" => ("间", "rooms"),
        "area_m2" => ("平方米", "m²"),
        n if n.ends_with("_days") => ("天", "days"),
        n if n.ends_with("_seconds") => ("秒", "s"),
        _ => return None,
    })
}

/// A column's name as an English header: words, not a key
/// (`visits_per_100m2` reads "Visits per 100 m²", `time_utilization_28d` "Time utilization 28 d").
fn english_header(name: &str) -> String {
    let words: Vec<String> = name
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| match w {
            "100m2" => "100 m²".to_owned(),
            "m2" => "m²".to_owned(),
            "id" => "ID".to_owned(),
            w if w.len() > 1
                && w.ends_with('d')
                && w[..w.len() - 1].bytes().all(|b| b.is_ascii_digit()) =>
            {
                format!("{} d", &w[..w.len() - 1])
            }
            w => w.to_owned(),
        })
        .collect();
    let text = words.join(" ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

/// The text of column `i` of `row`, when it is text.
fn text_at(row: &[Value], i: Option<usize>) -> Option<&str> {
    match i.and_then(|i| row.get(i)) {
        Some(Value::Text(s)) => Some(s),
        _ => None,
    }
}

impl Render for HtmlTable<'_> {
    fn render(&self) -> Markup {
        let (site, room) = (self.table.index("site_id"), self.table.index("room_id"));
        html! {
            div.scroll {
                table {
                    thead {
                        tr {
                            @for &(_, c) in &self.shown {
                                th {
                                    (self.head_text(c))
                                    @if let Some(id) = super::help::anchor(&c.name) {
                                        " "
                                        a.help href={ "/help/metrics?lang=" (self.lang.pick("zh", "en")) "#" (id) }
                                            title=(t(self.lang, "what_it_means")) { "?" }
                                    }
                                }
                            }
                            @if self.link.is_some() {
                                th {}
                            }
                        }
                    }
                    tbody {
                        @for (r, row) in self.table.rows.iter().enumerate() {
                            tr data-site=[text_at(row, site)] data-room=[text_at(row, room)] {
                                @for &(i, c) in &self.shown {
                                    // The column's name goes with each cell: a phone shows
                                    // the rows as cards of "name: value" lines.
                                    td data-label=(self.head_text(c)) { (self.cell_markup(r, i, c, row)) }
                                }
                                @if let Some(link) = &self.link {
                                    td.link {
                                        @if let Some(href) = link(row) {
                                            a href=(href) { (t(self.lang, "details")) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `html` without the cells' `data-label`s and link classes, as a test reads it.
#[cfg(test)]
pub(crate) fn plain_cells(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find(" data-label=\"") {
        out.push_str(&rest[..at]);
        let after = &rest[at + " data-label=\"".len()..];
        rest = after.find('"').map_or("", |end| &after[end + 1..]);
    }
    out.push_str(rest);
    out.replace("<td class=\"link\">", "<td>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_headers_are_words() {
        assert_eq!(english_header("visits_per_100m2"), "Visits per 100 m²");
        assert_eq!(
            english_header("time_utilization_28d"),
            "Time utilization 28 d"
        );
        assert_eq!(english_header("site_id"), "Site ID");
        assert_eq!(english_header("coverage"), "Coverage");
    }
    use analytics::report::Kind;

    fn sample() -> Table {
        let col = |name: &str, zh: &str, kind| Column {
            name: name.into(),
            zh: zh.into(),
            kind,
        };
        Table {
            name: "sites",
            title: "社区".into(),
            columns: vec![
                col("site_id", "社区编号", Kind::Text),
                col("site_name", "社区", Kind::Text),
                col("time_utilization", "时间利用率", Kind::Fraction),
                col("visits_per_day", "日均到访", Kind::Float),
                col("meets_function_mix", "功能配置达标", Kind::Bool),
            ],
            rows: vec![
                vec![
                    "s1".into(),
                    "<b>长者&食堂</b>".into(),
                    Some(0.125).into(),
                    Some(30.0).into(),
                    true.into(),
                ],
                vec![
                    "s2".into(),
                    "\"引号\"".into(),
                    None.into(),
                    None.into(),
                    false.into(),
                ],
            ],
        }
    }

    #[test]
    fn cells_read_as_in_the_text_table_and_are_escaped_once() {
        let html = HtmlTable::new(&sample(), Lang::Zh).render().into_string();
        // Each cell names its column, for the phone's cards.
        assert!(
            html.contains(r#"<td data-label="时间利用率">12.5%</td>"#),
            "{html}"
        );
        let html = plain_cells(&html);
        assert!(
            html.contains(r#"<th>时间利用率 <a class="help" href="/help/metrics?lang=zh#room-metrics" title="这个数是怎么算的">?</a></th>"#),
            "{html}"
        );
        assert!(
            html.contains("<td>&lt;b&gt;长者&amp;食堂&lt;/b&gt;</td>"),
            "{html}"
        );
        assert!(html.contains("<td>&quot;引号&quot;</td>"), "{html}");
        assert!(
            html.contains("<td>12.5%</td><td>30.00</td><td>是</td>"),
            "{html}"
        );
        assert!(html.contains("<td>—</td><td>—</td><td>否</td>"), "{html}");
        assert!(html.contains(r#"<tr data-site="s1">"#), "{html}");
        assert!(!html.contains("&amp;amp;"), "{html}");
    }

    #[test]
    fn columns_headers_cells_and_links_as_told() {
        let table = sample();
        let html = HtmlTable::new(&table, Lang::En)
            .columns(&["site_name", "time_utilization", "no_such_column"])
            .headers(|c| (c.name == "site_name").then_some("Site"))
            .cells(|r, c| (r == 1 && c.name == "site_name").then(|| html! { b { "x" } }))
            .links(|row| match row.first() {
                Some(Value::Text(id)) if id == "s1" => Some(format!("/manager?site={id}&lang=en")),
                _ => None,
            })
            .render()
            .into_string();
        let html = plain_cells(&html);
        assert!(
            html.contains(r#"<tr><th>Site</th><th>Time utilization <a class="help" href="/help/metrics?lang=en#room-metrics" title="What this number means">?</a></th><th></th></tr>"#),
            "{html}"
        );
        assert!(html.contains("<td><b>x</b></td>"), "{html}");
        assert!(
            html.contains(r#"<a href="/manager?site=s1&amp;lang=en">Details</a>"#),
            "{html}"
        );
        assert!(html.contains("<td>—</td><td></td></tr>"), "no link: {html}");
        assert!(!html.contains("visits"), "{html}");
    }
}
