//! The evaluator page's template: the filters, then the compared sites as a
//! ranking, a distribution and a table with a drill-down link per site, and
//! the sites left out; each table with its CSV link.

use super::query::EvaluatorQuery;
use crate::i18n::{Lang, t};
use crate::local_path::url_encode;
use crate::views::charts;
use crate::views::table::HtmlTable;
use analytics::report::{Output, Table, Value, compare};
use devices::{Category, Site};
use maud::{Markup, html};

/// The page's content: `sites` of the registry give the filters' choices,
/// `out` is the comparison (`None`: no data yet).
pub(super) fn body(lang: Lang, q: &EvaluatorQuery, sites: &[Site], out: Option<&Output>) -> Markup {
    html! {
        (filters(lang, q, sites))
        @match out {
            None => {
                section.card { p.muted #no-data { (t(lang, "no_data")) } }
            }
            Some(out) => {
                p.muted #facts {
                    @for (i, (k, v)) in out.facts.iter().enumerate() {
                        @if i > 0 { " · " }
                        (fact_label(lang, k)) (lang.pick("：", ": ")) (v)
                    }
                    " · "
                    a #monthly-link href={
                        "/evaluator/monthly?city=" (url_encode(q.city.as_deref().unwrap_or("")))
                        "&lang=" (lang.pick("zh", "en"))
                    } {
                        (t(lang, "monthly_link"))
                    }
                }
                @if let Some(compared) = out.tables.first() {
                    (overview(lang, compared, q.rank_by()))
                    section.card #sites {
                        h2 { (t(lang, "evaluator_title")) }
                        p.muted { (t(lang, "mix_note")) }
                        (compared_table(lang, compared))
                        (csv_link(lang, q, "sites"))
                    }
                }
                @if let Some(left) = out.tables.get(1) {
                    section.card #left-out {
                        h2 { (t(lang, "left_out")) }
                        (HtmlTable::new(left, lang))
                        (csv_link(lang, q, "left_out"))
                    }
                }
            }
        }
    }
}

/// A `<select>` of `items` (value, label) under `label`, "all" first.
fn select(
    lang: Lang,
    name: &str,
    label: &str,
    items: &[(String, String)],
    current: Option<&str>,
) -> Markup {
    html! {
        label {
            (label)
            select name=(name) {
                option value="" { (t(lang, "all")) }
                @for (value, text) in items {
                    option value=(value) selected[current == Some(value.as_str())] { (text) }
                }
            }
        }
    }
}

/// The distinct non-empty values of `field` among `sites`, sorted, as (value, label).
fn choices(sites: &[Site], field: impl Fn(&Site) -> &str) -> Vec<(String, String)> {
    let mut values: Vec<&str> = sites.iter().map(field).filter(|v| !v.is_empty()).collect();
    values.sort_unstable();
    values.dedup();
    values
        .into_iter()
        .map(|v| (v.to_owned(), v.to_owned()))
        .collect()
}

/// The form choosing a city, a district and a category.
fn filters(lang: Lang, q: &EvaluatorQuery, sites: &[Site]) -> Markup {
    let categories: Vec<(String, String)> = Category::ALL
        .iter()
        .map(|c| (c.as_str().to_owned(), lang.pick(c.zh(), c.en()).to_owned()))
        .collect();
    let (cities, districts) = (choices(sites, |s| &s.city), choices(sites, |s| &s.district));
    html! {
        section.card {
            form.filters method="get" action="/evaluator" {
                input type="hidden" name="lang" value=(lang.pick("zh", "en"));
                (select(lang, "city", t(lang, "city"), &cities, q.city.as_deref()))
                (select(lang, "district", t(lang, "district"), &districts, q.district.as_deref()))
                (select(lang, "category", t(lang, "category"), &categories, q.category.as_deref()))
                label {
                    (t(lang, "rank_by"))
                    select name="rank_by" {
                        @for r in compare::RankBy::ALL {
                            option value=(r.as_str()) selected[q.rank_by() == r] { (r.label(lang)) }
                        }
                    }
                }
                button type="submit" { (t(lang, "filter")) }
            }
        }
    }
}

/// The values of column `col` of the compared sites, labelled by site name.
fn bars(compared: &Table, col: &str) -> Vec<(String, f64)> {
    let (name, col) = (compared.index("site_name"), compared.index(col));
    compared
        .rows
        .iter()
        .filter_map(|r| {
            let label = match name.and_then(|i| r.get(i)) {
                Some(Value::Text(s)) => s.clone(),
                _ => String::new(),
            };
            match col.and_then(|i| r.get(i)) {
                Some(Value::Float(v)) => Some((label, *v)),
                _ => None,
            }
        })
        .collect()
}

/// The ranking by the chosen column and the distribution of time utilization.
pub(super) fn overview(lang: Lang, compared: &Table, by: compare::RankBy) -> Markup {
    let values: Vec<f64> = bars(compared, "time_utilization")
        .iter()
        .map(|(_, v)| *v)
        .collect();
    let percent = matches!(
        by,
        compare::RankBy::TimeUtilization | compare::RankBy::CapacityUtilization
    );
    let title = match lang {
        Lang::Zh => format!("按{}排名", by.label(lang)),
        Lang::En => format!("Ranking by {}", by.label(lang)),
    };
    html! {
        section.card #charts {
            div.charts {
                (charts::ranking(&title, &bars(compared, by.as_str()), percent))
                (charts::histogram(
                    t(lang, "distribution"),
                    &values,
                    lang.pick("时间利用率 (%)", "time use (%)")
                ))
            }
        }
    }
}

/// The words for a fact of the comparison (the report's keys are for machines).
pub(super) fn fact_label(lang: Lang, key: &str) -> &str {
    let (zh, en) = match key {
        "from" => ("起", "from"),
        "to" => ("至", "to"),
        "compared_nationally" => ("全国参与比较", "compared nationally"),
        "shown" => ("本页显示", "shown"),
        "left_out_for_coverage" => ("因覆盖率不足未比较", "left out for coverage"),
        "left_out_for_implausible_counts" => {
            ("因计数不可信未排名", "left out for implausible counts")
        }
        other => (other, other),
    };
    lang.pick(zh, en)
}

/// How a site counts visits (`door+increments`), in the page's language.
fn methods_text(lang: Lang, codes: &str) -> String {
    codes
        .split('+')
        .filter(|c| !c.is_empty())
        .map(|c| match c {
            "door" => lang.pick("门禁进入人次", "door entries"),
            "increments" => lang.pick("计数增量", "count increments"),
            "transitions" => lang.pick("空到有人次数", "empty-to-occupied"),
            other => other,
        })
        .collect::<Vec<_>>()
        .join(lang.pick("、", ", "))
}

/// A comma-joined list of category codes in the page's language.
fn categories_text(lang: Lang, codes: &str) -> String {
    let names: Vec<&str> = codes
        .split(',')
        .filter(|c| !c.is_empty())
        .map(|c| match c.parse::<Category>() {
            Ok(cat) => lang.pick(cat.zh(), cat.en()),
            Err(_) => c,
        })
        .collect();
    names.join(lang.pick("、", ", "))
}

/// The compared sites, each linking to the manager view of its site.
pub(super) fn compared_table(lang: Lang, compared: &Table) -> Markup {
    let id = compared.index("site_id");
    let code = lang.pick("zh", "en");
    // The site's name says which it is; its id stays in the CSV and the link.
    // The percentile repeats the national rank and the count of functions their
    // list: both stay in the CSV, off the page so the table fits a screen.
    const CSV_ONLY: [&str; 3] = ["site_id", "percentile", "functions_in_use"];
    let shown: Vec<&str> = compared
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .filter(|n| !CSV_ONLY.contains(n))
        .collect();
    let table = HtmlTable::new(compared, lang)
        .columns(&shown)
        .cells(move |r, c| {
            let row = compared.rows.get(r)?;
            match (
                c.name.as_str(),
                compared.index(&c.name).and_then(|i| row.get(i)),
            ) {
                ("functions", Some(Value::Text(s))) => Some(html! { (categories_text(lang, s)) }),
                ("visits_method", Some(Value::Text(s))) => Some(html! { (methods_text(lang, s)) }),
                _ => None,
            }
        })
        .links(|row| match id.and_then(|i| row.get(i)) {
            Some(Value::Text(s)) => Some(format!("/manager?site={}&lang={code}", url_encode(s))),
            _ => None,
        });
    html! { (table) }
}

/// The CSV download of table `name` (`/api/evaluator/<name>`) under the same filters.
fn csv_link(lang: Lang, q: &EvaluatorQuery, name: &str) -> Markup {
    let code = lang.pick("zh", "en");
    let href = format!(
        "/api/evaluator/{name}?{}&format=csv&lang={code}",
        q.filters()
    );
    html! {
        p.csv {
            a href=(href) download {
                (t(lang, "download_csv"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use analytics::report::{Column, Kind};

    #[test]
    fn facts_and_functions_read_in_the_page_language() {
        assert_eq!(fact_label(Lang::Zh, "compared_nationally"), "全国参与比较");
        assert_eq!(
            fact_label(Lang::En, "compared_nationally"),
            "compared nationally"
        );
        assert_eq!(
            categories_text(Lang::Zh, "culture,meal_aid"),
            "文化休闲、社区助餐"
        );
        assert_eq!(
            categories_text(Lang::En, "culture,meal_aid"),
            "Culture, Meal aid"
        );
    }

    #[test]
    fn sites_link_to_their_rooms_and_tables_to_their_csv() {
        let col = |name: &str, zh: &str, kind| Column {
            name: name.into(),
            zh: zh.into(),
            kind,
        };
        let compared = Table {
            name: "sites",
            title: "社区".into(),
            columns: vec![
                col("site_id", "社区编号", Kind::Text),
                col("site_name", "社区", Kind::Text),
                col("time_utilization", "时间利用率", Kind::Fraction),
            ],
            rows: vec![vec!["cd-b".into(), "武侯<区>".into(), Some(0.6).into()]],
        };
        let out = Output {
            report: "compare",
            facts: vec![("from", "2026-11-01".into()), ("to", "2026-11-28".into())],
            tables: vec![compared],
            display: None,
            notes: vec![],
        };
        let q = EvaluatorQuery {
            city: Some("成都市".into()),
            ..EvaluatorQuery::default()
        };
        let html =
            crate::views::table::plain_cells(&body(Lang::En, &q, &[], Some(&out)).into_string());
        assert!(
            html.contains(r#"<a href="/manager?site=cd-b&amp;lang=en">Details</a>"#),
            "{html}"
        );
        assert!(
            html.contains("<td>武侯&lt;区&gt;</td><td>60.0%</td>"),
            "{html}"
        );
        assert!(html.contains("from: 2026-11-01 · to: 2026-11-28"), "{html}");
        let csv = "/api/evaluator/sites?city=%E6%88%90%E9%83%BD%E5%B8%82&amp;district=\
                   &amp;category=&amp;rank_by=&amp;format=csv&amp;lang=en";
        assert!(html.contains(csv), "{html}");
        assert_eq!(html.matches("<svg").count(), 2, "ranking and distribution");
        assert!(!html.contains("left-out"), "no second table: {html}");
        let empty = body(Lang::Zh, &q, &[], None).into_string();
        assert!(empty.contains(r#"id="no-data""#), "{empty}");
    }
}
