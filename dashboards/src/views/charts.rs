//! Small server-side SVG charts: a ranking (horizontal bars), a histogram
//! and a sparkline. Text is SVG `<text>` with a CJK font list, so no font
//! file is needed.

use crate::views::esc;
use std::fmt::Write;

const FONT: &str = "PingFang SC, Microsoft YaHei, Noto Sans CJK SC, sans-serif";
const BAR: &str = "#1f5fbf";

/// Horizontal bars of fractions (0-1), labelled, in the order given.
pub(crate) fn ranking(title: &str, bars: &[(String, f64)]) -> String {
    let (left, row, width) = (170, 22, 560);
    let height = 36 + row * bars.len().max(1) as i32 + 8;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" font-family=\"{FONT}\" font-size=\"12\">\
<title>{t}</title><text x=\"4\" y=\"16\" font-size=\"14\" font-weight=\"600\">{t}</text>",
        t = esc(title)
    );
    let span = f64::from(width - left - 60);
    for (i, (label, v)) in bars.iter().enumerate() {
        let y = 30 + row * i as i32;
        let w = (v.clamp(0.0, 1.0) * span).round();
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><rect x=\"{left}\" y=\"{y}\" width=\"{w}\" height=\"{}\" fill=\"{BAR}\"/>\
<text x=\"{}\" y=\"{}\">{:.1}%</text>",
            left - 6,
            y + 13,
            esc(label),
            row - 6,
            f64::from(left) + w + 4.0,
            y + 13,
            v * 100.0
        );
    }
    s.push_str("</svg>");
    s
}

/// A histogram of fractions (0-1) in ten bins of 10 %.
pub(crate) fn histogram(title: &str, values: &[f64], axis: &str) -> String {
    let mut bins = [0usize; 10];
    for v in values {
        bins[((v.clamp(0.0, 1.0) * 10.0) as usize).min(9)] += 1;
    }
    let max = bins.iter().copied().max().unwrap_or(0).max(1);
    let (left, top, w, h) = (30, 30, 40, 140);
    let width = left + 10 * w + 20;
    let height = top + h + 40;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" font-family=\"{FONT}\" font-size=\"11\">\
<title>{t}</title><text x=\"4\" y=\"16\" font-size=\"14\" font-weight=\"600\">{t}</text>",
        t = esc(title)
    );
    for (i, n) in bins.iter().enumerate() {
        let bh = (*n as f64 / max as f64 * f64::from(h)).round() as i32;
        let x = left + w * i as i32;
        let _ = write!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{bh}\" fill=\"{BAR}\"/>",
            x + 2,
            top + h - bh,
            w - 4
        );
        if *n > 0 {
            let _ = write!(
                s,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{n}</text>",
                x + w / 2,
                top + h - bh - 3
            );
        }
        let _ = write!(
            s,
            "<text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            top + h + 14,
            i * 10
        );
    }
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">100</text><text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#667085\">{}</text></svg>",
        left + 10 * w,
        top + h + 14,
        left + 5 * w,
        top + h + 32,
        esc(axis)
    );
    s
}

/// A small line of daily fractions (gaps where unknown).
pub(crate) fn sparkline(points: &[Option<f64>]) -> String {
    let (w, h) = (140, 28);
    let n = points.len().max(2);
    let step = f64::from(w - 4) / (n - 1) as f64;
    let mut path = String::new();
    let mut pen_down = false;
    for (i, p) in points.iter().enumerate() {
        match p {
            Some(v) => {
                let x = 2.0 + step * i as f64;
                let y = f64::from(h - 2) - v.clamp(0.0, 1.0) * f64::from(h - 4);
                let _ = write!(path, "{}{x:.1},{y:.1} ", if pen_down { "L" } else { "M" });
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"spark\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\">\
<line x1=\"2\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#e4e7ec\"/><path d=\"{path}\" fill=\"none\" stroke=\"{BAR}\" stroke-width=\"1.5\"/></svg>",
        b = h - 2,
        r = w - 2
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_escaped_labels() {
        let r = ranking("排名", &[("A&B".into(), 0.5)]);
        assert!(r.starts_with("<svg") && r.contains("A&amp;B") && r.contains("50.0%"));
        let h = histogram("分布", &[0.05, 0.95, 1.0], "%");
        assert!(h.contains(">2</text>"), "two values in the top bin: {h}");
        let s = sparkline(&[Some(0.1), None, Some(0.5), Some(0.2)]);
        assert_eq!(s.matches('M').count(), 2, "a gap starts a new line: {s}");
    }
}
