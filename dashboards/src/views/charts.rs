//! Small server-side SVG charts: a ranking (horizontal bars), a histogram
//! and a sparkline, drawn inline in the page. Text is SVG `<text>` with a CJK
//! font list, so no font file is needed.

use maud::{Markup, html};

const FONT: &str = "PingFang SC, Microsoft YaHei, Noto Sans CJK SC, sans-serif";
const BAR: &str = "#1f5fbf";
const SVG: &str = "http://www.w3.org/2000/svg";

/// Horizontal bars of fractions (0-1), labelled, in the order given.
pub(crate) fn ranking(title: &str, bars: &[(String, f64)]) -> Markup {
    // Room for the longest name (CJK characters are about the font size wide),
    // at most MAX_LABEL_PX: longer names are cut with "…", whole in their tooltip.
    let widest = bars.iter().map(|(l, _)| label_px(l)).max().unwrap_or(0);
    let left = widest.clamp(60, MAX_LABEL_PX) + 10;
    let (row, width) = (22, left + 390);
    let height = 36 + row * bars.len().max(1) as i32 + 8;
    let span = f64::from(width - left - 60);
    html! {
        svg xmlns=(SVG) role="img" viewBox={ "0 0 " (width) " " (height) }
            width=(width) height=(height) font-family=(FONT) font-size="12" {
            title { (title) }
            text x="4" y="16" font-size="14" font-weight="600" { (title) }
            @for (i, (label, v)) in bars.iter().enumerate() {
                @let y = 30 + row * i as i32;
                @let w = (v.clamp(0.0, 1.0) * span).round();
                text x=(left - 6) y=(y + 13) text-anchor="end" {
                    title { (label) }
                    (fit_label(label))
                }
                rect x=(left) y=(y) width=(w) height=(row - 6) fill=(BAR) {}
                text x=(f64::from(left) + w + 4.0) y=(y + 13) { (format!("{:.1}%", v * 100.0)) }
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

/// A small line of daily fractions (gaps where unknown).
pub(crate) fn sparkline(points: &[Option<f64>]) -> Markup {
    let (w, h) = (140, 28);
    let n = points.len().max(2);
    let step = f64::from(w - 4) / (n - 1) as f64;
    // `M` starts a line (at the first point and after a gap), `L` continues it.
    let mut pen_down = false;
    let path: String = points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let Some(v) = p else {
                pen_down = false;
                return None;
            };
            let x = 2.0 + step * i as f64;
            let y = f64::from(h - 2) - v.clamp(0.0, 1.0) * f64::from(h - 4);
            let pen = if pen_down { "L" } else { "M" };
            pen_down = true;
            Some(format!("{pen}{x:.1},{y:.1} "))
        })
        .collect();
    html! {
        svg xmlns=(SVG) class="spark" viewBox={ "0 0 " (w) " " (h) } width=(w) height=(h) {
            line x1="2" y1=(h - 2) x2=(w - 2) y2=(h - 2) stroke="#e4e7ec" {}
            path d=(path) fill="none" stroke=(BAR) stroke-width="1.5" {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_escaped_labels() {
        let r = ranking("排名", &[("A&B".into(), 0.5)]).into_string();
        assert!(r.starts_with("<svg") && r.contains("A&amp;B") && r.contains("50.0%"));
        assert!(r.contains("<title>排名</title>"), "{r}");
        let h = histogram("分布", &[0.05, 0.95, 1.0], "%").into_string();
        assert!(h.contains(">2</text>"), "two values in the top bin: {h}");
        let s = sparkline(&[Some(0.1), None, Some(0.5), Some(0.2)]).into_string();
        assert_eq!(s.matches('M').count(), 2, "a gap starts a new line: {s}");
    }

    #[test]
    fn long_names_get_room_or_an_ellipsis_never_a_cut_first_character() {
        let long = "天平街道社区嵌入式服务综合体"; // 14 characters, 168 px
        let r = ranking("排名", &[(long.into(), 0.5)]).into_string();
        // The label ends 6 px left of the bars, which start after room for it.
        assert!(r.contains(&format!(">{long}</text>")), "{r}");
        assert!(r.contains(r#"<rect x="178""#), "{r}");
        let very = "很".repeat(40);
        let r = ranking("排名", &[(very.clone(), 0.5)]).into_string();
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
        let s = sparkline(&[Some(0.1)]).into_string();
        assert!(s.contains("</line>") && s.contains("</path>"), "{s}");
    }
}
