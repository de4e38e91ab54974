//! `compare`: sites side by side for evaluators, over a window of days.
//!
//! Per site, from `site_day` (highest revision of each site day), the site
//! metrics of METRICS.md over the window: the sums of the window's days are
//! summed, then divided (never an average of daily ratios). `functions_in_use`
//! counts the service categories whose slots reach time utilization >= 0.10
//! **over the window**: the `room_slot_day` rows of a category (all rooms, all
//! days of the window) are summed, then divided, as METRICS.md says; the daily
//! `site_day.functions_in_use` is neither averaged nor unioned. Sites whose
//! window coverage is below 0.8 are left out of the ranking and listed apart.

use super::read::{self, Interner};
use super::site_sums::{Site, meets_function_mix};
use super::site_sums::{read_drift, read_implausible, read_site_days, read_slots};
use super::table::{col, int};
use super::{
    Column, Kind, Lang, MIN_COVERAGE, Output, Result, Table, Value, Window, ratio, registry_site,
    window_of,
};
use chrono::NaiveDate;
use devices::{Category, Registry};
use std::path::Path;

/// Which sites to show. Ranks and percentiles are over every compared site
/// (nationally) or every compared site of the city, whatever the filters.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only sites of this city.
    pub city: Option<String>,
    /// Only sites of this district.
    pub district: Option<String>,
    /// Only sites that host this service category in the window (a slot row of
    /// it, or a schedule line of it in the registry).
    pub category: Option<Category>,
    /// The number sites are ranked by.
    pub rank_by: RankBy,
}

/// What sites are ranked by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RankBy {
    /// Time utilization (METRICS.md's headline; the default).
    #[default]
    TimeUtilization,
    /// Capacity utilization.
    CapacityUtilization,
    /// Visits per day (counted as each site's `visits_method` says).
    VisitsPerDay,
    /// Visits per 100 m² and day.
    VisitsPer100m2Day,
}

impl RankBy {
    /// Every choice.
    pub const ALL: [RankBy; 4] = [
        RankBy::TimeUtilization,
        RankBy::CapacityUtilization,
        RankBy::VisitsPerDay,
        RankBy::VisitsPer100m2Day,
    ];

    /// The column it ranks by.
    pub fn as_str(self) -> &'static str {
        match self {
            RankBy::TimeUtilization => "time_utilization",
            RankBy::CapacityUtilization => "capacity_utilization",
            RankBy::VisitsPerDay => "visits_per_day",
            RankBy::VisitsPer100m2Day => "visits_per_100m2_day",
        }
    }

    /// The choice named `s` (a column name).
    pub fn parse(s: &str) -> Option<RankBy> {
        RankBy::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Its name in the page's language.
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            RankBy::TimeUtilization => lang.pick("时间利用率", "time utilization"),
            RankBy::CapacityUtilization => lang.pick("容量利用率", "capacity utilization"),
            RankBy::VisitsPerDay => lang.pick("日均到访", "visits per day"),
            RankBy::VisitsPer100m2Day => {
                lang.pick("每百平方米日均到访", "visits per 100 m² and day")
            }
        }
    }

    fn of(self, s: &Site) -> f64 {
        match self {
            RankBy::TimeUtilization => s.time_utilization(),
            RankBy::CapacityUtilization => ratio(s.capacity_person_seconds, s.capacity_seconds),
            RankBy::VisitsPerDay => s.visits_per_day(),
            RankBy::VisitsPer100m2Day => s.visits_per_100m2_day(),
        }
        .unwrap_or(0.0)
    }
}

/// Sites compared over the window (docs/REPORTS.md, `compare`).
pub fn run(
    root: &Path,
    registry: Option<&Registry>,
    window: &Window,
    filter: &Filter,
    lang: Lang,
) -> Result<Output> {
    let (from, to) = window_of(window, root, &["site_day"])?;
    let mut ids = Interner::default();
    let mut sites: Vec<Site> = Vec::new();
    let versions = read_site_days(root, from, to, &mut ids, &mut sites)?;
    read_slots(root, from, to, &mut ids, &mut sites)?;
    read_implausible(root, from, to, &mut ids, &mut sites)?;
    read_drift(root, from, to, &mut ids, &mut sites)?;
    if let Some(registry) = registry {
        for (n, s) in registry.sites.iter().enumerate() {
            // Sites and rooms a later registry version removed are not registered now.
            if !registry.site_is_current(devices::SiteIdx(n as u32)) {
                continue;
            }
            let i = ids.get(&s.id);
            if i == sites.len() {
                sites.push(Site {
                    id: s.id.clone(),
                    ..Site::default()
                });
            }
            let site = &mut sites[i];
            for room in s
                .rooms
                .iter()
                .filter(|r| registry.room(**r).gone_from_ms.is_none())
            {
                for o in &registry.room(*room).schedule.openings {
                    site.hosts |= 1 << (o.category as u16);
                }
            }
        }
    }
    for s in &mut sites {
        if let Some(meta) = registry_site(registry, &s.id) {
            for (mine, theirs) in [
                (&mut s.name, meta.name),
                (&mut s.city, meta.city),
                (&mut s.district, meta.district),
            ] {
                if mine.is_empty() {
                    theirs.clone_into(mine);
                }
            }
        }
    }
    // A site known only from slot rows has no site day in the window: nothing to compare.
    sites.retain(|s| {
        s.days > 0
            || registry.is_some_and(|r| {
                r.sites
                    .iter()
                    .enumerate()
                    .any(|(n, x)| x.id == s.id && r.site_is_current(devices::SiteIdx(n as u32)))
            })
    });
    // One category: the sites hosting it, on the numbers of its slots alone,
    // ranked among themselves.
    if let Some(c) = filter.category {
        sites = sites
            .iter()
            .filter(|s| s.hosts & (1 << (c as u16)) != 0)
            .map(|s| s.only(c))
            .collect();
    }
    let mut out = build(sites, filter, from, to, lang);
    out.notes.extend(read::versions_note(&versions, lang));
    Ok(out)
}

/// A compared site's ranks: national, within its city, and the national percentile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rank {
    pub national: usize,
    pub city: usize,
    pub percentile: Option<f64>,
}

/// Ranks of `sites` (index-aligned), `None` for those left out for coverage.
///
/// Rank 1 has the highest value of `by` (time utilization by default); equal
/// values go by site id. The percentile is the share of the other compared
/// sites with a strictly lower value, x 100 (100: above all others; ties share
/// it); none when a single site is compared.
pub(crate) fn ranks(sites: &[Site], by: RankBy) -> Vec<Option<Rank>> {
    let tu = |s: &Site| by.of(s);
    let mut order: Vec<usize> = (0..sites.len()).filter(|&i| compared(&sites[i])).collect();
    order.sort_by(|&a, &b| {
        tu(&sites[b])
            .total_cmp(&tu(&sites[a]))
            .then_with(|| sites[a].id.cmp(&sites[b].id))
    });
    let mut ascending: Vec<f64> = order.iter().map(|&i| tu(&sites[i])).collect();
    ascending.sort_by(f64::total_cmp);
    let n = order.len();
    let mut out = vec![None; sites.len()];
    let mut per_city: std::collections::HashMap<&str, usize> = Default::default();
    for (k, &i) in order.iter().enumerate() {
        let city = per_city.entry(sites[i].city.as_str()).or_default();
        *city += 1;
        let below = ascending.partition_point(|&x| x < tu(&sites[i]));
        out[i] = Some(Rank {
            national: k + 1,
            city: *city,
            percentile: (n > 1).then(|| 100.0 * below as f64 / (n - 1) as f64),
        });
    }
    out
}

/// Coverage over the window reaches 0.8 (METRICS.md: sites are compared only
/// then), and no door count of the window was implausible: a site whose
/// numbers rest on counts that cannot be true is listed, not ranked.
fn compared(s: &Site) -> bool {
    s.coverage().is_some_and(|c| c >= MIN_COVERAGE) && s.implausible == 0
}

fn build(sites: Vec<Site>, filter: &Filter, from: NaiveDate, to: NaiveDate, lang: Lang) -> Output {
    let ranks = ranks(&sites, filter.rank_by);
    let total = ranks.iter().flatten().count();
    let shown = |s: &Site| {
        filter.city.as_ref().is_none_or(|c| &s.city == c)
            && filter.district.as_ref().is_none_or(|d| &s.district == d)
            && filter
                .category
                .is_none_or(|c| s.hosts & (1 << (c as u16)) != 0)
    };
    let mut ranked: Vec<(Rank, &Site)> = sites
        .iter()
        .zip(&ranks)
        .filter_map(|(s, r)| r.map(|r| (r, s)))
        .filter(|(_, s)| shown(s))
        .collect();
    ranked.sort_by_key(|(r, _)| r.national);
    let rows = ranked
        .iter()
        .map(|(r, s)| {
            let functions = s.functions();
            let names: Vec<&str> = functions.iter().map(|c| c.as_str()).collect();
            vec![
                int(r.national as u64),
                int(r.city as u64),
                r.percentile.into(),
                s.id.as_str().into(),
                s.name.as_str().into(),
                s.city.as_str().into(),
                s.district.as_str().into(),
                int(s.days),
                s.coverage().into(),
                s.time_utilization().into(),
                ratio(s.capacity_person_seconds, s.capacity_seconds).into(),
                s.visits_per_day().into(),
                s.visits_per_100m2_day().into(),
                s.visits_method().into(),
                int(s.drift_rooms.len() as u64),
                s.share_rooms_underused().into(),
                int(functions.len() as u64),
                names.join(",").into(),
                meets_function_mix(&functions).into(),
            ]
        })
        .collect();
    let mut left: Vec<&Site> = sites
        .iter()
        .zip(&ranks)
        .filter(|(s, r)| r.is_none() && shown(s))
        .map(|(s, _)| s)
        .collect();
    left.sort_by(|a, b| a.id.cmp(&b.id));
    let left_rows: Vec<Vec<Value>> = left
        .iter()
        .map(|s| {
            let (code, zh, en) = match (s.days, s.coverage()) {
                (0, _) => (
                    "no_data",
                    "窗口内没有数据".to_owned(),
                    "no data in the window".to_owned(),
                ),
                (_, None) => (
                    "no_open_time",
                    "窗口内没有开放时间".to_owned(),
                    "no opening time in the window".to_owned(),
                ),
                (_, Some(c)) if c < MIN_COVERAGE => (
                    "low_coverage",
                    format!("覆盖率 {:.1}% 低于 80%", c * 100.0),
                    format!("coverage {:.1}% below 80%", c * 100.0),
                ),
                (_, Some(_)) => (
                    "implausible_counts",
                    format!(
                        "窗口内有 {} 条门禁计数超出入口通行能力（不可信），不参与排名",
                        s.implausible
                    ),
                    format!(
                        "{} door counts in the window claimed more than an entrance can pass: not ranked on them",
                        s.implausible
                    ),
                ),
            };
            vec![
                s.id.as_str().into(),
                s.name.as_str().into(),
                s.city.as_str().into(),
                s.district.as_str().into(),
                int(s.days),
                int(s.open),
                int(s.measured),
                s.coverage().into(),
                code.into(),
                lang.pick(&zh, &en).into(),
            ]
        })
        .collect();
    let implausible = left
        .iter()
        .filter(|s| s.coverage().is_some_and(|c| c >= MIN_COVERAGE))
        .count();
    let left_out = left_rows.len() - implausible;
    Output {
        report: "compare",
        facts: vec![
            ("from", from.to_string()),
            ("to", to.to_string()),
            ("compared_nationally", total.to_string()),
            ("shown", ranked.len().to_string()),
            ("left_out_for_coverage", left_out.to_string()),
            ("left_out_for_implausible_counts", implausible.to_string()),
        ],
        tables: vec![
            Table {
                name: "sites",
                title: match (lang, filter.category) {
                    (Lang::Zh, None) => format!("社区比较（按{}排名，并列按社区编号）", filter.rank_by.label(lang)),
                    (Lang::En, None) => format!(
                        "Sites compared (ranked by {}, ties by site id)",
                        filter.rank_by.label(lang)
                    ),
                    (Lang::Zh, Some(c)) => format!(
                        "{}：开设该服务的社区比较（只计{}时段，按{}排名，并列按社区编号）",
                        c.zh(),
                        c.zh(),
                        filter.rank_by.label(lang)
                    ),
                    (Lang::En, Some(c)) => format!(
                        "{}: the sites hosting it compared ({} slots only, ranked by {}, ties by site id)",
                        c.en(),
                        c.en().to_lowercase(),
                        filter.rank_by.label(lang)
                    ),
                },
                columns: site_columns(),
                rows,
            },
            Table {
                name: "left_out",
                title: lang
                    .pick(
                        "未参与比较的社区（覆盖率不足 80%，或计数不可信）",
                        "Sites left out (coverage below 80%, or counts that cannot be true)",
                    )
                    .to_owned(),
                columns: left_columns(),
                rows: left_rows,
            },
        ],
        display: None,
        notes: methods_note(&ranked, lang)
            .into_iter()
            .chain(filter.category.map(|c| category_note(c, lang)))
            .chain([match lang {
            Lang::Zh => format!(
                "{left_out} 个社区因覆盖率低于 80%（或窗口内没有开放时间、没有数据）未参与比较；{implausible} 个社区因有不可信的门禁计数（一条消息的进出人数超过入口的通过能力）未参与排名。"
            ),
            Lang::En => format!(
                "{left_out} sites left out for coverage below 80% (or no opening time, or no data, in the window); {implausible} left out for implausible door counts (docs/METRICS.md)."
            ),
        }])
        .collect(),
    }
}

/// What a comparison of one category counts.
fn category_note(c: Category, lang: Lang) -> String {
    match lang {
        Lang::Zh => format!(
            "只计{}：覆盖率、时间利用率、容量利用率和日均到访都只取各社区{}时段的数据，排名只在开设该服务的社区之间；低效房间占比和在用功能仍是全社区的。",
            c.zh(),
            c.zh()
        ),
        Lang::En => format!(
            "{} only: coverage, time and capacity utilization and visits per day are those of each site's {} slots (room_slot_day), ranked among the sites hosting it; the share of underused rooms and the functions in use are the whole site's.",
            c.en(),
            c.en().to_lowercase()
        ),
    }
}

/// A note when the shown sites count visits in different ways: their visits
/// are then not comparable, whatever the ranking.
fn methods_note(ranked: &[(Rank, &Site)], lang: Lang) -> Option<String> {
    let mut methods: Vec<String> = ranked.iter().map(|(_, s)| s.visits_method()).collect();
    methods.sort();
    methods.dedup();
    methods.retain(|m| !m.is_empty());
    (methods.len() > 1).then(|| {
        lang.pick(
            "这些社区的到访计数方式不同（门禁进入人次、计数增量、空到有人的次数，见“到访计数方式”一列）：到访数只宜在同一方式的社区之间比较。",
            "These sites count visits in different ways (door entries, count increments, empty-to-occupied changes; see the visits method column): compare visits only between sites that count them the same way.",
        )
        .to_owned()
    })
}

fn site_columns() -> Vec<Column> {
    vec![
        col("national_rank", "全国排名", Kind::Int),
        col("city_rank", "城市排名", Kind::Int),
        col("percentile", "全国百分位", Kind::Float),
        col("site_id", "社区编号", Kind::Text),
        col("site_name", "社区", Kind::Text),
        col("city", "城市", Kind::Text),
        col("district", "区", Kind::Text),
        col("days", "天数", Kind::Int),
        col("coverage", "覆盖率", Kind::Fraction),
        col("time_utilization", "时间利用率", Kind::Fraction),
        col("capacity_utilization", "容量利用率", Kind::Fraction),
        col("visits_per_day", "日均到访", Kind::Float),
        col("visits_per_100m2_day", "每百平方米日均到访", Kind::Float),
        col("visits_method", "到访计数方式", Kind::Text),
        col("door_drift_rooms", "门计数偏差房间", Kind::Int),
        col("share_rooms_underused", "低效房间占比", Kind::Fraction),
        col("functions_in_use", "在用功能数", Kind::Int),
        col("functions", "在用功能", Kind::Text),
        col("meets_function_mix", "功能配置达标", Kind::Bool),
    ]
}

fn left_columns() -> Vec<Column> {
    vec![
        col("site_id", "社区编号", Kind::Text),
        col("site_name", "社区", Kind::Text),
        col("city", "城市", Kind::Text),
        col("district", "区", Kind::Text),
        col("days", "天数", Kind::Int),
        col("open_seconds", "开放秒数", Kind::Int),
        col("measured_seconds", "测得秒数", Kind::Int),
        col("coverage", "覆盖率", Kind::Fraction),
        col("reason_code", "原因代码", Kind::Text),
        col("reason", "原因", Kind::Text),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(id: &str, city: &str, open: u64, measured: u64, occupied: u64) -> Site {
        Site {
            id: id.into(),
            city: city.into(),
            days: 1,
            open,
            measured,
            occupied,
            ..Site::default()
        }
    }

    #[test]
    fn ranks_by_utilization_then_id_and_skip_low_coverage() {
        let sites = vec![
            site("b", "x", 100, 100, 40),
            site("a", "y", 100, 100, 40),
            site("c", "x", 100, 100, 90),
            site("d", "x", 100, 79, 79),
            site("e", "y", 100, 80, 8),
        ];
        let r = ranks(&sites, RankBy::default());
        let national: Vec<Option<usize>> = r.iter().map(|r| r.map(|r| r.national)).collect();
        assert_eq!(national, [Some(3), Some(2), Some(1), None, Some(4)]);
        let city: Vec<Option<usize>> = r.iter().map(|r| r.map(|r| r.city)).collect();
        assert_eq!(city, [Some(2), Some(1), Some(1), None, Some(2)]);
        // 4 compared: c is above 3 others; a and b tie above e only; e above none.
        let pct: Vec<Option<f64>> = r.iter().map(|r| r.and_then(|r| r.percentile)).collect();
        assert_eq!(
            pct,
            [
                Some(100.0 / 3.0),
                Some(100.0 / 3.0),
                Some(100.0),
                None,
                Some(0.0)
            ]
        );
    }

    #[test]
    fn ranked_by_a_chosen_column_with_a_note_when_visits_are_counted_differently() {
        let mut a = site("a", "x", 100, 100, 90);
        (a.visits, a.methods) = (10, 0b001);
        let mut b = site("b", "x", 100, 100, 10);
        (b.visits, b.methods) = (50, 0b010);
        let by = RankBy::parse("visits_per_day").expect("a choice");
        let r = ranks(&[a.clone(), b.clone()], by);
        let national: Vec<Option<usize>> = r.iter().map(|r| r.map(|r| r.national)).collect();
        assert_eq!(national, [Some(2), Some(1)]);
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
        let filter = Filter {
            rank_by: by,
            ..Filter::default()
        };
        let out = build(vec![a.clone(), b], &filter, day, day, Lang::En);
        assert_eq!(out.tables[0].rows[0][3], Value::from("b"));
        assert!(
            out.tables[0].title.contains("visits per day"),
            "{}",
            out.tables[0].title
        );
        assert!(out.notes[0].contains("different ways"), "{:?}", out.notes);
        let method = out.tables[0]
            .columns
            .iter()
            .position(|c| c.name == "visits_method");
        assert_eq!(
            out.tables[0].rows[1][method.expect("column")],
            Value::from("door")
        );
        // One way of counting: no note.
        let out = build(vec![a], &filter, day, day, Lang::En);
        assert!(!out.notes[0].contains("different ways"), "{:?}", out.notes);
    }

    #[test]
    fn one_compared_site_has_no_percentile() {
        let r = ranks(&[site("a", "x", 10, 10, 5)], RankBy::default());
        assert_eq!(r[0].map(|r| (r.national, r.percentile)), Some((1, None)));
    }

    #[test]
    fn functions_in_use_sum_slots_over_the_window() {
        let mut s = Site::default();
        // Elderly care: 0.28 on one day, 0 on two more: 3000 / 32400 = 0.093 over the window.
        s.slots[Category::ElderlyCare as usize] = (3000, 32_400);
        s.slots[Category::InfantCare as usize] = (10_800, 32_400);
        s.slots[Category::MealAid as usize] = (1440 * 3, 7200 * 3);
        s.slots[Category::Culture as usize] = (0, 0);
        assert_eq!(s.functions(), [Category::InfantCare, Category::MealAid]);
        assert!(!meets_function_mix(&s.functions()));
        assert!(meets_function_mix(&[
            Category::ChildCare,
            Category::Culture,
            Category::ElderlyCare
        ]));
        assert!(!meets_function_mix(&[
            Category::ChildCare,
            Category::Culture,
            Category::Fitness
        ]));
    }

    #[test]
    fn share_rooms_underused_is_the_latest_days() {
        let mut s = Site::default();
        assert_eq!(s.share_rooms_underused(), None);
        s.latest = Some((NaiveDate::MIN, 2, 1));
        assert_eq!(s.share_rooms_underused(), Some(0.5));
    }
}
