//! Stacked bar charts as SVG text: pure functions from counts to markup, inlined in pages (no
//! script). Every segment carries its exact count in a `<title>` (shown on hover) and in `data-`
//! attributes; every text is escaped.

use std::fmt::Write;

/// One stacked series: `label` names it (in words and in `data-series`), `colour` fills it.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub colour: String,
}

/// A stacked bar chart: `counts[series][bucket]`.
#[derive(Debug, Clone)]
pub struct Chart {
    /// The `id` of the `<svg>` (its `<title>` and `<desc>` ids derive from it).
    pub id: String,
    pub title: String,
    /// What the chart shows, in words (the totals are added).
    pub desc: String,
    /// Each bucket's name (a bar's hover text starts with it).
    pub buckets: Vec<String>,
    /// The x axis shows the name of every `tick_every`-th bucket.
    pub tick_every: usize,
    /// What the x axis counts (`UTC hour`).
    pub x_label: String,
    pub series: Vec<Series>,
    pub counts: Vec<Vec<i64>>,
}

/// Reds, oranges and purples for rejection reasons, in order (reused past the end).
pub const REASON_COLOURS: [&str; 8] = [
    "#d32f2f", "#f57c00", "#8e24aa", "#c2185b", "#ef6c00", "#5e35b1", "#b71c1c", "#ad1457",
];

const WIDTH: f64 = 720.0;
const PLOT_H: f64 = 180.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 30.0;
/// Below the plot: tick labels and the axis name.
const AXIS_H: f64 = 58.0;
const LEGEND_ROW: f64 = 20.0;
const LEGEND_ITEM_W: f64 = 330.0;

/// `s` escaped for SVG text and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `s` cut to at most `max` characters, with `…` where it was cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// The smallest of 1, 2, 5 × 10ⁿ that is at least `max` (at least 1).
fn nice_ceiling(max: i64) -> i64 {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if m * step >= max {
                return m * step;
            }
        }
        step *= 10;
    }
}

/// The chart as an `<svg>` element.
pub fn stacked_bars(c: &Chart) -> String {
    let n = c.buckets.len().max(1);
    let count = |s: usize, b: usize| c.counts.get(s).and_then(|v| v.get(b)).copied();
    let count = |s, b| count(s, b).unwrap_or(0).max(0);
    let totals: Vec<i64> = (0..c.series.len())
        .map(|s| (0..c.buckets.len()).map(|b| count(s, b)).sum())
        .collect();
    let bar_totals: Vec<i64> = (0..c.buckets.len())
        .map(|b| (0..c.series.len()).map(|s| count(s, b)).sum())
        .collect();
    let y_max = nice_ceiling(bar_totals.iter().copied().max().unwrap_or(0));
    let per_row = ((WIDTH - LEFT) / LEGEND_ITEM_W).floor().max(1.0) as usize;
    let legend_rows = c.series.len().div_ceil(per_row);
    let height = TOP + PLOT_H + AXIS_H + LEGEND_ROW * legend_rows as f64 + 6.0;
    let plot_w = WIDTH - LEFT - RIGHT;
    let slot = plot_w / n as f64;
    let bar_w = (slot * 0.8).max(1.0);
    let y_of = |v: i64| TOP + PLOT_H - PLOT_H * v as f64 / y_max as f64;
    let id = esc(&c.id);
    let summary: Vec<String> = c
        .series
        .iter()
        .zip(&totals)
        .map(|(s, t)| format!("{} {t}", s.label))
        .collect();
    let desc = if summary.is_empty() {
        c.desc.clone()
    } else {
        format!("{} Totals: {}.", c.desc, summary.join(", "))
    };
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{id}" role="img" aria-labelledby="{id}-title {id}-desc" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" data-max="{y_max}"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        esc(&c.title),
        esc(&desc),
    );
    let _ = write!(
        o,
        r#"<text class="chart-title" x="{LEFT}" y="18">{}</text>"#,
        esc(&c.title)
    );
    // The y axis: 0, the middle (when whole) and the top, with grid lines.
    let mut ticks = vec![0, y_max];
    if y_max % 2 == 0 {
        ticks.insert(1, y_max / 2);
    }
    for t in ticks {
        let y = y_of(t);
        let _ = write!(
            o,
            r##"<line class="grid" x1="{LEFT}" x2="{}" y1="{y}" y2="{y}" stroke="#ddd"/><text class="tick y" x="{}" y="{}" text-anchor="end">{t}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0
        );
    }
    let _ = write!(
        o,
        r##"<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{}" stroke="#888"/><line class="axis" x1="{LEFT}" x2="{}" y1="{0}" y2="{0}" stroke="#888"/>"##,
        TOP + PLOT_H,
        WIDTH - RIGHT,
    );
    // The bars: one group per bucket, a segment per series with a count.
    for (b, name) in c.buckets.iter().enumerate() {
        let x = LEFT + slot * b as f64 + (slot - bar_w) / 2.0;
        let _ = write!(
            o,
            r#"<g class="bar" data-bucket="{}" data-total="{}">"#,
            esc(name),
            bar_totals[b]
        );
        let mut below = 0;
        for (s, series) in c.series.iter().enumerate() {
            let v = count(s, b);
            if v == 0 {
                continue;
            }
            let (y0, y1) = (y_of(below), y_of(below + v));
            below += v;
            let _ = write!(
                o,
                r#"<rect class="seg" data-series="{label}" data-count="{v}" x="{x:.1}" y="{y1:.1}" width="{bar_w:.1}" height="{h:.1}" fill="{colour}"><title>{name}: {v} {label}</title></rect>"#,
                label = esc(&series.label),
                h = (y0 - y1).max(0.5),
                colour = esc(&series.colour),
                name = esc(name),
            );
        }
        o.push_str("</g>");
        if c.tick_every > 0 && b % c.tick_every == 0 {
            let _ = write!(
                o,
                r#"<text class="tick x" x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
                x + bar_w / 2.0,
                TOP + PLOT_H + 14.0,
                esc(name)
            );
        }
    }
    if bar_totals.iter().all(|t| *t == 0) {
        let _ = write!(
            o,
            r#"<text class="empty" x="{}" y="{}" text-anchor="middle">Nothing in this period</text>"#,
            LEFT + plot_w / 2.0,
            TOP + PLOT_H / 2.0
        );
    }
    let _ = write!(
        o,
        r#"<text class="axis-label" x="{}" y="{}" text-anchor="middle">{}</text>"#,
        LEFT + plot_w / 2.0,
        TOP + PLOT_H + 32.0,
        esc(&c.x_label)
    );
    // The legend: each series with its colour and total.
    o.push_str(r#"<g class="legend">"#);
    for (i, (s, total)) in c.series.iter().zip(&totals).enumerate() {
        let x = LEFT + LEGEND_ITEM_W * (i % per_row) as f64;
        let y = TOP + PLOT_H + AXIS_H + LEGEND_ROW * (i / per_row) as f64;
        let _ = write!(
            o,
            r#"<g class="legend-item" data-series="{label}" data-total="{total}"><rect x="{x}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{}">{} ({total})</text></g>"#,
            y - 10.0,
            esc(&s.colour),
            x + 16.0,
            y,
            esc(&clip(&s.label, 44)),
            label = esc(&s.label),
        );
    }
    o.push_str("</g></svg>");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(series: &[&str], counts: Vec<Vec<i64>>, buckets: usize) -> Chart {
        Chart {
            id: "c".into(),
            title: "Deliveries <per hour>".into(),
            desc: "Deliveries.".into(),
            buckets: (0..buckets).map(|b| format!("{b:02}:00")).collect(),
            tick_every: 6,
            x_label: "UTC hour".into(),
            series: series
                .iter()
                .map(|s| Series {
                    label: s.to_string(),
                    colour: "#123456".into(),
                })
                .collect(),
            counts,
        }
    }

    #[test]
    fn empty_data_draws_axes_and_says_so() {
        let svg = stacked_bars(&chart(&["accepted"], vec![vec![0; 24]], 24));
        assert!(svg.contains("Nothing in this period"), "{svg}");
        assert!(!svg.contains("class=\"seg\""), "{svg}");
        assert!(svg.contains(r#"data-max="1""#), "{svg}");
        assert!(svg.contains("accepted (0)"), "{svg}");
        let none = stacked_bars(&chart(&[], vec![], 0));
        assert!(
            none.starts_with("<svg") && none.ends_with("</svg>"),
            "{none}"
        );
    }

    #[test]
    fn one_bucket_has_one_segment_per_series_with_its_count() {
        let svg = stacked_bars(&chart(
            &["accepted", "duplicate"],
            vec![vec![3], vec![1]],
            1,
        ));
        assert!(
            svg.contains(r#"data-series="accepted" data-count="3""#),
            "{svg}"
        );
        assert!(svg.contains("<title>00:00: 1 duplicate</title>"), "{svg}");
        assert!(svg.contains(r#"data-total="4""#), "{svg}");
        assert!(svg.contains(r#"data-max="5""#), "{svg}");
        assert!(svg.contains("Totals: accepted 3, duplicate 1."), "{svg}");
    }

    #[test]
    fn many_reasons_each_get_a_legend_entry_and_text_is_escaped() {
        let reasons: Vec<String> = (0..12).map(|i| format!("reason <{i}> & \"x\"")).collect();
        let names: Vec<&str> = reasons.iter().map(String::as_str).collect();
        let counts = (0..12).map(|i| vec![i as i64 + 1, 0]).collect();
        let svg = stacked_bars(&chart(&names, counts, 2));
        assert_eq!(svg.matches("class=\"legend-item\"").count(), 12);
        assert_eq!(svg.matches("class=\"seg\"").count(), 12);
        assert!(
            svg.contains("reason &lt;11&gt; &amp; &quot;x&quot;"),
            "{svg}"
        );
        assert!(!svg.contains("<11>"), "{svg}");
        assert!(svg.contains("&lt;per hour&gt;"), "{svg}");
        // 78 in the tallest bar: the axis goes to 100.
        assert!(svg.contains(r#"data-max="100""#), "{svg}");
    }

    #[test]
    fn nice_ceilings() {
        assert_eq!(
            [0, 1, 2, 3, 6, 11, 99, 101].map(nice_ceiling),
            [1, 1, 2, 5, 10, 20, 100, 200]
        );
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }
}
