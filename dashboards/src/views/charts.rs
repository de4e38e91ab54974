//! Small server-side SVG charts: a ranking (horizontal bars), a histogram
//! and a sparkline, drawn inline in the page. Text is SVG `<text>` with a CJK
//! font list, so no font file is needed.

use maud::{Markup, html};

const FONT: &str = "PingFang SC, Microsoft YaHei, Noto Sans CJK SC, sans-serif";
const BAR: &str = "#1f5fbf";
const SVG: &str = "http://www.w3.org/2000/svg";

/// Horizontal bars of fractions (0-1), labelled, in the order given.
pub(crate) fn ranking(title: &str, bars: &[(String, f64)], percent: bool) -> Markup {
    // Room for the longest name (CJK characters are about the font size wide),
    // at most MAX_LABEL_PX: longer names are cut with "…", whole in their tooltip.
    let widest = bars.iter().map(|(l, _)| label_px(l)).max().unwrap_or(0);
    let left = widest.clamp(60, MAX_LABEL_PX) + 10;
    let (row, width) = (22, left + 390);
    let height = 36 + row * bars.len().max(1) as i32 + 8;
    let span = f64::from(width - left - 60);
    // Fractions on a 0-100 % scale; other numbers against the largest.
    let top = if percent {
        1.0
    } else {
        bars.iter()
            .map(|(_, v)| *v)
            .fold(0.0, f64::max)
            .max(f64::MIN_POSITIVE)
    };
    html! {
        svg xmlns=(SVG) role="img" viewBox={ "0 0 " (width) " " (height) }
            width=(width) height=(height) font-family=(FONT) font-size="12" {
            title { (title) }
            text x="4" y="16" font-size="14" font-weight="600" { (title) }
            @for (i, (label, v)) in bars.iter().enumerate() {
                @let y = 30 + row * i as i32;
                @let w = ((v / top).clamp(0.0, 1.0) * span).round();
                text x=(left - 6) y=(y + 13) text-anchor="end" {
                    title { (label) }
                    (fit_label(label))
                }
                rect x=(left) y=(y) width=(w) height=(row - 6) fill=(BAR) {}
                text x=(f64::from(left) + w + 4.0) y=(y + 13) {
                    @if percent { (format!("{:.1}%", v * 100.0)) } @else { (format!("{v:.1}")) }
                }
            }
        }
    }
}

/// The widest a ranking's label may be, in pixels at font size 12.
const MAX_LABEL_PX: i32 = 300;

/// About how wide `text` is at font size 12: CJK and other wide characters
/// 12 px, the rest 7 px.
fn label_px(text: &str) -> i32 {
    text.chars()
        .map(|c| if c.is_ascii() { 7 } else { 12 })
        .sum()
}

/// `text`, cut with "…" to fit in [`MAX_LABEL_PX`].
fn fit_label(text: &str) -> String {
    if label_px(text) <= MAX_LABEL_PX {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut px = 12; // the ellipsis
    for c in text.chars() {
        px += if c.is_ascii() { 7 } else { 12 };
        if px > MAX_LABEL_PX {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// A histogram of fractions (0-1) in ten bins of 10 %.
pub(crate) fn histogram(title: &str, values: &[f64], axis: &str) -> Markup {
    let mut bins = [0usize; 10];
    for v in values {
        bins[((v.clamp(0.0, 1.0) * 10.0) as usize).min(9)] += 1;
    }
    let max = bins.iter().copied().max().unwrap_or(0).max(1);
    let (left, top, w, h) = (30, 30, 40, 140);
    let width = left + 10 * w + 20;
    let height = top + h + 40;
    html! {
        svg xmlns=(SVG) role="img" viewBox={ "0 0 " (width) " " (height) }
            width=(width) height=(height) font-family=(FONT) font-size="11" {
            title { (title) }
            text x="4" y="16" font-size="14" font-weight="600" { (title) }
            @for (i, n) in bins.iter().enumerate() {
                @let bh = (*n as f64 / max as f64 * f64::from(h)).round() as i32;
                @let x = left + w * i as i32;
                rect x=(x + 2) y=(top + h - bh) width=(w - 4) height=(bh) fill=(BAR) {}
                @if *n > 0 {
                    text x=(x + w / 2) y=(top + h - bh - 3) text-anchor="middle" { (n) }
                }
                text x=(x) y=(top + h + 14) text-anchor="middle" { (i * 10) }
            }
            text x=(left + 10 * w) y=(top + h + 14) text-anchor="middle" { "100" }
            text x=(left + 5 * w) y=(top + h + 32) text-anchor="middle" fill="#667085" { (axis) }
        }
    }
}

/// A room's daily time utilization over its window: dates along the bottom
/// (each Monday), 0-100 % up the side, the underuse line at `line` (25 %),
/// a gap where a day is unknown, each day's value in its tooltip.
pub(crate) fn trend(
    points: &[(chrono::NaiveDate, Option<f64>)],
    line: f64,
    line_label: &str,
) -> Markup {
    use chrono::Datelike;
    let (left, top, w, h) = (40, 12, 520, 140);
    let (width, height) = (left + w + 16, top + h + 34);
    let n = points.len().max(2);
    let step = f64::from(w) / (n - 1) as f64;
    let x = |i: usize| f64::from(left) + step * i as f64;
    let y = |v: f64| f64::from(top + h) - v.clamp(0.0, 1.0) * f64::from(h);
    // `M` starts a line (at the first point and after a gap), `L` continues it.
    let mut pen_down = false;
    let path: String = points
        .iter()
        .enumerate()
        .filter_map(|(i, (_, p))| {
            let Some(v) = p else {
                pen_down = false;
                return None;
            };
            let pen = if pen_down { "L" } else { "M" };
            pen_down = true;
            Some(format!("{pen}{:.1},{:.1} ", x(i), y(*v)))
        })
        .collect();
    html! {
        svg xmlns=(SVG) class="trend" role="img" viewBox={ "0 0 " (width) " " (height) }
            width=(width) height=(height) font-family=(FONT) font-size="11" {
            @for pct in [0u32, 25, 50, 75, 100] {
                @let gy = y(f64::from(pct) / 100.0);
                line x1=(left) y1=(gy) x2=(left + w) y2=(gy) stroke="#eaecf0" {}
                text x=(left - 4) y=(gy + 4.0) text-anchor="end" fill="#667085" { (pct) "%" }
            }
            line.underuse x1=(left) y1=(y(line)) x2=(left + w) y2=(y(line))
                stroke="#d92d20" stroke-dasharray="4 3" {}
            text x=(left + w) y=(y(line) - 4.0) text-anchor="end" fill="#d92d20" { (line_label) }
            @for (i, (d, _)) in points.iter().enumerate() {
                @if d.weekday() == chrono::Weekday::Mon || i == 0 {
                    text x=(x(i)) y=(top + h + 16) text-anchor="middle" fill="#667085" {
                        (d.format("%m-%d"))
                    }
                }
            }
            path d=(path) fill="none" stroke=(BAR) stroke-width="2" {}
            @for (i, (d, v)) in points.iter().enumerate() {
                @if let Some(v) = v {
                    circle cx=(format!("{:.1}", x(i))) cy=(format!("{:.1}", y(*v))) r="2.5" fill=(BAR) {
                        title { (d) " " (format!("{:.1}%", v * 100.0)) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_escaped_labels() {
        let r = ranking("排名", &[("A&B".into(), 0.5)], true).into_string();
        assert!(r.starts_with("<svg") && r.contains("A&amp;B") && r.contains("50.0%"));
        assert!(r.contains("<title>排名</title>"), "{r}");
        // Visits: against the largest, as numbers.
        let v = ranking("到访", &[("a".into(), 40.0), ("b".into(), 20.0)], false).into_string();
        assert!(
            v.contains(">40.0<") && v.contains(">20.0<") && !v.contains('%'),
            "{v}"
        );
        let h = histogram("分布", &[0.05, 0.95, 1.0], "%").into_string();
        assert!(h.contains(">2</text>"), "two values in the top bin: {h}");
        let d = |day| chrono::NaiveDate::from_ymd_opt(2026, 11, day).expect("date");
        let s = trend(
            &[
                (d(22), Some(0.1)),
                (d(23), None),
                (d(24), Some(0.5)),
                (d(25), Some(0.2)),
            ],
            0.25,
            "25%",
        )
        .into_string();
        let path = s.split("<path d=\"").nth(1).unwrap_or_default();
        assert_eq!(
            path.split('"')
                .next()
                .unwrap_or_default()
                .matches('M')
                .count(),
            2,
            "a gap starts a new line: {s}"
        );
        assert!(
            s.contains(">11-22</text>") && s.contains(">11-23</text>"),
            "first day and Mondays dated: {s}"
        );
        assert!(
            s.contains("class=\"underuse\"") && s.contains(">100%</text>"),
            "{s}"
        );
        assert!(s.contains("<title>2026-11-24 50.0%</title>"), "{s}");
    }

    #[test]
    fn long_names_get_room_or_an_ellipsis_never_a_cut_first_character() {
        let long = "天平街道社区嵌入式服务综合体"; // 14 characters, 168 px
        let r = ranking("排名", &[(long.into(), 0.5)], true).into_string();
        // The label ends 6 px left of the bars, which start after room for it.
        assert!(r.contains(&format!(">{long}</text>")), "{r}");
        assert!(r.contains(r#"<rect x="178""#), "{r}");
        let very = "很".repeat(40);
        let r = ranking("排名", &[(very.clone(), 0.5)], true).into_string();
        assert!(
            r.contains(&format!("<title>{very}</title>")),
            "the whole name in the tooltip"
        );
        assert!(
            r.contains("…</text>") && r.contains(r#"<rect x="310""#),
            "{r}"
        );
    }

    /// Inline in HTML, an SVG shape written `<rect ..>` without an end tag
    /// (maud's `rect ..;`) would hold the shapes after it as its children.
    #[test]
    fn shapes_are_closed() {
        let h = histogram("分布", &[0.5], "%").into_string();
        assert_eq!(h.matches("<rect").count(), h.matches("</rect>").count());
        let d = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).expect("date");
        let s = trend(&[(d, Some(0.1))], 0.25, "25%").into_string();
        assert!(
            s.contains("</line>") && s.contains("</path>") && s.contains("</circle>"),
            "{s}"
        );
    }
}
